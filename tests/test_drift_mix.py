"""Temporal drift: windows, Jensen-Shannon mix tests, change points in conformance."""

import json
import math
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from scipy.spatial.distance import jensenshannon

from pipeline import schema
from pipeline.config import DriftConfig
from pipeline.drift_mix import (
    DRIFT_FINDINGS_SCHEMA,
    change_points,
    find_conformance_changes,
    find_mix_drift,
    find_variant_mix_drift,
    js_distance,
    js_divergence,
    window_end,
    window_start,
)
from pipeline.errors import SchemaError

MONDAY = datetime(2026, 1, 5, 9, tzinfo=UTC)
CONFIG = DriftConfig()


def weekly(plan: list[dict[str, int]], *, prefix: str = "c", **extra) -> pl.DataFrame:
    """One row per conversation: week w of ``plan`` holds ``n`` conversations of each key."""
    rows = []
    for week, mix in enumerate(plan):
        for key, n in mix.items():
            for j in range(n):
                started = MONDAY + timedelta(days=7 * week + j % 7, hours=j % 5)
                rows.append({"conversation_id": f"{prefix}{len(rows):04d}", "key": key,
                             "started_at": started, **extra})  # fmt: skip
    return pl.DataFrame(rows)


def intents(plan: list[dict[str, int]]) -> tuple[pl.DataFrame, pl.DataFrame]:
    frame = weekly(plan)
    return (
        frame.select("conversation_id", intent_id="key"),
        frame.select("conversation_id", "started_at"),
    )


def conformance(counts: list[int], *, size: int = 20, low_fitness: float = 0.6) -> tuple:
    """Weekly windows of ``size`` conversations, the first ``counts[w]`` conforming."""
    rows, dates = [], []
    for week, k in enumerate(counts):
        for j in range(size):
            cid = f"k{len(rows):04d}"
            ok = j < k
            rows.append({"conversation_id": cid, "sop_id": "address_change", "version": 1,
                         "variant_id": "v1" if ok else "v2",
                         "fitness": 1.0 if ok else low_fitness, "is_conforming": ok})  # fmt: skip
            dates.append({"conversation_id": cid, "started_at": MONDAY + timedelta(days=7 * week)})
    return pl.DataFrame(rows), pl.DataFrame(dates)


BASELINE = [{"a": 10, "b": 10}] * 4
NEW_INTENT = BASELINE + [{"a": 10, "b": 10}, {"a": 2, "b": 10, "c": 8}]
STEP = [19, 17] * 3 + [12, 14] * 3  # 90% conforming, then 65%
FLAT = [18, 17, 19, 18, 17, 19, 18, 19, 17, 18, 19, 17]


# ---- windows and the distance ----------------------------------------------------------
@pytest.mark.parametrize(
    ("started", "window", "start", "end"),
    [
        (datetime(2026, 5, 6, 23, 30, tzinfo=UTC), "day", date(2026, 5, 6), date(2026, 5, 6)),
        (datetime(2026, 5, 6, 23, 30, tzinfo=UTC), "week", date(2026, 5, 4), date(2026, 5, 10)),
        (datetime(2026, 5, 10, 23, 59, tzinfo=UTC), "week", date(2026, 5, 4), date(2026, 5, 10)),
        (datetime(2026, 5, 11, 0, 0, tzinfo=UTC), "week", date(2026, 5, 11), date(2026, 5, 17)),
        (datetime(2026, 5, 6, 23, 30, tzinfo=UTC), "month", date(2026, 5, 1), date(2026, 5, 31)),
        (datetime(2028, 2, 14, tzinfo=UTC), "month", date(2028, 2, 1), date(2028, 2, 29)),
    ],
)
def test_a_timestamp_falls_in_its_calendar_window(started, window, start, end):
    frame = pl.DataFrame({"t": [started]}).select(s=window_start(pl.col("t"), window))
    frame = frame.with_columns(e=window_end(pl.col("s"), window))
    assert frame.row(0) == (start, end)
    assert frame.schema == pl.Schema({"s": pl.Date, "e": pl.Date})


@pytest.mark.parametrize("function", [window_start, window_end])
def test_an_unknown_window_is_rejected(function):
    with pytest.raises(ValueError, match="expected one of day/week/month, found 'year'"):
        function(pl.col("t"), "year")


@pytest.mark.parametrize(
    ("p", "q", "expected"),
    [
        ([3, 1, 0], [6, 2, 0], 0.0),  # identical shares
        ([5, 0], [0, 7], 1.0),  # disjoint
        ([1, 0], [1, 1], 0.5 * math.log2(4 / 3) + 0.25 * math.log2(2 / 3) + 0.25),
    ],
)
def test_js_divergence_is_in_bits_and_the_distance_its_square_root(p, q, expected):
    assert float(js_divergence(np.array(p), np.array(q))) == pytest.approx(expected, abs=1e-12)
    distance = float(js_distance(np.array(p), np.array(q)))
    assert distance == pytest.approx(jensenshannon(p, q, base=2), abs=1e-9)
    assert distance == pytest.approx(math.sqrt(expected), abs=1e-9)


# ---- intent mix ------------------------------------------------------------------------
def test_a_new_intent_is_flagged_and_named_with_the_shares_that_moved():
    assignments, conversations = intents(NEW_INTENT)
    found = find_mix_drift(assignments, conversations, config=CONFIG, labels={"c": "points, lost"})
    assert found["window_start"].to_list() == [date(2026, 2, 2), date(2026, 2, 9)]
    quiet, moved = found.rows(named=True)
    assert (quiet["rate"], quiet["p_value"], quiet["flagged"], quiet["severity"]) == (
        0.0, 1.0, False, "info",
    )  # fmt: skip
    assert quiet["sentence"] == (
        "In the week of 2026-02-02, the intent mix stayed near the baseline "
        "(Jensen-Shannon distance 0.00, below the threshold of 0.1)."
    )
    # window shares (.1, .5, .4) against baseline (.5, .5, 0)
    divergence = 0.5 * (0.4 - 0.1 * math.log2(3)) + 0.25 * math.log2(5 / 3)
    assert moved["rate"] == pytest.approx(math.sqrt(divergence))
    assert (moved["p_value"], moved["q_value"]) == (0.001, 0.002)
    assert (moved["flagged"], moved["severity"], moved["metric"]) == (True, "high", "js_distance")
    assert (moved["n"], moved["n_baseline"], moved["baseline"]) == (20, 80, 0.0)
    assert moved["window_end"] == date(2026, 2, 15)
    assert (moved["kind"], moved["sop_id"], moved["workflow_id"]) == ("intent_mix", None, None)
    assert moved["sentence"] == (
        "In the week of 2026-02-09, the intent mix moved away from the baseline "
        "(Jensen-Shannon distance 0.55): intent a shrank from 50% to 10% of conversations "
        "and intent c 'points, lost' grew from 0% to 40% of conversations."
    )
    assert json.loads(moved["details"])["js_divergence"] == round(divergence, 4)
    assert json.loads(moved["details"])["moved"] == [
        {"category": "a", "label": None, "share_before": 0.5, "share_after": 0.1},
        {"category": "c", "label": "points, lost", "share_before": 0.0, "share_after": 0.4},
        {"category": "b", "label": None, "share_before": 0.5, "share_after": 0.5},
    ]


def test_outliers_and_missing_intents_are_one_unassigned_category():
    assignments, conversations = intents(BASELINE + [{"a": 10, "x": 4, "y": 6}])
    assignments = assignments.with_columns(
        intent_id=pl.when(pl.col("intent_id") == "y").then(None).otherwise("intent_id"),
        is_outlier=pl.col("intent_id") == "x",
    )
    found = find_mix_drift(assignments, conversations, config=CONFIG)
    moved = json.loads(found["details"].item())["moved"]
    assert [(m["category"], m["share_before"], m["share_after"]) for m in moved] == [
        ("b", 0.5, 0.0), ("unassigned", 0.0, 0.5), ("a", 0.5, 0.5),
    ]  # fmt: skip
    assert "'unassigned' grew from 0% to 50% of conversations" in found["sentence"].item()


def test_the_baseline_column_is_the_distance_among_baseline_windows():
    assignments, conversations = intents([{"a": 20}, {"b": 20}, {"a": 10, "b": 10}])
    found = find_mix_drift(assignments, conversations, config=DriftConfig(baseline_windows=2))
    assert found.select("baseline", "rate", "flagged").row(0) == (1.0, 0.0, False)


@pytest.mark.parametrize(
    ("plan", "windows"),
    [
        (NEW_INTENT, 2),
        (BASELINE + [{"a": 10, "b": 10}, {"a": 2, "b": 9, "c": 8}], 1),  # 19 < min_count
        ([{"a": 5}] * 3 + [{"a": 4}, {"c": 20}], 0),  # baseline of 19 conversations
        (BASELINE, 0),  # nothing after the baseline
    ],
)
def test_windows_with_fewer_than_min_count_conversations_are_not_tested(plan, windows):
    assignments, conversations = intents(plan)
    assert find_mix_drift(assignments, conversations, config=CONFIG).height == windows


def test_a_small_or_insignificant_move_is_not_flagged():
    assignments, conversations = intents(BASELINE + [{"a": 10, "b": 10}, {"a": 2, "b": 10, "c": 8}])
    strict = find_mix_drift(assignments, conversations, config=DriftConfig(js_threshold=0.6))
    assert strict["flagged"].to_list() == [False, False]
    assert strict["sentence"][1].endswith(
        "(Jensen-Shannon distance 0.55, below the threshold of 0.6)."
    )


# ---- variant mix -----------------------------------------------------------------------
def test_variant_mix_is_tested_per_workflow_with_rare_variants_pooled():
    baseline = [{"v1": 18, "v2": 1, "v3": 1}] * 4
    rows = weekly(baseline + [{"v1": 2, "v2": 18}], prefix="w", sop_id="refund")
    small = weekly([{"v1": 5}] * 6, prefix="z", sop_id="tiny")  # never min_count a window
    frame = pl.concat([rows, small]).rename({"key": "variant_id"}).with_columns(version=pl.lit(1))
    variants = pl.DataFrame({"variant_id": ["v2"], "sequence": [["verify", "refund"]]})
    found = find_variant_mix_drift(
        frame.drop("started_at"), frame.select("conversation_id", "started_at"),
        config=CONFIG, variants=variants, rare_share=0.05,
    )  # fmt: skip
    row = found.row(0, named=True)
    assert found.height == 1 and (row["kind"], row["sop_id"], row["workflow_id"]) == (
        "variant_mix", "refund", "refund",
    )  # fmt: skip
    assert row["sentence"] == (
        "In the week of 2026-02-02, the variant mix of refund moved away from the baseline "
        "(Jensen-Shannon distance 0.79): variant v2 'verify > refund' grew from 5% to 90% of "
        "conversations and variant v1 shrank from 90% to 10% of conversations."
    )
    moved = json.loads(row["details"])["moved"]
    assert [m["category"] for m in moved] == ["v2", "v1", "other variants"]


# ---- conformance change points ---------------------------------------------------------
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


# ---- contracts -------------------------------------------------------------------------
def _all_kinds() -> pl.DataFrame:
    assignments, conversations = intents(NEW_INTENT)
    rows, dates = conformance(STEP)
    return pl.concat([
        find_mix_drift(assignments, conversations, config=CONFIG),
        find_variant_mix_drift(rows, dates, config=CONFIG),
        find_conformance_changes(rows, dates, config=CONFIG),
    ])  # fmt: skip


def test_findings_keep_the_drift_findings_contract():
    found = _all_kinds()
    assert found.columns == schema.batch_columns(schema.DRIFT_FINDINGS)
    assert found.schema == DRIFT_FINDINGS_SCHEMA
    assert found["finding_id"].n_unique() == found.height
    assert set(found["kind"]) <= set(schema.DRIFT_KINDS)
    assert set(found["severity"]) <= set(schema.SEVERITIES)
    assert found.filter(~pl.col("flagged"))["severity"].unique().to_list() == ["info"]
    for column in ("finding_id", "kind", "flagged", "severity", "sentence", "details"):
        assert found[column].null_count() == 0
    ddl = next(s for s in schema.MIGRATIONS[5] if f"table {schema.DRIFT_FINDINGS} " in s)
    con = duckdb.connect()
    con.execute(ddl)
    stamped = found.with_columns(run_id=pl.lit("r1"))  # noqa: F841 (read by DuckDB)
    con.execute(f"insert into {schema.DRIFT_FINDINGS} select * from stamped")
    assert con.execute(
        f"select count(*), count(details -> '$.before') from {schema.DRIFT_FINDINGS}"
    ).fetchone() == (found.height, 2)


def test_finding_ids_are_stable_across_runs():
    assert _all_kinds()["finding_id"].to_list() == _all_kinds()["finding_id"].to_list()


def test_drift_does_not_modify_its_input():
    assignments, conversations = intents(NEW_INTENT)
    rows, dates = conformance(STEP)
    before = [f.clone() for f in (assignments, conversations, rows, dates)]
    find_mix_drift(assignments, conversations, config=CONFIG)
    find_variant_mix_drift(rows, dates, config=CONFIG)
    find_conformance_changes(rows, dates, config=CONFIG)
    for kept, frame in zip(before, (assignments, conversations, rows, dates), strict=True):
        assert frame.equals(kept)


@pytest.mark.parametrize("stage", ["intent", "variant", "change"])
def test_empty_input_gives_an_empty_contract_frame(stage):
    rows, dates = conformance([])
    rows = pl.DataFrame(schema={"conversation_id": pl.String, "sop_id": pl.String,
                                "version": pl.Int64, "variant_id": pl.String,
                                "fitness": pl.Float64, "is_conforming": pl.Boolean,
                                "intent_id": pl.String})  # fmt: skip
    dates = pl.DataFrame(schema={"conversation_id": pl.String,
                                 "started_at": pl.Datetime("us", "UTC")})  # fmt: skip
    run = {
        "intent": lambda: find_mix_drift(rows, dates, config=CONFIG),
        "variant": lambda: find_variant_mix_drift(rows, dates, config=CONFIG),
        "change": lambda: find_conformance_changes(rows, dates, config=CONFIG),
    }[stage]
    found = run()
    assert found.is_empty() and found.schema == DRIFT_FINDINGS_SCHEMA


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda a, c: find_mix_drift(a.drop("intent_id"), c, config=CONFIG),
         "lacks column\\(s\\) intent_id"),
        (lambda a, c: find_mix_drift(a, c.drop("started_at"), config=CONFIG),
         "the conversations frame lacks column\\(s\\) started_at"),
        (lambda a, c: find_conformance_changes(a, c, config=CONFIG),
         "the conformance frame lacks column\\(s\\) sop_id, fitness, is_conforming"),
    ],
)  # fmt: skip
def test_a_missing_column_is_a_schema_error(call, message):
    assignments, conversations = intents(NEW_INTENT)
    with pytest.raises(SchemaError, match=message):
        call(assignments, conversations)
