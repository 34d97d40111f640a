"""Step-level drift in words: notes, the sentence and details of a row."""

import json
from datetime import date

import polars as pl
import pytest

from pipeline.drift.sentences import Notes, drift_notes, rate_row
from pipeline.sops.model import Sop, Step

RATE = {
    "sop_id": "refund", "kind": "missing", "step": "verify_identity", "group": "all",
    "value": None, "window_start": date(2026, 3, 2), "window_end": date(2026, 3, 8),
    "n": 20, "k": 3, "n_baseline": 40, "k_baseline": 2, "rate": 0.15, "baseline": 0.05,
    "p_value": 0.2, "q_value": 0.31, "test": "fisher", "change_low": -0.04, "change_high": 0.3,
    "flagged": False, "since": None, "severity": "info", "metric": None,
    "outcome_deviating": None, "outcome_conforming": None, "outcome_delta": None,
    "ci_low": None, "ci_high": None, "outcome_scope": None, "window_flagged": False,
}  # fmt: skip
#: A merged finding (pipeline.drift.runs.merge_runs): a run of three flagged weeks.
FINDING = {k: v for k, v in RATE.items() if k != "window_flagged"} | {
    "window_start": date(2026, 3, 2), "since": date(2026, 3, 2), "window_end": date(2026, 3, 22),
    "current_window": date(2026, 3, 16), "rate": 0.4, "flagged": True, "severity": "medium",
    "peak_rate": 0.55, "peak_window": date(2026, 3, 9), "n_windows": 3,
    "series": [{"window_start": date(2026, 3, 2), "rate": 0.3, "n": 20, "q_value": 0.01},
               {"window_start": date(2026, 3, 9), "rate": 0.55, "n": 20, "q_value": 0.0001},
               {"window_start": date(2026, 3, 16), "rate": 0.4, "n": 20, "q_value": 0.002}],
}  # fmt: skip
NO_NOTES = Notes(before={}, when={})


@pytest.mark.parametrize(
    ("window", "opening"),
    [("day", "On 2026-03-02"), ("week", "In the week of 2026-03-02"), ("month", "In 2026-03")],
)
def test_an_unflagged_row_names_its_window(window, opening):
    row = rate_row(RATE, NO_NOTES, window=window)
    assert row["sentence"] == (
        f"{opening}, agents skip *verify identity* in 15% of refund conversations "
        "(baseline 5%); not flagged (+10 points, q = 0.31)."
    )
    assert (row["severity"], row["team"], row["agent_hash"]) == ("info", None, None)
    assert json.loads(row["details"])["rate_change_ci"] == [-0.04, 0.3]


def test_a_merged_finding_gives_onset_current_rate_peak_and_series():
    row = rate_row(FINDING, NO_NOTES, window="week")
    assert row["sentence"] == (
        "Since 2026-03-02, agents skip *verify identity* in 40% of refund conversations in the "
        "week of 2026-03-16 (peak 55% in the week of 2026-03-09; baseline 5%)."
    )
    assert (row["flagged"], row["severity"], row["window_start"]) == (
        True,
        "medium",
        date(2026, 3, 2),
    )
    details = json.loads(row["details"])
    assert [w["rate"] for w in details["series"]] == [0.3, 0.55, 0.4]
    assert (details["n_windows"], details["peak_window"]) == (3, "2026-03-09")
    single = rate_row(FINDING | {"n_windows": 1}, NO_NOTES, window="week")
    assert single["sentence"].endswith("in 40% of refund conversations (baseline 5%).")


def test_a_window_of_a_finding_is_written_unflagged_with_its_own_id():
    window = RATE | {"window_flagged": True, "flagged": True, "since": date(2026, 3, 2),
                     "severity": "medium"}  # fmt: skip
    row = rate_row(window, NO_NOTES, window="week")
    assert (row["flagged"], row["severity"]) == (False, "info")
    assert row["sentence"].endswith("(baseline 5%); part of the finding since 2026-03-02.")
    finding = rate_row(FINDING, NO_NOTES, window="week")
    assert row["finding_id"] != finding["finding_id"]  # same series and start, not one row
    assert json.loads(row["details"])["window_flagged"] is True


def test_an_agent_is_named_by_six_characters_of_its_hash():
    row = rate_row(RATE | {"group": "agent_hash", "value": "3f2a1bc9d8e7"}, NO_NOTES, window="day")
    assert row["sentence"].startswith("On 2026-03-02, agent 3f2a1b… skips *verify identity*")
    assert row["agent_hash"] == "3f2a1bc9d8e7"


def test_notes_order_before_steps_by_frequency_and_quote_gate_conditions():
    deviations = pl.DataFrame(
        {
            "sop_id": ["refund", "refund", "refund", "address"],
            "kind": ["order_violation"] * 3 + ["missing"],
            "step": ["pay"] * 3 + ["pay"],
            "before": ["verify", "check", "check", None],
        }
    )
    sops = {"refund": Sop("refund", 1, ("refund",), (Step("pay"), Step("sign", when="x > 1")))}
    notes = drift_notes(deviations, sops)
    assert notes.before == {("refund", "pay"): ["check", "verify"],
                            (None, "pay"): ["check", "verify"]}  # fmt: skip
    assert notes.when == {("refund", "sign"): "x > 1"}


def test_notes_do_not_modify_their_input():
    deviations = pl.DataFrame({"sop_id": ["refund", "refund"], "kind": ["order_violation"] * 2,
                               "step": ["pay", "pay"], "before": ["verify", "check"]})  # fmt: skip
    before = deviations.clone()
    drift_notes(deviations, {"refund": Sop("refund", 1, ("refund",), (Step("pay"),))})
    assert deviations.equals(before)
