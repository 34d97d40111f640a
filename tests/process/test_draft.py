"""The playbook draft mined from a candidate SOP."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from process.log_cases import REFUND, log

from pipeline.errors import SopError
from pipeline.process.candidate import discover_candidate_sop
from pipeline.process.draft import draft_sop
from pipeline.sops.model import Step, parse_sop, sop_to_dict, sop_to_yaml


@pytest.fixture(scope="module")
def candidate():
    return discover_candidate_sop(log(*REFUND), rare_support=0.2)


def test_draft_sop_from_the_candidate(candidate):
    draft = draft_sop(
        candidate,
        intent_id="refund",
        labels={"verify": "Confirm the customer's identity"},
        examples={"verify": ["can I have your full name"]},
        actions={"refund": "billing.refund"},
    )
    assert (draft.sop_id, draft.version, draft.intent, draft.source) == (
        "refund",
        1,
        ("refund",),
        "mined draft",
    )
    assert "review" in draft.description
    assert (draft.risk.moves_money, draft.risk.regulated) == (False, False)
    assert draft.steps == (
        Step(id="greet"),
        Step(
            id="verify",
            description="Confirm the customer's identity",
            examples=("can I have your full name",),
            after=("greet",),
        ),
        Step(id="check", after=("verify",), next=("refund", "deny")),
        Step(id="deny", mandatory=False, after=("check",)),
        Step(id="refund", action="billing.refund", mandatory=False, after=("check",)),
        Step(id="close", after=("check", "deny", "refund")),
    )  # upsell is rare: left out


def test_draft_sop_round_trips(candidate):
    draft = draft_sop(candidate, intent_id="refund", sop_id="refund_v")
    assert parse_sop(sop_to_dict(draft), origin="draft.yaml") == draft
    assert "sop_id: refund_v" in sop_to_yaml(draft)


def test_draft_keeps_only_earlier_kept_steps_in_after_and_kept_steps_in_next():
    candidate = pl.DataFrame(
        {
            "intent_id": ["i"] * 4,
            "step": ["a", "b", "r", "c"],
            "role": ["mandatory", "optional", "rare", "mandatory"],
            "position": [0.0, 0.5, 0.6, 1.0],
            # b names the later c (a cycle with c's after) and the rare r
            "after": [[], ["a", "c", "r"], [], ["b", "r"]],
            "branches": [["b", "r", "c"], [], [], ["a", "c"]],
        }
    )
    draft = draft_sop(candidate, intent_id="i")
    assert [(s.id, s.after, s.next) for s in draft.steps] == [
        ("a", (), ("b", "c")),
        ("b", ("a",), ()),
        ("c", ("b",), ("a",)),
    ]
    assert parse_sop(sop_to_dict(draft), origin="x") == draft


@pytest.mark.parametrize(
    ("intent_id", "sop_id"),
    [("refund request", "refund_request"), ("card/lost?", "card_lost_"), ("§", "_")],
)
def test_draft_sop_id_from_the_intent(intent_id, sop_id):
    candidate = pl.DataFrame(
        {
            "intent_id": [intent_id],
            "step": ["a"],
            "role": ["mandatory"],
            "position": [0.0],
            "after": [[]],
            "branches": [[]],
        },
        schema_overrides={"after": pl.List(pl.String), "branches": pl.List(pl.String)},
    )
    draft = draft_sop(candidate, intent_id=intent_id)
    assert (draft.sop_id, draft.intent) == (sop_id, (intent_id,))


@pytest.mark.parametrize(
    ("intent_id", "match"),
    [
        ("nope", "no candidate SOP rows.*intents: refund, scattered"),
        ("scattered", "every step is rare or omitted"),
    ],
)
def test_draft_sop_errors(intent_id, match):
    # "scattered": 20 cases, each with its own step (support 0.05, all rare)
    events = log(*REFUND, *[(f"s{i}", "scattered", [f"x{i}"]) for i in range(20)])
    with pytest.raises(SopError, match=match):
        draft_sop(discover_candidate_sop(events), intent_id=intent_id)


def test_draft_sop_omits_the_unplaced_residue():
    events = log(*[(f"c{i}", "i", ["a", "other", "b"]) for i in range(3)])
    candidate = discover_candidate_sop(events)
    assert "other" in candidate["step"].to_list()
    assert draft_sop(candidate, intent_id="i").step_ids == ("a", "b")
    assert draft_sop(candidate, intent_id="i", omit=()).step_ids == ("a", "other", "b")


def test_draft_sop_rejects_a_step_id_a_playbook_cannot_hold():
    candidate = discover_candidate_sop(log(("c1", "i", ["check balance"])))
    with pytest.raises(SopError, match="check balance"):
        draft_sop(candidate, intent_id="i")


def test_draft_sop_does_not_modify_its_input(candidate):
    before = candidate.clone()
    draft_sop(candidate, intent_id="refund", labels={"greet": "Hello"})
    assert_frame_equal(candidate, before)
