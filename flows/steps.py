"""The steps task: the step event log, run inside the process flow (:mod:`flows.process`)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE

from pipeline.config import Config
from pipeline.embed.models import Embedder
from pipeline.steps.run import update_steps
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def steps_task(
    store: Store, *, config: Config, embedder: Callable[[], Embedder], run_id: str
) -> dict[str, Any]:
    """Extract the step event log (see :func:`pipeline.steps.run.update_steps`)."""
    return update_steps(store, config=config, embedder=embedder, run_id=run_id)
