"""The embedding flow: pre-fill the embedding cache on the configured task runner.

Runs before the intent and steps stages: it reads the texts they will embed (each
conversation's opening requests, every agent/bot utterance), finds those the cache
lacks, and encodes them in chunks of ``flows.embed_chunk`` texts on the flow's task
runner: one thread in this process (``flows.runner: local``) or a Dask cluster through
prefect-dask (``runner: dask``; ``flows.dask_address``, or a ``distributed.LocalCluster``
started for the run). The stages then find every vector cached.

Only this process opens DuckDB: a worker gets ``text_hash, text`` rows and returns
vectors. A worker loads the model once per process and keeps it for later chunks. Dask
workers need cxminer and the same model package installed (a different model version
would be caught: its model id differs).

Each Dask worker imports this module to run :func:`encode_chunk`, so the imports only
the main process needs (the stages, the store: hdbscan, UMAP, scikit-learn, DuckDB; ~10 s
a worker on two cores) are made inside the functions that use them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl
from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import TaskRunner, ThreadPoolTaskRunner

from flows.progress import stage_progress
from pipeline import schema
from pipeline.config import Config, EmbedConfig, FlowsConfig, load_config
from pipeline.embed.cache import missing_texts
from pipeline.embed.models import Embedder, embedder_model_id, make_embedder
from pipeline.embed.vectors import encode_rows
from pipeline.errors import ModelError
from pipeline.progress import track

if TYPE_CHECKING:
    from pipeline.store import Store

_EMBEDDERS: dict[EmbedConfig, Embedder] = {}  # per process: a worker loads a model once
_LOADING = threading.Lock()


def make_task_runner(flows: FlowsConfig) -> TaskRunner:
    """Return the task runner ``flows.runner`` asks for (not started).

    ``local``: one worker thread, since the model already uses every core (its tasks
    overlap with the main thread's DuckDB writes). ``dask``: a
    ``prefect_dask.DaskTaskRunner`` on the scheduler at ``flows.dask_address``, or on a
    ``distributed.LocalCluster`` of one single-threaded worker process per core, started
    and stopped with the flow run.
    """
    if flows.runner == "local":
        return ThreadPoolTaskRunner(max_workers=1)
    from prefect_dask import DaskTaskRunner  # imports distributed (~1 s): only when asked

    if flows.dask_address:
        return DaskTaskRunner(address=flows.dask_address)
    return DaskTaskRunner(
        cluster_class="distributed.LocalCluster",
        cluster_kwargs={"threads_per_worker": 1, "processes": True, "dashboard_address": None},
    )


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_embedder(config: EmbedConfig) -> Embedder:
    """Load the embedding model (retried: model files are read from disk)."""
    return make_embedder(config)


def worker_embedder(config: EmbedConfig) -> Embedder:
    """Return this process's embedder for ``config``, loading the model on first use."""
    with _LOADING:
        if config not in _EMBEDDERS:
            _EMBEDDERS[config] = make_embedder(config)
        return _EMBEDDERS[config]


def _model_not_loaded(task: Any, task_run: Any, state: Any) -> bool:
    """Retry a chunk only when the model could not be loaded (unreadable files)."""
    return isinstance(state.result(raise_on_failure=False), ModelError)


@task(retries=2, retry_delay_seconds=2, retry_condition_fn=_model_not_loaded, cache_policy=NO_CACHE)
def encode_chunk(rows: pl.DataFrame, embed_config: EmbedConfig, model_id: str) -> pl.DataFrame:
    """Encode one chunk of ``text_hash, text`` rows; return ``text_hash, vector``.

    Raises
    ------
    ModelError
        The model cannot be loaded, or this worker's model gives vectors of another id
        than ``model_id`` (a different model package version on the worker).
    """
    embedder = worker_embedder(embed_config)
    if embedder.model_id != model_id:
        raise ModelError(
            f"this worker's model is {embedder.model_id!r}, the flow expects {model_id!r}; "
            "install the same model package version on every Dask worker"
        )
    return encode_rows(rows, embedder)


def texts_to_embed(turns: pl.DataFrame, config: Config) -> pl.Series:
    """Return the texts the intent and steps stages will embed (with repeats).

    Parameters
    ----------
    turns
        ``conversation_id, turn_idx, speaker, event_type, text, action_name, ts`` (table
        ``turns``).
    config
        ``intents`` picks the opening requests, ``steps.speakers`` the utterances.

    Returns
    -------
    polars.Series
        Each conversation's opening request turns, then every agent/bot utterance.
        SOP step phrasings are left out: a few dozen, the steps stage encodes them.
    """
    from pipeline.intents.requests import opening_requests
    from pipeline.steps.units import agent_units

    requests = opening_requests(turns, config.intents)["text"]
    utterances = agent_units(turns, speakers=config.steps.speakers)["text"].drop_nulls()
    return pl.concat([requests, utterances]).rename("text")


def prefill_embeddings(store: Store, config: Config, *, run_id: str) -> dict[str, Any]:
    """Encode every text the stages will need that the cache lacks; write ``embeddings``.

    Memory grows with the turns (every turn is read to pick the stages' texts: about 2M at
    100k conversations) and with the texts the cache lacks; a chunk of ``flows.embed_chunk``
    texts is encoded at a time and written in order.

    Call inside a flow: the chunks go to that flow's task runner (see
    :func:`make_task_runner`). Reads ``turns`` and ``embeddings``.

    Returns
    -------
    dict
        ``texts`` (read, with repeats), ``encoded`` (distinct texts encoded), ``chunks``,
        ``model_id``, ``seconds`` (encoding and writing).
    """
    logger = get_run_logger()
    started = time.perf_counter()
    turns = store.sql(
        "select conversation_id, turn_idx, speaker, event_type, text, action_name, ts "
        f"from {schema.TURNS}"
    )
    texts = texts_to_embed(turns, config)
    model_id = embedder_model_id(config.embed)
    rows = missing_texts(store, texts, model_id=model_id, max_chars=config.embed.max_chars)
    chunks = list(rows.iter_slices(config.flows.embed_chunk))
    logger.info("embedding %d new texts in %d chunks", rows.height, len(chunks))
    futures = [encode_chunk.submit(chunk, config.embed, model_id) for chunk in chunks]
    encoded = 0
    with track("embedding", total=rows.height, unit=" texts") as bar:
        # written in order while later chunks are still encoding
        for chunk, future in zip(chunks, futures, strict=True):
            encoded += store.write_embeddings(future.result(), model_id=model_id, run_id=run_id)
            bar.update(chunk.height)
    return {
        "texts": texts.len(),
        "encoded": encoded,
        "chunks": len(chunks),
        "model_id": model_id,
        "seconds": round(time.perf_counter() - started, 3),
    }


@flow(name="embed", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=1))
def embed_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Pre-fill the embedding cache; record the run in ``runs``.

    The task runner is the flow's: call :func:`run_embed_flow` (or ``embed_flow.with_options(
    task_runner=make_task_runner(config.flows))``) for the one config asks for.
    """
    from flows.stages import recorded_run
    from pipeline.store import open_store

    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    with (
        stage_progress("embed"),
        open_store(db, lock_timeout_s=config.lock_timeout_s, settings=config.store) as store,
    ):
        with recorded_run(store, flow="embed", config=config) as run_id:
            summary = prefill_embeddings(store, config, run_id=run_id)
        store.finish_run(
            run_id,
            status="ok",
            row_counts={k: v for k, v in summary.items() if k in ("texts", "encoded", "chunks")},
        )
    return {"run_id": run_id, "database": str(db), "runner": config.flows.runner, **summary}


def run_embed_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Run :func:`embed_flow` on the task runner the config's ``flows`` section names."""
    config = load_config(config_path)
    runner = make_task_runner(config.flows)
    return embed_flow.with_options(task_runner=runner)(config_path=config_path, db_path=db_path)
