"""The step library: a SOP's order as the transitions decoding expects, and the roles."""

import pytest

from pipeline.sops.model import Sop, Step
from pipeline.steps.library import HOLD, ROLE_PHRASINGS, step_library

CARD = Sop(
    sop_id="card",
    version=1,
    intent=("card",),
    steps=(
        Step(id="verify", examples=("Can I have your name?",)),
        Step(id="security", examples=("What is your date of birth?",), after=("verify",)),
        Step(id="block", examples=("I have blocked your card.",), after=("verify",)),
        Step(id="review", examples=("Which payments were not yours?",), after=("block",)),
        Step(id="outcome", description="Blocked", after=("review",)),  # never said
        Step(id="case", examples=("Your case is open.",), after=("outcome",)),
        Step(id="transfer", examples=("I am transferring you.",), mandatory=False),
    ),
)


@pytest.mark.parametrize(
    ("step", "may_follow"),
    [
        ("verify", {"security", "block", "transfer"}),
        # both after verify: either order; review may come once block was before security
        ("security", {"block", "review", "case", "transfer"}),
        ("block", {"security", "review", "transfer"}),
        ("review", {"security", "case", "transfer"}),  # through the unsaid outcome
        ("case", {"security", "transfer"}),
        ("transfer", {"verify", "security", "block", "review", "case"}),  # no after: anywhere
    ],
)
def test_a_sop_without_next_is_a_partial_order(step, may_follow):
    library = step_library([CARD])
    ids = list(library.type_ids)
    expected = library.expected["card"][ids.index(step)]
    assert {ids[t] for t in expected} == may_follow


def test_a_sop_with_next_keeps_its_flow():
    flow = Sop(
        sop_id="flow",
        version=1,
        intent=("flow",),
        steps=(
            Step(id="a", examples=("first",), next=("b",)),
            Step(id="b", examples=("second",), after=("a",)),
            Step(id="c", examples=("third",), after=("a",)),
        ),
    )
    library = step_library([flow])
    ids = list(library.type_ids)
    assert library.expected["flow"] == {ids.index("a"): {ids.index("b"), ids.index("c")}}


def test_hold_is_a_generic_role_type():
    library = step_library([CARD])
    hold = library.type_ids.index(HOLD)
    assert library.generic[hold] is True
    assert library.sop_steps[hold] == ()
    phrasings = [
        p for t, p in zip(library.proto_type, library.proto_texts, strict=True) if t == hold
    ]
    assert phrasings == list(ROLE_PHRASINGS[HOLD])
