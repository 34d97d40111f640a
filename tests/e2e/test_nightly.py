"""The nightly flow end to end on a small generated sample, real model and real Prefect.

Every stage writes its tables, the commands that read them work, a re-run with no new
data reuses every stage, and a run killed half-way, then run again, leaves the same
tables as an uninterrupted run.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from processes import kill_group

from pipeline import schema
from pipeline.cli.main import main
from pipeline.sample.generate import generate_sample
from pipeline.sample.truth import write_sample
from pipeline.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

# Analytic tables and their key columns (for a stable row order); run_id is left out.
COMPARED = {
    schema.INTENT_ASSIGNMENTS: "conversation_id",
    schema.STEP_EVENTS: "conversation_id, seq",
    schema.VARIANTS: "workflow_id, variant_id",
    schema.CANDIDATE_SOPS: "workflow_id, step",
    schema.OUTCOMES: "conversation_id",
    schema.CONFORMANCE: "conversation_id",
    schema.DRIFT_FINDINGS: "finding_id",
    schema.READINESS: "workflow_id",
}


def write_config(folder: Path, data: Path, db: Path) -> Path:
    config = folder / "config.yaml"
    config.write_text(
        f"database: {db}\nlanding: {data}\nsops: {data / 'sops'}\n"
        f"embed:\n  cache_dir: {Path.cwd() / '.cache' / 'cxminer'}\n"
        f"flows:\n  report_dir: {folder / 'out'}\n"
    )
    return config


@pytest.fixture(scope="module")
def sample(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("nightly") / "data"
    write_sample(generate_sample(400, seed=5), data)
    return data


@pytest.fixture(scope="module")
def uninterrupted(sample, tmp_path_factory) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("whole")
    config = write_config(folder, sample, folder / "cx.duckdb")
    assert main(["run", "--config", str(config)]) == 0
    return config, folder / "cx.duckdb"


def snapshot(db: Path) -> dict[str, list[tuple]]:
    with open_store(db, read_only=True) as store:
        tables = {}
        for table, key in COMPARED.items():
            columns = ", ".join(c for c in schema.COLUMNS[table] if c != "run_id")
            latest = (
                f"where run_id = (select max(run_id) from {table})"
                if table == schema.READINESS
                else ""
            )
            tables[table] = store.sql(
                f"select {columns} from {table} {latest} order by {key}"
            ).rows()
        return tables


def test_every_stage_writes_its_tables_and_the_report(uninterrupted, capsys):
    config, db = uninterrupted
    with open_store(db, read_only=True) as store:
        for table in (schema.SOPS, *COMPARED):
            assert store.count(table) > 0, table
        flows = store.sql("select distinct flow from runs where status = 'ok'")["flow"]
        assert set(flows) == {
            "ingest",
            "embed",
            "intents",
            "process",
            "drift",
            "readiness",
            "report",
        }
    html = (config.parent / "out" / "index.html").read_text()
    assert "<html" in html and "http://" not in html.replace("http://www.w3.org", "")
    assert (config.parent / "out" / "summary.md").exists()
    capsys.readouterr()
    assert main(["drift", "--config", str(config), "--all", "--limit", "5"]) == 0
    assert main(["readiness", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    assert "refund_request" in printed and "rank" in printed


def test_a_rerun_without_new_data_reuses_every_stage(uninterrupted, capsys):
    config, db = uninterrupted
    before = snapshot(db)
    capsys.readouterr()
    assert main(["run", "--config", str(config)]) == 0
    printed = capsys.readouterr().out
    for stage in ("intents", "steps", "drift", "readiness"):
        assert f"{stage}: unchanged since run" in printed
    assert snapshot(db) == before


def test_a_killed_run_completed_by_the_next_equals_an_uninterrupted_run(
    sample, uninterrupted, tmp_path
):
    _, whole_db = uninterrupted
    db = tmp_path / "cx.duckdb"
    config = write_config(tmp_path, sample, db)
    cxminer = Path(sys.executable).with_name("cxminer")
    process = subprocess.Popen(
        [str(cxminer), "run", "-v", "--config", str(config)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "PREFECT_LOGGING_LEVEL": "INFO"},
    )  # fmt: skip
    deadline = time.monotonic() + 300
    for line in process.stdout:  # kill it inside the intent stage (it runs for seconds)
        if "for flow 'intents'" in line or time.monotonic() > deadline:
            break
    time.sleep(3)
    kill_group(process)  # the run and the local Prefect server it started, as a machine would
    with open_store(db, read_only=True) as store:
        # killed: a stage never finished, and the ranking was never written
        runs = store.sql("select flow, status from runs order by run_id").rows()
        assert [f for f, s in runs if s == "running"] == ["intents"], runs
        assert store.count(schema.READINESS) == 0
    assert main(["run", "--config", str(config)]) == 0
    assert snapshot(db) == snapshot(whole_db)
