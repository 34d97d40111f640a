"""The quality scoreboard's check against its baseline, and how it plants STAR drift.

The scoreboard itself runs the whole pipeline on real datasets (minutes): `.ci/run` runs
it; here its judgement and its data changes are tested on tiny inputs.
"""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "benchmarks"))

import quality  # noqa: E402
import quality_report  # noqa: E402
from quality_datasets import _dropper, _swapper  # noqa: E402
from quality_report import Figure, check, spread, write_baseline  # noqa: E402

from pipeline.sops.model import Step  # noqa: E402

BASELINE = {
    "figures": {
        "star.steps.edit_similarity": {"value": 0.90, "direction": 1, "tolerance": 0.01},
        "star-drift.drift.s/b.order_violation.rank": {
            "value": 2,
            "direction": -1,
            "tolerance": 0,
        },  # fmt: skip
        "banking77.intents.accuracy": {"value": 0.55, "direction": 1, "tolerance": 0.02},
    }
}


def figure(key: str, value, direction: int = 1) -> Figure:
    run, stage = key.split(".")[:2]
    return Figure(key, run, stage, key, value, direction)


def report(*figures: Figure, runs=("star", "star-drift", "banking77")) -> dict:
    return {"figures": [f.__dict__ for f in figures], "runs": list(runs), "meta": {}}


@pytest.mark.parametrize(
    ("edit", "rank", "problems", "better"),
    [
        (0.90, 2, 0, 0),  # as the baseline
        (0.891, 2, 0, 0),  # within the tolerance
        (0.889, 2, 1, 0),  # fell by more than it
        (0.95, 1, 0, 2),  # both better
        (0.90, 3, 1, 0),  # a rank: lower is better, tolerance 0
        (0.90, None, 1, 0),  # the planted drift is no longer printed
    ],
)
def test_check_judges_each_figure_by_its_direction_and_tolerance(edit, rank, problems, better):
    figures = [
        figure("star.steps.edit_similarity", edit),
        figure("star-drift.drift.s/b.order_violation.rank", rank, direction=-1),
        figure("banking77.intents.accuracy", 0.55),
    ]
    found, improved = check(figures, BASELINE, ran={"star", "star-drift", "banking77"})
    assert (len(found), len(improved)) == (problems, better)


def test_check_names_the_figure_and_by_how_much():
    figures = [
        figure("star.steps.edit_similarity", 0.85),
        figure("banking77.intents.accuracy", 0.55),
    ]
    problems, _ = check(figures, BASELINE, ran={"star", "banking77"})
    assert problems == [
        "star.steps.edit_similarity: 0.850 vs baseline 0.900 (-0.0500; tolerance 0.0100)"
    ]


def test_a_run_that_did_not_happen_is_not_judged_but_a_missing_figure_of_one_that_did_is():
    figures = [figure("star.steps.edit_similarity", 0.90)]
    problems, _ = check(figures, BASELINE, ran={"star"})  # no ../shared Banking77 this time
    assert problems == []
    problems, _ = check(figures, BASELINE, ran={"star", "banking77"})
    assert problems == ["banking77.intents.accuracy: missing (baseline 0.550)"]


def test_check_command_fails_on_a_figure_made_worse_on_purpose_and_passes_on_the_baseline(
    tmp_path, capsys
):
    committed = json.loads(quality.BASELINE.read_text())
    figures = [
        Figure(key, key.split(".")[0], key.split(".")[1], key, spec["value"], spec["direction"])
        for key, spec in committed["figures"].items()
    ]
    runs = sorted({f.run for f in figures})
    saved = tmp_path / "results.json"
    saved.write_text(json.dumps(report(*figures, runs=runs)))
    assert quality.main(["--results", str(saved), "--check"]) == 0
    assert "check: no figure fell beyond its tolerance" in capsys.readouterr().out

    worse = copy.deepcopy(figures)
    target = next(f for f in worse if f.key.endswith("steps.edit_similarity"))
    target.value -= 2 * committed["figures"][target.key]["tolerance"] + 0.01
    saved.write_text(json.dumps(report(*worse, runs=runs)))
    assert quality.main(["--results", str(saved), "--check"]) == 1
    out = capsys.readouterr().out
    assert f"WORSE than the baseline: {target.key}: " in out
    assert "check: 1 figure(s) fell beyond tolerance" in out


def test_spread_is_the_largest_distance_from_the_first_run_and_sets_the_tolerance(tmp_path):
    runs = [
        report(figure("star.steps.edit_similarity", v), figure("star.intents.nmi", 0.7))
        for v in (0.90, 0.93, 0.88)
    ]
    measured = spread(runs)
    assert measured == {"star.steps.edit_similarity": pytest.approx(0.03), "star.intents.nmi": 0}
    board = {**runs[0], "spread": measured, "seeds": [0, 1, 2]}
    path = tmp_path / "baseline.json"
    write_baseline(path, board, None)
    written = json.loads(path.read_text())["figures"]
    assert written["star.steps.edit_similarity"]["tolerance"] == pytest.approx(0.03)
    assert written["star.intents.nmi"]["tolerance"] == quality_report.RESOLUTION  # never below it


def test_a_baseline_update_without_a_noise_run_keeps_the_measured_tolerances(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, report(figure("star.steps.edit_similarity", 0.95)), BASELINE)
    written = json.loads(path.read_text())["figures"]["star.steps.edit_similarity"]
    assert written == {"value": 0.95, "direction": 1, "tolerance": 0.01}


def star_dialogue():
    return {
        "DialogueID": 7,
        "Events": [
            {"Agent": "User", "Action": "utter", "Text": "hi", "UnixTime": 10},
            {"Agent": "Wizard", "Action": "pick_suggestion", "ActionLabel": "ask_name",
             "Text": "Your name?", "UnixTime": 11},
            {"Agent": "Wizard", "Action": "query", "APIName": "hotel", "UnixTime": 12},
            {"Agent": "KnowledgeBase", "Action": "return_item", "APIName": "hotel", "Item": {}},
            {"Agent": "Wizard", "Action": "pick_suggestion", "ActionLabel": "ask_day",
             "Text": "Which day?", "UnixTime": 13},
            {"Agent": "Wizard", "Action": "query", "APIName": "hotel", "UnixTime": 14},
            {"Agent": "KnowledgeBase", "Action": "return_item", "APIName": "hotel", "Item": {}},
        ],
    }  # fmt: skip


def test_dropping_a_said_step_removes_its_replies_only():
    dialogue = star_dialogue()
    _dropper(Step(id="ask_day"))(dialogue)
    assert [e.get("ActionLabel") or e["Action"] for e in dialogue["Events"]] == [
        "utter", "ask_name", "query", "return_item", "query", "return_item",
    ]  # fmt: skip


def test_dropping_a_bound_step_removes_every_call_and_its_results():
    dialogue = star_dialogue()
    _dropper(Step(id="query", action="hotel.query"))(dialogue)
    assert [e.get("ActionLabel") or e["Action"] for e in dialogue["Events"]] == [
        "utter", "ask_name", "ask_day",
    ]  # fmt: skip


def test_a_swap_exchanges_the_two_steps_and_keeps_the_clock_in_order():
    dialogue = star_dialogue()
    _swapper("ask_name", "ask_day")(dialogue)
    said = [(e.get("ActionLabel"), e.get("UnixTime")) for e in dialogue["Events"]]
    assert said[1] == ("ask_day", 11) and said[4] == ("ask_name", 13)
