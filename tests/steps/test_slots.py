"""Recurring off-script wordings that stand where a documented step is missing."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from fake_embedders import WordsEmbedder
from steps.extract_cases import (
    BALANCE,
    NAMES,
    PLACES,
    _family_calls,
    conversation,
    frame,
)

from pipeline.steps.decoding import OTHER_CODE, Roles
from pipeline.steps.extract import extract_steps
from pipeline.steps.library import step_library
from pipeline.steps.slots import NO_VOTE, fill_slots, slot_votes
from pipeline.steps.units import agent_units

ASK = ("agent", "Can you tell me your account number?")
# shares no word with the step's phrasing: the embedder cannot match it
PARAPHRASE = ("agent", "Digits off the card, go ahead")
LOOKUP = ("action", "bank.lookup")
GOODBYE = ("agent", "Thank you and goodbye.")
HELLO = ("agent", "Hello there, how may I help you today?")


def _balance(i: int) -> tuple[str, str]:
    return ("agent", f"Your balance is {100 + i} dollars.")


def _chat(i: int) -> tuple[str, str]:
    return ("agent", f"Lovely weather in {PLACES[i % 10]} today {NAMES[i % 7]}")


def _steps(events: pl.DataFrame, turn: int) -> set[str]:
    return set(events.filter(pl.col("turn_idx") == turn)["step_id"])


def test_a_recurring_wording_in_a_missing_steps_slot_is_that_step():
    # a third of the agents ask for the account in words the SOP does not have; the
    # rest follow the script; everyone makes small talk after the balance
    families = [
        lambda i: HELLO,
        lambda i: PARAPHRASE if i % 3 == 0 else ASK,
        lambda i: LOOKUP,
        _balance,
        _chat,
        lambda i: GOODBYE,
    ]
    calls = frame(*_family_calls(60, families))
    events, _ = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    assert _steps(events, 1) == {"ask_account"}
    assert events.filter(pl.col("turn_idx") == 1)["source"].unique().to_list() == ["sop"]
    assert not _steps(events, 4) & {"ask_account", "inform_balance"}  # no slot is empty there


def test_a_wording_said_once_is_left_to_the_decoding():
    families = [lambda i: HELLO, lambda i: ASK, lambda i: LOOKUP, _balance, _chat,
                lambda i: GOODBYE]  # fmt: skip
    calls = _family_calls(30, families)
    calls[0][1]["text"] = PARAPHRASE[1]
    events, _ = extract_steps(frame(*calls), [BALANCE], embedder=WordsEmbedder(),
                              threshold=0.6)  # fmt: skip
    first = events.filter((pl.col("conversation_id") == "c00") & (pl.col("turn_idx") == 1))
    assert first["step_id"].item() == "other"


def _units_and_state(calls, library, chosen_step):
    """Units of ``calls`` with the state a decoder would give: script steps, else other."""
    units = agent_units(frame(*calls))
    texts = units["text"].fill_null("").to_list()
    row_of = {t: r for r, t in enumerate(dict.fromkeys(t for t in texts if t))}
    rows = np.array([row_of.get(t, -1) for t in texts], dtype=np.int64)
    state = np.array([chosen_step(t, a) for t, a in zip(texts, units["action_name"], strict=True)],
                     dtype=np.int64)  # fmt: skip
    return units, rows, state


def test_talk_that_fills_a_slot_no_more_often_than_other_talk_stays_off_script():
    # the agents never ask for the account: every off-script opening stands in its slot,
    # so standing there says nothing about what a wording means
    library = step_library([BALANCE])
    ask, lookup, inform = (library.type_ids.index(s) for s in ("ask_account", "lookup",
                                                               "inform_balance"))  # fmt: skip
    roles = Roles(tuple(library.type_ids), np.array([], dtype=np.int64), {})
    families = [
        lambda i: ("agent", "Lovely weather today") if i % 2 else ("agent", "Busy day here"),
        lambda i: LOOKUP,
        _balance,
    ]
    calls = _family_calls(40, families)

    def state_of(text, action):
        if action:
            return lookup
        return inform if text.startswith("Your balance") else OTHER_CODE

    units, rows, state = _units_and_state(calls, library, state_of)
    chosen = ["balance"] * 40
    votes = slot_votes(units, state, rows, library, roles, chosen)
    assert set(votes[state == OTHER_CODE].tolist()) == {ask}
    assert np.array_equal(fill_slots(units, state, rows, votes, chosen), state)


def test_only_a_turn_with_one_missing_step_around_it_votes():
    library = step_library([BALANCE])
    ask, lookup = library.type_ids.index("ask_account"), library.type_ids.index("lookup")
    roles = Roles(tuple(library.type_ids), np.array([], dtype=np.int64), {})
    calls = _family_calls(2, [lambda i: ASK, lambda i: ("agent", "Nice to talk"), _balance])
    calls.append(conversation("c99", ("agent", "Nice to talk"), _balance(0)))

    def state_of(text, action):
        if text.startswith("Your balance"):
            return library.type_ids.index("inform_balance")
        return ask if text.startswith("Can you") else OTHER_CODE

    units, rows, state = _units_and_state(calls, library, state_of)
    votes = slot_votes(units, state, rows, library, roles, ["balance"] * 3)
    # between ask_account and inform_balance only lookup is missing (its action was not
    # logged); in the last call both ask_account and lookup are: no single step
    assert votes[state == OTHER_CODE].tolist() == [lookup, lookup, NO_VOTE]
    assert (
        slot_votes(units, state, rows, library, roles, [None] * 3).tolist()
        == [NO_VOTE] * units.height
    )


@pytest.mark.parametrize(
    ("settings", "filled"),
    [({}, True), ({"slot_min_said": 21}, False), ({"slot_alpha": 1e-15}, False)],
)
def test_the_slot_settings_decide_whether_a_wording_fills_the_slot(settings, filled):
    # the same 20 paraphrases as above: said 20 times, all in the slot, p ~ 1e-12
    families = [lambda i: HELLO, lambda i: PARAPHRASE if i % 3 == 0 else ASK, lambda i: LOOKUP,
                _balance, _chat, lambda i: GOODBYE]  # fmt: skip
    calls = frame(*_family_calls(60, families))
    events, _ = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                              **settings)  # fmt: skip
    said = events.filter(pl.col("conversation_id").is_in([f"c{i:02d}" for i in range(0, 60, 3)]))
    assert (_steps(said, 1) == {"ask_account"}) is filled
