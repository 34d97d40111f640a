"""A bundle's evidence: decision table, tools, decision points, gates, monitors, EVIDENCE.md."""

import dataclasses

import polars as pl
import pytest

from pipeline.playbook.bundle import (
    decision_points,
    evidence_markdown,
    monitors,
    observed,
    proposed_gates,
)
from pipeline.sops.model import Risk, Sop, Step, content_hash

REFUND = Sop(
    "refund", 2, ("refund",),
    (Step("greet", kind="management"), Step("verify", action="crm.verify"),
     Step("refund_money", action="billing.refund", after=("verify",)),
     Step("confirm", mandatory=False, after=("refund_money",))),
    risk=Risk(moves_money=True),
)  # fmt: skip


def events():
    rows = []
    for i in range(10):
        cid = f"c{i}"
        rows.append((cid, "verify", "crm.verify", "ok"))
        if i < 8:  # two conversations stop before the refund
            rows.append((cid, "refund_money", "billing.refund", "failed" if i < 2 else "ok"))
        if i < 4:
            rows.append((cid, "confirm", None, None))
    return pl.DataFrame(rows, schema=["conversation_id", "step_id", "action_name",
                                      "action_status"], orient="row")  # fmt: skip


EDGES = pl.DataFrame({"src": ["verify", "verify", "refund_money", "refund_money", "refund_money"],
                      "dst": ["refund_money", "■", "confirm", "■", "greet"],
                      "n": [8, 2, 4, 3, 1]})  # fmt: skip


def test_observed_gives_each_process_step_its_decision_share_and_tools():
    seen = observed(REFUND, events(), EDGES, tier="autonomous", branch_share=0.2)
    assert seen["conversations"] == 10 and seen["content_hash"] == content_hash(REFUND)
    assert list(seen["steps"]) == ["verify", "refund_money", "confirm"]  # management left out
    assert seen["steps"]["refund_money"] == {
        "decision": "mandatory", "performed_share": 0.8,
        "tools": [{"name": "billing.refund", "share_of_calls": 1.0, "failure_rate": 0.25}],
    }  # fmt: skip
    assert seen["steps"]["confirm"] == {"decision": "discretionary", "performed_share": 0.4}


def test_decision_points_are_splits_between_steps_or_the_end():
    points = decision_points(EDGES, {"verify", "refund_money", "confirm"}, branch_share=0.2)
    # verify's exits: 80% refund, 20% end; refund_money's: confirm 4/7, end 3/7 (greet is no step)
    assert points == {"verify": {"refund_money": 0.8, "end": 0.2},
                      "refund_money": {"confirm": pytest.approx(0.5714, abs=1e-4),
                                       "end": pytest.approx(0.4286, abs=1e-4)}}  # fmt: skip
    assert decision_points(EDGES, {"verify"}, branch_share=0.5) == {}


def test_a_gate_is_proposed_before_the_acting_step_of_a_risky_workflow_without_one():
    (gate,) = proposed_gates(REFUND, "autonomous")
    assert (gate["before"], gate["tool"]) == ("refund_money", "billing.refund")
    assert gate["reason"].startswith("the workflow moves money")
    safe = dataclasses.replace(REFUND, risk=Risk())
    assert proposed_gates(safe, "autonomous") == []
    assert "readiness tier is 'agent with human approval'" in proposed_gates(
        safe, "agent with human approval")[0]["reason"]  # fmt: skip
    gated = dataclasses.replace(REFUND, steps=(*REFUND.steps, Step("approve", when="amount > 9")))
    assert proposed_gates(gated, "autonomous") == []  # its own gate stands


def test_monitors_band_each_rate_by_min_effect_or_its_noise():
    outcomes = pl.DataFrame({"resolved": [True] * 9 + [False], "escalated": [False] * 10,
                             "repeat_contact": [False] * 10})  # fmt: skip
    watch = monitors(REFUND, events(), outcomes, weeks=1.0, min_effect=0.1)
    refund = watch["steps"]["refund_money"]
    width = 2 * (0.8 * 0.2 / 10) ** 0.5  # the noise of a week of 10 beats min_effect
    assert refund == {"expected": 0.8, "alert_below": round(0.8 - width, 4), "alert_above": 1.0}
    assert watch["kpis"]["resolution"]["expected"] == 0.9
    assert watch["kpis"]["failed_tool_calls"]["expected"] == pytest.approx(2 / 18, abs=1e-4)
    assert watch["conversations_per_week"] == 10.0 and "greet" not in watch["steps"]


def test_evidence_says_it_in_words():
    seen = observed(REFUND, events(), EDGES, tier=None, branch_share=0.2)
    text = evidence_markdown(
        REFUND, seen, outcome_shares={"resolved": 0.9},
        readiness={"score": 71.2, "low": 68.0, "high": 74.9, "tier": "autonomous",
                   "reasons": ["few escalations"]},
        variants=[(["verify", "refund_money"], 0.6)], findings=["Since 2026-01-05, ..."],
        n_cases={"golden": 2, "deviation": 1},
    )  # fmt: skip
    assert text.startswith("# Evidence for refund (playbook version 2)\n")
    for said in ("Conversations analysed: 10.", "resolved 90%", "Readiness: 71 (interval 68 to 75)",
                 "refund_money: mandatory, done in 80% of conversations; calls billing.refund "
                 "(100% of its calls, 25% failed).", "After verify: refund_money 80%, end 20%.",
                 "Before refund_money: the workflow moves money", "60%: verify > refund_money",
                 "2 golden cases and 1 known deviations"):  # fmt: skip
        assert said in text, said
