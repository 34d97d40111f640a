"""VectorLookup: the vectors the cache writer returns, read from the cache, nothing written."""

import numpy as np
import polars as pl
import pytest
from embed.cache_cases import CountingEmbedder, fake_vector

from pipeline.embed.cache import embed_with_cache
from pipeline.embed.lookup import VectorLookup
from pipeline.embed.vectors import normalise_text, text_hash
from pipeline.errors import SchemaError
from pipeline.store import open_store

FIRST = ["refund please", "hi", "refund  please ", "where is my order"]
SECOND = ["hi", "cancel my plan", "where is my order", "cancel my plan"]


def _hash(text: str) -> str:
    return text_hash(normalise_text(pl.Series([text]))).item()


def _cache_of(texts):
    rows = pl.DataFrame(
        {
            "text_hash": [_hash(t) for t in texts],
            "vector": [fake_vector(t).tolist() for t in texts],
        },
        schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)},
    )
    asked = []

    def read_cached(hashes, *, model_id):
        asked.append(model_id)
        return rows.filter(pl.col("text_hash").is_in(hashes.to_list()))

    return read_cached, asked


def test_cached_vectors_are_read_and_only_misses_encoded():
    read_cached, asked = _cache_of(["hi"])
    embedder = CountingEmbedder()
    lookup = VectorLookup(read_cached, embedder, max_chars=100)
    hashes, matrix = lookup.encode_hashed(pl.Series(FIRST))
    assert embedder.calls == [["refund please", "where is my order"]]
    assert asked == ["fake@1"] and lookup.encoded == 2
    assert hashes.to_list() == [_hash(t) for t in FIRST] and hashes[0] == hashes[2]
    expected = np.stack([fake_vector(t) for t in ("refund please", "hi", "refund please",
                                                  "where is my order")])  # fmt: skip
    np.testing.assert_array_equal(matrix, expected)
    assert matrix.dtype == np.float32 and matrix.shape == (4, lookup.dim)


def test_a_text_encoded_once_is_not_encoded_again_and_new_rows_collects_it():
    read_cached, _ = _cache_of([])
    embedder = CountingEmbedder()
    lookup = VectorLookup(read_cached, embedder, max_chars=100)
    lookup.encode(FIRST)
    second = lookup.encode(SECOND)
    assert embedder.calls == [["refund please", "hi", "where is my order"], ["cancel my plan"]]
    assert lookup.encoded == 4
    np.testing.assert_array_equal(second, np.stack([fake_vector(t) for t in SECOND]))
    rows = lookup.new_rows()
    assert rows.schema == pl.Schema({"text_hash": pl.String, "vector": pl.List(pl.Float32)})
    assert sorted(rows["text_hash"]) == sorted(
        _hash(t) for t in ("refund please", "hi", "where is my order", "cancel my plan")
    )


def test_nothing_new_gives_empty_rows_and_empty_input_an_empty_matrix():
    read_cached, _ = _cache_of(FIRST)
    lookup = VectorLookup(read_cached, CountingEmbedder(), max_chars=100)
    assert lookup.encode([]).shape == (0, 4)
    lookup.encode(FIRST)
    assert lookup.encoded == 0 and lookup.new_rows().is_empty()


def test_null_texts_are_a_schema_error():
    read_cached, _ = _cache_of([])
    lookup = VectorLookup(read_cached, CountingEmbedder(), max_chars=100)
    with pytest.raises(SchemaError, match="without nulls"):
        lookup.encode_hashed(pl.Series(["hi", None], dtype=pl.String))


def test_max_chars_is_part_of_what_is_hashed():
    read_cached, _ = _cache_of([])
    lookup = VectorLookup(read_cached, CountingEmbedder(), max_chars=5)
    hashes, _ = lookup.encode_hashed(pl.Series(["refund please", "refun"]))
    assert hashes[0] == hashes[1] == _hash("refun")


def test_same_vectors_as_the_cache_writer_and_the_store_is_never_written(tmp_path):
    filled, read_only = tmp_path / "filled.duckdb", tmp_path / "read.duckdb"
    results = {}
    for path in (filled, read_only):
        with open_store(path) as store:  # the same cache before the stage: one text
            embed_with_cache(
                store, pl.Series(["hi"]), embedder=CountingEmbedder(), run_id="r0", max_chars=100
            )
    with open_store(filled) as store:
        writes = [
            embed_with_cache(
                store, pl.Series(t), embedder=CountingEmbedder(), run_id="r1", max_chars=100
            )
            for t in (FIRST, SECOND)
        ]
        results["cached"] = [(hashes, matrix) for hashes, matrix, _ in writes]
        results["cached_encoded"] = sum(encoded for _, _, encoded in writes)
        table = store.sql("select text_hash, vector from embeddings order by text_hash")
    with open_store(read_only) as store:
        texts_before = [pl.Series(t) for t in (FIRST, SECOND)]
        lookup = VectorLookup(store.cached_embeddings, CountingEmbedder(), max_chars=100)
        results["lookup"] = [lookup.encode_hashed(t) for t in texts_before]
        assert store.count("embeddings") == 1  # never written
        assert texts_before[0].to_list() == FIRST  # input not modified
        store.write_embeddings(lookup.new_rows(), model_id=lookup.model_id, run_id="r1")
        written = store.sql("select text_hash, vector from embeddings order by text_hash")
    assert lookup.encoded == results["cached_encoded"] == 3  # "hi" was cached
    for (h1, m1), (h2, m2) in zip(results["cached"], results["lookup"], strict=True):
        assert h1.equals(h2)
        np.testing.assert_array_equal(m1, m2)
    assert written.equals(table)
