"""The embedding cache: a second run encodes nothing, the cache is keyed by model id."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from embed.cache_cases import (
    CountingEmbedder,
    fake_vector,
)
from embed.model_cases import (
    SENTENCES,
)

from pipeline.embed.cache import embed_with_cache
from pipeline.store import open_store


def test_embed_with_cache_second_run_encodes_nothing(db_path):
    embedder = CountingEmbedder()
    texts = pl.Series(["refund please", "hi", "refund please", "where is my order"])
    with open_store(db_path) as store:
        hashes, matrix, n_encoded = embed_with_cache(store, texts, embedder=embedder, run_id="r1")
        assert n_encoded == 3
        assert store.count("embeddings") == 3
    with open_store(db_path) as store:
        hashes_again, matrix_again, n_again = embed_with_cache(
            store, texts, embedder=embedder, run_id="r2"
        )
        assert n_again == 0
        assert store.count("embeddings") == 3
    assert len(embedder.calls) == 1
    assert hashes.equals(hashes_again)
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix, np.array([fake_vector(t) for t in texts]), atol=1e-6)
    np.testing.assert_array_equal(matrix, matrix_again)


def test_embed_with_cache_keys_the_cache_by_model_id(db_path):
    first, second = CountingEmbedder(), CountingEmbedder()
    second.model_id = "fake@2"
    with open_store(db_path) as store:
        embed_with_cache(store, pl.Series(["hi"]), embedder=first, run_id="r1")
        _, _, n_encoded = embed_with_cache(store, pl.Series(["hi"]), embedder=second, run_id="r2")
    assert n_encoded == 1


@pytest.mark.slow
def test_embed_with_cache_real_model_second_run_encodes_nothing(db_path, onnx_embedder):
    texts = pl.Series(SENTENCES[:10] + SENTENCES[:5])
    with open_store(db_path) as store:
        _, matrix, n_encoded = embed_with_cache(store, texts, embedder=onnx_embedder, run_id="r1")
        _, again, n_again = embed_with_cache(store, texts, embedder=onnx_embedder, run_id="r2")
    assert (n_encoded, n_again) == (10, 0)
    np.testing.assert_allclose(again, matrix, atol=1e-6)  # float[] round trip is exact
    np.testing.assert_allclose(matrix[10:], matrix[:5])
