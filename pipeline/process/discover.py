"""Stage 6, discover: the de-facto process of each intent, mined from its step event log.

Reads the step event log: one row per step event with the conversation (case), its
intent, the event's order (``seq``), the step and its timestamp; ``step_events``
joined with ``intent_assignments``. Produces the per-intent tables ``variants``,
``dfg_edges`` and ``candidate_sops``, and from a candidate a playbook draft in the
documented-SOP schema (:mod:`pipeline.sops.model`), so that a reviewed draft can become the
SOP later runs are checked against.

Every function is pure (a frame in, a frame out) and vectorised in polars: the cost is
a few sorts, group-bys and joins over the events, never a Python loop over cases. A
case is a (intent, conversation) pair, ordered by ``seq``; events without a step are
ignored. Consecutive repeats of a step are expected to be collapsed by the caller; when
they are not, they stay in the variants and show as self-loops in the graph, and the
candidate SOP uses each step's first occurrence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Collection, Iterable, Mapping, Sequence

import polars as pl

from pipeline.config import DiscoverConfig
from pipeline.errors import SchemaError, SopError
from pipeline.evaluate.metrics import END, START
from pipeline.sops.model import Sop, Step, parse_sop, sop_to_dict

# Joins a variant's steps before hashing; a control character, so no step id holds it.
SEP = "\x1f"
VARIANT_ID_LENGTH = 12  # hex digits of sha1: collisions need ~16M variants per intent
MANDATORY, OPTIONAL, RARE = "mandatory", "optional", "rare"
DRAFT_SOURCE = "mined draft"

_INVALID_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


# ---- the event log ---------------------------------------------------------------------
def _ordered(
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
    ).with_columns(_positions())


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


def _positions() -> list[pl.Expr]:
    """``_pos`` and ``_len`` of a frame sorted by ``_case``, from row numbers alone.

    A window over a million cases would build a hash table; the rows of a case are
    contiguous, so its first and last row numbers give both in one streaming pass.
    """
    row = pl.int_range(pl.len(), dtype=pl.Int32)  # 2**31 events: past any log in memory
    first = pl.when(pl.col("_case").ne_missing(pl.col("_case").shift())).then(row).forward_fill()
    last = pl.when(pl.col("_case").ne_missing(pl.col("_case").shift(-1))).then(row).backward_fill()
    return [(row - first).alias("_pos"), (last - first + 1).alias("_len")]


def _first_occurrences(frame: pl.DataFrame, *, intent_col: str, activity_col: str) -> pl.DataFrame:
    """Return one row per (case, step): ``_first`` position and its normalised value.

    ``_norm`` is ``_first / (_len - 1)`` in 0..1 (0 for a single-event case). ``_w`` is
    the number of cases the row stands for: the frame's ``_w`` (see :func:`_by_variant`),
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


def _by_variant(frame: pl.DataFrame, *, intent_col: str, activity_col: str) -> pl.DataFrame:
    """Keep one case per distinct trace of each intent, weighted by its number of cases.

    Takes and returns an :func:`_ordered` frame; the result adds ``_w`` (cases with the
    same intent and step sequence as the kept one). Counts over cases become sums of
    ``_w`` over a frame as small as the variants: what makes discovery scale with the
    variety of the log, not its length.
    """
    cases = frame.group_by("_case").agg(
        pl.col(intent_col).first(), _key=pl.col(activity_col).str.join(SEP)
    )
    kept = cases.group_by(intent_col, "_key").agg(
        _case=pl.col("_case").min(), _w=pl.len().cast(pl.Int64)
    )
    return frame.join(kept.select("_case", "_w"), on="_case", maintain_order="left")


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


# ---- variants --------------------------------------------------------------------------
def not_steps(step_types: pl.DataFrame, sops: Sequence[Sop] = ()) -> list[str]:
    """Step ids that are no workflow step: ``other`` and generic greetings/closings.

    A conversation-management type has source ``sop`` but no SOP step behind it:
    ``sop_steps`` empty where the frame has that column (a step shared by several SOPs
    lists them all), else no step of ``sops`` has its id.
    """
    generic = pl.col("source") == "sop"
    if "sop_steps" in step_types.columns:
        generic &= pl.col("sop_steps").list.len() == 0
    else:
        generic &= ~pl.col("step_id").is_in([step.id for sop in sops for step in sop.steps])
    return sorted({"other", *step_types.filter(generic)["step_id"].to_list()})


def variant_id(steps: Iterable[str]) -> str:
    """Return the stable id of a trace variant: 12 hex digits of sha1 of its steps.

    The steps are joined with :data:`SEP` (the unit separator, U+001F); the discover
    functions reject step ids that hold it, so distinct sequences give distinct keys.
    """
    return _hash_key(SEP.join(steps))


def _hash_key(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:VARIANT_ID_LENGTH]


def _traces(
    frame: pl.DataFrame, *, case_col: str, activity_col: str, intent_col: str
) -> pl.DataFrame:
    """Return one row per case of an :func:`_ordered` frame, with its variant.

    Columns: intent, case, ``sequence`` (steps in order), ``_key`` (the steps joined)
    and ``variant_id``.
    """
    _check_separator(frame, activity_col)
    traces = frame.group_by("_case", maintain_order=True).agg(
        pl.col(intent_col).first(),
        pl.col(case_col).first(),
        sequence=pl.col(activity_col),
    )
    keys = traces.select(_key=pl.col("sequence").list.join(SEP))["_key"]
    # Hashing is Python, but over distinct variants only: O(variants), not O(cases).
    distinct = keys.unique().to_list()
    ids = pl.DataFrame(
        {"_key": distinct, "variant_id": [_hash_key(k) for k in distinct]},
        schema={"_key": pl.String, "variant_id": pl.String},
    )
    return traces.with_columns(_key=keys).join(ids, on="_key", how="left", maintain_order="left")


def variant_of_case(
    events: pl.DataFrame,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Map each case to its trace variant, so per-variant results can be joined back.

    Parameters
    ----------
    events
        The step event log (case, intent, order and step columns).
    case_col, activity_col, intent_col, order_col
        Column roles in ``events``.

    Returns
    -------
    polars.DataFrame
        ``case_col, intent_col, variant_id``, one row per case, sorted by intent and case.
    """
    roles = {"case_col": case_col, "activity_col": activity_col, "intent_col": intent_col}
    traces = _traces(_ordered(events, order_col=order_col, **roles), **roles)
    return traces.select(case_col, intent_col, "variant_id").sort(
        intent_col, case_col, nulls_last=True, maintain_order=True
    )


def discover_variants(
    events: pl.DataFrame,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Count the trace variants (distinct step sequences) of each intent.

    Reads the step event log; produces the ``variants`` table.

    Parameters
    ----------
    events
        The step event log (case, intent, order and step columns).
    case_col, activity_col, intent_col, order_col
        Column roles in ``events``.

    Returns
    -------
    polars.DataFrame
        ``intent_col, variant_id, sequence (list[str]), n (cases), share (of the
        intent's cases), rank`` (1 = most frequent; ties ordered by sequence), sorted
        by intent and rank.
    """
    roles = {"case_col": case_col, "activity_col": activity_col, "intent_col": intent_col}
    return _variants(_ordered(events, order_col=order_col, **roles), **roles)


def _variants(frame: pl.DataFrame, *, case_col: str, activity_col: str, intent_col: str):
    traces = _traces(frame, case_col=case_col, activity_col=activity_col, intent_col=intent_col)
    # The joined key orders like the step list: SEP sorts before every printable character.
    return (
        traces.group_by(intent_col, "_key")
        .agg(pl.col("variant_id").first(), pl.col("sequence").first(), n=pl.len().cast(pl.Int64))
        .with_columns(share=pl.col("n") / pl.col("n").sum().over(intent_col))
        .sort([intent_col, "n", "_key"], descending=[False, True, False], nulls_last=True)
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(intent_col))
        .select(intent_col, "variant_id", "sequence", "n", "share", "rank")
    )


def _check_separator(frame: pl.DataFrame, activity_col: str) -> None:
    if frame[activity_col].str.contains(SEP, literal=True).any():
        raise SchemaError(
            f"event log: column {activity_col} holds a step id with the control character "
            "\\x1f, which variant ids use as a separator; remove it from step ids"
        )


# ---- directly-follows graph ------------------------------------------------------------
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


def _dfg(frame: pl.DataFrame, *, intent_col: str, activity_col: str, ts_col: str | None):
    """Edge counts (``_w``-weighted on a :func:`_by_variant` frame, which has no gaps)."""
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
    frame = _ordered(
        events,
        case_col=case_col,
        activity_col=activity_col,
        intent_col=intent_col,
        order_col=order_col,
        ts_col=ts_col,
    )
    return _dfg_table(frame, intent_col=intent_col, activity_col=activity_col, ts_col=ts_col)


def _dfg_table(frame: pl.DataFrame, *, intent_col: str, activity_col: str, ts_col: str | None):
    return (
        _dfg(frame, intent_col=intent_col, activity_col=activity_col, ts_col=ts_col)
        .sort([intent_col, "n", "src", "dst"], descending=[False, True, False, False])
        .select(intent_col, "src", "dst", "n", "share", "median_gap_s")
    )


# ---- precedence and the candidate SOP --------------------------------------------------
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
    frame = _ordered(
        events,
        case_col=case_col,
        activity_col=activity_col,
        intent_col=intent_col,
        order_col=order_col,
    )
    firsts = _first_occurrences(frame, intent_col=intent_col, activity_col=activity_col)
    return _precedence(firsts, intent_col=intent_col, activity_col=activity_col)


def _check_shares(**shares: float) -> None:
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
    _check_shares(
        mandatory_support=mandatory_support,
        rare_support=rare_support,
        precedence_share=precedence_share,
        branch_share=branch_share,
    )
    frame = _ordered(
        events,
        case_col=case_col,
        activity_col=activity_col,
        intent_col=intent_col,
        order_col=order_col,
    )
    return _candidate(
        frame,
        mandatory_support=mandatory_support,
        rare_support=rare_support,
        precedence_share=precedence_share,
        branch_share=branch_share,
        intent_col=intent_col,
        activity_col=activity_col,
    )


def _candidate(
    frame: pl.DataFrame,
    *,
    mandatory_support: float,
    rare_support: float,
    precedence_share: float,
    branch_share: float,
    intent_col: str,
    activity_col: str,
) -> pl.DataFrame:
    key = [intent_col, "step"]
    frame = _by_variant(frame, intent_col=intent_col, activity_col=activity_col)
    firsts = _first_occurrences(frame, intent_col=intent_col, activity_col=activity_col)
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
        _dfg(frame, intent_col=intent_col, activity_col=activity_col, ts_col=None)
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


# ---- the playbook draft ----------------------------------------------------------------
def draft_sop(
    candidate: pl.DataFrame,
    *,
    intent_id: str,
    sop_id: str | None = None,
    labels: Mapping[str, str] | None = None,
    examples: Mapping[str, Sequence[str]] | None = None,
    actions: Mapping[str, str] | None = None,
    omit: Collection[str] = ("other",),
    intent_col: str = "intent_id",
) -> Sop:
    """Turn one intent's candidate SOP rows into a playbook draft (version 1).

    Steps follow ``position``; rare steps and ``omit`` are left out; ``mandatory``
    follows the role.
    ``after`` keeps only predecessors that are in the draft and earlier in it, so the
    draft has no cycles; ``next`` keeps the branches that are in the draft. Risk flags
    are not mined: they stay at their defaults and the description asks for review.

    Parameters
    ----------
    candidate
        The ``candidate_sops`` table (:func:`discover_candidate_sop`).
    intent_id
        The intent to draft.
    sop_id
        The playbook id; by default the intent id with characters outside
        ``A-Za-z0-9_.-`` replaced by ``_``.
    labels, examples, actions
        Per step id: the description, example phrasings and tool binding.
    omit
        Steps never drafted: by default ``other``, the turns the step stage could not
        place, which is no step of a playbook.
    intent_col
        The intent column of ``candidate``.

    Returns
    -------
    Sop
        A draft that round-trips through ``parse_sop(sop_to_dict(draft), ...)``.

    Raises
    ------
    SopError
        The intent has no candidate rows, only rare or omitted steps, or a step id or ``sop_id``
        that a playbook cannot hold.
    """
    rows = candidate.filter(pl.col(intent_col) == intent_id).sort("position", "step")
    if rows.is_empty():
        known = ", ".join(map(str, candidate[intent_col].unique().sort().to_list())) or "none"
        raise SopError(
            f"draft for intent {intent_id!r}: no candidate SOP rows for it (intents: {known}); "
            "run discover_candidate_sop on events of that intent"
        )
    rows = rows.filter((pl.col("role") != RARE) & ~pl.col("step").is_in(list(omit)))
    if rows.is_empty():
        raise SopError(
            f"draft for intent {intent_id!r}: every step is rare or omitted; lower "
            "rare_support in discover_candidate_sop to keep some"
        )
    labels, examples, actions = labels or {}, examples or {}, actions or {}
    order = {step: i for i, step in enumerate(rows["step"].to_list())}
    steps = []
    for row in rows.iter_rows(named=True):  # one row per step of one intent: tiny
        step_id, here = row["step"], order[row["step"]]
        steps.append(
            Step(
                id=step_id,
                description=labels.get(step_id, ""),
                examples=tuple(examples.get(step_id, ())),
                action=actions.get(step_id),
                mandatory=row["role"] == MANDATORY,
                after=tuple(a for a in row["after"] if order.get(a, here) < here),
                next=tuple(b for b in row["branches"] if b in order and b != step_id),
            )
        )
    draft = Sop(
        sop_id=sop_id if sop_id is not None else _INVALID_ID.sub("_", str(intent_id)) or "intent",
        version=1,
        intent=(str(intent_id),),
        steps=tuple(steps),
        description=(
            f"Mined draft for intent {intent_id}: steps, order and branches come from the "
            "event log. Needs review before use; risk flags are not mined and default to "
            "false."
        ),
        source=DRAFT_SOURCE,
    )
    # Validate as a file would be: bad ids fail here with the step named, not at load.
    return parse_sop(sop_to_dict(draft), origin=f"draft for intent {intent_id!r}")


# ---- the stage ----------------------------------------------------------------------------
def discover_process(
    step_events: pl.DataFrame,
    config: DiscoverConfig,
    *,
    not_steps: Collection[str] = ("other",),
) -> dict[str, pl.DataFrame]:
    """Variants, directly-follows graph and candidate SOP of every workflow.

    Parameters
    ----------
    step_events
        The ``step_events`` table: ``conversation_id, seq, step_id, ts, workflow_id,
        is_repeat``. Consecutive repeats (``is_repeat``) are left out here.
    config
        Role and precedence thresholds.
    not_steps
        Step ids kept in the variants and the graph but never candidate SOP steps
        (the ``other`` residue, generic greetings and closings).

    Returns
    -------
    dict
        ``variants``, ``dfg_edges`` and ``candidate_sops`` frames keyed by ``workflow_id``
        (a documented SOP's id, or an intent id where no SOP applies).
    """
    roles = {"intent_col": "workflow_id", "activity_col": "step_id"}
    _check_shares(
        mandatory_support=config.mandatory_support,
        rare_support=config.rare_support,
        precedence_share=config.precedence_share,
        branch_share=config.branch_share,
    )
    # One sort of the log serves all three tables; the candidate SOP's frame drops the
    # non-steps and renumbers positions (the order holds, so no second sort).
    frame = _ordered(
        step_events.lazy().filter(~pl.col("is_repeat")),
        case_col="conversation_id",
        order_col="seq",
        ts_col="ts",
        **roles,
    )
    variants = _variants(frame, case_col="conversation_id", **roles)
    dfg_edges = _dfg_table(frame, ts_col="ts", **roles)
    steps_only = (
        frame.lazy()
        .filter(~pl.col("step_id").is_in(list(not_steps)))
        .select("workflow_id", "step_id", "_case")
        .with_columns(_positions())
        .collect()
    )
    del frame  # a large log's frame is the biggest thing held here
    candidate_sops = _candidate(
        steps_only,
        mandatory_support=config.mandatory_support,
        rare_support=config.rare_support,
        precedence_share=config.precedence_share,
        branch_share=config.branch_share,
        **roles,
    )
    return {"variants": variants, "dfg_edges": dfg_edges, "candidate_sops": candidate_sops}
