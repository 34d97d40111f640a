"""flows.embed with the real model: the local and Dask runners cache the same vectors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from conftest import ingest_star_excerpt
from flow_cases import (
    EXPORT_CACHE,
    MODEL_ID,
    FakeEmbedder,
)
from prefect.task_runners import ThreadPoolTaskRunner
from stage_runs import update_process

from flows.embed import (
    embed_flow,
    run_embed_flow,
    texts_to_embed,
)
from pipeline.config import (
    load_config,
)
from pipeline.embed.cache import embed_with_cache
from pipeline.embed.vectors import normalise_text
from pipeline.intents.requests import opening_requests
from pipeline.steps.library import step_library
from pipeline.steps.units import agent_units
from pipeline.store import open_store


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


def stage_texts(config: Path) -> tuple[int, int]:
    """The stage texts of the ingested sample subset: how many, and how many distinct.

    Counted from the stored turns, so they follow what redaction leaves of the text.
    """
    db = load_config(config).database
    with open_store(db, read_only=True) as store:
        turns = store.sql("select * from turns")
    texts = texts_to_embed(turns, load_config(config))
    return texts.len(), normalise_text(texts).n_unique()


@pytest.mark.slow
def test_local_and_dask_runners_cache_the_same_vectors(prefilled):
    local, dask = cached_vectors(prefilled["local"][0]), cached_vectors(prefilled["dask"][0])
    assert local.height == stage_texts(prefilled["local"][1])[1]
    assert local["text_hash"].to_list() == dask["text_hash"].to_list()
    assert set(local["model_id"]) == set(dask["model_id"]) == {MODEL_ID}
    difference = np.abs(np.array(local["vector"].to_list()) - np.array(dask["vector"].to_list()))
    assert difference.max() <= 1e-6


@pytest.mark.slow
@pytest.mark.parametrize("runner", ["local", "dask"])
def test_a_prefill_records_its_run_and_a_second_one_encodes_nothing(prefilled, runner):
    db, config, first, second = prefilled[runner]
    n_texts, n_distinct = stage_texts(config)
    assert first["runner"] == second["runner"] == runner
    assert (first["texts"], first["encoded"], first["chunks"]) == (n_texts, n_distinct, 8)
    assert (second["texts"], second["encoded"], second["chunks"]) == (n_texts, 0, 0)
    with open_store(db, read_only=True) as store:
        runs = store.sql("select flow, status, row_counts from runs order by started_at")
    assert runs["flow"].to_list() == ["embed", "embed"]
    assert runs["status"].to_list() == ["ok", "ok"]
    assert json.loads(runs["row_counts"][0]) == {
        "texts": n_texts,
        "encoded": n_distinct,
        "chunks": 8,
    }


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

    assert isinstance(embed_flow.task_runner, ThreadPoolTaskRunner)
