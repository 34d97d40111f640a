"""Conformance change points: binary segmentation, and the findings of a SOP's series."""

import dataclasses
import json
import math
from datetime import date, timedelta

import numpy as np
import polars as pl
import pytest
from drift.change_points_cases import (
    MONDAY,
    STEP,
    conformance,
)

from pipeline.config import DriftConfig
from pipeline.drift.change_points import change_points, find_conformance_changes
from pipeline.drift.findings import DRIFT_FINDINGS_SCHEMA
from pipeline.errors import SchemaError

CONFIG = DriftConfig()


FLAT = [18, 17, 19, 18, 17, 19, 18, 19, 17, 18, 19, 17]


@pytest.mark.parametrize(
    ("series", "changes"),
    [
        ([0.9, 0.85] * 3 + [0.6, 0.65] * 3, [6]),
        ([0.9, 0.85] * 3 + [0.6, 0.65] * 3 + [0.3, 0.35] * 3, [6, 12]),
        ([0.9, 0.85, 0.88, 0.86, 0.9, 0.87, 0.85, 0.89, 0.88, 0.86, 0.9, 0.87], []),
        ([0.5] * 10, []),
    ],
)
def test_change_points_are_found_where_the_mean_shifts_and_only_there(series, changes):
    found, p_whole = change_points(np.array(series), alpha=0.05, rng=np.random.default_rng(0))
    assert sorted(k for k, _ in found) == changes
    assert (p_whole <= 0.05) == bool(changes)


def test_a_series_too_short_to_split_is_not_tested():
    found, p_whole = change_points(np.array([0.9, 0.1, 0.1]), alpha=0.05,
                                   rng=np.random.default_rng(0))  # fmt: skip
    assert found == [] and math.isnan(p_whole)


def test_a_fall_in_conformance_is_found_at_the_right_week():
    rows, dates = conformance(STEP)
    found = find_conformance_changes(rows, dates, config=CONFIG, metrics=("conforming_share",))
    row = found.row(0, named=True)
    assert found.height == 1
    assert (row["window_start"], row["window_end"]) == (date(2026, 2, 16), date(2026, 2, 22))
    assert (row["rate"], row["baseline"], row["n"], row["n_baseline"]) == (0.65, 0.9, 120, 120)
    assert (row["flagged"], row["severity"], row["kind"], row["metric"]) == (
        True, "high", "conformance_change", "conforming_share",
    )  # fmt: skip
    assert row["p_value"] <= 0.01 and row["q_value"] == row["p_value"]
    assert (
        row["sentence"]
        == "Conformance of address_change fell from 90% to 65% in the week of 2026-02-16."
    )
    assert json.loads(row["details"]) == {
        "before": {"from": "2026-01-05", "to": "2026-02-15", "windows": 6, "conversations": 120},
        "after": {"from": "2026-02-16", "to": "2026-03-29", "windows": 6, "conversations": 120},
    }


def test_fitness_is_a_second_series():
    rows, dates = conformance(STEP)
    found = find_conformance_changes(rows, dates, config=CONFIG, metrics=("fitness",))
    row = found.row(0, named=True)
    assert (row["metric"], row["severity"]) == ("fitness", "medium")
    assert (
        row["sentence"]
        == "Mean fitness of address_change fell from 0.96 to 0.86 in the week of 2026-02-16."
    )


@pytest.mark.parametrize(
    ("settings", "flagged", "severity"),
    [
        ({}, True, "high"),  # a fall of 25 points: at least 3 x 5
        ({"change_high_factor": 6.0}, True, "medium"),
        ({"change_medium_factor": 6.0, "change_high_factor": 6.0}, True, "low"),
        ({"change_min_shift": 0.3}, False, "info"),
    ],
)
def test_the_configured_shift_and_factors_decide_flag_and_severity(settings, flagged, severity):
    rows, dates = conformance(STEP)
    found = find_conformance_changes(rows, dates, config=dataclasses.replace(CONFIG, **settings),
                                     metrics=("conforming_share",))  # fmt: skip
    assert found.select("rate", "baseline", "flagged", "severity").rows() == [
        (0.65, 0.9, flagged, severity)
    ]


def test_a_flat_noisy_series_gives_no_change():
    rows, dates = conformance(FLAT)
    assert find_conformance_changes(rows, dates, config=CONFIG).is_empty()


def test_a_significant_but_small_shift_is_reported_unflagged():
    rows, dates = conformance([95, 96] * 3 + [92, 93] * 3, size=100)
    found = find_conformance_changes(rows, dates, config=CONFIG, metrics=("conforming_share",))
    row = found.row(0, named=True)
    assert (row["flagged"], row["severity"]) == (False, "info")
    assert row["sentence"] == (
        "Conformance of address_change fell from 96% to 92% in the week of 2026-02-16; "
        "not flagged: a shift smaller than 5%."
    )


def test_windows_under_min_count_stay_out_of_the_series():
    rows, dates = conformance(STEP)
    late = rows.head(1).with_columns(conversation_id=pl.lit("late"), is_conforming=False)
    late_dates = pl.DataFrame({"conversation_id": ["late"],
                               "started_at": [MONDAY + timedelta(days=7 * 12)]})  # fmt: skip
    found = find_conformance_changes(
        pl.concat([rows, late]), pl.concat([dates, late_dates]),
        config=CONFIG, metrics=("conforming_share",),
    )  # fmt: skip
    assert found.select("window_start", "rate", "n").rows() == [(date(2026, 2, 16), 0.65, 120)]


def test_an_unknown_metric_is_rejected():
    rows, dates = conformance(STEP)
    with pytest.raises(ValueError, match="expected names among conforming_share, fitness"):
        find_conformance_changes(rows, dates, config=CONFIG, metrics=("speed",))


def test_does_not_modify_its_input():
    rows, dates = conformance(STEP)
    before = (rows.clone(), dates.clone())
    find_conformance_changes(rows, dates, config=CONFIG)
    assert rows.equals(before[0]) and dates.equals(before[1])


def test_empty_input_gives_an_empty_contract_frame():
    rows = pl.DataFrame(schema={"conversation_id": pl.String, "sop_id": pl.String,
                                "version": pl.Int64, "fitness": pl.Float64,
                                "is_conforming": pl.Boolean})  # fmt: skip
    dates = pl.DataFrame(schema={"conversation_id": pl.String,
                                 "started_at": pl.Datetime("us", "UTC")})  # fmt: skip
    found = find_conformance_changes(rows, dates, config=CONFIG)
    assert found.is_empty() and found.schema == DRIFT_FINDINGS_SCHEMA


def test_a_missing_column_is_a_schema_error():
    rows, dates = conformance(STEP)
    with pytest.raises(
        SchemaError, match="the conformance frame lacks column\\(s\\) fitness, is_conforming"
    ):
        find_conformance_changes(rows.drop("fitness", "is_conforming"), dates, config=CONFIG)


def test_change_points_do_not_modify_the_series():
    series = np.array([0.9, 0.9, 0.9, 0.9, 0.2, 0.2, 0.2, 0.2])
    before = series.copy()
    change_points(series, alpha=0.05, rng=np.random.default_rng(0))
    np.testing.assert_array_equal(series, before)
