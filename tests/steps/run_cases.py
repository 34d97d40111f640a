"""Builders shared by the steps tests (they were in ``test_run.py``)."""

from __future__ import annotations

from pathlib import Path

from conftest import HASH_KEY, conversation, write_jsonl

from pipeline.config import IngestConfig
from pipeline.ingest import read_source
from pipeline.sops.model import Sop, Step, sop_to_yaml
from pipeline.store import open_store

BALANCE = Sop(
    sop_id="balance",
    version=1,
    intent=("balance",),
    steps=(
        Step(id="ask_account", examples=("Can you tell me your account number?",),
             next=("inform_balance",)),
        Step(id="inform_balance", examples=("Your balance is {balance:d} dollars.",)),
    ),
)  # fmt: skip


CALL = conversation(
    "c1",
    ("customer", "I would like to know my balance"),
    ("agent", "Could you tell me the account number please?"),  # a paraphrase of ask_account
    ("customer", "It is 12345"),
    ("agent", "Your balance is 10 dollars."),
    ("agent", "Fair winds to you, sailor"),
    started_at="2026-01-05T09:00:00Z",
)


def seeded_store(tmp_path: Path) -> tuple[Path, Path]:
    """A database holding :data:`CALL` and a SOP folder holding :data:`BALANCE`."""
    sops = tmp_path / "sops"
    sops.mkdir()
    (sops / "balance.yaml").write_text(sop_to_yaml(BALANCE))
    calls = write_jsonl(tmp_path / "calls.jsonl", [CALL])
    batches = read_source(calls, source_id="t", fmt="jsonl", config=IngestConfig(),
                          hash_key=HASH_KEY)  # fmt: skip
    with open_store(tmp_path / "x.duckdb") as store:
        for batch in batches:
            store.write_conversations(conversations=batch.conversations, turns=batch.turns,
                                      redactions=batch.redactions, run_id="r-ingest")  # fmt: skip
    return tmp_path / "x.duckdb", sops
