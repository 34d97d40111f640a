"""The conversations behind each readiness reason (``pipeline.readiness.examples``)."""

from __future__ import annotations

import json

import polars as pl
import pytest
from drift.conformance_cases import SOPS, log
from readiness.score_cases import PERFECT

from pipeline.drift.conformance import check_conformance
from pipeline.readiness.examples import find_readiness_examples, reason_components
from pipeline.readiness.inputs import CONVERSATION_SCHEMA

DETAILS = {
    "volume": "12 conversations",
    "escalation": "40% of calls escalated or transferred",
    "resolution": "60% of calls resolved",
    "repeat_contact": "20% of calls followed by a repeat contact",
    "exceptions": "50% of calls with undocumented steps, off-script turns or failed system calls",
    "conformance": "mean fitness 0.70 against the documented SOP",
    "standardisation": "1 of 3 variants cover 80% of calls",
    "risk": "moves money, without an approval step in the SOP",
}
REASONS = {  # how score_readiness words them: what lifts or sinks, the detail, the points
    "volume": "low volume: 12 conversations (-2.0 points)",
    "escalation": "many escalations: 40% of calls escalated or transferred (-3.1 points)",
    "resolution": "low resolution: 60% of calls resolved (-2.2 points)",
    "repeat_contact": "many repeat contacts: 20% of calls followed by a repeat contact (-1.0 "
    "points)",
    "exceptions": "many exceptions: 50% of calls with undocumented steps, off-script turns or "
    "failed system calls (-4.0 points)",
    "conformance": "low SOP conformance: mean fitness 0.70 against the documented SOP (-2.5 "
    "points)",
    "standardisation": "high standardisation: 1 of 3 variants cover 80% of calls (+1.0 points)",
    "risk": "high risk: moves money, without an approval step in the SOP (-5.0 points)",
}


def ranking(*components, workflow="refund"):
    parts = {name: {"value": 0.5, "weight": 1.0, "contribution": 1.0, "detail": detail}
             for name, detail in DETAILS.items()}  # fmt: skip
    return pl.DataFrame({"workflow_id": [workflow], "components": [json.dumps(parts)],
                         "reasons": [[REASONS[c] for c in components]]})  # fmt: skip


def calls(*cases):
    """(id, trace, fields): step events, conformance, readiness conversations, outcomes."""
    events = log(*[(cid, "refund", trace) for cid, trace, _ in cases])
    conformance = check_conformance(events, SOPS, ignore=("other", "bye"))
    fitness = dict(zip(conformance["conversation_id"], conformance["fitness"], strict=True))
    rows = [PERFECT | {"conversation_id": cid, "workflow_id": "refund", "intent_id": "i1",
                       "fitness": fitness[cid], "n_agent_turns": len(trace)} | fields
            for cid, trace, fields in cases]  # fmt: skip
    conversations = pl.DataFrame(rows, schema=CONVERSATION_SCHEMA)
    outcomes = conversations.select(
        "conversation_id", "n_agent_turns", "repeat_contact",
        outcome=pl.when("escalated").then(pl.lit("escalated")).when("resolved")
        .then(pl.lit("resolved")).otherwise(pl.lit("abandoned")),
        repeat_gap_days=pl.when("repeat_contact").then(pl.lit(2.5)),
    )  # fmt: skip
    return conversations, outcomes, conformance, events


def examples(readiness, cases, **kwargs):
    frames = calls(*cases)
    return find_readiness_examples(readiness, *frames, list(SOPS.values()),
                                   ignore=("other", "bye"), **kwargs)  # fmt: skip


def picked(frame, component):
    part = frame.filter(pl.col("component") == component)
    return dict(zip(part["conversation_id"], zip(part["turn_idx"], part["why"], strict=True),
                    strict=True))  # fmt: skip


FULL = ["verify", "lookup", "refund", "bye"]  # bye: a closing, no process step


def test_each_reason_is_about_the_component_whose_detail_it_quotes():
    found = reason_components(ranking("escalation", "risk", "exceptions"))
    assert found.rows() == [("refund", "escalation", REASONS["escalation"]),
                            ("refund", "risk", REASONS["risk"]),
                            ("refund", "exceptions", REASONS["exceptions"])]  # fmt: skip


@pytest.mark.parametrize(
    ("component", "fields", "why"),
    [
        ("escalation", {"escalated": True}, "escalated or transferred (outcome: escalated)"),
        ("resolution", {"resolved": False}, "not resolved (outcome: abandoned)"),
        ("repeat_contact", {"repeat_contact": True}, "the customer came back 2.5 days later"),
    ],
)  # fmt: skip
def test_outcome_reasons_show_where_those_conversations_were_left(component, fields, why):
    found = examples(ranking(component), [("hit", FULL, fields), ("fine", FULL, {})])
    # the last process step, refund at turn 5, not the closing after it
    assert picked(found, component) == {"hit": (5, f"{why}; its last step at turn 5")}


def test_exceptions_show_the_first_failed_call_off_script_turn_or_undocumented_step():
    failed = pl.DataFrame({"conversation_id": ["f"], "turn_idx": [4],
                           "action_name": ["billing.refund"]})  # fmt: skip
    found = examples(
        ranking("exceptions"),
        [("f", ["verify", "lookup", "other", "refund"], {"has_exception": True}),
         ("u", ["verify", "d_x", "lookup", "refund"], {"has_exception": True}),
         ("fine", FULL, {})],
        failed=failed, step_names={"d_x": "store credit"},
    )  # fmt: skip
    assert picked(found, "exceptions") == {
        "f": (4, "a failed system call (billing.refund) at turn 4"),  # before the other, turn 5
        "u": (3, "undocumented step 'store credit' (d_x) at turn 3"),
    }


def test_conformance_shows_the_deviation_that_costs_the_most_fitness():
    # two skip verify (2 x 1) against three with an undocumented step (3 x 0.5)
    cases = [("m1", ["lookup", "refund"], {}), ("m2", ["lookup", "refund"], {}),
             ("x1", ["verify", "d_x", "lookup", "refund"], {}),
             ("x2", ["verify", "d_x", "lookup", "refund"], {}),
             ("x3", ["verify", "d_x", "lookup", "refund"], {}), ("ok", FULL, {})]  # fmt: skip
    found = examples(ranking("conformance"), cases)
    why = ("the costliest departure from the SOP (in 2 of 5 calls below full fitness): no verify "
           "step; lookup was done where it was due")  # fmt: skip
    assert picked(found, "conformance") == {"m1": (1, why), "m2": (1, why)}
    heavier = examples(ranking("conformance"), cases, undocumented_weight=1.0)
    assert set(picked(heavier, "conformance")) == {"x1", "x2", "x3"}


def test_standardisation_shows_where_a_rare_path_leaves_the_common_one():
    common = [(f"c{i}", FULL, {"variant_id": "usual"}) for i in range(5)]
    rare = ("r", ["verify", "refund", "lookup", "bye"], {"variant_id": "odd"})
    found = examples(ranking("standardisation"), [*common, rare])
    assert picked(found, "standardisation") == {
        "r": (3, "a rare path (its variant in 1 of 6 calls; 1 of 2 variants cover 80%): refund "
                 "at turn 3, where the usual path has lookup")}  # fmt: skip


def test_reasons_not_about_conversations_get_no_examples():
    cases = [("hit", FULL, {"escalated": True})]
    assert examples(ranking("risk", "volume"), cases).is_empty()
    assert examples(ranking(), cases).is_empty()  # no reasons at all


def test_at_most_three_typical_examples_a_reason():
    cases = [(f"e{i}", FULL + ["bye"] * i, {"escalated": True}) for i in range(7)]
    found = examples(ranking("escalation"), cases)
    assert found["rank"].to_list() == [1, 2, 3]
    assert found["conversation_id"][0] == "e3"  # the median length


def test_readiness_examples_do_not_modify_their_inputs():
    frames = calls(("hit", FULL, {"escalated": True}), ("u", ["d_x"], {"has_exception": True}))
    readiness = ranking("escalation", "exceptions")
    copies = [f.clone() for f in (readiness, *frames)]
    find_readiness_examples(readiness, *frames, list(SOPS.values()))
    assert all(a.equals(b) for a, b in zip(copies, (readiness, *frames), strict=True))
