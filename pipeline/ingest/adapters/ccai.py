"""Google CCAI Insights conversations: the upload JSON (``entries``) and the API resource.

One file is one conversation, in either shape, told apart by its keys. The **upload
form** (the JSON text file Insights ingests from Cloud Storage) holds ``entries`` of
``text``, ``role``, ``user_id`` and ``start_timestamp_usec``; it names no conversation, so
the id is the file's stem. The **API form** (a ``Conversation`` resource as
``conversations.get`` returns it) holds ``transcript.transcriptSegments`` with
``segmentParticipant.role``, ``messageTime`` or word offsets, and ``name`` (its last part
is the id), ``startTime``, ``duration``, ``agentId``, ``languageCode``, ``labels``,
``qualityMetadata``.

Roles: ``AGENT``, ``HUMAN_AGENT`` and ``ANY_AGENT`` -> agent, ``AUTOMATED_AGENT`` -> bot,
``CUSTOMER`` and ``END_USER`` -> customer; a segment without a role is placed by its
``channelTag`` against ``callMetadata`` (``customerChannel``/``agentChannel``); any other
role quarantines the conversation (``unknown_speaker``). People's ids become
``agent_id``/``customer_id`` only (agents' display names are dropped). Platform redaction
markers (``[PERSON_NAME]``) become cxminer placeholders. A segment with empty text is
dropped and counted in ``metadata.empty_segments``. Files are read by
:func:`pipeline.ingest.adapters.genesys.read_document`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import RawBatch
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.documents import (
    DocumentProblem,
    compact,
    describe,
    epoch_iso,
    first_document,
    number,
    objects,
    read_document,
    summary,
    turn_text,
)

ROLES = {"AGENT": "agent", "HUMAN_AGENT": "agent", "ANY_AGENT": "agent",
         "AUTOMATED_AGENT": "bot", "CUSTOMER": "customer", "END_USER": "customer"}  # fmt: skip
_MEDIA = {"PHONE_CALL": "voice", "CHAT": "chat"}
_ENTRY_KEYS = frozenset(("start_timestamp_usec", "user_id"))
_KIND = "a CCAI Insights conversation"


def read_ccai(path: Path) -> Iterator[RawBatch]:
    """Yield the raw batch of one CCAI Insights conversation JSON file (gzip allowed).

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    return read_document(path, convert=conversation_to_record, kind=_KIND)


def conversation_to_record(doc: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    """Convert one CCAI conversation (upload or API form) to a canonical record.

    Raises
    ------
    DocumentProblem
        A role is unknown, a timestamp or text has the wrong type, or the transcript is
        not a list.
    """
    if "entries" in doc:
        return _upload_record(doc, fallback_id)
    return _resource_record(doc, fallback_id)


def _upload_record(doc: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    turns: list[dict[str, Any]] = []
    people: dict[str, list[str]] = {"agent": [], "customer": []}
    empty = 0
    for i, entry in enumerate(objects(doc["entries"], "entries")):
        where = f"entries[{i}]"
        speaker = _speaker(entry.get("role"), f"{where}.role")
        usec = entry.get("start_timestamp_usec")
        ts = None if usec is None else epoch_iso(usec, unit="us")
        if usec is not None and ts is None:
            message = f"expected microseconds since the Unix epoch, found {describe(usec)}"
            raise DocumentProblem(f"{where}.start_timestamp_usec", "bad_timestamp", message)
        text = turn_text(entry.get("text"), f"{where}.text")
        if not (text or "").strip():
            empty += 1
            continue
        turns.append({"speaker": speaker, "text": text, "ts": ts})
        user = entry.get("user_id")
        if isinstance(user, str | int) and not isinstance(user, bool) and speaker in people:
            people[speaker].append(str(user))
    info = doc.get("conversation_info")
    categories = info.get("categories") if isinstance(info, dict) else None
    names = [c.get("display_name") for c in categories or () if isinstance(c, dict)]
    metadata = {
        "platform": "ccai_insights",
        "form": "upload",
        "categories": [name for name in names if isinstance(name, str)],
        "n_agents": len(set(people["agent"])) or None,
        "empty_segments": empty or None,
    }
    return {
        "conversation_id": fallback_id,
        "agent_id": next(iter(people["agent"]), None),
        "customer_id": next(iter(people["customer"]), None),
        "metadata": compact(metadata),
        "turns": turns,
    }


def _resource_record(doc: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    name = doc.get("name")
    transcript = doc.get("transcript") or {}
    if not isinstance(transcript, dict):
        message = f"expected an object, found {describe(transcript)}"
        raise DocumentProblem("transcript", "bad_type", message)
    segments = objects(transcript.get("transcriptSegments"), "transcript.transcriptSegments")
    start = _rfc3339(doc.get("startTime"), "startTime")
    call = doc.get("callMetadata") if isinstance(doc.get("callMetadata"), dict) else {}
    by_channel = {call.get("customerChannel"): "customer", call.get("agentChannel"): "agent"}
    by_channel.pop(None, None)
    turns, people, stats = _segment_turns(segments, start, by_channel)
    quality = doc.get("qualityMetadata") if isinstance(doc.get("qualityMetadata"), dict) else {}
    agents = [a for a in quality.get("agentInfo") or () if isinstance(a, dict)]
    codes = [a["dispositionCode"] for a in agents if isinstance(a.get("dispositionCode"), str)]
    duration = _seconds(doc.get("duration"))
    medium = doc.get("medium") if isinstance(doc.get("medium"), str) else None
    metadata = {
        "platform": "ccai_insights",
        "form": "conversation",
        "language": doc.get("languageCode"),
        "labels": doc.get("labels") if isinstance(doc.get("labels"), dict) else None,
        "medium": medium,
        "duration_s": duration,
        "turn_count": doc.get("turnCount"),
        "quality": compact(
            {
                "customer_satisfaction_rating": quality.get("customerSatisfactionRating"),
                "wait_duration_s": _seconds(quality.get("waitDuration")),
                "menu_path": quality.get("menuPath"),
                "disposition_codes": codes,
            }
        ),
        **stats,
    }
    agent = doc.get("agentId") or next((a.get("agentId") for a in agents), None)
    if isinstance(name, str) and name.strip("/ "):
        fallback_id = name.rstrip("/").rsplit("/", 1)[-1]
    end = None if start is None or duration is None else start + timedelta(seconds=duration)
    return {
        "conversation_id": fallback_id,
        "channel": _MEDIA.get(medium) if medium else None,
        "team": next((a["team"] for a in agents if isinstance(a.get("team"), str)), None),
        "agent_id": agent or next(iter(people["agent"]), None),
        "customer_id": next(iter(people["customer"]), None) or doc.get("obfuscatedUserId"),
        "started_at": start.isoformat() if start else None,
        "ended_at": end.isoformat() if end else None,
        "metadata": compact(metadata),
        "turns": turns,
    }


def _segment_turns(
    segments: list[dict[str, Any]], start: datetime | None, by_channel: dict[Any, str]
) -> tuple[list[dict[str, Any]], dict[str, list[str]], dict[str, Any]]:
    """Return the segments' turns, the people's ids by role, and metadata about them."""
    turns: list[dict[str, Any]] = []
    people: dict[str, list[str]] = {"agent": [], "customer": []}
    confidence: list[float] = []
    sentiment: dict[str, list[float]] = {}
    empty = 0
    for i, segment in enumerate(segments):
        where = f"transcript.transcriptSegments[{i}]"
        participant = segment.get("segmentParticipant") or {}
        role = participant.get("role") if isinstance(participant, dict) else None
        if role in (None, "ROLE_UNSPECIFIED") and segment.get("channelTag") in by_channel:
            speaker = by_channel[segment["channelTag"]]
        else:
            speaker = _speaker(role, f"{where}.segmentParticipant.role")
        ts = _segment_time(segment, start, where)
        text = turn_text(segment.get("text"), f"{where}.text")
        if not (text or "").strip():
            empty += 1
            continue
        turns.append({"speaker": speaker, "text": text, "ts": ts})
        person = participant.get("userId") or participant.get("obfuscatedExternalUserId")
        if isinstance(person, str) and speaker in people:
            people[speaker].append(person)
        if number(segment.get("confidence")):  # 0.0 means unset
            confidence.append(segment["confidence"])
        score = (segment.get("sentiment") or {}).get("score")
        if number(score) is not None:
            sentiment.setdefault(speaker, []).append(score)
    stats = {
        "confidence": summary(confidence),
        "sentiment": {role: round(fmean(scores), 2) for role, scores in sentiment.items()},
        "n_agents": len(set(people["agent"])) or None,
        "empty_segments": empty or None,
    }
    return turns, people, stats


def _speaker(role: Any, field: str) -> str:
    if isinstance(role, str) and role.strip().upper() in ROLES:
        return ROLES[role.strip().upper()]
    found = "missing" if role is None else f"unknown role {describe(role)}"
    raise DocumentProblem(field, "unknown_speaker", f"{found}; expected one of {'/'.join(ROLES)}")


def _segment_time(segment: dict[str, Any], start: datetime | None, where: str) -> str | None:
    """Return a segment's ``messageTime``, else the start plus its first word's offset."""
    if segment.get("messageTime") is not None:
        return _rfc3339(segment["messageTime"], f"{where}.messageTime").isoformat()
    words = segment.get("words")
    first = words[0] if isinstance(words, list) and words else None
    offset = _seconds(first.get("startOffset")) if isinstance(first, dict) else None
    if start is None or offset is None:
        return None
    return (start + timedelta(seconds=offset)).isoformat()


def _rfc3339(value: Any, field: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        parsed = None
    if parsed is None:
        message = f"expected an RFC 3339 timestamp like 2024-05-06T13:02:00Z, not {describe(value)}"
        raise DocumentProblem(field, "bad_timestamp", message)
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _seconds(value: Any) -> float | None:
    """Return the seconds of a protobuf JSON duration (``"24.800s"``), else ``None``."""
    if not isinstance(value, str) or not value.endswith("s"):
        return None
    try:
        return float(value[:-1])
    except ValueError:
        return None


def looks_like_ccai(doc: Any) -> bool:
    """Whether a parsed document is a CCAI conversation, upload or API form.

    Upload form: an ``entries`` list whose first entry has ``start_timestamp_usec`` or
    ``user_id`` (or, empty, beside ``conversation_info``); API form: a
    ``transcript.transcriptSegments`` key, or a ``name`` of ``projects/.../conversations/...``.
    """
    if not isinstance(doc, dict) or "conversation_id" in doc:
        return False
    entries = doc.get("entries")
    if isinstance(entries, list):
        first = entries[0] if entries else None
        if not entries:
            return "conversation_info" in doc
        return isinstance(first, dict) and bool(_ENTRY_KEYS & first.keys())
    transcript = doc.get("transcript")
    if isinstance(transcript, dict) and "transcriptSegments" in transcript:
        return True
    name = doc.get("name")
    return isinstance(name, str) and name.startswith("projects/") and "/conversations/" in name


def detect(head: FileHead) -> bool:
    """Whether the file's first document is a CCAI conversation (by its keys)."""
    first = first_document(head)
    if first is not None:
        return looks_like_ccai(first)
    start = head.start  # a document too large to parse from its start: its keys
    upload = b'"entries"' in start and b'"start_timestamp_usec"' in start
    return upload or b'"transcriptSegments"' in start


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_ccai(path)


ADAPTER = Adapter("ccai", read=_read, detect=detect)
