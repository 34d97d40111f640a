"""Stage 7, conformance change points: the windows where a SOP's conformance changed level.

:func:`find_conformance_changes` reads ``conformance`` and the conversations'
``started_at`` (table ``conversations``) and returns ``drift_findings`` rows of kind
``conformance_change``: per SOP and metric, the per-window series is searched for mean
shifts by binary segmentation with a permutation test (:func:`change_points`). Windows
come from :mod:`pipeline.drift.windows`; a window with fewer than ``min_count`` conversations
is left out of the series. The cost is one group-by over conversations, then numpy per
(SOP, metric): O(SOPs x windows x permutations), never a loop over conversations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date

import numpy as np
import polars as pl

from pipeline.config import DriftConfig
from pipeline.drift.findings import findings_frame
from pipeline.drift.stats import bh_adjust, permutation_p_value
from pipeline.drift.windows import window_end_date, window_phrase, windowed
from pipeline.frames import require_columns

#: Metric -> the ``conformance`` column whose per-window mean is the series.
METRICS = {"conforming_share": "is_conforming", "fitness": "fitness"}


def change_points(
    series: np.ndarray,
    *,
    alpha: float,
    min_segment: int = DriftConfig.change_min_segment,
    n_permutations: int = DriftConfig.permutations,
    rng: np.random.Generator,
) -> tuple[list[tuple[int, float]], float]:
    """Find mean shifts in a short series by binary segmentation with permutation tests.

    A segment of ``m`` points is split where the standardised CUSUM statistic
    ``sqrt(k (m - k) / m) |mean(x[:k]) - mean(x[k:])|`` is largest (each side at least
    ``min_segment`` points); the split is kept when the permutation p-value of that
    maximum (its rank among the maxima of random reorderings of the segment: no
    normality, no tuned penalty) is at most ``alpha``, and each side is searched again.
    Each point is one window: windows, not conversations, are the exchangeable units,
    so week-to-week noise does not read as change. As with any binary segmentation, a
    short excursion that returns to the old level is found only when it stands out as
    a single split.

    Returns
    -------
    changes : list of (int, float)
        Each change point (the index of the first point after it) with its p-value, in
        the order found.
    p_whole : float
        The p-value of the whole series (the first test); NaN when the series is too
        short to test.
    """
    x = np.asarray(series, dtype=np.float64)
    found: list[tuple[int, float]] = []
    p_whole = float("nan")
    segments = [(0, x.size)]
    while segments:
        lo, hi = segments.pop(0)
        if hi - lo < 2 * min_segment:
            continue
        part = x[lo:hi]
        observed, k = _max_cusum(part[None, :], min_segment)
        shuffled = rng.permuted(np.tile(part, (n_permutations, 1)), axis=1)
        null, _ = _max_cusum(shuffled, min_segment)
        p = permutation_p_value(float(observed[0]), null)
        if lo == 0 and hi == x.size:
            p_whole = p
        if p <= alpha and observed[0] > 1e-12:
            found.append((lo + int(k[0]), p))
            segments += [(lo, lo + int(k[0])), (lo + int(k[0]), hi)]
    return found, p_whole


def _max_cusum(rows: np.ndarray, min_segment: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the largest standardised mean difference over splits, and its split."""
    m = rows.shape[1]
    k = np.arange(min_segment, m - min_segment + 1)
    left = np.cumsum(rows, axis=1)[:, k - 1]
    total = rows.sum(axis=1, keepdims=True)
    diff = left / k - (total - left) / (m - k)
    stat = np.sqrt(k * (m - k) / m) * np.abs(diff)
    best = np.argmax(stat, axis=1)
    return stat[np.arange(rows.shape[0]), best], k[best]


def find_conformance_changes(
    conformance: pl.DataFrame,
    conversations: pl.DataFrame,
    *,
    config: DriftConfig,
    metrics: Sequence[str] = ("conforming_share", "fitness"),
) -> pl.DataFrame:
    """Find the windows where a SOP's conformance changed level.

    Reads ``conformance`` (the latest SOP version per conversation) and
    ``conversations``; produces ``drift_findings`` rows of kind ``conformance_change``.

    Per SOP and metric (``conforming_share``: the share of conforming conversations;
    ``fitness``: mean fitness), the series is the per-window mean over windows with at
    least ``config.min_count`` conversations; :func:`change_points` locates its shifts
    at level ``config.alpha``. ``q_value`` is Benjamini-Hochberg over the whole-series
    tests of every (SOP, metric); ``window_start`` is the first window after the change;
    ``rate`` and ``baseline`` the conversation-weighted means of the segments after and
    before it (``n``, ``n_baseline`` their conversations). ``flagged`` when ``q_value``
    is at most ``config.alpha`` and the shift is at least ``config.change_min_shift``; a
    fall of ``change_high_factor`` (three) times that is ``high``, of
    ``change_medium_factor`` (twice) ``medium``; smaller falls and every rise ``low``;
    unflagged rows ``info``. Segments hold at least ``config.change_min_segment``
    windows; ``config.permutations`` draws with ``config.seed`` give the p-values.

    Returns
    -------
    polars.DataFrame
        :data:`~pipeline.drift.findings.DRIFT_FINDINGS_SCHEMA` rows, sorted by SOP, metric
        and window.

    Raises
    ------
    SchemaError
        A required column is missing.
    ValueError
        A metric is not one of :data:`METRICS`.
    """
    what = "drift (conformance_change)"
    unknown = sorted(set(metrics) - set(METRICS))
    if unknown:
        raise ValueError(f"{what}: metrics: expected names among {', '.join(METRICS)}, "
                         f"found {', '.join(unknown)}")  # fmt: skip
    require_columns(conformance, ("conversation_id", "sop_id", "fitness", "is_conforming"),
                    table="conformance", what=what)  # fmt: skip
    version = pl.col("version") if "version" in conformance.columns else pl.lit(0)
    latest = (
        conformance.select("conversation_id", "sop_id", "fitness", "is_conforming", _v=version)
        .sort("conversation_id", "sop_id", "_v")
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
    )
    frame = windowed(latest, conversations, window=config.window, what=what)
    series = (
        frame.group_by("sop_id", "_window")
        .agg(
            pl.len().alias("n"),
            *[pl.col(METRICS[m]).cast(pl.Float64).sum().alias(m) for m in metrics],
        )  # fmt: skip
        .filter(pl.col("n") >= config.min_count)
        .sort("sop_id", "_window")
    )
    rng = np.random.default_rng(config.seed)
    rows, tests = [], []
    for (sop_id,), part in series.group_by("sop_id", maintain_order=True):
        windows, sizes = part["_window"].to_list(), part["n"].to_numpy()
        for metric in metrics:
            sums = part[metric].to_numpy()
            found, p_whole = change_points(
                sums / sizes, alpha=config.alpha, min_segment=config.change_min_segment,
                n_permutations=config.permutations, rng=rng,
            )  # fmt: skip
            if np.isnan(p_whole):
                continue
            tests.append(p_whole)
            cuts = [0, *sorted(k for k, _ in found), len(windows)]
            for k, p in found:
                i = cuts.index(k)
                before, after = slice(cuts[i - 1], k), slice(k, cuts[i + 1])
                rows.append({
                    "kind": "conformance_change", "sop_id": sop_id, "workflow_id": sop_id,
                    "metric": metric, "window_start": windows[k],
                    "window_end": window_end_date(windows[k], config.window),
                    "rate": float(sums[after].sum() / sizes[after].sum()),
                    "baseline": float(sums[before].sum() / sizes[before].sum()),
                    "n": int(sizes[after].sum()), "n_baseline": int(sizes[before].sum()),
                    "p_value": p, "_test": len(tests) - 1,
                    "details": json.dumps({
                        "before": _segment(windows, sizes, before, config.window),
                        "after": _segment(windows, sizes, after, config.window),
                    }),
                })  # fmt: skip
    q_values = bh_adjust(tests)
    for row in rows:
        row["q_value"] = q_values[row.pop("_test")]
        _judge_change(row, config=config)
    return findings_frame(sorted(rows, key=lambda r: (r["sop_id"], r["metric"], r["window_start"])))


def _segment(windows: list[date], sizes: np.ndarray, part: slice, window: str) -> dict:
    last = window_end_date(windows[part.stop - 1], window)
    return {"from": windows[part.start].isoformat(), "to": last.isoformat(),
            "windows": part.stop - part.start, "conversations": int(sizes[part].sum())}  # fmt: skip


def _judge_change(row: dict, *, config: DriftConfig) -> None:
    """Set flag, severity and sentence of a change row (in place; our own dict)."""
    shift = row["rate"] - row["baseline"]
    significant = row["q_value"] <= config.alpha
    min_shift = config.change_min_shift
    medium_factor, high_factor = config.change_medium_factor, config.change_high_factor
    row["flagged"] = bool(significant and abs(shift) >= min_shift - 1e-12)
    if not row["flagged"]:
        row["severity"] = "info"
    elif shift <= -high_factor * min_shift + 1e-12:
        row["severity"] = "high"
    elif shift <= -medium_factor * min_shift + 1e-12:
        row["severity"] = "medium"
    else:
        row["severity"] = "low"
    verb = "fell" if shift < 0 else "rose"
    when = window_phrase(row["window_start"], config.window)
    before, after = row["baseline"], row["rate"]
    if row["metric"] == "fitness":
        said = f"Mean fitness of {row['sop_id']} {verb} from {before:.2f} to {after:.2f}"
    else:
        said = f"Conformance of {row['sop_id']} {verb} from {before:.0%} to {after:.0%}"
    if row["flagged"]:
        row["sentence"] = f"{said} {when}."
    elif not significant:
        row["sentence"] = (f"{said} {when}; not flagged: not significant after correcting "
                           f"for the series tested (q = {row['q_value']:.2f}).")  # fmt: skip
    else:
        row["sentence"] = f"{said} {when}; not flagged: a shift smaller than {min_shift:.0%}."
