"""Stage 9, readiness inputs: the stage tables joined per conversation and per workflow.

:func:`readiness_inputs` returns one row per conversation (the unit the bootstrap of
:func:`pipeline.readiness.score.score_readiness` resamples: its workflow, variant, fitness,
exceptions, failed system actions, outcomes, handle time and steps) and one row per
workflow (the facts that do not vary with the sample: its intent, drift stability and
candidate playbook). A workflow is the ``workflow_id`` of the event log: the documented
SOP where one applies, else the intent. The components computed from these are defined
in :mod:`pipeline.readiness.components`.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import polars as pl

from pipeline.config import ReadinessConfig
from pipeline.errors import SchemaError, SopError
from pipeline.process.discover import not_steps
from pipeline.process.draft import draft_sop
from pipeline.process.variants import variant_id, variant_of_case
from pipeline.sops.model import Sop, sop_to_yaml

OTHER = "other"  # the steps stage's outlier turns: no step explains them

CONVERSATION_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "workflow_id": pl.String,
        "intent_id": pl.String,
        "variant_id": pl.String,
        "fitness": pl.Float64,
        "has_exception": pl.Boolean,
        "failed_actions": pl.Int64,
        "resolved": pl.Boolean,
        "escalated": pl.Boolean,
        "repeat_contact": pl.Boolean,
        "n_agent_turns": pl.Int64,
        "duration_s": pl.Float64,
        "n_steps": pl.Int64,
        "n_action_steps": pl.Int64,
        "started_at": pl.Datetime("us", "UTC"),
    }
)


@dataclass(frozen=True)
class ReadinessInputs:
    """What :func:`score_readiness` needs, from :func:`readiness_inputs`.

    Attributes
    ----------
    conversations
        :data:`CONVERSATION_SCHEMA`, one row per conversation with a workflow.
    workflows
        One row per workflow: ``workflow_id, intent_id`` (its most common intent),
        ``intent_label`` (null unless ``conversations`` had one), ``n_windows,
        n_unstable_windows, stability`` (null when drift tested no window) and
        ``candidate_playbook`` (YAML of the mined draft, for workflows without a
        documented SOP; null when there is none).
    """

    conversations: pl.DataFrame
    workflows: pl.DataFrame


def readiness_inputs(
    conversations: pl.DataFrame,
    outcomes: pl.DataFrame,
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    drift_findings: pl.DataFrame,
    candidate_sops: pl.DataFrame,
    step_types: pl.DataFrame,
    *,
    sops: Sequence[Sop] = (),
    config: ReadinessConfig | None = None,
) -> ReadinessInputs:
    """Join the stage tables into per-conversation and per-workflow readiness inputs.

    Reads ``conversations``, ``outcomes``, ``conformance``, ``step_events``,
    ``drift_findings``, ``candidate_sops`` and ``step_types`` (their ``schema.COLUMNS``;
    extra columns are ignored). The ``variants`` table is not read: its variants keep
    greetings, closings and ``other``, which standardisation leaves out, so they are
    recounted from ``step_events``. In a workflow with a documented SOP, the variants
    are paths through its documented steps: a discovered (undocumented) step already
    makes its call an exception, and how finely such talk is clustered would otherwise
    set the variant count.

    Parameters
    ----------
    conversations
        ``conversation_id, started_at`` and ``intent_id`` (from ``intent_assignments``);
        optionally ``intent_label`` (the intent's label).
    outcomes
        ``conversation_id, workflow_id, resolved, escalated, repeat_contact,
        n_agent_turns, failed_actions, duration_s``.
    conformance
        ``conversation_id, version, fitness, undocumented`` (the highest version counts).
    step_events
        ``conversation_id, seq, step_id, source, sop_id, workflow_id, is_repeat``.
    drift_findings
        ``kind, sop_id, workflow_id, window_start, flagged`` (and the series columns
        ``step, team, agent_hash, metric`` where present).
    candidate_sops
        The mined candidate SOPs, for the playbook of undocumented workflows.
    step_types
        ``step_id, label, source`` (and ``exemplar``, ``sop_steps`` where present).
    sops
        The documented SOPs: which steps are bound to a tool, which are no step.
    config
        The drift kinds that count against stability; the defaults when None.

    Returns
    -------
    ReadinessInputs
        A conversation takes the workflow of its step events, else of its outcome,
        else its intent; one with none of these is left out. It ``has_exception`` when
        it has an undocumented step (``conformance.undocumented``), an off-script turn
        (step ``other``) or a failed system action (``failed_actions`` > 0: a tool or
        API call that failed departs from the documented path as much).

    Raises
    ------
    SchemaError
        A table lacks a needed column.
    """
    config = config or ReadinessConfig()
    _require(conversations, ("conversation_id", "intent_id", "started_at"), "conversations")
    _require(
        outcomes,
        ("conversation_id", "workflow_id", "resolved", "escalated", "repeat_contact")
        + ("n_agent_turns", "failed_actions", "duration_s"),
        "outcomes",
    )
    _require(conformance, ("conversation_id", "version", "fitness", "undocumented"), "conformance")
    _require(
        step_events,
        ("conversation_id", "seq", "step_id", "source", "sop_id", "workflow_id", "is_repeat"),
        "step_events",
    )
    _require(
        drift_findings,
        ("kind", "sop_id", "workflow_id", "window_start", "flagged"),
        "drift_findings",
    )
    _require(step_types, ("step_id", "label", "source"), "step_types")
    ignore = not_steps(step_types, sops)
    events = step_events.filter(~pl.col("is_repeat"))
    steps = events.filter(~pl.col("step_id").is_in(ignore) & pl.col("workflow_id").is_not_null())
    bound = pl.DataFrame(
        [(s.sop_id, step.id) for s in sops for step in s.steps if step.action],
        schema={"sop_id": pl.String, "step_id": pl.String},
        orient="row",
    ).with_columns(_bound=pl.lit(True))
    per_step = (
        steps.join(bound, on=["sop_id", "step_id"], how="left")
        .group_by("conversation_id", "step_id")
        .agg(_backed=(pl.col("_bound").fill_null(False) | (pl.col("source") == "action")).any())
        .group_by("conversation_id")
        .agg(n_steps=pl.len().cast(pl.Int64), n_action_steps=pl.col("_backed").sum().cast(pl.Int64))
    )
    documented = {s.sop_id for s in sops}
    process_steps = steps.filter(
        ~((pl.col("source") == "discovered") & pl.col("workflow_id").is_in(sorted(documented)))
    )
    of_case = variant_of_case(process_steps, intent_col="workflow_id").select(
        "conversation_id", "variant_id"
    )
    outliers = step_events.filter(pl.col("step_id") == OTHER)["conversation_id"].unique()
    workflow = events.group_by("conversation_id").agg(
        _events_workflow=pl.col("workflow_id").drop_nulls().first()
    )
    fitness = (
        conformance.sort("conversation_id", "version")
        .group_by("conversation_id")
        .agg(pl.col("fitness").last(), _undocumented=pl.col("undocumented").last().list.len() > 0)
    )
    outcome_cols = [
        "resolved",
        "escalated",
        "repeat_contact",
        "n_agent_turns",
        "failed_actions",
        "duration_s",
    ]
    label = ["intent_label"] if "intent_label" in conversations.columns else []
    frame = (
        conversations.select("conversation_id", "intent_id", "started_at", *label)
        .join(workflow, on="conversation_id", how="left")
        .join(
            outcomes.select(
                "conversation_id", pl.col("workflow_id").alias("_outcome_workflow"), *outcome_cols
            ),
            on="conversation_id",
            how="left",
        )
        .with_columns(workflow_id=pl.coalesce("_events_workflow", "_outcome_workflow", "intent_id"))
        .filter(pl.col("workflow_id").is_not_null())
        .join(of_case, on="conversation_id", how="left")
        .join(fitness, on="conversation_id", how="left")
        .join(per_step, on="conversation_id", how="left")
    )
    frame = frame.with_columns(
        pl.col("variant_id").fill_null(variant_id(())),
        pl.col("n_steps", "n_action_steps", "failed_actions").fill_null(0),
        has_exception=pl.col("_undocumented").fill_null(False)
        | pl.col("conversation_id").is_in(outliers.implode())
        | (pl.col("failed_actions") > 0).fill_null(False),
    )
    conversations_out = frame.select(
        [pl.col(name).cast(dtype) for name, dtype in CONVERSATION_SCHEMA.items()]
    ).sort("workflow_id", "conversation_id")
    per_workflow = frame.group_by("workflow_id").agg(
        intent_id=pl.col("intent_id").drop_nulls().mode().sort().first(),
        intent_label=(
            pl.col("intent_label").drop_nulls().mode().sort().first()
            if label
            else pl.lit(None, dtype=pl.String)
        ),
    )
    workflows = per_workflow.join(
        _stability(drift_findings, config.stability_kinds), on="workflow_id", how="left"
    ).sort("workflow_id")
    undocumented = [w for w in workflows["workflow_id"].to_list() if w not in documented]
    drafts = _drafts(candidate_sops, step_types, undocumented, ignore)
    workflows = workflows.with_columns(
        candidate_playbook=pl.col("workflow_id").replace_strict(
            drafts, default=None, return_dtype=pl.String
        )
    )
    return ReadinessInputs(conversations=conversations_out, workflows=workflows)


def _stability(drift_findings: pl.DataFrame, kinds: Collection[str]) -> pl.DataFrame:
    """Per workflow: windows tested, windows where a flagged change starts, stability.

    A series is one (kind, step, group, metric) of a workflow; a change starts in a
    flagged window whose previous tested window in the series was not flagged. A
    deviation that persists from week 8 on is one change, not five unstable weeks:
    that it departs from the SOP is conformance's business.
    """
    series = [c for c in ("kind", "step", "team", "agent_hash", "metric") if c in drift_findings]
    rows = (
        drift_findings.with_columns(workflow_id=pl.coalesce("workflow_id", "sop_id"))
        .filter(
            pl.col("kind").is_in(list(kinds))
            & pl.col("workflow_id").is_not_null()
            & pl.col("window_start").is_not_null()
        )
        .sort("window_start")
    )
    before = pl.col("flagged").shift(1).over("workflow_id", *series).fill_null(False)
    return (
        rows.with_columns(_starts=pl.col("flagged") & ~before)
        .group_by("workflow_id")
        .agg(
            n_windows=pl.col("window_start").n_unique().cast(pl.Int64),
            n_unstable_windows=pl.col("window_start").filter("_starts").n_unique().cast(pl.Int64),
        )
        .with_columns(stability=1.0 - pl.col("n_unstable_windows") / pl.col("n_windows"))
    )


def _drafts(
    candidate_sops: pl.DataFrame,
    step_types: pl.DataFrame,
    workflows: Sequence[str],
    ignore: Sequence[str],
) -> dict[str, str | None]:
    """Return the mined playbook draft of each workflow as YAML (None: no draftable step)."""
    labels = dict(step_types.select("step_id", "label").iter_rows())
    examples = {}
    if "exemplar" in step_types.columns:
        exemplars = step_types.filter(pl.col("exemplar").is_not_null())
        examples = {s: [e] for s, e in exemplars.select("step_id", "exemplar").iter_rows()}
    drafts: dict[str, str | None] = {}
    for workflow in workflows:  # one draft per undocumented workflow: few
        try:
            draft = draft_sop(
                candidate_sops,
                intent_id=workflow,
                labels=labels,
                examples=examples,
                omit=ignore,
                intent_col="workflow_id",
            )
        except SopError:
            drafts[workflow] = None
        else:
            drafts[workflow] = sop_to_yaml(draft)
    return drafts


def _require(frame: pl.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{table}: expected columns {', '.join(columns)}, missing {', '.join(missing)}; "
            f"pass the {table} table as the store returns it"
        )
