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

    def source_statuses(self, sha256s: list[str]) -> dict[str, str]:
        """Return the status of the last ingest of each file content met before (one query)."""
        if not sha256s:
            return {}
        rows = self.sql(
            f"select sha256, status from {schema.SOURCES} "
            "where sha256 in (select unnest(?::varchar[])) "
            "qualify row_number() over (partition by sha256 order by ingested_at desc) = 1",
            [list(sha256s)],
        )
        return dict(rows.iter_rows())

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
            ``loaded`` (new), ``replaced`` and ``unchanged`` conversation counts, and
            ``by_source``: the same counts per ``source_id`` (a batch may hold the
            conversations of several small files).
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
        by_source = {
            source: {"loaded": new, "replaced": total - new - same, "unchanged": same}
            for source, new, same, total in con.execute(
                "select b.source_id, count(*) filter (is_new), count(*) filter (is_same), "
                "count(*) from _batch_state s join _batch_conversations b using (conversation_id) "
                "group by b.source_id"
            ).fetchall()
        }
        n_new = sum(c["loaded"] for c in by_source.values())
        n_same = sum(c["unchanged"] for c in by_source.values())
        n_replaced = sum(c["replaced"] for c in by_source.values())
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
        return {"loaded": n_new, "replaced": n_replaced, "unchanged": n_same,
                "by_source": by_source}  # fmt: skip

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
        self.write_sources([source], run_id=run_id)

    def write_sources(self, sources: list[dict[str, Any]], *, run_id: str) -> None:
        """Upsert rows of ``sources`` (keyed by source_id), all in one transaction."""
        now = datetime.now(UTC)
        columns = schema.COLUMNS[schema.SOURCES]
        rows = [{**source, "run_id": run_id, "ingested_at": now} for source in sources]
        if not rows:
            return
        frame = pl.DataFrame([[row[c] for c in columns] for row in rows], schema=list(columns),
                             orient="row", infer_schema_length=None)  # fmt: skip
        with self.transaction() as con, registered(con, _batch_sources=frame):
            con.execute(
                f"delete from {schema.SOURCES} where source_id in "
                "(select source_id from _batch_sources)"
            )
            con.execute(
                f"insert into {schema.SOURCES} ({', '.join(columns)}) "
                f"select {', '.join(columns)} from _batch_sources"
            )
