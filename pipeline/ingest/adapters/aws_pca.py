"""AWS Post Call Analytics (PCA) results, and the reading of AWS's one-call JSON files.

PCA writes one document a call: ``ConversationAnalytics`` and ``SpeechSegments[]``. A
segment's speaker (``spk_0``) is named by ``SpeakerLabels`` (``Agent``, ``Customer`` or
``Caller``; another label is passed on for ``ingest.speaker_aliases``); an
``IVRSegment`` is the bot. Text is ``DisplayText``, or ``OriginalText`` when that holds
more redaction markers. ``ConversationTime`` (in ``ConversationLocation``'s zone) is the
start unless it equals ``ProcessTime`` (PCA's stand-in when the file name had no date);
a sidecar overrides it; ``ts`` is start + ``SegmentStartTime``. ``Agent``/``Cust`` are
the agent and customer ids (``"None"`` is none); ``GUID`` or the job name is the id;
the header less identifiers and media locations is metadata; sentiment, detected items,
categories and entity types are kept per turn (their values are the header's, less
those of people and places).

Both AWS adapters read files with :func:`read_documents` (one document, pretty-printed
or not; a JSON array; or JSON Lines), :func:`read_sidecar` and :func:`field`, whose
errors name the field (``SpeechSegments[3].SegmentStartTime``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import (
    CONVERSATION_FIELDS,
    RawBatch,
)
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.aws_files import (
    FieldError,
    at,
    field,
    object_at,
    parse_time,
    read_documents,
    sniff_document,
)
from pipeline.ingest.adapters.markers import map_markers

_LABELS = {"agent": "agent", "customer": "customer", "caller": "customer"}
#: Detected-item keys (of a turn, a segment or a chat summary) -> their type.
DETECTED = {"IssuesDetected": "issue", "OutcomesDetected": "outcome",
            "ActionItemsDetected": "action_item"}  # fmt: skip
_PERSONAL = frozenset(("PERSON", "LOCATION", "ADDRESS", "NAME"))
_NOT_KEPT = frozenset(("Agent", "Agents", "Cust", "GUID", "SpeakerLabels", "CustomEntities",
                       "SourceInformation", "CombinedAnalyticsGraph"))  # fmt: skip
_PLACEHOLDER = re.compile(r"<[A-Z]+>")


def read_pca(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of canonical conversations from PCA result files."""
    return read_documents(path, batch_size=batch_size, convert=pca_to_record, prune=_prune)


def pca_to_record(document: Any, *, fallback_id: str, sidecar: dict) -> dict[str, Any]:
    """Convert one PCA result document to a canonical record.

    Raises
    ------
    FieldError
        A field has the wrong type or value (naming it).
    """
    if not isinstance(document, dict) or "SpeechSegments" not in document:
        raise FieldError("SpeechSegments", "missing; not a PCA result document")
    analytics = field(document, "ConversationAnalytics", "", dict)
    where = "ConversationAnalytics."
    labels = field(analytics, "SpeakerLabels", where, list)
    roles = {}
    for i in range(len(labels)):
        label = object_at(labels, i, f"{where}SpeakerLabels")
        name = (field(label, "DisplayText", f"{where}SpeakerLabels[{i}].", str) or "").strip()
        roles[label.get("Speaker")] = _LABELS.get(name.lower(), name.lower())
    start = sidecar.get("start") or _conversation_time(analytics)
    segments = field(document, "SpeechSegments", "", list)
    turns = [_turn(object_at(segments, i, "SpeechSegments"), i, roles, start)
             for i in range(len(segments))]  # fmt: skip
    duration = analytics.get("Duration")  # a string in PCA's output
    try:
        duration = None if duration is None else float(duration)
    except (TypeError, ValueError):
        raise FieldError(f"{where}Duration", f"expected seconds, found {duration!r:.40}") from None
    header = _header(analytics)
    record = {
        "conversation_id": _id(analytics.get("GUID"))
        or header.get("transcribe_job", {}).get("TranscriptionJobName") or fallback_id,
        "channel": "voice",
        "agent_id": _id(analytics.get("Agent")),
        "customer_id": _id(analytics.get("Cust")),
        "started_at": start.isoformat() if start else None,
        "ended_at": at(start, duration * 1000) if start and duration is not None else None,
        "metadata": {"platform": "aws-pca", "speakers": roles, **header},
        "turns": turns,
    }  # fmt: skip
    record.update((k, v) for k, v in sidecar.items() if k in CONVERSATION_FIELDS)
    return record


def _turn(segment: dict, i: int, roles: dict, start: datetime | None) -> dict[str, Any]:
    where = f"SpeechSegments[{i}]."
    label = field(segment, "SegmentSpeaker", where, str)
    speaker = "bot" if segment.get("IVRSegment") is True else roles.get(label, label)
    text = field(segment, "DisplayText", where, str)
    text = map_markers(text) if text else text
    original = field(segment, "OriginalText", where, str)
    markers = _PLACEHOLDER.findall
    if original and (not text or len(markers(map_markers(original))) > len(markers(text))):
        text = map_markers(original)  # never trade a redacted text for a less redacted one
    turn: dict[str, Any] = {"speaker": speaker, "text": text}
    begin = field(segment, "SegmentStartTime", where, float)
    if begin is not None:
        end = field(segment, "SegmentEndTime", where, float)  # to the hundredth, as amazon's
        turn["offset_s"] = [round(begin, 2), None if end is None else round(end, 2)]
        if start is not None:
            turn["ts"] = at(start, begin * 1000)
    positive, negative = segment.get("SentimentIsPositive"), segment.get("SentimentIsNegative")
    if positive is not None or negative is not None:
        turn["sentiment"] = "POSITIVE" if positive else "NEGATIVE" if negative else "NEUTRAL"
    if (score := field(segment, "SentimentScore", where, float)) is not None:
        turn["sentiment_score"] = score
    detected = [{"type": name, "text": map_markers(found["Text"])}
                for key, name in DETECTED.items() for found in field(segment, key, where, list)
                if isinstance(found, dict) and isinstance(found.get("Text"), str)]  # fmt: skip
    categories = [*field(segment, "CategoriesDetected", where, list),
                  *field(segment, "FollowOnCategories", where, list)]  # fmt: skip
    entities = [e.get("Type") for e in field(segment, "EntitiesDetected", where, list)
                if isinstance(e, dict)]  # fmt: skip
    for key, value in (("detected", detected), ("categories", categories), ("entities", entities)):
        if value:
            turn[key] = value
    if segment.get("SegmentInterruption") is True:
        turn["interruption"] = True
    return turn


def _conversation_time(analytics: dict) -> datetime | None:
    """Return the call's start from ``ConversationTime`` (see the module doc), else None."""
    where = "ConversationAnalytics."
    written = field(analytics, "ConversationTime", where, str)
    if not written or written == analytics.get("ProcessTime"):
        return None
    moment = parse_time(written, f"{where}ConversationTime", naive=True)
    if moment.tzinfo is None:  # written without an offset: the location's local time
        zone = field(analytics, "ConversationLocation", where, str)
        try:
            moment = moment.replace(tzinfo=ZoneInfo(zone) if zone else UTC)
        except (ZoneInfoNotFoundError, ValueError):
            message = f"unknown time zone {zone!r}; expected a name like America/New_York"
            raise FieldError(f"{where}ConversationLocation", message, "bad_timestamp") from None
    return moment.astimezone(UTC)


def _id(value: Any) -> str | None:
    return value if isinstance(value, str) and value.strip() not in ("", "None") else None


def _header(analytics: dict) -> dict[str, Any]:
    """Return the header as metadata: no identifiers, no values of people or places.

    The Transcribe job's facts, less the media locations, are ``transcribe_job``.
    """
    header = {k: v for k, v in analytics.items() if k not in _NOT_KEPT}
    sources = analytics.get("SourceInformation")
    first = sources[0] if isinstance(sources, list) and sources else None
    info = first.get("TranscribeJobInfo") if isinstance(first, dict) else None
    if isinstance(info, dict):
        header["transcribe_job"] = {k: v for k, v in info.items() if not k.endswith("Uri")}
    entities = analytics.get("CustomEntities")
    header["CustomEntities"] = [
        {k: v for k, v in e.items() if k != "Values" or str(e.get("Name")).upper() not in _PERSONAL}
        for e in entities if isinstance(e, dict)
    ] if isinstance(entities, list) else None  # fmt: skip
    return header


def _prune(document: Any) -> Any:
    """Return a failed document as quarantine may show it: no agent, customer or user ids."""
    analytics = document.get("ConversationAnalytics") if isinstance(document, dict) else None
    return _header(analytics) if isinstance(analytics, dict) else document


def detect(head: FileHead) -> bool:
    """Whether the file's first document has PCA's two sections."""
    document = sniff_document(head, (b'"ConversationAnalytics"',))
    return isinstance(document, dict) and {"ConversationAnalytics", "SpeechSegments"} <= set(
        document
    )


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_pca(path, batch_size=config.batch_size)


ADAPTER = Adapter("aws-pca", read=_read, detect=detect)
