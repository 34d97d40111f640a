"""flows.embed: the texts to embed, the runner config picks, the encode task and its retries."""

from __future__ import annotations

import polars as pl
import pytest
from flow_cases import (
    MODEL_ID,
    FakeEmbedder,
    hashes,
    rows_of,
)
from prefect.task_runners import ThreadPoolTaskRunner

import flows.embed as flows_embed
from flows.embed import (
    encode_chunk,
    make_task_runner,
    texts_to_embed,
)
from pipeline.config import (
    Config,
    EmbedConfig,
    FlowsConfig,
)
from pipeline.errors import ModelError, SchemaError


def tiny_turns() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "conversation_id": ["c2", "c1", "c1", "c1", "c1", "c1", "c2"],
            "turn_idx": [1, 0, 1, 2, 3, 4, 0],
            "speaker": ["customer", "customer", "agent", "customer", "agent", "agent", "bot"],
            "event_type": ["utterance"] * 4 + ["action"] + ["utterance"] * 2,
            "text": [
                "refund please",
                "hi",
                "Hello,  how can I help? ",
                "I was charged twice for my order",
                None,
                "Let me check that",
                "Welcome",
            ],
            "action_name": [None, None, None, None, "billing.lookup", None, None],
            "ts": [None] * 7,
        },
        schema_overrides={"ts": pl.Datetime("us", "UTC")},
    )


def test_texts_to_embed_are_opening_requests_then_agent_and_bot_utterances():
    texts = texts_to_embed(tiny_turns(), Config())
    assert texts.to_list() == [
        "I was charged twice for my order",  # "hi" carries no content
        "refund please",  # no turn with two content words: the first customer turn
        "Hello, how can I help?",
        "Let me check that",
        "Welcome",
    ]


def test_texts_to_embed_does_not_modify_its_input():
    turns = tiny_turns()
    texts_to_embed(turns, Config())
    assert turns.equals(tiny_turns())


def test_the_local_runner_is_one_thread():

    runner = make_task_runner(FlowsConfig())
    assert isinstance(runner, ThreadPoolTaskRunner) and runner._max_workers == 1


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("tcp://10.0.0.5:8786", {"address": "tcp://10.0.0.5:8786", "cluster_class": None,
                                 "cluster_kwargs": {}}),
        (None, {"address": None, "cluster_class": "distributed.LocalCluster",
                "cluster_kwargs": {"threads_per_worker": 1, "processes": True,
                                   "dashboard_address": None}}),
    ],
)  # fmt: skip
def test_the_dask_runner_uses_the_address_or_starts_a_local_cluster(address, expected):
    from prefect_dask import DaskTaskRunner

    runner = make_task_runner(FlowsConfig(runner="dask", dask_address=address))
    assert isinstance(runner, DaskTaskRunner)
    assert {k: getattr(runner, k) for k in expected} == expected


@pytest.fixture
def fake_worker_model(monkeypatch):
    """Put a fake embedder in this process's model cache for the default config."""
    embedder = FakeEmbedder(model_id=MODEL_ID)
    monkeypatch.setitem(flows_embed._EMBEDDERS, EmbedConfig(), embedder)
    return embedder


def test_encode_chunk_uses_the_process_model(fake_worker_model):
    encoded = encode_chunk.fn(rows_of("a", "b"), EmbedConfig(), MODEL_ID)
    assert encoded["text_hash"].to_list() == hashes("a", "b")
    assert fake_worker_model.calls == [["a", "b"]]


def test_encode_chunk_refuses_a_worker_with_another_model_version(fake_worker_model):
    with pytest.raises(ModelError, match="fake-model==2.*same model package version"):
        encode_chunk.fn(rows_of("a"), EmbedConfig(), "fake-model==2")
    assert fake_worker_model.calls == []


@pytest.mark.usefixtures("prefect_harness")
def test_encode_chunk_retries_a_failed_model_load_but_not_bad_rows(monkeypatch):
    from prefect import flow

    loads: list[EmbedConfig] = []

    def flaky_make_embedder(config):
        loads.append(config)
        if len(loads) == 1:
            raise ModelError("model files unreadable")
        return FakeEmbedder(model_id=MODEL_ID)

    monkeypatch.setattr(flows_embed, "make_embedder", flaky_make_embedder)
    monkeypatch.setattr(flows_embed, "_EMBEDDERS", {})
    fast = encode_chunk.with_options(retry_delay_seconds=0)

    @flow
    def encode(rows: pl.DataFrame) -> pl.DataFrame:
        return fast(rows, EmbedConfig(), MODEL_ID)

    assert encode(rows_of("a"))["text_hash"].to_list() == hashes("a")
    assert len(loads) == 2  # failed once, retried, loaded
    with pytest.raises(SchemaError):
        encode(pl.DataFrame({"text": ["a"]}))
    assert len(loads) == 2  # the model stays loaded; bad rows are not retried
