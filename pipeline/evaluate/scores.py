"""Evaluation: score what the stages wrote to a cxminer database against ground truth.

Reads the database read-only, and only the latest ``run_id`` (run ids sort by time) of
each table. Every analytic table is optional: a section whose table is missing or
empty is reported as ``{"status": "absent", "reason": ...}``, never as zeros. Columns
read (others are ignored; ``team`` may be missing):

- ``conversations(conversation_id)``: which labelled conversations were ingested;
- ``intent_assignments(conversation_id, intent_id, is_outlier, run_id)``: an outlier or
  a null intent_id is noise;
- ``step_events(conversation_id, seq, step_id, turn_idx, run_id)``: sequences ordered by
  ``seq``; per-turn accuracy joins ``(conversation_id, turn_idx)`` with the labels'
  ``turn_steps``. Sequence and process scores compare the extracted sequence *in the
  labels' vocabulary* (events whose mapped step is a label the true sequences hold)
  with the true one: labels say nothing about the events they have no name for
  (``other``, off-script turns, action events in data whose labels hold only
  utterances, undocumented steps), nor about turn labels their sequences leave out
  (a greeting, a closing or ``other`` labelled on a turn), so those neither count for
  nor against; a labelled step extracted as something else still counts as wrong.
  The same scores on the full log are reported beside them (``*_full_log``);
- ``conformance(conversation_id, is_conforming, fitness, run_id)``: the conforming
  share per true intent;
- ``outcomes(conversation_id, outcome, outcome_source, run_id)``: against the labels'
  ``outcome`` where they have one;
- ``drift_findings(sop_id, step, kind, window_start, flagged, team, severity, q_value,
  run_id)``: besides precision and recall, each planted finding's rank in the order
  ``cxminer drift`` prints (:func:`pipeline.drift.findings.print_order`);
- ``readiness(intent_id, score, tier, run_id)``.

Ground truth: the labels JSONL (``pipeline.evaluate.truth``) and, in ``truth_dir``,
``drift.json`` (``{"findings": [{"sop_id", "step", "kind", "team", "onset"}, ...]}``)
and ``readiness.json`` (``{"order": [true intents, best first], "tiers": {intent: tier}}``).
"""

from __future__ import annotations

import json
import math
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline import schema
from pipeline.drift.findings import STEP_KINDS, print_order
from pipeline.errors import LabelsError
from pipeline.evaluate.metrics import (
    collapse_repeats,
    dfg_edges,
    edge_prf,
    edit_similarity,
    map_labels,
    match_drift,
    rank_planted,
    score_clustering,
    spearman,
)
from pipeline.evaluate.truth import read_labels
from pipeline.store import Store, open_store

INTENT_ASSIGNMENTS = schema.INTENT_ASSIGNMENTS
STEP_EVENTS = schema.STEP_EVENTS
DRIFT_FINDINGS = schema.DRIFT_FINDINGS
READINESS = schema.READINESS
OUTCOMES = schema.OUTCOMES
CONFORMANCE = schema.CONFORMANCE
# table -> (required columns, the stage that writes it, optional columns)
_READS = {
    INTENT_ASSIGNMENTS: (("conversation_id", "intent_id", "is_outlier"), "intents", ()),
    STEP_EVENTS: (("conversation_id", "seq", "step_id", "turn_idx"), "steps", ()),
    DRIFT_FINDINGS: (
        ("sop_id", "step", "kind", "window_start", "flagged"),
        "drift",
        (
            "team",
            "metric",
            "outcome_deviating",
            "outcome_conforming",
            "details",
            "severity",
            "q_value",
        ),  # fmt: skip
    ),
    READINESS: (("intent_id", "score", "tier"), "readiness", ("workflow_id", "rank")),
    OUTCOMES: (("conversation_id", "workflow_id"), "drift", ("outcome", "outcome_source")),
    CONFORMANCE: (("conversation_id", "is_conforming", "fitness"), "drift", ()),
}


class _Absent(Exception):
    """A section cannot be scored; the message is the reason shown to the user."""


@dataclass(frozen=True)
class _Table:
    frame: pl.DataFrame
    run_id: str | None


@dataclass(frozen=True)
class _Steps:
    run_id: str | None
    intents: dict[str, str]  # conversation -> true intent
    pred: dict[str, list[str]]  # conversation -> extracted step ids in the labels' vocabulary
    full: dict[str, list[str]]  # conversation -> all extracted step ids, by seq
    true: dict[str, list[str]]  # conversation -> true steps (labels with steps only)
    turn_truth: list[tuple[str, int, str]]  # (conversation, turn_idx, true step)
    turn_pred: dict[tuple[str, int], str]  # (conversation, turn_idx) -> first step id
    mapping: dict[str, str]


def evaluate(
    db_path: Path, labels_path: Path, *, truth_dir: Path | None = None, window_days: int = 7
) -> dict[str, Any]:
    """Score a database's intents, steps, process graphs, drift and readiness.

    Parameters
    ----------
    db_path
        The cxminer DuckDB file (opened read-only).
    labels_path
        Labels JSONL (see ``pipeline.evaluate.truth``).
    truth_dir
        Folder holding ``drift.json`` and ``readiness.json``; without it those two
        sections are absent.
    window_days
        Drift window length, for matching flagged windows to planted onsets.

    Returns
    -------
    dict
        JSON-able: ``labels`` (``n``, ``matched_conversations``, ``with_steps``,
        ``with_turn_steps``) and ``intents``, ``steps``, ``process``, ``conformance``,
        ``outcomes``, ``drift``, ``readiness``, each ``{"status": "ok", "run_id": ...,
        metrics...}`` or
        ``{"status": "absent", "reason": ...}``.

    Raises
    ------
    LabelsError
        The labels file or a truth file is invalid.
    StoreError
        The database cannot be opened.
    """
    labels = read_labels(labels_path)
    with open_store(db_path, read_only=True) as store:
        conversations = _attempt(
            _read_latest, store, "conversations", ["conversation_id"], "ingest", latest=False
        )
        tables = {
            table: _attempt(_read_latest, store, table, list(columns), stage, optional=optional)
            for table, (columns, stage, optional) in _READS.items()
        }
    ingested = (
        set() if isinstance(conversations, _Absent) else set(conversations.frame["conversation_id"])
    )
    assignments, events = tables[INTENT_ASSIGNMENTS], tables[STEP_EVENTS]
    step_data = _attempt(_step_data, events, labels) if isinstance(events, _Table) else events
    report = {
        "labels": {
            "n": labels.height,
            "matched_conversations": sum(c in ingested for c in labels["conversation_id"]),
            "with_steps": labels["steps"].is_not_null().sum(),
            "with_turn_steps": labels["turn_steps"].is_not_null().sum(),
        },
        "intents": _section(_score_intents, assignments, labels),
        "steps": _section(_score_steps, step_data),
        "process": _section(_score_process, step_data),
        "conformance": _section(_score_conformance, tables[CONFORMANCE], labels),
        "outcomes": _section(_score_outcomes, tables[OUTCOMES], labels),
        "drift": _section(_score_drift, tables[DRIFT_FINDINGS], truth_dir, window_days),
        "readiness": _section(
            _score_readiness,
            tables[READINESS],
            assignments,
            tables[OUTCOMES] if isinstance(tables[OUTCOMES], _Table) else None,
            labels,
            truth_dir,
        ),
    }
    return _json_safe(report)


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
    data = _attempt(_step_data, _Table(events, None), labels)
    return {"steps": _section(_score_steps, data), "process": _section(_score_process, data)}


def _attempt(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; return the :class:`_Absent` it raises instead of raising it."""
    try:
        return fn(*args, **kwargs)
    except _Absent as absent:
        return absent


def _section(fn: Any, *inputs: Any) -> dict[str, Any]:
    """Score a section, or report the first absent input's reason."""
    try:
        for value in inputs:
            if isinstance(value, _Absent):
                raise value
        return {"status": "ok", **fn(*inputs)}
    except _Absent as absent:
        return {"status": "absent", "reason": str(absent)}


def _read_latest(
    store: Store,
    table: str,
    required: list[str],
    stage: str,
    *,
    optional: tuple[str, ...] | list[str] = (),
    latest: bool = True,
) -> _Table:
    """Read ``required`` (and ``optional``, null when missing) columns of the latest run.

    With ``latest=False`` (or without a ``run_id`` column) every row is read.
    """
    present = set(
        store.sql(
            "select column_name from information_schema.columns where table_name = ?", [table]
        )["column_name"]
    )
    if not present:
        raise _Absent(f"table {table} not found: run the {stage} stage")
    missing = [c for c in required if c not in present]
    if missing:
        raise _Absent(
            f"table {table} lacks column(s) {', '.join(missing)}: expected {', '.join(required)}; "
            "was the database written by another cxminer version?"
        )
    columns = ", ".join([*required, *(c if c in present else f"null as {c}" for c in optional)])
    has_runs = latest and "run_id" in present
    run_id = store.scalar(f"select max(run_id) from {table}") if has_runs else None
    where, params = ("where run_id = ?", [run_id]) if run_id is not None else ("", [])
    frame = store.sql(f"select {columns} from {table} {where}", params)
    if frame.is_empty():
        raise _Absent(f"table {table} is empty: run the {stage} stage")
    return _Table(frame, run_id)


def _score_intents(assignments: _Table, labels: pl.DataFrame) -> dict[str, Any]:
    noise = pl.col("intent_id").is_null() | pl.col("is_outlier").fill_null(False)
    pred = assignments.frame.select(
        pl.col("conversation_id").cast(pl.String),
        pl.when(noise).then(None).otherwise(pl.col("intent_id").cast(pl.String)).alias("pred"),
    ).unique("conversation_id", keep="first", maintain_order=True)
    joined = labels.select("conversation_id", "intent").join(pred, on="conversation_id")
    if joined.is_empty():
        raise _Absent(
            f"no labelled conversation in {INTENT_ASSIGNMENTS} (run {assignments.run_id}): "
            "do the labels belong to this database?"
        )
    scores = score_clustering(joined["intent"].to_list(), joined["pred"].to_list())
    return {
        "run_id": assignments.run_id,
        **scores,
        "n_labelled_unscored": labels.height - joined.height,
    }


def _step_data(events: _Table, labels: pl.DataFrame) -> _Steps:
    labelled = labels.filter(pl.col("steps").is_not_null() | pl.col("turn_steps").is_not_null())
    if labelled.is_empty():
        raise _Absent("the labels carry no steps or turn_steps: nothing to score steps against")
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
        raise _Absent(
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
    return _Steps(
        run_id=events.run_id,
        intents=dict(labelled.select("conversation_id", "intent").iter_rows()),
        pred={c: [s for s in seq if mapping[s] in vocabulary] for c, seq in full.items()},
        full=full,
        true=true,
        turn_truth=turn_truth,
        turn_pred=turn_pred,
        mapping=mapping,
    )


def _score_steps(data: _Steps) -> dict[str, Any]:
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


def _similarities(data: _Steps, pred: dict[str, list[str]]) -> list[float]:
    return [
        edit_similarity([data.mapping[s] for s in pred[cid]], steps)
        for cid, steps in data.true.items()
    ]


def _score_process(data: _Steps) -> dict[str, Any]:
    by_intent: dict[str, list[str]] = defaultdict(list)
    for cid in data.true:
        by_intent[data.intents[cid]].append(cid)
    if not by_intent:
        raise _Absent("the labels carry no steps: no true process to compare with")
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


def _score_conformance(conformance: _Table, labels: pl.DataFrame) -> dict[str, Any]:
    """Score the conforming share and mean fitness of checked conversations, per true intent.

    A conversation is checked when a documented SOP applied to it (it has a
    ``conformance`` row); ``checked_share`` is the share of labelled conversations
    that were. ``macro_conforming_share`` averages the intents' shares.
    """
    rows = conformance.frame.select(
        pl.col("conversation_id").cast(pl.String), "is_conforming", "fitness"
    ).unique("conversation_id", keep="first", maintain_order=True)
    joined = labels.select("conversation_id", "intent").join(rows, on="conversation_id", how="left")
    checked = joined.filter(pl.col("is_conforming").is_not_null())
    if checked.is_empty():
        raise _Absent(
            f"no labelled conversation in {CONFORMANCE} (run {conformance.run_id}): "
            "was any conversation checked against a documented SOP?"
        )
    per_intent = (
        joined.group_by("intent")
        .agg(
            n=pl.len(),
            n_checked=pl.col("is_conforming").is_not_null().sum(),
            conforming_share=pl.col("is_conforming").cast(pl.Float64).mean(),
            mean_fitness=pl.col("fitness").mean(),
        )
        .sort("intent")
    )
    shares = per_intent["conforming_share"].drop_nulls()
    return {
        "run_id": conformance.run_id,
        "n_checked": checked.height,
        "checked_share": checked.height / labels.height,
        "conforming_share": float(checked["is_conforming"].cast(pl.Float64).mean()),
        "macro_conforming_share": float(shares.mean()) if shares.len() else None,
        "mean_fitness": float(checked["fitness"].mean()),
        "per_intent": {
            row["intent"]: {k: v for k, v in row.items() if k != "intent"}
            for row in per_intent.to_dicts()
        },
    }


def _score_outcomes(outcomes: _Table, labels: pl.DataFrame) -> dict[str, Any]:
    """Score the outcome of each conversation whose label has one.

    ``accuracy`` over those conversations; per true outcome its ``recall``, per outcome
    found its ``precision``, and the confusion counts; ``derived_share`` is the share
    whose outcome was derived from the transcript rather than read from the data.
    """
    truth = labels.filter(pl.col("outcome").is_not_null()).select("conversation_id", "outcome")
    if truth.is_empty():
        raise _Absent("the labels carry no outcome: nothing to score outcomes against")
    rows = outcomes.frame.select(
        pl.col("conversation_id").cast(pl.String),
        pl.col("outcome").cast(pl.String).alias("found"),
        pl.col("outcome_source").cast(pl.String),
    ).unique("conversation_id", keep="first", maintain_order=True)
    joined = truth.join(rows, on="conversation_id")
    if joined.is_empty():
        raise _Absent(
            f"no labelled conversation in {OUTCOMES} (run {outcomes.run_id}): "
            "do the labels belong to this database?"
        )
    right = pl.col("outcome") == pl.col("found")
    recall = joined.group_by("outcome").agg(n=pl.len(), recall=right.mean()).sort("outcome")
    precision = joined.group_by("found").agg(n=pl.len(), precision=right.mean()).sort("found")
    confusion: dict[str, dict[str, int]] = defaultdict(dict)
    counts = joined.group_by("outcome", "found").len().sort("outcome", "found")
    for true, found, n in counts.iter_rows():
        confusion[true][found] = n
    return {
        "run_id": outcomes.run_id,
        "n": joined.height,
        "accuracy": float(joined.select(right.mean()).item()),
        "macro_recall": float(recall["recall"].mean()),
        "derived_share": float((joined["outcome_source"] == "derived").mean()),
        "recall": {r["outcome"]: {"n": r["n"], "recall": r["recall"]} for r in recall.to_dicts()},
        "precision": {
            r["found"]: {"n": r["n"], "precision": r["precision"]} for r in precision.to_dicts()
        },
        "confusion": dict(confusion),
    }


def _score_drift(drift: _Table, truth_dir: Path | None, window_days: int) -> dict[str, Any]:
    truth = _read_truth(truth_dir, "drift.json")
    planted = truth.get("findings")
    required = ("sop_id", "step", "kind", "onset")
    if not isinstance(planted, list) or not all(
        isinstance(f, dict) and all(k in f for k in required) for f in planted
    ):
        raise LabelsError(
            f"{truth_dir}/drift.json: findings: expected a list of objects with "
            f"{', '.join(required)} (team optional)"
        )
    # Precision is over the kinds a planted finding can have (a step's deviation rate);
    # mix changes, change points, exception clusters and outcome impacts are other
    # questions, counted apart.
    frame = drift.frame
    flagged = frame.filter(pl.col("flagged").fill_null(False))
    step_level = flagged.filter(pl.col("kind").is_in(STEP_KINDS))
    others = flagged.filter(~pl.col("kind").is_in(STEP_KINDS)).group_by("kind").len().sort("kind")
    printed = print_order(flagged).to_dicts()
    ranks = rank_planted(printed, planted, window_days=window_days)
    return {
        "run_id": drift.run_id,
        **match_drift(step_level.to_dicts(), planted, window_days=window_days),
        "n_flagged_other_kinds": dict(others.iter_rows()),
        "n_printed": len(printed),
        "planted": [
            {**{k: truth.get(k) for k in ("sop_id", "step", "kind", "team", "onset")}, "rank": rank}
            for truth, rank in zip(planted, ranks, strict=True)
        ],
        "outcome_effects": _outcome_effects(frame, truth.get("outcome_effects") or []),
    }


def _outcome_effects(frame: pl.DataFrame, planted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each planted effect of skipping a step beside the pooled impact the stage found."""
    needed = {"kind", "step", "metric", "outcome_deviating", "outcome_conforming", "sop_id"}
    if not planted or not needed <= set(frame.columns):
        return []
    found = frame.filter((pl.col("kind") == "outcome_impact") & pl.col("sop_id").is_null())
    results = []
    for effect in planted:
        metric = str(effect.get("metric", "")).removesuffix("_7d")
        rows = found.filter((pl.col("step") == effect.get("step")) & (pl.col("metric") == metric))
        if "details" in rows.columns:  # the impact of skipping, not of other deviations
            rows = rows.filter(pl.col("details").str.contains('"deviation": "missing"'))
        row = rows.row(0, named=True) if rows.height else None
        true_delta = effect["measured_rate_when_skipped"] - effect["measured_rate_when_done"]
        delta = row and row["outcome_deviating"] - row["outcome_conforming"]
        results.append({
            "step": effect.get("step"),
            "metric": metric,
            "true_skipped": effect["measured_rate_when_skipped"],
            "true_done": effect["measured_rate_when_done"],
            "found_skipped": row and row["outcome_deviating"],
            "found_done": row and row["outcome_conforming"],
            "found_flagged": row and row.get("flagged"),
            "same_sign": None if delta is None else (delta > 0) == (true_delta > 0),
            "delta_ratio": None if not delta or not true_delta else delta / true_delta,
        })  # fmt: skip
    return results


def _score_readiness(
    readiness: _Table,
    assignments: _Table | _Absent,
    workflows: _Table | None,
    labels: pl.DataFrame,
    truth_dir: Path | None,
) -> dict[str, Any]:
    truth = _read_truth(truth_dir, "readiness.json")
    order, tiers = truth.get("order"), truth.get("tiers", {})
    if not isinstance(order, list) or not isinstance(tiers, dict):
        raise LabelsError(
            f"{truth_dir}/readiness.json: expected "
            '{"order": [intent, ...], "tiers": {intent: tier}}'
        )
    # A scored workflow stands for the true intent most of its labelled conversations
    # carry (ties: alphabetical): its conversations from ``outcomes`` when the rows name
    # a workflow, else (older databases) those assigned to its intent, outliers left out.
    rows = readiness.frame.with_columns(pl.col("intent_id").cast(pl.String))
    by_workflow = workflows is not None and rows["workflow_id"].is_not_null().all()
    if by_workflow:
        key, members = "workflow_id", workflows.frame.select("conversation_id", "workflow_id")
    elif isinstance(assignments, _Table):
        key = "intent_id"
        members = assignments.frame.filter(
            pl.col("intent_id").is_not_null() & ~pl.col("is_outlier").fill_null(False)
        ).select("conversation_id", "intent_id")
    else:
        raise _Absent("no outcomes or intent assignments: cannot tell which intent a row is")
    votes = members.select(
        pl.col("conversation_id").cast(pl.String), pl.col(key).cast(pl.String)
    ).join(labels.select("conversation_id", "intent"), on="conversation_id")
    counts = Counter(zip(votes[key], votes["intent"], strict=True))
    majority: dict[str, str] = {}
    for (group, intent), _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1])):
        majority.setdefault(group, intent)
    # best first: by rank where every row has one (older tables: by score)
    best_first = (
        (pl.col("rank"), -pl.col("score"))
        if rows["rank"].is_not_null().all()
        else (-pl.col("score"),)
    )
    rows = rows.with_columns(_key=pl.col(key).cast(pl.String)).sort(*best_first, nulls_last=True)
    found_order: list[str] = []
    found_tier: dict[str, Any] = {}
    for group, tier in rows.select("_key", "tier").iter_rows():
        intent = majority.get(group)
        if intent is not None and intent not in found_tier:
            found_order.append(intent)
            found_tier[intent] = tier
    compared = [i for i in found_tier if i in tiers]
    return {
        "run_id": readiness.run_id,
        "matched_by": key,
        "spearman": spearman(found_order, order),
        "n_common": len(set(found_order) & set(order)),
        "tier_accuracy": (
            sum(found_tier[i] == tiers[i] for i in compared) / len(compared) if compared else None
        ),
        "n_tiers_compared": len(compared),
        "tiers": {i: {"found": found_tier[i], "designed": tiers[i]} for i in compared},
        "n_unmapped_rows": rows.filter(~pl.col("_key").is_in(list(majority))).height,
        "row_map": {k: majority[k] for k in rows["_key"] if k in majority},
    }


def _read_truth(truth_dir: Path | None, name: str) -> dict[str, Any]:
    if truth_dir is None:
        raise _Absent(f"no truth folder given: pass truth_dir holding {name}")
    path = Path(truth_dir) / name
    if not path.exists():
        raise _Absent(f"{path} not found: no ground truth for this section")
    try:
        truth = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(truth, dict):
        raise LabelsError(f"{path}: expected a JSON object, found {type(truth).__name__}")
    return truth


def _json_safe(value: Any) -> Any:
    """NaN -> None, dates -> ISO strings, numpy scalars -> Python; recursively."""
    if isinstance(value, dict):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
