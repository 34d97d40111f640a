import json
from datetime import date

import numpy as np
import polars as pl
import pytest
from drift.step_rates_cases import (
    AGENT,
    PLANTED,
    SOPS,
    calls,
    config,
    drift,
    frames,
    impact,
    rates,
    windows,
)
from polars.testing import assert_frame_equal
from scipy.stats import fisher_exact

from pipeline import schema
from pipeline.drift.stats import newcombe_interval
from pipeline.drift.step_rates import find_drift
from pipeline.errors import ConfigError, SchemaError


# ---- step rates -----------------------------------------------------------------------
def test_planted_rise_is_flagged_from_its_first_window_with_a_sentence():
    found = drift(PLANTED)
    assert windows(found).select("window_start", "window_end", "rate", "baseline", "n",
                                 "n_baseline", "flagged", "severity").rows() == [
        (date(2026, 3, 9), date(2026, 3, 15), 0.05, 0.0, 20, 20, False, "info"),
        (date(2026, 3, 16), date(2026, 3, 22), 0.6, 0.0, 20, 20, True, "info"),
        (date(2026, 3, 23), date(2026, 3, 29), 0.6, 0.0, 20, 20, True, "info"),
    ]  # fmt: skip
    # the two flagged weeks are one finding: onset, the current window's rate, the run's end
    finding = found.filter(pl.col("flagged") & (pl.col("kind") == "missing"))
    assert finding.select("window_start", "window_end", "rate", "n", "severity").rows() == [
        (date(2026, 3, 16), date(2026, 3, 29), 0.6, 20, "high")
    ]
    assert finding["sentence"].to_list() == [
        "Since 2026-03-16, agents skip *verify identity* in 60% of refund conversations in the "
        "week of 2026-03-23 (peak 60% in the week of 2026-03-16; baseline 0%); those "
        "conversations are re-contacted 11.0x as often (40% vs 4%).",
    ]
    assert windows(found)["sentence"].to_list()[1:] == [
        "In the week of 2026-03-16, agents skip *verify identity* in 60% of refund "
        "conversations (baseline 0%); part of the finding since 2026-03-16.",
        "In the week of 2026-03-23, agents skip *verify identity* in 60% of refund "
        "conversations (baseline 0%); part of the finding since 2026-03-16.",
    ]
    series = json.loads(finding["details"][0])["series"]
    assert [(w["window_start"], w["rate"]) for w in series] == [
        ("2026-03-16", 0.6),
        ("2026-03-23", 0.6),
    ]
    assert windows(found)["metric"].to_list() == ["repeat_contact"] * 3  # linked to every row


@pytest.mark.parametrize(("merge_gap", "onsets"), [(0, ["Since 2026-03-09", "Since 2026-03-23"]),
                                                   (1, ["Since 2026-03-09"])])  # fmt: skip
def test_a_gap_of_up_to_merge_gap_unflagged_windows_keeps_one_finding(merge_gap, onsets):
    cases = (calls(20, 0) + calls(12, 1, missing=["verify_identity"]) + calls(8, 1)
             + calls(20, 2) + calls(12, 3, missing=["verify_identity"]) + calls(8, 3))  # fmt: skip
    found = rates(drift(cases, merge_gap=merge_gap))
    # week 2 (0 of 20) carries no information and is not written, but it is a gap
    assert [s.split(",")[0] for s in found["sentence"]] == onsets
    if merge_gap:
        details = json.loads(found["details"][0])
        assert details["n_windows"] == 2 and found["window_end"][0] == date(2026, 3, 29)


def test_no_rise_is_not_flagged():
    cases = (calls(2, 0, missing=["verify_identity"]) + calls(18, 0)
             + calls(2, 1, missing=["verify_identity"]) + calls(18, 1))  # fmt: skip
    found = rates(drift(cases))
    assert found.select("rate", "baseline", "p_value", "flagged", "severity").rows() == [
        (0.1, 0.1, pytest.approx(1.0), False, "info")
    ]


@pytest.mark.parametrize(
    ("baseline_n", "window_n", "rows"),
    [(5, 5, 1), (4, 5, 0), (5, 4, 0)],
)
def test_windows_and_baselines_below_min_count_give_no_row(baseline_n, window_n, rows):
    cases = calls(baseline_n, 0) + calls(window_n, 1, missing=["verify_identity"])
    assert rates(drift(cases)).height == rows


def test_a_deviation_absent_from_window_and_baseline_is_not_written():
    cases = calls(20, 0) + calls(20, 1) + calls(20, 2, extra=["upsell"])
    found = drift(cases)
    assert rates(found, "undocumented")["window_start"].to_list() == [date(2026, 3, 16)]


def test_benjamini_hochberg_across_findings_changes_flagging():
    # 5/20 against 0/20 has Fisher p = 0.0471: flagged alone (q = p); with a second,
    # uninformative test (p = 1) in the family, q = 2p = 0.094 and it is not.
    alone = calls(20, 0) + calls(5, 1, missing=["verify_identity"]) + calls(15, 1)
    crowded = (
        alone[:19] + calls(1, 0, extra=["upsell"]) + alone[20:-1] + calls(1, 1, extra=["upsell"])
    )
    one = drift(alone, min_count=6)
    two = drift(crowded, min_count=6)
    p = fisher_exact([[5, 15], [0, 20]]).pvalue  # two-sided, as the drift test is
    assert rates(one).select("kind", "q_value", "flagged").rows() == [
        ("missing", pytest.approx(p), True)
    ]
    assert rates(two).select("q_value", "flagged").rows() == [(pytest.approx(2 * p), False)]


def test_team_breakdown_flags_only_the_team_that_changed():
    cases = (calls(10, 0, team="north") + calls(10, 0, team="south") + calls(10, 1, team="north")
             + calls(6, 1, team="south", missing=["verify_identity"])
             + calls(4, 1, team="south"))  # fmt: skip
    found = rates(drift(cases, breakdown=("team",)))
    assert found.select("team", "agent_hash", "rate", "flagged").rows() == [
        (None, None, 0.3, True),
        ("south", None, 0.6, True),
    ]
    assert found["sentence"][1] == (
        "Since 2026-03-09, team south skips *verify identity* in 60% of refund conversations "
        "(baseline 0%)."
    )


def test_agent_breakdown_names_agents_by_a_short_hash_only():
    cases = calls(10, 0) + calls(6, 1, missing=["verify_identity"]) + calls(4, 1)
    found = rates(drift(cases, breakdown=("agent_hash",))).filter(
        pl.col("agent_hash").is_not_null()
    )
    assert found["agent_hash"].to_list() == [AGENT]
    assert found["sentence"][0].startswith(
        "Since 2026-03-09, agent 3f2a1b… skips *verify identity*"
    )
    assert AGENT not in found["sentence"][0]


def test_queue_breakdown_is_told_apart_in_details_and_ids():
    orders = calls(5, 0, queue="orders") + calls(5, 1, queue="orders", missing=["verify_identity"])
    cases = calls(10, 0) + calls(6, 1, missing=["verify_identity"]) + calls(4, 1) + orders
    found = rates(drift(cases, breakdown=("queue",)))
    groups = {(json.loads(d)["group"], json.loads(d)["group_value"]): sentence
              for d, sentence in zip(found["details"], found["sentence"], strict=True)}  # fmt: skip
    assert sorted(groups, key=str) == [("all", None), ("queue", "billing"), ("queue", "orders")]
    assert groups[("queue", "billing")].startswith("Since 2026-03-09, agents in queue billing skip")
    assert found["finding_id"].n_unique() == 3


def test_order_violation_is_attributed_to_the_step_done_too_early():
    cases = (
        calls(10, 0) + calls(6, 1, order=["send_confirmation before update_address"]) + calls(4, 1)
    )
    found = rates(drift(cases), "order_violation")
    assert found.select("step", "rate", "flagged").rows() == [("send_confirmation", 0.6, True)]
    assert json.loads(found["details"][0])["before"] == ["update_address"]
    assert found["sentence"][0] == (
        "Since 2026-03-09, agents do *send confirmation* before *update address* in 60% of "
        "refund conversations (baseline 0%)."
    )


def test_skipped_gate_sentence_quotes_its_condition():
    cases = calls(10, 0) + calls(6, 1, gates=["supervisor_approval"]) + calls(4, 1)
    found = rates(drift(cases), "gate_skipped")
    assert (
        "skip the approval gate *supervisor approval* (required when amount > 200) in 60%"
        in (found["sentence"][0])
    )


# ---- outcome impact -------------------------------------------------------------------
def test_harmful_outcome_impact_has_sign_interval_and_sentence():
    row = impact(drift(PLANTED), "repeat_contact").row(0, named=True)
    assert (row["n"], row["n_baseline"]) == (25, 55)
    assert row["outcome_deviating"] == pytest.approx(10 / 25)
    assert row["outcome_conforming"] == pytest.approx(2 / 55)
    assert row["outcome_delta"] == pytest.approx(10 / 25 - 2 / 55)
    low, high = newcombe_interval(np.array([10]), np.array([25]), np.array([2]), np.array([55]))
    assert (row["ci_low"], row["ci_high"]) == (pytest.approx(low[0]), pytest.approx(high[0]))
    assert 0 < row["ci_low"] < row["outcome_delta"] < row["ci_high"]
    assert (row["flagged"], row["severity"], row["window_start"], row["window_end"]) == (
        True, "high", date(2026, 3, 2), date(2026, 3, 29))  # fmt: skip
    assert json.loads(row["details"])["ratio"] == pytest.approx(11.0, abs=1e-4)
    assert row["sentence"] == (
        "refund conversations that skip *verify identity* are re-contacted in 40% of cases "
        f"vs 4% for the others (11.0x; +36 points, 95% CI +{round(100 * low[0])} to "
        f"+{round(100 * high[0])})."
    )


def test_better_outcomes_suggest_a_candidate_sop_change():
    cases = calls(20, 0, repeat=True) + calls(20, 1, extra=["upsell"]) + calls(20, 1, repeat=True)
    row = impact(drift(cases), "repeat_contact").row(0, named=True)
    assert (row["outcome_delta"], row["flagged"], row["severity"]) == (-1.0, True, "low")
    assert row["sentence"].endswith(
        "this deviation fares better and may be a candidate SOP change."
    )


def test_outcome_impact_pools_a_step_over_sops():
    cases = (calls(10, 0, sop="refund", missing=["verify_identity"], repeat=True)
             + calls(10, 0, sop="refund") + calls(10, 0, sop="address")
             + calls(10, 0, sop="address", missing=["verify_identity"], repeat=True))  # fmt: skip
    pooled = impact(drift(cases), "repeat_contact").filter(pl.col("sop_id").is_null())
    assert pooled.select("step", "n", "n_baseline", "outcome_delta", "flagged").rows() == [
        ("verify_identity", 20, 20, 1.0, True)
    ]
    details = json.loads(pooled["details"][0])
    assert (details["sops"], details["stratified_delta"]) == (["address", "refund"], 1.0)
    assert pooled["sentence"][0].startswith("Across 2 workflows, conversations that skip")


def test_outcome_comparison_needs_min_count_on_both_sides():
    cases = calls(4, 0, missing=["verify_identity"], repeat=True) + calls(20, 0)
    assert drift(cases).filter(pl.col("kind") == "outcome_impact").height == 0


# ---- the frame ------------------------------------------------------------------------
def test_output_meets_the_table_contract():
    found = drift(PLANTED + calls(3, 3, order=["send_confirmation before update_address"]))
    assert found.columns == schema.batch_columns(schema.DRIFT_FINDINGS)
    assert found["finding_id"].is_unique().all()
    assert found["kind"].is_in(list(schema.DRIFT_KINDS)).all()
    assert found["severity"].is_in(list(schema.SEVERITIES)).all()
    required = ["finding_id", "kind", "flagged", "severity", "sentence"]
    assert found.select(required).null_count().row(0) == (0,) * len(required)
    assert all(isinstance(json.loads(d), dict) for d in found["details"])
    assert found.filter(~pl.col("flagged"))["severity"].unique().to_list() == ["info"]


def test_finding_ids_are_stable_across_calls_and_input_order():
    first = drift(PLANTED)
    conformance, outcomes, conversations = frames(PLANTED)
    again = find_drift(conformance.reverse(), outcomes.sample(fraction=1.0, shuffle=True, seed=1),
                       conversations.reverse(), SOPS, config=config())  # fmt: skip
    assert_frame_equal(first, again)
    assert first["finding_id"].str.len_chars().unique().to_list() == [16]


def test_does_not_modify_its_inputs():
    inputs = frames(PLANTED)
    copies = [frame.clone() for frame in inputs]
    find_drift(*inputs, SOPS, config=config(breakdown=("team", "agent_hash")))
    for frame, copy in zip(inputs, copies, strict=True):
        assert_frame_equal(frame, copy)


def test_empty_inputs_give_an_empty_frame_with_the_contract_dtypes():
    found = drift([])
    assert found.height == 0
    assert found.columns == schema.batch_columns(schema.DRIFT_FINDINGS)
    assert found.schema["window_start"] == pl.Date
    assert found.schema["n"] == pl.Int32
    assert found.schema["flagged"] == pl.Boolean


def test_missing_column_names_the_table_and_the_column():
    conformance, outcomes, conversations = frames(PLANTED)
    with pytest.raises(SchemaError, match="conversations frame lacks column.*team"):
        find_drift(conformance, outcomes, conversations.drop("team"), SOPS,
                   config=config(breakdown=("team",)))  # fmt: skip


def test_malformed_order_violation_is_an_error():
    with pytest.raises(SchemaError, match="expected 'B before A'"):
        drift(calls(5, 0, order=["send_confirmation"]))


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"min_effect": 1.5}, "min_effect"), ({"breakdown": ("team", "team")}, "distinct"),
     ({"window": "hour"}, "day/week/month"), ({"breakdown": ("customer_hash",)}, "breakdown")],
)  # fmt: skip
def test_drift_config_rejects_bad_values(changes, message):
    with pytest.raises(ConfigError, match=message):
        config(**changes)


@pytest.mark.parametrize(("min_effect", "flagged"), [(0.1, False), (0.05, True)])
def test_a_significant_rise_needs_min_effect_to_be_flagged(min_effect, flagged):
    # 8/100 against 0/100: Fisher p = 0.007, a rise of 8 points
    cases = calls(100, 0) + calls(8, 1, missing=["verify_identity"]) + calls(92, 1)
    found = rates(drift(cases, min_effect=min_effect))
    assert found.select("rate", "flagged").rows() == [(0.08, flagged)]
    assert found["q_value"][0] == pytest.approx(fisher_exact([[8, 92], [0, 100]]).pvalue)


@pytest.mark.parametrize(
    ("window", "severity"),
    [
        (calls(6, 1, missing=["verify_identity"]) + calls(4, 1), "low"),  # large, q = 0.011
        (calls(12, 1, missing=["verify_identity"]) + calls(8, 1), "medium"),  # and q < alpha / 10
    ],
)
def test_step_rate_severity_without_outcome_harm(window, severity):
    found = rates(drift(calls(10, 0) + window))
    assert found.select("flagged", "metric", "severity").rows() == [(True, None, severity)]


@pytest.mark.parametrize(
    ("window", "changes", "severity"),
    [
        # a large rise, q = 0.011: strong once alpha / 1 is the bar
        (calls(6, 1, missing=["verify_identity"]) + calls(4, 1), {}, "low"),
        (calls(6, 1, missing=["verify_identity"]) + calls(4, 1),
         {"strong_alpha_divisor": 1.0}, "medium"),
        # strong evidence, a rise of 0.6: no longer large at 7 x min_effect
        (calls(12, 1, missing=["verify_identity"]) + calls(8, 1), {}, "medium"),
        (calls(12, 1, missing=["verify_identity"]) + calls(8, 1),
         {"large_rise_factor": 7.0}, "low"),
    ],
)  # fmt: skip
def test_step_rate_severity_follows_the_configured_cut_offs(window, changes, severity):
    found = rates(drift(calls(10, 0) + window, **changes))
    assert found.select("flagged", "severity").rows() == [(True, severity)]
