"""A fast fake embedder for unit tests of the stages that take one (never the end-to-end tests)."""

import hashlib
import re

import numpy as np

DIM = 256


class WordsEmbedder:
    """A text's vector is the normalised sum of random vectors of its words."""

    model_id = "words-test"
    dim = DIM

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        rows = []
        for text in texts:
            words = re.findall(r"[a-z]+", text.lower()) or ["<none>"]
            row = sum(_word(w) for w in words)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32).reshape(len(texts), DIM)


def _word(word: str) -> np.ndarray:
    seed = int(hashlib.sha256(word.encode()).hexdigest()[:8], 16)
    return np.random.default_rng(seed).normal(size=DIM)
