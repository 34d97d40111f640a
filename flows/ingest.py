"""The ingest flow: hash each input file, stream it through ingest, record it in ``sources``."""

from __future__ import annotations

import hashlib
import os
import subprocess
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE
from tqdm import tqdm

import pipeline
from pipeline.config import Config, config_hash, hash_key_from_env, load_config
from pipeline.errors import InputError
from pipeline.ingest.adapters.files import file_sha256
from pipeline.ingest.run import detect_format, list_inputs, read_source, unreadable_reason
from pipeline.store import Store, open_store

MAX_LOGGED_PROBLEMS = 20  # per file; the rest are counted, and all are in `quarantine`


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


@task(retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def hash_input(path: Path) -> dict[str, Any]:
    """Hash one input file (retried: I/O); an unreadable file is reported, not raised."""
    try:
        return {"path": str(path), "sha256": file_sha256(path), "error": None}
    except InputError as exc:
        return {"path": str(path), "sha256": None, "error": str(exc)}


@task(cache_policy=NO_CACHE)
def ingest_source(
    store: Store,
    source: dict[str, Any],
    *,
    config: Config,
    fmt: str,
    hash_key: bytes,
    run_id: str,
    force: bool = False,
) -> dict[str, Any]:
    """Ingest one file batch by batch, each batch in its own transaction; return its row."""
    path, sha256 = Path(source["path"]), source["sha256"]
    row: dict[str, Any] = {
        "source_id": (sha256 or hashlib.sha256(str(path).encode()).hexdigest())[:16],
        "path": str(path),
        "sha256": sha256,
        "format": fmt,
        "status": "ok",
        "error": source["error"],
        "n_records": 0,
        "n_loaded": 0,
        "n_unchanged": 0,
        "n_replaced": 0,
        "n_quarantined": 0,
        "problems": [],
    }
    if sha256 is None:
        row["status"] = "unreadable"
    elif not force and store.source_status(sha256) in ("ok", "partial"):
        row["status"] = "skipped"  # same bytes already ingested: nothing to do
        return row
    else:
        try:
            if fmt == "auto":
                row["format"] = fmt = detect_format(path)
            _load(store, path, row, config=config, fmt=fmt, hash_key=hash_key, run_id=run_id)
        except InputError as exc:
            row["status"], row["error"] = "unreadable", unreadable_reason(exc)
    store.write_source({k: v for k, v in row.items() if k != "problems"}, run_id=run_id)
    return row


def _load(
    store: Store, path: Path, row: dict, *, config: Config, fmt: str, hash_key: bytes, run_id: str
) -> None:
    batches = read_source(
        path,
        source_id=row["source_id"],
        fmt=fmt,
        config=config.ingest,
        hash_key=hash_key,
        redact_types=config.redact.types,
    )
    with tqdm(desc=path.name, unit=" conv", disable=None, leave=False) as progress:
        for batch in batches:
            counts = store.write_conversations(
                conversations=batch.conversations,
                turns=batch.turns,
                redactions=batch.redactions,
                run_id=run_id,
            )
            store.write_quarantine(batch.quarantine, run_id=run_id)
            row["n_records"] += batch.n_records
            row["n_loaded"] += counts["loaded"]
            row["n_replaced"] += counts["replaced"]
            row["n_unchanged"] += counts["unchanged"]
            row["n_quarantined"] += batch.quarantine.height
            row["problems"].extend(
                f"{path}: {loc}: {msg}"
                for loc, msg in batch.quarantine.select("locator", "message")
                .head(MAX_LOGGED_PROBLEMS - len(row["problems"]))
                .iter_rows()
            )
            if batch.quarantine["reason"].is_in(["truncated_gzip"]).any():
                row["status"] = "partial"
            progress.update(batch.n_records)


@flow(name="ingest", log_prints=False)
def ingest_flow(
    inputs: Sequence[str] | None = None,
    config_path: str | None = None,
    db_path: str | None = None,
    fmt: str | None = None,
    force: bool = False,
) -> dict[str, Any]:
    """Ingest input files (default: the configured landing folder) into the database.

    Every run is recorded in ``runs`` with its config hash, code version, input file
    hashes, row counts, status and error.
    """
    logger = get_run_logger()
    config = load_config(config_path)
    db = Path(db_path) if db_path else config.database
    hash_key, default_key = hash_key_from_env(config.redact.hash_key_env, os.environ)
    if default_key:
        logger.warning(
            "%s is not set: customer and agent ids are hashed with the development key; "
            "set it for production data",
            config.redact.hash_key_env,
        )
    files = list_inputs(
        inputs or [config.landing],
        patterns=config.ingest.patterns,
        recursive=config.ingest.recursive,
    )
    with open_store(db, lock_timeout_s=config.lock_timeout_s) as store:
        with recorded_run(store, flow="ingest", config=config) as run_id:
            hashed = [hash_input(path) for path in files]
            sources = [
                ingest_source(
                    store,
                    source,
                    config=config,
                    fmt=fmt or config.ingest.format,
                    hash_key=hash_key,
                    run_id=run_id,
                    force=force,
                )
                for source in hashed
            ]
        for source in sources:
            for problem in source["problems"]:
                logger.info("quarantined: %s", problem)
        counts = {
            key: sum(s[f"n_{key}"] for s in sources)
            for key in ("records", "loaded", "replaced", "unchanged", "quarantined")
        }
        store.finish_run(
            run_id,
            status="ok",
            row_counts=counts,
            inputs=[{k: s[k] for k in ("path", "sha256", "status")} for s in sources],
        )
    return {"run_id": run_id, "database": str(db), "sources": sources, "counts": counts}
