"""Embed vectors: normalisation, hashing, encoding the misses, the matrix of a lookup."""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl
import pytest
from embed.cache_cases import (
    CountingEmbedder,
    fake_vector,
)

from pipeline.embed.vectors import embed_texts, embedding_matrix, normalise_text, text_hash
from pipeline.errors import SchemaError


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        ("  hello   world \n", 2000, "hello world"),
        ("a\tb\r\n\nc", 2000, "a b c"),
        ("non\u00a0breaking\u2003space", 2000, "non breaking space"),
        ("cafe\u0301", 2000, "caf\u00e9"),  # NFC: decomposed and composed forms hash alike
        ("abcdefgh", 5, "abcde"),
        ("ab cd", 3, "ab"),  # no trailing space left by the cut
        ("", 2000, ""),
        (None, 2000, None),
    ],
)
def test_normalise_text(text, max_chars, expected):
    out = normalise_text(pl.Series([text], dtype=pl.String), max_chars=max_chars)
    assert out.to_list() == [expected]


def test_text_hash_is_a_stable_sha256_prefix():
    hashes = text_hash(pl.Series(["I was charged twice for my order", "other", None, "other"]))
    assert hashes.name == "text_hash"
    assert hashes.dtype == pl.String
    # Hard-coded: a change here invalidates every cached embedding.
    assert hashes[0] == "9b0464de9239bfa482fb79d182436d85"
    assert hashes[1] == hashlib.sha256(b"other").hexdigest()[:32] == hashes[3]
    assert hashes[2] is None


def test_text_hash_of_nothing():
    assert text_hash(pl.Series([], dtype=pl.String)).to_list() == []


def no_cache() -> pl.DataFrame:
    return pl.DataFrame(schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)})


def test_embed_texts_encodes_each_distinct_normalised_text_once():
    embedder = CountingEmbedder()
    texts = pl.Series(["refund please", "hi", "refund  please ", "hi"])
    embedded, embeddings = embed_texts(texts, embedder=embedder, cached=no_cache())
    assert embedder.calls == [["refund please", "hi"]]
    assert embedded.columns == ["text_hash"]
    assert (
        embedded["text_hash"].to_list()
        == text_hash(pl.Series(["refund please", "hi", "refund please", "hi"])).to_list()
    )
    assert embeddings.schema == {"text_hash": pl.String, "vector": pl.List(pl.Float32)}
    assert embeddings["text_hash"].to_list() == embedded["text_hash"][:2].to_list()
    assert np.allclose(embeddings["vector"][0].to_numpy(), fake_vector("refund please"))


def test_embed_texts_skips_cached_hashes_and_does_not_modify_inputs():
    embedder = CountingEmbedder()
    texts = pl.Series(["refund please", "hi", "new text"])
    cached = pl.DataFrame(
        {
            "text_hash": text_hash(pl.Series(["hi", "unrelated"])),
            "vector": [fake_vector("hi").tolist(), fake_vector("unrelated").tolist()],
        },
        schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)},
    )
    texts_before, cached_before = texts.clone(), cached.clone()
    embedded, embeddings = embed_texts(texts, embedder=embedder, cached=cached)
    assert embedder.calls == [["refund please", "new text"]]
    assert embeddings.height == 2
    assert embedded.height == 3
    assert texts.equals(texts_before)
    assert cached.equals(cached_before)


def test_embed_texts_with_everything_cached_encodes_nothing():
    embedder = CountingEmbedder()
    texts = pl.Series(["a", "b"])
    _, first = embed_texts(texts, embedder=embedder, cached=no_cache())
    embedded, second = embed_texts(texts, embedder=embedder, cached=first)
    assert len(embedder.calls) == 1
    assert second.is_empty()
    assert second.schema == first.schema
    assert embedded.height == 2


def test_embed_texts_of_nothing():
    embedder = CountingEmbedder()
    embedded, embeddings = embed_texts(
        pl.Series([], dtype=pl.String), embedder=embedder, cached=no_cache()
    )
    assert embedder.calls == []
    assert embedded.is_empty() and embeddings.is_empty()


def test_embed_texts_rejects_nulls():
    with pytest.raises(SchemaError, match="without nulls, found 1"):
        embed_texts(pl.Series(["a", None]), embedder=CountingEmbedder(), cached=no_cache())


def test_embedding_matrix_aligns_rows_and_names_a_missing_hash():
    vectors = pl.DataFrame(
        {"text_hash": ["h1", "h2"], "vector": [[1.0, 0.0], [0.0, 1.0]]},
        schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)},
    )
    matrix = embedding_matrix(pl.Series(["h2", "h1", "h2"]), vectors, dim=2)
    assert matrix.dtype == np.float32
    assert matrix.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(SchemaError, match="'h3'"):
        embedding_matrix(pl.Series(["h1", "h3"]), vectors, dim=2)
