"""Run the steps stage and discovery on a store, as the process flow does (without Prefect)."""

from __future__ import annotations

from typing import Any

from pipeline.process.run import update_discovery
from pipeline.steps.run import update_steps


def update_process(store, *, config, embedder, run_id: str) -> dict[str, Any]:
    """Steps, then discovery unless steps were skipped; the steps' summary (as the flow)."""
    summary = update_steps(store, config=config, embedder=embedder, run_id=run_id)
    if summary["mode"] != "skipped":
        update_discovery(store, config=config, run_id=run_id)
    return summary
