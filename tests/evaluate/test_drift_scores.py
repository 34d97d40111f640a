"""Drift and conformance figures: every kind, printed twice, templates, happy-path scenarios."""

import json
from datetime import date

import polars as pl
import pytest

from pipeline.evaluate.drift import score_drift
from pipeline.evaluate.sections import Table


def truth(folder, *, emerging=None):
    folder.mkdir(exist_ok=True)
    planted = [{"sop_id": "refund", "step": "verify", "kind": "missing", "onset": "2026-03-09"}]
    (folder / "drift.json").write_text(json.dumps({"findings": planted}))
    if emerging:
        (folder / "planted.json").write_text(json.dumps({"emerging_intents": emerging}))
    return folder


def findings(*rows):
    columns = ["finding_id", "kind", "sop_id", "workflow_id", "step", "team", "window_start",
               "window_end", "flagged", "severity", "q_value", "details"]  # fmt: skip
    frame = pl.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], orient="row")
    return Table(frame.with_columns(pl.col("window_start", "window_end").cast(pl.Date)), "r1")


W1, W2, W3 = date(2026, 3, 9), date(2026, 3, 16), date(2026, 3, 2)
ROWS = [
    # the planted drift, and a later run of the same series: printed twice
    ("a", "missing", "refund", "refund", "verify", None, W1, W2, True, "high", 0.001, "{}"),
    ("b", "missing", "refund", "refund", "verify", None, W2, W2, True, "low", 0.04, "{}"),
    # a team's part of it, nested: not a printed finding of its own
    ("c", "missing", "refund", "refund", "verify", "south", W1, W2, True, "high", 0.001,
     '{"parent": "a"}'),
    # the variant mix of the drifted workflow after the onset: explained
    ("d", "variant_mix", None, "refund", None, None, W1, W2, True, "high", 0.01, "{}"),
    # a conformance change of another workflow, and an intent mix change before any emerging
    ("e", "conformance_change", "order", "order", None, None, W1, W2, True, "high", 0.01, "{}"),
    ("f", "intent_mix", None, None, None, None, W3, W3, True, "high", 0.01, "{}"),
    # outcome impact: a description of the whole period, scored apart
    ("g", "outcome_impact", "refund", "refund", "verify", None, W3, W2, True, "high", 0.01, "{}"),
]  # fmt: skip


def test_precision_over_every_change_finding_and_findings_printed_twice(tmp_path):
    result = score_drift(findings(*ROWS), truth(tmp_path / "t"), 7)
    # printed: a (c nested), b, d, e, f, g; changes: a b d e f, explained a b d
    assert result["n_printed"] == 7 and result["n_printed_top"] == 6
    assert result["n_change_findings"] == 5
    assert result["precision_every_kind"] == pytest.approx(3 / 5)
    assert result["explained_by_kind"] == {
        "conformance_change": {"explained": 0, "n": 1},
        "intent_mix": {"explained": 0, "n": 1},
        "missing": {"explained": 2, "n": 2},
        "variant_mix": {"explained": 1, "n": 1},
    }
    assert result["n_printed_twice"] == 1  # b repeats a


def test_an_intent_mix_change_after_an_emerging_intent_is_explained(tmp_path):
    folder = truth(tmp_path / "t", emerging=[{"intent": "points", "first_seen": "2026-03-01"}])
    result = score_drift(findings(*ROWS), folder, 7)
    assert result["explained_by_kind"]["intent_mix"] == {"explained": 1, "n": 1}


def test_conformance_is_scored_apart_on_happy_path_and_other_scenarios():
    from pipeline.evaluate.conformance import score_conformance
    from pipeline.evaluate.sections import Table

    checked = pl.DataFrame({"conversation_id": ["a", "b", "c", "d"],
                            "is_conforming": [True, True, False, False],
                            "fitness": [1.0, 1.0, 0.5, 0.8]})  # fmt: skip
    labels = pl.DataFrame({"conversation_id": ["a", "b", "c", "d", "e"], "intent": ["x"] * 5,
                           "happy_path": [True, True, True, False, None]})  # fmt: skip
    result = score_conformance(Table(checked, "r1"), labels)
    assert result["happy_path"] == {
        "happy": {"n": 3, "conforming_share": pytest.approx(2 / 3)},
        "other": {"n": 1, "conforming_share": 0.0},
    }


def test_a_planted_outcome_effect_of_a_one_sop_step_is_read_from_that_sops_row(tmp_path):
    folder = truth(tmp_path / "t")
    effects = [{"step": "check", "metric": "repeat_contact_7d", "measured_rate_when_skipped": 0.2,
                "measured_rate_when_done": 0.1}]  # fmt: skip
    (folder / "drift.json").write_text(json.dumps({
        "findings": json.loads((folder / "drift.json").read_text())["findings"],
        "outcome_effects": effects,
    }))  # fmt: skip
    frame = pl.DataFrame({
        "kind": ["outcome_impact"] * 2, "sop_id": ["refund", "refund"], "step": ["check"] * 2,
        "metric": ["repeat_contact", "escalated"], "outcome_deviating": [0.18, 0.3],
        "outcome_conforming": [0.09, 0.1], "flagged": [True, True], "n": [39, 39],
        "window_start": [W3, W3], "details": ['{"deviation": "missing"}'] * 2,
        "severity": ["high", "high"], "q_value": [0.01, 0.01],
    })  # fmt: skip
    (effect,) = score_drift(Table(frame, "r1"), folder, 7)["outcome_effects"]
    assert (effect["found_scope"], effect["found_skipped"], effect["found_done"]) == (
        "refund", 0.18, 0.09)  # fmt: skip
    assert effect["same_sign"] and effect["delta_ratio"] == pytest.approx(0.9)
