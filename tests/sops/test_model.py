import copy
from pathlib import Path

import pytest
import yaml

from pipeline.errors import SopError
from pipeline.sops.files import load_sop, load_sops, validate_sop_files
from pipeline.sops.model import (
    Risk,
    Sop,
    Step,
    parse_sop,
    save_sop,
    sop_to_dict,
    sop_to_yaml,
)

ROOT = Path(__file__).resolve().parents[2]
GOOD = """
sop_id: refund_request
version: 3
intent: refund request
steps:
  - id: verify_identity
    description: Confirm the customer's identity before discussing the account
    examples: ["can I have your full name and the email on the account"]
    action: crm.verify_identity
    mandatory: true
  - id: check_eligibility
    after: [verify_identity]
    mandatory: true
  - id: supervisor_approval
    when: "amount > 200"
    mandatory: false
risk: {moves_money: true, regulated: false}
"""


def write(tmp_path: Path, text: str, name: str = "sop.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_the_design_example_loads(tmp_path):
    sop = load_sop(write(tmp_path, GOOD))
    assert sop.sop_id == "refund_request" and sop.version == 3
    assert sop.intent == ("refund request",)
    assert sop.step_ids == ("verify_identity", "check_eligibility", "supervisor_approval")
    assert sop.step("check_eligibility").after == ("verify_identity",)
    assert sop.step("supervisor_approval") == Step(
        id="supervisor_approval", when="amount > 200", mandatory=False
    )
    assert sop.step("verify_identity").action == "crm.verify_identity"
    assert sop.risk == Risk(moves_money=True)
    with pytest.raises(KeyError):
        sop.step("nope")


def test_round_trip_is_identical_and_byte_stable(tmp_path):
    sop = load_sop(write(tmp_path, GOOD))
    text = sop_to_yaml(sop)
    again = parse_sop(yaml.safe_load(text), origin="x")
    assert again == sop
    assert sop_to_yaml(again) == text
    saved = save_sop(sop, tmp_path / "out" / "refund.yaml")
    assert load_sop(saved) == sop


def test_intent_list_and_next_edges(tmp_path):
    sop = load_sop(
        write(
            tmp_path,
            """
sop_id: s
version: 1
intent: [a, b]
steps:
  - {id: x, next: [y]}
  - {id: y, next: [x]}
""",
        )
    )
    assert sop.intent == ("a", "b")
    assert sop.step("y").next == ("x",)  # flowchart edges may loop; `after` may not


STEPS = "steps:\n  - {id: a}\n  - {id: b, after: [a]}\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("version: 1\n" + STEPS, "missing sop_id; a playbook needs sop_id, version and steps"),
        ("sop_id: s\n" + STEPS, "missing version"),
        ("sop_id: s\nversion: 0\n" + STEPS, "version: expected a positive integer"),
        ("sop_id: s\nversion: 1\nsteps: []\n", "steps: expected a non-empty list"),
        ("sop_id: s\nversion: 1\nowner: me\n" + STEPS, "unknown key 'owner'; allowed: sop_id"),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, manditory: true}\n",
            "step a: unknown key 'manditory'",
        ),
        ("sop_id: s\nversion: 1\nsteps:\n  - {id: a}\n  - {id: a}\n", "step a: duplicate step id"),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a}\n  - {id: b, after: [verify_id]}\n",
            "step b: after names unknown step 'verify_id' (steps: a, b)",
        ),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, next: [zz]}\n",
            "step a: next names unknown step 'zz'",
        ),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, after: [a]}\n",
            "step a: after names the step itself",
        ),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, after: [c]}\n  - {id: b, after: [a]}\n"
            "  - {id: c, after: [b]}\n",
            "form a cycle: a -> c -> b -> a",
        ),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, examples: hello}\n",
            "step a: examples: expected a list of strings",
        ),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, mandatory: 'yes'}\n",
            "step a: mandatory: expected true or false",
        ),
        ("sop_id: s\nversion: 1\nsteps:\n  - {id: 'bad id'}\n", "id 'bad id' must be"),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, kind: closing}\n",
            "step a: kind: expected one of process, management, outcome, found 'closing'",
        ),
        (
            "sop_id: s\nversion: 1\nrisk: {moves_mony: true}\n" + STEPS,
            "risk: unknown key 'moves_mony'",
        ),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a}\n  - {id: b, after: a}\n",
            "step b: after: expected a list of strings, found str 'a'",
        ),
        ("sop_id: s\nversion: '1'\n" + STEPS, "version: expected a positive integer, found '1'"),
        ("sop_id: s\nversion: 1\nintent: [3]\n" + STEPS, "intent: expected a list of strings"),
        ("sop_id: 'a/b'\nversion: 1\n" + STEPS, "sop_id 'a/b' must be letters"),
        (
            "sop_id: s\nversion: 1\nsteps:\n  - {id: a, action: [x]}\n",
            "step a: action: expected a string, found a list",
        ),
        ("sop_id: s\nversion: 1\nrisk: {moves_money: 1}\n" + STEPS, "risk.moves_money: expected"),
        ("- just\n- a list\n", "expected a mapping"),
        ("", "found nothing (null)"),
        ("sop_id: s\nversion: 1\nsteps: [\n", "not valid YAML"),
    ],
)
def test_invalid_files_give_one_precise_line(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(SopError) as info:
        load_sop(path)
    assert str(info.value).startswith(f"{path}: ")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


WHEN_EXPECTED = (
    "expected a condition like `amount > 200` (field op literal, op one of > >= < <= == !=, "
    "text literals quoted), joined by and/or; put prose in the description"
)


@pytest.mark.parametrize(
    ("when", "problem"),
    [
        ("query succeeded", "expected a comparison operator after 'query', found 'succeeded'"),
        ("amount >> 5", "expected a number or a quoted string, found '>'"),
        ("amount > 200 and", "expected a field name, found the end"),
        ("tier = 'gold'", "cannot read \"= 'gold'\""),
        ("", "expected a field name, found the end"),
    ],
)
def test_a_when_that_is_no_condition_names_file_step_and_problem(tmp_path, when, problem):
    text = "sop_id: s\nversion: 1\nsteps:\n  - id: a\n  - id: gate\n    when: " + repr(when) + "\n"
    path = write(tmp_path, text)
    with pytest.raises(SopError) as info:
        load_sop(path)
    assert str(info.value) == (
        f"{path}: step gate: when: condition {when!r}: {problem}; {WHEN_EXPECTED}"
    )


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (5, "step gate: when: expected a string, found int 5"),
        (None, None),
        ("amount > 200 and (tier == 'gold' OR region != \"eu\")", None),
    ],
)
def test_when_is_kept_verbatim_or_rejected_by_type(when, expected):
    data = {"sop_id": "s", "version": 1, "steps": [{"id": "gate", "when": when}]}
    if expected is None:
        assert parse_sop(data, origin="f.yaml").step("gate").when == when
    else:
        with pytest.raises(SopError, match=rf"^f\.yaml: {expected}$"):
            parse_sop(data, origin="f.yaml")


def test_load_sops_from_a_folder_and_duplicates_across_files(tmp_path):
    write(tmp_path, GOOD, "a.yaml")
    write(tmp_path, GOOD.replace("refund_request", "other"), "b.yml")
    write(tmp_path, "not a sop", "notes.txt")
    assert [s.sop_id for s in load_sops([tmp_path])] == ["refund_request", "other"]
    write(tmp_path, GOOD, "c.yaml")
    with pytest.raises(SopError, match="also defined in"):
        load_sops([tmp_path])


def test_validate_sop_files_reports_each_bad_file(tmp_path):
    good = write(tmp_path, GOOD, "good.yaml")
    bad = write(tmp_path, "sop_id: s\n", "bad.yaml")
    again = write(tmp_path, GOOD, "again.yaml")
    errors = validate_sop_files([good, bad, tmp_path / "missing.yaml", again])
    assert len(errors) == 3
    assert errors[0].startswith(f"{bad}: missing version")
    assert "cannot read" in errors[1]
    assert errors[2] == (
        f"{again}: sop refund_request version 3 is also defined in {good}; "
        "bump the version or remove one"
    )
    assert validate_sop_files([good]) == []


def test_long_and_multiline_text_round_trips_on_one_line():
    words = " ".join(["word"] * 400)  # 2,000 characters: must not be folded
    sop = Sop(
        sop_id="s",
        version=1,
        intent=("s",),
        steps=(
            Step(id="a", description=words, examples=("line one\nline two", "yes", "null")),
            Step(id="yes", after=("a",), mandatory=False),
        ),
    )
    text = sop_to_yaml(sop)
    assert f"description: {words}\n" in text
    assert parse_sop(yaml.safe_load(text), origin="x") == sop


def test_yaml_key_order_and_omitted_defaults():
    sop = Sop(
        sop_id="s",
        version=2,
        intent=("a", "b"),
        steps=(Step(id="x", mandatory=False, when="amount > 200", after=()),),
        description="d",
        source="star:s",
    )
    assert sop_to_yaml(sop) == (
        "sop_id: s\nversion: 2\nintent:\n- a\n- b\ndescription: d\nsource: star:s\n"
        "steps:\n- id: x\n  when: amount > 200\n  mandatory: false\n"
        "risk:\n  moves_money: false\n  regulated: false\n"
    )


@pytest.mark.parametrize("folder", ["data/sops/abcd", "data/sops/sample"])
def test_committed_libraries_round_trip(folder):
    files = sorted((ROOT / folder).glob("*.yaml"))
    assert files
    for file in files:
        sop = load_sop(file)
        assert sop_to_yaml(sop) == file.read_text(), file.name
        assert parse_sop(yaml.safe_load(sop_to_yaml(sop)), origin=file.name) == sop


def test_sop_is_frozen():
    sop = Sop(sop_id="s", version=1, intent=("s",), steps=(Step(id="a"),))
    with pytest.raises(AttributeError):
        sop.version = 2  # type: ignore[misc]


@pytest.mark.parametrize(
    ("function", "data"),
    [
        (lambda d: parse_sop(d, origin="x"), yaml.safe_load(GOOD)),
        (
            lambda d: parse_sop(d, origin="x"),
            yaml.safe_load(STEPS + "sop_id: s\nversion: 1\nintent: s\n"),
        ),
        (lambda d: sop_to_dict(parse_sop(d, origin="x")), yaml.safe_load(GOOD)),
    ],
)
def test_sop_functions_do_not_modify_their_input(function, data):
    before = copy.deepcopy(data)
    function(data)
    assert data == before


def test_a_step_kind_defaults_to_process_and_round_trips():
    sop = parse_sop(
        {"sop_id": "s", "version": 1, "steps": [
            {"id": "hi", "kind": "management"}, {"id": "ask"}, {"id": "ok", "kind": "outcome"},
        ]},
        origin="t",
    )  # fmt: skip
    assert [s.kind for s in sop.steps] == ["management", "process", "outcome"]
    assert [s.is_process for s in sop.steps] == [False, True, False]
    text = sop_to_yaml(sop)
    assert "kind: management" in text and "kind: process" not in text  # the default is left out
    assert parse_sop(yaml.safe_load(text), origin="x") == sop
