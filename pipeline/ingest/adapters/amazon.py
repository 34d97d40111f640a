"""Amazon Transcribe Call Analytics and Amazon Connect Contact Lens analysis files.

One adapter reads three dialects, told apart by the document's keys (:func:`dialect`):

- **Transcribe Call Analytics**: ``Transcript[]`` turns with a ``ParticipantRole``
  (AGENT/CUSTOMER), ``Begin/EndOffsetMillis``, ``Sentiment`` and the detected issues,
  outcomes and action items as character offsets; id ``JobName``.
- **Contact Lens voice**: the same turns with a ``ParticipantId`` that ``Participants``
  maps to a role; id ``CustomerMetadata.ContactId``.
- **Contact Lens chat** (``Channel`` CHAT): ``MESSAGE`` turns at their ``AbsoluteTime``;
  ``EVENT`` turns become system action events named by their content type
  (``participant.joined``, ``chat.ended``; a transfer is ``contact.transfer``, status
  ok or failed), with the participant's role as argument; typing and delivery receipts
  are dropped; sentiment, categories and summary items point at turns by ``Id``.

Roles map by :data:`ROLES` (a supervisor speaks as the agent, its role kept on the
turn); another role is passed on lower-cased for ``ingest.speaker_aliases``. A voice
turn's offsets become ``ts`` when the call's start is known from a sidecar
``<file>.meta.json`` (:func:`~pipeline.ingest.adapters.aws_pca.read_sidecar`);
``offset_s`` (start, end; seconds to the hundredth, as longer numbers read as ids to
the metadata redaction) stays on every voice turn. Sentiment, detected items (their
text, typed ``issue``/``outcome``/``action_item``) and categories are turn fields outside
the canonical ones, kept by ingest in ``metadata.turn_fields``. Platform redaction
markers go through :func:`~pipeline.ingest.adapters.markers.map_markers`; in a chat file
that is not the redacted output, the spans its ``Redaction`` marks are masked (widened
to whole words), so nothing the platform flagged is stored. Display names are never read.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import CONVERSATION_FIELDS, RawBatch
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.aws_files import (
    FieldError,
    at,
    field,
    kind_of,
    object_at,
    read_documents,
    sniff_document,
)
from pipeline.ingest.adapters.aws_pca import DETECTED
from pipeline.ingest.adapters.markers import UNTYPED, map_markers

TRANSCRIBE, VOICE, CHAT = "transcribe-call-analytics", "contact-lens-voice", "contact-lens-chat"
#: Amazon participant roles -> cxminer speakers; other roles are passed on lower-cased.
ROLES = {"AGENT": "agent", "CUSTOMER": "customer", "SYSTEM": "system", "CUSTOM_BOT": "bot",
         "BOT": "bot", "SUPERVISOR": "agent"}  # fmt: skip
_MARK_KEYS = frozenset(("Participants", "ConversationCharacteristics", "ContentMetadata"))
_EVENT_PREFIX = "application/vnd.amazonaws.connect.event."
_TRANSFERS = {"transfer.succeeded": "ok", "transfer.failed": "failed"}
_RECEIPTS = frozenset(("typing", "message.delivered", "message.read", "connection.acknowledged"))
_PLAIN = frozenset(("", "text/plain", "text/markdown"))
# The type of each transcript item field read (float: any number), checked in one pass.
_TYPES = {**dict.fromkeys(("ParticipantRole", "ParticipantId", "Type", "ContentType",
                           "AbsoluteTime", "Content", "Sentiment"), str),
          **dict.fromkeys(("BeginOffsetMillis", "EndOffsetMillis"), float),
          **dict.fromkeys((*DETECTED, "Attachments"), list), "Redaction": dict}  # fmt: skip


def read_amazon(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of canonical conversations from Transcribe or Contact Lens files.

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    return read_documents(path, batch_size=batch_size, convert=document_to_record, prune=_prune)


def dialect(document: Any) -> str | None:
    """Return which Amazon analysis a parsed document is (``None``: none of them)."""
    if not isinstance(document, dict) or "Transcript" not in document:
        return None
    if _MARK_KEYS.isdisjoint(document):
        return None
    if str(document.get("Channel", "")).upper() == "CHAT":
        return CHAT
    return VOICE if "CustomerMetadata" in document or "Version" in document else TRANSCRIBE


def document_to_record(document: Any, *, fallback_id: str, sidecar: dict) -> dict[str, Any]:
    """Convert one Transcribe Call Analytics or Contact Lens document to a canonical record.

    Raises
    ------
    FieldError
        A field has the wrong type (naming it: ``Transcript[3].BeginOffsetMillis``).
    """
    kind = dialect(document)
    if kind is None:
        raise FieldError("Transcript", "missing; not a Transcribe or Contact Lens document")
    contact = field(document, "CustomerMetadata", "", dict)
    content = field(document, "ContentMetadata", "", dict)
    characteristics = dict(field(document, "ConversationCharacteristics", "", dict))
    categories = field(document, "Categories", "", dict)
    notes, points = _notes_by_id(characteristics, categories), _points_by_time(categories)
    start = None if kind == CHAT else sidecar.get("start")
    masked = kind == CHAT and content.get("Output") != "Redacted"
    transcript = field(document, "Transcript", "", list)
    turns = _turns(transcript, _participant_roles(document), notes, points, start, masked)
    ends = [t.get("EndOffsetMillis") for t in transcript]  # numbers: _turns checked them
    ends = [end for end in ends if end is not None]
    record = {
        "conversation_id": field(contact, "ContactId", "CustomerMetadata.", str)
        or field(document, "JobName", "", str)
        or fallback_id,
        "channel": str(document.get("Channel") or "voice").lower(),
        "started_at": start.isoformat() if start else None,
        "ended_at": at(start, max(ends)) if start and ends else None,
        "metadata": _metadata(document, kind, characteristics, categories, contact, content),
        "turns": turns,
    }
    record.update((k, v) for k, v in sidecar.items() if k in CONVERSATION_FIELDS)
    return record


def _turns(
    transcript: list, roles: dict, notes: dict, points: dict, start: datetime | None, masked: bool
) -> list[dict]:
    """Return the canonical turns of a ``Transcript`` (voice or chat), in file order."""
    turns = []
    for i in range(len(transcript)):
        item, where = object_at(transcript, i, "Transcript"), f"Transcript[{i}]."
        for key, value in item.items():  # one pass over the item's own keys: O(keys)
            if value is not None and type(value) is not _TYPES.get(key, type(value)):
                field(item, key, where, _TYPES[key])  # raises unless an int for a float
        get = item.get
        pid = get("ParticipantId")
        role = get("ParticipantRole") or (roles.get(pid, pid) if pid is not None else None)
        kind = (get("Type") or "MESSAGE").upper()
        content_type = get("ContentType") or ""
        ts = get("AbsoluteTime")
        if kind in ("EVENT", "ATTACHMENT"):
            if (event := _event(kind, content_type, role, item, where)) is not None:
                turns.append({**event, "ts": ts})
            continue
        content = get("Content")
        masks = _masks(content, item, where) if masked and content else ()
        turn: dict[str, Any] = {"speaker": speaker(role), "text": _cut(content, masks)}
        if kind != "MESSAGE":
            turn["event_type"] = kind.lower()  # validation quarantines an unknown turn type
        if role is not None and role.upper() not in ("AGENT", "CUSTOMER", "SYSTEM"):
            turn["participant_role"] = role.lower()
        if content_type not in _PLAIN:
            turn["content_type"] = content_type
        begin = get("BeginOffsetMillis")
        if begin is not None:
            end = get("EndOffsetMillis")
            turn["offset_s"] = [
                round(begin / 1000, 2),
                None if end is None else round(end / 1000, 2),
            ]
            if start is not None:
                turn["ts"] = at(start, begin)
        elif ts is not None:
            turn["ts"] = ts
        note = notes.get(get("Id"), {}) if notes else {}
        if sentiment := get("Sentiment") or note.get("sentiment"):
            turn["sentiment"] = sentiment
        found = [(DETECTED[key], f"{where}{key}[{j}]", entry) for key in DETECTED if key in item
                 for j, entry in enumerate(item[key] or ())]  # fmt: skip
        if found := found + note.get("detected", []):
            turn["detected"] = [
                {"type": name, "text": _span(content, entry, place, masks)}
                for name, place, entry in found
            ]
        matched = note.get("categories", [])
        if begin is not None:
            matched = [n for n, spans in points.items()
                       if any(b <= (end or begin) and e >= begin for b, e in spans)]  # fmt: skip
        if matched:
            turn["categories"] = matched
        turns.append(turn)
    return turns


def _event(kind: str, content_type: str, role: str | None, item: dict, where: str) -> Any:
    """Return the action turn of a chat ``EVENT`` or ``ATTACHMENT`` (``None``: a receipt)."""
    name = content_type.removeprefix(_EVENT_PREFIX)
    if name in _RECEIPTS and kind == "EVENT":
        return None
    event: dict[str, Any] = {"speaker": "system", "event_type": "action", "action": name or "event"}
    if kind == "ATTACHMENT":  # what was sent, never its name
        attached = field(item, "Attachments", where, list)
        types = [a.get("ContentType") for a in attached if isinstance(a, dict)]
        return {**event, "speaker": speaker(role), "action": "attachment.sent",
                "args": {"content_types": types}}  # fmt: skip
    if name in _TRANSFERS:
        event.update(action="contact.transfer", status=_TRANSFERS[name])
    if role is not None:
        event["args"] = {"participant_role": role.lower()}
    return event


def speaker(role: str | None) -> str | None:
    """Return the cxminer speaker of an Amazon participant role (others lower-cased)."""
    return None if role is None else ROLES.get(role.upper(), role.lower())


def _participant_roles(document: dict) -> dict[str, str]:
    parties = field(document, "Participants", "", list)
    roles = {}
    for i in range(len(parties)):
        party = object_at(parties, i, "Participants")
        pid, role = party.get("ParticipantId"), party.get("ParticipantRole")
        if isinstance(pid, str) and isinstance(role, str):
            roles[pid] = role
    return roles


def _offsets(offsets: Any, place: str) -> tuple[int, int] | None:
    """Return ``(begin, end)`` of a ``CharacterOffsets`` object (both spellings), if any."""
    if offsets is None:
        return None
    get = offsets.get if isinstance(offsets, dict) else {}.get
    begin, end = get("Begin", get("BeginOffsetChar")), get("End", get("EndOffsetChar"))
    if type(begin) is not int or type(end) is not int:
        raise FieldError(place, "expected an object of integer begin and end offsets")
    return begin, end


def _span(content: str | None, entry: Any, place: str, masks: Any) -> str | None:
    """Return a detected item's text: its offsets into the turn (masked), else its ``Text``."""
    if not isinstance(entry, dict):
        raise FieldError(place, f"expected an object, found {kind_of(entry)}")
    offsets = _offsets(entry.get("CharacterOffsets"), f"{place}.CharacterOffsets")
    if offsets is None or not content:
        return map_markers(entry["Text"]) if isinstance(entry.get("Text"), str) else None
    return _cut(content, masks, max(offsets[0], 0), min(offsets[1], len(content)))


def _masks(content: str, item: dict, where: str) -> list[tuple[int, int]]:
    """Return the spans ``Redaction.CharacterOffsets`` marks, widened to whole words."""
    spans: list[tuple[int, int]] = []
    redaction = field(item, "Redaction", where, dict)
    marked = field(redaction, "CharacterOffsets", f"{where}Redaction.", list)
    for j, offsets in enumerate(marked):
        place = f"{where}Redaction.CharacterOffsets[{j}]"
        begin, end = _offsets(offsets, place) or (0, 0)
        begin, end = max(begin, 0), min(end, len(content))
        while begin < end and content[begin].isspace():
            begin += 1
        while end > begin and content[end - 1].isspace():
            end -= 1
        while (
            0 < begin < len(content) and content[begin].isalnum() and content[begin - 1].isalnum()
        ):
            begin -= 1  # never leave part of a word the platform marked
        while 0 < end < len(content) and content[end - 1].isalnum() and content[end].isalnum():
            end += 1
        if begin < end:
            spans.append((begin, end))
    return sorted(spans)


def _cut(content: str | None, masks: Any, begin: int = 0, end: int | None = None) -> Any:
    """Return ``content[begin:end]``, masked spans (sorted) as one placeholder each run."""
    if not content:
        return content
    if not masks:  # most turns: only markers to map, if any
        text = content[begin:end]
        return map_markers(text) if "[" in text or "*" in text else text
    end = len(content) if end is None else end
    parts, pos = [], begin
    for mask_begin, mask_end in masks:
        if mask_end <= pos or mask_begin >= end:
            continue
        if mask_begin > pos:
            parts += [content[pos:mask_begin], UNTYPED]
        elif not parts:  # a mask reaching into the start; else it overlaps the last one
            parts.append(UNTYPED)
        pos = mask_end
    parts.append(content[pos:end] if pos < end else "")
    return map_markers("".join(parts))


def _points_by_time(categories: dict) -> dict[str, list[tuple[float, float]]]:
    """Return category -> its voice points of interest as ``(begin, end)`` milliseconds."""
    points: dict[str, list[tuple[float, float]]] = {}
    for name, point in _points(categories):
        begin, end = point.get("BeginOffsetMillis"), point.get("EndOffsetMillis")
        if isinstance(begin, int | float) and isinstance(end, int | float):
            points.setdefault(name, []).append((begin, end))
    return points


def _notes_by_id(characteristics: dict, categories: dict) -> dict[Any, dict]:
    """Return chat item id -> its ``sentiment``, ``detected`` items and ``categories``."""
    notes: dict[Any, dict] = {}
    sentiment = characteristics.get("Sentiment")
    groups = sentiment.get("DetailsByTranscriptItemGroup") if isinstance(sentiment, dict) else None
    for group in groups if isinstance(groups, list) else ():
        for ref in _refs(group):
            notes.setdefault(ref.get("Id"), {})["sentiment"] = group.get("Sentiment")
    summary = characteristics.get("ContactSummary")
    found = summary.get("SummaryItemsDetected") if isinstance(summary, dict) else None
    for k, detected in enumerate(found if isinstance(found, list) else ()):
        for key, name in DETECTED.items():
            entries = detected.get(key) if isinstance(detected, dict) else None
            for entry in entries if isinstance(entries, list) else ():
                for ref in _refs(entry):
                    place = f"ContactSummary.SummaryItemsDetected[{k}].{key}"
                    notes.setdefault(ref.get("Id"), {}).setdefault("detected", []).append(
                        (name, place, ref)
                    )
    for name, point in _points(categories):
        for ref in _refs(point):
            notes.setdefault(ref.get("Id"), {}).setdefault("categories", []).append(name)
    return notes


def _points(categories: dict) -> Iterator[tuple[str, dict]]:
    details = categories.get("MatchedDetails")
    for name, detail in details.items() if isinstance(details, dict) else ():
        points = detail.get("PointsOfInterest") if isinstance(detail, dict) else None
        for point in points if isinstance(points, list) else ():
            if isinstance(point, dict):
                yield name, point


def _refs(entry: Any) -> list[dict]:
    items = entry.get("TranscriptItems") if isinstance(entry, dict) else None
    return [ref for ref in items if isinstance(ref, dict)] if isinstance(items, list) else []


def _metadata(
    document: dict, kind: str, characteristics: dict, categories: dict, contact: dict, content: dict
) -> dict[str, Any]:
    """Return what the turns do not carry (their notes are kept per turn)."""
    summary = characteristics.pop("ContactSummary", None)
    sentiment = characteristics.get("Sentiment")
    if isinstance(sentiment, dict) and "DetailsByTranscriptItemGroup" in sentiment:
        characteristics["Sentiment"] = {
            k: v for k, v in sentiment.items() if k != "DetailsByTranscriptItemGroup"
        }
    post = summary.get("PostContactSummary") if isinstance(summary, dict) else None
    text = post.get("Content") if isinstance(post, dict) else None
    metadata = {
        "platform": "amazon",
        "dialect": kind,
        "language": document.get("LanguageCode"),
        "account_id": document.get("AccountId"),
        "instance_id": contact.get("InstanceId"),
        "version": document.get("Version") or document.get("ChatTranscriptVersion"),
        "output": content.get("Output"),
        "redaction_types": content.get("RedactionTypes"),
        "categories": categories.get("MatchedCategories"),
        "characteristics": characteristics or None,
        "summary": map_markers(text) if isinstance(text, str) else None,
        "job_details": document.get("JobDetails"),
    }
    return {k: v for k, v in metadata.items() if v is not None}


def _prune(document: Any) -> Any:
    """Return a failed document as quarantine may show it: no display names, no words."""
    if not isinstance(document, dict):
        return document
    transcript = document.get("Transcript")
    if isinstance(transcript, list):
        transcript = [
            {k: v for k, v in t.items() if k not in ("DisplayName", "Items")}
            if isinstance(t, dict) else t
            for t in transcript[:20]
        ]  # fmt: skip
    kept = {k: v for k, v in document.items() if k not in ("Participants", "Transcript")}
    return {**kept, "Transcript": transcript}


def detect(head: FileHead) -> bool:
    """Whether the file's first document has a ``Transcript`` and Amazon's analysis keys."""
    keys = (b'"Transcript"', b'"ConversationCharacteristics"', b'"Participants"')
    return dialect(sniff_document(head, keys)) is not None


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_amazon(path, batch_size=config.batch_size)


ADAPTER = Adapter("amazon", read=_read, detect=detect)
