"""Readiness tiers: hard gates, the interval, rank stability and the reasons in words."""

import dataclasses
import math

import polars as pl
import pytest
from readiness.score_cases import (
    FAST,
    rows,
    sop,
)
from readiness.tier_cases import (
    components,
    inputs,
    only,
)

from pipeline.config import (
    DEFAULT_READINESS_WEIGHTS,
)
from pipeline.readiness.score import score_readiness

APPROVAL = "agent with human approval"


@pytest.mark.parametrize(
    ("n", "documented", "gate", "tier"),
    [
        (100, sop("w", regulated=True), "regulated, and the SOP has no approval step", APPROVAL),
        (
            100,
            sop("w", moves_money=True),
            "moves money, and the SOP has no approval step",
            APPROVAL,
        ),  # fmt: skip
        (100, sop("w", moves_money=True, approval=True), None, "autonomous"),  # excellent
        # no evidence an agent could run it, even with approval
        (40, sop("w"), "fewer than 50 conversations (40): too little evidence", "human-led"),
        (100, None, "no documented SOP: review the candidate playbook first", APPROVAL),
    ],
)
def test_hard_gates_cap_the_tier(n, documented, gate, tier):
    # Every component perfect: the score alone would make it autonomous.
    frame = score_readiness(inputs(rows("w", n)), [documented] if documented else [], config=FAST)
    assert frame["low"][0] >= 90.0  # the score alone: autonomous, risky or not
    assert frame.select("tier", "gates").row(0) == (tier, [gate] if gate else [])


def test_a_risky_workflow_needs_the_higher_score_for_autonomy():
    # 10% escalated: escalation 0.6, score 100 * (1 + 0.6 + 0.7) / 3 ~ 76.7 with risk 0.7
    config = dataclasses.replace(FAST, weights=only(resolution=1, escalation=1, risk=1),
                                 tier_on="score", autonomous_score=70.0)  # fmt: skip
    data = rows("w", 90) + rows("w", 10, start=90, escalated=True)
    frame = score_readiness(
        inputs(data), [sop("w", moves_money=True, approval=True)], config=config
    )
    assert frame["score"][0] == pytest.approx(100 * (1 + 0.6 + 0.7) / 3)
    assert frame.select("tier", "gates").row(0) == (
        "agent with human approval",
        ["moves money: autonomy needs 90 (score 76.7)"],
    )


def test_gates_never_lower_a_tier():
    data = rows("w", 100, resolved=False, escalated=True, repeat_contact=True, fitness=0.0)
    frame = score_readiness(inputs(data), [sop("w", regulated=True)], config=FAST)
    assert frame.select("tier", "gates").row(0) == (
        "human-led",
        ["regulated, and the SOP has no approval step"],
    )


def test_the_tier_judges_the_interval_low_end():
    # 20 conversations, 3 escalated: a score of 40 with a wide interval
    config = dataclasses.replace(
        FAST, weights=only(escalation=1), min_conversations=1, approval_score=35.0
    )
    data = rows("w", 17) + rows("w", 3, start=17, escalated=True)
    scored = score_readiness(inputs(data), [sop("w")], config=config)
    score, low = scored.select("score", "low").row(0)
    assert score == pytest.approx(40.0)  # 15% escalated
    assert low < 35.0
    assert scored["tier"][0] == "human-led"
    assert scored["gates"].to_list()[0] == [
        f"uncertain: the score reaches 35 (agent with human approval), the interval's low end "
        f"({low:.1f}) does not"
    ]
    by_score = score_readiness(
        inputs(data), [sop("w")], config=dataclasses.replace(config, tier_on="score")
    )
    assert by_score.select("tier", "gates").row(0) == ("agent with human approval", [])


def test_interval_is_recentred_on_the_score():
    # 100 conversations, each its own variant: standardisation 0, and every resample
    # (repeating some) looks more standard, so raw percentiles would sit above the score
    config = dataclasses.replace(FAST, weights=only(standardisation=1))
    data = [rows("w", 1, start=i, variant_id=f"v{i}")[0] for i in range(100)]
    frame = score_readiness(inputs(data), [sop("w")], config=config)
    low, score, high = frame.select("low", "score", "high").row(0)
    assert score == pytest.approx(0.0, abs=1e-9)
    assert low == 0.0 < high


def test_interval_is_wider_for_low_volume():
    # the same 25% unresolved share at 20 and 2,000 conversations
    data = (
        rows("small", 15) + rows("small", 5, start=15, resolved=False)
        + rows("large", 1500) + rows("large", 500, start=1500, resolved=False)
    )  # fmt: skip
    frame = score_readiness(inputs(data), [sop("small"), sop("large")], config=FAST)
    width = dict(frame.select("workflow_id", pl.col("high") - pl.col("low")).iter_rows())
    assert width["small"] > 3 * width["large"] > 0
    # the scores differ by volume only: 1.0 (capped) against log(21) / log(1001)
    scores = dict(frame.select("workflow_id", "score").iter_rows())
    w = DEFAULT_READINESS_WEIGHTS
    gap = (
        100 * w["volume"] * (1 - math.log(21) / math.log(1001)) / (sum(w.values()) - w["stability"])
    )
    assert scores["large"] - scores["small"] == pytest.approx(gap)
    for low, score, high in frame.select("low", "score", "high").iter_rows():
        assert 0 <= low <= score <= high <= 100


def test_rank_stability_is_one_when_one_workflow_dominates():
    data = rows("good", 100) + rows(
        "bad", 100, resolved=False, escalated=True, repeat_contact=True, fitness=0.0,
        has_exception=True, n_action_steps=0,
    )  # fmt: skip
    frame = score_readiness(inputs(data), [sop("good"), sop("bad")], config=FAST)
    assert frame.select("workflow_id", "rank", "rank_stability").rows() == [
        ("good", 1, 1.0),
        ("bad", 2, 1.0),
    ]


def test_a_workflow_with_too_few_conversations_ranks_after_the_evidenced_ones():
    data = rows("tiny", 3) + rows("big", 100, resolved=False, fitness=0.5)
    frame = score_readiness(inputs(data), [sop("tiny"), sop("big")], config=FAST)
    scores = dict(frame.select("workflow_id", "score").iter_rows())
    assert scores["tiny"] > scores["big"]  # a perfect handful...
    assert frame.select("workflow_id", "rank").rows() == [("big", 1), ("tiny", 2)]  # ...last


def test_rank_stability_falls_when_weights_decide_the_order():
    # a wins on resolution, b on escalation, with equal weights: any jitter can flip them
    config = dataclasses.replace(FAST, weights=only(resolution=1, escalation=1))
    data = rows("a", 60) + rows("a", 20, start=60, escalated=True)
    data += rows("b", 60) + rows("b", 40, start=60, resolved=False)
    frame = score_readiness(inputs(data), [sop("a"), sop("b")], config=config)
    assert 0.0 < frame["rank_stability"][0] < 1.0


def test_reasons_name_the_components_that_move_the_score_most():
    config = dataclasses.replace(FAST, weights=only(resolution=1, escalation=1), n_reasons=2)
    data = rows("a", 80) + rows("a", 20, start=80, escalated=True)
    data += rows("b", 90) + rows("b", 10, start=90, resolved=False)
    data += rows("c", 100)
    frame = score_readiness(inputs(data), [sop("a"), sop("b"), sop("c")], config=config)
    # escalation 0.2, 1, 1 and resolution 1, 0.8, 1: the medians are 1 and 1; a component
    # no different from the median's is no reason
    reasons = dict(frame.select("workflow_id", "reasons").iter_rows())
    assert reasons == {
        "a": ["many escalations: 20% of calls escalated or transferred (-40.0 points)"],
        "b": ["low resolution: 90% of calls resolved (-10.0 points)"],
        "c": [],
    }


def test_reasons_keep_the_top_n_by_size():
    config = dataclasses.replace(
        FAST, weights=only(resolution=1, escalation=3, repeat_contact=2), n_reasons=2
    )
    data = rows("a", 100) + rows("b", 80) + rows("b", 10, start=80, resolved=False)
    data += rows("b", 10, start=90, escalated=True, repeat_contact=True)
    frame = score_readiness(inputs(data), [sop("a"), sop("b")], config=config)
    # b: each level 10%, so each value 0.8 (resolution), 0.6 (escalation, repeat); the
    # medians are the means of a and b; points = 100 x weight x (value - median) / 6
    reasons = dict(frame.select("workflow_id", "reasons").iter_rows())
    assert reasons["b"] == [
        "many escalations: 10% of calls escalated or transferred (-10.0 points)",
        "many repeat contacts: 10% of calls followed by a repeat contact (-6.7 points)",
    ]


def test_standardisation_detail_counts_the_variants_that_cover_the_calls():
    data = rows("w", 60, variant_id="a") + [
        rows("w", 1, start=60 + i, variant_id=f"rare{i}")[0] for i in range(40)
    ]
    frame = score_readiness(inputs(data), [sop("w")], config=FAST)
    assert components(frame, "w")["standardisation"]["detail"] == (
        "21 of 41 variants cover 80% of calls"
    )
