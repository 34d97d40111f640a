"""Outcomes: agent turns, failed actions, durations and repeat contacts per conversation."""

from datetime import timedelta

import polars as pl
import pytest
from outcomes.derive_cases import (
    RESOLVED,
    T0,
    contacts,
    conversations,
    derive,
    repeats,
    turns,
    workflows,
)

from pipeline.config import OutcomeConfig
from pipeline.outcomes.derive import derive_outcomes


def test_n_agent_turns_counts_agent_and_bot_utterances_only():
    transcript = [("bot", "hi"), ("customer", "q"), ("agent", "a"), ("agent", "!crm.x"),
                  ("system", "note"), ("agent", "b")]  # fmt: skip
    out = derive(conversations({"conversation_id": "c1"}), {"c1": transcript})
    assert out["n_agent_turns"].to_list() == [3]


@pytest.mark.parametrize(
    ("statuses", "expected"),
    [
        ((), 0),  # no action at all
        ((None, None), 0),  # actions of unknown status
        (("ok", "ok"), 0),
        (("failed", "ok", "failed"), 2),
    ],
)
def test_failed_actions_counts_action_events_whose_status_is_failed(statuses, expected):
    transcript = [("customer", "q"), *[("agent", f"!crm.x:{s or ''}") for s in statuses]]
    out = derive(conversations({"conversation_id": "c1"}), {"c1": transcript})
    assert out["failed_actions"].to_list() == [expected]


def test_a_failed_status_on_an_utterance_is_not_a_failed_action():
    turn_rows = turns({"c1": [("customer", "q"), ("agent", "!crm.x:failed")]}).with_columns(
        event_type=pl.lit("utterance")
    )
    out = derive_outcomes(
        conversations({"conversation_id": "c1"}),
        turn_rows,
        workflows({}),
        config=OutcomeConfig(),
    )
    assert out["failed_actions"].to_list() == [0]


@pytest.mark.parametrize(
    ("ended_after_s", "timed", "expected"),
    [
        (95, True, 95.0),  # ended_at - started_at
        (None, True, 30.0),  # no ended_at: last ts - first ts (4 turns, 10 s apart)
        (-5, True, 30.0),  # a negative span is a data error: the turns' span instead
        (None, False, None),  # neither
    ],
)
def test_duration(ended_after_s, timed, expected):
    ended = None if ended_after_s is None else T0 + timedelta(seconds=ended_after_s)
    convs = conversations({"conversation_id": "c1", "ended_at": ended})
    out = derive_outcomes(
        convs, turns({"c1": RESOLVED}, timed=timed), workflows({}), config=OutcomeConfig()
    )
    assert out["duration_s"].to_list() == [expected]


def test_repeat_inside_the_window_marks_the_first_contact():
    convs = contacts(("a", "u1", 0), ("b", "u1", 3))
    assert repeats(convs, {"a": "refund", "b": "refund"}) == [
        ("a", True, 3.0),
        ("b", False, None),
    ]


@pytest.mark.parametrize(
    ("gap_days", "expected"),
    [
        (1.5, [("a", True, 1.5), ("b", False, None)]),
        (7, [("a", True, 7.0), ("b", False, None)]),  # the window is inclusive
        (7 + 1 / 86400, [("a", False, None), ("b", False, None)]),  # one second outside
        (30, [("a", False, None), ("b", False, None)]),
    ],
)
def test_repeat_window_edges(gap_days, expected):
    convs = contacts(("a", "u1", 0), ("b", "u1", gap_days))
    assert repeats(convs, {"a": "w", "b": "w"}) == expected


def test_repeat_days_is_configurable():
    convs = contacts(("a", "u1", 0), ("b", "u1", 3))
    assert repeats(convs, {"a": "w", "b": "w"}, repeat_days=2) == [
        ("a", False, None),
        ("b", False, None),
    ]


@pytest.mark.parametrize(
    ("rows", "flows"),
    [
        ([("a", "u1", 0), ("b", "u1", 1)], {"a": "refund", "b": "billing"}),  # other workflow
        ([("a", "u1", 0), ("b", "u2", 1)], {"a": "w", "b": "w"}),  # other customer
        ([("a", None, 0), ("b", None, 1)], {"a": "w", "b": "w"}),  # no customer
        ([("a", "u1", 0), ("b", "u1", 1)], {"a": None, "b": None}),  # no workflow
        ([("a", "u1", 0), ("b", "u1", 1)], {}),  # not in the workflows frame
    ],
)
def test_no_repeat(rows, flows):
    assert repeats(contacts(*rows), flows) == [("a", False, None), ("b", False, None)]


def test_chained_contacts_mark_all_but_the_last():
    # given out of time order; output keeps the input order
    convs = contacts(("c", "u1", 4), ("a", "u1", 0), ("x", "u2", 1), ("b", "u1", 2))
    assert repeats(convs, {"a": "w", "b": "w", "c": "w", "x": "w"}) == [
        ("c", False, None),
        ("a", True, 2.0),
        ("x", False, None),
        ("b", True, 2.0),
    ]


def test_repeat_uses_the_first_turn_when_started_at_is_missing():
    convs = conversations(
        {"conversation_id": "a", "started_at": None},
        {"conversation_id": "b", "started_at": T0 + timedelta(days=2)},
    )
    out = derive(convs, {"a": RESOLVED}, {"a": "w", "b": "w"})  # a's first turn is at T0
    assert out.select("conversation_id", "repeat_gap_days").rows() == [("a", 2.0), ("b", None)]
