"""Step traces of the event log: one row per (conversation, SOP), its steps as codes.

:func:`case_traces` reads ``step_events`` once and groups the steps of each
(conversation, SOP) in order, repeats left out, as integer codes into the sorted step
ids; :func:`pipeline.drift.conformance.check_conformance` then checks each distinct
trace once.
"""

from __future__ import annotations

import polars as pl

from pipeline.errors import SchemaError
from pipeline.process.variants import SEP


def _case_hashes(case_col: str) -> tuple[pl.Expr, pl.Expr]:
    """Two independent 64-bit hashes of (case, sop_id): the group key and its check."""
    case, sop = pl.col(case_col), pl.col("sop_id")
    return case.hash(11) ^ sop.hash(12), case.hash(13) ^ sop.hash(14)


def case_traces(
    step_events: pl.DataFrame,
    sop_ids: list[str],
    case_col: str,
    activity_col: str,
    order_col: str,
) -> tuple[pl.DataFrame, list[str]]:
    """Return one row per (case, SOP) and the step ids that ``_codes`` index.

    Columns: ``_row`` (the case's first row in ``step_events``), ``case_col``,
    ``sop_id`` and ``_codes`` (the step codes of the trace in ``order_col`` order,
    repeats left out). Grouping on a 64-bit hash of the case, not the string, is the
    main speed lever (O(events), the only pass over them); a second hash, constant in
    every group, proves no two cases share a group, else the exact string grouping
    runs. When the log is already sorted by case and order (as the store reads it)
    the per-case sort is skipped: a group keeps its rows in frame order.
    """
    steps = step_events[activity_col].drop_nulls().cast(pl.String).unique().sort()
    if steps.str.contains(SEP, literal=True).any():
        raise SchemaError(
            f"step_events: column {activity_col} holds a step id with the control character "
            "U+001F, which variant ids use as a separator; remove it from step ids"
        )
    case, order = pl.col(case_col), pl.col(order_col)
    in_order = (
        step_events.select(
            ((case > case.shift()) | ((case == case.shift()) & (order > order.shift())))
            .slice(1)
            .fill_null(False)
            .all()
        ).item()
        if step_events.height > 1
        else True
    )
    key, check = _case_hashes(case_col)
    events = (
        step_events.lazy()
        .with_row_index("_row")
        .filter(
            pl.col("sop_id").is_in(sop_ids)
            & ~pl.col("is_repeat")
            & pl.col(activity_col).is_not_null()
        )
        .select(
            "_row",
            order_col,
            _key=key,
            _check=check,
            _code=pl.col(activity_col).cast(pl.Enum(steps)).to_physical().cast(pl.UInt32),
        )
        .collect()
    )
    codes = pl.col("_code") if in_order else pl.col("_code").sort_by(order_col)
    traces = events.group_by("_key").agg(
        pl.col("_row").first(),
        _codes=codes,
        _low=pl.col("_check").min(),
        _high=pl.col("_check").max(),
    )
    if (traces["_low"] != traces["_high"]).any():  # two cases share a 64-bit hash
        exact = step_events.select(case_col, "sop_id").with_row_index("_row")
        traces = (
            events.join(exact, on="_row")
            .group_by(case_col, "sop_id")
            .agg(pl.col("_row").first(), _codes=pl.col("_code").sort_by(order_col))
        )
    rows = traces["_row"]
    return traces.select(
        "_row",
        step_events[case_col].gather(rows).alias(case_col),
        step_events["sop_id"].gather(rows).cast(pl.String).alias("sop_id"),
        "_codes",
    ), steps.to_list()
