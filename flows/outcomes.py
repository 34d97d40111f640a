"""The outcomes task: how each conversation ended, run first inside the drift flow."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipeline.config import Config
from pipeline.outcomes.run import update_outcomes
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def outcomes_task(store: Store, *, config: Config, run_id: str) -> dict[str, Any]:
    """Derive outcomes (see :func:`pipeline.outcomes.run.update_outcomes`)."""
    return update_outcomes(store, config=config, run_id=run_id)
