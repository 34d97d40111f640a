"""Label rows of public datasets (``pipeline.evaluate.datasets``)."""

import orjson
import polars as pl
import pytest
from conftest import SHARED_DATA
from ingest.adapters_cases import ABCD, ABCD_ITEMS, BANKING77, BANKING77_ROWS, MULTIDOGO, STAR
from ingest.adapters_cases import STAR_LINES as STAR_DIALOGUES

from pipeline.cli.main import EXIT_OK, main
from pipeline.config import IngestConfig
from pipeline.errors import LabelsError
from pipeline.evaluate.datasets import (
    abcd_labels,
    banking77_labels,
    labels_from_format,
    multidogo_labels,
    multidogo_turn_pii,
    star_labels,
)
from pipeline.evaluate.truth import read_labels
from pipeline.ingest import read_source
from pipeline.ingest.adapters.abcd import conversation_to_record
from pipeline.ingest.adapters.banking77 import read_banking77
from pipeline.ingest.adapters.multidogo import read_multidogo
from pipeline.ingest.adapters.star import dialogue_to_record


def test_star_labels_give_every_dialogue_a_row_with_its_task():
    rows = list(star_labels(STAR))
    assert len(rows) == len(STAR_DIALOGUES) == 26
    assert [r["conversation_id"] for r in rows] == [
        f"star-{d['DialogueID']}" for d in STAR_DIALOGUES
    ]
    assert [r["intent"] for r in rows] == [
        d["Scenario"]["WizardCapabilities"][0]["Task"] for d in STAR_DIALOGUES
    ]
    assert rows[0] == {
        "conversation_id": "star-1",
        "intent": "doctor_followup",
        "steps": ["ask_name", "doctor_inform_doctors_instructions", "goodbye_1"],
        "turn_steps": {
            "1": "ask_name",
            "5": "doctor_inform_doctors_instructions",
            "9": "goodbye_1",
        },
        "outcome": "resolved",  # CompletionLevel Complete
        "happy_path": True,  # Scenario.Happy
    }
    outcomes = {
        d["CompletionLevel"]: r["outcome"] for d, r in zip(STAR_DIALOGUES, rows, strict=True)
    }
    assert outcomes == {
        "Complete": "resolved",
        "EarlyDisconnectDuringDialogue": "abandoned",
        "DisconnectDuringDialogue": "abandoned",
    }
    # dialogues 33 and 45 have no picked suggestion (45 has no turns at all)
    empty = {r["conversation_id"]: r for r in rows if not r["steps"]}
    assert set(empty) == {"star-33", "star-45"}
    assert all(r["turn_steps"] == {} for r in empty.values())


@pytest.mark.parametrize("index", range(26))
def test_star_steps_are_the_picked_action_labels_and_point_at_their_turns(index):
    dialogue = STAR_DIALOGUES[index]
    row = list(star_labels(STAR))[index]
    picks = [
        e
        for e in dialogue["Events"]
        if e.get("Agent") == "Wizard" and e.get("Action") == "pick_suggestion"
    ]
    assert row["steps"] == [e["ActionLabel"] for e in picks]
    record, _ = dialogue_to_record(dialogue)
    turns = record["turns"]
    assert [turns[int(k)]["text"] for k in row["turn_steps"]] == [e["Text"] for e in picks]
    assert all(turns[int(k)]["speaker"] == "agent" for k in row["turn_steps"])
    assert list(row["turn_steps"].values()) == row["steps"]


def test_abcd_labels_name_the_subflow_and_the_action_turns():
    rows = list(abcd_labels(ABCD))
    assert [r["conversation_id"] for r in rows] == ["abcd-3592", "abcd-9489", "abcd-3695"]
    assert [r["intent"] for r in rows] == ["return_size", "refund_status", "timing_4"]
    assert rows[0]["steps"] == [
        "pull-up-account",
        "validate-purchase",
        "enter-details",
        "notify-team",
    ]
    assert rows[0]["turn_steps"] == {
        "6": "pull-up-account",
        "12": "validate-purchase",
        "22": "enter-details",
        "23": "notify-team",
    }
    for item, row in zip(ABCD_ITEMS, rows, strict=True):
        turns = conversation_to_record(item)["turns"]
        assert all(turns[int(k)]["event_type"] == "action" for k in row["turn_steps"])
        assert [item["original"][int(k)][0] for k in row["turn_steps"]] == ["action"] * len(
            row["steps"]
        )


def test_abcd_labels_accept_a_split_mapping(tmp_path):
    path = tmp_path / "abcd.json"
    path.write_bytes(orjson.dumps({"train": ABCD_ITEMS[:2], "dev": ABCD_ITEMS[2:]}))
    assert len(list(abcd_labels(path))) == 3


def test_labels_from_format_dispatches_and_rejects_unknown_formats():
    assert len(list(labels_from_format("star", [STAR]))) == 26
    assert len(list(labels_from_format("abcd", [ABCD, ABCD]))) == 6
    assert len(list(labels_from_format("banking77", [BANKING77]))) == 32
    assert len(list(labels_from_format("multidogo", [MULTIDOGO]))) == 3
    with pytest.raises(
        LabelsError, match="expected one of star, abcd, banking77, multidogo, found 'csv'"
    ):
        list(labels_from_format("csv", [STAR]))


@pytest.mark.parametrize(
    ("line", "message"),
    [
        (b"{not json", r"star.jsonl:2: not valid JSON"),
        (b"[1, 2]", r"star.jsonl:2: expected a STAR dialogue object, found a list"),
        (b'{"DialogueID": 5}', r"star.jsonl:2: Events: missing"),
        (
            b'{"DialogueID": 5, "Events": [], "Scenario": {"WizardCapabilities": []}}',
            r"star.jsonl:2: Scenario.WizardCapabilities\[0\].Task",
        ),
    ],
)
def test_star_labels_name_the_bad_line_and_field(tmp_path, line, message):
    path = tmp_path / "star.jsonl"
    path.write_bytes(STAR.read_bytes().splitlines()[0] + b"\n" + line + b"\n")
    with pytest.raises(LabelsError, match=message):
        list(star_labels(path))


def test_abcd_labels_name_the_item_missing_its_subflow(tmp_path):
    item = {k: v for k, v in ABCD_ITEMS[1].items() if k != "scenario"}
    path = tmp_path / "abcd.json"
    path.write_bytes(orjson.dumps([ABCD_ITEMS[0], item]))
    with pytest.raises(LabelsError, match=r"abcd.json: item 1: scenario.subflow"):
        list(abcd_labels(path))


def test_banking77_labels_give_each_row_its_category_and_ingest_id():
    rows = list(banking77_labels(BANKING77))
    assert rows[0] == {"conversation_id": "b77-banking77_excerpt-1", "intent": "card_arrival"}
    assert [r["intent"] for r in rows] == [category for _, category in BANKING77_ROWS]
    conversations = pl.concat(b.conversations for b in read_banking77(BANKING77, batch_size=10))
    assert [r["conversation_id"] for r in rows] == conversations["conversation_id"].to_list()
    assert all(set(r) == {"conversation_id", "intent"} for r in rows)  # no steps


def test_banking77_labels_keep_empty_text_rows_and_name_bad_ones(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("text,category\nwhere is my card,card_arrival\n,card_arrival\n")
    assert [r["conversation_id"] for r in banking77_labels(path)] == [
        "b77-train-1",
        "b77-train-2",  # ingest quarantines it (missing_text); its truth is still known
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("text,category\nhi,card_arrival\nwhere is it\n", r"train.csv: row 2: category: missing"),
        ("text,category\nhi,card_arrival\nwhere is it,\n", r"row 2: category: expected the intent"),
        ("text,category\nhi, there,card_arrival\n", r"row 1: a Banking77 row has 2 columns"),
        ("text,intent\nhi,card_arrival\n", r"train.csv: expected a Banking77 CSV with header"),
    ],
)
def test_banking77_labels_name_the_bad_row_and_field(tmp_path, content, message):
    path = tmp_path / "train.csv"
    path.write_text(content)
    with pytest.raises(LabelsError, match=message):
        list(banking77_labels(path))


def test_labels_command_writes_banking77_labels(tmp_path, capsys):
    out = tmp_path / "b77.jsonl"
    assert main(["labels", "--format", "banking77", str(BANKING77), "-o", str(out)]) == EXIT_OK
    assert "wrote 32 label rows" in capsys.readouterr().out
    frame = read_labels(out)
    assert frame.height == frame["intent"].n_unique() == 32
    assert frame["steps"].null_count() == frame["turn_steps"].null_count() == 32


MDG_HEADER = "conversationId\tturnNumber\tutteranceId\tutterance\tslot-labels\tintent\n"


def mdg_rows(*rows: tuple[str, str, str, str]) -> str:
    """MultiDoGO TSV text of ``(conversationId, turnNumber, utterance, intent)`` rows."""
    lines = (f"{c}\t{t}\t<CONV>{c}<TURN>{t}\t{u}\tO\t{i}\n" for c, t, u, i in rows)
    return MDG_HEADER + "".join(lines)


def test_multidogo_labels_give_each_conversation_its_first_task_intent():
    unlabelled: list[str] = []
    rows = list(multidogo_labels(MULTIDOGO, unlabelled=unlabelled))
    assert [{k: r[k] for k in ("conversation_id", "intent")} for r in rows] == [
        {"conversation_id": "mdg-conv-book", "intent": "bookflight"},  # after a greeting
        {"conversation_id": "mdg-conv-order", "intent": "orderpizzaintent"},  # first of a <div>
        {"conversation_id": "mdg-conv-claim", "intent": "checkclaimstatus"},  # after generic acts
    ]
    assert unlabelled == ["mdg-conv-chat"]  # greeting, out of domain, goodbye: no row
    conversations = pl.concat(b.conversations for b in read_multidogo(MULTIDOGO, batch_size=2))
    ingested = conversations["conversation_id"].to_list()
    assert [r["conversation_id"] for r in rows] == [c for c in ingested if c not in unlabelled]


def test_multidogo_labels_read_turns_in_turn_number_order_and_keep_empty_utterances(tmp_path):
    path = tmp_path / "dev.tsv"
    path.write_text(
        mdg_rows(
            ("c1", "3", "and a coke", "orderdrinkintent"),
            ("c1", "1", "a burger please", "orderburgerintent"),
            ("c2", "0", "", "getboardingpass"),  # ingest quarantines it (missing_text)
        )
    )
    rows = list(multidogo_labels(path))
    assert [{k: r[k] for k in ("conversation_id", "intent")} for r in rows] == [
        {"conversation_id": "mdg-c1", "intent": "orderburgerintent"},
        {"conversation_id": "mdg-c2", "intent": "getboardingpass"},
    ]
    assert rows[0]["turn_pii"] is None  # one "O" for three tokens: no turn fits its labels


def test_multidogo_turn_pii_gives_each_token_its_personal_data_type(tmp_path):
    path = tmp_path / "dev.tsv"
    rows = [  # (turnNumber, utterance, slot-labels), written out of order
        ("4", "ssn 4410 and policy hfb 568975463", "O ssn O O policyid policyid"),
        ("0", "i need my claim status", "O O O O O"),
        ("2", "raj prasad 12 lake view road", "B-name I-name address address address address"),
        ("3", "one large pepperoni", "quantity size food_item"),
        ("5", "two words", "O"),  # does not fit: left out
    ]
    path.write_text(
        MDG_HEADER
        + "".join(f"c1\t{t}\t<CONV>c1<TURN>{t}\t{u}\t{s}\tcheckclaimstatus\n" for t, u, s in rows)
    )
    [row] = multidogo_labels(path)
    assert row["turn_pii"] == {  # positions in turnNumber order: 0, 2, 3, 4 (5 left out)
        "0": {"text": "i need my claim status", "types": "O O O O O"},
        "1": {"text": "raj prasad 12 lake view road",
              "types": "name name address address address address"},
        "2": {"text": "one large pepperoni", "types": "- - -"},
        "3": {"text": "ssn 4410 and policy hfb 568975463",
              "types": "O ssn O O policy_id policy_id"},
    }  # fmt: skip
    assert multidogo_turn_pii("a b", "O") is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (
            mdg_rows(("c1", "0", "hi", "openinggreeting"), ("c1", "two", "a pizza", "x")),
            r"dev.tsv: rows 1-2: turnNumber: expected an integer, found 'two' \(row 2\)",
        ),
        (MDG_HEADER + "c1\t0\t<CONV>c1<TURN>0\thi\tO\n", r"dev.tsv: row 1: intent: missing"),
        (
            mdg_rows(("c1", "0", "hi", "openinggreeting"), ("c1", "1", "a pizza", "")),
            r"dev.tsv: rows 1-2: intent: expected intent names joined by <div>, found ''",
        ),
        (
            mdg_rows(
                ("c1", "0", "hi", "bookflight"), ("c2", "0", "yo", "x"), ("c1", "1", "ok", "y")
            ),
            r"dev.tsv: row 3: conversationId: mdg-c1 appears again after other conversations",
        ),
        ("text,category\nhi,card_arrival\n", r"dev.tsv: expected a MultiDoGO TSV"),
    ],
)
def test_multidogo_labels_name_the_bad_rows_and_field(tmp_path, content, message):
    path = tmp_path / "dev.tsv"
    path.write_text(content)
    with pytest.raises(LabelsError, match=message):
        list(multidogo_labels(path))


def test_labels_command_writes_multidogo_labels_and_counts_the_unlabelled(tmp_path, capsys):
    out = tmp_path / "mdg.jsonl"
    assert main(["labels", "--format", "multidogo", str(MULTIDOGO), "-o", str(out)]) == EXIT_OK
    assert capsys.readouterr().out.splitlines() == [
        f"wrote 3 label rows to {out}",
        "1 conversation has no task intent and got no label row",
    ]
    frame = read_labels(out)
    assert frame.select("conversation_id", "intent").rows() == [
        ("mdg-conv-book", "bookflight"),
        ("mdg-conv-order", "orderpizzaintent"),
        ("mdg-conv-claim", "checkclaimstatus"),
    ]


@pytest.mark.shared_data
def test_star_labels_cover_the_whole_shared_corpus():
    rows = list(star_labels(SHARED_DATA / "star" / "dialogues.jsonl.gz"))
    assert len(rows) == 2627
    frame = pl.DataFrame(
        [{k: r[k] for k in ("conversation_id", "intent", "steps")} for r in rows],
        schema={"conversation_id": pl.String, "intent": pl.String, "steps": pl.List(pl.String)},
    )
    assert frame["conversation_id"].is_unique().all()
    assert frame["intent"].n_unique() == 12
    assert frame["steps"].list.len().sum() == 14341  # every pick_suggestion has a label


@pytest.mark.shared_data
def test_multidogo_dev_labels_point_at_the_ingested_conversations():
    paths = [
        SHARED_DATA / "multidogo" / d / "dev.tsv" for d in ("airline", "fastfood", "insurance")
    ]
    unlabelled: list[str] = []
    labels = list(labels_from_format("multidogo", paths, unlabelled=unlabelled))
    stored: list[str] = []
    quarantined: list[str] = []
    for path in paths:
        for batch in read_source(
            path, source_id="s", fmt="auto", config=IngestConfig(), hash_key=b"k"
        ):
            stored += batch.conversations["conversation_id"].to_list()
            quarantined += batch.quarantine["conversation_id"].to_list()
    label_ids = [row["conversation_id"] for row in labels]
    assert (len(stored), len(quarantined), len(labels), len(unlabelled)) == (693, 2, 672, 23)
    assert len(set(label_ids)) == len(label_ids)  # no collision across the three domains
    assert set(label_ids).isdisjoint(unlabelled)
    assert set(label_ids) | set(unlabelled) == set(stored) | set(quarantined)
    assert set(label_ids) & set(stored) == set(stored) - set(unlabelled)
    assert len({row["intent"] for row in labels}) == 14


def test_star_labels_say_which_scenarios_are_the_happy_path():
    rows = list(star_labels(STAR))
    assert [r["happy_path"] for r in rows] == [d["Scenario"]["Happy"] for d in STAR_DIALOGUES]
    assert {True, False} <= {r["happy_path"] for r in rows}
