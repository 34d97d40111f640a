"""The intent flow: load the embedding model, then fit or update intents in the store."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from prefect import flow, task
from prefect.cache_policies import NO_CACHE

from flows.stages import stage_flow_body
from pipeline.config import Config, EmbedConfig
from pipeline.embed import Embedder, make_embedder
from pipeline.intents import update_intents
from pipeline.store import Store


@task(retries=2, retry_delay_seconds=2, cache_policy=NO_CACHE)
def load_embedder(config: EmbedConfig) -> Embedder:
    """Load the embedding model (retried: model files are read from disk)."""
    return make_embedder(config)


@task(cache_policy=NO_CACHE)
def intents_task(
    store: Store,
    *,
    config: Config,
    embedder: Callable[[], Embedder],
    run_id: str,
    refit: bool | None,
) -> dict[str, Any]:
    """Fit or update intents (see :func:`pipeline.intents.update_intents`)."""
    return update_intents(store, config=config, embedder=embedder, run_id=run_id, refit=refit)


@flow(name="intents", log_prints=False)
def intents_flow(
    config_path: str | None = None, db_path: str | None = None, refit: bool | None = None
) -> dict[str, Any]:
    """Group every conversation in the database into intents; record the run in ``runs``.

    Reuses the current assignments when nothing they depend on changed (see
    :mod:`flows.stages`); a refit on request always runs.

    ``refit``: ``True`` fits a new model, ``False`` only assigns new conversations,
    ``None`` follows ``intents.refit`` in config.
    """
    return stage_flow_body(
        "intents",
        lambda store, config, run_id: intents_task(
            store,
            config=config,
            embedder=lambda: load_embedder(config.embed),
            run_id=run_id,
            refit=refit,
        ),
        config_path=config_path,
        db_path=db_path,
        force=refit is True,
    )
