"""The process flow: steps (event log) and discovery (variants, graph, candidate SOPs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.intents import load_embedder
from flows.stages import folder_state, stage_flow_body
from pipeline.config import Config
from pipeline.embed.cache import Embedder
from pipeline.steps.run import update_process
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def process_task(
    store: Store, *, config: Config, embedder: Callable[[], Embedder], run_id: str
) -> dict[str, Any]:
    """Extract steps and discover processes (see :func:`pipeline.steps.run.update_process`)."""
    return update_process(store, config=config, embedder=embedder, run_id=run_id)


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
    return stage_flow_body(
        "process",
        lambda store, config, run_id: process_task(
            store, config=config, embedder=lambda: load_embedder(config.embed), run_id=run_id
        ),
        config_path=config_path,
        db_path=db_path,
        extra=process_inputs,
        sops=sops,
    )
