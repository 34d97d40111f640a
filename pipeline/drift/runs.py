"""One finding per deviation: a run of flagged windows of one series becomes one row.

A deviation that starts in week 5 and lasts is flagged in week 5, 6, 7...: one test per
window, each significant. A process owner needs one finding with its onset, the current
rate, the peak and the weekly series, not one line per week. :func:`merge_runs` takes
the judged step-rate cells of :func:`pipeline.drift.step_rates.find_drift` and returns

- the *findings*: per series (SOP, kind, step, group) and run of flagged tested
  windows (with at most ``drift.merge_gap`` unflagged tested windows between two of
  them), one flagged row: ``window_start`` the onset, ``window_end`` the end of the
  run's last flagged window, ``rate``/``n``/``k`` those of that (current) window,
  ``p_value``/``q_value`` the run's smallest (its strongest evidence), ``severity`` the
  run's most severe, ``n_windows`` its flagged windows, and ``peak_rate``,
  ``peak_window`` and ``series`` over every tested window from the onset to the current
  one (start, rate, n, q-value);
- the *windows*: every tested cell, flagged or not, as the series behind the charts;
  they are written unflagged (severity ``info``) with ``window_flagged`` saying
  whether the window's own test was significant.

:func:`nest_groups` then puts each team's (or queue's, agent's) finding under the
workflow-wide finding of the same SOP, kind and step whose period overlaps it: the
team's deviation is part of the deviation that finding names.
"""

from __future__ import annotations

import json
from collections import defaultdict

import polars as pl

from pipeline import schema
from pipeline.drift.deviations import ALL, SERIES

_SEVERITY = {severity: i for i, severity in enumerate(schema.SEVERITIES)}


def merge_runs(rates: pl.DataFrame, *, gap: int = 2) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Return (findings, windows) of judged step-rate cells (see the module docstring).

    Flagged windows of one series with at most ``gap`` unflagged tested windows between
    them are one finding (``drift.merge_gap``): a deviation that dips below significance
    for a week and comes back is the same deviation. ``since`` of every flagged window
    and of the finding is the finding's onset. A ``_unflagged`` column (unflagged
    windows so far in the series, counting those without information that were not
    kept) is used where given.
    """
    rank = pl.col("severity").replace_strict(_SEVERITY, return_dtype=pl.Int32)
    ordered = rates.sort(*SERIES, "window_start", nulls_last=False)
    if "_unflagged" not in ordered.columns:  # unflagged windows so far, per series
        ordered = ordered.with_columns(
            _unflagged=(~pl.col("flagged")).cast(pl.Int32).cum_sum().over(SERIES)
        )
    between = pl.col("_unflagged") - pl.col("_unflagged").shift(1).over(SERIES)
    flagged = (
        ordered.filter("flagged")
        .with_columns(_new=between.is_null() | (between > gap))
        .with_columns(_run=pl.col("_new").cast(pl.Int32).cum_sum().over(SERIES))
        .with_columns(since=pl.col("window_start").min().over(*SERIES, "_run"))
    )
    spans = flagged.group_by(*SERIES, "_run").agg(
        since=pl.col("since").first(), _until=pl.col("window_start").max()
    )
    in_span = pl.col("window_start").is_between(pl.col("since"), pl.col("_until"))
    series = (
        ordered.drop("since")
        .join(spans, on=SERIES, nulls_equal=True)
        .filter(in_span)
        .sort("window_start")
        .group_by(*SERIES, "_run")
        .agg(
            series=pl.struct("window_start", "rate", "n", "q_value"),
            peak_rate=pl.col("rate").max(),
            peak_window=pl.col("window_start")
            .filter(pl.col("rate") == pl.col("rate").max())
            .first(),
        )  # fmt: skip
    )
    taken = ["window_start", "window_end", "p_value", "q_value", "severity", "rate", "since"]
    findings = (
        flagged.group_by(*SERIES, "_run", maintain_order=True)
        .agg(
            pl.exclude(*taken, "_unflagged", "_new").last(),
            since=pl.col("since").first(),
            rate=pl.col("rate").last(),
            current_window=pl.col("window_start").last(),
            window_end=pl.col("window_end").last(),
            p_value=pl.col("p_value").min(),
            q_value=pl.col("q_value").min(),
            severity=pl.col("severity").sort_by(rank).first(),
            n_windows=pl.len(),
        )
        .join(series, on=[*SERIES, "_run"], nulls_equal=True)
        .with_columns(window_start=pl.col("since"))
        .drop("_run")
    )
    windows = (
        ordered.drop("since")
        .join(
            flagged.select(*SERIES, "window_start", "since"),
            on=[*SERIES, "window_start"],
            how="left",
            nulls_equal=True,
        )  # fmt: skip
        .with_columns(window_flagged=pl.col("flagged"))
        .drop("_unflagged")
    )
    return findings, windows


def series_details(series: list[dict]) -> list[dict]:
    """Return the weekly series of a merged finding as JSON-able rows (ISO dates, rounded)."""
    return [
        {"window_start": w["window_start"].isoformat(), "rate": round(float(w["rate"]), 4),
         "n": int(w["n"]), "q_value": float(f"{w['q_value']:.3g}")}
        for w in series
    ]  # fmt: skip


def nest_groups(rows: list[dict]) -> list[dict]:
    """Set ``details.parent`` of each flagged finding that a workflow finding explains.

    A finding of a team, queue or agent (its ``details.group`` is not ``all``) nests
    under the flagged workflow-wide finding of the same ``sop_id``, ``kind`` and
    ``step`` whose ``[window_start, window_end]`` overlaps its own (the earliest such);
    the outcome impact of a deviation of one SOP (kind ``outcome_impact``, the deviation
    in ``details.deviation``) nests under that deviation's earliest workflow-wide
    finding: it says what the deviation costs. Where there is none, the impacts of one
    deviation on several metrics nest under the most severe (then smallest q-value)
    one. Rows are changed in place and returned.
    """
    wide: dict[tuple, list[dict]] = defaultdict(list)
    details = {id(row): json.loads(row["details"]) for row in rows if row["flagged"]}
    for row in rows:
        if row["flagged"] and details[id(row)].get("group") == ALL:
            wide[(row["sop_id"], row["kind"], row["step"])].append(row)
    for row in rows:
        if not row["flagged"] or details[id(row)].get("group") == ALL:
            continue
        own = details[id(row)]
        if row["kind"] == "outcome_impact":
            parents = wide.get((row["sop_id"], own.get("deviation"), row["step"]), [])
        else:
            parents = [
                p for p in wide.get((row["sop_id"], row["kind"], row["step"]), ())
                if p["window_start"] <= row["window_end"]
                and row["window_start"] <= p["window_end"]
            ]  # fmt: skip
        if parents:
            parent = min(parents, key=lambda p: p["window_start"])
            _set_parent(row, details[id(row)], parent["finding_id"])
    impacts: dict[tuple, list[dict]] = defaultdict(list)
    for row in rows:
        if row["flagged"] and row["kind"] == "outcome_impact" and "parent" not in details[id(row)]:
            impacts[(row["sop_id"], details[id(row)].get("deviation"), row["step"])].append(row)
    for group in impacts.values():  # one deviation's other metrics under its clearest one
        head, *rest = sorted(group, key=lambda r: (_SEVERITY[r["severity"]], r["q_value"]))
        for row in rest:
            _set_parent(row, details[id(row)], head["finding_id"])
    return rows


def _set_parent(row: dict, details: dict, parent: str) -> None:
    details["parent"] = parent
    row["details"] = json.dumps(details, sort_keys=True)
