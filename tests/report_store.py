"""A store filled with one of everything the report shows, shared by the report tests."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

from pipeline import schema
from pipeline.store import Store

PLANT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
GENERATED = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
R1, R2 = "r20260101-000000-aaaaaa", "r20260102-000000-bbbbbb"

SOP_V1 = """sop_id: refund_request
version: 1
intent: refund request
steps:
- id: verify_identity
"""
SOP_V2 = """sop_id: refund_request
version: 2
intent: refund request
steps:
- id: verify_identity
  description: Confirm who the customer is
- id: check_eligibility
  after: [verify_identity]
- id: issue_refund
  after: [check_eligibility]
risk: {moves_money: true, regulated: false}
"""


def ts(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def insert(con, table: str, rows: list[tuple]) -> None:
    columns = schema.COLUMNS[table]
    marks = ", ".join("?" for _ in columns)
    con.executemany(f"insert into {table} ({', '.join(columns)}) values ({marks})", rows)


def fill(store: Store) -> None:
    """A tiny database covering every report section, with a planted script tag."""
    with store.transaction() as con:
        insert(con, schema.RUNS, [
            (R1, "ingest", ts(20), ts(20, 11), "ok", "h", "0.1", "[]", "{}", None),
            (R2, "run", ts(21), None, "failed", "h", "0.1", "[]", "{}", "boom <b>"),
        ])  # fmt: skip
        insert(con, schema.SOURCES, [
            ("s1", "data/in.jsonl", "abc", "jsonl", "ok", None, 5, 4, 0, 0, 1, R1, ts(20)),
        ])  # fmt: skip
        insert(
            con, schema.QUARANTINE, [("s1", "line 5", None, "ts", "bad_timestamp", "m", "{}", R1)]
        )
        insert(con, schema.CONVERSATIONS, [
            (c, "s1", f"line {i}", "chat", "billing", team, "agent-hash", "cust-hash", start,
             None, None, "{}", 3, f"hash{i}", R1)
            for i, (c, team, start) in enumerate(
                [("c1", "north", ts(2)), ("c2", "north", ts(9)), ("c3", "south", ts(10)),
                 ("c4", None, ts(16))], 1)
        ])  # fmt: skip
        insert(con, schema.REDACTIONS, [("c1", 0, "email", 2, R1), ("c2", 1, "phone", 1, R1)])
        centroid = [0.0, 1.0]
        insert(con, schema.INTENTS, [
            ("i1", 1, "old label", ["old"], "old", 2, 1.0, ts(2), ts(9), 0.0, False, centroid, R1,
             "F1", "old label"),
            ("i1", 2, "refund money", ["refund money", "refund"], f"{PLANT} refund please", 3,
             0.75, ts(2), ts(10), 0.3, False, centroid, R2, "F1", "refund money"),
            ("i2", 2, "address change", ["address"], "new address", 1, 0.25, ts(16), ts(16), 1.0,
             True, centroid, R2, "F2", "address change"),
        ])  # fmt: skip
        insert(con, schema.INTENT_ASSIGNMENTS, [
            ("c1", "i1", 0.9, False, "cluster", None, 2, R2),
            ("c2", "i1", 0.8, False, "cluster", None, 2, R2),
            ("c3", "i1", 0.7, False, "cluster", None, 2, R2),
            ("c4", "i2", 0.9, False, "cluster", None, 2, R2),
        ])  # fmt: skip
        insert(con, schema.SOPS, [
            ("refund_request", 1, ["refund request"], 1, SOP_V1, "x1", "a.yaml", R1),
            ("refund_request", 2, ["refund request"], 3, SOP_V2, "x2", "a.yaml", R2),
        ])  # fmt: skip
        insert(con, schema.STEP_TYPES, [
            (s, label, source, sop, None, 1, R2, [f"{sop}/{s}"] if sop else [])
            for s, label, source, sop in [
                ("verify_identity", "Confirm the customer", "sop", "refund_request"),
                ("check_eligibility", "check_eligibility", "sop", "refund_request"),
                ("issue_refund", "issue_refund", "sop", "refund_request"),
                ("greeting", "greeting", "sop", None),
                ("d_refund_1", PLANT, "discovered", None),
                ("d_address_1", "new address", "discovered", None),
                ("closing", "closing", "sop", None),
                ("other", "other", "other", None),
            ]
        ])  # fmt: skip
        events = {
            "c1": [
                "greeting",
                "verify_identity",
                "verify_identity",
                "other",
                "verify_identity",
                "check_eligibility",
                "issue_refund",
                "closing",
            ],
            "c2": ["greeting", "verify_identity", "d_refund_1", "issue_refund"],
            "c3": ["greeting", "check_eligibility", "verify_identity", "issue_refund"],
            "c4": ["greeting", "other", "d_address_1", "closing"],
        }
        insert(con, schema.STEP_EVENTS, [
            (c, seq, seq, step, "sop", 0.9, None, None if c == "c4" else "refund_request",
             "i2" if c == "c4" else "refund_request", seq == 2 and c == "c1", R2)
            for c, steps in events.items() for seq, step in enumerate(steps)
        ])  # fmt: skip
        insert(con, schema.CANDIDATE_SOPS, [
            ("refund_request", "verify_identity", 1.0, 3, "mandatory", 0.2, [], [], R2),
            ("refund_request", "check_eligibility", 0.67, 2, "mandatory", 0.4, [], [], R2),
            ("refund_request", "d_refund_1", 0.33, 1, "optional", 0.6, [], [], R2),
            ("refund_request", "issue_refund", 1.0, 3, "mandatory", 0.9, [], [], R2),
        ])  # fmt: skip
        insert(con, schema.OUTCOMES, [
            ("c1", "refund_request", "resolved", "data", False, True, False, None, 3, 0, 60.0, R2),
            ("c2", "refund_request", "escalated", "derived", True, False, False, None, 3, 0, 90.0,
             R2),
            ("c3", "refund_request", "resolved", "data", False, True, True, 2.0, 3, 1, 30.0, R2),
        ])  # fmt: skip
        insert(con, schema.CONFORMANCE, [
            ("c1", "refund_request", 2, "v1", 1.0, [], [], [], [], True, R2, []),
            ("c2", "refund_request", 2, "v2", 0.5, ["check_eligibility"], ["d_refund_1"], [], [],
             False, R2, []),
            ("c3", "refund_request", 2, "v3", 0.75, [], [],
             ["check_eligibility before verify_identity"], [], False, R2, []),
        ])  # fmt: skip
        finding = (None, None, 20, 40, 0.01, 0.02)
        insert(con, schema.DRIFT_FINDINGS, [
            ("f1", "missing", "refund_request", "refund_request", "check_eligibility", None, None,
             date(2026, 3, 2), date(2026, 3, 8), 0.1, 0.1, *finding[2:], False, None, None, None,
             None, None, None, "high", "no change", None, R2),
            ("f2", "missing", "refund_request", "refund_request", "check_eligibility", None, None,
             date(2026, 3, 9), date(2026, 3, 15), 0.4, 0.1, *finding[2:], True, None, None, None,
             None, None, None, "high", f"Agents skip check_eligibility {PLANT} more often.",
             None, R2),
            ("f3", "outcome_impact", "refund_request", "refund_request", "check_eligibility",
             None, None, None, None, None, None, 30, 60, 0.001, 0.003, True, "repeat_contact",
             0.3, 0.1, 0.2, 0.05, 0.35, "medium", "Skipping check_eligibility raises repeats.",
             json.dumps({"x": 1}), R2),
            ("f4", "intent_mix", None, None, None, None, None, date(2026, 3, 9), date(2026, 3, 15),
             0.2, 0.0, 50, 100, 0.01, 0.03, True, None, None, None, None, None, None, "low",
             "The intent mix moved.", None, R2),
            ("f5", "missing", "refund_request", "refund_request", "check_eligibility", "north",
             None, date(2026, 3, 9), date(2026, 3, 15), 0.5, 0.1, 20, 40, 0.2, 0.3, False, None,
             None, None, None, None, None, "high", "north: no flag", None, R2),
        ])  # fmt: skip
        components = json.dumps({"volume": 0.5, "conformance": 0.8})
        insert(con, schema.READINESS, [
            ("refund_request", "i1", "refund_request", "refund request", 1, 3, 50.0, 40.0, 60.0,
             "human-led", [], components, ["old reason"], 0.5, "documented", "yaml", R1),
            ("refund_request", "i1", "refund_request", "refund request", 1, 3, 72.0, 65.0, 80.0,
             "agent with human approval", ["issue_refund"], components,
             ["High conformance (80%)", "Moves money: approval gate"], 0.9, "documented",
             "yaml", R2),
            ("i2", "i2", None, "address change", 2, 1, 30.0, 20.0, 45.0, "human-led", [], "{}",
             ["Too few conversations"], 0.6, "mined", None, R2),
        ])  # fmt: skip
