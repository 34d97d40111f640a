"""Ingest of the real public datasets in ../shared/data (skipped when it is absent)."""

from __future__ import annotations

import gzip

import pytest
from conftest import SHARED_DATA

from flows.ingest import ingest_flow
from pipeline.evaluate.datasets import labels_from_format
from pipeline.store import open_store

pytestmark = [pytest.mark.shared_data, pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

STAR = SHARED_DATA / "star" / "dialogues.jsonl.gz"
BANKING77_TEST = SHARED_DATA / "banking77" / "test.csv"
MULTIDOGO_DEV = [
    SHARED_DATA / "multidogo" / d / "dev.tsv" for d in ("airline", "fastfood", "insurance")
]


def test_star_every_dialogue_is_loaded_or_quarantined_and_reingest_adds_nothing(tmp_path):
    n_dialogues = sum(1 for line in gzip.open(STAR) if line.strip())
    assert n_dialogues == 2627
    db = str(tmp_path / "star.duckdb")
    first = ingest_flow(inputs=[str(STAR)], db_path=db)
    source = first["sources"][0]
    assert source["format"] == "star"
    assert source["n_records"] == n_dialogues
    with open_store(db, read_only=True) as store:
        n_conv = store.count("conversations")
        reasons = store.sql("select reason, count(*) n from quarantine group by reason").rows()
        speakers = set(store.sql("select distinct speaker from turns")["speaker"])
        counts_before = {t: store.count(t) for t in ("conversations", "turns", "quarantine")}
    # The only dialogues not loaded are the ones with no conversation turn at all
    # (disconnected before anyone spoke): quarantined as empty, none lost.
    assert reasons == [("empty_turns", n_dialogues - n_conv)]
    assert n_conv == 2435
    assert speakers == {"customer", "agent", "system"}
    again = ingest_flow(inputs=[str(STAR)], db_path=db, force=True)
    assert again["counts"]["loaded"] == 0 and again["counts"]["replaced"] == 0
    assert again["counts"]["unchanged"] == n_conv
    with open_store(db, read_only=True) as store:
        assert {t: store.count(t) for t in counts_before} == counts_before


def test_abcd_sample_loads_with_action_events(tmp_path):
    db = str(tmp_path / "abcd.duckdb")
    result = ingest_flow(inputs=[str(SHARED_DATA / "abcd" / "abcd_sample.json")], db_path=db)
    assert result["counts"]["loaded"] == 3
    with open_store(db, read_only=True) as store:
        actions = store.sql(
            "select action_name from turns where event_type = 'action' "
            "order by conversation_id, turn_idx"
        )["action_name"].to_list()
    assert "pull-up-account" in actions and len(actions) >= 6


def test_banking77_test_split_loads_whole_and_its_labels_name_77_intents(tmp_path):
    db = str(tmp_path / "b77.duckdb")
    result = ingest_flow(inputs=[str(BANKING77_TEST)], db_path=db)  # format detected
    source = result["sources"][0]
    assert source["format"] == "banking77"
    assert (source["n_records"], source["n_loaded"], source["n_quarantined"]) == (3080, 3080, 0)
    with open_store(db, read_only=True) as store:
        ids = set(store.sql("select conversation_id from conversations")["conversation_id"])
        turns = store.sql("select speaker, count(*) n, max(turn_idx) last from turns group by 1")
        assert turns.rows() == [("customer", 3080, 0)]
        assert store.count("quarantine") == 0
    labels = list(labels_from_format("banking77", [BANKING77_TEST]))
    assert len(labels) == 3080
    assert {row["conversation_id"] for row in labels} == ids
    assert len({row["intent"] for row in labels}) == 77


def test_multidogo_dev_splits_load_as_one_contact_centre_and_labels_point_at_them(tmp_path):
    db = str(tmp_path / "mdg.duckdb")
    result = ingest_flow(inputs=[str(p) for p in MULTIDOGO_DEV], db_path=db)  # format detected
    assert [s["format"] for s in result["sources"]] == ["multidogo"] * 3
    assert [(s["n_records"], s["n_quarantined"]) for s in result["sources"]] == [
        (240, 0),
        (223, 1),  # one conversation with an empty customer turn (missing_text)
        (232, 1),
    ]
    with open_store(db, read_only=True) as store:
        ids = set(store.sql("select conversation_id from conversations")["conversation_id"])
        assert store.sql("select speaker, count(*) n from turns group by 1").rows() == [
            ("customer", 5855)
        ]
        quarantined = set(store.sql("select conversation_id from quarantine")["conversation_id"])
    labels = list(labels_from_format("multidogo", MULTIDOGO_DEV))
    labelled = {row["conversation_id"] for row in labels}
    assert len(labels) == len(labelled) == 672
    assert labelled <= ids | quarantined and len(ids) == 693
    assert len({row["intent"] for row in labels}) == 14


def test_star_every_task_exports_a_bundle_whose_tests_pass_and_tools_are_its_api(tmp_path):
    from pathlib import Path

    from pipeline.cli.main import main
    from pipeline.sops.files import load_sop

    tasks = sorted(p.name for p in (SHARED_DATA / "star" / "tasks").iterdir() if p.is_dir())
    assert len(tasks) == 12
    sops = tmp_path / "sops"
    assert main(["sop", "import", "--format", "star", str(SHARED_DATA / "star" / "tasks"),
                 "--out", str(sops)]) == 0  # fmt: skip
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {tmp_path / 'star.duckdb'}\nlanding: {STAR}\nsops: {sops}\n"
        f"ingest:\n  format: star\nembed:\n  cache_dir: {Path.cwd() / '.cache' / 'cxminer'}\n"
        f"flows:\n  report_dir: {tmp_path / 'report'}\n"
    )
    assert main(["run", "--config", str(config)]) == 0
    for task in tasks:
        out = tmp_path / "bundles" / task
        assert main(["playbook", "export", task, "--out", str(out), "--config", str(config)]) == 0
        assert main(["playbook", "test", str(out)]) == 0, task
        # each tool-calling step's main tool is the task's own API (a dialogue the steps
        # stage gave the wrong SOP brings another task's call, a share of a step's calls)
        steps = load_sop(out / "playbook.yaml").observed["steps"].values()
        main_tools = [s["tools"][0]["name"] for s in steps if s.get("tools")]
        assert main_tools and all(t.startswith(f"{task}.") for t in main_tools), (task, steps)
