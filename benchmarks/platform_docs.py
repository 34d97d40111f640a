"""Canonical benchmark conversations rewritten as platform exports (for bench_ingest.py).

Each conversation becomes the document its platform writes, one file a call as the
platforms export them: a vCon (draft-ietf-vcon-vcon-core syntax 0.3.0: parties with the
contact-centre ``role``, one ``text`` dialog a turn, action events in an ``actions``
analysis) or an Amazon Transcribe Call Analytics result (``Transcript[]`` with
``ParticipantRole``, offsets, sentiment and one pronunciation ``Item`` a word, as the
real output in ``tests/fixtures/platform/amazon`` has, ``Categories`` and
``ConversationCharacteristics``). Values are what the canonical record holds; offsets are
turn times from the start, else three seconds a turn.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

_ROLES = {"customer": "customer", "agent": "agent", "bot": "agent", "system": "agent"}


def to_vcon(record: dict[str, Any]) -> dict[str, Any]:
    """Return a conversation as a vCon document."""
    customer = sum(map(ord, str(record.get("customer_id")))) % 10**7
    parties = [
        {"tel": f"+1555{customer:07d}", "role": "customer"},
        {"mailto": f"{record.get('agent_id', 'agent')}@example.com", "role": "agent"},
    ]
    dialog, actions = [], []
    for turn in record["turns"]:
        party = 0 if turn["speaker"] == "customer" else 1
        if turn.get("event_type") == "action" or turn.get("action"):
            actions.append({"action": turn["action"], "party": party, "args": turn.get("args"),
                            "status": turn.get("status"),
                            "after_dialog": len(dialog) - 1})  # fmt: skip
            continue
        dialog.append({"type": "text", "start": turn.get("ts") or record.get("started_at"),
                       "parties": [party], "originator": party, "mediatype": "text/plain",
                       "body": turn["text"], "encoding": "none"})  # fmt: skip
    analysis = []
    if actions:
        analysis.append({"type": "actions", "vendor": "cxminer", "encoding": "json",
                         "body": actions})  # fmt: skip
    return {
        "vcon": "0.3.0",
        "uuid": str(uuid.uuid5(uuid.NAMESPACE_URL, record["conversation_id"])),
        "created_at": record.get("started_at"),
        "subject": record.get("queue"),
        "parties": parties,
        "dialog": dialog,
        "analysis": analysis,
        "attachments": [],
    }


def to_transcribe(record: dict[str, Any]) -> dict[str, Any]:
    """Return a conversation as an Amazon Transcribe Call Analytics result."""
    start = _when(record.get("started_at"))
    transcript, offset = [], 0
    for i, turn in enumerate(t for t in record["turns"] if t.get("text")):
        at = _when(turn.get("ts"))
        begin = int((at - start).total_seconds() * 1000) if at and start else offset
        words = turn["text"].split()
        step = 350
        items = [
            {"Type": "pronunciation", "Confidence": 0.98, "Content": word,
             "BeginOffsetMillis": begin + k * step, "EndOffsetMillis": begin + (k + 1) * step}
            for k, word in enumerate(words)
        ]  # fmt: skip
        end = begin + max(len(words), 1) * step
        transcript.append({
            "Id": f"{record['conversation_id']}-{i}",
            "ParticipantRole": "CUSTOMER" if turn["speaker"] == "customer" else "AGENT",
            "Content": turn["text"], "BeginOffsetMillis": begin, "EndOffsetMillis": end,
            "Sentiment": "NEUTRAL", "LoudnessScores": [80.0] * max(1, len(words) // 3),
            "Items": items,
        })  # fmt: skip
        offset = end + 3000
    return {
        "JobName": record["conversation_id"],
        "JobStatus": "COMPLETED",
        "LanguageCode": "en-US",
        "AccountId": "123456789012",
        "Channel": "VOICE",
        "Participants": [{"ParticipantRole": "AGENT"}, {"ParticipantRole": "CUSTOMER"}],
        "Transcript": transcript,
        "Categories": {"MatchedCategories": [], "MatchedDetails": {}},
        "ConversationCharacteristics": {
            "TotalConversationDurationMillis": offset,
            "Sentiment": {"OverallSentiment": {"AGENT": 0.0, "CUSTOMER": 0.0}},
            "Interruptions": {"TotalCount": 0, "TotalTimeMillis": 0},
            "NonTalkTime": {"TotalTimeMillis": 0, "Instances": []},
        },
        "ContentMetadata": {"Output": "Raw"},
    }


def _when(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
