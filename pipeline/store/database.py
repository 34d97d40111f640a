"""The database connection the store's table groups share: queries, transactions, migration.

Every write runs inside a transaction, so an interrupted run leaves the last committed
batch, never half of one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import duckdb
import polars as pl

from pipeline import migrations, schema
from pipeline.errors import StoreError
from pipeline.settings.store import StoreConfig, size_bytes


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, **frames: pl.DataFrame) -> Iterator[None]:
    """Expose polars frames to SQL under the given names for the enclosed block."""
    for name, frame in frames.items():
        con.register(name, frame)
    try:
        yield
    finally:
        for name in frames:
            con.unregister(name)


class Database:
    """An open DuckDB connection: reads, transactions and forward migration.

    The table groups (:mod:`pipeline.store.runs`, ``conversations``, ``embeddings``,
    ``intents``, ``snapshots``) extend it; :class:`pipeline.store.Store` joins them.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection,
        path: Path,
        *,
        read_only: bool,
        settings: StoreConfig | None = None,
    ) -> None:
        self.con = con
        self.path = path
        self.read_only = read_only
        self.settings = settings or StoreConfig()  # what the connection was opened with

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

    @contextmanager
    def memory_capped(self, limit: str) -> Iterator[None]:
        """Hold DuckDB's memory to ``limit`` in the block (never above the connection's own).

        DuckDB keeps the blocks a long write produced cached up to its memory limit; a
        writer that needs little (ingest: one batch's join and insert) caps it, so that its
        memory does not grow with what it wrote.
        """
        before = self.settings.memory_limit
        if size_bytes(limit) >= size_bytes(before):
            yield
            return
        self.con.execute(f"set memory_limit = '{limit}'")
        try:
            yield
        finally:
            self.con.execute(f"set memory_limit = '{before}'")

    def migrate(self) -> int:
        """Apply forward migrations up to :data:`migrations.LATEST_VERSION`; return the version."""
        current = self.schema_version()
        if current > migrations.LATEST_VERSION:
            raise StoreError(
                f"{self.path}: schema version {current} is newer than this cxminer "
                f"understands ({migrations.LATEST_VERSION}); upgrade cxminer"
            )
        if current == migrations.LATEST_VERSION:
            return current
        with self.transaction() as con:
            con.execute(
                f"create table if not exists {schema.SCHEMA_VERSION} "
                "(version integer not null, applied_at timestamptz not null)"
            )
            for version in range(current + 1, migrations.LATEST_VERSION + 1):
                for statement in migrations.MIGRATIONS[version]:
                    con.execute(statement)
                con.execute(
                    f"insert into {schema.SCHEMA_VERSION} values (?, ?)",
                    [version, datetime.now(UTC)],
                )
        return migrations.LATEST_VERSION

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
