import dataclasses
import json
import math

import duckdb
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from readiness.score_cases import (
    FAST,
    rows,
    sop,
)

from pipeline import migrations, schema
from pipeline.config import (
    DEFAULT_READINESS_WEIGHTS,
    READINESS_COMPONENTS,
    ReadinessConfig,
    load_config,
)
from pipeline.errors import ConfigError
from pipeline.readiness.inputs import CONVERSATION_SCHEMA, ReadinessInputs
from pipeline.readiness.score import format_readiness, score_readiness
from pipeline.sops.model import sop_to_yaml


def only(**weights):
    """Weights: the given components, every other 0."""
    return {c: float(weights.get(c, 0.0)) for c in READINESS_COMPONENTS}


def inputs(conversation_rows, stability=None):
    conversations = pl.DataFrame(conversation_rows, schema=CONVERSATION_SCHEMA)
    ids = sorted(set(conversations["workflow_id"]))
    stability = stability or {}
    workflows = pl.DataFrame(
        {
            "workflow_id": ids,
            "intent_id": ids,
            "intent_label": [None] * len(ids),
            "n_windows": [4 if w in stability else None for w in ids],
            "n_unstable_windows": [
                round(4 * (1 - stability[w])) if w in stability else None for w in ids
            ],  # fmt: skip
            "stability": [stability.get(w) for w in ids],
            "candidate_playbook": [None] * len(ids),
        },
        schema_overrides={
            "intent_label": pl.String,
            "candidate_playbook": pl.String,
            "n_windows": pl.Int64,
            "n_unstable_windows": pl.Int64,
            "stability": pl.Float64,
        },  # fmt: skip
    )
    return ReadinessInputs(conversations=conversations, workflows=workflows)


def components(frame, workflow):
    row = frame.filter(pl.col("workflow_id") == workflow)
    return json.loads(row["components"][0])


# ---- components and score ---------------------------------------------------------------
def test_components_exact():
    data = [
        dict(variant_id="a", fitness=1.0, n_agent_turns=4, n_steps=2, n_action_steps=2),
        dict(variant_id="a", fitness=0.5, has_exception=True, repeat_contact=True,
             n_agent_turns=6, n_steps=2, n_action_steps=1),
        dict(variant_id="b", fitness=1.0, resolved=False, escalated=True, n_agent_turns=4,
             n_steps=3, n_action_steps=0),
        dict(variant_id="c", fitness=0.5, n_agent_turns=6, n_steps=1, n_action_steps=1),
    ]  # fmt: skip
    conversation_rows = [rows("w", 1, start=i, **d)[0] for i, d in enumerate(data)]
    frame = score_readiness(inputs(conversation_rows, {"w": 0.75}), [sop("w")], config=FAST)
    got = {name: c["value"] for name, c in components(frame, "w").items()}
    want = {
        "volume": math.log(5) / math.log(1001),
        "standardisation": 0.25,  # shares 1/2, 1/4, 1/4: entropy is 3/4 of log(4)
        "conformance": 0.75,
        "resolution": 0.5,  # 25% unresolved, halfway to 50%
        "repeat_contact": 0.0,  # 25%: the zero point
        "escalation": 0.0,
        "exceptions": 0.75,
        "handle_time_spread": 0.8,  # turns 4, 6, 4, 6: cv = 1 / 5
        "stability": 0.75,
        "system_actions": 0.5,  # 4 of 8 performed steps
        "risk": 1.0,
    }
    assert got == pytest.approx(want, abs=1e-4)
    weights = DEFAULT_READINESS_WEIGHTS
    score = 100 * sum(weights[c] * want[c] for c in want) / sum(weights.values())
    assert frame["score"][0] == pytest.approx(score, abs=1e-9)
    parts = components(frame, "w")
    assert sum(c["contribution"] for c in parts.values()) == pytest.approx(score, abs=0.06)


@pytest.mark.parametrize(
    ("moves_money", "regulated", "approval", "risk"),
    [
        (False, False, False, 1.0),
        (True, False, False, 0.6),
        (True, False, True, 0.7),
        (True, True, False, 0.2),
        (True, True, True, 0.3),
    ],
)
def test_risk_component(moves_money, regulated, approval, risk):
    documented = sop("w", moves_money=moves_money, regulated=regulated, approval=approval)
    frame = score_readiness(inputs(rows("w", 60)), [documented], config=FAST)
    assert components(frame, "w")["risk"]["value"] == pytest.approx(risk)


@pytest.mark.parametrize(
    ("weights", "score"),
    [
        (only(resolution=1, escalation=1), 100 * (0.5 + 1.0) / 2),
        (only(resolution=3, escalation=1), 100 * (3 * 0.5 + 1.0) / 4),
        (only(resolution=1, escalation=3), 100 * (0.5 + 3 * 1.0) / 4),
        (only(resolution=1), 50.0),
    ],
)
def test_a_weight_change_changes_the_score_as_documented(weights, score):
    # 25% unresolved: resolution 0.5; nobody escalated: escalation 1.0
    data = rows("w", 60) + rows("w", 20, start=60, resolved=False)
    config = dataclasses.replace(FAST, weights=weights)
    frame = score_readiness(inputs(data), [sop("w")], config=config)
    assert frame["score"][0] == pytest.approx(score)


def test_unmeasured_components_share_out_their_weight():
    # no SOP: conformance and risk are null; stability untested
    config = dataclasses.replace(FAST, weights=only(conformance=5, resolution=1, risk=5))
    data = rows("w", 60, fitness=None) + rows("w", 20, start=60, resolved=False, fitness=None)
    frame = score_readiness(inputs(data), [], config=config)
    assert frame["score"][0] == pytest.approx(50.0)
    parts = components(frame, "w")
    assert parts["conformance"] == {
        "value": None,
        "weight": 5.0,
        "contribution": 0.0,
        "detail": "not measured",
    }
    assert parts["risk"]["detail"] == "no documented SOP: risk unknown"


# ---- configuration ----------------------------------------------------------------------
WEIGHTS = DEFAULT_READINESS_WEIGHTS


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({**WEIGHTS, "volume": -1.0}, r"readiness\.weights\.volume: expected a number >= 0"),
        ({**WEIGHTS, "volume": math.nan}, r"readiness\.weights\.volume: expected a number >= 0"),
        (only(), r"readiness\.weights: every weight is 0"),
        ({**WEIGHTS, "speed": 1.0}, r"readiness\.weights\.speed: unknown component"),
        ({k: v for k, v in WEIGHTS.items() if k != "risk"}, r"readiness\.weights\.risk: missing"),
    ],
)
def test_invalid_weights_are_a_config_error_naming_the_key(weights, message):
    with pytest.raises(ConfigError, match=message):
        ReadinessConfig(weights=weights)


def test_invalid_weights_in_a_config_file(tmp_path):
    weights = "\n".join(f"    {k}: {0 if k != 'escalation' else -2}" for k in READINESS_COMPONENTS)
    path = tmp_path / "config.yaml"
    path.write_text(f"readiness:\n  weights:\n{weights}\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"readiness\.weights\.escalation: expected a number >= 0"
    ):
        load_config(path)


def test_config_file_weights_reach_the_config(tmp_path):
    weights = "\n".join(f"    {k}: {2 if k == 'risk' else 1}" for k in READINESS_COMPONENTS)
    path = tmp_path / "config.yaml"
    path.write_text(f"readiness:\n  weights:\n{weights}\n  tier_on: score\n", encoding="utf-8")
    config = load_config(path).readiness
    assert config.weights["risk"] == 2.0 and config.weights["volume"] == 1.0
    assert config.tier_on == "score"


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"approval_score": 90.0}, r"readiness\.approval_score, readiness\.autonomous_score"),
        ({"interval": 1.0}, r"readiness\.interval: expected a number in \(0, 1\)"),
        ({"stability_kinds": ("drifting",)}, r"readiness\.stability_kinds: .* found 'drifting'"),
        ({"zero_at": {"escalation": 0.25}}, r"readiness\.zero_at\.resolution: .* \(missing\)"),
        ({"zero_at": {"speed": 0.5}}, r"readiness\.zero_at\.speed: unknown component"),
        ({"bootstrap": 0}, r"readiness\.bootstrap: expected an integer >= 1"),
    ],
)
def test_other_invalid_settings(fields, message):
    with pytest.raises(ConfigError, match=message):
        ReadinessConfig(**fields)


APPROVAL = "agent with human approval"


# ---- tiers and gates --------------------------------------------------------------------
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


# ---- interval, rank stability, reasons ---------------------------------------------------
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


# ---- the table ----------------------------------------------------------------------------
def test_output_contract_and_duckdb_accepts_it():
    data = rows("a", 60) + rows("b", 30, fitness=None)
    documented = sop("a", description="refunds")
    frame = score_readiness(inputs(data), [documented], config=FAST)
    assert frame.columns == schema.batch_columns(schema.READINESS)
    assert frame["rank"].to_list() == [1, 2]
    assert set(frame["tier"]) <= set(schema.TIERS)
    a, b = frame.row(0, named=True), frame.row(1, named=True)
    assert (a["workflow_id"], a["sop_id"], a["label"], a["playbook_source"]) == (
        "a", "a", "refunds", "documented",
    )  # fmt: skip
    assert a["playbook"] == sop_to_yaml(documented)
    assert (b["sop_id"], b["label"], b["playbook_source"], b["playbook"]) == (None, "b", None, None)
    assert b["gates"] == [
        "fewer than 50 conversations (30): too little evidence",
        "no documented SOP: review the candidate playbook first",
    ]
    create = next(s for s in migrations.MIGRATIONS[5] if f"table {schema.READINESS} (" in s)
    con = duckdb.connect()
    con.execute(create)
    con.execute(f"insert into {schema.READINESS} select *, 'run-1' as run_id from frame")
    stored = con.sql(
        f"select workflow_id, gates, components->>'$.volume.weight' from {schema.READINESS}"
    )
    assert stored.fetchall() == [
        ("a", [], "5.0"),
        ("b", b["gates"], "5.0"),
    ]


def test_same_seed_same_table_and_a_workflow_interval_ignores_the_others():
    data = rows("a", 50) + rows("a", 10, start=50, resolved=False)
    alone = score_readiness(inputs(data), [sop("a")], config=FAST, seed=3)
    again = score_readiness(inputs(data), [sop("a")], config=FAST, seed=3)
    assert_frame_equal(alone, again)
    more = score_readiness(inputs(data + rows("z", 70)), [sop("a")], config=FAST, seed=3)
    assert more.filter(pl.col("workflow_id") == "a").select("low", "high").row(0) == alone.select(
        "low", "high"
    ).row(0)


def test_score_does_not_modify_its_input():
    given = inputs(rows("a", 60) + rows("b", 60, resolved=False))
    before = (given.conversations.clone(), given.workflows.clone())
    score_readiness(given, [sop("a")], config=FAST)
    assert_frame_equal(given.conversations, before[0])
    assert_frame_equal(given.workflows, before[1])


def test_no_conversations_gives_an_empty_table():
    frame = score_readiness(inputs([]), [], config=FAST)
    assert frame.is_empty() and frame.columns == schema.batch_columns(schema.READINESS)
    assert format_readiness(frame) == "no workflows scored\n"


def test_format_readiness_prints_the_ranking():
    data = rows("good", 100) + rows("bad", 100, resolved=False, escalated=True)
    frame = score_readiness(inputs(data), [sop("good"), sop("bad", regulated=True)], config=FAST)
    text = format_readiness(frame.reverse())
    lines = text.splitlines()
    assert lines[0].split() == [
        "rank",
        "workflow",
        "score",
        "interval",
        "tier",
        "rank",
        "held",
        "n",
    ]
    ranked = [line.split()[:2] for line in lines if line[:4].strip().isdigit()]
    assert ranked == [["1", "good"], ["2", "bad"]]
    assert "gate: regulated, and the SOP has no approval step" in text
    assert "why: many escalations: 100% of calls escalated or transferred" in text
