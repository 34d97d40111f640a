"""Outcome scores against ground truth (``pipeline.evaluate.outcomes``, through ``evaluate``)."""

from pipeline.evaluate.scores import evaluate
from pipeline.evaluate.truth import write_labels
from pipeline.store import open_store

SECTIONS = ("intents", "steps", "process", "drift", "readiness")


def test_outcomes_against_the_labels_that_carry_one(tmp_path, db_path):
    with open_store(db_path) as store:
        for statement in (
            "create or replace table outcomes (conversation_id varchar, workflow_id varchar, "
            "outcome varchar, outcome_source varchar, run_id varchar)",
            "insert into outcomes values ('c1', 'w', 'resolved', 'data', 'r1')",  # older run
            "insert into outcomes values ('c1', 'w', 'unknown', 'derived', 'r2'), "
            "('c2', 'w', 'resolved', 'derived', 'r2'), ('c3', 'w', 'resolved', 'data', 'r2'), "
            "('c4', 'w', 'abandoned', 'derived', 'r2')",
        ):
            store.con.execute(statement)
    labels = tmp_path / "labels.jsonl"
    write_labels(
        [
            {"conversation_id": "c1", "intent": "A", "outcome": "resolved"},
            {"conversation_id": "c2", "intent": "A", "outcome": "resolved"},
            {"conversation_id": "c3", "intent": "A", "outcome": "abandoned"},
            {"conversation_id": "c4", "intent": "A", "outcome": "abandoned"},
            {"conversation_id": "c5", "intent": "A"},  # no outcome: not scored
        ],
        labels,
    )
    outcomes = evaluate(db_path, labels)["outcomes"]
    assert outcomes == {
        "status": "ok",
        "run_id": "r2",
        "n": 4,
        "accuracy": 0.5,
        "macro_recall": 0.5,
        "derived_share": 0.75,
        "recall": {"abandoned": {"n": 2, "recall": 0.5}, "resolved": {"n": 2, "recall": 0.5}},
        "precision": {
            "abandoned": {"n": 1, "precision": 1.0},
            "resolved": {"n": 2, "precision": 0.5},
            "unknown": {"n": 1, "precision": 0.0},
        },
        "confusion": {
            "abandoned": {"abandoned": 1, "resolved": 1},
            "resolved": {"resolved": 1, "unknown": 1},
        },
    }
