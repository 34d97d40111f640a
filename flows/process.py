"""The process flow: steps (event log) and discovery (variants, graph, candidate SOPs)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.intents import load_embedder
from flows.stages import folder_state, run_stage
from pipeline.config import Config, load_config
from pipeline.embed import Embedder
from pipeline.process import update_process
from pipeline.store import Store, open_store


@task(cache_policy=NO_CACHE)
def process_task(
    store: Store, *, config: Config, embedder: Callable[[], Embedder], run_id: str
) -> dict[str, Any]:
    """Extract steps and discover processes (see :func:`pipeline.process.update_process`)."""
    return update_process(store, config=config, embedder=embedder, run_id=run_id)


@flow(name="process", log_prints=False)
def process_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Rebuild the step event log and process tables; record the run in ``runs``.

    Reuses the current tables when nothing they depend on changed (see :mod:`flows.stages`).
    """
    logger = get_run_logger()
    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    with open_store(db, lock_timeout_s=config.lock_timeout_s) as store:
        summary = run_stage(
            store,
            "process",
            lambda run_id: process_task(
                store, config=config, embedder=lambda: load_embedder(config.embed), run_id=run_id
            ),
            config=config,
            extra={"sops": str(config.sops), "sops_state": folder_state(config.sops)},
        )
    if summary["mode"] == "skipped":
        logger.warning("process skipped: %s", summary["reason"])
    return {"database": str(db), **summary}
