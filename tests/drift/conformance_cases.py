"""Builders shared by the drift tests (they were in ``test_conformance.py``)."""

import polars as pl

from pipeline import schema
from pipeline.drift.conformance import check_conformance
from pipeline.sops.model import parse_sop
from pipeline.steps.events import STEP_EVENTS_SCHEMA

# step_events as the store holds them: the steps stage's columns plus the workflow
EVENTS_SCHEMA = {
    name: {**STEP_EVENTS_SCHEMA, "workflow_id": pl.String}[name]
    for name in schema.batch_columns(schema.STEP_EVENTS)
}


# after constraints: lookup<-verify, approve<-lookup, refund<-lookup, confirm<-refund (e = 4);
# required: verify, lookup, refund (r = 3), plus approve where amount > 200 (r = 4).
REFUND = parse_sop(
    {
        "sop_id": "refund",
        "version": 3,
        "steps": [
            {"id": "verify"},
            {"id": "lookup", "after": ["verify"]},
            {"id": "approve", "after": ["lookup"], "when": "amount > 200", "mandatory": False},
            {"id": "refund", "after": ["lookup"]},
            {"id": "confirm", "after": ["refund"], "mandatory": False},
        ],
    },
    origin="test",
)


# A mandatory gate: approve is required (and a gate) only where the condition holds.
PAYMENT = parse_sop(
    {
        "sop_id": "payment",
        "version": 1,
        "steps": [
            {"id": "verify"},
            {"id": "approve", "when": "amount >= 100 and currency == 'EUR'"},
            {"id": "pay", "after": ["approve"]},
        ],
    },
    origin="test",
)


SOPS = {"refund": REFUND, "payment": PAYMENT}


def log(*cases):
    """Step events from ``(conversation, sop_id, steps)``; a step equal to the one
    before it is a consecutive repeat, as the steps stage marks it."""
    rows = []
    for case, sop_id, steps in cases:
        for seq, step in enumerate(steps):
            repeat = seq > 0 and steps[seq - 1] == step
            rows.append((case, seq, 2 * seq + 1, step, "sop", 0.9, None, sop_id, sop_id, repeat))
    return pl.DataFrame(rows, schema=EVENTS_SCHEMA, orient="row")


def metadata(**values):
    return pl.DataFrame(
        {"conversation_id": list(values), "metadata": list(values.values())},
        schema={"conversation_id": pl.String, "metadata": pl.String},
    )


def check(events, conversations=None, **kwargs):
    return check_conformance(events, SOPS, conversations=conversations, **kwargs)
