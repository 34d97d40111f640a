"""Stage 7, step-level drift: deviation rates per window and their outcome impact.

:func:`find_drift` reads ``conformance``, ``outcomes``, ``conversations`` and the
documented SOPs and returns the step-level rows of ``drift_findings``:

- kinds ``missing``, ``order_violation``, ``undocumented``, ``gate_skipped``: per SOP,
  deviation (a step of ``conformance.missing`` etc.; for an order violation ``"B before
  A"`` the step is B, done too early, with A in ``details.before``) and group (all
  conversations, then each value of each ``config.breakdown`` column), the share of the
  group's conversations in each window showing the deviation (``rate``) against the
  same group's share in the SOP's first ``baseline_windows`` windows, pooled
  (``baseline``). Windows come from :func:`pipeline.drift_mix.window_start`.
- kind ``outcome_impact``: per SOP and deviation over the whole period, and pooled per
  step id over the SOPs where the deviation occurs (when there are two or more: the same
  step id in several SOPs is taken to be the same practice), the rate of each metric
  (``repeat_contact``, ``escalated``, ``resolved``) among deviating conversations
  (``outcome_deviating``, ``n``) and the SOP's other conversations
  (``outcome_conforming``, ``n_baseline``); ``outcome_delta`` is their difference with
  a 95% Newcombe (Wilson score) interval in ``ci_low``/``ci_high``. A pooled row puts
  the Mantel-Haenszel difference stratified by SOP in ``details.stratified_delta``:
  where it disagrees with the crude one, SOP mix, not the deviation, drives the gap.

Statistics. Each comparison of two proportions uses Fisher's exact test (two-sided,
conditional on the margins) when an expected cell count is below 5, else the pooled
two-proportion z-test. A comparison is made only when both sides have ``min_count``
conversations. One whose hits are none or all on both sides (a deviation seen neither in
the window nor in its baseline; an outcome no conversation had) carries no information:
it is neither tested nor written (it still ends a run of flagged windows). That keeps
the table to O(SOPs x deviations seen x groups x windows) without the many empty
agent-by-step cells: read a gap in a series as no deviation where the group had
``min_count`` conversations. ``q_value`` is Benjamini-Hochberg over every comparison of
the call, both families together (leaving out the empty ones first is sound: the filter
uses only the margin, on which the exact test conditions).

Flagging. A step-rate row is flagged when ``q_value < alpha`` and the rate rose by at
least ``min_effect``. An outcome row is flagged when both sides have ``min_count``
conversations, the interval excludes 0 and ``q_value < alpha`` (the 95% interval alone
is per comparison: over hundreds of comparisons it would flag ~5% by chance). Each
step-rate row carries the flagged harmful outcome of its (SOP, step, deviation) with the
largest lower bound of harm, from the SOP's own row, else from the pooled row
(``details.outcome_scope``).

Severity (``schema.SEVERITIES``), unflagged rows ``info``:

- step rate: ``high`` when it has a harmful outcome and either a large rise (at least
  twice ``min_effect``) or strong evidence (``q_value < alpha / 10``); ``medium`` with a
  harmful outcome alone, or with a large rise and strong evidence; else ``low``;
- outcome impact: ``high`` when harmful (more repeat contact or escalation, less
  resolution) by at least ``min_effect``; ``medium`` when harmful by less; ``low`` when
  the deviation fares better (its sentence names it a candidate SOP change).

Sentences name steps by their id with spaces for underscores, agents by the first six
characters of their hash, and "since" the first window of the run of consecutive flagged
tested windows that ends at the row's window. Cost: a few joins and group-bys over
(conversation, deviation) and (conversation, group) pairs, numpy over the comparisons,
Python only over finding rows (ids, sentences, details).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import polars as pl
from scipy.stats import false_discovery_control, hypergeom, norm

from pipeline import schema
from pipeline.config import DriftConfig
from pipeline.drift_mix import DRIFT_FINDINGS_SCHEMA, finding_id, window_end, window_start
from pipeline.errors import SchemaError
from pipeline.sop import Sop

#: Deviation kind -> the ``conformance`` list column that holds its steps.
DEVIATIONS = {
    "missing": "missing",
    "order_violation": "order_violations",
    "undocumented": "undocumented",
    "gate_skipped": "skipped_gates",
}
#: Outcome metric -> +1 when a higher rate is harmful, -1 when a lower rate is.
METRICS = {"repeat_contact": 1, "escalated": 1, "resolved": -1}
ALL = "all"  # the group of all conversations (team and agent_hash null)
_BEFORE = " before "
_Z95 = float(norm.ppf(0.975))
_FISHER_BELOW = 5.0  # Cochran: the z-test needs every expected cell count >= 5
_FISHER_CELLS = 2_000_000  # rows x support values evaluated at once by the exact test
_SERIES = ["sop_id", "kind", "step", "group", "value"]
_CONFORMANCE_COLUMNS = ("conversation_id", "sop_id", "version", *DEVIATIONS.values())
_OUTCOME_COLUMNS = ("conversation_id", *METRICS)


def find_drift(
    conformance: pl.DataFrame,
    outcomes: pl.DataFrame,
    conversations: pl.DataFrame,
    sops: Mapping[str, Sop],
    *,
    config: DriftConfig,
) -> pl.DataFrame:
    """Find step-level drift and the outcome impact of deviations.

    Reads ``conformance``, ``outcomes``, ``conversations`` and the SOPs; produces the
    step-level rows of ``drift_findings`` (see the module docstring for the statistics).

    Parameters
    ----------
    conformance
        ``conversation_id, sop_id, version`` and the lists ``missing``,
        ``order_violations`` (``"B before A"``), ``undocumented``, ``skipped_gates``;
        with several versions of a (conversation, SOP) the highest is used.
    outcomes
        ``conversation_id, repeat_contact, escalated, resolved`` (booleans).
    conversations
        ``conversation_id, started_at`` and the ``config.breakdown`` columns;
        conversations without a start are left out of the windows, not of the impact.
    sops
        sop_id -> :class:`~pipeline.sop.Sop`; an approval gate's ``when`` condition is
        quoted in its sentences. SOPs absent here are still analysed.
    config
        ``window``, ``baseline_windows``, ``min_count``, ``alpha``, ``min_effect``,
        ``breakdown``.

    Returns
    -------
    polars.DataFrame
        :data:`~pipeline.drift_mix.DRIFT_FINDINGS_SCHEMA` (``schema.batch_columns`` of
        ``drift_findings``): every tested step-rate row and every tested outcome row,
        sorted by kind, SOP, step, team, agent, window and metric. ``finding_id`` hashes
        the identifying fields (:func:`pipeline.drift_mix.finding_id`), with the group
        of a queue/channel breakdown and the deviation of an outcome row added to the
        kind in the key, and no metric for a step-rate row (its metric is a link that
        may change): the same finding gets the same id in every run.

    Raises
    ------
    SchemaError
        A frame lacks a required column, or an order violation is not ``"B before A"``.
    """
    _require(conformance, _CONFORMANCE_COLUMNS, schema.CONFORMANCE)
    _require(outcomes, _OUTCOME_COLUMNS, schema.OUTCOMES)
    _require(conversations, ("conversation_id", "started_at", *config.breakdown),
             schema.CONVERSATIONS)  # fmt: skip
    cases = (
        conformance.sort("version")
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
        .select("conversation_id", "sop_id", *DEVIATIONS.values())
    )
    deviations = _deviations(cases)
    rates = _step_rates(_grouped(cases, conversations, config), deviations, config=config)
    impact = _outcome_impact(cases, deviations, outcomes, min_count=config.min_count)
    rates, impact = _judge(rates, impact, config=config)
    rates = _link_outcomes(rates, impact)
    period = _period(cases, conversations, config.window)
    notes = _Notes(before=_before_steps(deviations), when=_gate_conditions(sops))
    rows = [_rate_row(r, notes, config=config) for r in rates.iter_rows(named=True)] + [
        _impact_row(r, notes, period) for r in impact.iter_rows(named=True)
    ]
    return pl.DataFrame(rows, schema=DRIFT_FINDINGS_SCHEMA, orient="row").sort(
        "kind", "sop_id", "step", "team", "agent_hash", "window_start", "metric", "finding_id",
        nulls_last=False,
    )  # fmt: skip


# ---- comparisons of two proportions ---------------------------------------------------
def two_proportion_test(
    x1: np.ndarray, n1: np.ndarray, x0: np.ndarray, n0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values of ``x1/n1`` vs ``x0/n0``, vectorised over the arrays.

    Fisher's exact test where an expected cell count of the 2x2 table is below 5, else
    the pooled two-proportion z-test (which matches the chi-square test without
    continuity correction). Returns ``(p_values, is_fisher)``.
    """
    x1, n1, x0, n0 = (np.asarray(a, dtype=np.int64) for a in (x1, n1, x0, n0))
    total, hits = n1 + n0, x1 + x0
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = hits / total
        expected = np.minimum.reduce(
            [n1 * pooled, n1 * (1 - pooled), n0 * pooled, n0 * (1 - pooled)]
        )
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        z = (x1 / n1 - x0 / n0) / se
    p = np.where(se > 0, 2 * norm.sf(np.abs(z)), 1.0)
    fisher = expected < _FISHER_BELOW
    if fisher.any():
        p[fisher] = _fisher(x1[fisher], n1[fisher], hits[fisher], total[fisher])
    return np.clip(p, 0.0, 1.0), fisher


def _fisher(x: np.ndarray, n: np.ndarray, hits: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Two-sided Fisher p-values: the mass of tables no likelier than the observed one.

    ``x`` of ``n`` draws are hits, from ``total`` items with ``hits`` hits. The support
    is evaluated on a rows x values grid in chunks; its width is at most
    ``min(n, total - n, hits, total - hits) + 1``, small where the test is used.
    """
    lo = np.maximum(0, hits - (total - n))
    hi = np.minimum(hits, n)
    observed = hypergeom.logpmf(x, total, hits, n)
    p = np.empty(len(x))
    width = int((hi - lo).max(initial=0)) + 1
    step = max(1, _FISHER_CELLS // width)
    for start in range(0, len(x), step):  # chunks of rows bound memory, not a row loop
        s = slice(start, start + step)
        grid = lo[s, None] + np.arange(width)[None, :]
        inside = grid <= hi[s, None]
        logpmf = hypergeom.logpmf(np.where(inside, grid, lo[s, None]), total[s, None],
                                  hits[s, None], n[s, None])  # fmt: skip
        as_likely = inside & (logpmf <= observed[s, None] + 1e-7)  # scipy's relative tolerance
        p[s] = np.where(as_likely, np.exp(logpmf), 0.0).sum(axis=1)
    return p


def newcombe_interval(
    x1: np.ndarray, n1: np.ndarray, x0: np.ndarray, n0: np.ndarray, *, z: float = _Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (method 10) for ``x1/n1 - x0/n0``.

    Built from the two Wilson score intervals, without continuity correction; good
    coverage at small counts and rates near 0 or 1, where the Wald interval fails.
    """
    p1, (l1, u1) = x1 / n1, _wilson(x1, n1, z)
    p0, (l0, u0) = x0 / n0, _wilson(x0, n0, z)
    delta = p1 - p0
    return (
        delta - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        delta + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def _wilson(x: np.ndarray, n: np.ndarray, z: float) -> tuple[np.ndarray, np.ndarray]:
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


# ---- frames ---------------------------------------------------------------------------
def _deviations(cases: pl.DataFrame) -> pl.DataFrame:
    """One row per (conversation, SOP, kind, step): ``before`` holds A of "B before A"."""
    parts = [
        cases.select("conversation_id", "sop_id", kind=pl.lit(kind), item=pl.col(column))
        .explode("item")
        .drop_nulls("item")
        for kind, column in DEVIATIONS.items()
    ]
    frame = pl.concat(parts).with_columns(pl.col("item").cast(pl.String))
    order = pl.col("kind") == "order_violation"
    bad = frame.filter(order & ~pl.col("item").str.contains(_BEFORE, literal=True))
    if bad.height:
        raise SchemaError(
            f"drift: conformance.order_violations of {bad['conversation_id'][0]} holds "
            f"{bad['item'][0]!r}; expected 'B before A' (step B done before step A); "
            "re-run conformance"
        )
    parts_of = pl.col("item").str.split_exact(_BEFORE, 1)
    return frame.select(
        "conversation_id",
        "sop_id",
        "kind",
        step=pl.when(order).then(parts_of.struct.field("field_0")).otherwise("item"),
        before=pl.when(order).then(parts_of.struct.field("field_1")),
    ).unique(maintain_order=True)


def _grouped(cases: pl.DataFrame, conversations: pl.DataFrame, config: DriftConfig):
    """One row per (conversation, SOP, group): its window and the window's rank in the SOP."""
    dtype = conversations.schema["started_at"]
    if dtype == pl.Null:  # no conversation has a start
        conversations = conversations.with_columns(pl.col("started_at").cast(pl.Datetime("us")))
    elif not (isinstance(dtype, pl.Datetime) or dtype == pl.Date):
        raise SchemaError(
            f"drift: conversations.started_at is {dtype}; expected a datetime (timestamptz); "
            "parse it before calling find_drift"
        )
    dated = (
        cases.select("conversation_id", "sop_id")
        .join(
            conversations.unique("conversation_id", keep="last", maintain_order=True).select(
                "conversation_id", "started_at", *config.breakdown
            ),
            on="conversation_id",
        )
        .filter(pl.col("started_at").is_not_null())
        .with_columns(window_start=window_start(pl.col("started_at"), config.window))
        .with_columns(rank=pl.col("window_start").rank("dense").over("sop_id"))
    )
    keys = ("conversation_id", "sop_id", "window_start", "rank")
    groups = [dated.select(*keys, group=pl.lit(ALL), value=pl.lit(None, pl.String))]
    groups += [
        dated.select(*keys, group=pl.lit(column), value=pl.col(column).cast(pl.String)).drop_nulls(
            "value"
        )
        for column in config.breakdown
    ]
    return pl.concat(groups)


def _step_rates(grouped: pl.DataFrame, deviations: pl.DataFrame, *, config: DriftConfig):
    """Count the tested (SOP, kind, step, group, window) cells: ``n, k`` and baselines."""
    in_baseline = pl.col("rank") <= config.baseline_windows
    cell = ["sop_id", "group", "value", "window_start", "rank"]
    totals = grouped.group_by(cell).agg(n=pl.len())
    hits = (
        deviations.select("conversation_id", "sop_id", "kind", "step").unique()
        .join(grouped, on=["conversation_id", "sop_id"])
        .group_by(*_SERIES, "window_start", "rank")
        .agg(k=pl.len())
    )  # fmt: skip
    n_base = (
        totals.filter(in_baseline)
        .group_by("sop_id", "group", "value")
        .agg(n_baseline=pl.col("n").sum())
    )
    k_base = hits.filter(in_baseline).group_by(_SERIES).agg(k_baseline=pl.col("k").sum())
    candidates = deviations.select("sop_id", "kind", "step").unique()
    return (
        totals.filter(~in_baseline & (pl.col("n") >= config.min_count))
        .join(
            n_base.filter(pl.col("n_baseline") >= config.min_count),
            on=["sop_id", "group", "value"],
            nulls_equal=True,
        )  # fmt: skip
        .join(candidates, on="sop_id")
        .join(hits.drop("rank"), on=[*_SERIES, "window_start"], how="left", nulls_equal=True)
        .join(k_base, on=_SERIES, how="left", nulls_equal=True)
        .with_columns(pl.col("k", "k_baseline").fill_null(0))
        .select(
            *_SERIES,
            "window_start",
            "n",
            "k",
            "n_baseline",
            "k_baseline",
            informative=_informative("k", "n", "k_baseline", "n_baseline"),
        )  # fmt: skip
        .sort(*_SERIES, "window_start", nulls_last=False)
    )


def _outcome_impact(
    cases: pl.DataFrame, deviations: pl.DataFrame, outcomes: pl.DataFrame, *, min_count: int
) -> pl.DataFrame:
    """Per (SOP or pooled, kind, step, metric): events and sizes of deviating vs other."""
    measured = cases.select("conversation_id", "sop_id").join(
        outcomes.unique("conversation_id", keep="last", maintain_order=True)
        .select("conversation_id", *[pl.col(m).cast(pl.Int64) for m in METRICS])
        .drop_nulls(),  # the contract has no nulls; a partial row would bias one metric
        on="conversation_id",
    )
    sums = [pl.len().alias("n"), *[pl.col(m).sum() for m in METRICS]]
    totals = measured.group_by("sop_id").agg(sums)
    per_sop = (
        deviations.select("conversation_id", "sop_id", "kind", "step").unique()
        .join(measured, on=["conversation_id", "sop_id"])
        .group_by("sop_id", "kind", "step")
        .agg(sums)
        .join(totals, on="sop_id", suffix="_all")
        .unpivot(index=["sop_id", "kind", "step", "n", "n_all"], on=list(METRICS),
                 variable_name="metric", value_name="x_dev")  # fmt: skip
    )  # fmt: skip
    totals_long = totals.unpivot(index=["sop_id", "n"], on=list(METRICS), variable_name="metric",
                                 value_name="x_all")  # fmt: skip
    per_sop = per_sop.join(totals_long.drop("n"), on=["sop_id", "metric"]).select(
        "sop_id", "kind", "step", "metric", n_dev="n", x_dev="x_dev",
        n_conf=pl.col("n_all") - pl.col("n"), x_conf=pl.col("x_all") - pl.col("x_dev"),
    )  # fmt: skip
    size = pl.col("n_dev") + pl.col("n_conf")
    pooled = (
        per_sop.group_by("kind", "step", "metric")
        .agg(
            pl.col("n_dev", "x_dev", "n_conf", "x_conf").sum(),
            sops=pl.col("sop_id").sort(),
            # Mantel-Haenszel risk difference over SOPs (strata).
            mh_num=(
                (pl.col("x_dev") * pl.col("n_conf") - pl.col("x_conf") * pl.col("n_dev")) / size
            ).sum(),  # fmt: skip
            mh_den=(pl.col("n_dev") * pl.col("n_conf") / size).sum(),
        )
        .filter(pl.col("sops").list.len() >= 2)
        .with_columns(
            sop_id=pl.lit(None, pl.String),
            stratified_delta=pl.when(pl.col("mh_den") > 0).then(
                pl.col("mh_num") / pl.col("mh_den")
            ),
        )
        .drop("mh_num", "mh_den")
    )
    per_sop = per_sop.with_columns(sops=pl.lit(None, pl.List(pl.String)),
                                   stratified_delta=pl.lit(None, pl.Float64))  # fmt: skip
    frame = pl.concat([per_sop, pooled.select(per_sop.columns)])
    enough = (pl.col("n_dev") >= min_count) & (pl.col("n_conf") >= min_count)
    return frame.filter(enough & _informative("x_dev", "n_dev", "x_conf", "n_conf")).sort(
        "kind", "step", "sop_id", "metric", nulls_last=True
    )


def _informative(x1: str, n1: str, x0: str, n0: str) -> pl.Expr:
    """Whether a 2x2 comparison can give p < 1: some, but not all, items are hits."""
    hits = pl.col(x1) + pl.col(x0)
    return (hits > 0) & (hits < pl.col(n1) + pl.col(n0))


# ---- judgement ------------------------------------------------------------------------
def _judge(rates: pl.DataFrame, impact: pl.DataFrame, *, config: DriftConfig):
    """Add p- and q-values (one Benjamini-Hochberg family), effects and flags to both.

    Step-rate rows without information stay until "since" is known, then go.
    """
    p_rate, fisher_rate = two_proportion_test(*_arrays(rates, "k", "n", "k_baseline", "n_baseline"))
    p_impact, fisher_impact = two_proportion_test(*_arrays(impact, "x_dev", "n_dev", "x_conf",
                                                           "n_conf"))  # fmt: skip
    informative = rates["informative"].to_numpy()
    p_all = np.concatenate([p_rate[informative], p_impact])
    q_all = false_discovery_control(p_all, method="bh") if p_all.size else p_all
    q_rate = np.ones(len(p_rate))
    q_rate[informative] = q_all[: informative.sum()]
    low, high = newcombe_interval(*_arrays(rates, "k", "n", "k_baseline", "n_baseline"))
    rise = pl.col("rate") - pl.col("baseline")
    rates = rates.with_columns(
        rate=pl.col("k") / pl.col("n"),
        baseline=pl.col("k_baseline") / pl.col("n_baseline"),
        p_value=pl.Series(p_rate, dtype=pl.Float64),
        q_value=pl.Series(q_rate, dtype=pl.Float64),
        test=pl.Series(np.where(fisher_rate, "fisher", "z"), dtype=pl.String),
        change_low=pl.Series(low, dtype=pl.Float64),
        change_high=pl.Series(high, dtype=pl.Float64),
    ).with_columns(flagged=(pl.col("q_value") < config.alpha) & (rise >= config.min_effect - 1e-12))
    run = (~pl.col("flagged")).cum_sum().over(_SERIES, order_by="window_start")
    rates = rates.with_columns(
        since=pl.when("flagged").then(
            pl.when("flagged").then("window_start").min().over(*_SERIES, run)
        ),
        window_end=window_end(pl.col("window_start"), config.window),
    ).filter("informative")
    low, high = newcombe_interval(*_arrays(impact, "x_dev", "n_dev", "x_conf", "n_conf"))
    sign = pl.col("metric").replace_strict(METRICS, return_dtype=pl.Int8)
    impact = impact.with_columns(
        outcome_deviating=pl.col("x_dev") / pl.col("n_dev"),
        outcome_conforming=pl.col("x_conf") / pl.col("n_conf"),
        p_value=pl.Series(p_impact, dtype=pl.Float64),
        q_value=pl.Series(q_all[informative.sum() :], dtype=pl.Float64),
        test=pl.Series(np.where(fisher_impact, "fisher", "z"), dtype=pl.String),
        ci_low=pl.Series(low, dtype=pl.Float64),
        ci_high=pl.Series(high, dtype=pl.Float64),
    ).with_columns(
        outcome_delta=pl.col("outcome_deviating") - pl.col("outcome_conforming"),
        flagged=(pl.col("q_value") < config.alpha)
        & ((pl.col("ci_low") > 0) | (pl.col("ci_high") < 0)),
        # the bound of the interval nearest "no harm", signed so that > 0 is harm
        harm_low=pl.when(sign > 0).then(pl.col("ci_low")).otherwise(-pl.col("ci_high")),
        harm=sign * (pl.col("outcome_deviating") - pl.col("outcome_conforming")),
    )
    harmful = pl.col("flagged") & (pl.col("harm") > 0)
    impact = impact.with_columns(
        harmful=harmful,
        severity=pl.when(harmful & (pl.col("harm") >= config.min_effect - 1e-12))
        .then(pl.lit("high"))
        .when(harmful)
        .then(pl.lit("medium"))
        .when("flagged")
        .then(pl.lit("low"))
        .otherwise(pl.lit("info")),
    )
    return rates, impact


def _link_outcomes(rates: pl.DataFrame, impact: pl.DataFrame) -> pl.DataFrame:
    """Give each step-rate row the clearest flagged harm of its (SOP, kind, step).

    The SOP's own outcome row wins; else the pooled row of the step id.
    """
    linked = ["metric", "outcome_deviating", "outcome_conforming", "outcome_delta", "ci_low",
              "ci_high"]  # fmt: skip
    best = (
        impact.filter("harmful")
        .sort("harm_low", descending=True)
        .unique(["sop_id", "kind", "step"], keep="first", maintain_order=True)
        .select("sop_id", "kind", "step", *linked)
    )
    own = best.filter(pl.col("sop_id").is_not_null())
    pooled = best.filter(pl.col("sop_id").is_null()).drop("sop_id")
    pooled = pooled.rename({c: f"{c}_pooled" for c in linked})
    has_own = pl.col("metric").is_not_null()
    return (
        rates.join(own, on=["sop_id", "kind", "step"], how="left")
        .join(pooled, on=["kind", "step"], how="left")
        .with_columns(
            outcome_scope=pl.when(has_own)
            .then(pl.lit("sop"))
            .when(pl.col("metric_pooled").is_not_null())
            .then(pl.lit("pooled")),
            **{c: pl.when(has_own).then(c).otherwise(f"{c}_pooled") for c in linked},
        )
        .drop(f"{c}_pooled" for c in linked)
    )


def _rate_severity(row: Mapping, config: DriftConfig) -> str:
    if not row["flagged"]:
        return "info"
    harm = row["metric"] is not None
    large = row["rate"] - row["baseline"] >= 2 * config.min_effect - 1e-12
    strong = row["q_value"] < config.alpha / 10
    if harm and (large or strong):
        return "high"
    if harm or (large and strong):
        return "medium"
    return "low"


# ---- rows -----------------------------------------------------------------------------
_VERBS = {  # kind -> (singular, plural) phrase
    "missing": ("skips {step}", "skip {step}"),
    "order_violation": ("does {step} before {before}", "do {step} before {before}"),
    "undocumented": ("adds the undocumented step {step}", "add the undocumented step {step}"),
    "gate_skipped": ("skips the approval gate {step}", "skip the approval gate {step}"),
}
_METRIC_WORDS = {"repeat_contact": "re-contacted", "escalated": "escalated", "resolved": "resolved"}


class _Notes(NamedTuple):
    """What sentences say besides the row.

    ``before``: (SOP or None, step) -> the steps it was done before, most frequent
    first; ``when``: (SOP, gate step) -> the gate's condition.
    """

    before: dict[tuple[str | None, str], list[str]]
    when: dict[tuple[str, str], str]


def _rate_row(row: dict, notes: _Notes, *, config: DriftConfig) -> dict:
    group, value = row["group"], row["value"]
    plain = group in (ALL, "team", "agent_hash")  # told apart by the team/agent_hash columns
    kind_key = row["kind"] if plain else f"{row['kind']}|{group}={value}"
    team = value if group == "team" else None
    agent = value if group == "agent_hash" else None
    after = notes.before.get((row["sop_id"], row["step"]), [])
    subject, plural = _subject(group, value)
    verb = _deviation_words(row, notes, plural=plural)
    says = (f"{subject} {verb} in {row['rate']:.0%} of {row['sop_id']} conversations "
            f"(baseline {row['baseline']:.0%})")  # fmt: skip
    if row["flagged"]:
        sentence = f"Since {row['since'].isoformat()}, {says}"
        if row["metric"] is not None:
            sentence += "; those conversations are " + _outcome_words(row)
    else:
        points = _points(row["rate"] - row["baseline"])
        sentence = (f"{_window_words(row['window_start'], config.window)}, {says}; not flagged "
                    f"({points} points, q = {row['q_value']:.2g})")  # fmt: skip
    details = {
        "deviation": row["kind"],
        "group": group,
        "group_value": value,
        "deviating": row["k"],
        "deviating_baseline": row["k_baseline"],
        "test": row["test"],
        "rate_change_ci": [_round(row["change_low"]), _round(row["change_high"])],
        "since": row["since"].isoformat() if row["since"] else None,
        "before": after if row["kind"] == "order_violation" else None,
        "outcome_scope": row["outcome_scope"],
        "outcome_ratio": _ratio(row),
    }
    ident = {"sop_id": row["sop_id"], "workflow_id": row["sop_id"], "step": row["step"],
             "team": team, "agent_hash": agent, "window_start": row["window_start"]}  # fmt: skip
    return {
        "finding_id": finding_id({**ident, "kind": kind_key}),
        "kind": row["kind"],
        **ident,
        **{c: row[c] for c in ("window_end", "rate", "baseline", "n", "n_baseline", "p_value",
                               "q_value", "flagged", "metric", "outcome_deviating",
                               "outcome_conforming", "outcome_delta", "ci_low", "ci_high")},
        "severity": _rate_severity(row, config),
        "sentence": sentence + ".",
        "details": json.dumps(details, sort_keys=True),
    }  # fmt: skip


def _impact_row(row: dict, notes: _Notes, period: tuple) -> dict:
    sops = row["sops"]
    after = notes.before.get((row["sop_id"], row["step"]), [])
    verb = _deviation_words(row, notes, plural=True)
    if row["sop_id"] is None:
        subject = f"Across {len(sops)} workflows, conversations that {verb}"
    else:
        subject = f"{row['sop_id']} conversations that {verb}"
    ratio = _ratio(row)
    size = f"{ratio:.1f}x; " if ratio is not None else ""
    says = (f"{subject} are {_METRIC_WORDS[row['metric']]} in {row['outcome_deviating']:.0%} "
            f"of cases vs {row['outcome_conforming']:.0%} for the others ({size}"
            f"{_points(row['outcome_delta'])} points, 95% CI {_points(row['ci_low'])} to "
            f"{_points(row['ci_high'])})")  # fmt: skip
    if row["harmful"]:
        sentence = says
    elif row["flagged"]:
        sentence = f"{says}: this deviation fares better and may be a candidate SOP change"
    else:
        sentence = f"{says}; no significant difference (q = {row['q_value']:.2g})"
    details = {
        "deviation": row["kind"],
        "events_deviating": row["x_dev"],
        "events_conforming": row["x_conf"],
        "ratio": ratio,
        "test": row["test"],
        "harmful": row["harmful"],
        "sops": sops,
        "stratified_delta": _round(row["stratified_delta"]),
        "before": after if row["kind"] == "order_violation" else None,
    }
    ident = {"sop_id": row["sop_id"], "workflow_id": row["sop_id"], "step": row["step"],
             "window_start": period[0], "metric": row["metric"]}  # fmt: skip
    return {
        "finding_id": finding_id({**ident, "kind": f"outcome_impact|{row['kind']}"}),
        "kind": "outcome_impact",
        **ident,
        "window_end": period[1],
        "rate": row["n_dev"] / (row["n_dev"] + row["n_conf"]),
        "n": row["n_dev"],
        "n_baseline": row["n_conf"],
        **{c: row[c] for c in ("p_value", "q_value", "flagged", "outcome_deviating",
                               "outcome_conforming", "outcome_delta", "ci_low", "ci_high",
                               "severity")},
        "sentence": sentence + ".",
        "details": json.dumps(details, sort_keys=True),
    }  # fmt: skip


def _subject(group: str, value: str | None) -> tuple[str, bool]:
    """Who deviates, and whether the verb is plural."""
    if group == ALL:
        return "agents", True
    if group == "team":
        return f"team {value}", False
    if group == "agent_hash":
        return f"agent {value[:6]}…", False  # a keyed hash, shortened; never an identity
    return f"agents in {group} {value}", True


def _deviation_words(row: Mapping, notes: _Notes, *, plural: bool) -> str:
    key = (row["sop_id"], row["step"])
    after = notes.before.get(key)
    first = _step_words(after[0]) if after else "the step it must follow"
    words = _VERBS[row["kind"]][plural].format(step=_step_words(row["step"]), before=first)
    if row["kind"] == "gate_skipped" and key in notes.when:
        words += f" (required when {notes.when[key]})"
    return words


def _step_words(step: str) -> str:
    return "*" + step.replace("_", " ") + "*"


def _outcome_words(row: Mapping) -> str:
    deviating, conforming = row["outcome_deviating"], row["outcome_conforming"]
    rates = f"({deviating:.0%} vs {conforming:.0%})"
    name = _METRIC_WORDS[row["metric"]]
    if METRICS[row["metric"]] < 0:
        return f"{name} less often {rates}"
    if conforming > 0:
        return f"{name} {deviating / conforming:.1f}x as often {rates}"
    return f"{name} more often {rates}"


def _ratio(row: Mapping) -> float | None:
    if row["metric"] is None or not row["outcome_conforming"]:
        return None
    return _round(row["outcome_deviating"] / row["outcome_conforming"])


def _window_words(start, window: str) -> str:
    if window == "week":
        return f"In the week of {start.isoformat()}"
    if window == "month":
        return f"In {start.isoformat()[:7]}"
    return f"On {start.isoformat()}"


def _points(share: float) -> str:
    """Format a difference of shares in signed percentage points (never "-0")."""
    return f"{round(100 * share):+d}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


# ---- helpers --------------------------------------------------------------------------
def _arrays(frame: pl.DataFrame, *columns: str) -> list[np.ndarray]:
    return [frame[c].to_numpy().astype(np.int64) for c in columns]


def _before_steps(deviations: pl.DataFrame) -> dict[tuple[str | None, str], list[str]]:
    """(SOP, step) and (None, step) -> the steps it was done before, most frequent first."""
    order = deviations.filter(pl.col("kind") == "order_violation")
    result: dict[tuple[str | None, str], list[str]] = {}
    for keys in (["sop_id", "step"], ["step"]):
        counts = (
            order.group_by(*keys, "before")
            .agg(n=pl.len())
            .sort("n", "before", descending=[True, False])
        )
        for row in counts.group_by(keys, maintain_order=True).agg("before").iter_rows(named=True):
            result[(row.get("sop_id"), row["step"])] = row["before"]
    return result


def _gate_conditions(sops: Mapping[str, Sop]) -> dict[tuple[str, str], str]:
    return {(sop_id, step.id): step.when for sop_id, sop in sops.items() for step in sop.steps
            if step.when}  # fmt: skip


def _period(cases: pl.DataFrame, conversations: pl.DataFrame, window: str) -> tuple:
    """First and last day of the windows the analysed conversations fall in."""
    dates = (
        cases.select("conversation_id")
        .join(conversations.select("conversation_id", "started_at"), on="conversation_id")
        .select(
            first=window_start(pl.col("started_at"), window).min(),
            last=window_start(pl.col("started_at"), window).max(),
        )  # fmt: skip
    )
    first, last = dates.row(0)
    if last is None:
        return None, None
    return first, pl.select(window_end(pl.lit(last, pl.Date), window)).item()


def _require(frame: pl.DataFrame, columns, table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"drift: the {table} frame lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(columns)}; pass the {table} table"
        )
