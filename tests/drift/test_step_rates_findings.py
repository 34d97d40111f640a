"""Drift on every documented step, one finding per deviation, outcomes where the step was due."""

import json

import polars as pl
from drift.step_rates_cases import SOPS, calls, config, drift, frames, impact, rates

from pipeline.drift.step_rates import find_drift


def test_an_optional_step_that_agents_stop_doing_is_a_finding():
    cases = calls(10, 0) + calls(7, 1, skipped=["send_confirmation"]) + calls(3, 1)
    found = rates(drift(cases), "skipped")
    assert found.select("step", "rate", "baseline", "flagged").rows() == [
        ("send_confirmation", 0.7, 0.0, True)
    ]
    assert found["sentence"][0].startswith(
        "Since 2026-03-09, agents skip *send confirmation* in 70% of refund conversations"
    )


def test_a_team_finding_nests_under_the_workflow_finding_it_explains():
    cases = (calls(10, 0, team="north") + calls(10, 0, team="south") + calls(10, 1, team="north")
             + calls(6, 1, team="south", missing=["verify_identity"])
             + calls(4, 1, team="south"))  # fmt: skip
    found = rates(drift(cases, breakdown=("team",))).filter("flagged")
    wide, team = found.row(0, named=True), found.row(1, named=True)
    assert (wide["team"], team["team"]) == (None, "south")
    assert json.loads(team["details"])["parent"] == wide["finding_id"]
    assert "parent" not in json.loads(wide["details"])


def test_skipping_a_step_is_compared_only_among_conversations_that_reached_it():
    # 20 escalated before verifying (they did nothing else): they did not skip it, and
    # counting them would make skipping look harmful; 10 skip it and go on, 20 do it.
    cases = (calls(20, 0, missing=["verify_identity", "update_address", "send_confirmation"],
                   escalated=True)
             + calls(10, 0, missing=["verify_identity"])
             + calls(20, 0))  # fmt: skip
    conformance, outcomes, conversations = frames(cases)
    done = {"verify_identity": range(30, 50), "update_address": range(20, 50),
            "send_confirmation": range(20, 50)}  # fmt: skip
    events = pl.DataFrame(
        [(f"c{i:03d}", step, "refund") for step, rows in done.items() for i in rows],
        schema=["conversation_id", "step_id", "sop_id"],
        orient="row",
    )
    naive = impact(find_drift(conformance, outcomes, conversations, SOPS, config=config()),
                   "escalated").filter(pl.col("step") == "verify_identity")  # fmt: skip
    assert naive.select("n", "n_baseline", "outcome_deviating").rows() == [(30, 20, 20 / 30)]
    reached = find_drift(conformance, outcomes, conversations, SOPS, config=config(),
                         step_events=events)  # fmt: skip
    fair = reached.filter((pl.col("kind") == "outcome_impact") & (pl.col("step") ==
                                                                  "verify_identity"))  # fmt: skip
    assert fair.height == 0  # 10 vs 20, none escalated on either side: nothing to test
    also = impact(reached, "escalated").filter(pl.col("step") == "update_address")
    assert also.height == 0  # the early escalations reached no later step either


def test_one_deviations_impacts_on_several_metrics_are_one_printed_finding():
    # skipping verification costs resolution and brings escalation: two metrics, one deviation
    cases = (calls(20, 0, missing=["verify_identity"], escalated=True, resolved=False)
             + calls(20, 0))  # fmt: skip
    found = drift(cases).filter(pl.col("flagged") & (pl.col("kind") == "outcome_impact"))
    assert sorted(found["metric"].to_list()) == ["escalated", "resolved"]
    parents = [json.loads(d).get("parent") for d in found["details"]]
    assert sorted(p is None for p in parents) == [False, True]
    head = found.filter(pl.Series(parents).is_null())["finding_id"][0]
    assert [p for p in parents if p is not None] == [head]
