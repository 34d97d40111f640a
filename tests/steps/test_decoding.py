"""Roles, SOP choice and decoding: which SOP a call follows and which step each turn is."""

import numpy as np
import polars as pl
import pytest
from fake_embedders import DIM, WordsEmbedder
from steps.extract_cases import (
    BALANCE,
    BALANCE_CALL,
    FRAUD,
    conversation,
    frame,
    sop,
    steps_of,
)

from pipeline.sops.model import Step
from pipeline.steps.extract import extract_steps
from pipeline.steps.library import step_library


def test_greetings_and_closings_get_generic_types_when_no_sop_has_them():
    call = conversation(
        "c1",
        ("agent", "Hello there, how may I help you today?"),  # paraphrases, not the
        ("agent", "Can you tell me your account number?"),  # built-in phrasings
        ("agent", "Thanks a lot for contacting us, goodbye now."),
    )
    events, types = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip
    assert steps_of(events, "c1") == ["greeting", "ask_account", "closing"]
    row = types.filter(pl.col("step_id") == "closing").row(0, named=True)
    assert (row["source"], row["sop_id"], row["sop_steps"]) == ("sop", None, [])


def test_a_hold_is_a_role_step_that_keeps_the_context():
    call = conversation(
        "c1",
        ("agent", "Can you tell me your account number?"),
        ("agent", "Please hold on while I look into that."),  # not a built-in phrasing
        ("action", "bank.lookup"),
        ("agent", "Your balance is 12 dollars."),
    )
    events, types = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip
    assert steps_of(events, "c1") == ["ask_account", "hold", "lookup", "inform_balance"]
    row = types.filter(pl.col("step_id") == "hold").row(0, named=True)
    assert (row["source"], row["sop_id"], row["sop_steps"]) == ("sop", None, [])


def test_steps_said_in_either_order_of_a_partial_order_sop():
    card = sop(
        "card",
        Step(id="verify", examples=("Can I have your full name please?",)),
        Step(id="security", examples=("What is your date of birth?",), after=("verify",)),
        Step(id="block", examples=("I have blocked your card.",), after=("verify",)),
    )
    calls = frame(
        conversation("c1", ("agent", "Can I have your full name please?"),
                     ("agent", "What is your date of birth?"),
                     ("agent", "I have blocked your card.")),
        conversation("c2", ("agent", "Can I have your full name please?"),
                     ("agent", "I have blocked your card."),
                     ("agent", "What is your date of birth?")),
    )  # fmt: skip
    events, _ = extract_steps(calls, [card], embedder=WordsEmbedder(), threshold=0.6)
    assert steps_of(events, "c1") == ["verify", "security", "block"]
    assert steps_of(events, "c2") == ["verify", "block", "security"]


def test_a_closing_repeated_under_several_ids_is_one_shared_step():
    bye = Step(id="bank_bye", examples=("Thank you and goodbye.",))
    balance = sop("balance", *BALANCE.steps, bye)
    hotel = sop("hotel", Step(id="ask_hotel", examples=("Which hotel are you staying at?",)),
                Step(id="goodbye_1", examples=("Thank you and goodbye.",)))  # fmt: skip
    party = sop("party", Step(id="ask_venue", examples=("Which venue do you want?",)),
                Step(id="goodbye_1", examples=("Thank you and goodbye.",)))  # fmt: skip
    calls = frame(
        conversation("c1", ("agent", "Can you tell me your account number?"),
                     ("agent", "Thank you and goodbye.")),
        conversation("c2", ("agent", "Which hotel are you staying at?"),
                     ("agent", "Thank you and goodbye.")),
    )  # fmt: skip
    events, types = extract_steps(calls, [balance, hotel, party], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip
    assert steps_of(events, "c1") == ["ask_account", "goodbye_1"]
    assert steps_of(events, "c2") == ["ask_hotel", "goodbye_1"]
    row = types.filter(pl.col("step_id") == "goodbye_1").row(0, named=True)
    assert sorted(row["sop_steps"]) == ["balance/bank_bye", "hotel/goodbye_1", "party/goodbye_1"]


def test_each_conversation_takes_the_sop_that_explains_it_or_none():
    calls = frame(
        BALANCE_CALL,
        conversation("c2", ("agent", "Can you tell me your account number?"),
                     ("agent", "Please describe the suspicious transaction."),
                     ("action", "bank.report")),
        conversation("c3", ("agent", "Our new loyalty scheme gives double points"),
                     ("agent", "Points arrive within three working days")),
    )  # fmt: skip
    events, _ = extract_steps(calls, [BALANCE, FRAUD], embedder=WordsEmbedder(), threshold=0.6)
    chosen = dict(events.group_by("conversation_id").agg(pl.col("sop_id").first()).iter_rows())
    assert chosen == {"c1": "balance", "c2": "fraud", "c3": None}
    assert steps_of(events, "c2") == ["ask_account", "ask_fraud_details", "file_report"]
    assert set(steps_of(events, "c3")) == {"other"}  # too few to cluster


def test_an_intents_majority_sop_settles_conversations_that_fit_several():
    fraud_call = [("agent", "Can you tell me your account number?"),
                  ("agent", "Please describe the suspicious transaction.")]  # fmt: skip
    balance_call = [("agent", "Can you tell me your account number?"),
                    ("agent", "Your balance is 10 dollars.")]  # fmt: skip
    ambiguous = [("agent", "Can you tell me your account number?")]
    calls = [conversation(f"f{i}", *fraud_call, intent="i1") for i in range(3)]
    calls += [conversation(f"b{i}", *balance_call, intent="i2") for i in range(5)]
    calls.append(conversation("x", *ambiguous, intent="i1"))
    without, _ = extract_steps(frame(*calls).drop("intent_id"), [BALANCE, FRAUD],
                               embedder=WordsEmbedder(), threshold=0.6)  # fmt: skip
    with_prior, _ = extract_steps(frame(*calls), [BALANCE, FRAUD], embedder=WordsEmbedder(),
                                  threshold=0.6)  # fmt: skip

    def sop_of(events):
        return events.filter(pl.col("conversation_id") == "x")["sop_id"].item()

    assert sop_of(without) == "balance"  # a tie: the SOP more conversations took
    assert sop_of(with_prior) == "fraud"


def _requests(axis_of: dict[str, int], seed: int = 0):
    """Request vectors near one axis per conversation, as ``request_vectors`` returns them."""
    rng = np.random.default_rng(seed)
    rows = np.eye(DIM)[list(axis_of.values())] + rng.normal(scale=0.05, size=(len(axis_of), DIM))
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    return pl.DataFrame({"conversation_id": list(axis_of)}), rows.astype(np.float32)


def test_customers_who_ask_alike_settle_what_the_agents_steps_leave_open():
    ask = ("agent", "Can you tell me your account number?")
    fraud = ("agent", "Please describe the suspicious transaction.")
    balance = ("agent", "Your balance is 10 dollars.")
    chat = [("agent", "Our loyalty scheme gives double points"),
            ("agent", "Points arrive within three working days")]  # fmt: skip
    calls = [conversation(f"f{i}", ask, fraud) for i in range(8)]
    calls += [conversation(f"b{i}", ask, balance) for i in range(9)]  # the commoner SOP
    calls += [conversation(f"p{i}", *chat) for i in range(8)]  # no SOP fits these
    calls += [
        conversation("tie", ask),  # both SOPs explain it alike
        conversation("lead1", ask, balance),  # balance explains one unit more
        conversation("lead2", ask, balance, ("agent", "Your balance is 12 dollars.")),
        conversation("part", ask, *chat),  # a SOP explains a third of it
    ]
    axis = {f"f{i}": 0 for i in range(8)} | {f"b{i}": 1 for i in range(9)}
    axis |= {f"p{i}": 2 for i in range(8)} | {"tie": 0, "lead1": 0, "lead2": 0, "part": 2}

    def chosen(requests):
        events, _ = extract_steps(frame(*calls), [BALANCE, FRAUD], embedder=WordsEmbedder(),
                                  threshold=0.6, requests=requests, neighbours=5)  # fmt: skip
        first = events.group_by("conversation_id").agg(pl.col("sop_id").first())
        return dict(first.iter_rows())

    without, with_requests = chosen(None), chosen(_requests(axis))
    assert [without[c] for c in ("lead1", "lead2", "part")] == ["balance", "balance", None]
    # the request is one more unit of evidence: it settles a tie and outweighs a one-unit
    # lead, not two; peers that no SOP fits vote for none, so "part" stays unguided
    assert [with_requests[c] for c in ("tie", "lead1", "lead2", "part")] == [
        "fraud", "fraud", "balance", None,
    ]  # fmt: skip
    assert chosen(_requests(axis | {"tie": 1}))["tie"] == "balance"
    assert {with_requests[f"f{i}"] for i in range(8)} == {"fraud"}
    assert {with_requests[f"b{i}"] for i in range(9)} == {"balance"}


def test_sequence_context_tells_apart_two_steps_bound_to_one_action():
    booking = sop(
        "booking",
        Step(id="ask_details", examples=("When would you like to come?",), next=("check",)),
        Step(id="check", description="Query check", action="api.query", next=("offer",)),
        Step(id="offer", examples=("A table is free, shall I book it?",), next=("book",)),
        Step(id="book", description="Query book", action="api.query", next=("done",)),
        Step(id="done", examples=("Your table is booked.",)),
    )
    call = conversation(
        "c1",
        ("agent", "When would you like to come?"),
        ("action", "api.query"),
        ("agent", "A table is free, shall I book it?"),
        ("action", "api.query"),
        ("agent", "Your table is booked."),
    )
    events, _ = extract_steps(frame(call), [booking], embedder=WordsEmbedder(), threshold=0.6)
    assert steps_of(events, "c1") == ["ask_details", "check", "offer", "book", "done"]


#: A centre's own conversation management, worded like none of the built-in phrasings.
HARBOUR_ROLES = {
    "greeting": ("Ahoy, welcome aboard the harbour desk!",),
    "closing": ("Fair winds and calm seas to you, sailor.",),
    "hold": ("Drop anchor a moment while I check the log.",),
}


HARBOUR_CALL = conversation(
    "c1",
    ("agent", "Ahoy there, welcome to the harbour desk"),
    ("agent", "Can you tell me your account number?"),
    ("agent", "Drop anchor one moment, I check the log"),
    ("action", "bank.lookup"),
    ("agent", "Your balance is 10 dollars."),
    ("agent", "Fair winds to you, sailor"),
)


@pytest.mark.parametrize(
    ("roles", "expected"),
    [
        ({}, ["other", "ask_account", "other", "lookup", "inform_balance", "other"]),
        (HARBOUR_ROLES, ["greeting", "ask_account", "hold", "lookup", "inform_balance", "closing"]),
    ],
)
def test_configured_role_phrasings_decide_conversation_management(roles, expected):
    events, _ = extract_steps(frame(HARBOUR_CALL), [BALANCE], embedder=WordsEmbedder(),
                              threshold=0.6, **({"roles": roles} if roles else {}))  # fmt: skip
    assert steps_of(events, "c1") == expected


def test_a_role_without_phrasings_is_left_out():
    roles = {**HARBOUR_ROLES, "hold": ()}
    events, types = extract_steps(frame(HARBOUR_CALL), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.6, roles=roles)  # fmt: skip
    assert steps_of(events, "c1") == [
        "greeting", "ask_account", "other", "lookup", "inform_balance", "closing",
    ]  # fmt: skip
    assert "hold" not in step_library([BALANCE], roles=roles).type_ids
