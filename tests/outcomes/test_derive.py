from datetime import UTC, datetime, timedelta

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline import migrations, schema
from pipeline.config import OutcomeConfig
from pipeline.errors import ConfigError, SchemaError
from pipeline.outcomes.derive import derive_outcomes

T0 = datetime(2026, 3, 2, 10, tzinfo=UTC)
TIME = pl.Datetime("us", "UTC")
CONVERSATION_SCHEMA = {
    "conversation_id": pl.String,
    "team": pl.String,
    "customer_hash": pl.String,
    "started_at": TIME,
    "ended_at": TIME,
    "outcome": pl.String,
}
TURN_SCHEMA = {
    "conversation_id": pl.String,
    "turn_idx": pl.Int32,
    "speaker": pl.String,
    "event_type": pl.String,
    "text": pl.String,
    "action_name": pl.String,
    "action_status": pl.String,
    "ts": TIME,
}
WORKFLOW_SCHEMA = {"conversation_id": pl.String, "workflow_id": pl.String}

# Transcripts as (speaker, text); a text starting with "!" is an action event of that name,
# "!name:failed" one with that status.
RESOLVED = [
    ("agent", "hello, thanks for calling, how can I help?"),
    ("customer", "where is my parcel?"),
    ("agent", "it ships today. Is there anything else?"),
    ("customer", "no, thanks"),
]


def conversations(*rows: dict) -> pl.DataFrame:
    """Conversations from dicts; an id, team "t", customer "u1", start T0, no outcome."""
    defaults = {"team": "t", "customer_hash": "u1", "started_at": T0, "ended_at": None}
    full = [{**defaults, "outcome": None, **row} for row in rows]
    return pl.DataFrame(full, schema=CONVERSATION_SCHEMA)


def turns(transcripts: dict[str, list[tuple[str, str]]], *, timed: bool = True) -> pl.DataFrame:
    """Turn rows of each conversation, 10 s apart from T0 (no ts when not ``timed``)."""
    rows = []
    for cid, transcript in transcripts.items():
        for idx, (speaker, text) in enumerate(transcript):
            action, _, status = text[1:].partition(":") if text.startswith("!") else (None,) * 3
            rows.append(
                {
                    "conversation_id": cid,
                    "turn_idx": idx,
                    "speaker": speaker,
                    "event_type": "action" if action else "utterance",
                    "text": None if action else text,
                    "action_name": action,
                    "action_status": status or None,
                    "ts": T0 + timedelta(seconds=10 * idx) if timed else None,
                }
            )
    return pl.DataFrame(rows, schema=TURN_SCHEMA)


def workflows(mapping: dict[str, str | None]) -> pl.DataFrame:
    return pl.DataFrame(
        {"conversation_id": list(mapping), "workflow_id": list(mapping.values())},
        schema=WORKFLOW_SCHEMA,
    )


def derive(convs, transcripts=None, flows=None, **config) -> pl.DataFrame:
    transcripts = transcripts if transcripts is not None else {}
    flows = flows if flows is not None else {}
    return derive_outcomes(
        convs, turns(transcripts), workflows(flows), config=OutcomeConfig(**config)
    )


def derived_outcome(transcript, **config) -> str:
    out = derive(conversations({"conversation_id": "c1"}), {"c1": transcript}, **config)
    assert out["outcome_source"].to_list() == ["derived"]
    return out["outcome"].item()


# ---------------------------------------------------------------- the table contract


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


# ---------------------------------------------------------------- the data's outcome


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


# ---------------------------------------------------------------- derived outcomes


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


# ---------------------------------------------------------------- counts and durations


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


# ---------------------------------------------------------------- repeat contacts


def contacts(*rows) -> pl.DataFrame:
    """Conversations from (id, customer, days after T0)."""
    return conversations(
        *(
            {
                "conversation_id": cid,
                "customer_hash": customer,
                "started_at": T0 + timedelta(days=d),
            }
            for cid, customer, d in rows
        )
    )


def repeats(convs, flows, **config) -> list[tuple]:
    out = derive(convs, {}, flows, **config)
    return out.select("conversation_id", "repeat_contact", "repeat_gap_days").rows()


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


# ---------------------------------------------------------------- inputs


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


# ---------------------------------------------------------------- config


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
