"""Stage 7, conformance: each conversation's step trace checked against its documented SOP.

Reads ``step_events`` (the event log: conversation, ``seq``, step, ``sop_id``,
``is_repeat``), the documented SOPs and, for approval gates, the ``metadata`` of
``conversations``; produces the ``conformance`` table, one row per conversation that
has a documented SOP.

The check runs once per distinct (SOP, trace variant, gate outcome) and is joined back
to the conversations: the Python part is O(variants x steps), the rest is one group-by
over the events and one join over the conversations, never a loop over conversations.
The trace is the conversation's steps in ``seq`` order without consecutive repeats
(``is_repeat``); its ``variant_id`` is :func:`pipeline.process.discover.variant_id` of that
trace, as in the ``variants`` table (``ignore`` steps included). The check itself then
leaves out the ``ignore`` steps (the ``other`` residue, generic greetings and closings).

What counts
-----------
Only the SOP's *process* steps (``kind: process``, :data:`pipeline.sops.model.STEP_KINDS`)
are checked. Conversation management (greetings, closings, holds, "anything else?",
out of scope: the generic role types of the steps stage and every step some SOP of the
library documents as ``kind: management``) and a flowchart's decision outcomes
(``kind: outcome``) never make a conversation deviate: they are left out of the trace
with the ``ignore`` steps, and a SOP's own management and outcome steps are never
required.

Deviations
----------
missing
    Mandatory process steps absent from the trace. A step with a ``when`` condition is
    required only where the condition holds: where it is false, or cannot be evaluated
    (the field is absent from the metadata, or the conversation has none), the step is
    neither missing nor a skipped gate.
skipped
    Optional process steps (no ``when``) absent from the trace: not a deviation of one
    conversation, but the rate at which agents perform each documented step, which
    drift tracks for every step.
undocumented
    Steps of the trace that the SOP does not name, distinct, in first-occurrence order.
order_violations
    For each step ``B`` with ``after: [A, ...]`` and each such ``A`` present in the
    trace whose first occurrence comes after ``B``'s first occurrence: ``"B before A"``.
skipped_gates
    Steps with a ``when`` condition that holds on the conversation's metadata but that
    are absent from the trace (approval gates not taken). A mandatory gated step that
    is skipped is listed both here and in ``missing``; fitness counts it once.

Fitness::

    fitness = 1 - (m + o + w * u) / (r + e + w * u)     (1.0 where r + e + w * u = 0)

``m`` required steps absent (``missing`` and ``skipped_gates`` together, each step
once), ``o`` order violations, ``u`` undocumented steps, ``w`` ``undocumented_weight``
(``drift.undocumented_weight``, 0.5 by default: an extra step is a weaker signal than a
skipped one), ``r`` steps
required of this conversation (mandatory steps without a condition, plus steps whose
condition holds), ``e`` the SOP's ``after`` constraints. No deviation gives 1.0; each
further missing step or order violation lowers it, and each further undocumented step
lowers it until it reaches 0. It is in [0, 1] because ``m <= r`` and ``o <= e``.
Skipped optional steps do not lower it.

``is_conforming`` is true when no mandatory step is missing, no documented order is
violated, no gate is skipped and no undocumented *process* step occurs: a process step
another SOP documents, or a tool call this SOP binds to no step. Off-script talk (the
``other`` residue, and the ``off_script`` steps: clusters of it that the steps stage
discovered) is listed in ``undocumented`` and lowers fitness, but does not by itself
break conformance: whether a recurring cluster of it is a real sub-flow missing from the
SOP is the exception clusters' question (:mod:`pipeline.drift.exceptions`), not every
cluster's (most are small talk, answers and paraphrases).

Conversations without a ``sop_id`` have no documented SOP and get no row; so do those
whose ``sop_id`` is not among the SOPs given (an SOP removed from the library since the
steps stage ran): anti-join the output to list them.

Approval-gate conditions (``Step.when``) are the language of :mod:`pipeline.sops.gates`,
evaluated as polars expressions over the ``metadata`` fields they name
(:mod:`pipeline.drift.gate_outcomes`); the traces come from :mod:`pipeline.drift.traces`.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from pipeline.config import DriftConfig
from pipeline.drift.gate_outcomes import FAILS, HOLDS, gates_of, with_gate_outcomes
from pipeline.drift.traces import case_traces
from pipeline.errors import SchemaError
from pipeline.process.variants import variant_id
from pipeline.sops.gates import Condition
from pipeline.sops.model import Sop

CONFORMANCE_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "sop_id": pl.String,
        "version": pl.Int32,
        "variant_id": pl.String,
        "fitness": pl.Float64,
        "missing": pl.List(pl.String),
        "undocumented": pl.List(pl.String),
        "order_violations": pl.List(pl.String),
        "skipped_gates": pl.List(pl.String),
        "is_conforming": pl.Boolean,
        "skipped": pl.List(pl.String),
    }
)

# One row per checked (sop_id, trace, gate outcome), joined back to the conversations.
_VARIANT_SCHEMA = pl.Schema(
    {"sop_id": pl.String, "_codes": pl.List(pl.UInt32), "_gates": pl.String}
    | {c: t for c, t in CONFORMANCE_SCHEMA.items() if c not in ("conversation_id", "sop_id")}
)


@dataclass(frozen=True)
class TraceCheck:
    """The deviations of one trace from its SOP, and its fitness."""

    missing: tuple[str, ...]
    undocumented: tuple[str, ...]
    order_violations: tuple[str, ...]
    skipped_gates: tuple[str, ...]
    fitness: float
    skipped: tuple[str, ...] = ()
    process_undocumented: bool = False

    @property
    def is_conforming(self) -> bool:
        """Nothing missing, no order violated, no gate skipped, no undocumented process step."""
        return not (self.missing or self.order_violations or self.skipped_gates
                    or self.process_undocumented)  # fmt: skip


def check_trace(
    sop: Sop,
    trace: Sequence[str],
    *,
    gates: Mapping[str, bool | None] | None = None,
    ignore: Collection[str] = (),
    off_script: Collection[str] = (),
    undocumented_weight: float = DriftConfig.undocumented_weight,
) -> TraceCheck:
    """Check one trace against its SOP (the rules and the fitness of the module docstring).

    Parameters
    ----------
    sop
        The documented SOP.
    trace
        Step ids in order.
    gates
        Per gated step id: whether its condition holds (None: cannot be evaluated);
        a gated step not listed is unknown.
    ignore
        Step ids that are no step (left out of the trace): the ``other`` residue and
        conversation management (:func:`not_process`).
    off_script
        Step ids that are clusters of off-script talk (discovered types): undocumented,
        but no process step.
    undocumented_weight
        The weight ``w`` of an undocumented step in the fitness.

    Returns
    -------
    TraceCheck
    """
    gates = gates or {}
    aside = set(ignore) | {step.id for step in sop.steps if not step.is_process}
    first: dict[str, int] = {}
    for i, step in enumerate(s for s in trace if s not in aside):
        first.setdefault(step, i)
    documented = set(sop.step_ids)
    undocumented = tuple(s for s in first if s not in documented)
    missing, skipped, optional, order = [], [], [], []
    required = absent = constraints = 0
    for step in (s for s in sop.steps if s.is_process):
        holds = gates.get(step.id) if step.when is not None else None
        needed = holds is True if step.when is not None else step.mandatory
        required += needed
        if needed and step.id not in first:
            absent += 1
            if step.mandatory:
                missing.append(step.id)
            if step.when is not None:
                skipped.append(step.id)
        elif step.when is None and not step.mandatory and step.id not in first:
            optional.append(step.id)
        constraints += len(step.after)
        for before in step.after:
            if before in first and step.id in first and first[before] > first[step.id]:
                order.append(f"{step.id} before {before}")
    extra = undocumented_weight * len(undocumented)
    possible = required + constraints + extra
    fitness = 1.0 - (absent + len(order) + extra) / possible if possible else 1.0
    process = any(step not in off_script for step in undocumented)
    return TraceCheck(
        tuple(missing), undocumented, tuple(order), tuple(skipped), fitness, tuple(optional),
        process,
    )  # fmt: skip


def not_process(sops: Collection[Sop]) -> set[str]:
    """Step ids that some SOP documents as conversation management or a decision outcome.

    One step id in several SOPs is one step (as in the steps stage): a closing that one
    flowchart draws is a closing in every workflow.
    """
    return {step.id for sop in sops for step in sop.steps if not step.is_process}


def check_conformance(
    step_events: pl.DataFrame,
    sops: Mapping[str, Sop],
    *,
    conversations: pl.DataFrame | None = None,
    ignore: Collection[str] = ("other",),
    off_script: Collection[str] = (),
    undocumented_weight: float = DriftConfig.undocumented_weight,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Check each conversation with a documented SOP against it.

    Reads ``step_events`` (and ``conversations.metadata`` for gates); produces the
    ``conformance`` table. The rules, the fitness formula and who gets no row are in
    the module docstring.

    Parameters
    ----------
    step_events
        The ``step_events`` table: case, order, step, ``sop_id`` and ``is_repeat``.
    sops
        sop_id -> the documented SOP.
    conversations
        ``case_col`` and ``metadata`` (JSON text or null), for the ``when`` conditions
        of approval gates; without it every gate is unknown (never missing, never
        skipped).
    ignore
        Step ids that are no workflow step (``other``; add the generic greeting and
        closing types of :func:`pipeline.process.discover.not_steps`). The steps that
        any of ``sops`` documents as management or outcome (:func:`not_process`) are
        added.
    off_script
        Step ids that are clusters of off-script talk (the steps stage's discovered
        types, ``source`` ``discovered``): undocumented, but no process step.
    undocumented_weight
        Weight of an undocumented step in the fitness (``w``).
    case_col, activity_col, order_col
        Column roles in ``step_events`` (``case_col`` also keys ``conversations``).

    Returns
    -------
    polars.DataFrame
        ``schema.batch_columns(schema.CONFORMANCE)`` with the dtypes of
        :data:`CONFORMANCE_SCHEMA`, one row per (conversation, sop_id) in the order
        they first appear in ``step_events``; ``conversation_id`` holds ``case_col``.

    Raises
    ------
    SchemaError
        A column is missing, or a step id holds the variant separator (U+001F).
    SopError
        A ``when`` condition is not in the gate language (names sop, step, condition).
    """
    _require(step_events, (case_col, order_col, activity_col, "sop_id", "is_repeat"), "step_events")
    if conversations is not None:
        _require(conversations, (case_col, "metadata"), "conversations")
    if not 0.0 <= undocumented_weight:
        raise ValueError(f"undocumented_weight: expected >= 0, found {undocumented_weight!r}")
    ignore = ({ignore} if isinstance(ignore, str) else set(ignore)) | not_process(sops.values())
    gates = gates_of(sops)
    traces, steps = case_traces(step_events, list(sops), case_col, activity_col, order_col)
    traces = with_gate_outcomes(traces, gates, conversations, case_col=case_col)
    keys = traces.select("sop_id", "_codes", "_gates").unique()
    checked = _check_variants(keys, sops, gates, steps, ignore=ignore, weight=undocumented_weight,
                              off_script=set(off_script))  # fmt: skip
    return (
        traces.join(checked, on=["sop_id", "_codes", "_gates"], how="left")
        .sort("_row")
        .select(
            pl.col(case_col).cast(pl.String).alias("conversation_id"), *list(CONFORMANCE_SCHEMA)[1:]
        )
    )


def _require(frame: pl.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{table}: expected columns {', '.join(columns)}, missing {', '.join(missing)}; "
            "pass the column names as case_col, activity_col, order_col"
        )


def _check_variants(
    keys: pl.DataFrame,
    sops: Mapping[str, Sop],
    gates: Mapping[str, list[tuple[str, Condition]]],
    steps: list[str],
    *,
    ignore: set[str],
    weight: float,
    off_script: set[str],
) -> pl.DataFrame:
    """Check each distinct (sop_id, trace, gate outcome): O(variants x steps) Python."""
    rows = []
    ids: dict[tuple[int, ...], str] = {}
    for sop_id, codes, outcome in keys.iter_rows():
        sop = sops[sop_id]
        trace = [steps[c] for c in codes]
        holds = {
            step: {HOLDS: True, FAILS: False}.get(code)
            for (step, _), code in zip(gates[sop_id], outcome, strict=True)
        }
        check = check_trace(sop, trace, gates=holds, ignore=ignore, off_script=off_script,
                            undocumented_weight=weight)  # fmt: skip
        if tuple(codes) not in ids:
            ids[tuple(codes)] = variant_id(trace)
        rows.append(
            (
                sop_id,
                codes,
                outcome,
                sop.version,
                ids[tuple(codes)],
                check.fitness,
                list(check.missing),
                list(check.undocumented),
                list(check.order_violations),
                list(check.skipped_gates),
                check.is_conforming,
                list(check.skipped),
            )
        )
    return pl.DataFrame(rows, schema=_VARIANT_SCHEMA, orient="row")
