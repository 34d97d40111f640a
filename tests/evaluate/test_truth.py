"""Writing and reading ground-truth labels (``pipeline.evaluate.truth``)."""

import gzip

import pytest
from ingest.adapters_cases import STAR

from pipeline.errors import LabelsError
from pipeline.evaluate.datasets import (
    star_labels,
)
from pipeline.evaluate.truth import LABELS_SCHEMA, read_labels, write_labels


@pytest.mark.parametrize("name", ["labels.jsonl", "labels.jsonl.gz"])
def test_write_then_read_round_trips(tmp_path, name):
    rows = list(star_labels(STAR)) + [{"conversation_id": "c-1", "intent": "billing"}]
    out = tmp_path / "sub" / name
    assert write_labels(rows, out) == 27
    if name.endswith(".gz"):
        assert gzip.decompress(out.read_bytes()).count(b"\n") == 27
    frame = read_labels(out)
    assert frame.schema == LABELS_SCHEMA
    assert frame.height == 27
    first = frame.row(0, named=True)
    assert first["steps"] == ["ask_name", "doctor_inform_doctors_instructions", "goodbye_1"]
    assert first["turn_steps"] == [
        {"turn_idx": 1, "step": "ask_name"},
        {"turn_idx": 5, "step": "doctor_inform_doctors_instructions"},
        {"turn_idx": 9, "step": "goodbye_1"},
    ]
    last = frame.row(-1, named=True)
    assert last["steps"] is None and last["turn_steps"] is None
    assert not list(tmp_path.glob("sub/.*partial"))


def test_read_labels_sorts_turn_steps_by_position(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text(
        '{"conversation_id": "c", "intent": "i", "turn_steps": {"10": "b", "2": "a"}}\n'
    )
    assert read_labels(path)["turn_steps"].to_list() == [
        [{"turn_idx": 2, "step": "a"}, {"turn_idx": 10, "step": "b"}]
    ]


GOOD = '{"conversation_id": "c1", "intent": "billing", "steps": ["a"]}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{oops", r"l.jsonl:2: not valid JSON"),
        ('["c2"]', r"l.jsonl:2: expected a JSON object, found a list"),
        (
            '{"intent": "x"}',
            r"l.jsonl:2: conversation_id: expected a non-empty string, found nothing",
        ),
        ('{"conversation_id": "c2"}', r"l.jsonl:2: intent: expected a non-empty string"),
        ('{"conversation_id": 7, "intent": "x"}', r"l.jsonl:2: conversation_id: .* found 7"),
        ('{"conversation_id": "c2", "intent": " "}', r"l.jsonl:2: intent: expected a non-empty"),
        (
            '{"conversation_id": "c2", "intent": "x", "steps": "a"}',
            r"l.jsonl:2: steps: expected a list",
        ),
        ('{"conversation_id": "c2", "intent": "x", "steps": ["a", 3]}', r"l.jsonl:2: steps:"),
        (
            '{"conversation_id": "c2", "intent": "x", "turn_steps": ["a"]}',
            r"l.jsonl:2: turn_steps: expected an object",
        ),
        (
            '{"conversation_id": "c2", "intent": "x", "turn_steps": {"one": "a"}}',
            r"l.jsonl:2: turn_steps: expected keys that are turn positions .* found 'one'",
        ),
        (
            '{"conversation_id": "c2", "intent": "x", "turn_steps": {"1": null}}',
            r"l.jsonl:2: turn_steps\[1\]: expected a non-empty step name",
        ),
        (
            '{"conversation_id": "c2", "intent": "x", "outcome": "solved"}',
            r"l.jsonl:2: outcome: expected one of resolved/escalated/.* found 'solved'",
        ),
        (
            '{"conversation_id": "c2", "intent": "x", "turn_pii": ["a"]}',
            r"l.jsonl:2: turn_pii: expected an object of turn position",
        ),
        (
            '{"conversation_id": "c2", "intent": "x", "turn_pii": {"x": {}}}',
            r"l.jsonl:2: turn_pii: expected keys that are turn positions .* found 'x'",
        ),
        (
            '{"conversation_id": "c2", "intent": "x", "turn_pii": {"0": {"text": "a b"}}}',
            r'l.jsonl:2: turn_pii\[0\]: expected \{"text": str, "types": str\}',
        ),
        (
            '{"conversation_id": "c2", "intent": "x", '
            '"turn_pii": {"0": {"text": "raj prasad", "types": "name"}}}',
            r"l.jsonl:2: turn_pii\[0\]: types: expected one type per .* token of the text \(2\), "
            r"found 1: 'name'",
        ),
        (GOOD, r"l.jsonl:2: conversation_id: 'c1' already labelled at .*l.jsonl:1"),
    ],
)
def test_read_labels_names_file_line_and_field(tmp_path, line, message):
    path = tmp_path / "l.jsonl"
    path.write_text(GOOD + "\n" + line + "\n")
    with pytest.raises(LabelsError, match=message):
        read_labels(path)


def test_turn_pii_is_read_as_turns_in_position_order(tmp_path):
    path = tmp_path / "l.jsonl"
    row = {"conversation_id": "c1", "intent": "x", "turn_pii": {
        "10": {"text": "ssn 4410", "types": "O ssn"},
        "2": {"text": "raj prasad", "types": "name name"},
    }}  # fmt: skip
    write_labels([row], path)
    labels = read_labels(path)
    assert labels["turn_pii"].to_list() == [[
        {"turn_idx": 2, "text": "raj prasad", "types": "name name"},
        {"turn_idx": 10, "text": "ssn 4410", "types": "O ssn"},
    ]]  # fmt: skip
    without = tmp_path / "g.jsonl"
    without.write_text(GOOD + "\n")
    assert read_labels(without)["turn_pii"].to_list() == [None]


def test_read_labels_refuses_an_empty_file(tmp_path):
    path = tmp_path / "l.jsonl"
    path.write_text("\n")
    with pytest.raises(LabelsError, match="no label rows"):
        read_labels(path)


def test_write_labels_refuses_duplicates_and_leaves_no_file(tmp_path):
    out = tmp_path / "l.jsonl"
    rows = [{"conversation_id": "c1", "intent": "a"}, {"conversation_id": "c1", "intent": "b"}]
    with pytest.raises(LabelsError, match=r"l.jsonl: row 2: conversation_id: 'c1' already"):
        write_labels(rows, out)
    assert not out.exists() and not list(tmp_path.iterdir())


def test_write_labels_accepts_int_turn_positions_and_does_not_modify_rows(tmp_path):
    row = {"conversation_id": "c1", "intent": "a", "turn_steps": {3: "x"}}
    write_labels([row], tmp_path / "l.jsonl")
    assert row == {"conversation_id": "c1", "intent": "a", "turn_steps": {3: "x"}}
    assert read_labels(tmp_path / "l.jsonl")["turn_steps"].to_list() == [
        [{"turn_idx": 3, "step": "x"}]
    ]
