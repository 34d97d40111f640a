"""A small database to export: three conversations with planted PII and raw ids.

``m-1`` starts exactly at 2026-05-01 00:00 UTC and has an action, step events, a
conformance check and a drift example; ``m-2`` starts one second before that day;
``m-3`` has no start time and a bot.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
from conftest import HASH_KEY, write_jsonl

from pipeline import schema
from pipeline.config import IngestConfig
from pipeline.ingest import read_source
from pipeline.store import open_store

EMAIL, PHONE = "jane.roe@example.com", "415-555-0134"
RAW_IDS = ("raw-cust-1", "raw-cust-2", "raw-agent-1")
RECORDS = [
    {"conversation_id": "m-1", "customer_id": "raw-cust-1", "agent_id": "raw-agent-1",
     "channel": "chat", "started_at": "2026-05-01T00:00:00Z",
     "turns": [
         {"speaker": "agent", "text": "Hello, how can I help?", "ts": "2026-05-01T00:00:05Z"},
         {"speaker": "customer", "text": f"it's {EMAIL}, phone {PHONE}",
          "ts": "2026-05-01T00:00:09Z"},
         {"speaker": "agent", "event_type": "action", "action": "crm.lookup",
          "args": {"email": EMAIL}, "status": "ok", "ts": "2026-05-01T00:00:12Z"},
         {"speaker": "agent", "text": "Found you, thanks", "ts": "2026-05-01T00:00:20Z"}]},
    {"conversation_id": "m-2", "customer_id": "raw-cust-2", "agent_id": "raw-agent-1",
     "channel": "voice", "started_at": "2026-04-30T23:59:59Z",
     "turns": [{"speaker": "customer", "text": f"call me on {PHONE}"},
               {"speaker": "agent", "text": "Will do"}]},
    {"conversation_id": "m-3", "customer_id": "raw-cust-1",
     "turns": [{"speaker": "customer", "text": "hi"}, {"speaker": "bot", "text": "Hello"}]},
]  # fmt: skip
T = datetime(2026, 5, 1, tzinfo=UTC)


def seeded_export_store(tmp_path: Path) -> Path:
    """A database holding :data:`RECORDS` (ingested and redacted) and results for ``m-1``."""
    path = write_jsonl(tmp_path / "calls.jsonl", RECORDS)
    database = tmp_path / "x.duckdb"
    batches = read_source(path, source_id="t", fmt="jsonl", config=IngestConfig(),
                          hash_key=HASH_KEY)  # fmt: skip
    with open_store(database) as store:
        for batch in batches:
            store.write_conversations(conversations=batch.conversations, turns=batch.turns,
                                      redactions=batch.redactions, run_id="r-ingest")  # fmt: skip
        store.write_snapshots(_results(), run_id="r-results")
    return database


def _rows(table: str, **columns: list) -> pl.DataFrame:
    """Rows of ``table``: the given columns, every other batch column null."""
    n = len(next(iter(columns.values())))
    return pl.DataFrame({c: columns.get(c, [None] * n) for c in schema.batch_columns(table)})


def _results() -> dict[str, pl.DataFrame]:
    return {
        schema.STEP_TYPES: _rows(schema.STEP_TYPES, step_id=["greet", "lookup"],
                                 label=["greeting", "Look the customer up"],
                                 source=["sop", "action"], n_events=[1, 1]),
        schema.STEP_EVENTS: _rows(schema.STEP_EVENTS, conversation_id=["m-1", "m-1"],
                                  seq=[0, 1], turn_idx=[0, 2], step_id=["greet", "lookup"],
                                  source=["sop", "action"], confidence=[0.5, 1.0],
                                  sop_id=["acct", "acct"], workflow_id=["acct", "acct"],
                                  is_repeat=[False, False]),
        schema.CONFORMANCE: _rows(schema.CONFORMANCE, conversation_id=["m-1"], sop_id=["acct"],
                                  version=[1], variant_id=["v1"], fitness=[0.5],
                                  missing=[["verify"]],
                                  undocumented=[[]], order_violations=[[]],
                                  skipped_gates=[[]], is_conforming=[False], skipped=[[]]),
        schema.DRIFT_FINDINGS: _rows(schema.DRIFT_FINDINGS, finding_id=["f1"], kind=["missing"],
                                     sop_id=["acct"], workflow_id=["acct"], step=["verify"],
                                     window_start=[T], window_end=[T], flagged=[True],
                                     severity=["high"], sentence=["agents skip verify"]),
        schema.DRIFT_EXAMPLES: _rows(schema.DRIFT_EXAMPLES, finding_id=["f1"], kind=["missing"],
                                     workflow_id=["acct"], step=["verify"], rank=[1],
                                     conversation_id=["m-1"], turn_idx=[3],
                                     why=["no verify step"], excerpt=["[]"]),
    }  # fmt: skip
