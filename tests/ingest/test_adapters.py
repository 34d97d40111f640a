"""Input adapters: JSONL, CSV/Parquet tables, STAR, ABCD, Banking77, MultiDoGO, detection."""

import csv
import gzip
import json
import random
import zlib
from datetime import UTC, datetime
from pathlib import Path

import orjson
import polars as pl
import pyarrow.csv as pacsv
import pytest
from conftest import HASH_KEY, SHARED_DATA
from polars.testing import assert_frame_equal

from pipeline.cli.main import EXIT_ERROR, EXIT_USAGE, main
from pipeline.config import IngestConfig, TableColumns
from pipeline.errors import InputError
from pipeline.ingest.adapters import canonical_hash, table
from pipeline.ingest.adapters.abcd import read_abcd
from pipeline.ingest.adapters.banking77 import read_banking77
from pipeline.ingest.adapters.jsonl import read_jsonl
from pipeline.ingest.adapters.multidogo import read_multidogo
from pipeline.ingest.adapters.star import dialogue_to_record, read_star, result_kind
from pipeline.ingest.adapters.table import read_table
from pipeline.ingest.run import IngestBatch, detect_format, list_inputs, read_source

FIXTURES = Path(__file__).parents[1] / "fixtures"
STAR = FIXTURES / "star_excerpt.jsonl"
ABCD = FIXTURES / "abcd_sample.json"
BANKING77 = FIXTURES / "banking77_excerpt.csv"
MULTIDOGO = FIXTURES / "multidogo_sample.tsv"
STAR_LINES = [json.loads(line) for line in STAR.read_text().splitlines()]
ABCD_ITEMS = json.loads(ABCD.read_text())
BANKING77_ROWS = list(csv.reader(BANKING77.read_text(encoding="utf-8").splitlines(True)))[1:]
MULTIDOGO_ROWS = list(
    csv.reader(MULTIDOGO.read_text(encoding="utf-8").splitlines(True), delimiter="\t")
)[1:]


def read_all(batches):
    batches = list(batches)
    assert batches, "the reader yielded no batch"
    return tuple(
        pl.concat([getattr(b, n) for b in batches]) for n in ("conversations", "turns", "rejects")
    )


def ingest_file(path, *, fmt, **config) -> IngestBatch:
    """Read, validate and redact one file as ingest does (quarantine included)."""
    batches = list(
        read_source(
            path, source_id="src", fmt=fmt, config=IngestConfig(**config), hash_key=HASH_KEY
        )
    )
    return IngestBatch(
        *(
            pl.concat([getattr(b, name) for b in batches])
            for name in ("conversations", "turns", "redactions", "quarantine")
        )
    )


def conv(cid, *texts, **fields):
    speakers = ("customer", "agent")
    turns = [{"speaker": speakers[i % 2], "text": t} for i, t in enumerate(texts)]
    return {"conversation_id": cid, **fields, "turns": turns}


def write_lines(path, lines):
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def texts_by_conv(conversations, turns):
    """{conversation_id: [turn texts in turn_idx order]} for one batch's frames."""
    joined = turns.join(conversations.select("rec", "conversation_id"), on="rec")
    grouped = joined.sort("rec", "turn_idx").group_by("conversation_id", maintain_order=True)
    return {row["conversation_id"]: row["text"] for row in grouped.agg("text").to_dicts()}


# ---------------------------------------------------------------- canonical JSONL


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
    ts, problem = turns.row(1)[-2:]
    assert problem is not None or ts.startswith("2026-03-01T10:00:03")


# ---------------------------------------------------------------- CSV / Parquet tables

CSV = """conversation_id,speaker,text,ts,queue,crm_ref
c1,customer,hi there,2026-03-01T10:00:00Z,billing,R1
c1,agent,hello,2026-03-01T10:00:05Z,billing,R1
c2,customer,refund please,2026-03-01T11:00:00Z,refunds,R2
c3,customer,where is my order,2026-03-01T12:00:00Z,orders,R3
c3,agent,checking,2026-03-01T12:00:09Z,orders,R3
c3,agent,shipped,2026-03-01T12:00:30Z,orders,R3
"""
EXPECTED_TEXTS = {
    "c1": ["hi there", "hello"],
    "c2": ["refund please"],
    "c3": ["where is my order", "checking", "shipped"],
}


def read_csv_text(tmp_path, text, columns=None):
    (tmp_path / "t.csv").write_text(text)
    return read_all(
        read_table(tmp_path / "t.csv", fmt="csv", columns=columns or TableColumns(), batch_size=100)
    )


def test_csv_turn_per_row_groups_conversations_in_file_order(tmp_path):
    conversations, turns, rejects = read_csv_text(tmp_path, CSV)
    assert conversations.select("conversation_id", "locator", "queue").rows() == [
        ("c1", "rows 2-3", "billing"),
        ("c2", "rows 4-4", "refunds"),
        ("c3", "rows 5-7", "orders"),
    ]
    assert texts_by_conv(conversations, turns) == EXPECTED_TEXTS
    assert turns.filter(pl.col("rec") == 2)["speaker"].to_list() == ["customer", "agent", "agent"]
    assert turns["ts"][1] == "2026-03-01T10:00:05Z"
    assert rejects.is_empty()
    assert [json.loads(m) for m in conversations["metadata"]] == [  # the unmapped column
        {"crm_ref": "R1"},
        {"crm_ref": "R2"},
        {"crm_ref": "R3"},
    ]
    assert "crm_ref" not in turns.columns


def test_csv_custom_column_mapping(tmp_path):
    text = (
        "call_id,role,utterance,time,site\n"
        "k1,customer,my card is blocked,2026-03-01T10:00:00Z,lisbon\n"
        "k1,agent,let me look,2026-03-01T10:00:04Z,lisbon\n"
    )
    columns = TableColumns(conversation_id="call_id", speaker="role", text="utterance", ts="time")
    conversations, turns, _ = read_csv_text(tmp_path, text, columns)
    assert conversations.select("conversation_id", "locator", "metadata").rows() == [
        ("k1", "rows 2-3", '{"site":"lisbon"}')
    ]
    assert turns.select("speaker", "text", "ts").rows() == [
        ("customer", "my card is blocked", "2026-03-01T10:00:00Z"),
        ("agent", "let me look", "2026-03-01T10:00:04Z"),
    ]


@pytest.mark.parametrize(
    ("header", "columns", "column", "field"),
    [
        ("conversation_id,text", TableColumns(), "speaker", "speaker"),
        ("id,speaker,text", TableColumns(), "conversation_id", "conversation_id"),
        (
            "conversation_id,speaker,text",
            TableColumns(conversation_id="call_id"),
            "call_id",
            "conversation_id",
        ),
    ],
)
def test_csv_missing_required_column_is_an_input_error(tmp_path, header, columns, column, field):
    with pytest.raises(InputError) as info:
        read_csv_text(
            tmp_path, f"{header}\n" + ",".join(["x"] * header.count(",")) + ",x\n", columns
        )
    assert repr(column) in str(info.value)
    assert f"ingest.table.{field}" in str(info.value)


def test_csv_rows_without_id_and_reappearing_conversations_are_rejects(tmp_path):
    text = (
        "conversation_id,speaker,text,note\nc1,customer,hi,n\n,agent,orphan,n\n"
        "c1,agent,yo,n\nc2,customer,hey,n\nc1,agent,late reply,n\n"
    )
    conversations, turns, rejects = read_csv_text(tmp_path, text)
    assert conversations.select("conversation_id", "locator").rows() == [
        ("c1", "rows 2-4"),
        ("c2", "rows 5-5"),
    ]
    assert turns["text"].to_list() == ["hi", "yo", "hey"]
    assert rejects.select("locator", "conversation_id", "field", "reason").rows() == [
        ("row 3", None, "conversation_id", "missing_id"),
        ("rows 6-6", "c1", "conversation_id", "duplicate_id"),
    ]
    assert "orphan" in rejects["raw"][0] and "late reply" in rejects["raw"][1]
    assert "sort the export" in rejects["message"][1]


def test_csv_gzip_equals_plain(tmp_path):
    plain = read_csv_text(tmp_path, CSV)
    packed = tmp_path / "t.csv.gz"
    packed.write_bytes(gzip.compress(CSV.encode()))
    got = read_all(read_table(packed, fmt="csv", columns=TableColumns(), batch_size=100))
    for a, b in zip(plain, got, strict=True):
        assert_frame_equal(a, b)


def _nine_rows(tmp_path):
    rows = [
        ("c1", "a1"),
        ("c1", "a2"),
        ("c2", "b1"),
        ("c2", "b2"),
        ("c2", "b3"),
        ("c2", "b4"),
        ("c3", "x"),
        ("c4", "y"),
        ("c4", "z"),
    ]
    df = pl.DataFrame(rows, schema=["conversation_id", "text"], orient="row").with_columns(
        speaker=pl.lit("agent"), note=pl.lit("n")
    )
    df.write_csv(tmp_path / "n.csv")
    df.write_parquet(tmp_path / "n.parquet")
    return {"c1": ["a1", "a2"], "c2": ["b1", "b2", "b3", "b4"], "c3": ["x"], "c4": ["y", "z"]}


def _small_blocks(monkeypatch):
    """Force several read blocks: _BLOCK_ROWS for Parquet, a tiny byte block size for CSV."""
    monkeypatch.setattr(table, "_BLOCK_ROWS", 3)
    real = pacsv.ReadOptions
    monkeypatch.setattr(table.pacsv, "ReadOptions", lambda **kw: real(**{**kw, "block_size": 40}))
    counted = []
    real_blocks = table._blocks

    def blocks(path, fmt, **kwargs):
        for block in real_blocks(path, fmt, **kwargs):
            counted.append(block.height)
            yield block

    monkeypatch.setattr(table, "_blocks", blocks)
    return counted


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_conversation_spanning_blocks_stays_whole(tmp_path, monkeypatch, fmt):
    expected = _nine_rows(tmp_path)
    counted = _small_blocks(monkeypatch)
    batches = list(read_table(tmp_path / f"n.{fmt}", fmt=fmt, columns=TableColumns(), batch_size=1))
    assert len(counted) >= 3 and sum(counted) == 9  # really read in several blocks
    got = {}
    for b in batches:
        assert b.rejects.is_empty()
        assert b.conversations["rec"].to_list() == list(range(b.conversations.height))
        for cid, texts in texts_by_conv(b.conversations, b.turns).items():
            assert cid not in got
            got[cid] = texts
    assert got == expected


def test_table_batches_never_exceed_batch_size(tmp_path, monkeypatch):
    _nine_rows(tmp_path)
    _small_blocks(monkeypatch)
    batches = list(
        read_table(tmp_path / "n.parquet", fmt="parquet", columns=TableColumns(), batch_size=1)
    )
    sizes = [b.conversations.height for b in batches]
    assert sum(sizes) == 4 and max(sizes) <= 1, sizes


def test_parquet_matches_csv(tmp_path):
    frame = pl.read_csv(CSV.encode(), infer_schema=False)
    frame.write_parquet(tmp_path / "t.parquet")
    csv = read_csv_text(tmp_path, CSV)
    pq = read_all(
        read_table(tmp_path / "t.parquet", fmt="parquet", columns=TableColumns(), batch_size=100)
    )
    assert pq[0]["locator"].to_list() == ["rows 1-2", "rows 3-3", "rows 4-6"]
    assert_frame_equal(csv[0].drop("locator"), pq[0].drop("locator"))
    assert_frame_equal(csv[1], pq[1])


def test_csv_with_only_mapped_columns(tmp_path):
    conversations, turns, _ = read_csv_text(
        tmp_path, "conversation_id,speaker,text\nc1,customer,hi\nc1,agent,yo\n"
    )
    assert conversations.select("conversation_id", "metadata").rows() == [("c1", None)]
    assert turns["text"].to_list() == ["hi", "yo"]


def test_csv_empty_cells_are_null(tmp_path):
    text = (
        "conversation_id,speaker,text,ts,event_type,action,queue,note\n"
        "c1,customer,hi,2026-03-01T10:00:00Z,,,,n\n"
        "c1,agent,,,action,refund,billing,n\n"
    )
    conversations, turns, _ = read_csv_text(tmp_path, text)
    assert turns.select("text", "ts", "event_type", "action").rows() == [
        ("hi", "2026-03-01T10:00:00Z", None, None),
        (None, None, "action", "refund"),
    ]
    assert conversations["queue"].to_list() == ["billing"]


def test_csv_locators_are_line_numbers_with_multiline_text(tmp_path):
    text = 'conversation_id,speaker,text,note\nc1,customer,"line one\nline two",n\nc2,agent,hi,n\n'
    conversations, turns, _ = read_csv_text(tmp_path, text)
    assert turns["text"][0] == "line one\nline two"
    assert conversations["locator"].to_list() == ["rows 2-3", "rows 4-4"]


def test_tsv_detected_as_csv_is_readable(tmp_path):
    path = tmp_path / "t.tsv"
    path.write_text("conversation_id\tspeaker\ttext\tnote\nc1\tcustomer\thi\tn\n")
    assert detect_format(path) == "csv"
    conversations, _, _ = read_all(
        read_table(path, fmt="csv", columns=TableColumns(), batch_size=10)
    )
    assert conversations["conversation_id"].to_list() == ["c1"]


def write_table(path, text):
    """Write CSV text as ``path`` (.csv as is; .parquet with blank cells null)."""
    if path.suffix == ".csv":
        path.write_text(text)
    else:
        pl.read_csv(text.encode(), infer_schema=False).write_parquet(path)
    return path


STATUS_CSV = (
    "conversation_id,speaker,text,event_type,action,status\n"
    "c1,customer,charged twice,,,read\n"  # an utterance's status is ignored
    "c1,agent,,action,billing.lookup,ok\n"
    "c1,agent,,action,billing.refund, Failed \n"
    "c1,agent,,action,billing.notify,\n"
)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_status_column_becomes_action_status(tmp_path, fmt):
    result = ingest_file(write_table(tmp_path / f"s.{fmt}", STATUS_CSV), fmt=fmt)
    assert result.quarantine.is_empty()
    assert result.turns["action_status"].to_list() == [None, "ok", "failed", None]
    assert result.conversations["metadata"].to_list() == [None]  # mapped, not an extra


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_bad_status_quarantines_the_conversation(tmp_path, fmt):
    text = (
        "conversation_id,speaker,text,event_type,action,status\n"
        "c1,customer,charged twice,,,\n"
        "c1,agent,,action,billing.lookup,maybe\n"
        "c2,customer,hello,,,\n"
    )
    result = ingest_file(write_table(tmp_path / f"b.{fmt}", text), fmt=fmt)
    locator = "rows 2-3" if fmt == "csv" else "rows 1-2"
    assert result.quarantine.select(
        "source_id", "locator", "field", "reason", "message"
    ).rows() == [
        (
            "src",
            locator,
            "turns[1].status",
            "bad_status",
            'turns[1].status: expected "ok" or "failed", found "maybe"',
        )
    ]
    assert result.conversations["conversation_id"].to_list() == ["c2"]


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_table_without_status_column_gives_unknown_status(tmp_path, fmt):
    text = "conversation_id,speaker,text,event_type,action\nc1,agent,,action,billing.lookup\n"
    result = ingest_file(write_table(tmp_path / f"n.{fmt}", text), fmt=fmt)
    assert result.quarantine.is_empty()
    assert result.turns.select("action_name", "action_status").rows() == [("billing.lookup", None)]


@pytest.mark.parametrize(
    ("status_column", "expected", "metadata"),
    [
        ("result", [None, "failed"], {"status": "closed"}),
        (  # "" = no such column: both stay metadata, per turn as "result" varies
            "",
            [None, None],
            {
                "result": None,
                "status": "closed",
                "turn_fields": [
                    {"result": None, "status": "closed"},
                    {"result": "failed", "status": "closed"},
                ],
            },
        ),
    ],
)
def test_table_status_column_is_renamed_by_config(tmp_path, status_column, expected, metadata):
    text = (
        "conversation_id,speaker,text,event_type,action,result,status\n"
        "c1,customer,hi,,,,closed\n"
        "c1,agent,,action,billing.refund,failed,closed\n"
    )
    result = ingest_file(
        write_table(tmp_path / "r.csv", text),
        fmt="csv",
        table=TableColumns(status=status_column),
    )
    assert result.quarantine.is_empty()
    assert result.turns["action_status"].to_list() == expected
    assert [json.loads(m) for m in result.conversations["metadata"]] == [metadata]


# ---------------------------------------------------------------- STAR

STAR_TURN_EVENTS = {
    ("User", "utter"),
    ("Wizard", "utter"),
    ("Wizard", "pick_suggestion"),
    ("Wizard", "query"),
    ("KnowledgeBase", "return_item"),
}


@pytest.fixture(scope="module")
def star_frames():
    return read_all(read_star(STAR, batch_size=100))  # one batch: rec is the line index


def test_star_every_line_is_a_record_or_a_reject(star_frames):
    conversations, turns, rejects = star_frames
    assert conversations.height + rejects.height == len(STAR_LINES) == 26
    assert conversations["conversation_id"].to_list() == [
        f"star-{d['DialogueID']}" for d in STAR_LINES
    ]
    assert conversations["locator"].to_list() == [f"line {i}" for i in range(1, 27)]
    empty = conversations.filter(pl.col("conversation_id") == "star-45")["rec"][0]
    assert turns.filter(pl.col("rec") == empty).is_empty()  # only a UserGuide instruction


def test_star_bad_lines_are_rejects(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", [STAR_LINES[0], {"DialogueID": 9}, b"{oops"])
    conversations, _, rejects = read_all(read_star(path, batch_size=10))
    assert conversations["conversation_id"].to_list() == ["star-1"]
    assert rejects.select("locator", "field", "reason").rows() == [
        ("line 2", "Events", "bad_type"),
        ("line 3", None, "malformed_json"),
    ]


def test_star_turns_follow_the_event_mapping(star_frames):
    conversations, turns, _ = star_frames
    for rec, dialogue in enumerate(STAR_LINES):
        events = [e for e in dialogue["Events"] if (e["Agent"], e["Action"]) in STAR_TURN_EVENTS]
        mine = turns.filter(pl.col("rec") == rec).sort("turn_idx")
        assert mine.height == len(events)
        for turn, event in zip(mine.iter_rows(named=True), events, strict=True):
            if event["Agent"] == "User":
                assert (turn["speaker"], turn["text"]) == ("customer", event["Text"])
            elif event["Action"] in ("utter", "pick_suggestion"):
                assert (turn["speaker"], turn["text"]) == ("agent", event["Text"])
            elif event["Action"] == "query":
                assert (turn["speaker"], turn["event_type"]) == ("agent", "action")
                assert turn["action"] == f"{event['APIName']}.query"
                assert json.loads(turn["args"]) == {"constraints": event["Constraints"]}
            else:
                assert (turn["speaker"], turn["event_type"]) == ("system", "action")
                assert turn["action"] == f"{event['APIName']}.result"
            unix = event.get("UnixTime")
            assert turn["ts"] == (
                None if unix is None else datetime.fromtimestamp(unix, tz=UTC).isoformat()
            )


def test_star_instructions_and_drafts_are_not_turns(star_frames):
    texts = star_frames[1]["text"].drop_nulls().to_list()
    assert texts
    assert not any("[instruction " in t for t in texts)  # every UserGuide text ends so
    assert not any(t.startswith("In this dialogue, either act confused") for t in texts)
    assert "What is your name? " not in texts  # a request_suggestions draft of line 1


def test_star_conversation_fields(star_frames):
    conversations = star_frames[0]
    first = conversations.row(0, named=True)
    assert first["started_at"] == "2020-05-13T13:14:24+00:00"  # the earliest UnixTime
    assert first["channel"] == "chat"
    assert first["agent_id"] == STAR_LINES[0]["AnonymizedWizardWorkerID"]
    for row, dialogue in zip(conversations.iter_rows(named=True), STAR_LINES, strict=True):
        level = dialogue["CompletionLevel"]
        assert row["outcome"] == ("resolved" if level == "Complete" else "abandoned")
        meta = json.loads(row["metadata"])
        assert meta["completion_level"] == level
        assert meta["happy"] is dialogue["Scenario"]["Happy"]
    assert set(conversations["outcome"]) == {"resolved", "abandoned"}


def _ground_truth():
    labels = {e["ActionLabel"] for d in STAR_LINES for e in d["Events"] if e.get("ActionLabel")}
    tasks = {c["Task"] for d in STAR_LINES for c in d["Scenario"]["WizardCapabilities"]}
    user_tasks = {d["Scenario"]["UserTask"] for d in STAR_LINES}
    return labels, tasks, user_tasks


def test_star_ground_truth_stays_out_of_turns_and_metadata(star_frames):
    conversations, turns, rejects = star_frames
    labels, tasks, user_tasks = _ground_truth()
    assert len(labels) > 10 and tasks
    cells = (
        conversations.drop("raw").cast(pl.String).fill_null("").rows()
        + turns.cast(pl.String).fill_null("").rows()
        + rejects.fill_null("").rows()
    )
    blob = "\n".join("\t".join(row) for row in cells)
    named = {label for label in labels if "_" in label}  # "hello" is a label and a greeting
    for word in ("ActionLabel", "Scenario", "UserTask", "WizardTask", *named, *user_tasks):
        assert word not in blob
    metadata = "\n".join(conversations["metadata"])
    assert not any(task in metadata for task in tasks)
    assert not any(task in text for task in tasks for text in turns["text"].drop_nulls())


def test_star_raw_holds_no_ground_truth(star_frames):
    labels, _, user_tasks = _ground_truth()
    named = {label for label in labels if "_" in label}  # "hello" is a label and a greeting
    for raw in star_frames[0]["raw"]:
        assert "ActionLabel" not in raw and "Scenario" not in raw
        assert not any(t in raw for t in (*named, *user_tasks))


def test_star_labels_point_at_picked_agent_turns():
    n_labels = 0
    for dialogue in STAR_LINES:
        record, labels = dialogue_to_record(dialogue)
        picks = [
            e
            for e in dialogue["Events"]
            if e["Agent"] == "Wizard" and e["Action"] == "pick_suggestion" and e.get("ActionLabel")
        ]
        assert list(labels.values()) == [e["ActionLabel"] for e in picks]
        assert sorted(labels) == list(labels)
        for position, event in zip(labels, picks, strict=True):
            turn = record["turns"][position]
            assert (turn["speaker"], turn["text"]) == ("agent", event["Text"])
        assert "ActionLabel" not in json.dumps(record)
        n_labels += len(labels)
    assert n_labels > 50


def kb_result(item=None, total=-1):
    """A STAR KnowledgeBase result event (no ``Item`` when ``item`` is None)."""
    event = {"Agent": "KnowledgeBase", "Action": "return_item", "APIName": "bank_fraud_report"}
    return event | ({"TotalItems": 0} if item is None else {"Item": item, "TotalItems": total})


REFUSED = (
    "You must provide either AccountNumber/FullName/PIN or FullName/DateOfBirth/SecurityAnswer"
)


@pytest.mark.parametrize(
    ("event", "kind", "status"),
    [
        (kb_result(), "empty", "failed"),  # nothing found for a search
        (kb_result({"Name": "x"}, total=0), "empty", "failed"),
        (kb_result({"Message": REFUSED}), "error", "failed"),  # authentication refused
        (kb_result({"Message": "Reservation Failed"}), "error", "failed"),
        (kb_result({"RequestStatus": "Request Failed"}), "error", "failed"),
        (kb_result({"ChangeStatus": "We are unable to change your trip."}), "error", "failed"),
        # the call worked; the flowchart has a branch for what it found
        (kb_result({"Message": "Unavailable"}), "unavailable", "ok"),
        (kb_result({"Message": "The doctor has a conflicting appointment at that time."}),
         "unavailable", "ok"),
        (kb_result({"Message": "The venue is too small for your party. Try another venue."}),
         "unavailable", "ok"),
        (kb_result({"Message": "The venue is booked at that time. Try another meeting time."}),
         "unavailable", "ok"),
        (kb_result({"Confirmation": "Fraud report submitted successfully."}), "success", "ok"),
        (kb_result({"Message": "Available"}), "success", "ok"),
        (kb_result({"Name": "Hotel Ritz", "Price": 120}, total=3), "success", "ok"),  # a search
        # the first status key counts: Message before RequestStatus
        (kb_result({"Message": "Request received", "RequestStatus": "Request Failed"}),
         "success", "ok"),
    ],
)  # fmt: skip
def test_star_a_knowledge_base_result_says_whether_the_call_failed(event, kind, status):
    assert result_kind(event) == kind
    record, _ = dialogue_to_record({"DialogueID": 7, "Events": [event]})
    (turn,) = record["turns"]
    assert (turn["action"], turn["status"]) == ("bank_fraud_report.result", status)


def test_star_only_knowledge_base_results_carry_a_status():
    query = {"Agent": "Wizard", "Action": "query", "APIName": "bank_fraud_report",
             "Constraints": [{"FullName": "x"}]}  # fmt: skip
    user = {"Agent": "User", "Action": "utter", "Text": "hi"}
    record, _ = dialogue_to_record({"DialogueID": 7, "Events": [user, query, kb_result()]})
    assert [turn.get("status") for turn in record["turns"]] == [None, None, "failed"]


def test_star_the_content_hash_covers_the_result_status(tmp_path):
    dialogue = {"DialogueID": 7, "Events": [kb_result({"Message": "Reservation Failed"})]}
    path = write_lines(tmp_path / "s.jsonl", [dialogue])
    conversations, _, _ = read_all(read_star(path, batch_size=10))
    record, _ = dialogue_to_record(dialogue)
    assert conversations["content_hash"][0] == canonical_hash(record)
    record["turns"][0]["status"] = "ok"
    assert canonical_hash(record) != conversations["content_hash"][0]


def test_star_excerpt_statuses_follow_result_kind():
    kinds = [
        result_kind(e) for d in STAR_LINES for e in d["Events"] if e["Agent"] == "KnowledgeBase"
    ]
    statuses = [
        t["status"]
        for d in STAR_LINES
        for t in dialogue_to_record(d)[0]["turns"]
        if t.get("status")
    ]
    assert statuses == ["failed" if k in ("empty", "error") else "ok" for k in kinds]
    assert "failed" in statuses and "ok" in statuses


# ---------------------------------------------------------------- ABCD


def test_abcd_sample_conversations_and_actions():
    batches = list(read_abcd(ABCD, batch_size=2))
    assert [b.conversations.height for b in batches] == [2, 1]
    conversations, turns, rejects = read_all(batches[:1])
    assert conversations.select("conversation_id", "locator").rows() == [
        ("abcd-3592", "item 0"),
        ("abcd-9489", "item 1"),
    ]
    assert batches[1].conversations.row(0)[:3] == (0, "item 2", "abcd-3695")
    assert rejects.is_empty()
    assert turns.height == sum(len(item["original"]) for item in ABCD_ITEMS[:2])
    assert set(turns["speaker"]) == {"agent", "customer"}
    first = turns.filter(pl.col("rec") == 0, pl.col("event_type") == "action")
    assert first["action"].to_list() == [
        "pull-up-account",
        "validate-purchase",
        "enter-details",
        "notify-team",
    ]
    assert json.loads(first["args"][0]) == {"values": ["crystal minh"]}
    assert first["text"][0] == "Account has been pulled up for Crystal Minh."
    assert set(first["speaker"]) == {"agent"}


def test_abcd_scenario_is_not_stored():
    conversations, _, _ = read_all(read_abcd(ABCD, batch_size=10))
    for row, item in zip(conversations.iter_rows(named=True), ABCD_ITEMS, strict=True):
        assert json.loads(row["metadata"]) == {"dataset": "abcd"}
        assert set(json.loads(row["raw"])) == {"convo_id", "original"}
        scenario = item["scenario"]
        secrets = [
            *scenario["personal"].values(),
            *scenario["order"].values(),
            scenario["flow"],
            scenario["subflow"],
        ]
        spoken = " ".join(text for _, text in item["original"]).lower()
        unspoken = [v for v in map(str, secrets) if v.lower() not in spoken]
        assert len(unspoken) >= 5  # what the customer typed is transcript text, kept in raw
        for value in map(str, secrets):
            assert value not in row["metadata"]
        for value in unspoken:
            assert value.lower() not in row["raw"].lower(), value


def test_abcd_split_document_and_bad_items(tmp_path):
    path = write_lines(
        tmp_path / "splits.json",
        [{"train": ABCD_ITEMS[:2], "dev": [ABCD_ITEMS[2], {"convo_id": 7}]}],
    )
    conversations, _, rejects = read_all(read_abcd(path, batch_size=10))
    assert conversations["locator"].to_list() == ["train[0]", "train[1]", "dev[0]"]
    assert rejects.select("locator", "reason").rows() == [("dev[1]", "bad_type")]


def test_abcd_non_json_file_is_an_input_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("conversation_id,speaker\nc1,agent\n")
    with pytest.raises(InputError, match="not valid JSON"):
        list(read_abcd(path, batch_size=10))


# ---------------------------------------------------------------- Banking77


def b77_ingest(path, **config) -> IngestBatch:
    """Read, validate and redact a Banking77 file as ingest does (quarantine included)."""
    return ingest_file(path, fmt="banking77", **config)


def test_banking77_rows_become_one_turn_customer_chats():
    batches = list(read_banking77(BANKING77, batch_size=10))
    assert [b.conversations.height for b in batches] == [10, 10, 10, 2]
    conversations, turns, rejects = read_all(batches)
    assert len(BANKING77_ROWS) == 32 and rejects.is_empty()
    n = len(BANKING77_ROWS)
    assert conversations["conversation_id"].to_list() == [
        f"b77-banking77_excerpt-{i}" for i in range(1, n + 1)
    ]
    assert conversations["locator"].to_list() == [f"row {i}" for i in range(1, n + 1)]
    assert set(conversations["channel"]) == {"chat"}
    assert set(conversations["metadata"]) == {'{"dataset":"banking77"}'}
    for name in ("agent_id", "customer_id", "started_at", "ended_at", "outcome"):
        assert conversations[name].null_count() == n
    assert turns.select("turn_idx", "speaker").unique().rows() == [(0, "customer")]
    assert turns["ts"].null_count() == n
    assert turns["text"].to_list() == [text for text, _ in BANKING77_ROWS]
    assert turns["text"][6] == "\nWhere can I get my PIN unblocked?"  # a quoted newline
    assert conversations["content_hash"].is_unique().all()


def test_banking77_category_is_ground_truth_and_stays_out():
    conversations, turns, _ = read_all(read_banking77(BANKING77, batch_size=100))
    categories = {category for _, category in BANKING77_ROWS}
    assert len(categories) == 32 and all("_" in c for c in categories)
    cells = (
        conversations.cast(pl.String).fill_null("").rows()
        + turns.cast(pl.String).fill_null("").rows()
    )
    blob = "\n".join("\t".join(row) for row in cells)
    assert not any(category in blob for category in categories)


def test_banking77_ids_follow_the_file_stem_and_ignore_gzip(tmp_path):
    train = tmp_path / "train.csv"
    train.write_bytes(BANKING77.read_bytes())
    packed = tmp_path / "test.csv.gz"
    packed.write_bytes(gzip.compress(BANKING77.read_bytes()))
    plain_conv, plain_turns, _ = read_all(read_banking77(train, batch_size=100))
    gzip_conv, gzip_turns, _ = read_all(read_banking77(packed, batch_size=100))
    assert plain_conv["conversation_id"][:2].to_list() == ["b77-train-1", "b77-train-2"]
    assert gzip_conv["conversation_id"][:2].to_list() == ["b77-test-1", "b77-test-2"]
    assert_frame_equal(plain_turns, gzip_turns)


def test_banking77_bad_rows_are_quarantined_with_their_row_and_field(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(
        b"text,category\r\n"
        b"How do I locate my card?,card_arrival\r\n"  # row 1
        b",card_arrival\r\n"  # row 2: empty text
        b"   ,card_arrival\r\n"  # row 3: blank text
        b"where is my card\r\n"  # row 4: no category column
        b"\r\n"  # blank line: not a row
        b"my card, it never came,card_arrival\r\n"  # row 5: unquoted comma
        b"caf\xe9 charged twice,card_payment_fee_charged\r\n"  # row 6: not UTF-8
        b'"two\nlines",pin_blocked\r\n'  # row 7
        b"no label yet,\r\n"  # row 8: empty category; ingest does not read it
    )
    result = b77_ingest(path)
    assert result.conversations["conversation_id"].to_list() == [
        "b77-test-1",
        "b77-test-7",
        "b77-test-8",
    ]
    assert result.turns["text"].to_list() == [
        "How do I locate my card?",
        "two\nlines",
        "no label yet",
    ]
    got = result.quarantine.select("locator", "conversation_id", "field", "reason").rows()
    assert got == [
        ("row 2", "b77-test-2", "turns[0].text", "missing_text"),
        ("row 3", "b77-test-3", "turns[0].text", "missing_text"),
        ("row 4", "b77-test-4", "category", "bad_type"),
        ("row 5", "b77-test-5", None, "bad_type"),
        ("row 6", "b77-test-6", "text", "bad_encoding"),
    ]
    messages = dict(result.quarantine.select("locator", "message").rows())
    assert messages["row 4"] == (
        "category: missing; a Banking77 row has 2 columns (text,category), found 1"
    )
    assert "found 3; quote a text that holds a comma" in messages["row 5"]
    assert messages["row 6"].startswith("text: not valid UTF-8 at character 3")
    raws = dict(result.quarantine.select("locator", "raw").rows())
    assert json.loads(raws["row 5"]) == ["my card", "card_arrival"]  # column 2 is never kept
    assert json.loads(raws["row 6"]) == ["caf? charged twice"]


def test_banking77_truncated_gzip_keeps_the_rows_before_the_cut(tmp_path):
    packed = gzip.compress(BANKING77.read_bytes())
    path = tmp_path / "test.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    conversations, _, rejects = read_all(read_banking77(path, batch_size=100))
    assert 0 < conversations.height < 32
    assert rejects.select("locator", "conversation_id", "reason").rows() == [
        (f"row {conversations.height + 1}", None, "truncated_gzip")
    ]


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"conversation_id,speaker,text\nc1,agent,hi\n", "found 'conversation_id,speaker,text'"),
        (b"", "found no header line"),
    ],
)
def test_banking77_needs_its_header(tmp_path, content, found):
    path = tmp_path / "x.csv"
    path.write_bytes(content)
    with pytest.raises(
        InputError, match=f"x.csv: expected a Banking77 CSV with header 'text,category', {found}"
    ):
        list(read_banking77(path, batch_size=10))


def test_banking77_header_may_carry_a_byte_order_mark(tmp_path):
    path = tmp_path / "test.csv"
    path.write_bytes(b"\xef\xbb\xbf" + BANKING77.read_bytes())
    assert detect_format(path) == "banking77"
    conversations, _, rejects = read_all(read_banking77(path, batch_size=100))
    assert (conversations.height, rejects.height) == (32, 0)


# ---------------------------------------------------------------- MultiDoGO

MDG_HEADER = b"conversationId\tturnNumber\tutteranceId\tutterance\tslot-labels\tintent\n"


def mdg_row(cid: str, turn: str, text: str | bytes, intent: str = "contentonly") -> bytes:
    """One MultiDoGO row (text may be bytes, so a test can put bad UTF-8 in it)."""
    head = f"{cid}\t{turn}\t<CONV>{cid}<TURN>{turn}\t".encode()
    body = text if isinstance(text, bytes) else text.encode()
    return head + body + f"\tO\t{intent}\n".encode()


def test_multidogo_rows_become_customer_only_chats_in_turn_order():
    batches = list(read_multidogo(MULTIDOGO, batch_size=3))
    assert [(b.conversations.height, b.rejects.height) for b in batches] == [(3, 0), (1, 0)]
    conversations, turns, _ = read_all(read_multidogo(MULTIDOGO, batch_size=100))
    assert conversations.select("conversation_id", "locator").rows() == [
        ("mdg-conv-book", "rows 1-4"),
        ("mdg-conv-order", "rows 5-7"),
        ("mdg-conv-chat", "rows 8-10"),
        ("mdg-conv-claim", "rows 11-13"),
    ]
    assert set(conversations["channel"]) == {"chat"}
    assert set(conversations["metadata"]) == {'{"dataset":"multidogo"}'}
    for name in ("agent_id", "customer_id", "started_at", "ended_at", "outcome"):
        assert conversations[name].null_count() == 4
    assert set(turns["speaker"]) == {"customer"} and turns["ts"].null_count() == 13
    assert texts_by_conv(conversations, turns) == {
        "mdg-conv-book": [
            "hi good morning",
            "i want to book a flight to chennai",
            "viswa",
            "ok thank you",
        ],
        "mdg-conv-order": ["hello", "one large pepperoni pizza \n and a coke", "no thats all"],
        "mdg-conv-chat": ["hello", "is it raining there", "bye"],
        "mdg-conv-claim": [
            "yes policy 4471",
            'yes, where is my claim for the "broken phone"',  # quotes doubled in the file
            "thanks",
        ],
    }
    assert turns.filter(pl.col("rec") == 0)["turn_idx"].to_list() == [0, 1, 2, 3]


def test_multidogo_slot_labels_and_intents_are_ground_truth_and_stay_out():
    conversations, turns, _ = read_all(read_multidogo(MULTIDOGO, batch_size=100))
    truth = {
        value
        for row in MULTIDOGO_ROWS
        for value in (*row[4].split(), *row[5].split("<div>"))
        if value != "O"
    }
    assert {"arrival_city", "policy_number", "bookflight", "checkclaimstatus"} <= truth
    cells = (
        conversations.cast(pl.String).fill_null("").rows()
        + turns.cast(pl.String).fill_null("").rows()
    )
    blob = "\n".join("\t".join(row) for row in cells)
    assert "<div>" not in blob and not [value for value in truth if value in blob]


def test_multidogo_turns_follow_turn_numbers_and_gzip_reads_the_same(tmp_path):
    rows = [mdg_row("c1", "4", "third"), mdg_row("c1", "0", "first"), mdg_row("c1", "2", "second")]
    plain = tmp_path / "dev.tsv"
    plain.write_bytes(MDG_HEADER + b"".join(rows))
    packed = tmp_path / "dev.tsv.gz"
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    plain_conv, plain_turns, _ = read_all(read_multidogo(plain, batch_size=10))
    gzip_conv, gzip_turns, _ = read_all(read_multidogo(packed, batch_size=10))
    assert texts_by_conv(plain_conv, plain_turns) == {"mdg-c1": ["first", "second", "third"]}
    assert_frame_equal(plain_conv, gzip_conv)
    assert_frame_equal(plain_turns, gzip_turns)


def test_multidogo_bad_rows_quarantine_their_whole_conversation(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(
        MDG_HEADER
        + mdg_row("a", "0", "hi there", "openinggreeting")  # row 1
        + mdg_row("a", "1", "my phone is broken", "reportbrokenphone")  # row 2
        + mdg_row("b", "0", "hello")  # row 3
        + mdg_row("b", "two", "claim status please")  # row 4: not an integer
        + b"c\t0\t<CONV>c<TURN>0\tproof of insurance please\tO O O O\n"  # row 5: no intent
        + mdg_row("d", "0", b"caf\xe9 order", "orderdrinkintent")  # row 6: not UTF-8
        + b"e\t0\t<CONV>e<TURN>0\tone\ttab too many\tO\tthankyou\n"  # row 7: 7 columns
        + mdg_row("a", "2", "thanks", "thankyou")  # row 8: a again, after other rows
        + b"\n"  # blank line: not a row
        + mdg_row("f", "0", "")  # row 9: empty utterance
        + b'f\t1\t<CONV>f<TURN>1\t"two\nlines"\tO\tconfirmation\n'  # row 10
        + mdg_row("", "0", "no id")  # row 11
        + mdg_row("g", "1", "second", "confirmation")  # row 12
        + mdg_row("g", "0", "first", "openinggreeting")  # row 13
    )
    result = ingest_file(path, fmt="multidogo")
    assert result.conversations.select("conversation_id", "locator").rows() == [
        ("mdg-a", "rows 1-2"),
        ("mdg-g", "rows 12-13"),
    ]
    assert result.turns.select("conversation_id", "turn_idx", "text").rows() == [
        ("mdg-a", 0, "hi there"),
        ("mdg-a", 1, "my phone is broken"),
        ("mdg-g", 0, "first"),
        ("mdg-g", 1, "second"),
    ]
    got = result.quarantine.select("locator", "conversation_id", "field", "reason", "message")
    assert sorted(got.rows(), key=lambda row: int(row[0].split()[-1].split("-")[0])) == [
        (
            "rows 3-4",
            "mdg-b",
            "turnNumber",
            "bad_type",
            "turnNumber: expected an integer, found 'two' (row 4)",
        ),
        (
            "row 5",
            "mdg-c",
            "intent",
            "bad_type",
            "intent: missing; a MultiDoGO row has 6 columns (conversationId, turnNumber, "
            "utteranceId, utterance, slot-labels, intent), found 5 (row 5)",
        ),
        (
            "row 6",
            "mdg-d",
            "utterance",
            "bad_encoding",
            "utterance: not valid UTF-8 at character 3; re-export the file as UTF-8 (row 6)",
        ),
        (
            "row 7",
            "mdg-e",
            None,
            "bad_type",
            "a MultiDoGO row has 6 columns (conversationId, turnNumber, utteranceId, "
            "utterance, slot-labels, intent), found 7; quote an utterance that holds a tab "
            "(row 7)",
        ),
        (
            "row 8",
            "mdg-a",
            "conversationId",
            "duplicate_id",
            "conversationId: mdg-a appears again after other conversations' rows; sort the "
            "file by conversation so each conversation's rows are together",
        ),
        (
            "rows 9-10",
            "mdg-f",
            "turns[0].text",
            "missing_text",
            "turns[0].text: missing or empty; an utterance needs text (an action event needs "
            "action)",
        ),
        (
            "row 11",
            None,
            "conversationId",
            "missing_id",
            "conversationId: missing; every row must name its conversation (row 11)",
        ),
    ]
    raws = dict(result.quarantine.select("locator", "raw").rows())
    assert json.loads(raws["rows 3-4"]) == [
        ["b", "0", "<CONV>b<TURN>0", "hello"],
        ["b", "two", "<CONV>b<TURN>two", "claim status please"],
    ]
    assert json.loads(raws["row 5"]) == [["c", "0", "<CONV>c<TURN>0"]]  # may end in labels
    assert json.loads(raws["row 6"]) == [["d", "0", "<CONV>d<TURN>0", "caf? order"]]
    assert json.loads(raws["row 7"]) == [["e", "0", "<CONV>e<TURN>0", "one"]]
    assert "thankyou" not in raws["row 8"] and "contentonly" not in raws["row 11"]


def test_multidogo_problems_of_several_rows_are_counted(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(
        MDG_HEADER + mdg_row("a", "x", "hi") + mdg_row("a", "1", "ok") + mdg_row("a", "y", "no")
    )
    _, _, rejects = read_all(read_multidogo(path, batch_size=10))
    assert rejects.select("locator", "field", "message").rows() == [
        (
            "rows 1-3",
            "turnNumber",
            "expected an integer, found 'x' (row 1; 1 more rows with problems)",
        )
    ]


def test_multidogo_conversation_repeated_in_a_later_batch_is_a_duplicate(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_bytes(
        MDG_HEADER + mdg_row("a", "0", "hi") + mdg_row("b", "0", "yo") + mdg_row("a", "1", "ok")
    )
    batches = list(read_multidogo(path, batch_size=1))
    assert [(b.conversations.height, b.rejects.height) for b in batches] == [(1, 0), (1, 0), (0, 1)]
    result = ingest_file(path, fmt="multidogo", batch_size=1)
    assert result.conversations["conversation_id"].to_list() == ["mdg-a", "mdg-b"]
    assert result.quarantine.select("locator", "reason").rows() == [("row 3", "duplicate_id")]


def test_multidogo_truncated_gzip_quarantines_the_conversation_it_cuts(tmp_path):
    packed = gzip.compress(MULTIDOGO.read_bytes())
    path = tmp_path / "dev.tsv.gz"
    path.write_bytes(packed[: len(packed) * 2 // 3])
    conversations, _, rejects = read_all(read_multidogo(path, batch_size=100))
    first_rows = {"mdg-conv-book": 1, "mdg-conv-order": 5, "mdg-conv-chat": 8, "mdg-conv-claim": 11}
    loaded = conversations["conversation_id"].to_list()
    assert 0 < len(loaded) < 4 and loaded == list(first_rows)[: len(loaded)]
    cut = list(first_rows)[len(loaded)]  # the conversation being read: may miss turns
    assert rejects.select("conversation_id", "reason").rows() == [(cut, "truncated_gzip")]
    assert rejects["locator"][0].startswith(f"rows {first_rows[cut]}-")
    assert "re-copy the file" in rejects["message"][0]


@pytest.mark.parametrize(
    ("content", "found"),
    [
        (b"conversation_id\tspeaker\ttext\nc1\tagent\thi\n", "found 'conversation_id\\tspeaker"),
        (MDG_HEADER.replace(b"\tintent", b"\tsentenceNumber\tintent"), "found 'conversationId"),
        (b"", "found no header line"),
    ],
)
def test_multidogo_needs_its_header(tmp_path, content, found):
    path = tmp_path / "x.tsv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"x.tsv: expected a MultiDoGO TSV") as exc:
        list(read_multidogo(path, batch_size=10))
    assert found in str(exc.value)


@pytest.mark.shared_data
def test_multidogo_dev_splits_load_whole_but_two_conversations_with_an_empty_turn():
    counts = {}
    for domain in ("airline", "fastfood", "insurance"):
        result = ingest_file(SHARED_DATA / "multidogo" / domain / "dev.tsv", fmt="auto")
        counts[domain] = (
            result.conversations.height,
            result.turns.height,
            result.quarantine.select("reason").to_series().to_list(),
        )
        assert set(result.turns["speaker"]) == {"customer"}
    assert counts == {
        "airline": (240, 1966, []),
        "fastfood": (222, 1922, ["missing_text"]),
        "insurance": (231, 1967, ["missing_text"]),
    }


# ---------------------------------------------------------------- detection and listing


def _write_input(path, kind):
    if kind == "parquet":
        pl.read_csv(CSV.encode()).write_parquet(path)
        return path
    data = {
        "canonical": b'{"conversation_id": "c1", "turns": []}\n',
        "csv": CSV.encode(),
        "star": STAR.read_bytes(),
        "abcd": ABCD.read_bytes(),
        "banking77": BANKING77.read_bytes(),
        "text_category_extra": b"text,category,extra\nhi,card_arrival,x\n",
        "multidogo": MULTIDOGO.read_bytes(),
        "multidogo_bom": b"\xef\xbb\xbf" + MULTIDOGO.read_bytes(),
        "multidogo_extra": MULTIDOGO.read_bytes().replace(b"intent\n", b"intent\tnote\n", 1),
    }[kind]
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("a.jsonl", "canonical", "jsonl"),
        ("a.jsonl.gz", "canonical", "jsonl"),
        ("dialogues.jsonl", "star", "star"),
        ("abcd.json", "abcd", "abcd"),
        ("t.csv", "csv", "csv"),
        ("t.csv.gz", "csv", "csv"),
        ("t.parquet", "parquet", "parquet"),
        ("test.csv", "banking77", "banking77"),
        ("train.CSV.gz", "banking77", "banking77"),
        ("t.csv", "text_category_extra", "csv"),
        ("t.tsv", "banking77", "csv"),
        ("dev.tsv", "multidogo", "multidogo"),
        ("dev.TSV.gz", "multidogo", "multidogo"),
        ("dev.tsv", "multidogo_bom", "multidogo"),
        ("dev.tsv", "multidogo_extra", "csv"),
        ("dev.csv", "multidogo", "csv"),
        ("t.tsv", "csv", "csv"),
    ],
)
def test_detect_format(tmp_path, name, kind, expected):
    assert detect_format(_write_input(tmp_path / name, kind)) == expected


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


def test_a_boolean_where_a_string_belongs_is_a_type_problem(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [conv("c1", "hi", outcome=True)])
    conversations, _, _ = read_all(read_jsonl(path, batch_size=10))
    row = conversations.row(0, named=True)
    assert (row["outcome"], row["problem_field"], row["problem_reason"]) == (
        None,
        "outcome",
        "bad_type",
    )


def test_rejects_count_toward_the_batch_bound(tmp_path):
    path = write_lines(tmp_path / "a.jsonl", [b"{broken"] * 5)
    batches = list(read_jsonl(path, batch_size=2))
    assert [b.rejects.height for b in batches] == [2, 2, 1]


def test_table_extras_that_vary_by_row_are_kept_per_turn(tmp_path):
    path = tmp_path / "v.csv"
    path.write_text(
        "conversation_id,speaker,text,sentiment\n"
        "c1,customer,hi,neg\nc1,agent,hello,pos\nc2,agent,yo,neu\n"
    )
    conversations, _, _ = read_all(
        read_table(path, fmt="csv", columns=TableColumns(), batch_size=10)
    )
    meta = [orjson.loads(m) for m in conversations["metadata"]]
    assert meta == [
        {"sentiment": "neg", "turn_fields": [{"sentiment": "neg"}, {"sentiment": "pos"}]},
        {"sentiment": "neu"},
    ]


def test_ingest_accepts_format_banking77(capsys):
    # A missing path fails before anything runs (exit 1); an unknown format is bad usage.
    assert main(["ingest", "--format", "banking77", "no-such.csv"]) == EXIT_ERROR
    assert "no-such.csv: no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["ingest", "--format", "banking78", "no-such.csv"])
    assert exc.value.code == EXIT_USAGE


def test_ingest_accepts_format_multidogo(capsys):
    assert main(["ingest", "--format", "multidogo", "no-such.tsv"]) == EXIT_ERROR
    assert "no-such.tsv: no such file or folder" in capsys.readouterr().err
