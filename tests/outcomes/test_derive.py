"""Outcomes: the table contract, the data's outcome, derived outcomes, inputs and config."""

from datetime import timedelta

import duckdb
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
from polars.testing import assert_frame_equal

from pipeline import migrations, schema
from pipeline.config import OutcomeConfig
from pipeline.errors import ConfigError, SchemaError
from pipeline.outcomes.derive import derive_outcomes


def derived_outcome(transcript, **config) -> str:
    out = derive(conversations({"conversation_id": "c1"}), {"c1": transcript}, **config)
    assert out["outcome_source"].to_list() == ["derived"]
    return out["outcome"].item()


def test_output_is_the_outcomes_contract_and_duckdb_takes_it():
    out = derive(
        conversations({"conversation_id": "c1", "ended_at": T0 + timedelta(minutes=2)}),
        {"c1": RESOLVED},
        {"c1": "refund"},
    )
    assert out.columns == schema.batch_columns(schema.OUTCOMES)
    expected = pl.DataFrame(
        {
            "conversation_id": ["c1"],
            "workflow_id": ["refund"],
            "outcome": ["resolved"],
            "outcome_source": ["derived"],
            "escalated": [False],
            "resolved": [True],
            "repeat_contact": [False],
            "repeat_gap_days": [None],
            "n_agent_turns": [2],
            "failed_actions": [0],
            "duration_s": [120.0],
        },
        schema_overrides={
            "repeat_gap_days": pl.Float64,
            "n_agent_turns": pl.Int32,
            "failed_actions": pl.Int32,
        },
    )
    assert_frame_equal(out, expected)
    con = duckdb.connect()
    *_, create = [
        s for v in sorted(migrations.MIGRATIONS) for s in migrations.MIGRATIONS[v]
        if f"table {schema.OUTCOMES} (" in s
    ]  # fmt: skip
    con.execute(create)
    con.register("batch", out.to_arrow())
    con.execute(f"insert into {schema.OUTCOMES} select *, 'run-1' from batch")
    assert con.execute(f"select outcome, n_agent_turns from {schema.OUTCOMES}").fetchall() == [
        ("resolved", 2)
    ]


def test_outcomes_are_accepted_values_and_keys_unique():
    convs = conversations(
        {"conversation_id": "c1", "outcome": "resolved"},
        {"conversation_id": "c2", "outcome": "callback booked"},
        {"conversation_id": "c3"},
        {"conversation_id": "c4"},
    )
    out = derive(convs, {"c1": RESOLVED, "c3": [("customer", "hello?")]})
    assert set(out["outcome"]) <= set(schema.OUTCOME_VALUES)
    assert set(out["outcome_source"]) <= set(schema.OUTCOME_SOURCES)
    assert out["conversation_id"].is_unique().all()
    not_null = ["conversation_id", "outcome", "outcome_source", "escalated", "resolved",
                "repeat_contact", "n_agent_turns"]  # fmt: skip
    assert out.select(pl.col(not_null).null_count().sum()).row(0) == (0,) * len(not_null)


@pytest.mark.parametrize(
    ("value", "outcome", "source"),
    [
        ("resolved", "resolved", "data"),
        ("Resolved", "resolved", "data"),
        ("solved", "resolved", "data"),
        (" Completed ", "resolved", "data"),
        ("escalation", "escalated", "data"),
        ("ESCALATED", "escalated", "data"),
        ("transfer", "transferred", "data"),
        ("Hand-off", "transferred", "data"),
        ("abandon", "abandoned", "data"),
        ("Abandoned", "abandoned", "data"),
        ("hung up", "abandoned", "data"),
        ("timed-out", "abandoned", "data"),
        ("callback booked", "unknown", "data"),  # unrecognised: the data said something
        ("pending", "unknown", "data"),
        (None, "resolved", "derived"),  # absent: derived from RESOLVED
        ("", "resolved", "derived"),
        ("  ", "resolved", "derived"),
        ("unknown", "resolved", "derived"),
        ("N/A", "resolved", "derived"),
    ],
)
def test_data_outcome_is_normalised(value, outcome, source):
    out = derive(conversations({"conversation_id": "c1", "outcome": value}), {"c1": RESOLVED})
    assert out.select("outcome", "outcome_source").row(0) == (outcome, source)


def test_data_outcome_wins_over_the_transcript():
    transcript = [("customer", "hi"), ("agent", "I'm escalating this to a supervisor")]
    out = derive(
        conversations({"conversation_id": "c1", "outcome": "Resolved"}), {"c1": transcript}
    )
    assert out.select("outcome", "outcome_source").row(0) == ("resolved", "data")


@pytest.mark.parametrize(
    ("derive_", "outcome", "source"),
    [("auto", "escalated", "data"), ("always", "resolved", "derived")],
)
def test_derive_always_ignores_the_datas_outcome(derive_, outcome, source):
    out = derive(
        conversations({"conversation_id": "c1", "outcome": "Escalated"}),
        {"c1": RESOLVED},
        derive=derive_,
    )
    assert out.select("outcome", "outcome_source").row(0) == (outcome, source)


def test_outcome_aliases_extend_the_spellings_normalised():
    convs = conversations(
        {"conversation_id": "c1", "outcome": "Callback-Booked"},
        {"conversation_id": "c2", "outcome": "solved"},
    )
    out = derive(convs, outcome_aliases={"callback booked": "resolved", "solved": "unknown"})
    assert out["outcome"].to_list() == ["resolved", "unknown"]  # an alias overrides a built-in


@pytest.mark.parametrize(
    ("absent", "outcome", "source"),
    [((), "unknown", "data"), (("Not Recorded",), "resolved", "derived")],
)
def test_no_outcome_values_say_which_data_values_mean_none(absent, outcome, source):
    convs = conversations({"conversation_id": "c1", "outcome": "not-recorded"})
    out = derive(convs, {"c1": RESOLVED}, no_outcome_values=absent)
    assert out.select("outcome", "outcome_source").row(0) == (outcome, source)


@pytest.mark.parametrize(
    ("outcome", "escalated", "resolved"),
    [
        ("resolved", False, True),
        ("escalated", True, False),
        ("transferred", True, False),
        ("abandoned", False, False),
        ("callback", False, False),  # unknown
    ],
)
def test_escalated_and_resolved_flags(outcome, escalated, resolved):
    out = derive(conversations({"conversation_id": "c1", "outcome": outcome}))
    assert out.select("escalated", "resolved").row(0) == (escalated, resolved)


@pytest.mark.parametrize(
    ("transcript", "expected"),
    [
        # an escalation action, whatever else is said
        ([("customer", "my card is gone"), ("agent", "!Cases.Escalate"), *RESOLVED], "escalated"),
        # escalation wording by an agent or a bot, any case
        ([("customer", "it broke"), ("agent", "I am ESCALATING this now")], "escalated"),
        ([("customer", "it broke"), ("bot", "let me get a manager on the line")], "escalated"),
        # transfer action and wording
        ([("customer", "billing please"), ("agent", "!telephony.transfer_call")], "transferred"),
        ([("customer", "billing please"), ("agent", "I will transfer you now")], "transferred"),
        # a transfer or escalation that failed handed nobody on
        ([("customer", "billing please"), ("agent", "!contact.transfer:failed")], "abandoned"),
        ([("customer", "help"), ("agent", "!Cases.Escalate:failed"), *RESOLVED], "resolved"),
        # both: escalation is checked first
        ([("customer", "no"), ("agent", "let me transfer you to my supervisor")], "escalated"),
        # a customer asking for escalation is not one
        ([("customer", "please escalate this"), ("agent", "done, anything else?")], "resolved"),
        # an approval request is not an escalation
        ([("customer", "refund"), ("agent", "!approvals.request"),
          ("agent", "Approved: you're ALL SET, then.")], "resolved"),
        # no customer utterance at all
        ([("agent", "hello?"), ("agent", "!crm.lookup")], "abandoned"),
        ([], "abandoned"),
        # a closing by the agent
        (RESOLVED, "resolved"),
        ([("customer", "where is it?"), ("agent", "shipped. Have a great day!")], "resolved"),
        # the customer spoke last, nobody closed
        ([("customer", "where is it?"), ("agent", "let me check"), ("customer", "forget it")],
         "abandoned"),
        # the customer alone, nobody answered
        ([("customer", "hello?"), ("customer", "anyone there?")], "abandoned"),
        # a system message after the customer does not count as an answer
        ([("customer", "where?"), ("agent", "checking"), ("customer", "bye"),
          ("system", "customer left the chat")], "abandoned"),
        # the agent spoke last, no closing
        ([("customer", "where is it?"), ("agent", "it ships tomorrow")], "unknown"),
        # a greeting is not a closing ("thanks for calling" before the customer spoke)
        ([("agent", "thanks for calling, how can I help?"), ("customer", "where is it?")],
         "abandoned"),
        # a closing more than closing_turns (2) agent utterances before the end
        ([("customer", "q"), ("agent", "anything else?"), ("customer", "yes, one more"),
          ("agent", "let me look"), ("agent", "still looking")], "unknown"),
        # an action is not an agent utterance: the closing is still among the last two
        ([("customer", "q"), ("agent", "anything else?"), ("agent", "!notes.save"),
          ("agent", "!notes.close"), ("agent", "ok")], "resolved"),
    ],
)  # fmt: skip
def test_derived_outcome_rules(transcript, expected):
    assert derived_outcome(transcript) == expected


def test_min_customer_turns_is_configurable():
    transcript = [("customer", "where is it?"), ("agent", "shipped, anything else?")]
    assert derived_outcome(transcript, min_customer_turns=1) == "resolved"
    assert derived_outcome(transcript, min_customer_turns=2) == "abandoned"


def test_closing_turns_is_configurable():
    transcript = [("customer", "q"), ("agent", "anything else?"), ("agent", "a"), ("agent", "b")]
    assert derived_outcome(transcript, closing_turns=2) == "unknown"
    assert derived_outcome(transcript, closing_turns=3) == "resolved"


def test_words_and_phrases_come_from_config():
    transcript = [("customer", "q"), ("agent", "passing you to tier three"), ("agent", "cya")]
    assert derived_outcome(transcript) == "unknown"
    assert derived_outcome(transcript, escalation_phrases=("Tier Three",)) == "escalated"
    assert derived_outcome(transcript, closing_phrases=("cya",)) == "resolved"
    acted = [("customer", "q"), ("agent", "!crm.route_out"), ("agent", "one moment")]
    assert derived_outcome(acted, transfer_actions=("route_out",)) == "transferred"
    assert derived_outcome(acted, transfer_actions=()) == "unknown"


@pytest.mark.parametrize(
    ("said", "config", "expected"),
    [
        # wordings the default lists do not hold are not read as one of their outcomes
        ("let me ask my boss to step in", {}, "unknown"),
        ("our billing folks can take it from here", {}, "unknown"),
        ("cheerio then", {}, "unknown"),
        # the same wordings once a centre configures them (matched in any case)
        ("let me ask my boss to step in", {"escalation_phrases": ("MY BOSS",)}, "escalated"),
        ("our billing folks can take it from here",
         {"transfer_phrases": ("billing folks",)}, "transferred"),
        ("cheerio then", {"closing_phrases": ("cheerio",)}, "resolved"),
    ],
)  # fmt: skip
def test_phrases_match_only_the_configured_wordings(said, config, expected):
    assert derived_outcome([("customer", "q"), ("agent", said)], **config) == expected


def test_conversation_without_turns_and_turns_of_unknown_conversations():
    out = derive(
        conversations({"conversation_id": "c1"}),
        {"other": [("customer", "hi"), ("agent", "I'll escalate")]},
    )
    assert out.select("outcome", "outcome_source", "n_agent_turns", "duration_s").row(0) == (
        "abandoned",
        "derived",
        0,
        None,
    )


def test_naive_timestamps_are_taken_as_utc():
    convs = contacts(("a", "u1", 0), ("b", "u1", 1)).with_columns(
        pl.col("started_at", "ended_at").dt.replace_time_zone(None)
    )
    assert repeats(convs, {"a": "w", "b": "w"})[0] == ("a", True, 1.0)


def test_identical_workflow_rows_are_accepted():
    convs = contacts(("a", "u1", 0), ("b", "u1", 1))
    flows = pl.DataFrame({"conversation_id": ["a", "a", "b"], "workflow_id": ["w", "w", "w"]})
    out = derive_outcomes(convs, turns({}), flows, config=OutcomeConfig())
    assert out["repeat_contact"].to_list() == [True, False]


@pytest.mark.parametrize(
    ("convs", "flows", "message"),
    [
        (conversations({"conversation_id": "a"}).drop("outcome"), workflows({}),
         "conversations: expected columns .* missing outcome"),
        (conversations({"conversation_id": "a"}, {"conversation_id": "a"}), workflows({}),
         "conversations: expected one row per conversation_id, found 'a'"),
        (conversations({"conversation_id": "a"}),
         pl.DataFrame({"conversation_id": ["a", "a"], "workflow_id": ["w1", "w2"]}),
         "workflows: expected one row per conversation_id, found 'a'"),
        (conversations({"conversation_id": "a"}), pl.DataFrame({"conversation_id": ["a"]}),
         "workflows: expected columns .* missing workflow_id; pass a conversation_id -> "),
        (conversations({"conversation_id": "a"}).with_columns(pl.lit("2026-03-01").alias(
            "started_at")), workflows({}), "column started_at: expected a datetime, found String"),
    ],
)  # fmt: skip
def test_bad_input_is_a_schema_error(convs, flows, message):
    with pytest.raises(SchemaError, match=message):
        derive_outcomes(convs, turns({}), flows, config=OutcomeConfig())


@pytest.mark.parametrize("column", ["action_name", "action_status"])
def test_missing_turn_column_is_a_schema_error(column):
    with pytest.raises(SchemaError, match=f"turns: expected columns .* missing {column}"):
        derive_outcomes(
            conversations({"conversation_id": "a"}),
            turns({}).drop(column),
            workflows({}),
            config=OutcomeConfig(),
        )


def test_empty_input_gives_an_empty_contract_frame():
    out = derive_outcomes(conversations(), turns({}), workflows({}), config=OutcomeConfig())
    assert out.height == 0
    assert out.columns == schema.batch_columns(schema.OUTCOMES)
    assert out.schema["n_agent_turns"] == pl.Int32
    assert out.schema["failed_actions"] == pl.Int32
    assert out.schema["repeat_gap_days"] == pl.Float64


def test_does_not_modify_its_input():
    convs = contacts(("a", "u1", 0), ("b", "u1", 1)).with_columns(outcome=pl.lit("Solved"))
    turn_rows = turns({"a": RESOLVED, "b": [("customer", "q"), ("agent", "!crm.x:failed")]})
    flows = workflows({"a": "w", "b": "w"})
    before = (convs.clone(), turn_rows.clone(), flows.clone())
    derive_outcomes(convs, turn_rows, flows, config=OutcomeConfig())
    for frame, copy in zip((convs, turn_rows, flows), before, strict=True):
        assert_frame_equal(frame, copy)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"repeat_days": 0}, "outcomes.repeat_days: expected an integer >= 1, found 0"),
        ({"closing_turns": 0}, "outcomes.closing_turns: expected an integer >= 1, found 0"),
        ({"min_customer_turns": -1}, "outcomes.min_customer_turns: expected an integer >= 0"),
        ({"closing_phrases": ("bye", " ")}, "outcomes.closing_phrases: expected non-empty"),
        ({"outcome_aliases": {"done": "closed"}},
         "outcomes.outcome_aliases.done: expected one of resolved/.*, found 'closed'"),
    ],
)  # fmt: skip
def test_outcome_config_is_validated(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        OutcomeConfig(**kwargs)
