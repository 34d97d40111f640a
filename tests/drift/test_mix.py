"""Mix drift: the Jensen-Shannon distance and the intent and variant mix tests."""

import dataclasses
import json
import math
from datetime import UTC, date, datetime, timedelta

import duckdb
import numpy as np
import polars as pl
import pytest
from drift.change_points_cases import STEP, conformance
from scipy.spatial.distance import jensenshannon

from pipeline import migrations, schema
from pipeline.config import DriftConfig
from pipeline.drift.change_points import find_conformance_changes
from pipeline.drift.mix import (
    DRIFT_FINDINGS_SCHEMA,
    find_mix_drift,
    find_variant_mix_drift,
    js_distance,
    js_divergence,
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


BASELINE = [{"a": 10, "b": 10}] * 4
NEW_INTENT = BASELINE + [{"a": 10, "b": 10}, {"a": 2, "b": 10, "c": 8}]


# ---- the distance ---------------------------------------------------------------------
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
        "and the intent 'points, lost' (c) grew from 0% to 40% of conversations."
    )
    assert json.loads(moved["details"])["js_divergence"] == round(divergence, 4)
    assert json.loads(moved["details"])["moved"] == [
        {"category": "a", "label": None, "share_before": 0.5, "share_after": 0.1},
        {"category": "c", "label": "points, lost", "share_before": 0.0, "share_after": 0.4},
        {"category": "b", "label": None, "share_before": 0.5, "share_after": 0.5},
    ]


def test_consecutive_flagged_windows_are_one_finding_from_the_onset():
    plan = NEW_INTENT + [{"a": 2, "b": 10, "c": 8}]
    assignments, conversations = intents(plan)
    found = find_mix_drift(assignments, conversations, config=CONFIG)
    flagged = found.filter("flagged")
    assert flagged.height == 1  # one finding, printed once
    finding = flagged.row(0, named=True)
    assert (finding["window_start"], finding["window_end"]) == (date(2026, 2, 9), date(2026, 2, 22))
    assert finding["sentence"].startswith("Since 2026-02-09: in the week of 2026-02-16, the "
                                          "intent mix moved away")  # fmt: skip
    details = json.loads(finding["details"])
    assert details["n_windows"] == 2
    assert [w["window_start"] for w in details["series"]] == ["2026-02-09", "2026-02-16"]
    windows = found.filter(pl.col("details").str.contains('"window_flagged": true'))
    assert windows["window_start"].to_list() == [date(2026, 2, 9), date(2026, 2, 16)]
    assert windows["severity"].unique().to_list() == ["info"]
    assert all(s.endswith("Part of the finding since 2026-02-09.") for s in windows["sentence"])
    assert found["finding_id"].is_unique().all()


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


def test_a_move_within_the_baseline_weeks_own_variation_is_not_flagged():
    # baseline weeks alternate between two mixes (noise 0.5 among them); the window moves
    # 0.32 from the pooled baseline: significant against sampling, yet ordinary here
    plan = [{"a": 40, "b": 10}, {"a": 10, "b": 40}] * 2 + [{"a": 40, "b": 10}]
    assignments, conversations = intents(plan)
    row = find_mix_drift(assignments, conversations, config=CONFIG).row(0, named=True)
    assert row["rate"] < row["baseline"] and row["rate"] >= CONFIG.js_threshold
    assert row["q_value"] <= CONFIG.alpha
    assert not row["flagged"]
    assert "within the baseline weeks' own variation" in row["sentence"]


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
@pytest.mark.parametrize(("factor", "severity"), [(2.0, "high"), (6.0, "medium")])
def test_a_mix_change_is_high_from_js_high_factor_times_the_threshold(factor, severity):
    assignments, conversations = intents(NEW_INTENT)  # a distance of 0.55 in week 2
    found = find_mix_drift(assignments, conversations, config=DriftConfig(js_high_factor=factor))
    assert found.select("flagged", "severity").rows() == [(False, "info"), (True, severity)]


def test_variant_mix_is_tested_per_workflow_with_rare_variants_pooled():
    baseline = [{"v1": 18, "v2": 1, "v3": 1}] * 4
    rows = weekly(baseline + [{"v1": 2, "v2": 18}], prefix="w", sop_id="refund")
    small = weekly([{"v1": 5}] * 6, prefix="z", sop_id="tiny")  # never min_count a window
    frame = pl.concat([rows, small]).rename({"key": "variant_id"}).with_columns(version=pl.lit(1))
    variants = pl.DataFrame({"variant_id": ["v2"], "sequence": [["verify", "refund"]]})
    found = find_variant_mix_drift(
        frame.drop("started_at"), frame.select("conversation_id", "started_at"),
        config=dataclasses.replace(CONFIG, variant_rare_share=0.05), variants=variants,
    )  # fmt: skip
    row = found.row(0, named=True)
    assert found.height == 1 and (row["kind"], row["sop_id"], row["workflow_id"]) == (
        "variant_mix", "refund", "refund",
    )  # fmt: skip
    assert row["sentence"] == (
        "In the week of 2026-02-02, the variant mix of refund moved away from the baseline "
        "(Jensen-Shannon distance 0.79): the variant 'verify > refund' (v2) grew from 5% to 90% of "
        "conversations and variant v1 shrank from 90% to 10% of conversations."
    )
    moved = json.loads(row["details"])["moved"]
    assert [m["category"] for m in moved] == ["v2", "v1", "other variants"]


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
    ddl = next(s for s in migrations.MIGRATIONS[5] if f"table {schema.DRIFT_FINDINGS} " in s)
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
    for kept, frame in zip(before, (assignments, conversations, rows, dates), strict=True):
        assert frame.equals(kept)


@pytest.mark.parametrize("stage", ["intent", "variant"])
def test_empty_input_gives_an_empty_contract_frame(stage):
    rows = pl.DataFrame(schema={"conversation_id": pl.String, "sop_id": pl.String,
                                "version": pl.Int64, "variant_id": pl.String,
                                "fitness": pl.Float64, "is_conforming": pl.Boolean,
                                "intent_id": pl.String})  # fmt: skip
    dates = pl.DataFrame(schema={"conversation_id": pl.String,
                                 "started_at": pl.Datetime("us", "UTC")})  # fmt: skip
    run = {
        "intent": lambda: find_mix_drift(rows, dates, config=CONFIG),
        "variant": lambda: find_variant_mix_drift(rows, dates, config=CONFIG),
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
        (lambda a, c: find_variant_mix_drift(a, c, config=CONFIG),
         "the conformance frame lacks column\\(s\\) sop_id, variant_id"),
    ],
)  # fmt: skip
def test_a_missing_column_is_a_schema_error(call, message):
    assignments, conversations = intents(NEW_INTENT)
    with pytest.raises(SchemaError, match=message):
        call(assignments, conversations)


@pytest.mark.parametrize("distance", [js_divergence, js_distance])
def test_the_divergence_does_not_modify_its_input(distance):
    p, q = (
        np.array([[0.5, 0.5, 0.0], [0.2, 0.3, 0.5]]),
        np.array([[0.0, 0.5, 0.5], [0.2, 0.3, 0.5]]),
    )
    before = (p.copy(), q.copy())
    distance(p, q)
    np.testing.assert_array_equal(p, before[0])
    np.testing.assert_array_equal(q, before[1])
