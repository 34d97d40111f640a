"""Stage 7, temporal drift: intent mix, variant mix and conformance change points.

Each function reads conversations with their ``started_at`` (table ``conversations``)
and one analytic table, and returns rows of ``drift_findings``:

- :func:`find_mix_drift` compares each window's distribution of a category (an intent,
  a variant) with the baseline, the first ``baseline_windows`` windows pooled, by the
  Jensen-Shannon distance, with a permutation test (kinds ``intent_mix``,
  ``variant_mix``; :func:`find_variant_mix_drift` applies it per workflow);
- :func:`find_conformance_changes` finds change points in each SOP's per-window
  conformance by binary segmentation with a permutation test (kind
  ``conformance_change``).

Windows are calendar days, ISO weeks (Monday to Sunday) or calendar months of
``started_at`` (:func:`window_start`, :func:`window_end`, shared with ``drift.py``). A
window with fewer than ``min_count`` conversations is not tested. The cost is a few
group-bys over conversations, then numpy per group and window: O(groups x windows x
categories x permutations), never a loop over conversations.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from datetime import date

import numpy as np
import polars as pl
from scipy.stats import false_discovery_control

from pipeline import schema
from pipeline.config import DriftConfig
from pipeline.errors import SchemaError

WINDOWS = ("day", "week", "month")
UNASSIGNED = "unassigned"
OTHER_VARIANTS = "other variants"
METRICS = {"conforming_share": "is_conforming", "fitness": "fitness"}

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


# ---- windows and rows ------------------------------------------------------------------
def window_start(started_at: pl.Expr, window: str) -> pl.Expr:
    """Return the first day (a ``Date``) of the window holding each timestamp.

    ``day`` is the calendar day, ``week`` the ISO week starting on Monday, ``month`` the
    calendar month, all in the timestamps' own time zone.

    Raises
    ------
    ValueError
        ``window`` is not one of :data:`WINDOWS`.
    """
    every = {"day": "1d", "week": "1w", "month": "1mo"}
    if window not in every:
        raise ValueError(f"drift window: expected one of {'/'.join(WINDOWS)}, found {window!r}")
    return started_at.dt.truncate(every[window]).dt.date()


def window_end(start: pl.Expr, window: str) -> pl.Expr:
    """Return the last day of the window starting on ``start`` (inclusive, a ``Date``)."""
    if window == "day":
        return start
    if window == "week":
        return start + pl.duration(days=6)
    if window == "month":
        return start.dt.month_end()
    raise ValueError(f"drift window: expected one of {'/'.join(WINDOWS)}, found {window!r}")


def finding_id(row: Mapping) -> str:
    """Return the stable id of a finding: 16 hex digits of sha1 of its :data:`IDENTITY`.

    Absent or null fields count as empty; dates are written ISO.
    """
    key = _SEP.join("" if row.get(k) is None else str(row[k]) for k in IDENTITY)
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:16]


def findings_frame(rows: Sequence[Mapping]) -> pl.DataFrame:
    """Return ``drift_findings`` rows as a frame of :data:`DRIFT_FINDINGS_SCHEMA`.

    Absent keys are null; ``finding_id`` is filled by :func:`finding_id`.
    """
    filled = [{c: row.get(c) for c in DRIFT_FINDINGS_SCHEMA} | {"finding_id": finding_id(row)}
              for row in rows]  # fmt: skip
    return pl.DataFrame(filled, schema=DRIFT_FINDINGS_SCHEMA, orient="row")


def js_divergence(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon divergence in bits (in [0, 1]) between count or share vectors.

    The divergence itself; :func:`js_distance` is its square root. Rows of 2-d inputs are
    compared pairwise; each row is normalised to sum to 1.
    """
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    p = p / np.maximum(p.sum(axis=-1, keepdims=True), 1e-300)
    q = q / np.maximum(q.sum(axis=-1, keepdims=True), 1e-300)
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log2(p / m), 0.0).sum(axis=-1)
        kl_q = np.where(q > 0, q * np.log2(q / m), 0.0).sum(axis=-1)
    return np.clip((kl_p + kl_q) / 2, 0.0, 1.0)


def js_distance(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """Jensen-Shannon distance, base 2 (in [0, 1]): ``sqrt`` of :func:`js_divergence`.

    Equal to ``scipy.spatial.distance.jensenshannon(p, q, base=2)``, row-wise.
    """
    return np.sqrt(js_divergence(p, q))


def _windowed(
    frame: pl.DataFrame, conversations: pl.DataFrame, *, window: str, what: str
) -> pl.DataFrame:
    """Join ``frame`` to conversations' ``started_at``; add ``_window`` (undated rows go)."""
    _require(conversations, ("conversation_id", "started_at"), "conversations", what)
    dates = conversations.select("conversation_id", "started_at").unique("conversation_id")
    return (
        frame.join(dates, on="conversation_id", how="inner")
        .filter(pl.col("started_at").is_not_null())
        .with_columns(_window=window_start(pl.col("started_at"), window))
    )


def _require(frame: pl.DataFrame, columns: Sequence[str], table: str, what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{what}: the {table} frame lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(columns)} (table {table})"
        )


def _phrase(start: date, window: str) -> str:
    """``in the week of 2026-05-04``, ``on 2026-05-04``, ``in 2026-05``."""
    if window == "week":
        return f"in the week of {start.isoformat()}"
    if window == "month":
        return f"in {start.isoformat()[:7]}"
    return f"on {start.isoformat()}"


def bh_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (empty in, empty out)."""
    if not len(p_values):
        return []
    return false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh").tolist()


def _p_at_least(observed: float, null: np.ndarray) -> float:
    """Monte Carlo permutation p-value, ``(1 + #{null >= observed}) / (1 + draws)``."""
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + null.size))


# ---- mix drift -------------------------------------------------------------------------
def find_mix_drift(
    assignments: pl.DataFrame,
    conversations: pl.DataFrame,
    *,
    config: DriftConfig,
    kind: str = "intent_mix",
    key_col: str = "intent_id",
    group_col: str | None = None,
    labels: Mapping[str, str] | None = None,
    rare_share: float = 0.0,
    other_label: str = "other",
    n_permutations: int = 999,
    seed: int = 0,
) -> pl.DataFrame:
    """Test each window's category mix against the baseline windows' mix.

    Reads ``intent_assignments`` (or any frame with a category per conversation) and
    ``conversations``; produces ``drift_findings`` rows of ``kind``.

    Per group (the whole data when ``group_col`` is None), the baseline is the first
    ``config.baseline_windows`` windows holding its conversations, pooled. Every later
    window with at least ``config.min_count`` conversations is tested (a baseline with
    fewer tests nothing): ``rate`` is the Jensen-Shannon distance (:func:`js_distance`:
    base 2, in [0, 1], the square root of the divergence, as scipy's ``jensenshannon``
    returns it) of the window's shares from the baseline's; ``p_value`` a permutation
    test of that distance (the window's counts redrawn from the pooled counts, a
    multivariate hypergeometric: exact for small counts, unlike chi-square); ``q_value``
    Benjamini-Hochberg over all windows tested. ``baseline`` is the noise level of the
    baseline itself: the mean distance of each baseline window (with ``min_count``
    conversations) from the other baseline windows pooled, 0 with fewer than two such
    windows. ``flagged`` when the distance is at least ``config.js_threshold`` and
    ``q_value`` at most
    ``config.alpha``; severity ``high`` at twice the threshold, else ``medium``; unflagged
    rows are ``info``. ``details`` names the three categories whose share moved most.

    Parameters
    ----------
    assignments
        ``conversation_id``, ``key_col`` (null: the category :data:`UNASSIGNED`), and
        ``group_col`` when given; a true ``is_outlier`` also means unassigned.
    conversations
        ``conversation_id, started_at``; conversations without a start are left out.
    config
        ``window``, ``baseline_windows``, ``min_count``, ``alpha``, ``js_threshold``.
    kind
        The finding kind written (``intent_mix``, ``variant_mix``).
    key_col, group_col
        The category column and the column of independent groups (workflows).
    labels
        Readable names of categories (an intent's label), used in sentences.
    rare_share
        Categories below this share of their group pool into ``other_label``.
    n_permutations, seed
        Permutation draws per test, and the seed that makes p-values reproducible.

    Returns
    -------
    polars.DataFrame
        :data:`DRIFT_FINDINGS_SCHEMA`, one row per tested (group, window), sorted by
        group and window; ``workflow_id`` is the group.

    Raises
    ------
    SchemaError
        A required column is missing.
    """
    what = f"drift ({kind})"
    _require(assignments, ["conversation_id", key_col] + ([group_col] if group_col else []),
             "assignments", what)  # fmt: skip
    unassigned = pl.col(key_col).is_null()
    if "is_outlier" in assignments.columns:
        unassigned = unassigned | pl.col("is_outlier").fill_null(False)
    group = pl.col(group_col).cast(pl.String) if group_col else pl.lit(None, pl.String)
    frame = assignments.select(
        "conversation_id",
        _group=group,
        _cat=pl.when(unassigned)
        .then(pl.lit(UNASSIGNED))
        .otherwise(pl.col(key_col).cast(pl.String)),
    ).unique(["conversation_id", "_group"], keep="last", maintain_order=True)
    frame = _windowed(frame, conversations, window=config.window, what=what)
    if rare_share > 0:
        share = pl.len().over("_group", "_cat") / pl.len().over("_group")
        frame = frame.with_columns(
            _cat=pl.when(share < rare_share).then(pl.lit(other_label)).otherwise("_cat")
        )
    counts = frame.group_by("_group", "_window", "_cat").len().sort("_group", "_window", "_cat")
    rng = np.random.default_rng(seed)
    rows = []
    for (group_id,), part in counts.group_by("_group", maintain_order=True):
        rows += _mix_rows(part, group_id, config=config, kind=kind, key_col=key_col,
                          labels=labels or {}, rng=rng, n_permutations=n_permutations)  # fmt: skip
    for row, q in zip(rows, bh_adjust([r["p_value"] for r in rows]), strict=True):
        _judge_mix(row, q, config=config)
    return findings_frame(rows)


def _mix_rows(
    counts: pl.DataFrame,
    group_id: str | None,
    *,
    config: DriftConfig,
    kind: str,
    key_col: str,
    labels: Mapping[str, str],
    rng: np.random.Generator,
    n_permutations: int,
) -> list[dict]:
    """Test each window of one group; rows without q, flag or sentence yet."""
    windows = counts["_window"].unique().sort().to_list()
    cats = counts["_cat"].unique().sort().to_list()
    matrix = np.zeros((len(windows), len(cats)), dtype=np.int64)
    w_of = {w: i for i, w in enumerate(windows)}
    c_of = {c: i for i, c in enumerate(cats)}
    for w, c, n in counts.select("_window", "_cat", "len").iter_rows():
        matrix[w_of[w], c_of[c]] = n
    k = config.baseline_windows
    base = matrix[:k].sum(axis=0)
    if len(windows) <= k or base.sum() < config.min_count:
        return []
    sizes = matrix.sum(axis=1)
    full = [i for i in range(min(k, len(windows))) if sizes[i] >= config.min_count]
    noise = [float(js_distance(matrix[i], base - matrix[i])) for i in full] if len(full) > 1 else []
    rows = []
    for i in range(k, len(windows)):
        if sizes[i] < config.min_count:
            continue
        observed = float(js_distance(matrix[i], base))
        pooled = matrix[i] + base
        drawn = rng.multivariate_hypergeometric(pooled, int(sizes[i]), size=n_permutations)
        null = js_distance(drawn, pooled - drawn)
        before, after = base / base.sum(), matrix[i] / sizes[i]
        order = sorted(range(len(cats)), key=lambda j: (-abs(after[j] - before[j]), cats[j]))
        moved = [{"category": cats[j], "label": labels.get(cats[j]),
                  "share_before": round(float(before[j]), 4),
                  "share_after": round(float(after[j]), 4)} for j in order[:3]]  # fmt: skip
        rows.append({
            "kind": kind, "workflow_id": group_id, "metric": "js_distance",
            "window_start": windows[i],
            "rate": observed, "baseline": float(np.mean(noise)) if noise else 0.0,
            "n": int(sizes[i]), "n_baseline": int(base.sum()),
            "p_value": _p_at_least(observed, null),
            "_noun": "intent" if key_col == "intent_id" else key_col.removesuffix("_id"),
            "_moved": moved, "_window_name": config.window,
        })  # fmt: skip
    for row in rows:
        row["window_end"] = _end_date(row["window_start"], config.window)
    return rows


def _end_date(start: date, window: str) -> date:
    return pl.select(window_end(pl.lit(start, pl.Date), window)).item()


def _judge_mix(row: dict, q: float, *, config: DriftConfig) -> None:
    """Set q, flag, severity, sentence and details of a mix row (in place; our own dict)."""
    js, threshold = row["rate"], config.js_threshold
    row["q_value"] = q
    row["flagged"] = bool(js >= threshold and q <= config.alpha)
    row["severity"] = ("high" if js >= 2 * threshold else "medium") if row["flagged"] else "info"
    moved, noun = row.pop("_moved"), row.pop("_noun")
    subject = f"the {noun} mix" + (f" of {row['workflow_id']}" if row["workflow_id"] else "")
    when = _phrase(row["window_start"], row.pop("_window_name"))
    if row["flagged"]:
        changes = " and ".join(_moved_words(m, noun) for m in moved[:2])
        row["sentence"] = (
            f"{when[0].upper()}{when[1:]}, {subject} moved away from the baseline "
            f"(Jensen-Shannon distance {js:.2f}): {changes}."
        )
    else:
        reason = (f"below the threshold of {threshold:g}" if js < threshold
                  else f"not significant after correction, q = {q:.2f}")  # fmt: skip
        row["sentence"] = (
            f"{when[0].upper()}{when[1:]}, {subject} stayed near the baseline "
            f"(Jensen-Shannon distance {js:.2f}, {reason})."
        )
    row["details"] = json.dumps({"moved": moved, "js_divergence": round(js * js, 4)})


def _moved_words(moved: Mapping, noun: str) -> str:
    """``intent i017 'points, missing' grew from 0% to 9% of conversations``."""
    cat, label = moved["category"], moved["label"]
    if cat in (UNASSIGNED, OTHER_VARIANTS, "other"):
        name = f"'{cat}'"
    else:
        name = f"{noun} {cat}" + (f" '{label}'" if label else "")
    verb = "grew" if moved["share_after"] >= moved["share_before"] else "shrank"
    return (f"{name} {verb} from {moved['share_before']:.0%} to {moved['share_after']:.0%} "
            "of conversations")  # fmt: skip


def find_variant_mix_drift(
    conformance: pl.DataFrame,
    conversations: pl.DataFrame,
    *,
    config: DriftConfig,
    variants: pl.DataFrame | None = None,
    rare_share: float = 0.01,
    n_permutations: int = 999,
    seed: int = 0,
) -> pl.DataFrame:
    """Test each workflow's variant mix per window (kind ``variant_mix``).

    Reads ``conformance`` (the latest SOP version per conversation), ``conversations``
    and optionally ``variants`` (for readable names); :func:`find_mix_drift` per
    workflow, a workflow being the SOP. Variants below ``rare_share`` of their workflow
    pool into :data:`OTHER_VARIANTS`, so a long tail of one-off variants does not read as
    drift.

    Returns
    -------
    polars.DataFrame
        :data:`DRIFT_FINDINGS_SCHEMA` rows with ``sop_id`` and ``workflow_id`` the SOP.
    """
    what = "drift (variant_mix)"
    _require(conformance, ("conversation_id", "sop_id", "variant_id"), "conformance", what)
    version = pl.col("version") if "version" in conformance.columns else pl.lit(0)
    latest = (
        conformance.select("conversation_id", "sop_id", "variant_id", _v=version)
        .sort("conversation_id", "sop_id", "_v")
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
        .rename({"sop_id": "workflow_id"})
    )
    labels = {}
    if variants is not None and not variants.is_empty():
        more = (
            pl.when(pl.col("sequence").list.len() > 6).then(pl.lit(" > ...")).otherwise(pl.lit(""))
        )
        named = variants.select(
            "variant_id", _label=pl.col("sequence").list.head(6).list.join(" > ") + more
        )
        labels = dict(named.iter_rows())
    found = find_mix_drift(
        latest, conversations, config=config, kind="variant_mix", key_col="variant_id",
        group_col="workflow_id", labels=labels, rare_share=rare_share,
        other_label=OTHER_VARIANTS, n_permutations=n_permutations, seed=seed,
    )  # fmt: skip
    return found.with_columns(sop_id=pl.col("workflow_id"))


# ---- conformance change points ---------------------------------------------------------
def change_points(
    series: np.ndarray,
    *,
    alpha: float,
    min_segment: int = 2,
    n_permutations: int = 999,
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
        p = _p_at_least(float(observed[0]), null)
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
    min_shift: float = 0.05,
    min_segment: int = 2,
    n_permutations: int = 999,
    seed: int = 0,
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
    is at most ``config.alpha`` and the shift is at least ``min_shift``; a fall of three
    times ``min_shift`` is ``high``, of twice ``medium``; smaller falls and every rise
    ``low``; unflagged rows ``info``.

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
    _require(conformance, ("conversation_id", "sop_id", "fitness", "is_conforming"),
             "conformance", what)  # fmt: skip
    version = pl.col("version") if "version" in conformance.columns else pl.lit(0)
    latest = (
        conformance.select("conversation_id", "sop_id", "fitness", "is_conforming", _v=version)
        .sort("conversation_id", "sop_id", "_v")
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
    )
    frame = _windowed(latest, conversations, window=config.window, what=what)
    series = (
        frame.group_by("sop_id", "_window")
        .agg(
            pl.len().alias("n"),
            *[pl.col(METRICS[m]).cast(pl.Float64).sum().alias(m) for m in metrics],
        )  # fmt: skip
        .filter(pl.col("n") >= config.min_count)
        .sort("sop_id", "_window")
    )
    rng = np.random.default_rng(seed)
    rows, tests = [], []
    for (sop_id,), part in series.group_by("sop_id", maintain_order=True):
        windows, sizes = part["_window"].to_list(), part["n"].to_numpy()
        for metric in metrics:
            sums = part[metric].to_numpy()
            found, p_whole = change_points(
                sums / sizes, alpha=config.alpha, min_segment=min_segment,
                n_permutations=n_permutations, rng=rng,
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
                    "window_end": _end_date(windows[k], config.window),
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
        _judge_change(row, config=config, min_shift=min_shift)
    return findings_frame(sorted(rows, key=lambda r: (r["sop_id"], r["metric"], r["window_start"])))


def _segment(windows: list[date], sizes: np.ndarray, part: slice, window: str) -> dict:
    last = _end_date(windows[part.stop - 1], window)
    return {"from": windows[part.start].isoformat(), "to": last.isoformat(),
            "windows": part.stop - part.start, "conversations": int(sizes[part].sum())}  # fmt: skip


def _judge_change(row: dict, *, config: DriftConfig, min_shift: float) -> None:
    """Set flag, severity and sentence of a change row (in place; our own dict)."""
    shift = row["rate"] - row["baseline"]
    significant = row["q_value"] <= config.alpha
    row["flagged"] = bool(significant and abs(shift) >= min_shift - 1e-12)
    if not row["flagged"]:
        row["severity"] = "info"
    elif shift <= -3 * min_shift + 1e-12:
        row["severity"] = "high"
    elif shift <= -2 * min_shift + 1e-12:
        row["severity"] = "medium"
    else:
        row["severity"] = "low"
    verb = "fell" if shift < 0 else "rose"
    when = _phrase(row["window_start"], config.window)
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
