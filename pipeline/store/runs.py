"""The run log: one ``runs`` row a run, opened by :meth:`RunLog.begin_run`."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pipeline import schema
from pipeline.store.database import Database


def new_run_id(now: datetime | None = None) -> str:
    """Return a sortable, unique run id such as ``r20261121-054200-1a2b3c``."""
    now = now or datetime.now(UTC)
    return f"r{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"


class RunLog(Database):
    """Writes of table ``runs``."""

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
