"""Genesys Cloud speech-and-text-analytics transcripts (the JSON behind ``transcripturl``).

One file is one communication's transcript: ``conversationId``, ``communicationId``,
``mediaType``, ``startTime`` (epoch ms), ``participants[]`` (``participantPurpose``, ids,
``startTimeMs``/``endTimeMs``) and ``transcripts[].phrases[]`` (``text``,
``participantPurpose``, ``startTimeMs``, ``confidence``). The id is
``<conversationId>:<communicationId>``, so two transcribed communications of one
conversation do not replace each other.

Purposes: ``customer``/``external`` -> customer; ``agent``/``user`` -> agent; ``ivr``,
``bot``, ``botflow`` -> bot (automated speech that converses); ``acd``, ``voicemail`` ->
system (announcements). ``internal`` (every non-customer speaker) is the agent, unless
the phrase falls in an IVR/bot participant's window with no agent connected (bot) or in
an ACD window (system). Any other purpose quarantines the record (``unknown_speaker``).
Phrases are put in time order; an empty one is dropped and counted. The agent's
``userId`` becomes ``agent_id``, the customer's number (``ani``, ``dnis`` when outbound;
``from``/``to``) ``customer_id``; neither is kept anywhere else.

The first part of this module reads one-document-a-file platform JSON in general;
:mod:`pipeline.ingest.adapters.ccai` uses it too.
"""

from __future__ import annotations

from collections.abc import Iterator
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
    integer,
    number,
    objects,
    read_document,
    summary,
    turn_text,
)

PURPOSES = {"customer": "customer", "external": "customer", "agent": "agent", "user": "agent",
            "internal": "agent", "ivr": "bot", "bot": "bot", "botflow": "bot",
            "acd": "system", "voicemail": "system"}  # fmt: skip
_MEDIA = {"call": "voice", "callback": "voice", "chat": "chat", "message": "chat", "email": "email"}
_KIND = "a Genesys Cloud transcript"


def read_genesys(path: Path) -> Iterator[RawBatch]:
    """Yield the raw batch of one Genesys Cloud transcript JSON file (gzip allowed).

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    return read_document(path, convert=transcript_to_record, kind=_KIND)


def transcript_to_record(doc: dict[str, Any], fallback_id: str) -> dict[str, Any]:
    """Convert one Genesys Cloud transcript document to a canonical record.

    Raises
    ------
    DocumentProblem
        A purpose is unknown, a timestamp or text has the wrong type, or
        ``participants``/``transcripts``/``phrases`` are not lists of objects.
    """
    conversation, communication = doc.get("conversationId"), doc.get("communicationId")
    participants = objects(doc.get("participants"), "participants")
    transcripts = objects(doc.get("transcripts"), "transcripts")
    start = _millis(doc.get("startTime"), "startTime")
    people = _people(participants)
    turns, confidence, empty = _turns(transcripts, start, people["windows"])
    duration = doc.get("duration")
    duration = integer(duration.get("milliseconds")) if isinstance(duration, dict) else None
    media = doc.get("mediaType") if isinstance(doc.get("mediaType"), str) else None
    metadata = {
        "platform": "genesys_cloud",
        "media_type": media,
        "duration_s": None if duration is None else duration / 1000,
        "languages": _distinct(t.get("language") for t in transcripts),
        "participant_purposes": _distinct(p.get("participantPurpose") for p in participants),
        **_analytics(transcripts),
        "confidence": summary(confidence),
        "n_agents": len(people["agent_ids"]) or None,
        "empty_phrases": empty or None,
    }
    if isinstance(conversation, str) and conversation.strip():
        fallback_id = f"{conversation}:{communication}" if communication else conversation
    end = None if start is None or duration is None else start + duration
    return {
        "conversation_id": fallback_id,
        "channel": _MEDIA.get(media.lower(), media.lower()) if media else None,
        "queue": next(iter(people["queues"]), None),
        "team": next(iter(people["teams"]), None),
        "agent_id": next(iter(people["agent_ids"]), None),
        "customer_id": people["customer_id"],
        "started_at": epoch_iso(start, unit="ms"),
        "ended_at": epoch_iso(end, unit="ms"),
        "metadata": compact(metadata),
        "turns": turns,
    }


def _people(participants: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the participants' ids, queues, teams and when each non-customer was there."""
    by_purpose: dict[str, list[dict[str, Any]]] = {}
    windows = []
    for participant in participants:
        key = str(participant.get("participantPurpose")).lower()
        by_purpose.setdefault(key, []).append(participant)
        begin = integer(participant.get("startTimeMs"))
        if PURPOSES.get(key, "customer") != "customer" and begin is not None:
            windows.append((begin, integer(participant.get("endTimeMs")), PURPOSES[key]))
    agents = [p for key in ("agent", "user", "internal") for p in by_purpose.get(key, [])]
    customer = next(iter(by_purpose.get("customer", []) + by_purpose.get("external", [])), {})
    outbound = str(customer.get("initialDirection")).lower() == "outbound"
    addresses = (customer.get(k) for k in (("dnis", "to") if outbound else ("ani", "from")))
    return {
        "agent_ids": _distinct(a.get("userId") for a in agents),
        "customer_id": next(iter(_distinct(addresses)), None),
        "queues": _distinct(p.get("queueId") for p in by_purpose.get("acd", []) + agents),
        "teams": _distinct(a.get("teamId") for a in agents),
        "windows": windows,
    }


def _turns(
    transcripts: list[dict[str, Any]], start: int | None, windows: list[tuple]
) -> tuple[list[dict[str, Any]], list[float], int]:
    """Return the phrases as turns in time order, their confidences and the empty count."""
    timed: list[tuple[int | None, dict[str, Any]]] = []
    confidence: list[float] = []
    empty = 0
    for t, transcript in enumerate(transcripts):
        for p, phrase in enumerate(objects(transcript.get("phrases"), f"transcripts[{t}].phrases")):
            where = f"transcripts[{t}].phrases[{p}]"
            ms = _millis(phrase.get("startTimeMs"), f"{where}.startTimeMs")
            offset = integer((phrase.get("offset") or {}).get("milliseconds"))
            if ms is None and start is not None and offset is not None:
                ms = start + offset
            purpose = phrase.get("participantPurpose")
            speaker = _speaker(purpose, ms, windows, f"{where}.participantPurpose")
            text = turn_text(phrase.get("text"), f"{where}.text")
            if not (text or "").strip():
                empty += 1
                continue
            timed.append((ms, {"speaker": speaker, "text": text, "ts": epoch_iso(ms, unit="ms")}))
            if number(phrase.get("confidence")) is not None:
                confidence.append(phrase["confidence"])
    if all(ms is not None for ms, _ in timed):
        timed.sort(key=lambda item: item[0])  # stable: ties keep file order
    return [turn for _, turn in timed], confidence, empty


def _speaker(purpose: Any, ms: int | None, windows: list[tuple], field: str) -> str:
    key = purpose.strip().lower() if isinstance(purpose, str) else None
    if key == "internal" and ms is not None:
        active = {role for begin, end, role in windows if begin <= ms and (end is None or ms < end)}
        return next((role for role in ("agent", "bot", "system") if role in active), "agent")
    if key in PURPOSES:
        return PURPOSES[key]
    found = "missing" if purpose is None else f"unknown purpose {describe(purpose)}"
    message = f"{found}; expected one of {'/'.join(PURPOSES)}"
    raise DocumentProblem(field, "unknown_speaker", message)


def _analytics(transcripts: list[dict[str, Any]]) -> dict[str, Any]:
    """Return the topic names spotted and the mean sentiment by participant (``external``)."""
    found = [t["analytics"] for t in transcripts if isinstance(t.get("analytics"), dict)]
    topics = [
        x.get("topicName") for a in found for x in a.get("topics") or () if isinstance(x, dict)
    ]
    scores: dict[str, list[float]] = {}
    for item in (x for a in found for x in a.get("sentiment") or () if isinstance(x, dict)):
        if number(item.get("sentiment")) is not None:
            scores.setdefault(str(item.get("participant")), []).append(item["sentiment"])
    sentiment = {who: round(fmean(values), 2) for who, values in scores.items()}
    return {"topics": _distinct(topics), "sentiment": sentiment}


def _millis(value: Any, field: str) -> int | None:
    if value is not None and epoch_iso(value, unit="ms") is None:
        message = f"expected milliseconds since the Unix epoch, found {describe(value)}"
        raise DocumentProblem(field, "bad_timestamp", message)
    return integer(value)


def _distinct(values: Any) -> list[str]:
    return list(dict.fromkeys(v for v in values if isinstance(v, str) and v))


def looks_like_genesys(doc: Any) -> bool:
    """Whether a parsed document is a Genesys transcript (``conversationId``, ``transcripts``)."""
    transcripts = doc.get("transcripts") if isinstance(doc, dict) else None
    return isinstance(transcripts, list) and "conversationId" in doc


def detect(head: FileHead) -> bool:
    """Whether the file's document is a Genesys Cloud transcript (by its keys)."""
    first = first_document(head)
    if first is not None:
        return looks_like_genesys(first)
    start = head.start  # a document too large to parse from its start: its keys
    return all(key in start for key in (b'"conversationId"', b'"transcripts"', b'"phrases"'))


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_genesys(path)


ADAPTER = Adapter("genesys", read=_read, detect=detect)
