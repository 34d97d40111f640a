"""Exported vCon files load back with the vCon input adapter: the same conversations and turns.

Skipped while ``pipeline.ingest.adapters.vcon`` is not there.
"""

import pytest
from export.run_cases import seeded_export_store

from pipeline.config import IngestConfig
from pipeline.export.run import SUFFIX, export_vcons
from pipeline.ingest import detect_format
from pipeline.store import open_store

vcon_adapter = pytest.importorskip("pipeline.ingest.adapters.vcon")

TURNS_SQL = (
    "select conversation_id, speaker, event_type, text, action_name, action_status "
    "from turns order by conversation_id, turn_idx"
)


def read_back(folder) -> tuple[dict[str, dict], dict[str, list[tuple]]]:
    """Every file through the adapter: conversations and turns by conversation id."""
    conversations, turns = {}, {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        for batch in vcon_adapter.ADAPTER.read(path, IngestConfig()):
            assert batch.rejects.is_empty(), batch.rejects.to_dicts()
            for row in batch.conversations.to_dicts():
                conversations[row["conversation_id"]] = row
                turns[row["conversation_id"]] = [
                    (t["speaker"], t["event_type"] or "utterance", t["text"], t["action"],
                     t["status"])
                    for t in batch.turns.filter(rec=row["rec"]).sort("turn_idx").to_dicts()
                ]  # fmt: skip
    return conversations, turns


def test_every_exported_file_loads_back_with_the_same_conversations_and_turns(tmp_path):
    database = seeded_export_store(tmp_path)
    export_vcons(database, tmp_path / "out")
    conversations, turns = read_back(tmp_path / "out")
    with open_store(database, read_only=True) as store:
        stored = store.sql(TURNS_SQL)
        ids = store.sql("select conversation_id, customer_hash, agent_hash, channel "
                        "from conversations").rows()  # fmt: skip
    expected = {cid: [row[1:] for row in stored.rows() if row[0] == cid] for cid, *_ in ids}
    assert turns == expected  # the same ids; speaker, kind, text, action and status, in order
    assert sum(len(v) for v in turns.values()) == stored.height == 8
    for cid, customer_hash, agent_hash, channel in ids:
        back = conversations[cid]
        assert (back["customer_id"], back["agent_id"]) == (customer_hash, agent_hash)
        assert back["channel"] == (channel or "chat")


def test_ingest_recognises_an_exported_file_as_vcon(tmp_path):
    export_vcons(seeded_export_store(tmp_path), tmp_path / "out")
    assert {detect_format(p) for p in (tmp_path / "out").iterdir()} == {"vcon"}
