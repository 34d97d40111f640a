"""How far a conversation got in its SOP: the steps whose point in the flow it reached.

The outcome of skipping a step is compared only among conversations that reached the
point where the step belongs (:func:`pipeline.drift.deviations.count_outcomes`): a call
escalated, transferred or abandoned before the step did not skip it, and counting it
would blame the step for an outcome that came first.

A conversation reached step ``S`` when it did ``S`` or a process step documented after
``S``: one whose ``after`` lists require ``S`` before it, directly or through other steps
(the transitive closure of ``after``). A SOP with no ``after`` at all orders its steps by
``next`` only: there, a step reachable from ``S`` along ``next`` edges counts as after
it (a loop back makes the steps of the loop reach each other, so in such a SOP a skipped
step inside a loop is compared among every conversation that entered the loop).
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from pipeline.sops.model import Sop


def later_steps(sop: Sop) -> dict[str, set[str]]:
    """Map each process step of ``sop`` to the process steps documented after it."""
    process = [step for step in sop.steps if step.is_process]
    ids = {step.id for step in process}
    if any(step.after for step in process):
        edges = {step.id: set() for step in process}
        for step in process:
            for before in step.after:
                if before in edges:
                    edges[before].add(step.id)
    else:
        edges = {step.id: set(step.next) for step in sop.steps}
    later: dict[str, set[str]] = {}
    for step in process:
        seen: set[str] = set()
        stack = list(edges.get(step.id, ()))
        while stack:
            nxt = stack.pop()
            if nxt in seen:
                continue
            seen.add(nxt)
            stack.extend(edges.get(nxt, ()))
        later[step.id] = (seen & ids) - {step.id}
    return later


def reached_steps(
    step_events: pl.DataFrame,
    sops: Mapping[str, Sop],
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
) -> pl.DataFrame:
    """Return the (conversation, SOP, step) triples whose step's point was reached.

    Parameters
    ----------
    step_events
        ``case_col``, ``activity_col`` and ``sop_id`` (the SOP the conversation follows).
    sops
        sop_id -> the documented SOP; conversations of other SOPs give no rows.

    Returns
    -------
    polars.DataFrame
        ``conversation_id, sop_id, step``, distinct: the conversation did ``step`` or a
        process step documented after it. Cost: one join of the distinct (conversation,
        step done) pairs with the (step done, step reached) pairs of each SOP.
    """
    pairs = [
        (sop_id, done, step)
        for sop_id, sop in sops.items()
        for step, later in later_steps(sop).items()
        for done in (step, *sorted(later))
    ]
    mapping = pl.DataFrame(
        pairs, schema={"sop_id": pl.String, "done": pl.String, "step": pl.String}, orient="row"
    )
    done = (
        step_events.select(
            pl.col(case_col).cast(pl.String).alias("conversation_id"),
            pl.col("sop_id").cast(pl.String),
            pl.col(activity_col).cast(pl.String).alias("done"),
        )
        .drop_nulls()
        .unique()
    )
    return (
        done.join(mapping, on=["sop_id", "done"])
        .select("conversation_id", "sop_id", "step")
        .unique()
        .sort("conversation_id", "sop_id", "step")
    )
