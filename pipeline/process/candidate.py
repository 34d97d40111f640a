"""The candidate SOP of each intent: step support and role, position, order, branches.

Precedence compares first occurrences of steps per case; the candidate keeps each
non-rare step's strong predecessors (a transitive reduction through mandatory steps)
and its branches in the directly-follows graph. Everything after finding each case's
trace runs on one case per variant, weighted by its cases.
"""

from __future__ import annotations

import polars as pl

from pipeline.process.dfg import dfg_counts
from pipeline.process.log import END, START, first_occurrences, ordered_log
from pipeline.process.variants import by_variant

MANDATORY, OPTIONAL, RARE = "mandatory", "optional", "rare"


def _precedence(firsts: pl.DataFrame, *, intent_col: str, activity_col: str) -> pl.DataFrame:
    # A self-join of first occurrences per case: O(sum over cases of distinct steps^2);
    # keeping a < b halves it, and both directions come from the same counts.
    left = firsts.lazy().select("_case", intent_col, "_w", a=activity_col, _pa="_first")
    right = firsts.lazy().select("_case", b=activity_col, _pb="_first")
    pairs = (
        left.join(right, on="_case")
        .filter(pl.col("a") < pl.col("b"))
        .group_by(intent_col, "a", "b")
        .agg(
            n_both=pl.col("_w").sum().cast(pl.Int64),
            _ab=pl.col("_w").filter(pl.col("_pa") < pl.col("_pb")).sum().cast(pl.Int64),
        )
        .collect()
    )
    both = pl.col("n_both")
    forward = pairs.select(intent_col, "a", "b", "n_both", share_a_before_b=pl.col("_ab") / both)
    backward = pairs.select(
        intent_col,
        a=pl.col("b"),
        b=pl.col("a"),
        n_both=both,
        share_a_before_b=(both - pl.col("_ab")) / both,
    )
    return pl.concat([forward, backward]).sort(intent_col, "a", "b", nulls_last=True)


def precedence(
    events: pl.DataFrame,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Measure how often step ``a`` comes before step ``b``, per intent.

    Compares first occurrences: in ``a b a`` the step ``a`` precedes ``b``.

    Parameters
    ----------
    events
        The step event log (case, intent, order and step columns).
    case_col, activity_col, intent_col, order_col
        Column roles in ``events``.

    Returns
    -------
    polars.DataFrame
        ``intent_col, a, b, n_both, share_a_before_b``: one row per ordered pair of
        distinct steps seen together in at least one case; ``n_both`` counts those
        cases and ``share_a_before_b`` the share of them where ``a`` comes first
        (``(a, b)`` and ``(b, a)`` shares add up to 1). Sorted by intent, ``a``, ``b``.
    """
    frame = ordered_log(
        events,
        case_col=case_col,
        activity_col=activity_col,
        intent_col=intent_col,
        order_col=order_col,
    )
    firsts = first_occurrences(frame, intent_col=intent_col, activity_col=activity_col)
    return _precedence(firsts, intent_col=intent_col, activity_col=activity_col)


def check_shares(**shares: float) -> None:
    """Raise ValueError for shares :func:`discover_candidate_sop` cannot mine with."""
    for name, value in shares.items():
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name}: expected a share in [0, 1], found {value!r}")
    if shares["rare_support"] > shares["mandatory_support"]:
        raise ValueError(
            f"rare_support ({shares['rare_support']}) must not exceed mandatory_support "
            f"({shares['mandatory_support']})"
        )
    if shares["precedence_share"] <= 0.5:
        raise ValueError(
            f"precedence_share: expected more than 0.5 (a majority order), found "
            f"{shares['precedence_share']!r}; below that both a<b and b<a can hold"
        )
    if shares["branch_share"] == 0.0:
        raise ValueError("branch_share: expected more than 0, found 0 (every edge would branch)")


def discover_candidate_sop(
    events: pl.DataFrame,
    *,
    mandatory_support: float = 0.8,
    rare_support: float = 0.1,
    precedence_share: float = 0.9,
    branch_share: float = 0.2,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Mine a candidate SOP per intent: each step's support, role, position, order, branches.

    Reads the step event log; produces the ``candidate_sops`` table. Cost: one sort
    (none for a log in case order) and a group-by over events to find each case's trace;
    everything after runs on one case per distinct trace, weighted by its cases (the
    precedence self-join: sum over variants of distinct steps squared); ``after`` works
    on steps x steps per intent.

    Parameters
    ----------
    events
        The step event log (case, intent, order and step columns).
    mandatory_support
        A step in at least this share of the intent's cases is ``mandatory``.
    rare_support
        A step in fewer than this share of the intent's cases is ``rare``; steps in
        between are ``optional``.
    precedence_share
        Step ``a`` is a predecessor of ``b`` when ``a`` comes first in at least this
        share of the cases holding both (more than 0.5, so the relation has no 2-cycles).
    branch_share
        A successor counts as a branch when it takes at least this share of the
        step's outgoing transitions.
    case_col, activity_col, intent_col, order_col
        Column roles in ``events``.

    Returns
    -------
    polars.DataFrame
        ``intent_col, step, support, n_conversations, role, position, after, branches``,
        one row per (intent, step), sorted by intent, ``position``, ``step``.
        ``position`` is the median over cases of the step's first occurrence divided
        by (case length - 1), 0 for one-event cases. ``after`` (list, empty for rare
        steps) holds the non-rare predecessors of a non-rare step, minus those implied
        through a mandatory one (``a`` is dropped when ``a`` precedes a mandatory ``c``
        that precedes the step: a transitive reduction; an optional ``c`` implies
        nothing in the cases without it), ordered by position. ``branches`` holds the
        successor steps (not ``■``, not the step itself) taking at least
        ``branch_share`` of the step's outgoing transitions when there are two or
        more, by share; else empty.

    Raises
    ------
    ValueError
        A share is outside [0, 1], ``rare_support > mandatory_support``,
        ``precedence_share <= 0.5`` or ``branch_share == 0``.
    """
    check_shares(
        mandatory_support=mandatory_support,
        rare_support=rare_support,
        precedence_share=precedence_share,
        branch_share=branch_share,
    )
    frame = ordered_log(
        events,
        case_col=case_col,
        activity_col=activity_col,
        intent_col=intent_col,
        order_col=order_col,
    )
    return candidate_table(
        frame,
        mandatory_support=mandatory_support,
        rare_support=rare_support,
        precedence_share=precedence_share,
        branch_share=branch_share,
        intent_col=intent_col,
        activity_col=activity_col,
    )


def candidate_table(
    frame: pl.DataFrame,
    *,
    mandatory_support: float,
    rare_support: float,
    precedence_share: float,
    branch_share: float,
    intent_col: str,
    activity_col: str,
) -> pl.DataFrame:
    """Return the ``candidate_sops`` rows of an :func:`~pipeline.process.log.ordered_log` frame."""
    key = [intent_col, "step"]
    frame = by_variant(frame, intent_col=intent_col, activity_col=activity_col)
    firsts = first_occurrences(frame, intent_col=intent_col, activity_col=activity_col)
    # The case count comes through a window, not a join: polars divides by a broadcast
    # (scalar) column as a multiplication by its reciprocal, so 7 / 10 would give
    # 0.7000000000000001 and a support exactly at a bound could land on the wrong side.
    case_weight = pl.col("_w").filter(pl.col("_case").is_first_distinct())
    steps = (
        firsts.with_columns(_cases=case_weight.sum().over(intent_col))
        .group_by(intent_col, activity_col)
        .agg(
            n_conversations=pl.col("_w").sum().cast(pl.Int64),
            position=_weighted_median("_norm", "_w"),
            _cases=pl.col("_cases").first(),
        )
        .rename({activity_col: "step"})
        .with_columns(support=pl.col("n_conversations") / pl.col("_cases"))
        .with_columns(
            role=pl.when(pl.col("support") >= mandatory_support)
            .then(pl.lit(MANDATORY))
            .when(pl.col("support") < rare_support)
            .then(pl.lit(RARE))
            .otherwise(pl.lit(OPTIONAL))
        )
    )
    kept = steps.filter(pl.col("role") != RARE).select(intent_col, "step", "position", "role")
    after = _after(
        _precedence(firsts, intent_col=intent_col, activity_col=activity_col),
        kept,
        intent_col=intent_col,
        precedence_share=precedence_share,
    )
    branches = (
        dfg_counts(frame, intent_col=intent_col, activity_col=activity_col, ts_col=None)
        .filter(
            (pl.col("src") != START)
            & (pl.col("dst") != END)
            & (pl.col("dst") != pl.col("src"))
            & (pl.col("share") >= branch_share)
        )
        .filter(pl.len().over(intent_col, "src") >= 2)
        .sort([intent_col, "src", "share", "dst"], descending=[False, False, True, False])
        .group_by(intent_col, "src", maintain_order=True)
        .agg(branches=pl.col("dst"))
        .rename({"src": "step"})
    )
    empty = pl.lit([], dtype=pl.List(pl.String))
    return (
        steps.join(after, on=key, how="left", nulls_equal=True)
        .join(branches, on=key, how="left", nulls_equal=True)
        .with_columns(pl.col("after").fill_null(empty), pl.col("branches").fill_null(empty))
        .sort([intent_col, "position", "step"], nulls_last=True)
        .select(
            intent_col,
            "step",
            "support",
            "n_conversations",
            "role",
            "position",
            "after",
            "branches",
        )
    )


def _after(
    prec: pl.DataFrame, kept: pl.DataFrame, *, intent_col: str, precedence_share: float
) -> pl.DataFrame:
    """Return ``intent_col, step, after``: each kept step's nearest strong predecessors.

    ``kept`` holds the non-rare steps (``step, position, role``). Works on the
    precedence relation among them only: steps x steps per intent.
    """
    pos_a = kept.select(intent_col, a=pl.col("step"), _pos_a=pl.col("position"))
    pos_b = kept.select(intent_col, b=pl.col("step"))
    rel = (
        prec.filter(pl.col("share_a_before_b") >= precedence_share)
        .join(pos_a, on=[intent_col, "a"], nulls_equal=True)
        .join(pos_b, on=[intent_col, "b"], how="semi", nulls_equal=True)
    )
    # a -> c -> b implies a -> b only where c occurs, so only a mandatory c may stand in
    # for a: through an optional c, cases without c would lose the a -> b constraint.
    mandatory = kept.filter(pl.col("role") == MANDATORY).select(intent_col, c=pl.col("step"))
    implied = (
        rel.select(intent_col, "a", c=pl.col("b"))
        .join(mandatory, on=[intent_col, "c"], how="semi", nulls_equal=True)
        .join(
            rel.select(intent_col, c=pl.col("a"), b=pl.col("b")),
            on=[intent_col, "c"],
            nulls_equal=True,
        )
        .select(intent_col, "a", "b")
        .unique()
    )
    return (
        rel.join(implied, on=[intent_col, "a", "b"], how="anti", nulls_equal=True)
        .sort([intent_col, "b", "_pos_a", "a"], nulls_last=True)
        .group_by(intent_col, "b", maintain_order=True)
        .agg(after=pl.col("a"))
        .rename({"b": "step"})
    )


def _weighted_median(value: str, weight: str) -> pl.Expr:
    """Return the median of ``value``, each row counted ``weight`` times (an aggregation).

    Equals the plain median of the expanded values: the middle one, or the mean of the
    two middle ones when the total weight is even.
    """
    ordered = pl.col(value).sort_by(value)
    cum = pl.col(weight).sort_by(value).cum_sum()
    total = pl.col(weight).sum()
    low = ordered.filter(cum > (total - 1) // 2).first()
    high = ordered.filter(cum > total // 2).first()
    return (low + high) / 2
