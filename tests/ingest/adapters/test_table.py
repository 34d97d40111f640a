"""CSV and Parquet turn-per-row exports (``pipeline.ingest.adapters.table``)."""

import gzip
import json

import orjson
import polars as pl
import pyarrow.csv as pacsv
import pytest
from ingest.adapters_cases import ingest_file, read_all, texts_by_conv
from polars.testing import assert_frame_equal

from pipeline.config import TableColumns
from pipeline.errors import InputError
from pipeline.ingest import detect_format
from pipeline.ingest.adapters import table
from pipeline.ingest.adapters.table import read_table

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
