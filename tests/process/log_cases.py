"""Builders shared by the process tests (they were in ``test_log.py``)."""

import hashlib
from datetime import datetime, timedelta

import polars as pl

T0 = datetime(2026, 3, 1, 10)


SCHEMA = {
    "conversation_id": pl.String,
    "intent_id": pl.String,
    "seq": pl.Int64,
    "step_id": pl.String,
    "ts": pl.Datetime("us"),
}


def log(*cases, gaps=None):
    """An event log from ``(case, intent, steps)``; events 10 s apart unless ``gaps``.

    ``gaps`` maps a case to the seconds of each event after T0 (None = no timestamp).
    Rows are written in reverse so that every function has to sort by case and seq.
    """
    rows = []
    for case, intent, steps in cases:
        offsets = (gaps or {}).get(case, [10 * i for i in range(len(steps))])
        for seq, (step, offset) in enumerate(zip(steps, offsets, strict=True)):
            ts = None if offset is None else T0 + timedelta(seconds=offset)
            rows.append((case, intent, seq, step, ts))
    return pl.DataFrame(rows[::-1], schema=SCHEMA, orient="row")


def vid(*steps):
    return hashlib.sha1("\x1f".join(steps).encode()).hexdigest()[:12]


# The 10-case refund log worked through in test_candidate_sop_exact.
REFUND = (
    [(f"a{i}", "refund", ["greet", "verify", "check", "refund", "close"]) for i in range(6)]
    + [(f"b{i}", "refund", ["greet", "verify", "check", "deny", "close"]) for i in range(3)]
    + [("c0", "refund", ["greet", "check", "verify", "refund", "upsell", "close"])]
)
