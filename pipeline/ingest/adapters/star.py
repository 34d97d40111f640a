"""The STAR dialogue format (Rasa's wizard-of-oz corpus): one dialogue JSON a line.

Mapping: ``User`` -> customer; ``Wizard`` -> agent, for what the customer saw (free
``utter`` text and the picked reply of ``pick_suggestion``); the wizard's ``query`` (named
by its request type, :func:`call_name`) and the ``KnowledgeBase`` result become action
turns; a result's ``status`` says whether the
call failed (:func:`result_kind`). ``UserGuide`` instructions,
``request_suggestions`` drafts and UI selections are not conversation turns.
``ActionLabel`` (ground truth) never enters the record: :func:`dialogue_to_record`
returns it separately, for ``cxminer labels``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import (
    RawBatch,
    Record,
    build_batch,
    canonical_hash,
    epoch_to_iso,
    reject,
)
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import iter_lines
from pipeline.ingest.adapters.jsonl import parse_line

_OUTCOMES = {"Complete": "resolved"}  # every disconnect level maps to "abandoned"
_GROUND_TRUTH_KEYS = ("Events", "Scenario", "UserQuestionnaire", "WizardQuestionnaire")
# A KnowledgeBase result's status text is the first of these keys its Item has.
RESULT_STATUS_KEYS = ("Message", "RequestStatus", "ChangeStatus", "Confirmation", "RideStatus")
# Status texts of a call that failed: authentication refused ("You must provide either
# AccountNumber/FullName/PIN or ..."), "Reservation Failed", "We are unable to change
# your trip".
_FAILED = re.compile(r"must provide|failed|unable", re.IGNORECASE)
# Status texts of a call that worked and found nothing free: the flowcharts branch on it.
_UNAVAILABLE = re.compile(r"unavailable|conflicting|booked at that time|too small", re.IGNORECASE)
RESULT_KINDS = ("empty", "error", "unavailable", "success")


def read_star(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of canonical conversations from a STAR ``dialogues.jsonl(.gz)``."""
    records: list[Record] = []
    rejects: list[dict] = []
    for line_no, line, error in iter_lines(path):
        locator = f"line {line_no}"
        if error is not None:
            rejects.append(reject(locator, *error))
            continue
        parsed = parse_line(locator, line, rejects)
        if parsed is None:
            continue
        try:
            data, _labels = dialogue_to_record(parsed.data)
        except (KeyError, TypeError, ValueError) as exc:
            keep = {k: v for k, v in parsed.data.items() if k not in _GROUND_TRUTH_KEYS}
            rejects.append(
                reject(
                    locator,
                    "bad_type",
                    f"not a STAR dialogue ({type(exc).__name__}: {exc})",
                    _raw(keep),
                    field=str(exc.args[0]) if isinstance(exc, KeyError) else "",
                )
            )
            continue
        # raw is the converted record: the original line carries ActionLabels and the
        # scenario (ground truth), which must not reach the database.
        records.append(Record(locator, data, canonical_hash(data), _raw(data)))
        if len(records) >= batch_size:
            yield build_batch(records, rejects)
            records, rejects = [], []
    if records or rejects:
        yield build_batch(records, rejects)


def dialogue_to_record(dialogue: dict[str, Any]) -> tuple[dict[str, Any], dict[int, str]]:
    """Convert one STAR dialogue to a canonical record and its per-turn step labels.

    Returns
    -------
    record
        Canonical conversation dict (see DESIGN.md, "Interfaces").
    labels
        ``{turn position: ActionLabel}`` for the wizard's picked replies.
    """
    turns: list[dict[str, Any]] = []
    labels: dict[int, str] = {}
    times = [
        e["UnixTime"] for e in dialogue["Events"] if isinstance(e.get("UnixTime"), int | float)
    ]
    for event in dialogue["Events"]:
        agent, action = event.get("Agent"), event.get("Action")
        ts = event.get("UnixTime")
        iso = epoch_to_iso(ts) if isinstance(ts, int | float) else None
        if agent == "User" and action == "utter":
            turns.append({"speaker": "customer", "text": event.get("Text", ""), "ts": iso})
        elif agent == "Wizard" and action in ("utter", "pick_suggestion"):
            if action == "pick_suggestion" and event.get("ActionLabel"):
                labels[len(turns)] = event["ActionLabel"]
            turns.append({"speaker": "agent", "text": event.get("Text", ""), "ts": iso})
        elif agent == "Wizard" and action == "query":
            turns.append(
                {
                    "speaker": "agent",
                    "event_type": "action",
                    "action": call_name(event),
                    "args": {"constraints": event.get("Constraints", [])},
                    "ts": iso,
                }
            )
        elif agent == "KnowledgeBase":
            kind = result_kind(event)
            turns.append(
                {
                    "speaker": "system",
                    "event_type": "action",
                    "action": f"{event.get('APIName', 'kb')}.result",
                    "args": {"item": event.get("Item"), "total_items": event.get("TotalItems")},
                    "status": "failed" if kind in ("empty", "error") else "ok",
                    "ts": iso,
                }
            )
    scenario = dialogue.get("Scenario", {})
    level = dialogue.get("CompletionLevel")
    record = {
        "conversation_id": f"star-{dialogue['DialogueID']}",
        "channel": "chat",
        "agent_id": dialogue.get("AnonymizedWizardWorkerID"),
        "customer_id": dialogue.get("AnonymizedUserWorkerID"),
        "started_at": epoch_to_iso(min(times)) if times else None,
        "ended_at": epoch_to_iso(max(times)) if times else None,
        "outcome": completion_outcome(level),
        "metadata": {
            "dataset": "star",
            "completion_level": level,
            "happy": scenario.get("Happy"),
            "introduces_conflicts": dialogue.get("IntroducesConflicts"),
            "multi_task": scenario.get("MultiTask"),
            "batch_id": dialogue.get("BatchID"),
        },
        "turns": turns,
    }
    return record, labels


def call_name(event: dict[str, Any]) -> str:
    """Name a wizard's API call: ``<APIName>.<request type>``, else ``<APIName>.query``.

    A call's ``RequestType`` constraint ("Check", "Book") says which operation it is: a
    check of availability and a booking are different tool calls, and the flowcharts give
    each its own step (``query_check``, ``query_book``).
    """
    for constraint in event.get("Constraints") or ():
        kind = constraint.get("RequestType") if isinstance(constraint, dict) else None
        name = re.sub(r"[^a-z]", "", str(kind).lower()) if kind is not None else ""
        if name:
            return f"{event['APIName']}.{name}"
    return f"{event['APIName']}.query"


def completion_outcome(level: Any) -> str | None:
    """Return the outcome of a ``CompletionLevel``: resolved or abandoned, None without one.

    ``Complete`` is resolved; every disconnect level is abandoned.
    """
    return None if level is None else _OUTCOMES.get(level, "abandoned")


def result_kind(event: dict[str, Any]) -> str:
    """Classify a ``KnowledgeBase`` result event, telling failed calls from the others.

    Returns
    -------
    str
        One of :data:`RESULT_KINDS`. ``empty``: no item (``TotalItems`` 0, nothing found
        for a search); ``error``: its status text (the first of
        :data:`RESULT_STATUS_KEYS` in ``Item``) says the call was refused or failed;
        ``unavailable``: the call worked and found no free slot, venue or room (the
        flowcharts have a branch for it); ``success`` otherwise, an item without a
        status text included. ``empty`` and ``error`` are failed calls.
    """
    item = event.get("Item")
    if not isinstance(item, dict) or event.get("TotalItems") == 0:
        return "empty"
    status = next((str(item[k]) for k in RESULT_STATUS_KEYS if k in item), "")
    if _FAILED.search(status):
        return "error"
    if _UNAVAILABLE.search(status):
        return "unavailable"
    return "success"


def looks_like_star(first: dict[str, Any]) -> bool:
    """Whether a parsed first record is a STAR dialogue."""
    return "DialogueID" in first and "Events" in first


def _raw(data: dict[str, Any]) -> str:
    return orjson.dumps(data, default=str).decode()[:4000]


def detect(head: FileHead) -> bool:
    """Whether the first record is a STAR dialogue."""
    first = head.first_record
    return isinstance(first, dict) and looks_like_star(first)


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_star(path, batch_size=config.batch_size)


ADAPTER = Adapter("star", read=_read, detect=detect)
