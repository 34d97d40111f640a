"""The directly-follows graph of each intent, with start and end markers.

Each case contributes ``▶ -> first step``, each consecutive pair and
``last step -> ■`` (:data:`~pipeline.process.log.START`,
:data:`~pipeline.process.log.END`); steps are coded as integers before the group-by.
"""

from __future__ import annotations

import polars as pl

from pipeline.process.log import END, START, ordered_log


def _edges(
    frame: pl.DataFrame, *, intent_col: str, ts_col: str | None, start: int, end: int
) -> pl.LazyFrame:
    """Return every directly-follows transition of the ordered frame, markers included.

    Steps are the frame's integer ``_step`` codes (``start`` and ``end`` code the
    markers): grouping ten million transitions by two strings would cost gigabytes.
    Lazy, so that the graph's group-by never holds all transitions at once. Columns
    ``intent_col, src, dst, gap`` (seconds; null for marker edges or missing ts), ``_w``.
    """
    same_case = pl.col("_case").shift(-1).eq_missing(pl.col("_case"))
    if ts_col:
        gap = pl.col(ts_col).shift(-1) - pl.col(ts_col)
        gap = pl.when(same_case).then(gap.dt.total_seconds(fractional=True))
    else:
        gap = pl.lit(None, dtype=pl.Float64)
    weight = pl.col("_w") if "_w" in frame.columns else pl.lit(1, dtype=pl.Int64)
    code = pl.col("_step")
    inner = frame.lazy().select(
        pl.col(intent_col),
        src=code,
        dst=pl.when(same_case).then(code.shift(-1)).otherwise(pl.lit(end, dtype=pl.UInt32)),
        gap=gap.cast(pl.Float64),
        _w=weight,
    )
    starts = (
        frame.lazy()
        .filter(pl.col("_pos") == 0)
        .select(
            pl.col(intent_col),
            src=pl.lit(start, dtype=pl.UInt32),
            dst=code,
            gap=pl.lit(None, dtype=pl.Float64),
            _w=weight,
        )
    )
    return pl.concat([starts, inner])


def dfg_counts(frame: pl.DataFrame, *, intent_col: str, activity_col: str, ts_col: str | None):
    """Edge counts (``_w``-weighted on a :func:`.by_variant` frame, which has no gaps)."""
    if ts_col and "_w" in frame.columns:
        raise ValueError("gaps need every case: build the graph from the full frame")
    names = pl.concat(
        [pl.Series([START, END], dtype=pl.String), frame[activity_col].unique().sort()]
    ).unique(maintain_order=True)
    codes = pl.int_range(names.len(), dtype=pl.UInt32, eager=True)
    coded = frame.with_columns(
        _step=pl.col(activity_col).replace_strict(names, codes, return_dtype=pl.UInt32)
    )
    back = {"old": codes, "new": names, "return_dtype": pl.String}
    return (
        _edges(coded, intent_col=intent_col, ts_col=ts_col, start=0, end=1)
        .group_by(intent_col, "src", "dst")
        .agg(n=pl.col("_w").sum().cast(pl.Int64), median_gap_s=pl.col("gap").median())
        .collect()
        .with_columns(share=pl.col("n") / pl.col("n").sum().over(intent_col, "src"))
        .with_columns(pl.col("src").replace_strict(**back), pl.col("dst").replace_strict(**back))
    )


def discover_dfg(
    events: pl.DataFrame,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    ts_col: str | None = "ts",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Build the directly-follows graph of each intent, with start ``▶`` and end ``■``.

    Reads the step event log; produces the ``dfg_edges`` table. Each case contributes
    ``▶ -> first step``, each consecutive pair and ``last step -> ■``.

    Parameters
    ----------
    events
        The step event log (case, intent, order, step and timestamp columns).
    case_col, activity_col, ts_col, intent_col, order_col
        Column roles in ``events``; ``ts_col=None`` when there are no timestamps.

    Returns
    -------
    polars.DataFrame
        ``intent_col, src, dst, n, share, median_gap_s``: ``share`` is ``n`` over all
        transitions out of ``src`` in the intent; ``median_gap_s`` is the median of the
        seconds between the two events, over the transitions where both have a
        timestamp (null for ``▶``/``■`` edges and where none has). Sorted by intent,
        ``n`` descending, then ``src`` and ``dst``.
    """
    frame = ordered_log(
        events,
        case_col=case_col,
        activity_col=activity_col,
        intent_col=intent_col,
        order_col=order_col,
        ts_col=ts_col,
    )
    return dfg_table(frame, intent_col=intent_col, activity_col=activity_col, ts_col=ts_col)


def dfg_table(frame: pl.DataFrame, *, intent_col: str, activity_col: str, ts_col: str | None):
    """Return the ``dfg_edges`` rows of an :func:`~pipeline.process.log.ordered_log` frame."""
    return (
        dfg_counts(frame, intent_col=intent_col, activity_col=activity_col, ts_col=ts_col)
        .sort([intent_col, "n", "src", "dst"], descending=[False, True, False, False])
        .select(intent_col, "src", "dst", "n", "share", "median_gap_s")
    )
