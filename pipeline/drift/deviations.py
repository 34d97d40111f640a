"""Deviations from the SOPs, counted per window and group, and against outcomes.

The counting half of :func:`pipeline.drift.step_rates.find_drift` (which documents the statistics):
from ``conformance`` (one row per conversation and SOP, the highest version), its
deviations (:func:`explode_deviations`), the conversations' windows and groups
(:func:`group_windows`), the tested (SOP, deviation, group, window) cells with their
baselines (:func:`count_step_rates`) and the 2x2 tables of deviation against outcome
(:func:`count_outcomes`). Joins and group-bys over (conversation, deviation) and
(conversation, group) pairs; never a loop over conversations.
"""

from __future__ import annotations

import polars as pl

from pipeline.config import DriftConfig
from pipeline.drift.windows import window_start
from pipeline.errors import SchemaError

#: Deviation kind -> the ``conformance`` list column that holds its steps.
DEVIATIONS = {
    "missing": "missing",
    "skipped": "skipped",
    "order_violation": "order_violations",
    "undocumented": "undocumented",
    "gate_skipped": "skipped_gates",
}
#: Outcome metric -> +1 when a higher rate is harmful, -1 when a lower rate is.
METRICS = {"repeat_contact": 1, "escalated": 1, "resolved": -1}
#: Kinds whose outcome impact is compared only among conversations that reached the step.
REACH_KINDS = ("missing", "skipped")
ALL = "all"  # the group of all conversations (team and agent_hash null)
#: The columns of one step-rate series: its windows are tested one by one.
SERIES = ["sop_id", "kind", "step", "group", "value"]
_BEFORE = " before "


def explode_deviations(cases: pl.DataFrame) -> pl.DataFrame:
    """One row per (conversation, SOP, kind, step) a conversation deviates in.

    Parameters
    ----------
    cases
        ``conversation_id, sop_id`` and the :data:`DEVIATIONS` list columns, one row per
        (conversation, SOP); ``skipped`` may be absent.

    Returns
    -------
    polars.DataFrame
        ``conversation_id, sop_id, kind, step, before``; for an order violation "B before
        A" the step is B and ``before`` holds A, else ``before`` is null.

    Raises
    ------
    SchemaError
        An order violation is not ``"B before A"``.
    """
    parts = [
        cases.select("conversation_id", "sop_id", kind=pl.lit(kind), item=pl.col(column))
        .explode("item")
        .drop_nulls("item")
        for kind, column in DEVIATIONS.items()
        if column in cases.columns  # ``skipped`` is absent from a table written before it
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


def group_windows(
    cases: pl.DataFrame, conversations: pl.DataFrame, config: DriftConfig
) -> pl.DataFrame:
    """One row per (conversation, SOP, group): its window and the window's rank in the SOP.

    The groups are :data:`ALL` (``value`` null), then each ``config.breakdown`` column
    with the conversation's value (none where it is null). Conversations without a start
    are left out.

    Returns
    -------
    polars.DataFrame
        ``conversation_id, sop_id, window_start, rank, group, value``; ``rank`` 1 is the
        SOP's first window.

    Raises
    ------
    SchemaError
        ``started_at`` is neither a datetime nor a date.
    """
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


def count_step_rates(
    grouped: pl.DataFrame, deviations: pl.DataFrame, *, config: DriftConfig
) -> pl.DataFrame:
    """Count the tested (SOP, kind, step, group, window) cells: ``n, k`` and baselines.

    A cell is tested when its window is past the ``config.baseline_windows`` first and
    both it and its group's baseline hold ``config.min_count`` conversations.

    Returns
    -------
    polars.DataFrame
        :data:`SERIES`, ``window_start, n, k, n_baseline, k_baseline`` (conversations,
        and those deviating) and ``informative`` (a test can give p < 1), sorted by
        series and window.
    """
    in_baseline = pl.col("rank") <= config.baseline_windows
    cell = ["sop_id", "group", "value", "window_start", "rank"]
    totals = grouped.group_by(cell).agg(n=pl.len())
    hits = (
        deviations.select("conversation_id", "sop_id", "kind", "step").unique()
        .join(grouped, on=["conversation_id", "sop_id"])
        .group_by(*SERIES, "window_start", "rank")
        .agg(k=pl.len())
    )  # fmt: skip
    n_base = (
        totals.filter(in_baseline)
        .group_by("sop_id", "group", "value")
        .agg(n_baseline=pl.col("n").sum())
    )
    k_base = hits.filter(in_baseline).group_by(SERIES).agg(k_baseline=pl.col("k").sum())
    candidates = deviations.select("sop_id", "kind", "step").unique()
    return (
        totals.filter(~in_baseline & (pl.col("n") >= config.min_count))
        .join(
            n_base.filter(pl.col("n_baseline") >= config.min_count),
            on=["sop_id", "group", "value"],
            nulls_equal=True,
        )  # fmt: skip
        .join(candidates, on="sop_id")
        .join(hits.drop("rank"), on=[*SERIES, "window_start"], how="left", nulls_equal=True)
        .join(k_base, on=SERIES, how="left", nulls_equal=True)
        .with_columns(pl.col("k", "k_baseline").fill_null(0))
        .select(
            *SERIES,
            "window_start",
            "n",
            "k",
            "n_baseline",
            "k_baseline",
            informative=_informative("k", "n", "k_baseline", "n_baseline"),
        )  # fmt: skip
        .sort(*SERIES, "window_start", nulls_last=False)
    )


def count_outcomes(
    cases: pl.DataFrame,
    deviations: pl.DataFrame,
    outcomes: pl.DataFrame,
    *,
    min_count: int,
    reached: pl.DataFrame | None = None,
) -> pl.DataFrame:
    """Per (SOP or pooled, kind, step, metric): events and sizes of deviating vs other.

    A skipped step (kinds :data:`REACH_KINDS`) is compared only among the conversations
    that reached the point where it belongs (``reached``: they did it, or a step
    documented after it): a call escalated or abandoned before the step did not skip
    it, and counting it would blame the step for an outcome that came first (reverse
    causality). Without ``reached`` every conversation of the SOP is compared.

    Returns
    -------
    polars.DataFrame
        ``sop_id`` (null for a step pooled over its two or more SOPs), ``kind, step,
        metric, n_dev, x_dev, n_conf, x_conf, sops`` and ``stratified_delta`` (pooled
        rows: the Mantel-Haenszel difference over SOPs); only comparisons with
        ``min_count`` conversations on both sides that can give p < 1.
    """
    measured = cases.select("conversation_id", "sop_id").join(
        outcomes.unique("conversation_id", keep="last", maintain_order=True)
        .select("conversation_id", *[pl.col(m).cast(pl.Int64) for m in METRICS])
        .drop_nulls(),  # the contract has no nulls; a partial row would bias one metric
        on="conversation_id",
    )
    sums = [pl.len().alias("n"), *[pl.col(m).sum() for m in METRICS]]
    key = ["sop_id", "kind", "step"]
    deviating = (
        deviations.select("conversation_id", *key)
        .unique()
        .join(measured, on=["conversation_id", "sop_id"])
    )
    reach = pl.col("kind").is_in(REACH_KINDS)
    if reached is not None:
        reached = reached.select("conversation_id", "sop_id", "step").unique()
        deviating = pl.concat([
            deviating.filter(~reach),
            deviating.filter(reach).join(reached, on=["conversation_id", "sop_id", "step"],
                                         how="semi"),
        ])  # fmt: skip
    dev_sums = deviating.group_by(key).agg(sums)
    population = dev_sums.select(key).join(measured.group_by("sop_id").agg(sums), on="sop_id")
    if reached is not None:
        per_step = reached.join(measured, on=["conversation_id", "sop_id"]).group_by(
            "sop_id", "step").agg(sums)  # fmt: skip
        population = pl.concat([
            population.filter(~reach),
            dev_sums.filter(reach).select(key).join(per_step, on=["sop_id", "step"]),
        ])  # fmt: skip
    per_sop = (
        dev_sums.join(population, on=key, suffix="_all")
        .unpivot(
            index=[*key, "n", "n_all"], on=list(METRICS), variable_name="metric", value_name="x_dev"
        )  # fmt: skip
        .join(
            population.unpivot(
                index=[*key, "n"], on=list(METRICS), variable_name="metric", value_name="x_all"
            ).drop("n"),
            on=[*key, "metric"],
        )  # fmt: skip
        .select(
            *key,
            "metric",
            n_dev="n",
            x_dev="x_dev",
            n_conf=pl.col("n_all") - pl.col("n"),
            x_conf=pl.col("x_all") - pl.col("x_dev"),
        )  # fmt: skip
    )
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
