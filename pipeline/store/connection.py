"""Opening the store: :func:`open_store` and the :class:`Store` it yields."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

from pipeline import migrations
from pipeline.errors import StoreError, StoreLockedError
from pipeline.settings.store import StoreConfig
from pipeline.store.conversations import ConversationTables
from pipeline.store.embeddings import EmbeddingCache
from pipeline.store.intents import IntentTables
from pipeline.store.lock import describe_holder, lock_path, writer_lock
from pipeline.store.runs import RunLog
from pipeline.store.snapshots import SnapshotTables


class Store(RunLog, ConversationTables, EmbeddingCache, IntentTables, SnapshotTables):
    """An open DuckDB database; create it with :func:`open_store`."""


@contextmanager
def open_store(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_timeout_s: float = 0.0,
    owner: str | None = None,
    settings: StoreConfig | None = None,
) -> Iterator[Store]:
    """Open the database, migrating it forward; a writer holds the single-writer lock.

    Parameters
    ----------
    path
        The DuckDB file; created with its folder when a writer opens it.
    read_only
        Open for reading only (no lock taken; fails while a writer holds the file).
    lock_timeout_s
        How long a writer waits for another writer to finish before failing.
    owner
        What to record as the lock holder (defaults to the command line).
    settings
        DuckDB's memory limit and threads (config section ``store``); ``None``: the
        process's defaults (:func:`use_settings`, else the documented defaults).

    Raises
    ------
    StoreLockedError
        Another process is writing the database.
    StoreError
        The file is missing (read-only), not a DuckDB file, or newer than this code.
    """
    path = Path(path)
    if read_only:
        if not path.exists():
            raise StoreError(
                f"{path}: no database yet; run `cxminer run` or `cxminer ingest` first"
            )
        settings = settings or _defaults
        con = _connect(path, read_only=True, settings=settings)
        try:
            store = Store(con, path, read_only=True, settings=settings)
            if store.schema_version() > migrations.LATEST_VERSION:
                raise StoreError(
                    f"{path}: schema version {store.schema_version()} is newer than this "
                    "cxminer understands; upgrade cxminer"
                )
            yield store
        finally:
            con.close()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with writer_lock(path, timeout_s=lock_timeout_s, owner=owner):
        settings = settings or _defaults
        con = _connect(path, read_only=False, settings=settings)
        try:
            store = Store(con, path, read_only=False, settings=settings)
            store.migrate()
            yield store
            con.execute("checkpoint")
        finally:
            con.close()


def use_settings(settings: StoreConfig) -> None:
    """Make ``settings`` the defaults of every later :func:`open_store` in this process.

    The command line calls it once with the config's ``store`` section, so the readers
    its commands call (which take only a database path) honour it too.
    """
    global _defaults
    _defaults = settings


_defaults = StoreConfig()  # this process's defaults, set by use_settings


def _connect(path: Path, *, read_only: bool, settings: StoreConfig) -> duckdb.DuckDBPyConnection:
    try:
        con = duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise StoreLockedError(
                f"{path}: the database is being written by another process "
                f"({describe_holder(lock_path(path))}); try again when it finishes"
            ) from None
        if "not a valid DuckDB database" in message:
            raise StoreError(
                f"{path}: not a readable DuckDB database; point --db at a cxminer database "
                "or a new path"
            ) from None
        raise StoreError(f"{path}: cannot open database: {message.splitlines()[0]}") from None
    except duckdb.Error as exc:
        raise StoreError(
            f"{path}: not a readable DuckDB database ({str(exc).splitlines()[0]}); "
            "point --db at a cxminer database or a new path"
        ) from None
    con.execute(f"set memory_limit = '{settings.memory_limit}'")
    if settings.threads is not None:
        con.execute(f"set threads = {int(settings.threads)}")
    return con
