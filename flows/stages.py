"""Run a stage once per distinct input: fingerprints, reuse, and the run record.

A stage's fingerprint hashes what its result depends on: the analytic config, the code
version, the conversations' content hashes, the run that wrote each upstream stage's
output, and the stage's own extra inputs (the SOP library's file hashes). When the
stage's current output was written by an ``ok`` run with the same fingerprint, the
stage is not recomputed: the run is recorded as ``unchanged`` and points at the run it
reuses. A run killed half-way never finished ``ok``, so the next run recomputes its
stage and everything after it; finished stages are reused. This is content-hash
caching kept in ``runs`` (the audit trail), not in Prefect's result store: stage
results live in DuckDB, not in task return values.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import get_run_logger

import pipeline
from pipeline import schema
from pipeline.config import Config, config_hash, load_config
from pipeline.ingest.adapters.files import file_sha256
from pipeline.store import Store, open_store

# stage -> (the table whose run_id says which run wrote the stage's current output,
#           the stages it reads)
STAGES: dict[str, tuple[str, tuple[str, ...]]] = {
    "intents": (schema.INTENT_ASSIGNMENTS, ()),
    "process": (schema.STEP_EVENTS, ("intents",)),
    "drift": (schema.DRIFT_FINDINGS, ("process",)),
    "readiness": (schema.READINESS, ("drift",)),
}


def code_version() -> str:
    """Package version plus the git commit of the checkout, when there is one."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(pipeline.__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{pipeline.__version__}+{commit}" if commit else pipeline.__version__


@contextmanager
def recorded_run(
    store: Store, *, flow: str, config: Config, inputs: list[dict[str, Any]] | None = None
) -> Iterator[str]:
    """Record a run in ``runs``: yield its id; an exception marks it failed and propagates.

    The caller finishes a successful run itself (``store.finish_run(run_id, status="ok",
    ...)``) with its own row counts.
    """
    run_id = store.begin_run(
        flow=flow, config_hash=config_hash(config), code_version=code_version(),
        inputs=inputs or [],
    )  # fmt: skip
    try:
        yield run_id
    except BaseException as exc:
        store.finish_run(run_id, status="failed", error=f"{type(exc).__name__}: {exc}"[:500])
        raise


def output_run(store: Store, stage: str) -> str | None:
    """Return the run that wrote the stage's current output (None: never written)."""
    return store.scalar(f"select max(run_id) from {STAGES[stage][0]}")


def data_state(store: Store) -> str:
    """Hash the conversations' ids and content hashes (what every stage reads)."""
    return store.scalar(
        "select md5(coalesce(string_agg(conversation_id || ':' || content_hash, ',' "
        f"order by conversation_id), '')) from {schema.CONVERSATIONS}"
    )


def folder_state(location: Path) -> str:
    """Hash the names and contents of the files under a folder (or one file)."""
    if not location.exists():
        return "absent"
    files = sorted(p for p in ([location] if location.is_file() else location.rglob("*"))
                   if p.is_file())  # fmt: skip
    listing = [(str(p.relative_to(location)) if p != location else p.name, file_sha256(p))
               for p in files]  # fmt: skip
    return hashlib.sha256(json.dumps(listing).encode()).hexdigest()[:16]


def stage_fingerprint(
    store: Store, stage: str, *, config: Config, extra: dict[str, Any] | None = None
) -> str:
    """Hash everything the stage's result depends on (see the module docstring)."""
    parts = {
        "stage": stage,
        "config": config_hash(config),
        "code": code_version(),
        "data": data_state(store),
        "upstream": {name: output_run(store, name) for name in STAGES[stage][1]},
        **(extra or {}),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


def reusable_run(store: Store, stage: str, fingerprint: str) -> str | None:
    """Return the run whose output is current and was computed from ``fingerprint``."""
    run_id = output_run(store, stage)
    if run_id is None:
        return None
    found = store.sql(f"select status, inputs from {schema.RUNS} where run_id = ?", [run_id]).rows()
    if not found or found[0][0] != "ok":
        return None
    inputs = json.loads(found[0][1] or "[]")
    return run_id if any(i.get("fingerprint") == fingerprint for i in inputs) else None


def run_stage(
    store: Store,
    stage: str,
    compute: Callable[[str], dict[str, Any]] | None,
    *,
    config: Config,
    extra: dict[str, Any] | None = None,
    force: bool = False,
) -> dict[str, Any] | None:
    """Run one stage (or reuse its current output); record the run; return its summary.

    Parameters
    ----------
    store
        The open database.
    stage
        A key of :data:`STAGES`; also the ``flow`` name in ``runs``.
    compute
        Called with the new run id when the stage must run; returns the summary (its
        numbers become the run's row counts). ``None``: only record a reuse.
    config
        The run's configuration (its hash is part of the fingerprint).
    extra
        Further inputs of this stage (hashed into the fingerprint, recorded in ``runs``).
    force
        Recompute even when the output is current (an intent refit on request).

    Returns
    -------
    dict or None
        ``run_id`` plus the summary; ``mode: unchanged`` and ``reused`` (the run whose
        output stands) when nothing was recomputed; ``None`` (nothing recorded) when the
        stage must run and ``compute`` is ``None``.
    """
    fingerprint = stage_fingerprint(store, stage, config=config, extra=extra)
    reused = None if force else reusable_run(store, stage, fingerprint)
    if reused is None and compute is None:
        return None
    inputs = [{"fingerprint": fingerprint, **(extra or {})}]
    with recorded_run(store, flow=stage, config=config, inputs=inputs) as run_id:
        summary = {"mode": "unchanged", "reused": reused} if reused else compute(run_id)
    numbers = {k: v for k, v in summary.items() if isinstance(v, int | float)}
    store.finish_run(run_id, status="ok", row_counts=numbers or {"unchanged": int(bool(reused))})
    return {"run_id": run_id, **summary}


def stage_config(config_path: str | None, *, sops: str | None = None) -> Config:
    """Load the config; ``sops`` (a folder or file) replaces its documented-SOP location."""
    config = load_config(config_path)
    return dataclasses.replace(config, sops=Path(sops).resolve()) if sops else config


def stage_flow_body(
    stage: str,
    body: Callable[[Store, Config, str], dict[str, Any]],
    *,
    config_path: str | None,
    db_path: str | None,
    extra: Callable[[Config], dict[str, Any]] | None = None,
    force: bool = False,
    sops: str | None = None,
) -> dict[str, Any]:
    """Run the body every stage flow shares: config, store, :func:`run_stage`, a warning.

    ``body(store, config, run_id)`` runs the stage's task; ``extra(config)`` gives the
    stage's own inputs for the fingerprint; ``sops`` replaces the configured SOP folder.
    """
    config = stage_config(config_path, sops=sops)
    db = Path(db_path) if db_path else config.database
    with open_store(db, lock_timeout_s=config.lock_timeout_s, settings=config.store) as store:
        summary = run_stage(
            store,
            stage,
            lambda run_id: body(store, config, run_id),
            config=config,
            extra=extra(config) if extra else None,
            force=force,
        )
    if summary["mode"] == "skipped":
        get_run_logger().warning("%s skipped: %s", stage, summary["reason"])
    return {"database": str(db), **summary}


def reuse_current(
    stage: str,
    *,
    config_path: str | None,
    db_path: str | None,
    extra: Callable[[Config], dict[str, Any]] | None = None,
    sops: str | None = None,
) -> dict[str, Any] | None:
    """Record a stage whose output is current as ``unchanged``, without starting its flow.

    Returns the run summary, or ``None`` when the stage must run (then call its flow).
    Saves the cost of a Prefect subflow on a night with nothing new.
    """
    config = stage_config(config_path, sops=sops)
    db = Path(db_path) if db_path else config.database
    with open_store(db, lock_timeout_s=config.lock_timeout_s, settings=config.store) as store:
        inputs = extra(config) if extra else None
        summary = run_stage(store, stage, None, config=config, extra=inputs)
    return None if summary is None else {"database": str(db), **summary}
