"""Playbook bundles on a store: export, validate, replay, and the CLI's exit codes."""

import pytest
import yaml
from fake_embedders import WordsEmbedder
from stage_runs import update_process
from steps.run_cases import seeded_store

from pipeline.cli.main import main
from pipeline.config import Config, StepsConfig
from pipeline.errors import SopError
from pipeline.outcomes.run import update_outcomes
from pipeline.playbook.run import export_bundle, read_bundle, replay_bundle
from pipeline.sops.files import load_sop
from pipeline.store import open_store


@pytest.fixture
def analysed(tmp_path):
    database, sops = seeded_store(tmp_path)
    config = Config(database=database, sops=sops, steps=StepsConfig(threshold=0.6))
    with open_store(database) as store:
        update_process(store, config=config, embedder=WordsEmbedder(), run_id="r1")
        update_outcomes(store, config=config, run_id="r1")
    return database, config


def test_an_exported_bundle_validates_and_passes_its_tests(analysed, tmp_path):
    database, config = analysed
    done = export_bundle(database, "balance", tmp_path / "b", config=config)
    assert (done["playbook"], done["version"], done["conversations"]) == ("documented", 1, 1)
    files = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*.*"))
    assert files == ["EVIDENCE.md", "monitors.yaml", "playbook.yaml", "tests/deviations.yaml",
                     "tests/golden.yaml"]  # fmt: skip
    sop = load_sop(tmp_path / "b" / "playbook.yaml")
    assert sop.observed["content_hash"] == done["content_hash"]
    assert set(sop.observed["steps"]) == {"ask_account", "inform_balance"}
    playbook, cases = read_bundle(tmp_path / "b")
    assert [c.steps for c in cases] == [("ask_account", "inform_balance")]
    assert all(o.passed for o in replay_bundle(playbook, cases, db_path=database))


def test_the_cli_fails_when_an_edited_playbook_breaks_a_golden_case(analysed, tmp_path, capsys):
    database, _ = analysed
    folder = tmp_path / "b"
    assert main(["playbook", "export", "balance", "--db", str(database), "--out", str(folder)]) == 0
    assert main(["playbook", "test", str(folder)]) == 0
    playbook = folder / "playbook.yaml"
    data = yaml.safe_load(playbook.read_text())
    data["steps"] = [s for s in data["steps"] if s["id"] != "inform_balance"]
    data["steps"][0].pop("next", None)
    playbook.write_text(yaml.safe_dump(data))
    capsys.readouterr()
    assert main(["playbook", "test", str(folder)]) == 1
    out = capsys.readouterr().out
    assert "FAIL  golden" in out and "undocumented: inform_balance" in out
    assert out.rstrip().endswith("0 of 1 cases pass")


def test_an_unknown_workflow_names_the_known_ones(analysed, tmp_path):
    database, config = analysed
    with pytest.raises(SopError, match="no conversations of workflow 'nope'; workflows: balance"):
        export_bundle(database, "nope", tmp_path / "b", config=config)


def test_the_audit_view_names_the_playbook_each_conversation_was_checked_against(analysed):
    from steps.run_cases import BALANCE

    from pipeline.drift.run import update_drift
    from pipeline.report.views import view_statements
    from pipeline.sops.model import content_hash

    database, config = analysed
    with open_store(database) as store:
        update_drift(store, config=config, embedder=WordsEmbedder(), run_id="r2")
        store.create_views(view_statements())
        audit = store.sql("select * from conformance_audit")
    assert audit.select("conversation_id", "sop_id", "playbook_version", "playbook_hash",
                        "checked_in_run", "playbook_loaded_in_run").rows() == [
        ("c1", "balance", 1, content_hash(BALANCE), "r2", "r1")
    ]  # fmt: skip
