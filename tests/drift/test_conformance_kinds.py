"""Conformance counts process steps only: management and decision outcomes never deviate."""

from drift.conformance_cases import REFUND, log

from pipeline.drift.conformance import check_conformance, check_trace
from pipeline.sops.model import parse_sop

MANAGED = parse_sop(
    {
        "sop_id": "managed",
        "version": 1,
        "steps": [
            {"id": "hello", "kind": "management"},
            {"id": "ask", "after": ["hello"]},
            {"id": "found", "kind": "outcome"},
            {"id": "tell", "after": ["ask"]},
            {"id": "bye", "kind": "management", "after": ["tell"]},
        ],
    },
    origin="t",
)


def test_management_and_outcome_steps_are_never_required_nor_deviations():
    # hello, found and bye are mandatory by default, yet absent: nothing missing
    result = check_trace(MANAGED, ["ask", "tell"])
    assert (result.missing, result.skipped, result.order_violations) == ((), (), ())
    assert result.is_conforming and result.fitness == 1.0
    # a closing too early is no order violation
    assert check_trace(MANAGED, ["bye", "ask", "tell"]).is_conforming


def test_a_step_another_sop_documents_as_management_is_not_undocumented():
    other = parse_sop(
        {"sop_id": "o", "version": 1, "steps": [{"id": "goodbye", "kind": "management"}]},
        origin="t",
    )
    events = log(("c1", "refund", ["verify", "lookup", "refund", "confirm", "goodbye"]))
    result = check_conformance(events, {"refund": REFUND, "o": other})
    assert result["undocumented"].to_list() == [[]]
    assert result["is_conforming"].to_list() == [True]
