"""The playbook draft: one intent's candidate SOP in the documented-SOP schema.

A reviewed draft (:mod:`pipeline.sops.model`) can become the SOP later runs are checked
against.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence

import polars as pl

from pipeline.errors import SopError
from pipeline.process.candidate import MANDATORY, RARE
from pipeline.sops.model import Sop, Step, parse_sop, sop_to_dict

DRAFT_SOURCE = "mined draft"

_INVALID_ID = re.compile(r"[^A-Za-z0-9_.\-]+")


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
        The ``candidate_sops`` table (:func:`~pipeline.process.candidate.discover_candidate_sop`).
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
