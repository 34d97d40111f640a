"""The intent flow: load the embedding model, then fit or update intents in the store.

New conversations are assigned with the saved model on the flow's task runner (see
:func:`flows.embed.make_task_runner`): one thread in this process (``flows.runner:
local``) or a Dask cluster (``runner: dask``). Their request vectors go out in chunks of
``flows.embed_chunk`` rows, each computed on one BLAS thread, on either runner, so both
give the same assignments and probabilities to the bit. The model goes out once: one
task returns it and every chunk takes that task's future, so Dask keeps it in worker
memory and copies it to each worker at most once (a model passed to each chunk would be
pickled and sent with every chunk). Only this process opens DuckDB; fitting stays here.
:func:`run_intents_flow` runs the flow on the runner config names.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
from prefect import flow, task
from prefect.cache_policies import NO_CACHE
from prefect.task_runners import ThreadPoolTaskRunner
from threadpoolctl import threadpool_limits

from flows.embed import load_embedder, make_task_runner
from flows.progress import stage_progress
from flows.stages import stage_flow_body
from pipeline.config import Config, load_config
from pipeline.embed.models import Embedder
from pipeline.intents.model import Assign, IntentModel, assign_intents
from pipeline.intents.run import update_intents
from pipeline.progress import track
from pipeline.store import Store


@task(cache_policy=NO_CACHE)
def share_model(model: IntentModel) -> IntentModel:
    """Return ``model``; its future hands the one copy to every :func:`assign_chunk`."""
    return model


@task(cache_policy=NO_CACHE)
def assign_chunk(
    model: IntentModel, vectors: np.ndarray, threshold: float
) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """Assign one chunk of request vectors (see :func:`pipeline.intents.model.assign_intents`).

    Runs on one BLAS thread, as on a Dask worker (its nanny sets ``OMP_NUM_THREADS=1``):
    a matrix product summed by more threads differs in the last bits, and so would the
    probabilities of the local runner.
    """
    with threadpool_limits(limits=1):
        return assign_intents(model, vectors, threshold=threshold)


def assign_on_runner(
    model: IntentModel, vectors: np.ndarray, *, threshold: float, chunk: int
) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """Assign ``vectors`` in chunks of ``chunk`` rows on the current flow's task runner.

    Call inside a flow. Returns what :func:`pipeline.intents.model.assign_intents` returns for
    all rows, in their order.
    """
    if len(vectors) == 0:
        return assign_intents(model, vectors, threshold=threshold)
    shared = share_model.submit(model)
    futures = [
        assign_chunk.submit(shared, vectors[start : start + chunk], threshold)
        for start in range(0, len(vectors), chunk)
    ]
    parts = []
    with track("intents: assigning", total=len(vectors), unit=" conversations") as bar:
        for future in futures:
            parts.append(future.result())
            bar.update(len(parts[-1][0]))
    ids = [intent_id for part in parts for intent_id in part[0]]
    return ids, np.concatenate([p[1] for p in parts]), np.concatenate([p[2] for p in parts])


def chunked_assign(chunk: int) -> Assign:
    """Return an ``assign`` for :func:`pipeline.intents.run.update_intents` that uses the runner."""
    return partial(assign_on_runner, chunk=chunk)


def intents_stage(
    store: Store,
    *,
    config: Config,
    embedder: Callable[[], Embedder],
    run_id: str,
    refit: bool | None,
) -> dict[str, Any]:
    """Fit or update intents (see :func:`pipeline.intents.run.update_intents`).

    Not a task: a task submitted from inside a task carries that task's parameters to
    the worker, and these include the open store, which cannot be sent.
    """
    return update_intents(
        store,
        config=config,
        embedder=embedder,
        run_id=run_id,
        refit=refit,
        assign=chunked_assign(config.flows.embed_chunk),
    )


@flow(name="intents", log_prints=False, task_runner=ThreadPoolTaskRunner(max_workers=1))
def intents_flow(
    config_path: str | None = None, db_path: str | None = None, refit: bool | None = None
) -> dict[str, Any]:
    """Group every conversation in the database into intents; record the run in ``runs``.

    Reuses the current assignments when nothing they depend on changed (see
    :mod:`flows.stages`); a refit on request always runs.

    ``refit``: ``True`` fits a new model, ``False`` only assigns new conversations,
    ``None`` follows ``intents.refit`` in config.

    The task runner is the flow's: call :func:`run_intents_flow` for the one config asks for.
    """
    with stage_progress("intents"):
        return stage_flow_body(
            "intents",
            lambda store, config, run_id: intents_stage(
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


def run_intents_flow(
    config_path: str | None = None, db_path: str | None = None, refit: bool | None = None
) -> dict[str, Any]:
    """Run :func:`intents_flow` on the task runner the config's ``flows`` section names."""
    runner = make_task_runner(load_config(config_path).flows)
    return intents_flow.with_options(task_runner=runner)(
        config_path=config_path, db_path=db_path, refit=refit
    )
