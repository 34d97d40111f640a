"""flows.intents: new conversations assigned in chunks on the task runner, local and Dask alike."""

from __future__ import annotations

import json
import shutil
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import HASH_KEY
from flow_cases import (
    EXPORT_CACHE,
)
from prefect.task_runners import ThreadPoolTaskRunner

import flows.intents as flows_intents
from flows.intents import assign_on_runner, chunked_assign, intents_flow, run_intents_flow
from pipeline.config import (
    IngestConfig,
    IntentConfig,
)
from pipeline.ingest import read_source
from pipeline.intents.fit import IntentClusterer
from pipeline.intents.model import IntentModel, assign_intents
from pipeline.sample.generate import generate_sample
from pipeline.store import open_store


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
