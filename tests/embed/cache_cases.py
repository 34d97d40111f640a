"""Builders shared by the embed tests (they were in ``test_cache.py``)."""

from __future__ import annotations

import hashlib

import numpy as np


class CountingEmbedder:
    """Deterministic unit vectors from a text's hash; records what it was asked to encode."""

    model_id = "fake@1"
    dim = 4

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def encode(self, texts):
        self.calls.append(list(texts))
        return np.array([fake_vector(t) for t in texts], dtype=np.float32).reshape(-1, self.dim)


def fake_vector(text: str) -> np.ndarray:
    seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
    vector = np.random.default_rng(seed).normal(size=4).astype(np.float32)
    return vector / np.linalg.norm(vector)
