"""Fixtures of the embed tests: the real backends, one ONNX export for the session (offline)."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import EmbedConfig
from pipeline.embed.models import make_embedder


@pytest.fixture(scope="session")
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def export_cache(tmp_path_factory, offline) -> Path:
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture(scope="session")
def onnx_embedder(export_cache):
    return make_embedder(EmbedConfig(backend="onnx", cache_dir=export_cache))


@pytest.fixture(scope="session")
def int8_embedder(export_cache, onnx_embedder):
    return make_embedder(EmbedConfig(backend="onnx-int8", cache_dir=export_cache))
