"""Synthetic request vectors for the intent tests: planted, well-separated clusters."""

import numpy as np

DIM = 16


def blobs(n_per: int = 60, k: int = 4, spread: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0][:k]
    rows = np.concatenate([c + spread * rng.normal(size=(n_per, DIM)) for c in centres])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    truth = np.repeat(np.arange(k), n_per)
    ids = [f"c{i:04d}" for i in range(len(rows))]
    return ids, rows.astype(np.float32), truth
