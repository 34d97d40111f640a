"""Stage 9, evidence: the conversations behind each readiness reason.

:func:`find_readiness_examples` picks, for each reason of a scored workflow that is
about its conversations (:data:`ABOUT_CONVERSATIONS`), up to ``per_reason`` typical
conversations (:func:`pipeline.drift.excerpts.typical`) of those the component counts
against the workflow, each with the turn that shows it and a ``why`` in words;
:func:`pipeline.drift.excerpts.excerpt_examples` then cuts the excerpts: the rows of
``readiness_examples``. Volume, handle-time spread, stability, system actions and risk
are not about single conversations and get none. Per component:

- ``resolution``, ``escalation``, ``repeat_contact``: conversations not resolved,
  escalated or transferred, followed by a repeat contact; their last step (no greeting,
  closing or hold), where the conversation was left;
- ``exceptions``: conversations with an off-script turn (step ``other``), an
  undocumented step or a failed system call; the first such turn;
- ``conformance``: conversations below full fitness with the deviation that costs the
  workflow most fitness (conversations x weight); where it shows
  (:func:`pipeline.drift.excerpts.mark_deviations`);
- ``standardisation``: conversations of a rare variant (outside the fewest variants that
  cover ``variant_cover`` of calls); where the path first departs from the most common
  variant's (:func:`pipeline.drift.excerpts.departures`).

A reason names its component by the component's ``detail`` (``components`` JSON), which
it quotes. Cost: joins over the candidate conversations; Python per reason and example.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping

import polars as pl

from pipeline.drift.deviations import explode_deviations
from pipeline.drift.excerpts import departures, mark_deviations, named, typical
from pipeline.sops.model import Sop

#: Components whose reasons get example conversations.
ABOUT_CONVERSATIONS = (
    "resolution",
    "escalation",
    "repeat_contact",
    "exceptions",
    "conformance",
    "standardisation",
)
READINESS_EXAMPLES_SCHEMA = pl.Schema(
    {
        "workflow_id": pl.String,
        "component": pl.String,
        "rank": pl.Int32,
        "conversation_id": pl.String,
        "turn_idx": pl.Int32,
        "why": pl.String,
        "excerpt": pl.String,
    }
)
_PICKS = {c: t for c, t in READINESS_EXAMPLES_SCHEMA.items() if c != "excerpt"}
_ROWS = {"_key": pl.String, "conversation_id": pl.String, "turn_idx": pl.Int32, "why": pl.String}


def reason_components(readiness: pl.DataFrame) -> pl.DataFrame:
    """Return ``workflow_id, component, reason``: the component each reason is about.

    A reason quotes its component's ``detail`` (``"many escalations: 20% of calls
    escalated or transferred (-3.1 points)"``); one that quotes none is left out.
    """
    rows = []
    for workflow, components, reasons in readiness.select(
        "workflow_id", "components", "reasons"
    ).iter_rows():  # per workflow: few
        parsed = json.loads(components) if components else {}
        details = {name: part.get("detail") for name, part in parsed.items()
                   if isinstance(part, dict) and part.get("detail")}  # fmt: skip
        for reason in reasons or []:
            for name, detail in details.items():
                if f": {detail} (" in reason:
                    rows.append((workflow, name, reason))
                    break
    return pl.DataFrame(
        rows, schema=dict.fromkeys(("workflow_id", "component", "reason"), pl.String), orient="row"
    )


def find_readiness_examples(
    readiness: pl.DataFrame,
    conversations: pl.DataFrame,
    outcomes: pl.DataFrame,
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    sops: Collection[Sop],
    *,
    failed: pl.DataFrame | None = None,
    ignore: Collection[str] = ("other",),
    variant_cover: float = 0.8,
    undocumented_weight: float = 0.5,
    step_names: Mapping[str, str] | None = None,
    per_reason: int = 3,
) -> pl.DataFrame:
    """Pick the example conversations of each reason about conversations (module docstring).

    Parameters
    ----------
    readiness
        The run's ranking (``workflow_id, components, reasons``).
    conversations
        ``ReadinessInputs.conversations`` (workflow, variant, fitness, ``has_exception``,
        outcomes) of the scored workflows.
    outcomes, conformance, step_events
        The tables ``outcomes`` (``outcome``, ``repeat_gap_days``, ``n_agent_turns``),
        ``conformance`` and ``step_events``.
    sops
        The documented SOPs (where a left-out step was due).
    failed
        ``conversation_id, turn_idx, action_name`` of the failed system calls, or None.
    ignore
        Steps that are no process step (``other``, greetings, closings, holds).
    variant_cover, undocumented_weight
        ``readiness.variant_cover`` (the share of calls the common variants cover) and
        ``drift.undocumented_weight`` (an undocumented step's weight in the fitness).
    step_names
        Phrases of the steps found in the data, for the ``why``.

    Returns
    -------
    polars.DataFrame
        ``workflow_id, component, rank, conversation_id, turn_idx, why``, rank 1 first.
    """
    wanted = reason_components(readiness).filter(pl.col("component").is_in(ABOUT_CONVERSATIONS))
    convs = conversations.join(wanted.select("workflow_id").unique(), on="workflow_id")
    if wanted.is_empty() or convs.is_empty():
        return pl.DataFrame(schema=_PICKS)
    ignored = ~pl.col("step_id").is_in(list(ignore))
    last = (
        step_events.filter(pl.col("turn_idx").is_not_null())
        .sort(ignored, "seq")
        .group_by("conversation_id")
        .agg(_end=pl.col("turn_idx").last())
    )
    ended = convs.join(
        outcomes.select("conversation_id", "outcome", "repeat_gap_days"),
        on="conversation_id",
        how="left",
    ).join(last, on="conversation_id")
    gap = pl.col("repeat_gap_days").round(1).cast(pl.String)
    outcome = pl.format("outcome: {}", "outcome")
    said = {
        "resolution": (~pl.col("resolved"), pl.format("not resolved ({})", outcome)),
        "escalation": (pl.col("escalated"), pl.format("escalated or transferred ({})", outcome)),
        "repeat_contact": (
            pl.col("repeat_contact"),
            pl.format("the customer came back {} days later", gap.fill_null("some")),
        ),
    }
    parts = [
        ended.filter(which.fill_null(False)).select(
            _keyed(name),
            "conversation_id",
            turn_idx="_end",
            why=pl.concat_str(why, pl.format("; its last step at turn {}", "_end")),
        )
        for name, (which, why) in said.items()
    ]
    parts.append(_exception_rows(convs, conformance, step_events, failed, step_names))
    parts.append(_conformance_rows(convs, conformance, step_events, sops, ignore, step_names,
                                   undocumented_weight))  # fmt: skip
    parts.append(_variant_rows(convs, step_events, sops, ignore, variant_cover, step_names))
    candidates = pl.concat([p.select(list(_ROWS)).cast(_ROWS) for p in parts])
    keys = wanted.select(_key=pl.concat_str("workflow_id", pl.lit(":"), "component"))
    candidates = candidates.join(keys, on="_key", how="semi")
    if candidates.is_empty():
        return pl.DataFrame(schema=_PICKS)
    picked = typical(candidates, outcomes, key="_key", n=per_reason)
    parts_of = pl.col("_key").str.split_exact(":", 1)
    return (
        picked.with_columns(
            workflow_id=parts_of.struct.field("field_0"), component=parts_of.struct.field("field_1")
        )
        .select(list(_PICKS))
        .cast(_PICKS)
        .sort("workflow_id", "component", "rank")
    )


def _keyed(component: str) -> pl.Expr:
    return pl.concat_str("workflow_id", pl.lit(f":{component}")).alias("_key")


def _exception_rows(
    convs: pl.DataFrame,
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    failed: pl.DataFrame | None,
    names: Mapping[str, str] | None,
) -> pl.DataFrame:
    """Return each exceptional conversation's first off-script, undocumented or failed turn."""
    mine = convs.filter(pl.col("has_exception")).select("conversation_id", "workflow_id")
    events = step_events.filter(pl.col("turn_idx").is_not_null()).join(
        mine, on="conversation_id", how="semi"
    )
    extra = (
        conformance.sort("version")
        .unique("conversation_id", keep="last")
        .select("conversation_id", step_id="undocumented")
        .explode("step_id")
        .join(events, on=["conversation_id", "step_id"])
    )
    turns = [
        events.filter(pl.col("step_id") == "other").select(
            "conversation_id", "turn_idx", why=pl.lit("an off-script turn that no step explains")
        ),
        extra.filter(pl.col("step_id") != "other").select(
            "conversation_id",
            "turn_idx",
            why=pl.format("undocumented step {}", named(pl.col("step_id"), names)),
        ),
    ]
    if failed is not None:
        turns.append(
            failed.join(mine, on="conversation_id", how="semi").select(
                "conversation_id",
                pl.col("turn_idx").cast(pl.Int32),
                why=pl.format(
                    "a failed system call ({})", pl.col("action_name").fill_null("action")
                ),
            )
        )
    first = pl.concat([t.cast({"turn_idx": pl.Int32}) for t in turns]).sort("turn_idx")
    return mine.join(
        first.group_by("conversation_id", maintain_order=True).first(), on="conversation_id"
    ).select(
        _keyed("exceptions"),
        "conversation_id",
        "turn_idx",
        why=pl.format("{} at turn {}", "why", "turn_idx"),
    )


def _conformance_rows(
    convs: pl.DataFrame,
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    sops: Collection[Sop],
    ignore: Collection[str],
    names: Mapping[str, str] | None,
    undocumented_weight: float,
) -> pl.DataFrame:
    """Return conversations below full fitness with the deviation that costs it most fitness.

    Fitness lost to a deviation is its conversations times its weight in the fitness (1;
    ``undocumented_weight`` for an undocumented step).
    """
    below = convs.filter(pl.col("fitness") < 1).select("conversation_id", "workflow_id")
    cases = (
        conformance.sort("version")
        .unique(["conversation_id", "sop_id"], keep="last")
        .join(
            below,
            left_on=["conversation_id", "sop_id"],
            right_on=["conversation_id", "workflow_id"],
            how="semi",
        )
    )
    if cases.is_empty():
        return pl.DataFrame(schema=_ROWS)
    devs = explode_deviations(cases).filter(pl.col("kind") != "skipped").rename({"kind": "_dev"})
    size = pl.col("conversation_id").n_unique()
    # the deviation that costs the most fitness: an undocumented step weighs less
    weight = pl.when(pl.col("_dev") == "undocumented").then(undocumented_weight).otherwise(1.0)
    common = (
        devs.group_by("sop_id", "_dev", "step")
        .agg(_n=size)
        .sort(pl.col("_n") * weight, "_dev", "step", descending=[True, False, False])
        .group_by("sop_id", maintain_order=True)
        .first()
    )
    share = common.join(below.group_by(sop_id="workflow_id").agg(_all=size), on="sop_id")
    rows = devs.join(share, on=["sop_id", "_dev", "step"])
    marked = mark_deviations(
        rows, step_events, {s.sop_id: s for s in sops}, ignore=ignore, step_names=names
    )
    return marked.select(
        pl.concat_str("sop_id", pl.lit(":conformance")).alias("_key"),
        "conversation_id",
        "turn_idx",
        why=pl.format(
            "the costliest departure from the SOP (in {} of {} calls below full fitness): {}",
            "_n",
            "_all",
            "why",
        ),
    )


def _variant_rows(
    convs: pl.DataFrame,
    step_events: pl.DataFrame,
    sops: Collection[Sop],
    ignore: Collection[str],
    cover: float,
    names: Mapping[str, str] | None,
) -> pl.DataFrame:
    """Return conversations of rare variants, where their path leaves the most common one's."""
    counts = (
        convs.group_by("workflow_id", "variant_id")
        .agg(_n=pl.len())
        .sort("workflow_id", "_n", "variant_id", descending=[False, True, False])
        .with_columns(
            _before=(pl.col("_n").cum_sum() - pl.col("_n")).over("workflow_id"),
            _all=pl.col("_n").sum().over("workflow_id"),
            _variants=pl.len().over("workflow_id"),
        )
    )
    common = pl.col("_before") / pl.col("_all") < cover - 1e-9  # the fewest that cover it
    counts = counts.with_columns(_cover=common.sum().over("workflow_id"), _rare=~common)
    rare = convs.join(counts.filter("_rare"), on=["workflow_id", "variant_id"])
    if rare.is_empty():
        return pl.DataFrame(schema=_ROWS)
    # the path readiness counts: a documented workflow's documented steps
    documented = [s.sop_id for s in sops]
    events = step_events.filter(
        ~((pl.col("source") == "discovered") & pl.col("workflow_id").is_in(documented))
    )
    top = convs.join(counts.filter(pl.col("_before") == 0), on=["workflow_id", "variant_id"])
    one = top.sort("conversation_id").group_by("workflow_id").agg(pl.col("conversation_id").first())
    paths = (
        events.filter(~pl.col("is_repeat"))
        .join(one, on="conversation_id")
        .sort("seq")
        .group_by("workflow_id")
        .agg(_path="step_id")
    )
    found = departures(
        rare.select("workflow_id", "conversation_id", "_n", "_all", "_cover", "_variants"),
        events,
        paths,
        key="workflow_id",
        ignore=ignore,
        names=names,
    )
    why = pl.format(
        "a rare path (its variant in {} of {} calls; {} of {} variants cover {}): {}",
        "_n",
        "_all",
        "_cover",
        "_variants",
        pl.lit(f"{cover:.0%}"),
        "_how",
    )
    return found.filter(pl.col("turn_idx").is_not_null()).select(
        _keyed("standardisation"), "conversation_id", "turn_idx", why=why
    )
