"""The redaction section: labelled personal-data tokens the stored text no longer holds."""

import polars as pl
import pytest

from pipeline.cli.main import EXIT_OK, main
from pipeline.evaluate.redaction import count_removed, score_redaction, surviving
from pipeline.evaluate.scores import evaluate
from pipeline.evaluate.sections import Absent, Table

MDG_HEADER = "conversationId\tturnNumber\tutteranceId\tutterance\tslot-labels\tintent\n"


@pytest.mark.parametrize(
    ("before", "after", "kept"),
    [
        ("my ssn is 4410", "my ssn is 4410", [True, True, True, True]),
        ("my ssn is 4410", "my ssn is <SSN>", [True, True, True, False]),
        ("mail raj@x.com now", "mail <EMAIL> now", [True, False, True]),
        ("call 555 123 4567 please", "call <PHONE> please", [True, False, False, False, True]),
        ("raj prasad here", "<NAME> prasad here", [False, True, True]),  # a part left: kept
        ("id 4410.", "id <ID>.", [True, False]),  # partly replaced: gone
    ],
)
def test_a_token_survives_only_when_the_stored_text_still_holds_it(before, after, kept):
    assert surviving(before.split(" "), after.split(" ")) == kept


def test_counts_are_per_type_over_all_turns():
    total, removed = count_removed(
        ["raj prasad", "ssn 4410 ok"], ["name name", "O ssn -"], ["<NAME>", "ssn 4410 ok"]
    )
    assert (dict(total), dict(removed)) == (
        {"name": 2, "O": 1, "ssn": 1, "-": 1},
        {"name": 2, "O": 0, "ssn": 0, "-": 0},
    )


def labels(turn_pii):
    return pl.DataFrame(
        {"conversation_id": ["c1"], "turn_pii": [turn_pii]},
        schema={"conversation_id": pl.String, "turn_pii": pl.List(pl.Struct(
            {"turn_idx": pl.Int32, "text": pl.String, "types": pl.String}))},
    )  # fmt: skip


TURN_PII = [
    {"turn_idx": 0, "text": "my name is raj", "types": "O O O name"},
    {"turn_idx": 1, "text": "ssn 4410", "types": "O ssn"},
    {"turn_idx": 5, "text": "not stored", "types": "O O"},  # no such turn: not scored
]


def test_recall_per_type_and_o_kept_on_the_stored_turns():
    turns = pl.DataFrame(
        {"conversation_id": ["c1", "c1"], "turn_idx": [0, 1],
         "text": ["my name is <NAME>", "ssn 4410"]}
    )  # fmt: skip
    before = turns.clone()
    result = score_redaction(Table(turns, None), labels(TURN_PII))
    assert result == {
        "n_turns": 2,
        "n_o": 4,
        "o_kept": 1.0,
        "recall_name": 1.0,
        "recall_ssn": 0.0,
        "recall": {"name": {"n": 1, "recall": 1.0}, "ssn": {"n": 1, "recall": 0.0}},
    }
    assert turns.equals(before)


def test_without_turn_pii_or_matching_turns_the_section_is_absent():
    turns = Table(pl.DataFrame({"conversation_id": ["c9"], "turn_idx": [0], "text": ["hi"]}), None)
    with pytest.raises(Absent, match="carry no turn_pii"):
        score_redaction(turns, labels(None))
    with pytest.raises(Absent, match="no labelled turn in turns"):
        score_redaction(turns, labels(TURN_PII))


@pytest.mark.usefixtures("prefect_harness")
def test_evaluate_scores_what_ingest_stored(tmp_path):
    """End to end: a MultiDoGO file ingested, labelled and scored; exact from the rules."""
    rows = [
        ("0", "i need my claim status", "O O O O O"),
        ("1", "raj prasad", "name name"),  # a short answer of name-like words
        ("2", "mail me at raj@example.com", "O O O email_address"),  # an e-mail shape
        ("3", "ssn 4410", "O ssn"),  # four digits after "ssn"
    ]
    data = tmp_path / "dev.tsv"
    lines = (f"c1\t{t}\t<CONV>c1<TURN>{t}\t{u}\t{s}\tcheckclaimstatus\n" for t, u, s in rows)
    data.write_text(MDG_HEADER + "".join(lines))
    db, out = tmp_path / "cx.duckdb", tmp_path / "labels.jsonl"
    assert main(["labels", "--format", "multidogo", str(data), "-o", str(out)]) == EXIT_OK
    assert main(["ingest", str(data), "--db", str(db)]) == EXIT_OK
    section = evaluate(db, out)["redaction"]
    assert section["status"] == "ok" and section["n_turns"] == 4
    assert (section["recall_email"], section["recall_name"], section["recall_ssn"]) == (1, 1, 1)
    assert section["o_kept"] == 1.0 and section["n_o"] == 9
