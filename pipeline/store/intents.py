"""Writes of the intent tables: models, intents, assignments and lineage."""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from pipeline import schema
from pipeline.store.database import Database, registered


class IntentTables(Database):
    """Reads and writes of the intent tables."""

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
            registered(con, _intents=intents, _assignments=assignments, _lineage=lineage),
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
