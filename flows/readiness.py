"""The readiness flow: score every workflow's autonomy readiness."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.progress import stage_progress
from flows.stages import stage_flow_body
from pipeline.config import Config
from pipeline.readiness.run import update_readiness
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def readiness_task(store: Store, *, config: Config, run_id: str) -> dict[str, Any]:
    """Score autonomy readiness (see :func:`pipeline.readiness.run.update_readiness`)."""
    return update_readiness(store, config=config, run_id=run_id)


@flow(name="readiness", log_prints=False)
def readiness_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Score every workflow's autonomy readiness; record the run in ``runs``."""
    with stage_progress("readiness"):
        return stage_flow_body(
            "readiness",
            lambda store, config, run_id: readiness_task(store, config=config, run_id=run_id),
            config_path=config_path,
            db_path=db_path,
        )
