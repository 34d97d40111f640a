"""Banking77 queries (``pipeline.ingest.adapters.banking77``)."""

import gzip
import json

import polars as pl
import pytest
from ingest.adapters_cases import BANKING77, BANKING77_ROWS, ingest_file, read_all
from polars.testing import assert_frame_equal

from pipeline.cli.main import EXIT_ERROR, EXIT_USAGE, main
from pipeline.errors import InputError
from pipeline.ingest import IngestBatch, detect_format
from pipeline.ingest.adapters.banking77 import read_banking77


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


def test_ingest_accepts_format_banking77(capsys):
    # A missing path fails before anything runs (exit 1); an unknown format is bad usage.
    assert main(["ingest", "--format", "banking77", "no-such.csv"]) == EXIT_ERROR
    assert "no-such.csv: no such file or folder" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["ingest", "--format", "banking78", "no-such.csv"])
    assert exc.value.code == EXIT_USAGE
