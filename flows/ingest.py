"""The ingest flow: hash each input file, stream it through ingest, record it in ``sources``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from prefect import flow, get_run_logger, task
from prefect.cache_policies import NO_CACHE

from flows.progress import stage_progress
from flows.stages import recorded_run
from pipeline.config import Config, hash_key_from_env, load_config
from pipeline.errors import InputError
from pipeline.ingest import detect_format, list_inputs, unreadable_reason
from pipeline.ingest.adapters.files import file_sha256
from pipeline.ingest.run import load_small_sources, load_source
from pipeline.store import Store, open_store


def hash_input(path: Path) -> dict[str, Any]:
    """Hash one input file; an unreadable file is reported, not raised."""
    try:
        return {"path": str(path), "sha256": file_sha256(path), "error": None}
    except InputError as exc:
        return {"path": str(path), "sha256": None, "error": str(exc)}


@task(retries=2, retry_delay_seconds=1, cache_policy=NO_CACHE)
def hash_inputs(paths: Sequence[Path]) -> list[dict[str, Any]]:
    """Hash the input files (one task for all: retried as a whole, I/O)."""
    return [hash_input(path) for path in paths]


def _source_row(source: dict[str, Any], fmt: str) -> dict[str, Any]:
    """Return a file's ``sources`` row before it is read: counts at zero."""
    path, sha256 = Path(source["path"]), source["sha256"]
    return {
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
    row = _source_row(source, fmt)
    if sha256 is None:
        row["status"] = "unreadable"
    elif not force and store.source_status(sha256) in ("ok", "partial"):
        row["status"] = "skipped"  # same bytes already ingested: nothing to do
        return row
    else:
        try:
            if fmt == "auto":
                row["format"] = fmt = detect_format(path)
            load_source(store, path, row, config=config, fmt=fmt, hash_key=hash_key,
                        run_id=run_id)  # fmt: skip
        except InputError as exc:
            row["status"], row["error"] = "unreadable", unreadable_reason(exc)
    store.write_source({k: v for k, v in row.items() if k != "problems"}, run_id=run_id)
    return row


@task(cache_policy=NO_CACHE)
def ingest_small_sources(
    store: Store,
    sources: list[dict[str, Any]],
    *,
    config: Config,
    fmt: str,
    hash_key: bytes,
    run_id: str,
    force: bool = False,
) -> list[dict[str, Any]]:
    """Ingest small files many together (:func:`pipeline.ingest.run.load_small_sources`).

    One ``sources`` row a file, as :func:`ingest_source` writes, all in one transaction.
    """
    rows, items = [], []
    done = {} if force else store.source_statuses([s["sha256"] for s in sources if s["sha256"]])
    for source in sources:
        row = _source_row(source, fmt)
        rows.append(row)
        if source["sha256"] is None:
            row["status"] = "unreadable"
        elif done.get(source["sha256"]) in ("ok", "partial"):
            row["status"] = "skipped"
        else:
            try:
                row["format"] = detect_format(Path(source["path"])) if fmt == "auto" else fmt
                items.append((Path(source["path"]), row, row["format"]))
            except InputError as exc:
                row["status"], row["error"] = "unreadable", unreadable_reason(exc)
    load_small_sources(store, items, config=config, hash_key=hash_key, run_id=run_id)
    written = [r for r in rows if r["status"] != "skipped"]
    store.write_sources([{k: v for k, v in r.items() if k != "problems"} for r in written],
                        run_id=run_id)  # fmt: skip
    return rows


def _small(source: dict[str, Any], limit: int) -> bool:
    """Say whether a file is read with others: at most ``limit`` bytes (0: never)."""
    try:
        return 0 < Path(source["path"]).stat().st_size <= limit
    except OSError:
        return False


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
    with (
        stage_progress("ingest"),
        open_store(db, lock_timeout_s=config.lock_timeout_s, settings=config.store) as store,
    ):
        with recorded_run(store, flow="ingest", config=config) as run_id:
            hashed = hash_inputs(files)
            common = {"config": config, "fmt": fmt or config.ingest.format,
                      "hash_key": hash_key, "run_id": run_id, "force": force}  # fmt: skip
            limit = config.ingest.small_file_bytes
            is_small = [s["sha256"] is not None and _small(s, limit) for s in hashed]
            small = [s for s, yes in zip(hashed, is_small, strict=True) if yes]
            sources = [ingest_source(store, s, **common)
                       for s, yes in zip(hashed, is_small, strict=True) if not yes]  # fmt: skip
            step = max(config.ingest.batch_size, 1)  # files a task: a group or more
            for start in range(0, len(small), step):
                sources += ingest_small_sources(store, small[start : start + step], **common)
            order = {s["path"]: i for i, s in enumerate(hashed)}
            sources.sort(key=lambda row: order[row["path"]])
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
