"""The process flow: steps (event log) and discovery (variants, graph, candidate SOPs)."""

from __future__ import annotations

from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.embed import load_embedder
from flows.progress import stage_progress
from flows.stages import folder_state, stage_flow_body
from flows.steps import steps_task
from pipeline.config import Config
from pipeline.process.run import update_discovery
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def discovery_task(store: Store, *, config: Config, run_id: str) -> dict[str, int]:
    """Discover each workflow's process (see :func:`pipeline.process.run.update_discovery`)."""
    return update_discovery(store, config=config, run_id=run_id)


def process_body(store: Store, config: Config, run_id: str) -> dict[str, Any]:
    """Run the steps task, then discovery unless steps were skipped; return the steps' summary."""
    summary = steps_task(
        store, config=config, embedder=lambda: load_embedder(config.embed), run_id=run_id
    )
    if summary["mode"] != "skipped":
        discovery_task(store, config=config, run_id=run_id)
    return summary


def process_inputs(config: Config) -> dict[str, Any]:
    """Return the process stage's own inputs for its fingerprint: the SOP folder's files."""
    return {"sops": str(config.sops), "sops_state": folder_state(config.sops)}


@flow(name="process", log_prints=False)
def process_flow(
    config_path: str | None = None, db_path: str | None = None, sops: str | None = None
) -> dict[str, Any]:
    """Rebuild the step event log and process tables; record the run in ``runs``.

    Reuses the current tables when nothing they depend on changed (see :mod:`flows.stages`).
    ``sops`` replaces the configured documented-SOP folder (``sops`` in config).
    """
    with stage_progress("process"):
        return stage_flow_body(
            "process",
            process_body,
            config_path=config_path,
            db_path=db_path,
            extra=process_inputs,
            sops=sops,
        )
