"""Stage 7, step-level drift: deviation rates per window and their outcome impact.

:func:`find_drift` reads ``conformance``, ``outcomes``, ``conversations`` and the
documented SOPs and returns the step-level rows of ``drift_findings``:

- kinds ``missing``, ``order_violation``, ``undocumented``, ``gate_skipped``: per SOP,
  deviation (a step of ``conformance.missing`` etc.; for an order violation ``"B before
  A"`` the step is B, done too early, with A in ``details.before``) and group (all
  conversations, then each value of each ``config.breakdown`` column), the share of the
  group's conversations in each window showing the deviation (``rate``) against the
  same group's share in the SOP's first ``baseline_windows`` windows, pooled
  (``baseline``). Windows come from :func:`pipeline.drift.windows.window_start`.
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
  ``large_rise_factor`` (twice) ``min_effect``) or strong evidence (``q_value < alpha /
  strong_alpha_divisor``, i.e. ``alpha / 10``); ``medium`` with a harmful outcome
  alone, or with a large rise and strong evidence; else ``low``;
- outcome impact: ``high`` when harmful (more repeat contact or escalation, less
  resolution) by at least ``min_effect``; ``medium`` when harmful by less; ``low`` when
  the deviation fares better (its sentence names it a candidate SOP change).

The parts: :mod:`pipeline.drift.deviations` counts, :mod:`pipeline.drift.stats` tests,
this module judges and links, :mod:`pipeline.drift.sentences` writes the rows and their
sentences. Cost: a few joins and group-bys over (conversation, deviation) and
(conversation, group) pairs, numpy over the comparisons, Python only over finding rows
(ids, sentences, details).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import polars as pl

from pipeline import schema
from pipeline.config import DriftConfig
from pipeline.drift.deviations import (
    DEVIATIONS,
    METRICS,
    REACH_KINDS,
    SERIES,
    count_outcomes,
    count_step_rates,
    explode_deviations,
    group_windows,
)
from pipeline.drift.findings import DRIFT_FINDINGS_SCHEMA
from pipeline.drift.reach import reached_steps
from pipeline.drift.runs import merge_runs, nest_groups
from pipeline.drift.sentences import drift_notes, impact_row, rate_row
from pipeline.drift.stats import bh_adjust, newcombe_interval, two_proportion_test
from pipeline.drift.windows import window_end, window_end_date, window_start
from pipeline.frames import require_columns
from pipeline.sops.model import Sop

_CONFORMANCE_COLUMNS = ("conversation_id", "sop_id", "version",
                        *(c for c in DEVIATIONS.values() if c != "skipped"))  # fmt: skip
_OUTCOME_COLUMNS = ("conversation_id", *METRICS)


def find_drift(
    conformance: pl.DataFrame,
    outcomes: pl.DataFrame,
    conversations: pl.DataFrame,
    sops: Mapping[str, Sop],
    *,
    config: DriftConfig,
    step_events: pl.DataFrame | None = None,
    step_names: Mapping[str, str] | None = None,
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
        sop_id -> :class:`~pipeline.sops.model.Sop`; an approval gate's ``when`` condition is
        quoted in its sentences. SOPs absent here are still analysed.
    config
        ``window``, ``baseline_windows``, ``min_count``, ``alpha``, ``min_effect``,
        ``breakdown``, ``large_rise_factor``, ``strong_alpha_divisor``, ``merge_gap``.
    step_events
        ``conversation_id, step_id, sop_id``: with them, the outcome of a skipped step
        (kinds ``missing``, ``skipped``) is compared only among the conversations that
        reached it (:mod:`pipeline.drift.reach`); without, among all of the SOP's.
    step_names
        Step id -> key phrase of the steps found in the data (no SOP's): sentences name
        them so (:func:`pipeline.drift.sentences.step_words`), never by their id.

    Returns
    -------
    polars.DataFrame
        :data:`~pipeline.drift.findings.DRIFT_FINDINGS_SCHEMA` (``schema.batch_columns`` of
        ``drift_findings``): every tested step-rate row and every tested outcome row,
        sorted by kind, SOP, step, team, agent, window and metric. ``finding_id`` hashes
        the identifying fields (:func:`pipeline.drift.findings.finding_id`), with the group
        of a queue/channel breakdown and the deviation of an outcome row added to the
        kind in the key, and no metric for a step-rate row (its metric is a link that
        may change): the same finding gets the same id in every run.

    Raises
    ------
    SchemaError
        A frame lacks a required column, or an order violation is not ``"B before A"``.
    """
    for frame, columns, table in (
        (conformance, _CONFORMANCE_COLUMNS, schema.CONFORMANCE),
        (outcomes, _OUTCOME_COLUMNS, schema.OUTCOMES),
        (conversations, ("conversation_id", "started_at", *config.breakdown), schema.CONVERSATIONS),
    ):
        require_columns(frame, columns, table=table, what="drift", fix=f"pass the {table} table")
    cases = (
        conformance.sort("version")
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
        .select(
            "conversation_id",
            "sop_id",
            *(c for c in DEVIATIONS.values() if c in conformance.columns),
        )  # fmt: skip
    )
    deviations = explode_deviations(cases)
    rates = count_step_rates(group_windows(cases, conversations, config), deviations, config=config)
    reached = None if step_events is None else reached_steps(step_events, sops)
    impact = count_outcomes(cases, deviations, outcomes, min_count=config.min_count,
                            reached=reached)  # fmt: skip
    impact = impact.with_columns(reach=pl.col("kind").is_in(REACH_KINDS) & (reached is not None))
    rates, impact = _judge(rates, impact, config=config)
    rates = _rate_severity(_link_outcomes(rates, impact), config=config)
    findings, windows = merge_runs(rates, gap=config.merge_gap)
    period = _period(cases, conversations, config.window)
    notes = drift_notes(deviations, sops, step_names)
    rows = [rate_row(r, notes, window=config.window)
            for frame in (findings, windows) for r in frame.iter_rows(named=True)]  # fmt: skip
    rows = nest_groups(rows + [impact_row(r, notes, period) for r in impact.iter_rows(named=True)])
    return pl.DataFrame(rows, schema=DRIFT_FINDINGS_SCHEMA, orient="row").sort(
        "kind", "sop_id", "step", "team", "agent_hash", "window_start", "metric", "finding_id",
        nulls_last=False,
    )  # fmt: skip


def _judge(rates: pl.DataFrame, impact: pl.DataFrame, *, config: DriftConfig):
    """Add p- and q-values (one Benjamini-Hochberg family), effects and flags to both.

    Step-rate rows without information stay until "since" is known, then go.
    """
    p_rate, fisher_rate = two_proportion_test(*_arrays(rates, "k", "n", "k_baseline", "n_baseline"))
    p_impact, fisher_impact = two_proportion_test(*_arrays(impact, "x_dev", "n_dev", "x_conf",
                                                           "n_conf"))  # fmt: skip
    informative = rates["informative"].to_numpy()
    p_all = np.concatenate([p_rate[informative], p_impact])
    q_all = np.array(bh_adjust(p_all), dtype=np.float64)
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
    run = (~pl.col("flagged")).cum_sum().over(SERIES, order_by="window_start")
    rates = rates.with_columns(
        since=pl.when("flagged").then(
            pl.when("flagged").then("window_start").min().over(*SERIES, run)
        ),
        window_end=window_end(pl.col("window_start"), config.window),
        _unflagged=run,  # windows without the deviation count as gaps, written or not
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


def _rate_severity(rates: pl.DataFrame, *, config: DriftConfig) -> pl.DataFrame:
    """Add the severity of each step-rate row (see the module docstring)."""
    harm = pl.col("metric").is_not_null()
    rise = pl.col("rate") - pl.col("baseline")
    large = rise >= config.large_rise_factor * config.min_effect - 1e-12
    strong = pl.col("q_value") < config.alpha / config.strong_alpha_divisor
    return rates.with_columns(
        severity=pl.when(~pl.col("flagged"))
        .then(pl.lit("info"))
        .when(harm & (large | strong))
        .then(pl.lit("high"))
        .when(harm | (large & strong))
        .then(pl.lit("medium"))
        .otherwise(pl.lit("low"))
    )


def _arrays(frame: pl.DataFrame, *columns: str) -> list[np.ndarray]:
    return [frame[c].to_numpy().astype(np.int64) for c in columns]


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
    return first, window_end_date(last, window)
