"""Stage 6, discover: the de-facto process of each workflow, mined from its step event log.

:func:`discover_process` reads the ``step_events`` table (consecutive repeats left out)
and produces the per-workflow tables ``variants`` (:mod:`pipeline.process.variants`),
``dfg_edges`` (:mod:`pipeline.process.dfg`) and ``candidate_sops``
(:mod:`pipeline.process.candidate`) from one sort of the log
(:mod:`pipeline.process.log`); :func:`not_steps` names the step ids that are no
workflow step. A candidate becomes a playbook draft in :mod:`pipeline.process.draft`.

Every function is pure (a frame in, a frame out) and vectorised in polars: the cost is
a few sorts, group-bys and joins over the events, never a Python loop over cases.
Consecutive repeats of a step are expected to be collapsed by the caller; when they are
not, they stay in the variants and show as self-loops in the graph, and the candidate
SOP uses each step's first occurrence.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence

import polars as pl

from pipeline.config import DiscoverConfig
from pipeline.process.candidate import candidate_table, check_shares
from pipeline.process.dfg import dfg_table
from pipeline.process.log import case_positions, ordered_log
from pipeline.process.variants import variants_table
from pipeline.sops.model import Sop


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
    check_shares(
        mandatory_support=config.mandatory_support,
        rare_support=config.rare_support,
        precedence_share=config.precedence_share,
        branch_share=config.branch_share,
    )
    # One sort of the log serves all three tables; the candidate SOP's frame drops the
    # non-steps and renumbers positions (the order holds, so no second sort).
    frame = ordered_log(
        step_events.lazy().filter(~pl.col("is_repeat")),
        case_col="conversation_id",
        order_col="seq",
        ts_col="ts",
        **roles,
    )
    variants = variants_table(frame, case_col="conversation_id", **roles)
    dfg_edges = dfg_table(frame, ts_col="ts", **roles)
    steps_only = (
        frame.lazy()
        .filter(~pl.col("step_id").is_in(list(not_steps)))
        .select("workflow_id", "step_id", "_case")
        .with_columns(case_positions())
        .collect()
    )
    del frame  # a large log's frame is the biggest thing held here
    candidate_sops = candidate_table(
        steps_only,
        mandatory_support=config.mandatory_support,
        rare_support=config.rare_support,
        precedence_share=config.precedence_share,
        branch_share=config.branch_share,
        **roles,
    )
    return {"variants": variants, "dfg_edges": dfg_edges, "candidate_sops": candidate_sops}
