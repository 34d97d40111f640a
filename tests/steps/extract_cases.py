"""Builders shared by the steps tests (they were in ``test_extract.py``)."""

from datetime import UTC, datetime, timedelta

import polars as pl

from pipeline.sops.model import Sop, Step


def sop(sop_id: str, *steps: Step) -> Sop:
    return Sop(sop_id=sop_id, version=1, intent=(sop_id,), steps=steps)


BALANCE = sop(
    "balance",
    Step(id="ask_account", examples=("Can you tell me your account number?",),
         next=("lookup",)),
    Step(id="lookup", description="Query", action="bank.lookup", after=("ask_account",),
         next=("found",)),
    Step(id="found", description="Found", when="the lookup succeeded", next=("inform_balance",)),
    Step(id="inform_balance", examples=("Your balance is {balance:d} dollars.",)),
)  # fmt: skip


FRAUD = sop(
    "fraud",
    Step(id="ask_account", examples=("Can you tell me your account number?",)),
    Step(id="ask_fraud_details", examples=("Please describe the suspicious transaction.",)),
    Step(id="file_report", examples=("Your fraud report has been filed.",),
         action="bank.report"),
)  # fmt: skip


START = datetime(2026, 1, 1, tzinfo=UTC)


def conversation(cid: str, *turns: tuple[str, str], intent: str | None = None) -> list[dict]:
    """Turn rows: ``("agent", text)``, ``("customer", text)`` or ``("action", name)``."""
    rows = []
    for i, (who, value) in enumerate(turns):
        action = who in ("action", "system")
        rows.append({
            "conversation_id": cid,
            "turn_idx": i,
            "speaker": "system" if who == "system" else ("agent" if action else who),
            "event_type": "action" if action else "utterance",
            "text": None if action else value,
            "action_name": value if action else None,
            "ts": START + timedelta(seconds=10 * i),
            **({"intent_id": intent} if intent is not None else {}),
        })  # fmt: skip
    return rows


def frame(*conversations: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([row for c in conversations for row in c])


def steps_of(events: pl.DataFrame, cid: str) -> list[str]:
    return events.filter(pl.col("conversation_id") == cid).sort("seq")["step_id"].to_list()


BALANCE_CALL = conversation(
    "c1",
    ("customer", "I want to know my balance"),
    ("agent", "Can you tell me your account number?"),
    ("customer", "It is 12345"),
    ("action", "bank.lookup"),
    ("system", "bank.result"),
    ("agent", "Your balance is 1,250 dollars."),
    ("agent", "What a lovely sunny morning in Lisbon"),
    ("agent", "Thank you and goodbye."),
)


NAMES = ["alice", "bruno", "chen", "dara", "emil", "farah", "goran", "hana", "ivan", "jonas"]


PLACES = ["paris", "rome", "oslo", "lima", "kyoto", "cairo", "quito", "riga", "bern", "doha"]


def _family_calls(n: int, families) -> list[list[dict]]:
    """``n`` conversations; each family gives one turn: ``(who, value)`` of the call number."""
    return [conversation(f"c{i:02d}", *[f(i) for f in families]) for i in range(n)]


#: One turn each of a balance call on script: asking, looking up, telling the balance.
ON_SCRIPT = [
    lambda i: ("agent", "Can you tell me your account number?"),
    lambda i: ("action", "bank.lookup"),
    lambda i: ("agent", f"Your balance is {100 + i} dollars."),
]
