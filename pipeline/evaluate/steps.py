"""Scores of the steps and process sections: extracted step sequences against the labels.

Sequence and process scores compare the extracted sequence *in the labels' vocabulary*
with the true one (see :mod:`pipeline.evaluate.scores`); the same scores on the full
log are reported beside them (``*_full_log``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import polars as pl

from pipeline.evaluate.metrics import (
    collapse_repeats,
    dfg_edges,
    edge_prf,
    edit_similarity,
    map_labels,
)
from pipeline.evaluate.sections import Absent, Table, attempt, section
from pipeline.schema import STEP_EVENTS


@dataclass(frozen=True)
class StepData:
    """Extracted and true steps of the labelled conversations, and the step mapping."""

    run_id: str | None
    intents: dict[str, str]  # conversation -> true intent
    pred: dict[str, list[str]]  # conversation -> extracted step ids in the labels' vocabulary
    full: dict[str, list[str]]  # conversation -> all extracted step ids, by seq
    true: dict[str, list[str]]  # conversation -> true steps (labels with steps only)
    turn_truth: list[tuple[str, int, str]]  # (conversation, turn_idx, true step)
    turn_pred: dict[tuple[str, int], str]  # (conversation, turn_idx) -> first step id
    mapping: dict[str, str]


def score_step_log(events: pl.DataFrame, labels: pl.DataFrame) -> dict[str, Any]:
    """Score any step event log as :func:`evaluate` scores table ``step_events``.

    For baselines and ablations that produce a log outside the database.

    Parameters
    ----------
    events
        ``conversation_id, seq, step_id, turn_idx`` (``turn_idx`` may be null).
    labels
        Labels as :func:`pipeline.evaluate.truth.read_labels` returns them.

    Returns
    -------
    dict
        ``steps`` and ``process``: the sections :func:`evaluate` reports.
    """
    data = attempt(match_steps, Table(events, None), labels)
    return {"steps": section(score_steps, data), "process": section(score_process, data)}


def match_steps(events: Table, labels: pl.DataFrame) -> StepData:
    """Gather extracted and true steps of the labelled conversations in ``events``."""
    labelled = labels.filter(pl.col("steps").is_not_null() | pl.col("turn_steps").is_not_null())
    if labelled.is_empty():
        raise Absent("the labels carry no steps or turn_steps: nothing to score steps against")
    frame = events.frame.with_columns(
        pl.col("conversation_id").cast(pl.String), pl.col("step_id").cast(pl.String)
    ).sort("conversation_id", "seq")
    pred: dict[str, list[str]] = defaultdict(list)
    turn_pred: dict[tuple[str, int], str] = {}
    for cid, turn_idx, step_id in frame.select(
        "conversation_id", "turn_idx", "step_id"
    ).iter_rows():
        pred[cid].append(step_id)
        if turn_idx is not None:
            turn_pred.setdefault((cid, int(turn_idx)), step_id)
    labelled = labelled.filter(pl.col("conversation_id").is_in(list(pred)))
    if labelled.is_empty():
        raise Absent(
            f"no labelled conversation with steps in {STEP_EVENTS} (run {events.run_id}): "
            "do the labels belong to this database?"
        )
    true = {
        cid: steps
        for cid, steps in labelled.select("conversation_id", "steps").iter_rows()
        if steps is not None
    }
    turn_truth = [
        (cid, item["turn_idx"], item["step"])
        for cid, items in labelled.select("conversation_id", "turn_steps").iter_rows()
        for item in items or []
    ]
    pairs = [(turn_pred[(c, t)], step) for c, t, step in turn_truth if (c, t) in turn_pred]
    full = {cid: pred[cid] for cid in labelled["conversation_id"]}
    mapping = map_labels(full, true, turn_pairs=pairs)
    vocabulary = {s for steps in true.values() for s in steps}
    return StepData(
        run_id=events.run_id,
        intents=dict(labelled.select("conversation_id", "intent").iter_rows()),
        pred={c: [s for s in seq if mapping[s] in vocabulary] for c, seq in full.items()},
        full=full,
        true=true,
        turn_truth=turn_truth,
        turn_pred=turn_pred,
        mapping=mapping,
    )


def score_steps(data: StepData) -> dict[str, Any]:
    """Score per-turn accuracy and sequence edit similarity."""
    hits = [data.turn_pred.get((c, t)) for c, t, _ in data.turn_truth]
    correct = sum(
        p is not None and data.mapping[p] == step
        for p, (_, _, step) in zip(hits, data.turn_truth, strict=True)
    )
    similarities = _similarities(data, data.pred)
    full_log = _similarities(data, data.full)
    n_turns = len(data.turn_truth)
    return {
        "run_id": data.run_id,
        "n_conversations": len(data.pred),
        "n_labelled_turns": n_turns,
        "per_turn_accuracy": correct / n_turns if n_turns else None,
        "turn_coverage": sum(h is not None for h in hits) / n_turns if n_turns else None,
        "n_sequences": len(similarities),
        "edit_similarity": sum(similarities) / len(similarities) if similarities else None,
        "exact_sequence_share": (
            sum(s == 1.0 for s in similarities) / len(similarities) if similarities else None
        ),
        "edit_similarity_full_log": sum(full_log) / len(full_log) if full_log else None,
        "n_step_ids": len(data.mapping),
        "n_mapped_identity": sum(k == v for k, v in data.mapping.items()),
        "mapping": dict(sorted(data.mapping.items())),
    }


def _similarities(data: StepData, pred: dict[str, list[str]]) -> list[float]:
    return [
        edit_similarity([data.mapping[s] for s in pred[cid]], steps)
        for cid, steps in data.true.items()
    ]


def score_process(data: StepData) -> dict[str, Any]:
    """Score the process graph (directly-follows edges) per true intent."""
    by_intent: dict[str, list[str]] = defaultdict(list)
    for cid in data.true:
        by_intent[data.intents[cid]].append(cid)
    if not by_intent:
        raise Absent("the labels carry no steps: no true process to compare with")
    per_intent, full_log = {}, []
    for intent, cids in sorted(by_intent.items()):
        true = dfg_edges(collapse_repeats(data.true[c]) for c in cids)
        found = dfg_edges(collapse_repeats(data.mapping[s] for s in data.pred[c]) for c in cids)
        per_intent[intent] = {**edge_prf(found, true), "n_conversations": len(cids)}
        every = dfg_edges(collapse_repeats(data.mapping[s] for s in data.full[c]) for c in cids)
        full_log.append(edge_prf(every, true)["f1"])
    macro = {
        key: sum(scores[key] for scores in per_intent.values()) / len(per_intent)
        for key in ("precision", "recall", "f1")
    }
    return {
        "run_id": data.run_id,
        "n_intents": len(per_intent),
        **macro,
        "f1_full_log": sum(full_log) / len(full_log),
        "per_intent": per_intent,
    }
