"""Builders shared by the drift tests (they were in ``test_exceptions.py``)."""

import polars as pl

from pipeline.sops.model import Sop, Step

PLACES = ["paris", "rome", "oslo", "lima", "kyoto", "cairo", "quito", "riga", "bern", "doha"]


SOP = Sop(
    "loyalty_points", 1, ("loyalty",),
    tuple(Step(s) for s in ("verify_identity", "check_points", "adjust_points", "close")),
)  # fmt: skip


NOT_STEPS = ("other", "greeting")


def tables(calls: list[list[tuple]], *, sop_id: str = "loyalty_points", missing=None, prefix="c"):
    """Turns, step events and conformance of calls given as (speaker, text, step) turns."""
    turns, events, conformance = [], [], []
    for i, call in enumerate(calls):
        cid, seq = f"{prefix}{i:02d}", 0
        for t, (speaker, text, step) in enumerate(call):
            action = speaker == "action"
            turns.append({"conversation_id": cid, "turn_idx": t,
                          "speaker": "agent" if action else speaker,
                          "event_type": "action" if action else "utterance",
                          "text": None if action else text})  # fmt: skip
            if step:
                events.append({"conversation_id": cid, "seq": seq, "turn_idx": t,
                               "step_id": step, "sop_id": sop_id, "is_repeat": False})  # fmt: skip
                seq += 1
        gone = missing(i) if missing else []
        conformance.append({"conversation_id": cid, "sop_id": sop_id, "version": 1,
                            "variant_id": "v", "fitness": 1.0, "missing": gone,
                            "undocumented": [], "order_violations": [], "skipped_gates": [],
                            "is_conforming": not gone})  # fmt: skip
    return (
        pl.DataFrame(turns),
        pl.DataFrame(events),
        pl.DataFrame(conformance, schema_overrides={"missing": pl.List(pl.String)}),
    )


def loyalty_call(i: int) -> list[tuple]:
    """Calls 0-19 replace check_points by a points sub-flow; 10-29 add a hotel callback."""
    call = [
        ("customer", "I have a problem with my points", None),
        ("agent", "Hello, how can I help you?", "greeting"),
        ("agent", "Can you confirm your membership number please", "verify_identity"),
    ]
    if i < 20:
        call.append(("agent", f"I see the loyalty points for your stay in {PLACES[i % 10]} "
                              "are missing so I will add them by hand", "other"))  # fmt: skip
    else:
        call.append(("agent", "Let me check your points balance", "check_points"))
    call.append(("agent", "I have adjusted your points now", "adjust_points"))
    if i >= 10:
        place = PLACES[(i + 3) % 10]
        call.append(("agent", f"Let me also book a callback with our partner hotel in {place} "
                              "for tomorrow", "d_loyalty_points_1"))  # fmt: skip
    if i == 5:
        call.append(("agent", "What a lovely sunny morning in Lisbon today", "other"))
    call.append(("agent", "Thank you, goodbye", "close"))
    return call


def loyalty(n: int = 30):
    return tables([loyalty_call(i) for i in range(n)],
                  missing=lambda i: ["check_points"] if i < 20 else [])  # fmt: skip
