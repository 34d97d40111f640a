"""Finding input files and reading each as clean batches (``pipeline.ingest.read``)."""

import gzip
import zlib

import polars as pl
import pytest
from conftest import HASH_KEY, conversation, write_jsonl
from faults import MAX_TEXT, build_fault_corpus
from ingest.read_cases import (
    action_record,
)

from pipeline.config import IngestConfig
from pipeline.errors import InputError
from pipeline.ingest import IngestBatch, list_inputs, read_source
from pipeline.schema import COLUMNS


def ingest_all(path, **config) -> IngestBatch:
    batches = list(
        read_source(
            path, source_id="src", fmt="auto", config=IngestConfig(**config), hash_key=HASH_KEY
        )
    )
    return IngestBatch(
        *(
            pl.concat([getattr(b, name) for b in batches])
            for name in ("conversations", "turns", "redactions", "quarantine")
        )
    )


@pytest.mark.parametrize("batch_size", [7, 1000])
def test_fault_corpus_loads_every_good_record_and_quarantines_every_bad_one(tmp_path, batch_size):
    lines, expected = build_fault_corpus()
    path = write_jsonl(tmp_path / "faults.jsonl", lines)
    result = ingest_all(path, batch_size=batch_size, max_text_chars=MAX_TEXT)
    bad = {f"line {n}": reason for n, reason in expected.items() if reason}
    assert len(bad) >= 30
    got = dict(result.quarantine.select("locator", "reason").iter_rows())
    assert got == bad
    loaded = set(result.conversations["locator"])
    assert loaded == {f"line {n}" for n, reason in expected.items() if reason is None}
    assert result.conversations["conversation_id"].is_unique().all()
    # every quarantine row names its source and gives a one-line message naming the field
    assert (result.quarantine["source_id"] == "src").all()
    assert not result.quarantine["message"].str.contains("\n").any()
    by_reason = dict(result.quarantine.select("reason", "message").iter_rows())
    assert by_reason["unknown_speaker"].startswith("turns[1].speaker: ")
    assert by_reason["text_too_long"].startswith("turns[0].text: ")
    assert by_reason["duplicate_id"].startswith("conversation_id: ok-")
    messages = result.quarantine.group_by("reason").agg("message").rows()
    messages = {reason: set(found) for reason, found in messages}
    # the corpus breaks a timestamp at the conversation level and at a turn
    assert {m.split(": ")[0] for m in messages["bad_timestamp"]} == {"started_at", "turns[2].ts"}
    assert messages["bad_status"] == {
        'turns[2].status: expected "ok" or "failed", found "maybe"',
        'turns[2].status: expected "ok" or "failed", found "error"',
    }


def test_truncated_gzip_keeps_the_lines_before_the_cut(tmp_path):
    path = tmp_path / "cut.jsonl.gz"
    records = [
        conversation(f"c{i}", ("customer", "hello " * 30), ("agent", "hi")) for i in range(200)
    ]
    write_jsonl(tmp_path / "full.jsonl", records)
    data = gzip.compress((tmp_path / "full.jsonl").read_bytes())
    path.write_bytes(data[: len(data) // 2])
    complete = zlib.decompressobj(wbits=31).decompress(data[: len(data) // 2]).count(b"\n")
    result = ingest_all(path)
    assert 0 < complete < 200
    assert result.conversations["conversation_id"].to_list() == [f"c{i}" for i in range(complete)]
    assert result.quarantine.select("locator", "reason").rows() == [
        (f"line {complete + 1}", "truncated_gzip")
    ]
    assert result.quarantine["message"][0].startswith(
        f"gzip stream is truncated or corrupt after line {complete} ("
    )


def test_valid_records_are_normalised(tmp_path):
    record = {
        "conversation_id": " c1 ",
        "outcome": " Resolved ",
        "agent_id": "a17",
        "customer_id": "u99",
        "metadata": {"any": "thing"},
        "region": "emea",
        "turns": [
            {"speaker": "Customer", "text": "hi", "ts": "2026-03-01T10:00:03Z"},
            {
                "speaker": "AGENT",
                "event_type": "action",
                "action": "crm.lookup",
                "args": {"n": 2},
                "ts": "2026-03-01T10:00:09+01:00",
            },
            {"speaker": "rep", "text": "done"},
        ],
    }
    path = write_jsonl(tmp_path / "one.jsonl", [record])
    result = ingest_all(path, speaker_aliases={"REP": "agent"})
    conv = result.conversations.row(0, named=True)
    assert conv["conversation_id"] == "c1"
    assert conv["outcome"] == "resolved"
    assert conv["n_turns"] == 3
    assert str(conv["started_at"]) == "2026-03-01 09:00:09+00:00"  # earliest turn ts
    assert conv["agent_hash"] not in (None, "a17") and conv["customer_hash"] != "u99"
    assert '"region":"emea"' in conv["metadata"] and '"any":"thing"' in conv["metadata"]
    turns = result.turns
    assert turns["speaker"].to_list() == ["customer", "agent", "agent"]
    assert turns["event_type"].to_list() == ["utterance", "action", "utterance"]
    assert turns["action_name"].to_list() == [None, "crm.lookup", None]
    assert turns["args"][1] == '{"n":2}'
    assert tuple(result.turns.columns) == tuple(c for c in COLUMNS["turns"] if c != "run_id")
    assert tuple(result.conversations.columns) == tuple(
        c for c in COLUMNS["conversations"] if c != "run_id"
    )


def test_pii_is_redacted_and_counted_before_anything_leaves_ingest(tmp_path):
    record = conversation(
        "c1",
        ("customer", "mail me at jane.doe@example.com or call (415) 555-0199"),
        ("agent", "thanks, order 3348917502 is on its way"),
        ("agent", "May I have your full name, please?"),
        ("customer", "Sure, it's Priya Raman."),
        ("agent", "Thanks Priya, and the last four digits of the card?"),
        ("customer", "it's 7731"),
        metadata={"note": "customer email jane.doe@example.com", "contact": "name: Priya Raman"},
    )
    bad = {
        "conversation_id": "c2",
        "customer_id": "u-secret-77",
        "turns": [{"speaker": "robot", "text": "card 4111 1111 1111 1111"}],
    }
    result = ingest_all(write_jsonl(tmp_path / "pii.jsonl", [record, bad]))
    text = result.turns["text"].to_list()
    assert text[0] == "mail me at <EMAIL> or call <PHONE>"
    # An order number is an identifier (never a card or a phone); the answer after the
    # agent's question is a name, carried to the agent's next turn; "it's 7731" after a
    # question about a card is a card fragment.
    assert text[1:] == [
        "thanks, order <ID> is on its way",
        "May I have your full name, please?",
        "Sure, it's <NAME>.",
        "Thanks <NAME>, and the last four digits of the card?",
        "it's <CARD>",
    ]
    metadata = result.conversations["metadata"][0]
    assert "jane.doe" not in metadata and "Priya" not in metadata and "Raman" not in metadata
    counts = {(r["turn_idx"], r["pii_type"]): r["n"] for r in result.redactions.to_dicts()}
    assert counts == {
        (0, "email"): 1,
        (0, "phone"): 1,
        (1, "id"): 1,
        (3, "name"): 1,
        (4, "name"): 1,
        (5, "card"): 1,
    }
    raw = result.quarantine["raw"][0]
    assert "4111" not in raw and "<CARD>" in raw
    assert "u-secret-77" not in raw and '"customer_id": "<ID>"' in raw


def test_identifier_hashes_depend_on_the_key(tmp_path):
    path = write_jsonl(
        tmp_path / "ids.jsonl",
        [
            conversation("c1", ("agent", "hi"), agent_id="a1", customer_id="u1"),
            conversation("c2", ("agent", "hi"), agent_id="a1", customer_id="u2"),
        ],
    )
    one = [
        b.conversations
        for b in read_source(
            path, source_id="s", fmt="jsonl", config=IngestConfig(), hash_key=b"k1"
        )
    ][0]
    two = [
        b.conversations
        for b in read_source(
            path, source_id="s", fmt="jsonl", config=IngestConfig(), hash_key=b"k2"
        )
    ][0]
    assert one["agent_hash"][0] == one["agent_hash"][1]  # same agent, same hash
    assert one["customer_hash"][0] != one["customer_hash"][1]
    assert one["agent_hash"][0] != two["agent_hash"][0]


@pytest.mark.parametrize(
    ("status", "stored"),
    [(None, None), ("ok", "ok"), ("failed", "failed"), (" FAILED ", "failed"), ("", None)],
)
def test_an_action_status_is_stored_normalised(tmp_path, status, stored):
    result = ingest_all(write_jsonl(tmp_path / "s.jsonl", [action_record("c1", status)]))
    assert result.quarantine.is_empty()
    assert result.turns["action_status"].to_list() == [None, stored]


def test_a_status_on_an_utterance_is_ignored(tmp_path):
    record = conversation("c1", ("customer", "hi"), ("agent", "hello"))
    record["turns"][1]["status"] = "read"  # a chat export's delivery state
    result = ingest_all(write_jsonl(tmp_path / "u.jsonl", [record]))
    assert result.quarantine.is_empty()
    assert result.turns["action_status"].to_list() == [None, None]


@pytest.mark.parametrize(
    ("status", "message"),
    [
        ("maybe", 'turns[1].status: expected "ok" or "failed", found "maybe"'),
        (" Error ", 'turns[1].status: expected "ok" or "failed", found " Error "'),
        (True, "turns[1].status: expected a string, found a boolean"),
    ],
)
def test_a_bad_action_status_quarantines_the_record(tmp_path, status, message):
    path = write_jsonl(tmp_path / "b.jsonl", [action_record("c1", status)])
    result = ingest_all(path)
    assert result.conversations.is_empty()
    reason = "bad_type" if status is True else "bad_status"
    assert result.quarantine.select("field", "reason", "message").rows() == [
        ("turns[1].status", reason, message)
    ]


def test_a_changed_status_changes_the_content_hash(tmp_path):
    one = ingest_all(write_jsonl(tmp_path / "1.jsonl", [action_record("c1", "ok")]))
    two = ingest_all(write_jsonl(tmp_path / "2.jsonl", [action_record("c1", "failed")]))
    assert one.conversations["content_hash"][0] != two.conversations["content_hash"][0]


def test_list_inputs_expands_folders_sorted_and_deduplicated(tmp_path):
    for name in ("b.jsonl", "a.csv.gz", "sub/c.parquet", "sub/d.json", "notes.txt", "e.jsonl.gz"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text("x")
    patterns = IngestConfig().patterns
    got = list_inputs([tmp_path, tmp_path / "b.jsonl"], patterns=patterns, recursive=True)
    names = ["a.csv.gz", "b.jsonl", "e.jsonl.gz", "sub/c.parquet", "sub/d.json"]
    assert got == [tmp_path / n for n in names]
    top_only = list_inputs([tmp_path], patterns=patterns)
    assert top_only == [tmp_path / n for n in ("a.csv.gz", "b.jsonl", "e.jsonl.gz")]
    single = tmp_path / "notes.txt"
    assert list_inputs([single, single], patterns=patterns) == [single]
    with pytest.raises(InputError, match="no such file or folder"):
        list_inputs([tmp_path / "nope"], patterns=("*.jsonl",))
