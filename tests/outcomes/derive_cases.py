"""Builders shared by the outcomes tests: conversations, turns, workflows."""

from datetime import UTC, datetime, timedelta

import polars as pl

from pipeline.config import OutcomeConfig
from pipeline.outcomes.derive import derive_outcomes

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)


TIME = pl.Datetime("us", "UTC")


CONVERSATION_SCHEMA = {
    "conversation_id": pl.String,
    "team": pl.String,
    "customer_hash": pl.String,
    "started_at": TIME,
    "ended_at": TIME,
    "outcome": pl.String,
}


TURN_SCHEMA = {
    "conversation_id": pl.String,
    "turn_idx": pl.Int32,
    "speaker": pl.String,
    "event_type": pl.String,
    "text": pl.String,
    "action_name": pl.String,
    "action_status": pl.String,
    "ts": TIME,
}


WORKFLOW_SCHEMA = {"conversation_id": pl.String, "workflow_id": pl.String}


# Transcripts as (speaker, text); a text starting with "!" is an action event of that name,
# "!name:failed" one with that status.
RESOLVED = [
    ("agent", "hello, thanks for calling, how can I help?"),
    ("customer", "where is my parcel?"),
    ("agent", "it ships today. Is there anything else?"),
    ("customer", "no, thanks"),
]


def conversations(*rows: dict) -> pl.DataFrame:
    """Conversations from dicts; an id, team "t", customer "u1", start T0, no outcome."""
    defaults = {"team": "t", "customer_hash": "u1", "started_at": T0, "ended_at": None}
    full = [{**defaults, "outcome": None, **row} for row in rows]
    return pl.DataFrame(full, schema=CONVERSATION_SCHEMA)


def turns(transcripts: dict[str, list[tuple[str, str]]], *, timed: bool = True) -> pl.DataFrame:
    """Turn rows of each conversation, 10 s apart from T0 (no ts when not ``timed``)."""
    rows = []
    for cid, transcript in transcripts.items():
        for idx, (speaker, text) in enumerate(transcript):
            action, _, status = text[1:].partition(":") if text.startswith("!") else (None,) * 3
            rows.append(
                {
                    "conversation_id": cid,
                    "turn_idx": idx,
                    "speaker": speaker,
                    "event_type": "action" if action else "utterance",
                    "text": None if action else text,
                    "action_name": action,
                    "action_status": status or None,
                    "ts": T0 + timedelta(seconds=10 * idx) if timed else None,
                }
            )
    return pl.DataFrame(rows, schema=TURN_SCHEMA)


def workflows(mapping: dict[str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"conversation_id": list(mapping), "workflow_id": list(mapping.values())},
        schema=WORKFLOW_SCHEMA,
    )


def derive(convs, transcripts=None, flows=None, **config) -> pl.DataFrame:
    transcripts = transcripts if transcripts is not None else {}
    flows = flows if flows is not None else {}
    return derive_outcomes(
        convs, turns(transcripts), workflows(flows), config=OutcomeConfig(**config)
    )


def contacts(*rows) -> pl.DataFrame:
    """Conversations from (id, customer, days after T0)."""
    return conversations(
        *(
            {
                "conversation_id": cid,
                "customer_hash": customer,
                "started_at": T0 + timedelta(days=d),
            }
            for cid, customer, d in rows
        )
    )


def repeats(convs, flows, **config) -> list[tuple]:
    out = derive(convs, {}, flows, **config)
    return out.select("conversation_id", "repeat_contact", "repeat_gap_days").rows()
