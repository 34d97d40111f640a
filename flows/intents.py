"""The intent flow: load the embedding model, then fit or update intents in the store."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.stages import run_stage
from pipeline.config import Config, EmbedConfig, load_config
from pipeline.embed import Embedder, make_embedder
from pipeline.intents import update_intents
from pipeline.store import Store, open_store


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
    logger = get_run_logger()
    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    with open_store(db, lock_timeout_s=config.lock_timeout_s) as store:
        summary = run_stage(
            store,
            "intents",
            lambda run_id: intents_task(
                store,
                config=config,
                embedder=lambda: load_embedder(config.embed),
                run_id=run_id,
                refit=refit,
            ),
            config=config,
            force=refit is True,
        )
    if summary["mode"] == "skipped":
        logger.warning("intents skipped: %s", summary["reason"])
    return {"database": str(db), **summary}
