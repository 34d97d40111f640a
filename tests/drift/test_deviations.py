"""Deviations counted: exploded per conversation, grouped per window, counted per cell."""

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.config import DriftConfig
from pipeline.drift.deviations import (
    count_outcomes,
    count_step_rates,
    explode_deviations,
    group_windows,
)
from pipeline.errors import SchemaError

TEXT = pl.List(pl.String)
CASES = pl.DataFrame(
    {
        "conversation_id": ["c1", "c2", "c3"],
        "sop_id": ["refund"] * 3,
        "missing": [["verify"], [], ["verify", "pay"]],
        "order_violations": [["pay before verify"], [], []],
        "undocumented": [[], ["upsell"], []],
        "skipped_gates": [[], [], []],
    },
    schema_overrides={c: TEXT for c in ("missing", "order_violations", "undocumented",
                                        "skipped_gates")},
)  # fmt: skip
CONVERSATIONS = pl.DataFrame(
    {
        "conversation_id": ["c1", "c2", "c3"],
        "started_at": [datetime(2026, 3, 2, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC),
                       None],
        "team": ["north", None, "south"],
    }
)  # fmt: skip


def test_explode_deviations_gives_one_row_per_step_and_splits_order_violations():
    assert explode_deviations(CASES).rows() == [
        ("c1", "refund", "missing", "verify", None),
        ("c3", "refund", "missing", "verify", None),
        ("c3", "refund", "missing", "pay", None),
        ("c1", "refund", "order_violation", "pay", "verify"),
        ("c2", "refund", "undocumented", "upsell", None),
    ]


def test_an_order_violation_without_before_is_an_error():
    bad = CASES.with_columns(order_violations=pl.Series([["pay"], [], []], dtype=TEXT))
    with pytest.raises(SchemaError, match=r"of c1 holds 'pay'; expected 'B before A'"):
        explode_deviations(bad)


def test_group_windows_adds_all_then_each_breakdown_value():
    got = group_windows(CASES, CONVERSATIONS, DriftConfig(window="week", breakdown=("team",)))
    # c3 has no start; c2 has no team, so it is in no team group
    assert got.sort("group", "conversation_id").rows() == [
        ("c1", "refund", date(2026, 3, 2), 1, "all", None),
        ("c2", "refund", date(2026, 3, 9), 2, "all", None),
        ("c1", "refund", date(2026, 3, 2), 1, "team", "north"),
    ]


def test_count_step_rates_counts_a_tested_window_against_its_baseline():
    config = DriftConfig(window="week", baseline_windows=1, min_count=1, breakdown=())
    grouped = group_windows(CASES, CONVERSATIONS, config)
    got = count_step_rates(grouped, explode_deviations(CASES), config=config)
    # week 2 holds c2 only: it adds upsell (no baseline hit), skips nothing (baseline 1 of
    # 1); c3 skipped pay but has no start, so that cell has no hit anywhere: no information
    counts = got.select("kind", "step", "n", "k", "n_baseline", "k_baseline", "informative")
    assert counts.rows() == [
        ("missing", "pay", 1, 0, 1, 0, False),
        ("missing", "verify", 1, 0, 1, 1, True),
        ("order_violation", "pay", 1, 0, 1, 1, True),
        ("undocumented", "upsell", 1, 1, 1, 0, True),
    ]  # fmt: skip


def test_count_outcomes_pairs_deviating_with_the_other_conversations():
    outcomes = pl.DataFrame({"conversation_id": ["c1", "c2", "c3"],
                             "repeat_contact": [True, False, True],
                             "escalated": [False, False, False],
                             "resolved": [True, True, False]})  # fmt: skip
    got = count_outcomes(CASES, explode_deviations(CASES), outcomes, min_count=1)
    # skipping verify (c1, c3) against c2; escalated is never hit and is not written
    assert got.filter(pl.col("step") == "verify").select(
        "metric", "n_dev", "x_dev", "n_conf", "x_conf"
    ).rows() == [("repeat_contact", 2, 2, 1, 0), ("resolved", 2, 1, 1, 1)]


def test_counting_does_not_modify_its_input():
    before = (CASES.clone(), CONVERSATIONS.clone())
    config = DriftConfig(window="week", baseline_windows=1, min_count=1, breakdown=("team",))
    count_step_rates(group_windows(CASES, CONVERSATIONS, config), explode_deviations(CASES),
                     config=config)  # fmt: skip
    assert_frame_equal(CASES, before[0])
    assert_frame_equal(CONVERSATIONS, before[1])


def test_count_outcomes_does_not_modify_its_input():
    outcomes = pl.DataFrame({"conversation_id": ["c3", "c1", "c2"],
                             "repeat_contact": [True, None, True],
                             "escalated": [False, False, True],
                             "resolved": [True, True, False]})  # fmt: skip
    before = (CASES.clone(), outcomes.clone())
    count_outcomes(CASES, explode_deviations(CASES), outcomes, min_count=1)
    assert_frame_equal(CASES, before[0])
    assert_frame_equal(outcomes, before[1])
