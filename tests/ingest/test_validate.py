"""Validation of raw batches (``pipeline.ingest.validate``)."""

import polars as pl
from conftest import HASH_KEY, conversation
from ingest.read_cases import action_record

from pipeline.ingest import prepare_batch
from pipeline.ingest.adapters import RawBatch, Record, build_batch
from pipeline.ingest.validate import SeenIds, validate_batch


def raw_batch():
    records = [
        Record(
            "line 1", conversation("c1", ("customer", "hi a@b.co"), ("agent", "ok")), "h1", "{}"
        ),
        Record("line 2", conversation("c2", ("robot", "x")), "h2", "{}"),
    ]
    return build_batch(records, [])


def test_validate_and_prepare_do_not_modify_their_inputs():
    batch = raw_batch()
    before = (batch.conversations.clone(), batch.turns.clone())
    valid, seen = validate_batch(
        batch, source_id="s", max_text_chars=100, speaker_aliases={}, seen_ids=SeenIds()
    )
    assert batch.conversations.equals(before[0]) and batch.turns.equals(before[1])
    assert len(seen) == 2
    assert seen.met(pl.Series(["c1", "c2", "c3", None])).to_list() == [True, True, False, False]
    snapshot = (valid.conversations.clone(), valid.turns.clone(), valid.quarantine.clone())
    prepare_batch(
        valid.conversations,
        valid.turns,
        valid.quarantine,
        source_id="s",
        hash_key=HASH_KEY,
        redact_types=("email",),
    )
    assert valid.conversations.equals(snapshot[0])
    assert valid.turns.equals(snapshot[1])
    assert valid.quarantine.equals(snapshot[2])


def test_seen_ids_are_remembered_once_and_found_across_many_adds():
    seen = SeenIds(["a"])
    for start in range(0, 3000, 1000):
        seen.add(pl.Series([f"id-{i}" for i in range(start, start + 1000)] + ["a", None]))
    assert len(seen) == 3001
    probe = pl.Series(["a", "id-0", "id-2999", "id-3000", "", None])
    assert seen.met(probe).to_list() == [True, True, True, False, False, False]
    assert SeenIds().met(probe).to_list() == [False] * 6


def test_seen_ids_carry_duplicates_across_batches():
    batch = raw_batch()
    valid, _ = validate_batch(
        batch, source_id="s", max_text_chars=100, speaker_aliases={}, seen_ids=SeenIds(["c1"])
    )
    assert valid.conversations.height == 0
    assert sorted(valid.quarantine["reason"]) == ["duplicate_id", "unknown_speaker"]


def test_validate_reads_an_optional_status_column():
    """A raw batch without ``status`` (an export with no status column): every status unknown."""
    records = [Record("line 1", action_record("c1", None), "h1", "{}")]
    batch = build_batch(records, [])
    for turns, expected in (
        (batch.turns.drop("status", strict=False), [None, None]),
        (batch.turns.with_columns(status=pl.Series([None, "Failed"])), [None, "failed"]),
    ):
        valid, _ = validate_batch(
            RawBatch(batch.conversations, turns, batch.rejects),
            source_id="s",
            max_text_chars=100,
            speaker_aliases={},
            seen_ids=SeenIds(),
        )
        assert valid.turns["action_status"].to_list() == expected
