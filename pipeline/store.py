"""The DuckDB store: the only module that writes the database.

One writer at a time: a writer takes an exclusive ``flock`` on ``<db>.lock`` (released
by the OS if the process dies) and records who holds it, so a second writer fails with
a message naming the holder instead of corrupting the file. Every write runs inside a
transaction, so an interrupted run leaves the last committed batch, never half of one.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline import schema
from pipeline.errors import StoreError, StoreLockedError

_LOCK_POLL_S = 0.2


# Tables a stage rewrites whole on each run (its latest result), by stage.
_STEP_TABLES = (schema.STEP_TYPES, schema.STEP_EVENTS, schema.VARIANTS, schema.DFG_EDGES,
                schema.CANDIDATE_SOPS)  # fmt: skip
_SNAPSHOT_TABLES = (*_STEP_TABLES, schema.SOPS, schema.OUTCOMES, schema.CONFORMANCE,
                    schema.DRIFT_FINDINGS)  # fmt: skip


@contextmanager
def _registered(con: duckdb.DuckDBPyConnection, **frames: pl.DataFrame) -> Iterator[None]:
    """Expose polars frames to SQL under the given names for the enclosed block."""
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        yield
    finally:
        for name in frames:
            con.unregister(name)


def lock_path(db_path: str | Path) -> Path:
    """Return the path of the writer lock file beside the database."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".lock")


def new_run_id(now: datetime | None = None) -> str:
    """Return a sortable, unique run id such as ``r20261121-054200-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"r{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class Store:
    """An open DuckDB database; create it with :func:`open_store`."""

    def __init__(self, con: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only

    # ---- reading -------------------------------------------------------------------
    def sql(self, query: str, params: list[Any] | None = None) -> pl.DataFrame:
        """Run a read query and return its result as a polars frame."""
        cursor = self.con.cursor()
        try:
            return cursor.sql(query, params=params or None).pl()
        finally:
            cursor.close()

    def scalar(self, query: str, params: list[Any] | None = None) -> Any:
        """Run a query returning one value."""
        cursor = self.con.cursor()
        try:
            rows = cursor.execute(query, params or []).fetchall()
        finally:
            cursor.close()
        return rows[0][0] if rows else None

    def count(self, table: str) -> int:
        """Return the number of rows in ``table``."""
        return int(self.scalar(f"select count(*) from {table}"))

    def schema_version(self) -> int:
        """Return the schema version the database is at (0 for an empty file)."""
        exists = self.scalar(
            "select count(*) from information_schema.tables where table_name = ?",
            [schema.SCHEMA_VERSION],
        )
        if not exists:
            return 0
        return int(self.scalar(f"select coalesce(max(version), 0) from {schema.SCHEMA_VERSION}"))

    def source_status(self, sha256: str) -> str | None:
        """Return the status of the last ingest of a file with this content, if any."""
        return self.scalar(
            f"select status from {schema.SOURCES} where sha256 = ? "
            "order by ingested_at desc limit 1",
            [sha256],
        )

    # ---- writing -------------------------------------------------------------------
    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run the enclosed writes atomically; roll back on any error."""
        self._check_writable()
        self.con.begin()
        try:
            yield self.con
        except BaseException:
            self.con.rollback()
            raise
        self.con.commit()

    def migrate(self) -> int:
        """Apply forward migrations up to :data:`schema.LATEST_VERSION`; return the version."""
        current = self.schema_version()
        if current > schema.LATEST_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this cxminer "
                f"understands ({schema.LATEST_VERSION}); upgrade cxminer"
            )
        if current == schema.LATEST_VERSION:
            return current
        with self.transaction() as con:
            con.execute(
                f"create table if not exists {schema.SCHEMA_VERSION} "
                "(version integer not null, applied_at timestamptz not null)"
            )
            for version in range(current + 1, schema.LATEST_VERSION + 1):
                for statement in schema.MIGRATIONS[version]:
                    con.execute(statement)
                con.execute(
                    f"insert into {schema.SCHEMA_VERSION} values (?, ?)",
                    [version, datetime.now(UTC)],
                )
        return schema.LATEST_VERSION

    def begin_run(
        self, *, flow: str, config_hash: str, code_version: str, inputs: list[dict[str, Any]]
    ) -> str:
        """Record the start of a run and return its id."""
        run_id = new_run_id()
        with self.transaction() as con:
            con.execute(
                f"insert into {schema.RUNS} (run_id, flow, started_at, status, config_hash, "
                "code_version, inputs) values (?, ?, ?, 'running', ?, ?, ?)",
                [run_id, flow, datetime.now(UTC), config_hash, code_version, json.dumps(inputs)],
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        *,
        status: str,
        row_counts: dict[str, int] | None = None,
        inputs: list[dict[str, Any]] | None = None,
        error: str | None = None,
    ) -> None:
        """Record the end of a run: status ``ok`` or ``failed``, counts and error."""
        if status not in schema.RUN_STATUSES:
            raise ValueError(f"run status must be one of {schema.RUN_STATUSES}, got {status!r}")
        with self.transaction() as con:
            con.execute(
                f"update {schema.RUNS} set finished_at = ?, status = ?, row_counts = ?, "
                "error = ?, inputs = coalesce(?, inputs) where run_id = ?",
                [
                    datetime.now(UTC),
                    status,
                    json.dumps(row_counts or {}),
                    error,
                    None if inputs is None else json.dumps(inputs),
                    run_id,
                ],
            )

    def write_conversations(
        self,
        *,
        conversations: pl.DataFrame,
        turns: pl.DataFrame,
        redactions: pl.DataFrame,
        run_id: str,
    ) -> dict[str, int]:
        """Insert a batch of conversations idempotently, keyed by content hash.

        A conversation already stored with the same content hash is skipped; one stored
        with a different hash is replaced (its turns and redaction counts too). ``turns``
        without an ``action_status`` column are stored with it null (status unknown).

        Returns
        -------
        dict
            ``loaded`` (new), ``replaced`` and ``unchanged`` conversation counts.
        """
        if "action_status" not in turns.columns:
            turns = turns.with_columns(action_status=pl.lit(None, dtype=pl.String))
        with (
            self.transaction() as con,
            _registered(
                con,
                _batch_conversations=conversations,
                _batch_turns=turns,
                _batch_redactions=redactions,
            ),
        ):
            return self._merge_conversations(con, run_id)

    def _merge_conversations(self, con: duckdb.DuckDBPyConnection, run_id: str) -> dict[str, int]:
        con.execute(
            "create or replace temp table _batch_state as "
            "select b.conversation_id, c.content_hash is null as is_new, "
            "coalesce(c.content_hash = b.content_hash, false) as is_same "
            f"from _batch_conversations b left join {schema.CONVERSATIONS} c "
            "using (conversation_id)"
        )
        n_new, n_same, n_total = con.execute(
            "select count(*) filter (is_new), count(*) filter (is_same), count(*) from _batch_state"
        ).fetchall()[0]
        n_replaced = n_total - n_new - n_same
        if n_replaced:
            for table in (schema.TURNS, schema.REDACTIONS, schema.CONVERSATIONS):
                con.execute(
                    f"delete from {table} where conversation_id in "
                    "(select conversation_id from _batch_state where not is_new and not is_same)"
                )
        if n_new or n_replaced:
            for table, batch in (
                (schema.CONVERSATIONS, "_batch_conversations"),
                (schema.TURNS, "_batch_turns"),
                (schema.REDACTIONS, "_batch_redactions"),
            ):
                columns = ", ".join(schema.COLUMNS[table])
                select = ", ".join(
                    "?" if c == "run_id" else f"b.{c}" for c in schema.COLUMNS[table]
                )
                con.execute(
                    f"insert into {table} ({columns}) select {select} from {batch} b "
                    "join _batch_state s using (conversation_id) where not s.is_same",
                    [run_id],
                )
        con.execute("drop table _batch_state")
        return {"loaded": n_new, "replaced": n_replaced, "unchanged": n_same}

    def cached_embeddings(self, text_hashes: pl.Series, *, model_id: str) -> pl.DataFrame:
        """Return ``text_hash, vector`` rows of the cache for these hashes and model."""
        frame = pl.DataFrame({"text_hash": text_hashes.unique()})
        cursor = self.con.cursor()
        try:
            cursor.register("_wanted", frame)
            return cursor.sql(
                f"select e.text_hash, e.vector from {schema.EMBEDDINGS} e "
                "join _wanted w using (text_hash) where e.model_id = ?",
                params=[model_id],
            ).pl()
        finally:
            cursor.close()

    def write_embeddings(self, vectors: pl.DataFrame, *, model_id: str, run_id: str) -> int:
        """Add ``text_hash, vector`` rows to the cache (hashes already cached are skipped)."""
        if vectors.is_empty():
            return 0
        with self.transaction() as con, _registered(con, _batch_embeddings=vectors):
            con.execute(
                f"insert into {schema.EMBEDDINGS} (text_hash, model_id, vector, run_id) "
                "select b.text_hash, ?, b.vector::float[], ? from _batch_embeddings b "
                f"anti join (select text_hash from {schema.EMBEDDINGS} where model_id = ?) e "
                "using (text_hash)",
                [model_id, run_id, model_id],
            )
        return vectors.height

    def latest_intent_model(self) -> tuple[int, bytes] | None:
        """Return ``(model_version, pickled model)`` of the newest intent model, if any."""
        cursor = self.con.cursor()
        try:
            row = cursor.execute(
                f"select model_version, model from {schema.INTENT_MODELS} "
                "order by model_version desc limit 1"
            ).fetchone()
        finally:
            cursor.close()
        return (int(row[0]), bytes(row[1])) if row else None

    def write_intents(
        self,
        *,
        intents: pl.DataFrame,
        assignments: pl.DataFrame,
        lineage: pl.DataFrame,
        model: dict[str, Any] | None,
        run_id: str,
    ) -> None:
        """Write one intent run atomically.

        ``assignments`` replaces the previous snapshot (one row per conversation);
        ``intents`` and ``lineage`` rows are added (history); ``model`` (keys
        ``model_version, fitted_at, n_fit, params, model``), when a refit made one, is
        added to ``intent_models``. Re-writing a run id replaces that run's rows.
        """
        with (
            self.transaction() as con,
            _registered(con, _intents=intents, _assignments=assignments, _lineage=lineage),
        ):
            for table in (schema.INTENTS, schema.INTENT_LINEAGE, schema.INTENT_MODELS):
                con.execute(f"delete from {table} where run_id = ?", [run_id])
            con.execute(f"delete from {schema.INTENT_ASSIGNMENTS}")
            self._insert(con, schema.INTENT_ASSIGNMENTS, "_assignments", run_id)
            self._insert(con, schema.INTENTS, "_intents", run_id)
            self._insert(con, schema.INTENT_LINEAGE, "_lineage", run_id)
            if model is not None:
                con.execute(
                    f"insert into {schema.INTENT_MODELS} values (?, ?, ?, ?, ?, ?)",
                    [
                        model["model_version"],
                        model["fitted_at"],
                        model["n_fit"],
                        json.dumps(model["params"], sort_keys=True),
                        model["model"],
                        run_id,
                    ],
                )

    def write_steps(self, tables: dict[str, pl.DataFrame], *, run_id: str) -> dict[str, int]:
        """Replace the steps and process snapshot tables atomically; return row counts.

        ``tables`` maps each of ``step_types, step_events, variants, dfg_edges,
        candidate_sops`` (and optionally ``sops``, the SOP library as loaded) to its
        rows (batch columns); every table is rewritten whole, so a re-run leaves exactly
        one copy.
        """
        return self.write_snapshots(tables, run_id=run_id, required=_STEP_TABLES)

    def write_snapshots(
        self,
        tables: dict[str, pl.DataFrame],
        *,
        run_id: str,
        required: tuple[str, ...] = (),
    ) -> dict[str, int]:
        """Replace whole snapshot tables in one transaction; return row counts.

        Parameters
        ----------
        tables
            Table name -> its rows (the table's batch columns; ``run_id`` is stamped).
        run_id
            The run that computed them.
        required
            Tables that must be present in ``tables`` (a caller's contract).

        Raises
        ------
        StoreError
            A required table is missing, or a name is not a snapshot table.
        """
        missing = [t for t in required if t not in tables]
        if missing:
            raise StoreError(f"write_snapshots: tables missing: {', '.join(missing)}")
        unknown = sorted(set(tables) - set(_SNAPSHOT_TABLES))
        if unknown:
            raise StoreError(
                f"write_snapshots: {', '.join(unknown)} is not a snapshot table; "
                f"expected some of {', '.join(_SNAPSHOT_TABLES)}"
            )
        views = {f"_{t}": frame.select(schema.batch_columns(t)) for t, frame in tables.items()}
        with self.transaction() as con, _registered(con, **views):
            for table in tables:
                con.execute(f"delete from {table}")
                self._insert(con, table, f"_{table}", run_id)
        return {t: frame.height for t, frame in tables.items()}

    def write_readiness(self, readiness: pl.DataFrame, *, run_id: str) -> int:
        """Add one run's readiness ranking (earlier runs are kept; the same run is replaced)."""
        view = readiness.select(schema.batch_columns(schema.READINESS))
        with self.transaction() as con, _registered(con, _readiness=view):
            con.execute(f"delete from {schema.READINESS} where run_id = ?", [run_id])
            self._insert(con, schema.READINESS, "_readiness", run_id)
        return readiness.height

    def create_views(self, statements: list[tuple[str, str]]) -> list[str]:
        """Create (or replace) report views in one transaction; return their names.

        ``statements`` are ``(name, "create or replace view name as ...")`` pairs (see
        :func:`pipeline.report.render.view_statements`); a failing view names its file.
        """
        with self.transaction() as con:
            for name, sql in statements:
                try:
                    con.execute(sql)
                except duckdb.Error as exc:
                    raise StoreError(f"view {name}: {str(exc).splitlines()[0]}") from None
        return [name for name, _ in statements]

    def write_quarantine(self, quarantine: pl.DataFrame, *, run_id: str) -> int:
        """Upsert quarantined records keyed by (source_id, locator); return the row count."""
        if quarantine.is_empty():
            return 0
        with self.transaction() as con, _registered(con, _batch_quarantine=quarantine):
            con.execute(
                f"delete from {schema.QUARANTINE} q using _batch_quarantine b "
                "where q.source_id = b.source_id and q.locator = b.locator"
            )
            self._insert(con, schema.QUARANTINE, "_batch_quarantine", run_id)
        return quarantine.height

    def write_source(self, source: dict[str, Any], *, run_id: str) -> None:
        """Upsert one row of ``sources`` (keyed by source_id)."""
        row = {**source, "run_id": run_id, "ingested_at": datetime.now(UTC)}
        columns = schema.COLUMNS[schema.SOURCES]
        with self.transaction() as con:
            con.execute(f"delete from {schema.SOURCES} where source_id = ?", [row["source_id"]])
            con.execute(
                f"insert into {schema.SOURCES} ({', '.join(columns)}) "
                f"values ({', '.join('?' for _ in columns)})",
                [row[c] for c in columns],
            )

    @staticmethod
    def _insert(con: duckdb.DuckDBPyConnection, table: str, view: str, run_id: str) -> None:
        columns = schema.COLUMNS[table]
        select = ", ".join("?" if c == "run_id" else c for c in columns)
        con.execute(
            f"insert into {table} ({', '.join(columns)}) select {select} from {view}", [run_id]
        )

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"{self.path}: opened read-only; this command cannot write")


@contextmanager
def open_store(
    path: str | Path,
    *,
    read_only: bool = False,
    lock_timeout_s: float = 0.0,
    owner: str | None = None,
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
        con = _connect(path, read_only=True)
        try:
            store = Store(con, path, read_only=True)
            if store.schema_version() > schema.LATEST_VERSION:
                raise StoreError(
                    f"{path}: schema version {store.schema_version()} is newer than this "
                    "cxminer understands; upgrade cxminer"
                )
            yield store
        finally:
            con.close()
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with _writer_lock(path, timeout_s=lock_timeout_s, owner=owner):
        con = _connect(path, read_only=False)
        try:
            store = Store(con, path, read_only=False)
            store.migrate()
            yield store
            con.execute("checkpoint")
        finally:
            con.close()


def _connect(path: Path, *, read_only: bool) -> duckdb.DuckDBPyConnection:
    try:
        return duckdb.connect(str(path), read_only=read_only)
    except duckdb.IOException as exc:
        message = str(exc)
        if "lock" in message.lower():
            raise StoreLockedError(
                f"{path}: the database is being written by another process "
                f"({_describe_holder(lock_path(path))}); try again when it finishes"
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


@contextmanager
def _writer_lock(db_path: Path, *, timeout_s: float, owner: str | None) -> Iterator[None]:
    path = lock_path(db_path)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{db_path}: another cxminer process is writing this database "
                        f"({_describe_holder(path)}); wait for it to finish, or set "
                        "lock_timeout_s in config.yaml to wait automatically"
                    ) from None
                time.sleep(_LOCK_POLL_S)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": owner
            or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:200],
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def _describe_holder(path: Path) -> str:
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "holder unknown"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, "
        f"`{holder.get('command')}`, since {holder.get('since')}"
    )
