"""The event log as discovery reads it: cases in order, positions, first occurrences.

A case is a (intent, conversation) pair, ordered by ``seq``; events without a step are
ignored. :func:`ordered_log` sorts the log once (not at all when it already comes in
case order) and codes its cases, so that variants (:mod:`pipeline.process.variants`),
the directly-follows graph (:mod:`pipeline.process.dfg`) and the candidate SOP
(:mod:`pipeline.process.candidate`) group and join on integers. :data:`START` and
:data:`END` are the artificial activities every trace begins and ends with.
"""

from __future__ import annotations

import polars as pl

from pipeline.errors import SchemaError

START = "▶"
END = "■"


def ordered_log(
    events: pl.DataFrame | pl.LazyFrame,
    *,
    case_col: str,
    activity_col: str,
    intent_col: str,
    order_col: str,
    ts_col: str | None = None,
) -> pl.DataFrame:
    """Return the events sorted by case and order, with case codes and positions.

    Adds ``_case`` (an integer code per (intent, case), cheaper to group and join on
    than the id), ``_pos`` (0-based position in the case) and ``_len`` (events in the
    case). Rows without a step are dropped. The input is not modified.

    A log already ordered by case and order, with one intent per case (as the store
    reads ``step_events``), is not sorted again: its cases come in case order rather
    than grouped by intent, which no result depends on (every table is aggregated and
    sorted), and a sort of ten million rows costs seconds and a copy of the log.
    """
    needed = [intent_col, case_col, order_col, activity_col] + ([ts_col] if ts_col else [])
    columns = events.collect_schema().names()
    missing = [c for c in needed if c not in columns]
    if missing:
        raise SchemaError(
            f"event log: expected columns {', '.join(needed)}, missing {', '.join(missing)}; "
            "pass the column names as case_col, activity_col, intent_col, order_col, ts_col"
        )
    frame = (
        events.lazy()
        .select(
            pl.col(intent_col),
            pl.col(case_col),
            pl.col(order_col),
            pl.col(activity_col).cast(pl.String),
            *([pl.col(ts_col)] if ts_col else []),
        )
        .filter(pl.col(activity_col).is_not_null())
        .collect()
    )
    if not _in_case_order(frame, case_col=case_col, order_col=order_col, intent_col=intent_col):
        frame = frame.sort([intent_col, case_col, order_col], nulls_last=True, maintain_order=True)
    return frame.with_columns(
        _case=(
            pl.col(case_col).ne_missing(pl.col(case_col).shift())
            | pl.col(intent_col).ne_missing(pl.col(intent_col).shift())
        ).cum_sum()
    ).with_columns(case_positions())


def _in_case_order(frame: pl.DataFrame, *, case_col: str, order_col: str, intent_col: str) -> bool:
    """Whether ``frame`` is sorted by case, then strictly by order, with one intent per case."""
    case, order, intent = pl.col(case_col), pl.col(order_col), pl.col(intent_col)
    same = case == case.shift()
    ordered = (case > case.shift()) | (same & (order > order.shift()))
    mixed = same & intent.ne_missing(intent.shift())
    check = frame.select(
        nulls=case.is_null().any() | order.is_null().any(),
        ordered=ordered.slice(1).all(),
        mixed=mixed.any(),
    ).row(0, named=True)
    return not check["nulls"] and bool(check["ordered"]) and not check["mixed"]


def case_positions() -> list[pl.Expr]:
    """``_pos`` and ``_len`` of a frame sorted by ``_case``, from row numbers alone.

    A window over a million cases would build a hash table; the rows of a case are
    contiguous, so its first and last row numbers give both in one streaming pass.
    """
    row = pl.int_range(pl.len(), dtype=pl.Int32)  # 2**31 events: past any log in memory
    first = pl.when(pl.col("_case").ne_missing(pl.col("_case").shift())).then(row).forward_fill()
    last = pl.when(pl.col("_case").ne_missing(pl.col("_case").shift(-1))).then(row).backward_fill()
    return [(row - first).alias("_pos"), (last - first + 1).alias("_len")]


def first_occurrences(frame: pl.DataFrame, *, intent_col: str, activity_col: str) -> pl.DataFrame:
    """Return one row per (case, step): ``_first`` position and its normalised value.

    ``_norm`` is ``_first / (_len - 1)`` in 0..1 (0 for a single-event case). ``_w`` is
    the number of cases the row stands for: the frame's ``_w`` (see :func:`.by_variant`),
    else 1.
    """
    weight = pl.col("_w").first() if "_w" in frame.columns else pl.lit(1, dtype=pl.Int64)
    return frame.group_by("_case", activity_col).agg(
        pl.col(intent_col).first(),
        _first=pl.col("_pos").min(),
        _norm=pl.when(pl.col("_len").first() > 1)
        .then(pl.col("_pos").min() / (pl.col("_len").first() - 1))
        .otherwise(0.0),
        _w=weight,
    )
