"""MultiDoGO turn-level TSV (``pipeline.ingest.adapters.multidogo``)."""

import gzip
import json

import polars as pl
import pytest
from conftest import SHARED_DATA
from ingest.adapters_cases import (
    MULTIDOGO,
    MULTIDOGO_ROWS,
    ingest_file,
    read_all,
    texts_by_conv,
)
from polars.testing import assert_frame_equal

from pipeline.cli.main import EXIT_ERROR, main
from pipeline.errors import InputError
from pipeline.ingest.adapters.multidogo import read_multidogo

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


def test_ingest_accepts_format_multidogo(capsys):
    assert main(["ingest", "--format", "multidogo", "no-such.tsv"]) == EXIT_ERROR
    assert "no-such.tsv: no such file or folder" in capsys.readouterr().err
