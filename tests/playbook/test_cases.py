"""A bundle's tests: cases mined by trace, replayed against an edited playbook."""

import dataclasses

import pytest

from pipeline.playbook.cases import (
    DEVIATION,
    GOLDEN,
    case_from_dict,
    case_to_dict,
    mine_cases,
    replay,
)
from pipeline.sops.model import Sop, Step

REFUND = Sop(
    "refund", 1, ("refund",),
    (Step("verify", action="crm.verify"), Step("lookup", after=("verify",)),
     Step("refund_money", action="billing.refund", after=("lookup",)),
     Step("confirm", mandatory=False, after=("refund_money",))),
)  # fmt: skip
TRACES = (
    {f"g{i}": ["verify", "lookup", "refund_money", "confirm"] for i in range(50)}
    | {f"h{i}": ["verify", "lookup", "d_chat", "refund_money"] for i in range(30)}
    | {f"m{i}": ["lookup", "refund_money"] for i in range(15)}  # skips verify
    | {f"o{i}": ["lookup", "verify", "refund_money"] for i in range(4)}  # order swap
    | {"rare": ["verify"]}  # 1%: below min_share 0.02
)


def mined(**changes):
    return mine_cases(TRACES, REFUND, min_share=0.02, off_script=("d_chat",), **changes)


def test_each_trace_above_the_share_is_one_case_golden_first():
    cases = mined()
    assert [(c.kind, c.steps, c.n) for c in cases] == [
        (GOLDEN, ("verify", "lookup", "refund_money", "confirm"), 50),
        (GOLDEN, ("verify", "lookup", "refund_money"), 30),  # off-script talk left out
        (DEVIATION, ("lookup", "refund_money"), 15),
        (DEVIATION, ("lookup", "verify", "refund_money"), 4),
    ]
    assert cases[2].expect == {"missing": ("verify",)}
    assert cases[3].expect == {"order_violations": ("lookup before verify",)}
    assert cases[0].tools == ("crm.verify", "billing.refund")
    assert cases[0].share == pytest.approx(0.5)
    assert all(c.name.startswith(c.kind) for c in cases)
    assert mine_cases(TRACES, REFUND, min_share=0.0)[-1].n == 1  # every trace at 0


def test_the_playbook_as_mined_passes_its_own_cases():
    assert all(outcome.passed for outcome in replay(REFUND, mined()))


def test_a_mandatory_step_made_optional_stops_a_known_deviation():
    steps = tuple(dataclasses.replace(s, mandatory=False) if s.id == "verify" else s
                  for s in REFUND.steps)  # fmt: skip
    outcomes = replay(dataclasses.replace(REFUND, steps=steps), mined())
    failed = [(o.case.kind, o.reason) for o in outcomes if not o.passed]
    assert failed == [(DEVIATION, "no longer raises missing: verify")]


def test_a_step_the_golden_cases_perform_removed_fails_them():
    steps = tuple(s for s in REFUND.steps if s.id != "confirm")
    outcomes = replay(dataclasses.replace(REFUND, steps=steps), mined())
    failed = [(o.case.name, o.reason) for o in outcomes if not o.passed]
    assert len(failed) == 1
    assert failed[0][1] == "now deviates (undocumented: confirm)"


def test_a_case_round_trips_and_a_bad_one_names_its_file():
    for case in mined():
        assert case_from_dict(case_to_dict(case), origin="t") == case
    with pytest.raises(ValueError, match="^f.yaml: case 0: not a test case .*expect"):
        case_from_dict({"name": "x", "kind": DEVIATION, "steps": ["a"]}, origin="f.yaml: case 0")
    with pytest.raises(ValueError, match="kind 'odd'"):
        case_from_dict({"name": "x", "kind": "odd", "steps": ["a"]}, origin="f")


def test_cases_hold_no_conversation_id():
    text = repr([case_to_dict(c) for c in mine_cases(TRACES, REFUND, min_share=0.0)])
    assert not any(cid in text for cid in ("g1'", "h2'", "m3'", "rare"))
