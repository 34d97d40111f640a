"""The drift flow (outcomes, conformance, drift findings) and the readiness flow."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.intents import load_embedder
from flows.stages import run_stage
from pipeline.analysis import update_drift, update_readiness
from pipeline.config import Config, load_config
from pipeline.embed import Embedder
from pipeline.store import Store, open_store


@task(cache_policy=NO_CACHE)
def drift_task(
    store: Store, *, config: Config, embedder: Callable[[], Embedder], run_id: str
) -> dict[str, Any]:
    """Outcomes, conformance and drift findings (see :func:`pipeline.analysis.update_drift`)."""
    return update_drift(store, config=config, embedder=embedder, run_id=run_id)


@task(cache_policy=NO_CACHE)
def readiness_task(store: Store, *, config: Config, run_id: str) -> dict[str, Any]:
    """Score autonomy readiness (see :func:`pipeline.analysis.update_readiness`)."""
    return update_readiness(store, config=config, run_id=run_id)


@flow(name="drift", log_prints=False)
def drift_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Rebuild outcomes, conformance and drift findings; record the run in ``runs``."""
    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    with open_store(db, lock_timeout_s=config.lock_timeout_s) as store:
        summary = run_stage(
            store,
            "drift",
            lambda run_id: drift_task(
                store, config=config, embedder=lambda: load_embedder(config.embed), run_id=run_id
            ),
            config=config,
        )
    _warn_skipped("drift", summary)
    return {"database": str(db), **summary}


@flow(name="readiness", log_prints=False)
def readiness_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Score every workflow's autonomy readiness; record the run in ``runs``."""
    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    with open_store(db, lock_timeout_s=config.lock_timeout_s) as store:
        summary = run_stage(
            store,
            "readiness",
            lambda run_id: readiness_task(store, config=config, run_id=run_id),
            config=config,
        )
    _warn_skipped("readiness", summary)
    return {"database": str(db), **summary}


def _warn_skipped(stage: str, summary: dict[str, Any]) -> None:
    if summary["mode"] == "skipped":
        get_run_logger().warning("%s skipped: %s", stage, summary["reason"])
