"""The step library: a SOP's order as the transitions decoding expects, and the roles."""

import pytest
from steps.extract_cases import BALANCE, FRAUD

from pipeline.sops.model import Sop, Step
from pipeline.steps.library import HOLD, ROLE_PHRASINGS, step_library, template_pattern

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
    roles = {**ROLE_PHRASINGS, HOLD: ("Hang tight a sec, I am checking.", "One moment please.")}
    library = step_library([CARD], roles=roles)
    hold = library.type_ids.index(HOLD)
    assert library.generic[hold] is True
    assert library.sop_steps[hold] == ()
    phrasings = [
        p for t, p in zip(library.proto_type, library.proto_texts, strict=True) if t == hold
    ]
    assert phrasings == ["Hang tight a sec, I am checking.", "One moment please."]


@pytest.mark.parametrize(
    ("template", "text", "matches"),
    [
        ("Your balance is {balance:d} in credit.", "Your balance is 1,910 in credit.", True),
        ("Your balance is {balance:d} in credit.", "your  balance is 5068 IN credit.", True),
        ("Your balance is {balance:d} in credit.", "Your balance is <CARD> in credit.", True),
        ("Your balance is {balance:d} in credit.", "Your balance is high in credit.", False),
        ("Alright, the {hotel:s} ticks all boxes.", "Alright, the Old Town Inn ticks all boxes.",
         True),
        ("Alright, the {hotel:s} ticks all boxes.", "Alright, the Inn ticks all boxes. Book?",
         False),
        # agents drop the template's quotes and full stop; its words stay required
        ("The '{hotel:s}' has a rating of {rating:d}.", "The Hyatt West has a rating of 5", True),
        ("The '{hotel:s}' has a rating of {rating:d}.", "The 'Hyatt' has a rating of 5.", True),
        ("The '{hotel:s}' has a rating of {rating:d}.", "The Hyatt has rating 5.", False),
    ],
)  # fmt: skip
def test_a_template_matches_its_slot_filled_replies(template, text, matches):
    assert bool(template_pattern(template).fullmatch(text)) is matches


def test_a_phrasing_without_slots_is_no_template():
    assert template_pattern("Hello, how can I help?") is None


def test_library_shares_ids_binds_actions_and_looks_through_outcomes():
    library = step_library([BALANCE, FRAUD])
    ids = list(library.type_ids)
    assert ids == ["ask_account", "lookup", "found", "inform_balance", "ask_fraud_details",
                   "file_report", "greeting", "closing", "hold"]  # fmt: skip
    assert library.generic == (False,) * 6 + (True, True, True)
    # "Query" is a button label in a SOP that words its steps: matched by binding only
    assert ids.index("lookup") not in library.proto_type
    assert ids.index("found") not in library.proto_type
    assert library.bindings["balance"] == {"bank.lookup": (ids.index("lookup"),)}
    expected = library.expected["balance"]
    assert expected[ids.index("ask_account")] == {ids.index("lookup")}
    assert expected[ids.index("lookup")] == {ids.index("inform_balance")}  # through "found"
    assert library.starts["balance"] == ids.index("ask_account")
    assert library.sop_steps[0] == ("balance/ask_account", "fraud/ask_account")
    template = library.proto_texts[list(library.proto_type).index(ids.index("inform_balance"))]
    assert template == "Your balance is balance dollars."
