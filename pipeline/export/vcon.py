"""Conversations and cxminer's findings about them as IETF vCon documents.

One vCon a conversation, in the syntax of draft-ietf-vcon-vcon-core (``vcon`` 0.4.0)
with the contact-centre extension (``CC``, draft-ietf-vcon-cc-extension: party ``role``,
dialog ``interaction_id``), declared in ``extensions`` (it only adds parameters a reader
may ignore, so it is not listed in ``critical``). What each document holds:

- ``uuid``: a version 8 UUID from a hash of the conversation id, so exporting again
  gives the same document; ``created_at``: when the conversation started (else when it
  was ingested), never the time of export, for the same reason.
- ``parties``: one a role that speaks or has a stored id (customer, agent, bot, system,
  in that order), with ``role`` and, for customer and agent, the stored keyed hash as
  ``uuid``; never a raw id or a name.
- ``dialog``: one ``text`` entry a turn that is an utterance, in turn order, with the
  redacted text as stored, ``start`` (the turn's time; left out where the source gave
  none, rather than made up: such a document misses the schema's required ``start``) and
  ``parties`` (the speaker first, then the other parties).
- ``analysis``: vendor ``cxminer``, ``encoding: json``, a JSON object as ``body`` carrying
  the ``run_id`` that produced it; the types and their schemas are
  :data:`ANALYSIS_SCHEMAS`. Action events (tool calls) are the ``actions`` analysis,
  never dialog text.

Everything here is pure: frames in, dicts out; :mod:`pipeline.export.run` reads the
store and writes the files.
"""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import orjson
import polars as pl

from pipeline import schema
from pipeline.errors import SchemaError

VCON_VERSION = "0.4.0"
CC_EXTENSION = "CC"
VENDOR = "cxminer"
#: analysis ``type`` -> ``schema`` token of its body, in the order they are written
ANALYSIS_SCHEMAS = {
    "intent": "cxminer-intent/1",
    "steps": "cxminer-steps/1",
    "conformance": "cxminer-conformance/1",
    "drift": "cxminer-drift/1",
    "actions": "cxminer-actions/1",
}
#: The columns :func:`build_vcons` reads from each frame.
COLUMNS = {
    "conversations": ("conversation_id", "channel", "customer_hash", "agent_hash",
                      "started_at", "ingested_at"),
    "turns": ("conversation_id", "turn_idx", "speaker", "event_type", "text", "action_name",
              "args", "action_status", "ts", "run_id"),
    "step_events": ("conversation_id", "seq", "turn_idx", "step_id", "source", "confidence",
                    "sop_id", "workflow_id", "is_repeat", "run_id"),
    "step_types": ("step_id", "label"),
    "intent_assignments": ("conversation_id", "intent_id", "probability", "is_outlier",
                           "method", "model_version", "run_id"),
    "intents": ("intent_id", "label", "family_id", "family_label"),
    "conformance": ("conversation_id", "sop_id", "version", "variant_id", "fitness", "missing",
                    "undocumented", "order_violations", "skipped_gates", "skipped",
                    "is_conforming", "run_id"),
    "drift_examples": ("finding_id", "kind", "workflow_id", "step", "rank", "conversation_id",
                       "turn_idx", "why", "run_id"),
    "drift_findings": ("finding_id", "severity", "sentence", "window_start", "window_end"),
}  # fmt: skip
_UUID_SALT = b"cxminer vcon\x00"  # hashed before the conversation id
_TIME = "%Y-%m-%dT%H:%M:%S%.fZ"  # RFC 3339 in UTC; fraction digits only where there are some


def vcon_uuid(conversation_id: str) -> str:
    """Return the vCon ``uuid`` of a conversation: a version 8 UUID, a hash of its id.

    The same id always gives the same UUID (so a re-export rewrites the same files),
    and the UUID says nothing about the id that a hash does not.
    """
    digest = hashlib.sha256(_UUID_SALT + conversation_id.encode("utf-8")).digest()
    value = int.from_bytes(digest[:16], "big")
    value = (value & ~(0xF << 76)) | (8 << 76)  # version 8 (custom)
    value = (value & ~(0x3 << 62)) | (0x2 << 62)  # RFC 9562 variant
    return str(uuid.UUID(int=value))


def build_vcons(
    conversations: pl.DataFrame,
    turns: pl.DataFrame,
    *,
    step_events: pl.DataFrame,
    step_types: pl.DataFrame,
    intent_assignments: pl.DataFrame,
    intents: pl.DataFrame,
    conformance: pl.DataFrame,
    drift_examples: pl.DataFrame,
    drift_findings: pl.DataFrame,
) -> list[dict[str, Any]]:
    """Return one vCon document a conversation, in the order of ``conversations``.

    Parameters
    ----------
    conversations
        Rows of ``conversations`` plus ``ingested_at`` (when its ingest run started).
    turns, step_events, intent_assignments, conformance, drift_examples
        Those tables' rows for these conversations (others are ignored).
    step_types, intents, drift_findings
        Lookups: step labels, the intents of the latest intents run (label, family), the
        drift findings (severity, sentence, window) that the examples refer to.

    Returns
    -------
    list of dict
        The documents; each of their ``body`` values with ``encoding: json`` is a JSON
        object. The columns read are :data:`COLUMNS`.

    Raises
    ------
    SchemaError
        A frame lacks one of its :data:`COLUMNS`.
    """
    frames = _selected(
        conversations=conversations, turns=turns, step_events=step_events,
        step_types=step_types, intent_assignments=intent_assignments, intents=intents,
        conformance=conformance, drift_examples=drift_examples, drift_findings=drift_findings,
    )  # fmt: skip
    per_conversation = frames["conversations"].select(
        "conversation_id", "channel", "customer_hash", "agent_hash",
        created_at=pl.coalesce(_time("started_at"), _time("ingested_at")),
    )  # fmt: skip
    for name, nested in _nested(frames).items():
        per_conversation = per_conversation.join(
            nested, on="conversation_id", how="left", maintain_order="left"
        ).rename({"rows": name})
    return [_vcon(row) for row in per_conversation.iter_rows(named=True)]


def dump_vcon(vcon: dict[str, Any]) -> bytes:
    """Serialise a vCon as indented UTF-8 JSON with a final newline; same dict, same bytes."""
    return orjson.dumps(vcon, option=orjson.OPT_INDENT_2 | orjson.OPT_APPEND_NEWLINE)


def _selected(**frames: pl.DataFrame) -> dict[str, pl.DataFrame]:
    """Return the frames :func:`build_vcons` reads, cut to :data:`COLUMNS`.

    Raises
    ------
    SchemaError
        A frame lacks a column it needs.
    """
    for name, columns in COLUMNS.items():
        missing = [c for c in columns if c not in frames[name].columns]
        if missing:
            raise SchemaError(
                f"{name}: missing column(s) {', '.join(missing)}; expected {', '.join(columns)}"
            )
    return {name: frames[name].select(columns) for name, columns in COLUMNS.items()}


def _time(column: str) -> pl.Expr:
    """Format a time column as RFC 3339 text in UTC (naive times are read as UTC)."""
    return pl.col(column).cast(pl.Datetime("us", "UTC")).dt.strftime(_TIME)


def _nested(frames: dict[str, pl.DataFrame]) -> dict[str, pl.DataFrame]:
    """Return each conversation's rows of the other tables: one list of structs a table."""
    labels = frames["step_types"].unique("step_id", keep="first")
    findings = (
        frames["drift_findings"]
        .unique("finding_id", keep="first")
        .with_columns(_time("window_start"), _time("window_end"))
    )
    tables = {
        "turns": frames["turns"].sort("conversation_id", "turn_idx").with_columns(ts=_time("ts")),
        "steps": frames["step_events"]
        .sort("conversation_id", "seq")
        .join(labels, on="step_id", how="left", maintain_order="left"),
        "intent": frames["intent_assignments"].join(
            frames["intents"].unique("intent_id", keep="first"), on="intent_id", how="left",
            maintain_order="left",
        ),
        "conformance": frames["conformance"].sort("conversation_id", "sop_id", "version"),
        "drift": frames["drift_examples"]
        .sort("conversation_id", "finding_id", "rank")
        .join(findings, on="finding_id", how="left", maintain_order="left"),
    }  # fmt: skip
    return {
        name: table.group_by("conversation_id", maintain_order=True).agg(
            rows=pl.struct(pl.all().exclude("conversation_id"))
        )
        for name, table in tables.items()
    }


def _vcon(row: dict[str, Any]) -> dict[str, Any]:
    """Build one conversation's vCon from its row of nested tables."""
    turns = row["turns"] or []
    parties, index = _parties(row, {turn["speaker"] for turn in turns})
    dialog, dialog_of = _dialog(row, turns, parties, index)
    document: dict[str, Any] = {
        "vcon": VCON_VERSION,
        "uuid": vcon_uuid(row["conversation_id"]),
        "created_at": row["created_at"],
        "extensions": [CC_EXTENSION],
        "parties": parties,
        "dialog": dialog,
    }
    if document["created_at"] is None:
        del document["created_at"]
    document["analysis"] = _analyses(row, turns, index, dialog_of)
    return document


def _parties(row: dict[str, Any], speakers: set[str]) -> tuple[list[dict], dict[str, int]]:
    """Return the parties in role order, and each role's index among them."""
    hashes = {"customer": row["customer_hash"], "agent": row["agent_hash"]}
    parties: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    for role in schema.SPEAKERS:
        if role in speakers or hashes.get(role):
            index[role] = len(parties)
            party = {"role": role}
            if hashes.get(role):
                party["uuid"] = hashes[role]
            parties.append(party)
    return parties, index


def _dialog(
    row: dict[str, Any], turns: list[dict], parties: list[dict], index: dict[str, int]
) -> tuple[list[dict], dict[int, int]]:
    """Return the text dialog entries (utterances only) and each one's dialog index."""
    dialog: list[dict[str, Any]] = []
    dialog_of: dict[int, int] = {}
    for turn in turns:
        if turn["event_type"] == "action":
            continue
        sender = index[turn["speaker"]]
        entry: dict[str, Any] = {"type": "text"}
        if turn["ts"] is not None:
            entry["start"] = turn["ts"]
        entry["parties"] = [sender, *(i for i in range(len(parties)) if i != sender)]
        entry |= {"mediatype": "text/plain", "encoding": "none", "body": turn["text"] or ""}
        if row["channel"]:
            entry["application"] = row["channel"]
        entry["interaction_id"] = row["conversation_id"]
        dialog_of[turn["turn_idx"]] = len(dialog)
        dialog.append(entry)
    return dialog, dialog_of


def _analyses(
    row: dict[str, Any], turns: list[dict], index: dict[str, int], dialog_of: dict[int, int]
) -> list[dict[str, Any]]:
    """Return the analysis entries: intent, steps, conformance (one a SOP), drift, actions."""
    bodies: list[tuple[str, dict[str, Any]]] = []
    for intent in row["intent"] or []:
        bodies.append(("intent", _intent(intent)))
    steps = row["steps"] or []
    if steps:
        bodies.append(("steps", _steps(steps, dialog_of)))
    for check in row["conformance"] or []:
        bodies.append(("conformance", _conformance(check)))
    examples = row["drift"] or []
    if examples:
        bodies.append(("drift", _drift(examples, dialog_of)))
    actions = [turn for turn in turns if turn["event_type"] == "action"]
    if actions:
        bodies.append(("actions", _actions(actions, turns, index, dialog_of)))
    return [
        {"type": kind, "vendor": VENDOR, "schema": ANALYSIS_SCHEMAS[kind], "encoding": "json",
         "body": body}
        for kind, body in bodies
    ]  # fmt: skip


def _intent(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("intent_id", "label", "family_id", "family_label", "probability", "is_outlier",
            "method", "model_version")  # fmt: skip
    return {"run_id": row["run_id"], **{key: row[key] for key in keys}}


def _steps(steps: list[dict], dialog_of: dict[int, int]) -> dict[str, Any]:
    workflows = [step["workflow_id"] for step in steps if step["workflow_id"] is not None]
    return {
        "run_id": steps[0]["run_id"],
        "workflow_id": workflows[0] if workflows else None,
        "steps": [
            {"seq": step["seq"], "step_id": step["step_id"], "label": step["label"],
             "source": step["source"], "sop_id": step["sop_id"], "turn_idx": step["turn_idx"],
             "dialog": dialog_of.get(step["turn_idx"]), "confidence": step["confidence"],
             "is_repeat": step["is_repeat"]}
            for step in steps
        ],
    }  # fmt: skip


def _conformance(row: dict[str, Any]) -> dict[str, Any]:
    keys = ("sop_id", "version", "variant_id", "fitness", "missing", "undocumented",
            "order_violations", "skipped_gates", "skipped", "is_conforming")  # fmt: skip
    return {"run_id": row["run_id"], **{key: row[key] for key in keys}}


def _drift(examples: list[dict], dialog_of: dict[int, int]) -> dict[str, Any]:
    keys = ("finding_id", "kind", "workflow_id", "step", "severity", "window_start",
            "window_end", "sentence", "rank", "turn_idx")  # fmt: skip
    return {
        "run_id": examples[0]["run_id"],
        "findings": [
            {**{key: example[key] for key in keys}, "dialog": dialog_of.get(example["turn_idx"]),
             "why": example["why"]}
            for example in examples
        ],
    }  # fmt: skip


def _actions(
    actions: list[dict], turns: list[dict], index: dict[str, int], dialog_of: dict[int, int]
) -> dict[str, Any]:
    """Return the action events, each with its place: the dialog entry it follows (or null)."""
    before: dict[int, int | None] = {}
    last: int | None = None
    for turn in turns:
        before[turn["turn_idx"]] = last
        last = dialog_of.get(turn["turn_idx"], last)
    return {
        "run_id": actions[0]["run_id"],
        "actions": [
            {"turn_idx": turn["turn_idx"], "after_dialog": before[turn["turn_idx"]],
             "party": index[turn["speaker"]], "action": turn["action_name"],
             "args": None if turn["args"] is None else orjson.loads(turn["args"]),
             "status": turn["action_status"], "start": turn["ts"]}
            for turn in actions
        ],
    }  # fmt: skip
