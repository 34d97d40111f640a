"""Writes of the tables a stage rewrites whole (steps, process, drift), readiness and views."""

from __future__ import annotations

import duckdb
import polars as pl

from pipeline import schema
from pipeline.errors import StoreError
from pipeline.store.database import Database, registered

# Tables a stage rewrites whole on each run (its latest result), by stage.
_STEP_TABLES = (schema.STEP_TYPES, schema.STEP_EVENTS, schema.VARIANTS, schema.DFG_EDGES,
                schema.CANDIDATE_SOPS)  # fmt: skip
_SNAPSHOT_TABLES = (*_STEP_TABLES, schema.SOPS, schema.OUTCOMES, schema.CONFORMANCE,
                    schema.DRIFT_FINDINGS, schema.DRIFT_EXAMPLES,
                    schema.READINESS_EXAMPLES)  # fmt: skip


class SnapshotTables(Database):
    """Writes of the snapshot tables, of ``readiness`` (kept by run) and of report views."""

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
        with self.transaction() as con, registered(con, **views):
            for table in tables:
                con.execute(f"delete from {table}")
                self._insert(con, table, f"_{table}", run_id)
        return {t: frame.height for t, frame in tables.items()}

    def write_readiness(self, readiness: pl.DataFrame, *, run_id: str) -> int:
        """Add one run's readiness ranking (earlier runs are kept; the same run is replaced)."""
        view = readiness.select(schema.batch_columns(schema.READINESS))
        with self.transaction() as con, registered(con, _readiness=view):
            con.execute(f"delete from {schema.READINESS} where run_id = ?", [run_id])
            self._insert(con, schema.READINESS, "_readiness", run_id)
        return readiness.height

    def create_views(self, statements: list[tuple[str, str]]) -> list[str]:
        """Create (or replace) report views in one transaction; return their names.

        ``statements`` are ``(name, "create or replace view name as ...")`` pairs (see
        :func:`pipeline.report.views.view_statements`); a failing view names its file.
        """
        with self.transaction() as con:
            for name, sql in statements:
                try:
                    con.execute(sql)
                except duckdb.Error as exc:
                    raise StoreError(f"view {name}: {str(exc).splitlines()[0]}") from None
        return [name for name, _ in statements]
