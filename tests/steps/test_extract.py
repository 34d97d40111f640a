"""Step extraction: the SOP library, scores, SOP choice, decoding, discovery, contracts.

A bag-of-words embedder stands in for the sentence model: cosine tracks shared words,
which is what these tests need (benchmarks/eval_steps.py runs the real model).
"""

import numpy as np
import polars as pl
import pytest
from fake_embedders import WordsEmbedder
from steps.extract_cases import (
    BALANCE,
    BALANCE_CALL,
    FRAUD,
    NAMES,
    ON_SCRIPT,
    PLACES,
    _family_calls,
    conversation,
    frame,
    steps_of,
)

from pipeline.errors import SchemaError
from pipeline.steps.clusters import cluster_turns
from pipeline.steps.events import SOURCES, STEP_EVENTS_SCHEMA
from pipeline.steps.extract import extract_steps
from pipeline.steps.step_types import STEP_TYPES_SCHEMA


def test_turns_and_actions_become_steps_templates_bindings_and_other():
    events, types = extract_steps(frame(BALANCE_CALL), [BALANCE], embedder=WordsEmbedder(),
                                  threshold=0.5)  # fmt: skip
    assert events["turn_idx"].to_list() == [1, 3, 4, 5, 6, 7]  # agent turns and actions
    assert steps_of(events, "c1") == [
        "ask_account", "lookup", "bank.result", "inform_balance", "other", "closing",
    ]  # fmt: skip
    assert events["source"].to_list() == ["sop", "sop", "action", "sop", "other", "sop"]
    confidence = dict(zip(events["step_id"], events["confidence"], strict=True))
    assert confidence["inform_balance"] == 1.0  # the template is filled
    assert confidence["lookup"] == 1.0
    assert confidence["other"] is None
    assert events["sop_id"].unique().to_list() == ["balance"]
    row = types.filter(pl.col("step_id") == "inform_balance").row(0, named=True)
    assert row["sop_id"] == "balance"
    assert row["exemplar"] == "Your balance is 1,250 dollars."
    assert row["sop_steps"] == ["balance/inform_balance"]


def test_an_off_script_turn_is_not_forced_onto_a_step():
    call = conversation(
        "c1",
        ("agent", "Can you tell me your account number?"),
        ("agent", "Tell me about your weekend plans"),  # shares words, not the step
        ("action", "bank.lookup"),
    )
    events, _ = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    assert steps_of(events, "c1") == ["ask_account", "other", "lookup"]


def test_repeats_of_a_step_are_flagged():
    call = conversation(
        "c1",
        ("agent", "Can you tell me your account number?"),
        ("customer", "sorry?"),
        ("agent", "Can you tell me your account number?"),
        ("action", "bank.lookup"),
    )
    events, _ = extract_steps(frame(call), [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    assert events["is_repeat"].to_list() == [False, True, False]


def test_unguided_turns_cluster_into_labelled_step_types():
    families = [
        lambda i: ("agent", f"May I have your full name please {NAMES[i % 10]}"),
        lambda i: ("agent", f"Your taxi to {PLACES[i % 10]} arrives in {i % 7 + 2} minutes"),
        lambda i: ("agent", f"Please rate our driver {NAMES[(i + 3) % 10]} from one to five"),
    ]
    calls = frame(*_family_calls(30, families))
    events, types = extract_steps(calls, [], embedder=WordsEmbedder())
    by_turn = events.pivot(on="turn_idx", index="conversation_id", values="step_id")
    ids = [by_turn[str(t)].unique().to_list() for t in range(3)]
    assert all(len(i) == 1 for i in ids) and len({i[0] for i in ids}) == 3
    assert events["sop_id"].null_count() == events.height
    assert set(events["source"]) == {"discovered"}
    found = types.filter(pl.col("step_id") == ids[1][0]).row(0, named=True)
    assert found["source"] == "discovered" and found["n_events"] == 30
    assert (
        found["label"] == "taxi to bern arrives in 3 minutes"
    )  # the span of a turn holding its key terms
    assert found["exemplar"] == "Your taxi to kyoto arrives in 6 minutes"


def test_recurring_off_script_turns_of_a_sop_become_discovered_steps():
    families = [
        *ON_SCRIPT,
        lambda i: ("agent", f"I will transfer you to the fraud desk in {PLACES[i % 10]} now"),
        lambda i: ("agent", f"Our branch in {PLACES[(i + 4) % 10]} opens at nine on weekdays"),
        lambda i: ("agent", "Thank you and goodbye."),
    ]
    calls = frame(*_family_calls(30, families))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    by_turn = events.pivot(on="turn_idx", index="conversation_id", values="step_id")
    assert [by_turn[str(t)].unique().item() for t in range(3)] == [
        "ask_account", "lookup", "inform_balance",
    ]  # fmt: skip
    discovered = {by_turn["3"].unique().item(), by_turn["4"].unique().item()}
    assert discovered == {"d_balance_0", "d_balance_1"}
    assert by_turn["5"].unique().item() == "closing"
    assert set(types.filter(pl.col("source") == "discovered")["sop_id"]) == {"balance"}
    none, _ = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                            discover=False)  # fmt: skip
    assert set(none.filter(pl.col("turn_idx").is_in([3, 4]))["step_id"]) == {"other"}


def test_recurring_off_script_talk_that_ends_the_calls_is_their_closing():
    # "cheerio ..." shares no word with the generic closings, so it scores as off-script;
    # being the last agent utterance of the calls makes its cluster the closing role
    families = [
        *ON_SCRIPT,
        lambda i: ("agent", f"Cheerio now, mind how you go {NAMES[i % 2]}"),
    ]
    calls = frame(*_family_calls(30, families))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    last = events.filter(pl.col("turn_idx") == 3)
    assert set(last["step_id"]) == {"closing"} and set(last["source"]) == {"sop"}
    assert not types.filter(pl.col("source") == "discovered").height


def test_cluster_turns_needs_enough_turns():
    vectors = WordsEmbedder().encode(["hello there"] * 5)
    found = cluster_turns([str(i) for i in range(5)], ["hello there"] * 5, vectors,
                          ["c"] * 5)  # fmt: skip
    assert found.labels.tolist() == [-1] * 5 and found.descriptions == []


def test_the_frames_keep_their_contract():
    calls = frame(BALANCE_CALL, conversation("c2", ("customer", "hi"), ("agent", "Hello")))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.5)
    assert events.schema == STEP_EVENTS_SCHEMA
    assert types.schema == STEP_TYPES_SCHEMA
    agent_or_action = calls.filter(
        (pl.col("speaker") == "agent") | (pl.col("event_type") == "action")
    )
    assert events.height == agent_or_action.height
    assert not events.select("conversation_id", "seq").is_duplicated().any()
    assert events["step_id"].null_count() == 0
    assert set(events["source"]) <= set(SOURCES)
    assert set(types["step_id"]) == set(events["step_id"])
    counts = dict(events.group_by("step_id").len().iter_rows())
    assert dict(types.select("step_id", "n_events").iter_rows()) == counts


def test_no_agent_turns_give_empty_frames():
    calls = frame(conversation("c1", ("customer", "hello?")))
    events, types = extract_steps(calls, [BALANCE], embedder=WordsEmbedder())
    assert events.is_empty() and events.schema == STEP_EVENTS_SCHEMA
    assert types.is_empty() and types.schema == STEP_TYPES_SCHEMA


def test_extraction_does_not_modify_its_input():
    calls = frame(BALANCE_CALL)
    before = calls.clone()
    sops = [BALANCE, FRAUD]
    extract_steps(calls, sops, embedder=WordsEmbedder(), threshold=0.5)
    assert calls.equals(before)
    assert sops == [BALANCE, FRAUD]


def test_each_distinct_text_is_encoded_in_one_call():
    embedder = WordsEmbedder()
    calls = frame(BALANCE_CALL, conversation("c2", *[("agent", "Thank you and goodbye.")] * 3))
    extract_steps(calls, [BALANCE], embedder=embedder, threshold=0.5)
    assert embedder.calls == 1


def test_a_turns_frame_without_a_column_is_a_schema_error():
    with pytest.raises(SchemaError, match="action_name"):
        extract_steps(frame(BALANCE_CALL).drop("action_name"), [], embedder=WordsEmbedder())


@pytest.mark.parametrize(
    "option", [{"min_explained": 1.5}, {"threshold": -0.1}, {"edge_role_share": 1.5}]
)
def test_settings_out_of_range_are_rejected(option):
    with pytest.raises(ValueError, match=next(iter(option))):
        extract_steps(frame(BALANCE_CALL), [], embedder=WordsEmbedder(), **option)


@pytest.mark.parametrize(("share", "role"), [(0.5, True), (1.0, False)])
def test_edge_role_share_decides_when_a_cluster_at_the_calls_end_is_the_closing(share, role):
    # every "cheerio" turn ends its call: a share of 1.0, not more than 1.0
    families = [*ON_SCRIPT, lambda i: ("agent", f"Cheerio now, mind how you go {NAMES[i % 2]}")]
    calls = frame(*_family_calls(30, families))
    events, _ = extract_steps(calls, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                              edge_role_share=share)  # fmt: skip
    last = events.filter(pl.col("turn_idx") == 3)
    assert (set(last["step_id"]) == {"closing"}) is role
    assert set(last["source"]) == {"sop" if role else "discovered"}


def test_speakers_decide_whose_utterances_are_steps():
    call = conversation("c1", ("agent", "Can you tell me your account number?"),
                        ("customer", "It is 12345"))  # fmt: skip
    bot = frame(call).with_columns(
        speaker=pl.when(pl.col("speaker") == "agent").then(pl.lit("bot")).otherwise("speaker")
    )
    both, _ = extract_steps(bot, [BALANCE], embedder=WordsEmbedder(), threshold=0.6)
    agents, _ = extract_steps(bot, [BALANCE], embedder=WordsEmbedder(), threshold=0.6,
                              speakers=("agent",))  # fmt: skip
    assert (steps_of(both, "c1"), agents.height) == (["ask_account"], 0)


def test_extraction_does_not_modify_its_requests():
    frame_ = pl.DataFrame({"conversation_id": ["c1"]})
    vectors = WordsEmbedder().encode(["I want to know my balance"])
    before = (frame_.clone(), vectors.copy())
    extract_steps(frame(BALANCE_CALL), [BALANCE], embedder=WordsEmbedder(), threshold=0.5,
                  requests=(frame_, vectors), neighbours=1)  # fmt: skip
    assert frame_.equals(before[0]) and np.array_equal(vectors, before[1])
