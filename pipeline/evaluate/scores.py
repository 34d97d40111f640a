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
  details, finding_id, run_id)``: besides precision and recall, each planted finding's
  rank in the order ``cxminer drift`` prints (:func:`pipeline.drift.findings.print_order`),
  the precision over every printed finding that claims a change in time, and findings
  printed twice;
- ``sops(sop_id, yaml, run_id)``: the flagged exception clusters whose exemplar fills a
  documented template;
- ``readiness(intent_id, score, tier, run_id)``;
- ``turns(conversation_id, turn_idx, text)``, every run's: the stored (redacted) text of
  the turns whose labels carry ``turn_pii``.

Ground truth: the labels JSONL (``pipeline.evaluate.truth``) and, in ``truth_dir``,
``drift.json`` (``{"findings": [{"sop_id", "step", "kind", "team", "onset"}, ...]}``)
and ``readiness.json`` (``{"order": [true intents, best first], "tiers": {intent: tier}}``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import schema
from pipeline.evaluate.conformance import score_conformance
from pipeline.evaluate.drift import score_drift
from pipeline.evaluate.intents import score_intents
from pipeline.evaluate.outcomes import score_outcomes
from pipeline.evaluate.readiness import score_readiness
from pipeline.evaluate.redaction import score_redaction
from pipeline.evaluate.sections import Absent, Table, attempt, json_safe, section
from pipeline.evaluate.steps import match_steps, score_process, score_step_log, score_steps
from pipeline.evaluate.truth import read_labels
from pipeline.store import Store, open_store

__all__ = ["evaluate", "score_step_log"]

INTENT_ASSIGNMENTS = schema.INTENT_ASSIGNMENTS
INTENTS = schema.INTENTS
STEP_EVENTS = schema.STEP_EVENTS
DRIFT_FINDINGS = schema.DRIFT_FINDINGS
READINESS = schema.READINESS
OUTCOMES = schema.OUTCOMES
CONFORMANCE = schema.CONFORMANCE
SOPS = schema.SOPS
# table -> (required columns, the stage that writes it, optional columns)
_READS = {
    INTENT_ASSIGNMENTS: (("conversation_id", "intent_id", "is_outlier"), "intents", ()),
    INTENTS: (("intent_id", "label"), "intents", ()),
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
            "finding_id",
            "workflow_id",
            "agent_hash",
            "window_end",
            "n",
        ),  # fmt: skip
    ),
    SOPS: (("sop_id", "yaml"), "process", ()),
    READINESS: (("intent_id", "score", "tier"), "readiness", ("workflow_id", "rank")),
    OUTCOMES: (("conversation_id", "workflow_id"), "drift", ("outcome", "outcome_source")),
    CONFORMANCE: (("conversation_id", "is_conforming", "fitness"), "drift", ()),
}


def evaluate(
    db_path: Path, labels_path: Path, *, truth_dir: Path | None = None, window_days: int = 7
) -> dict[str, Any]:
    """Score a database's intents, steps, process graphs, drift, readiness and redaction.

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
        ``with_turn_steps``, ``with_turn_pii``) and ``intents``, ``steps``, ``process``,
        ``conformance``, ``outcomes``, ``drift``, ``readiness``, ``redaction``, each
        ``{"status": "ok", "run_id": ..., metrics...}`` or
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
        conversations = attempt(
            _read_latest, store, "conversations", ["conversation_id"], "ingest", latest=False
        )
        stored_turns = (
            attempt(_read_latest, store, schema.TURNS, ["conversation_id", "turn_idx", "text"],
                    "ingest", latest=False)
            if labels["turn_pii"].is_not_null().any()
            else Absent("the labels carry no turn_pii: nothing to score redaction against")
        )  # fmt: skip
        tables = {
            table: attempt(_read_latest, store, table, list(columns), stage, optional=optional)
            for table, (columns, stage, optional) in _READS.items()
        }
    ingested = (
        set() if isinstance(conversations, Absent) else set(conversations.frame["conversation_id"])
    )
    assignments, events = tables[INTENT_ASSIGNMENTS], tables[STEP_EVENTS]
    step_data = attempt(match_steps, events, labels) if isinstance(events, Table) else events
    report = {
        "labels": {
            "n": labels.height,
            "matched_conversations": sum(c in ingested for c in labels["conversation_id"]),
            "with_steps": labels["steps"].is_not_null().sum(),
            "with_turn_steps": labels["turn_steps"].is_not_null().sum(),
            "with_turn_pii": labels["turn_pii"].is_not_null().sum(),
        },
        "intents": section(
            score_intents,
            assignments,
            labels,
            tables[INTENTS] if isinstance(tables[INTENTS], Table) else None,
        ),
        "steps": section(score_steps, step_data),
        "process": section(score_process, step_data),
        "conformance": section(score_conformance, tables[CONFORMANCE], labels),
        "outcomes": section(score_outcomes, tables[OUTCOMES], labels),
        "drift": section(
            score_drift,
            tables[DRIFT_FINDINGS],
            truth_dir,
            window_days,
            tables[SOPS] if isinstance(tables[SOPS], Table) else None,
        ),
        "readiness": section(
            score_readiness,
            tables[READINESS],
            assignments,
            tables[OUTCOMES] if isinstance(tables[OUTCOMES], Table) else None,
            labels,
            truth_dir,
        ),
        "redaction": section(score_redaction, stored_turns, labels),
    }
    return json_safe(report)


def _read_latest(
    store: Store,
    table: str,
    required: list[str],
    stage: str,
    *,
    optional: tuple[str, ...] | list[str] = (),
    latest: bool = True,
) -> Table:
    """Read ``required`` (and ``optional``, null when missing) columns of the latest run.

    With ``latest=False`` (or without a ``run_id`` column) every row is read.
    """
    present = set(
        store.sql(
            "select column_name from information_schema.columns where table_name = ?", [table]
        )["column_name"]
    )
    if not present:
        raise Absent(f"table {table} not found: run the {stage} stage")
    missing = [c for c in required if c not in present]
    if missing:
        raise Absent(
            f"table {table} lacks column(s) {', '.join(missing)}: expected {', '.join(required)}; "
            "was the database written by another cxminer version?"
        )
    columns = ", ".join([*required, *(c if c in present else f"null as {c}" for c in optional)])
    has_runs = latest and "run_id" in present
    run_id = store.scalar(f"select max(run_id) from {table}") if has_runs else None
    where, params = ("where run_id = ?", [run_id]) if run_id is not None else ("", [])
    frame = store.sql(f"select {columns} from {table} {where}", params)
    if frame.is_empty():
        raise Absent(f"table {table} is empty: run the {stage} stage")
    return Table(frame, run_id)
