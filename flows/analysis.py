"""The drift flow (outcomes, conformance, drift findings) and the readiness flow."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.intents import load_embedder
from flows.stages import stage_flow_body
from pipeline.config import Config
from pipeline.drift.run import update_drift, update_readiness
from pipeline.embed.cache import Embedder
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def drift_task(
    store: Store, *, config: Config, embedder: Callable[[], Embedder], run_id: str
) -> dict[str, Any]:
    """Outcomes, conformance and drift findings (see :func:`pipeline.drift.run.update_drift`)."""
    return update_drift(store, config=config, embedder=embedder, run_id=run_id)


@task(cache_policy=NO_CACHE)
def readiness_task(store: Store, *, config: Config, run_id: str) -> dict[str, Any]:
    """Score autonomy readiness (see :func:`pipeline.drift.run.update_readiness`)."""
    return update_readiness(store, config=config, run_id=run_id)


@flow(name="drift", log_prints=False)
def drift_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Rebuild outcomes, conformance and drift findings; record the run in ``runs``."""
    return stage_flow_body(
        "drift",
        lambda store, config, run_id: drift_task(
            store, config=config, embedder=lambda: load_embedder(config.embed), run_id=run_id
        ),
        config_path=config_path,
        db_path=db_path,
    )


@flow(name="readiness", log_prints=False)
def readiness_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Score every workflow's autonomy readiness; record the run in ``runs``."""
    return stage_flow_body(
        "readiness",
        lambda store, config, run_id: readiness_task(store, config=config, run_id=run_id),
        config_path=config_path,
        db_path=db_path,
    )
