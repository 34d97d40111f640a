"""Tiny frames for the vCon export tests: two conversations, and results for the first.

``c1`` is a chat with a customer, an agent and a failed tool call, an intent, three steps,
a conformance check and one drift finding it is an example of (its customer's turn has no
time); ``c2`` is a bot chat with no ids, no start, no turn times and no results. Rows of
``c9`` (not exported) must be ignored.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

T0 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
TIME = pl.Datetime("us", "UTC")


def at(seconds: int) -> datetime:
    return T0 + timedelta(seconds=seconds)


def frames() -> dict[str, pl.DataFrame]:
    """Keyword arguments of :func:`pipeline.export.vcon.build_vcons`, fresh each call."""
    return {
        "conversations": pl.DataFrame(
            {
                "conversation_id": ["c1", "c2"],
                "channel": ["chat", None],
                "customer_hash": ["hc1", None],
                "agent_hash": ["ha1", None],
                "started_at": [T0, None],
                "ingested_at": [at(3600), at(7200)],
            },
            schema_overrides={"started_at": TIME, "ingested_at": TIME},
        ),
        "turns": pl.DataFrame(
            {
                "conversation_id": ["c1", "c1", "c1", "c1", "c2", "c2", "c9"],
                "turn_idx": [3, 0, 1, 2, 0, 1, 0],  # out of order: the export sorts
                "speaker": ["agent", "agent", "customer", "agent", "bot", "customer", "agent"],
                "event_type": [
                    "utterance",
                    "utterance",
                    "utterance",
                    "action",
                    "utterance",
                    "utterance",
                    "utterance",
                ],
                "text": [
                    "I refunded one charge",
                    "Hello, how can I help?",
                    "I was charged twice, mail <EMAIL>",
                    None,
                    "Hi",
                    "hello",
                    "other",
                ],
                "action_name": [None, None, None, "billing.lookup", None, None, None],
                "args": [None, None, None, '{"n":2,"order":"<ID>"}', None, None, None],
                "action_status": [None, None, None, "failed", None, None, None],
                "ts": [at(40), at(10), None, at(30), None, None, at(1)],
                "run_id": ["r-in"] * 7,
            },
            schema_overrides={"ts": TIME},
        ),  # fmt: skip
        "step_events": pl.DataFrame(
            {
                "conversation_id": ["c1", "c1", "c1", "c9"],
                "seq": [0, 1, 2, 0],
                "turn_idx": [0, 2, 3, 0],
                "step_id": ["greeting", "lookup", "refund", "greeting"],
                "source": ["sop", "action", "sop", "sop"],
                "confidence": [0.5, 1.0, 0.75, 0.5],
                "sop_id": ["billing", "billing", "billing", None],
                "workflow_id": ["billing", "billing", "billing", "i9"],
                "is_repeat": [False, False, False, False],
                "run_id": ["r-steps"] * 4,
            }
        ),
        "step_types": pl.DataFrame(
            {
                "step_id": ["greeting", "lookup", "refund"],
                "label": ["greeting", "Look up the charges", "Refund the duplicate"],
            }
        ),
        "intent_assignments": pl.DataFrame(
            {
                "conversation_id": ["c1", "c9"],
                "intent_id": ["i001", None],
                "probability": [0.875, None],
                "is_outlier": [False, True],
                "method": ["cluster", "unassigned"],
                "model_version": [1, 1],
                "run_id": ["r-int", "r-int"],
            }
        ),
        "intents": pl.DataFrame(
            {
                "intent_id": ["i001", "i002"],
                "label": ["charged twice", "reset password"],
                "family_id": ["F001", "F002"],
                "family_label": ["billing", "account"],
            }
        ),
        "conformance": pl.DataFrame(
            {
                "conversation_id": ["c1"],
                "sop_id": ["billing"],
                "version": [2],
                "variant_id": ["abc123"],
                "fitness": [0.75],
                "missing": [["verify"]],
                "undocumented": [[]],
                "order_violations": [["refund before lookup"]],
                "skipped_gates": [[]],
                "skipped": [[]],
                "is_conforming": [False],
                "run_id": ["r-drift"],
            },
            schema_overrides={
                "undocumented": pl.List(pl.String),
                "skipped_gates": pl.List(pl.String),
                "skipped": pl.List(pl.String),
            },
        ),  # fmt: skip
        "drift_examples": pl.DataFrame(
            {
                "finding_id": ["f1", "f1"],
                "kind": ["missing", "missing"],
                "workflow_id": ["billing", "billing"],
                "step": ["verify", "verify"],
                "rank": [1, 2],
                "conversation_id": ["c1", "c9"],
                "turn_idx": [3, 0],
                "why": ["no verify step; refund done where it was due", "other"],
                "run_id": ["r-drift", "r-drift"],
            }
        ),
        "drift_findings": pl.DataFrame(
            {
                "finding_id": ["f1", "f2"],
                "severity": ["high", "low"],
                "sentence": ["Since 2026-03-02, agents skip *verify*.", "other"],
                "window_start": [T0, T0],
                "window_end": [at(7 * 86400), at(7 * 86400)],
            },
            schema_overrides={"window_start": TIME, "window_end": TIME},
        ),
    }


#: What :func:`build_vcons` makes of ``c1``, field by field.
C1_VCON = {
    "vcon": "0.4.0",
    "uuid": None,  # filled in by the test: vcon_uuid("c1")
    "created_at": "2026-03-02T08:00:00Z",
    "extensions": ["CC"],
    "parties": [{"role": "customer", "uuid": "hc1"}, {"role": "agent", "uuid": "ha1"}],
    "dialog": [
        {"type": "text", "start": "2026-03-02T08:00:10Z", "parties": [1, 0],
         "mediatype": "text/plain", "encoding": "none", "body": "Hello, how can I help?",
         "application": "chat", "interaction_id": "c1"},
        {"type": "text", "parties": [0, 1], "mediatype": "text/plain", "encoding": "none",
         "body": "I was charged twice, mail <EMAIL>", "application": "chat",
         "interaction_id": "c1"},
        {"type": "text", "start": "2026-03-02T08:00:40Z", "parties": [1, 0],
         "mediatype": "text/plain", "encoding": "none", "body": "I refunded one charge",
         "application": "chat", "interaction_id": "c1"},
    ],
    "analysis": [
        {"type": "intent", "vendor": "cxminer", "schema": "cxminer-intent/1", "encoding": "json",
         "body": {"run_id": "r-int", "intent_id": "i001", "label": "charged twice",
                  "family_id": "F001", "family_label": "billing", "probability": 0.875,
                  "is_outlier": False, "method": "cluster", "model_version": 1}},
        {"type": "steps", "vendor": "cxminer", "schema": "cxminer-steps/1", "encoding": "json",
         "body": {"run_id": "r-steps", "workflow_id": "billing", "steps": [
             {"seq": 0, "step_id": "greeting", "label": "greeting", "source": "sop",
              "sop_id": "billing", "turn_idx": 0, "dialog": 0, "confidence": 0.5,
              "is_repeat": False},
             {"seq": 1, "step_id": "lookup", "label": "Look up the charges", "source": "action",
              "sop_id": "billing", "turn_idx": 2, "dialog": None, "confidence": 1.0,
              "is_repeat": False},
             {"seq": 2, "step_id": "refund", "label": "Refund the duplicate", "source": "sop",
              "sop_id": "billing", "turn_idx": 3, "dialog": 2, "confidence": 0.75,
              "is_repeat": False}]}},
        {"type": "conformance", "vendor": "cxminer", "schema": "cxminer-conformance/1",
         "encoding": "json",
         "body": {"run_id": "r-drift", "sop_id": "billing", "version": 2, "variant_id": "abc123",
                  "fitness": 0.75, "missing": ["verify"], "undocumented": [],
                  "order_violations": ["refund before lookup"], "skipped_gates": [],
                  "skipped": [], "is_conforming": False}},
        {"type": "drift", "vendor": "cxminer", "schema": "cxminer-drift/1", "encoding": "json",
         "body": {"run_id": "r-drift", "findings": [
             {"finding_id": "f1", "kind": "missing", "workflow_id": "billing", "step": "verify",
              "severity": "high", "window_start": "2026-03-02T08:00:00Z",
              "window_end": "2026-03-09T08:00:00Z",
              "sentence": "Since 2026-03-02, agents skip *verify*.", "rank": 1, "turn_idx": 3,
              "dialog": 2, "why": "no verify step; refund done where it was due"}]}},
        {"type": "actions", "vendor": "cxminer", "schema": "cxminer-actions/1", "encoding": "json",
         "body": {"run_id": "r-in", "actions": [
             {"turn_idx": 2, "after_dialog": 1, "party": 1, "action": "billing.lookup",
              "args": {"n": 2, "order": "<ID>"}, "status": "failed",
              "start": "2026-03-02T08:00:30Z"}]}},
    ],
}  # fmt: skip
