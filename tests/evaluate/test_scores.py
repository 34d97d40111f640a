import json

import polars as pl
import pytest
from conftest import FIXTURES, ingest_star_excerpt

from pipeline.errors import LabelsError
from pipeline.evaluate.datasets import star_labels
from pipeline.evaluate.scores import evaluate
from pipeline.evaluate.truth import write_labels
from pipeline.store import open_store

SECTIONS = ("intents", "steps", "process", "drift", "readiness", "redaction")


def write_truth(folder):
    folder.mkdir(exist_ok=True)
    (folder / "drift.json").write_text(
        json.dumps(
            {
                "findings": [
                    {
                        "sop_id": "refund",
                        "step": "verify",
                        "kind": "missing",
                        "onset": "2026-03-10",
                    },
                    {
                        "sop_id": "refund",
                        "step": "close",
                        "kind": "missing",
                        "team": "north",
                        "onset": "2026-03-10",
                    },
                ]
            }
        )
    )
    (folder / "readiness.json").write_text(
        json.dumps({"order": ["B", "A"], "tiers": {"A": "autonomous", "B": "human-led"}})
    )
    return folder


@pytest.mark.parametrize("with_truth", [False, True])
def test_ingested_data_only_reports_every_analytic_section_absent(tmp_path, db_path, with_truth):
    ingest_star_excerpt(db_path)
    labels = tmp_path / "labels.jsonl"
    write_labels(star_labels(FIXTURES / "star_excerpt.jsonl"), labels)
    truth = write_truth(tmp_path / "truth") if with_truth else None
    result = evaluate(db_path, labels, truth_dir=truth)
    # star-45 has no turns: quarantined at ingest, so one label matches nothing
    assert result["labels"] == {
        "n": 26,
        "matched_conversations": 25,
        "with_steps": 26,
        "with_turn_steps": 26,
        "with_turn_pii": 0,
    }
    assert result["intents"] == {
        "status": "absent",
        "reason": "table intent_assignments is empty: run the intents stage",
    }
    assert result["steps"]["reason"] == "table step_events is empty: run the steps stage"
    assert result["process"]["reason"] == "table step_events is empty: run the steps stage"
    assert result["drift"]["reason"] == "table drift_findings is empty: run the drift stage"
    assert result["readiness"]["reason"] == "table readiness is empty: run the readiness stage"
    assert result["redaction"]["reason"] == (
        "the labels carry no turn_pii: nothing to score redaction against"
    )
    assert all(result[s]["status"] == "absent" for s in SECTIONS)
    json.dumps(result, allow_nan=False)


LABELS = [
    {
        "conversation_id": "c1",
        "intent": "A",
        "steps": ["greet", "verify"],
        "turn_steps": {"1": "greet", "3": "verify"},
    },
    {
        "conversation_id": "c2",
        "intent": "A",
        "steps": ["greet", "verify", "close"],
        "turn_steps": {"1": "greet", "3": "verify", "5": "close"},
    },
    {
        "conversation_id": "c3",
        "intent": "B",
        "steps": ["greet", "refund"],
        "turn_steps": {"1": "greet", "2": "refund"},
    },
    {"conversation_id": "c4", "intent": "B", "steps": ["greet"], "turn_steps": {"1": "greet"}},
    {"conversation_id": "c5", "intent": "A"},  # in no table
]

FAKE_TABLES = [
    "create or replace table intent_assignments (conversation_id varchar, intent_id integer, "
    "probability double, is_outlier boolean, run_id varchar)",
    # an older run that must be ignored
    "insert into intent_assignments values ('c1', 5, 1, false, 'r1'), ('c2', 6, 1, false, 'r1'), "
    "('c3', 7, 1, false, 'r1'), ('c4', 8, 1, false, 'r1')",
    "insert into intent_assignments values ('c1', 0, .9, false, 'r2'), ('c2', 0, .8, false, 'r2'), "
    "('c3', 1, .7, false, 'r2'), ('c4', 1, .1, true, 'r2')",
    "create or replace table step_events (conversation_id varchar, seq integer, step_id varchar, "
    "turn_idx integer, ts timestamptz, source varchar, confidence double, run_id varchar)",
    "insert into step_events values ('c1', 0, 'junk', 1, null, 'sop', 1, 'r1')",
    "insert into step_events (conversation_id, seq, step_id, turn_idx, run_id) values "
    "('c1', 1, 's7', 3, 'r2'), ('c1', 0, 'greet', 1, 'r2'), ('c1', 2, 'other', 4, 'r2'), "
    "('c2', 0, 'greet', 1, 'r2'), ('c2', 1, 's7', 3, 'r2'), ('c2', 2, 's7', 5, 'r2'), "
    "('c3', 0, 'greet', 1, 'r2'), ('c3', 1, 's9', 2, 'r2')",
]


def make_fake_db(db_path, tmp_path, *statements):
    with open_store(db_path) as store:
        for statement in (*FAKE_TABLES, *statements):
            store.con.execute(statement)
    labels = tmp_path / "labels.jsonl"
    write_labels(LABELS, labels)
    return labels


def test_intents_steps_and_process_on_fake_tables(tmp_path, db_path):
    labels = make_fake_db(db_path, tmp_path)
    result = evaluate(db_path, labels)
    assert result["labels"] == {
        "n": 5,
        "matched_conversations": 0,  # no conversations ingested in this fake
        "with_steps": 4,
        "with_turn_steps": 4,
        "with_turn_pii": 0,
    }
    intents = result["intents"]
    # true A A B B, predicted 0 0 1 noise: H(T)=ln2, H(P)=1.5 ln2, I=ln2 -> NMI 0.8
    assert intents == {
        "status": "ok",
        "run_id": "r2",
        "nmi": pytest.approx(0.8),
        "ari": pytest.approx(4 / 7),
        "accuracy": 0.75,
        "n_clusters_found": 2,
        "n_true": 2,
        "noise_share": 0.25,
        "n": 4,
        "n_labelled_unscored": 1,
    }
    # per-turn pairs: greet x3 (identity), s7->verify x2 and ->close x1, s9->refund x1
    steps = result["steps"]
    assert steps == {
        "status": "ok",
        "run_id": "r2",
        "n_conversations": 3,  # c4 has no events
        "n_labelled_turns": 7,
        "per_turn_accuracy": pytest.approx(6 / 7),  # c2 turn 5 is close, not verify
        "turn_coverage": 1.0,
        "n_sequences": 3,
        "edit_similarity": pytest.approx((1 + 2 / 3 + 1) / 3),
        "exact_sequence_share": pytest.approx(2 / 3),
        # c1's unlabelled `other` event only counts on the full log: greet verify other
        "edit_similarity_full_log": pytest.approx((2 / 3 + 2 / 3 + 1) / 3),
        "n_step_ids": 4,
        "n_mapped_identity": 2,
        "mapping": {"greet": "greet", "other": "other", "s7": "verify", "s9": "refund"},
    }
    # A: found {▶g, gv, v■}; true adds v->close, close->■ -> P 1, R 3/5, F1 .75; B perfect
    process = result["process"]
    assert process["per_intent"]["A"] == {
        "precision": 1.0,
        "recall": 0.6,
        "f1": pytest.approx(0.75),
        "tp": 3,
        "n_found": 3,
        "n_true": 5,
        "n_conversations": 2,
    }
    assert process["per_intent"]["B"]["f1"] == 1.0
    assert (process["n_intents"], process["precision"], process["recall"]) == (2, 1.0, 0.8)
    assert process["f1"] == pytest.approx(0.875)
    # full log, A: c1 adds v->other, other->end (found 5, tp 3: P .6, R .6) ; B perfect
    assert process["f1_full_log"] == pytest.approx((0.6 + 1.0) / 2)
    assert result["drift"]["status"] == result["readiness"]["status"] == "absent"
    json.dumps(result, allow_nan=False)


def test_turn_labels_the_sequences_leave_out_are_not_scored_in_sequences(tmp_path, db_path):
    # the sample's labels: greetings, closings and `other` on turns, not in `steps`
    labels = tmp_path / "labels.jsonl"
    turn_steps = {"0": "greeting", "1": "other", "2": "verify", "4": "closing"}
    write_labels([{"conversation_id": "c1", "intent": "A", "steps": ["verify"],
                   "turn_steps": turn_steps}], labels)  # fmt: skip
    with open_store(db_path) as store:
        store.con.execute(
            "create or replace table step_events (conversation_id varchar, seq integer, "
            "step_id varchar, turn_idx integer, run_id varchar)"
        )
        store.con.execute(
            "insert into step_events values ('c1', 0, 'greeting', 0, 'r1'), "
            "('c1', 1, 'other', 1, 'r1'), ('c1', 2, 'verify', 2, 'r1'), "
            "('c1', 3, 'd_3', 3, 'r1'), ('c1', 4, 'closing', 4, 'r1')"
        )
    steps = evaluate(db_path, labels)["steps"]
    assert steps["per_turn_accuracy"] == 1.0  # turn labels still score every turn
    assert steps["edit_similarity"] == 1.0  # the sequence: verify, as the label's
    assert steps["edit_similarity_full_log"] == pytest.approx(1 / 5)


def test_drift_and_readiness_against_truth_files(tmp_path, db_path):
    labels = make_fake_db(
        db_path,
        tmp_path,
        "create or replace table drift_findings (sop_id varchar, step varchar, window_start date, "
        "kind varchar, team varchar, severity double, flagged boolean, run_id varchar)",
        "insert into drift_findings values "
        "('refund', 'verify', '2026-03-09', 'missing', null, 1, true, 'r1'), "
        "('refund', 'verify', '2026-03-16', 'missing', null, 1, true, 'r2'), "
        "('refund', 'close', '2026-03-09', 'missing', 'south', 1, true, 'r2'), "
        "('refund', 'close', '2026-03-09', 'missing', 'north', 1, false, 'r2'), "
        # another kind of finding: counted apart, not in the precision
        "(null, null, '2026-03-09', 'intent_mix', null, 1, true, 'r2')",
        "create or replace table readiness "
        "(run_id varchar, intent_id integer, score double, tier varchar)",
        "insert into readiness values ('r2', 0, 60, 'approval'), ('r2', 1, 80, 'human-led'), "
        "('r2', 2, 90, 'autonomous'), ('r1', 0, 99, 'autonomous')",
    )
    result = evaluate(db_path, labels, truth_dir=write_truth(tmp_path / "truth"))
    assert result["drift"] == {
        "status": "ok",
        "run_id": "r2",
        "precision": 0.5,  # the south flag matches nothing
        "recall": 0.5,
        "recall_first_window": 0.5,
        "n_flagged": 2,
        "n_planted": 2,
        "missed": [{"sop_id": "refund", "step": "close", "kind": "missing", "team": "north"}],
        "n_flagged_other_kinds": {"intent_mix": 1},
        # every printed change: verify (planted), close/south (not), the intent mix (no
        # emerging intent in this truth)
        "precision_every_kind": pytest.approx(1 / 3),
        "n_change_findings": 3,
        "explained_by_kind": {
            "intent_mix": {"explained": 0, "n": 1},
            "missing": {"explained": 1, "n": 2},
        },
        "exception_templates": None,  # no sops table
        # as `cxminer drift` prints the flagged: the later verify window first
        "n_printed": 3,
        "n_printed_top": 3,
        "n_printed_twice": 0,
        "planted": [
            {
                "sop_id": "refund",
                "step": "verify",
                "kind": "missing",
                "team": None,
                "onset": "2026-03-10",
                "rank": 1,
            },
            {
                "sop_id": "refund",
                "step": "close",
                "kind": "missing",
                "team": "north",
                "onset": "2026-03-10",
                "rank": None,
            },
        ],  # fmt: skip
        "outcome_effects": [],  # no outcome columns, no planted effects
    }
    # intent 0 -> A (c1, c2), 1 -> B (c3; the outlier c4 does not vote), 2 -> nothing
    assert result["readiness"] == {
        "status": "ok",
        "run_id": "r2",
        "spearman": pytest.approx(1.0),
        "n_common": 2,
        "tier_accuracy": 0.5,
        "n_tiers_compared": 2,
        "matched_by": "intent_id",  # no outcomes table: rows map through their intent
        "tiers": {
            "B": {"found": "human-led", "designed": "human-led"},
            "A": {"found": "approval", "designed": "autonomous"},
        },
        "n_unmapped_rows": 1,
        "row_map": {"1": "B", "0": "A"},
    }


def test_drift_without_truth_is_absent_and_bad_truth_is_an_error(tmp_path, db_path):
    labels = make_fake_db(
        db_path,
        tmp_path,
        "create or replace table drift_findings (sop_id varchar, step varchar, window_start date, "
        "kind varchar, flagged boolean, run_id varchar)",
        "insert into drift_findings values ('s', 'x', '2026-03-09', 'missing', true, 'r1')",
    )
    result = evaluate(db_path, labels)
    assert result["drift"] == {
        "status": "absent",
        "reason": "no truth folder given: pass truth_dir holding drift.json",
    }
    truth = tmp_path / "truth"
    truth.mkdir()
    assert "drift.json not found" in evaluate(db_path, labels, truth_dir=truth)["drift"]["reason"]
    (truth / "drift.json").write_text('{"findings": [{"sop_id": "s"}]}')
    with pytest.raises(LabelsError, match="drift.json: findings: expected a list of objects"):
        evaluate(db_path, labels, truth_dir=truth)


def test_empty_or_unrelated_tables_are_absent_not_zero(tmp_path, db_path):
    labels = make_fake_db(db_path, tmp_path, "delete from step_events")
    (tmp_path / "other.jsonl").write_text('{"conversation_id": "zz", "intent": "A"}\n')
    result = evaluate(db_path, labels)
    assert result["steps"] == {
        "status": "absent",
        "reason": "table step_events is empty: run the steps stage",
    }
    assert result["process"] == result["steps"]
    unrelated = evaluate(db_path, tmp_path / "other.jsonl")
    assert unrelated["intents"]["status"] == "absent"
    assert "no labelled conversation in intent_assignments" in unrelated["intents"]["reason"]


def test_missing_columns_are_reported(tmp_path, db_path):
    labels = make_fake_db(
        db_path, tmp_path, "create or replace table readiness (run_id varchar, intent_id integer)"
    )
    reason = evaluate(db_path, labels)["readiness"]["reason"]
    assert reason.startswith("table readiness lacks column(s) score, tier")


def test_readiness_rows_map_through_their_workflows_conversations(tmp_path, db_path):
    labels = make_fake_db(
        db_path,
        tmp_path,
        "create or replace table outcomes (conversation_id varchar, workflow_id varchar, "
        "run_id varchar)",
        # c1, c2 are true A; c3, c4 true B; workflow wB holds c3 and c4, wA holds c1, c2
        "insert into outcomes values ('c1', 'wA', 'r2'), ('c2', 'wA', 'r2'), "
        "('c3', 'wB', 'r2'), ('c4', 'wB', 'r2')",
        "create or replace table readiness (run_id varchar, workflow_id varchar, "
        "intent_id varchar, rank integer, score double, tier varchar)",
        # ranked by rank, not score: wB first although its score is lower
        "insert into readiness values ('r2', 'wB', '0', 1, 50, 'human-led'), "
        "('r2', 'wA', '0', 2, 90, 'autonomous')",
    )
    result = evaluate(db_path, labels, truth_dir=write_truth(tmp_path / "truth"))
    readiness = result["readiness"]
    assert readiness["matched_by"] == "workflow_id"
    assert readiness["row_map"] == {"wB": "B", "wA": "A"}
    assert readiness["spearman"] == pytest.approx(1.0)  # truth order: B, A
    assert readiness["tier_accuracy"] == 1.0


def test_conformance_share_per_true_intent_over_checked_conversations(tmp_path, db_path):
    labels = make_fake_db(
        db_path,
        tmp_path,
        "create or replace table conformance (conversation_id varchar, sop_id varchar, "
        "fitness double, is_conforming boolean, run_id varchar)",
        "insert into conformance values ('c1', 'refund', 0.5, false, 'r1')",  # an older run
        "insert into conformance values ('c1', 'refund', 1.0, true, 'r2'), "
        "('c2', 'refund', 0.5, false, 'r2'), ('c3', 'other', 0.9, true, 'r2')",
    )
    conformance = evaluate(db_path, labels)["conformance"]
    # A: c1 conforms, c2 does not, c5 was not checked; B: c3 conforms, c4 was not checked
    assert conformance == {
        "status": "ok",
        "run_id": "r2",
        "n_checked": 3,
        "checked_share": 3 / 5,
        "conforming_share": pytest.approx(2 / 3),
        "macro_conforming_share": pytest.approx((0.5 + 1.0) / 2),
        "mean_fitness": pytest.approx((1.0 + 0.5 + 0.9) / 3),
        "happy_path": None,  # the labels do not say
        "per_intent": {
            "A": {"n": 3, "n_checked": 2, "conforming_share": 0.5, "mean_fitness": 0.75},
            "B": {"n": 2, "n_checked": 1, "conforming_share": 1.0, "mean_fitness": 0.9},
        },
    }


def test_intent_labels_made_only_of_fillers_are_counted():
    from pipeline.evaluate.intents import score_intents
    from pipeline.evaluate.sections import Table

    assignments = Table(
        pl.DataFrame({"conversation_id": ["a", "b"], "intent_id": ["I1", "I2"],
                      "is_outlier": [False, False]}),
        "r1",
    )  # fmt: skip
    labels = pl.DataFrame({"conversation_id": ["a", "b"], "intent": ["x", "y"]})
    names = Table(
        pl.DataFrame({"intent_id": ["I1", "I2", "I3", "I4"],
                      "label": ["reset password", "hmm it's", "", "ah, think, it's"]}),
        "r1",
    )  # fmt: skip
    scored = score_intents(assignments, labels, names)
    assert (scored["filler_labels"], scored["n_labels"]) == (3, 4)
    assert "filler_labels" not in score_intents(assignments, labels)
