"""Canonical JSONL (``pipeline.ingest.adapters.jsonl``)."""

import gzip
import json
import random
import zlib

import orjson
import pytest
from ingest.adapters_cases import conv, read_all, write_lines
from polars.testing import assert_frame_equal

from pipeline.ingest.adapters.jsonl import read_jsonl


def test_jsonl_plain_and_gzip_give_identical_frames_and_hashes_follow_content(tmp_path):
    lines = [
        conv("c1", "hi", "hello", channel="chat"),
        conv("c2", "refund"),
        b"{bad",
        conv("c1", "hi", "hello", channel="chat"),
    ]
    plain = write_lines(tmp_path / "a.jsonl", lines)
    packed = tmp_path / "a.jsonl.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    got_plain = read_all(read_jsonl(plain, batch_size=10))
    got_gzip = read_all(read_jsonl(packed, batch_size=10))
    assert got_plain[0]["conversation_id"].to_list() == ["c1", "c2", "c1"]
    assert got_plain[2]["locator"].to_list() == ["line 3"]
    hashes = got_plain[0]["content_hash"].to_list()
    assert hashes[0] == hashes[2] != hashes[1] and len(hashes[0]) == 32
    for a, b in zip(got_plain, got_gzip, strict=True):
        assert_frame_equal(a, b)


def test_jsonl_batches_are_bounded_and_rec_is_local(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [conv(f"c{i}", "q", "a") for i in range(5)])
    batches = list(read_jsonl(path, batch_size=2))
    assert [b.conversations.height for b in batches] == [2, 2, 1]
    assert [b.conversations["rec"].to_list() for b in batches] == [[0, 1], [0, 1], [0]]
    assert [b.turns["rec"].to_list() for b in batches] == [[0, 0, 1, 1], [0, 0, 1, 1], [0, 0]]
    assert [b.conversations["locator"].to_list() for b in batches] == [
        ["line 1", "line 2"],
        ["line 3", "line 4"],
        ["line 5"],
    ]


def test_jsonl_blank_lines_are_skipped_but_counted(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [conv("c1", "hi"), b"", b"   \t", conv("c2", "yo")])
    conversations, turns, rejects = read_all(read_jsonl(path, batch_size=10))
    assert conversations["locator"].to_list() == ["line 1", "line 4"]
    assert turns.height == 2
    assert rejects.is_empty()


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b'{"conversation_id": "c2", "turns": [', "malformed_json"),
        (b'{"conversation_id": "caf\xe9", "turns": []}', "bad_encoding"),
        (b'[{"conversation_id": "c2"}]', "bad_type"),
        (b'"just a string"', "bad_type"),
    ],
)
def test_jsonl_unparseable_line_is_a_reject_with_its_line(tmp_path, line, reason):
    path = write_lines(tmp_path / "a.jsonl", [conv("c1", "hi"), line, conv("c3", "yo")])
    conversations, _, rejects = read_all(read_jsonl(path, batch_size=10))
    assert conversations["conversation_id"].to_list() == ["c1", "c3"]
    assert rejects.select("locator", "reason").rows() == [("line 2", reason)]
    assert rejects["message"][0]


def test_jsonl_truncated_gzip_keeps_lines_before_the_cut(tmp_path):
    rng = random.Random(7)  # random text compresses poorly, so the cut falls mid-file
    lines = [conv(f"c{i}", "".join(rng.choices("abcdefghij klmnop", k=200))) for i in range(50)]
    data = gzip.compress(b"".join(orjson.dumps(x) + b"\n" for x in lines))
    cut = data[: len(data) // 2]
    complete = zlib.decompressobj(wbits=31).decompress(cut).count(b"\n")
    assert 0 < complete < 50
    path = tmp_path / "cut.jsonl.gz"
    path.write_bytes(cut)
    conversations, _, rejects = read_all(read_jsonl(path, batch_size=1000))
    assert conversations["conversation_id"].to_list() == [f"c{i}" for i in range(complete)]
    assert rejects.select("locator", "reason").rows() == [
        (f"line {complete + 1}", "truncated_gzip")
    ]
    assert f"after line {complete}" in rejects["message"][0]


def test_jsonl_unknown_fields_are_kept_in_metadata(tmp_path):
    record = {
        "conversation_id": "c1",
        "metadata": {"a": 1},
        "crm": "X",
        "turns": [
            {"speaker": "customer", "text": "hi", "sentiment": -1},
            {"speaker": "agent", "text": "yo"},
        ],
    }
    path = write_lines(tmp_path / "a.jsonl", [record])
    conversations, turns, _ = read_all(read_jsonl(path, batch_size=10))
    assert json.loads(conversations["metadata"][0]) == {
        "a": 1,
        "crm": "X",
        "turn_fields": {"0": {"sentiment": -1}},
    }
    assert "sentiment" not in turns.columns


def test_jsonl_turn_value_types(tmp_path):
    record = {
        "conversation_id": "c1",
        "turns": [
            {"speaker": "customer", "text": "hi", "ts": 1772359203},  # Unix seconds
            {"speaker": "agent", "text": 123, "ts": 1772359203.5},
            {"speaker": "agent", "text": "yo", "ts": "2026-03-01T10:00:09Z"},
        ],
    }
    path = write_lines(tmp_path / "a.jsonl", [record])
    _, turns, _ = read_all(read_jsonl(path, batch_size=10))
    assert turns.select("text", "ts", "type_problem").rows() == [
        ("hi", "2026-03-01T10:00:03+00:00", None),
        (None, "2026-03-01T10:00:03.500000+00:00", "text: expected a string, found int"),
        ("yo", "2026-03-01T10:00:09Z", None),
    ]


def test_jsonl_millisecond_epoch_does_not_crash_the_file(tmp_path):
    bad = {
        "conversation_id": "c2",
        "turns": [{"speaker": "customer", "text": "hi", "ts": 1772359203000}],
    }
    path = write_lines(tmp_path / "a.jsonl", [conv("c1", "hi"), bad])
    conversations, turns, _ = read_all(read_jsonl(path, batch_size=10))
    assert conversations["conversation_id"].to_list() == ["c1", "c2"]
    # 1772359203000 is too large for seconds, so it is read as milliseconds.
    assert turns.select("ts", "type_problem").row(1) == ("2026-03-01T10:00:03+00:00", None)
