"""The cache-filling functions of the embed flow: missing_texts, encode_rows, embedder_model_id."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from flow_cases import (
    MODEL_ID,
    FakeEmbedder,
    fake_vector,
    hashes,
    rows_of,
)

from pipeline.config import (
    EmbedConfig,
)
from pipeline.embed.cache import missing_texts
from pipeline.embed.models import embedder_model_id
from pipeline.embed.vectors import encode_rows
from pipeline.errors import ModelError, SchemaError
from pipeline.store import open_store


def test_missing_texts_gives_distinct_uncached_normalised_texts_shortest_first(db_path):
    with open_store(db_path) as store:
        store.write_embeddings(
            pl.DataFrame({"text_hash": hashes("hello"), "vector": [[1.0, 0.0, 0.0, 0.0]]}),
            model_id="fake@1",
            run_id="r0",
        )
        texts = pl.Series(["refund  please", "hello", None, "ok", " refund please", "hello"])
        missing = missing_texts(store, texts, model_id="fake@1")
        other_model = missing_texts(store, texts, model_id="fake@2")
    assert missing.to_dicts() == [
        {"text_hash": hashes("ok")[0], "text": "ok"},
        {"text_hash": hashes("refund please")[0], "text": "refund please"},
    ]
    assert other_model["text"].to_list() == ["ok", "hello", "refund please"]


def test_missing_texts_cuts_texts_to_max_chars(db_path):
    with open_store(db_path) as store:
        missing = missing_texts(store, pl.Series(["abcdef", "abc x"]), model_id="m", max_chars=3)
    assert missing.to_dicts() == [{"text_hash": hashes("abc")[0], "text": "abc"}]


def test_missing_texts_does_not_modify_its_input(db_path):
    texts = pl.Series(["b  b", "a"])
    with open_store(db_path) as store:
        missing_texts(store, texts, model_id="m")
    assert texts.to_list() == ["b  b", "a"]


def test_encode_rows_encodes_in_the_order_given():
    embedder = FakeEmbedder()
    rows = rows_of("refund please", "ok")
    encoded = encode_rows(rows, embedder)
    assert embedder.calls == [["refund please", "ok"]]
    assert encoded.columns == ["text_hash", "vector"]
    assert encoded.schema["vector"] == pl.List(pl.Float32)
    assert encoded["text_hash"].to_list() == hashes("refund please", "ok")
    np.testing.assert_array_equal(
        np.array(encoded["vector"].to_list(), dtype=np.float32),
        np.stack([fake_vector("refund please"), fake_vector("ok")]),
    )


def test_encode_rows_of_nothing_calls_no_model():
    embedder = FakeEmbedder()
    encoded = encode_rows(rows_of().cast({"text_hash": pl.String, "text": pl.String}), embedder)
    assert embedder.calls == [] and encoded.height == 0


def test_encode_rows_does_not_modify_its_input():
    rows = rows_of("b", "a")
    encode_rows(rows, FakeEmbedder())
    assert rows.equals(rows_of("b", "a"))


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        (pl.DataFrame({"text": ["a"]}), "missing text_hash"),
        (pl.DataFrame({"text_hash": ["h"], "text": [None]}, schema_overrides={"text": pl.String}),
         "without nulls"),
    ],
)  # fmt: skip
def test_encode_rows_rejects_bad_rows(rows, message):
    with pytest.raises(SchemaError, match=message):
        encode_rows(rows, FakeEmbedder())


@pytest.mark.parametrize(
    ("backend", "model_id"),
    [("torch", MODEL_ID), ("onnx", MODEL_ID), ("onnx-int8", MODEL_ID + "+int8")],
)
def test_embedder_model_id_names_the_vectors_without_loading_a_model(backend, model_id):
    assert embedder_model_id(EmbedConfig(backend=backend)) == model_id


def test_embedder_model_id_of_an_unknown_model_is_a_model_error():
    with pytest.raises(ModelError, match="no-such-model"):
        embedder_model_id(EmbedConfig(model="no-such-model"))
