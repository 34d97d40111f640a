"""`cxminer run` end to end on a small generated sample: steps, process tables, drafts, XES.

Uses the real embedding model and real Prefect flows.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from pipeline.cli.main import main
from pipeline.sample.generate import generate_sample
from pipeline.sample.truth import write_sample
from pipeline.sops.files import load_sop
from pipeline.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

TABLES = ("step_types", "step_events", "variants", "dfg_edges", "candidate_sops")


@pytest.fixture(scope="module")
def sample_run(tmp_path_factory) -> tuple[Path, Path, Path]:
    folder = tmp_path_factory.mktemp("sample")
    write_sample(generate_sample(400, seed=3), folder / "data")
    config = folder / "config.yaml"
    config.write_text(
        f"database: {folder / 'cx.duckdb'}\nlanding: {folder / 'data'}\n"
        f"sops: {folder / 'data' / 'sops'}\n"
        f"embed:\n  cache_dir: {Path.cwd() / '.cache' / 'cxminer'}\n"
    )
    assert main(["run", "--config", str(config)]) == 0
    return folder, config, folder / "cx.duckdb"


def counts(db: Path) -> dict[str, int]:
    with open_store(db, read_only=True) as store:
        return {t: store.count(t) for t in TABLES}


def test_every_agent_turn_and_action_becomes_one_event_and_most_are_guided(sample_run):
    _, _, db = sample_run
    with open_store(db, read_only=True) as store:
        units = store.scalar("select count(*) from turns where speaker in ('agent', 'bot')")
        assert store.count("step_events") == units
        # no workflow only where neither a SOP nor an intent applies (unassigned request)
        assert (
            store.scalar(
                "select count(*) from step_events e join intent_assignments a using "
                "(conversation_id) where e.workflow_id is null and a.intent_id is not null"
            )
            == 0
        )
        guided = store.scalar(
            "select avg((sop_id is not null)::int) from "
            "(select conversation_id, max(sop_id) sop_id from step_events group by 1)"
        )
        assert guided > 0.8
        runs = store.sql("select flow, status from runs where flow = 'process'")
        assert runs.rows() == [("process", "ok")]


def test_rerun_is_idempotent(sample_run):
    _, config, db = sample_run
    before = counts(db)
    assert main(["run", "--config", str(config)]) == 0
    assert counts(db) == before


def test_sop_draft_is_a_loadable_playbook_of_its_workflow(sample_run, capsys):
    folder, config, _ = sample_run
    out = folder / "draft.yaml"
    assert main(["sop", "draft", "refund_request", "-o", str(out), "--config", str(config)]) == 0
    draft = load_sop(out)
    mandatory = {s.id for s in draft.steps if s.mandatory}
    assert {"verify_identity", "issue_refund"} <= mandatory
    assert "greeting" not in {s.id for s in draft.steps}
    assert main(["sop", "draft", "no_such_flow", "--config", str(config)]) == 1
    assert "no candidate SOP for workflow 'no_such_flow'" in capsys.readouterr().err


def test_export_log_writes_one_trace_per_conversation(sample_run):
    folder, config, db = sample_run
    out = folder / "log.xes"
    assert main(["export-log", "-o", str(out), "--config", str(config)]) == 0
    root = ET.parse(out).getroot()
    traces = [e for e in root if e.tag.endswith("trace")]
    with open_store(db, read_only=True) as store:
        assert len(traces) == store.scalar(
            "select count(distinct conversation_id) from step_events"
        )


def test_every_documented_workflow_exports_a_bundle_that_guards_its_playbook(sample_run, capsys):
    folder, config, _ = sample_run
    for path in sorted((folder / "data" / "sops").glob("*.yaml")):
        workflow, out = path.stem, folder / "bundles" / path.stem
        args = ["--config", str(config)]
        assert main(["playbook", "export", workflow, "--out", str(out), *args]) == 0, workflow
        assert load_sop(out / "playbook.yaml").sop_id == workflow  # it validates
        assert main(["playbook", "test", str(out), *args]) == 0, workflow
    # refund_request: a mandatory step made optional stops a known deviation; a step the
    # golden cases perform removed fails them; both exit 1
    out = folder / "bundles" / "refund_request"
    deviations = yaml.safe_load((out / "tests" / "deviations.yaml").read_text())["cases"]
    skipped = next(c["expect"]["missing"][0] for c in deviations if "missing" in c["expect"])
    golden = yaml.safe_load((out / "tests" / "golden.yaml").read_text())["cases"]
    performed = golden[0]["steps"][-1]
    for edit in ("optional", "removed"):
        data = yaml.safe_load((out / "playbook.yaml").read_text())
        if edit == "optional":
            next(s for s in data["steps"] if s["id"] == skipped)["mandatory"] = False
        else:
            data["steps"] = [s for s in data["steps"] if s["id"] != performed]
            for step in data["steps"]:
                step["after"] = [a for a in step.get("after", []) if a != performed]
                step["next"] = [n for n in step.get("next", []) if n != performed]
        edited = folder / "bundles" / f"refund_{edit}"
        edited.mkdir()
        (edited / "tests").mkdir()
        for name in ("tests/golden.yaml", "tests/deviations.yaml"):
            (edited / name).write_text((out / name).read_text())
        (edited / "playbook.yaml").write_text(yaml.safe_dump(data))
        capsys.readouterr()
        assert main(["playbook", "test", str(edited)]) == 1, edit
        said = capsys.readouterr().out
        expected = f"missing: {skipped}" if edit == "optional" else f"undocumented: {performed}"
        assert expected in said, said
