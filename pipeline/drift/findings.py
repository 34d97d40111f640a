"""The ``drift_findings`` frame: its batch schema, what identifies a finding, its id.

Every drift stage (``drift.py``, ``drift_mix.py``, ``change_points.py``,
``exception_clusters.py``) returns rows of this one table; they share the polars
schema DuckDB accepts (:data:`DRIFT_FINDINGS_SCHEMA`) and one stable id per finding
(:func:`finding_id`), so that the same finding keeps its id from run to run.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

import polars as pl

from pipeline import schema

_DTYPES = {"window_start": pl.Date, "window_end": pl.Date, "n": pl.Int32,
           "n_baseline": pl.Int32, "flagged": pl.Boolean}  # fmt: skip
_FLOATS = ("rate", "baseline", "p_value", "q_value", "outcome_deviating",
           "outcome_conforming", "outcome_delta", "ci_low", "ci_high")  # fmt: skip
#: The ``drift_findings`` batch frame: every column but run_id, in table order.
DRIFT_FINDINGS_SCHEMA = pl.Schema(
    {
        c: _DTYPES.get(c, pl.Float64 if c in _FLOATS else pl.String)
        for c in schema.batch_columns(schema.DRIFT_FINDINGS)
    }
)
#: The fields that identify a finding (and key its ``finding_id``).
IDENTITY = ("kind", "sop_id", "workflow_id", "step", "team", "agent_hash", "window_start",
            "metric")  # fmt: skip
_SEP = "\x1f"


def finding_id(row: Mapping) -> str:
    """Return the stable id of a finding: 16 hex digits of sha1 of its :data:`IDENTITY`.

    Absent or null fields count as empty; dates are written ISO.
    """
    key = _SEP.join("" if row.get(k) is None else str(row[k]) for k in IDENTITY)
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def findings_frame(rows: Sequence[Mapping]) -> pl.DataFrame:
    """Return ``drift_findings`` rows as a frame of :data:`DRIFT_FINDINGS_SCHEMA`.

    Absent keys are null; ``finding_id`` is filled by :func:`finding_id` where the row
    has none.
    """
    filled = [{c: row.get(c) for c in DRIFT_FINDINGS_SCHEMA}
              | {"finding_id": row.get("finding_id") or finding_id(row)}
              for row in rows]  # fmt: skip
    return pl.DataFrame(filled, schema=DRIFT_FINDINGS_SCHEMA, orient="row")


#: Deviations of a documented step: what a process owner acts on, so printed first.
STEP_KINDS = ("missing", "order_violation", "gate_skipped", "skipped", "undocumented")


def print_order(findings: pl.DataFrame) -> pl.DataFrame:
    """Sort findings in the order ``cxminer drift`` prints them, nested ones under theirs.

    Flagged first, step deviations (:data:`STEP_KINDS`) before other kinds, then by
    severity (:data:`pipeline.schema.SEVERITIES`, most severe first), ``q_value``
    (smallest first), ``kind``, ``sop_id`` and the latest window first; nulls last. A
    finding whose ``details`` names a ``parent`` among the rows (a team's part of a
    workflow's deviation, :func:`pipeline.drift.runs.nest_groups`) follows its parent
    instead, and the added column ``nested`` is true for it.

    Parameters
    ----------
    findings
        Rows of ``drift_findings`` with at least ``flagged, kind, severity, q_value,
        sop_id, window_start``; ``finding_id`` and ``details`` for the nesting.
    """
    rank = {severity: i for i, severity in enumerate(schema.SEVERITIES)}
    ordered = findings.sort(
        pl.col("flagged").fill_null(False).not_(),
        pl.col("kind").is_in(STEP_KINDS).not_(),
        pl.col("severity")
        .cast(pl.String)
        .replace_strict(rank, default=None, return_dtype=pl.Int32),
        "q_value",
        "kind",
        "sop_id",
        "window_start",
        descending=[False, False, False, False, False, False, True],
        nulls_last=True,
        maintain_order=True,
    )
    if not {"finding_id", "details"} <= set(ordered.columns):
        return ordered.with_columns(nested=pl.lit(False))
    ids = ordered["finding_id"].to_list()
    parents = ordered["details"].cast(pl.String).str.json_path_match("$.parent").to_list()
    present = set(ids)
    children: dict[str, list[int]] = {}
    for i, parent in enumerate(parents):
        if parent is not None and parent in present:
            children.setdefault(parent, []).append(i)
    order: list[int] = []
    for i, parent in enumerate(parents):
        if parent is None or parent not in present:
            order.append(i)
            order.extend(children.get(ids[i], ()))
    nested = [parents[i] is not None and parents[i] in present for i in order]
    return ordered[order].with_columns(nested=pl.Series(nested, dtype=pl.Boolean))
