"""Writes of the ingest tables: conversations, turns, redactions, quarantine and sources."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import duckdb
import polars as pl

from pipeline import schema
from pipeline.store.database import Database, registered


class ConversationTables(Database):
    """Reads and writes of the ingest tables, keyed by conversation and by source."""

    def source_status(self, sha256: str) -> str | None:
        """Return the status of the last ingest of a file with this content, if any."""
        return self.scalar(
            f"select status from {schema.SOURCES} where sha256 = ? "
            "order by ingested_at desc limit 1",
            [sha256],
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
            registered(
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

    def write_quarantine(self, quarantine: pl.DataFrame, *, run_id: str) -> int:
        """Upsert quarantined records keyed by (source_id, locator); return the row count."""
        if quarantine.is_empty():
            return 0
        with self.transaction() as con, registered(con, _batch_quarantine=quarantine):
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
