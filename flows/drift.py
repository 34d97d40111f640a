"""The drift flow: outcomes (:mod:`flows.outcomes`), then conformance and drift findings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.embed import load_embedder
from flows.outcomes import outcomes_task
from flows.progress import stage_progress
from flows.stages import stage_flow_body
from pipeline.config import Config
from pipeline.drift.run import update_drift
from pipeline.embed.models import Embedder
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def drift_task(
    store: Store, *, config: Config, embedder: Callable[[], Embedder], run_id: str
) -> dict[str, Any]:
    """Conformance and drift findings (see :func:`pipeline.drift.run.update_drift`)."""
    return update_drift(store, config=config, embedder=embedder, run_id=run_id)


def drift_body(store: Store, config: Config, run_id: str) -> dict[str, Any]:
    """Outcomes, then conformance and drift unless outcomes were skipped; one summary."""
    summary = outcomes_task(store, config=config, run_id=run_id)
    if summary["mode"] == "skipped":
        return summary
    drift = drift_task(
        store, config=config, embedder=lambda: load_embedder(config.embed), run_id=run_id
    )  # the model is loaded only if a stage asks for it
    return {**summary, **drift}


@flow(name="drift", log_prints=False)
def drift_flow(config_path: str | None = None, db_path: str | None = None) -> dict[str, Any]:
    """Rebuild outcomes, conformance and drift findings; record the run in ``runs``."""
    with stage_progress("drift"):
        return stage_flow_body("drift", drift_body, config_path=config_path, db_path=db_path)
