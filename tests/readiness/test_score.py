"""Readiness scores: the components, the weights and their config, the table."""

import dataclasses
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
from readiness.tier_cases import (
    components,
    inputs,
    only,
)

from pipeline import migrations, schema
from pipeline.config import (
    DEFAULT_READINESS_WEIGHTS,
    READINESS_COMPONENTS,
    ReadinessConfig,
    load_config,
)
from pipeline.errors import ConfigError
from pipeline.readiness.score import (
    drop_small_workflows,
    format_readiness,
    score_readiness,
    volume_floor,
)
from pipeline.sops.model import sop_to_yaml


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


def test_small_undocumented_workflows_get_no_row_and_one_summary_line():
    data = rows("big", 200) + rows("tiny", 4) + rows("few", 9) + rows("doc", 3) + rows("ok", 10)
    config = dataclasses.replace(FAST, min_volume=10, min_volume_share=0.002)
    kept, small = drop_small_workflows(inputs(data), [sop("doc")], config=config)
    # floor: max(10, ceil(0.002 x 226)) = 10; "doc" has a documented SOP and keeps its row
    assert small == {"workflows": 2, "conversations": 13, "floor": 10}
    assert set(kept.conversations["workflow_id"]) == {"big", "doc", "ok"}
    assert set(kept.workflows["workflow_id"]) == {"big", "doc", "ok"}
    frame = score_readiness(kept, [sop("doc")], config=config)
    text = format_readiness(frame, small)
    assert text.splitlines()[-1].strip() == (
        "+ 2 small intents, 13 conversations: too little evidence (fewer than 10 each, no "
        "documented SOP)"
    )
    share = dataclasses.replace(config, min_volume=0, min_volume_share=0.05)
    assert volume_floor(226, share) == 12
    assert drop_small_workflows(inputs(data), [], config=share)[1]["workflows"] == 4


def test_volume_settings_are_checked():
    with pytest.raises(ConfigError, match=r"readiness\.min_volume, readiness\.min_volume_share"):
        ReadinessConfig(min_volume_share=1.5)
