"""Nothing leaked: planted PII and raw ids never reach DuckDB, the report, the CLI output
or its logs, through every stage of `cxminer run`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from conftest import FIXTURES, write_jsonl

from pipeline.cli.main import main
from pipeline.store import open_store

CASES = [json.loads(line) for line in (FIXTURES / "redaction_cases.jsonl").read_text().splitlines()]
RAW_IDS = [f"customer-raw-{i:03d}" for i in range(20)] + [f"agent-raw-{i:02d}" for i in range(5)]


def build_corpus(tmp_path: Path) -> Path:
    """Every planted case as a customer turn, in metadata, in action args and in quarantine."""
    records = []
    for i, case in enumerate(CASES):
        records.append(
            {
                "conversation_id": f"pii-{i}",
                "customer_id": RAW_IDS[i % 20],
                "agent_id": RAW_IDS[20 + i % 5],
                "metadata": {"crm_note": case["text"]},
                "turns": [
                    {"speaker": "customer", "text": case["text"]},
                    {
                        "speaker": "agent",
                        "event_type": "action",
                        "action": "crm.note",
                        "args": {"note": case["text"]},
                    },
                    {"speaker": "agent", "text": "thank you"},
                ],
            }
        )
    # Bad records carrying PII and raw ids, so quarantine raw and messages are checked too.
    for i, case in enumerate(CASES[:40]):
        records.append(
            {
                "conversation_id": f"bad-{i}",
                "customer_id": RAW_IDS[i % 20],
                "turns": [{"speaker": "intruder", "text": case["text"]}],
            }
        )
    return write_jsonl(tmp_path / "pii.jsonl", records)


def planted_values() -> list[str]:
    return sorted({pii["value"] for case in CASES for pii in case["pii"]}, key=len, reverse=True)


def text_columns(store) -> list[tuple[str, str]]:
    rows = store.sql(
        "select table_name, column_name from information_schema.columns "
        "where data_type in ('VARCHAR', 'JSON') and table_schema = 'main'"
    )
    return list(rows.iter_rows())


@pytest.mark.slow
@pytest.mark.usefixtures("prefect_harness")
def test_no_planted_pii_or_raw_id_anywhere_in_the_database_or_output(tmp_path, capsys, monkeypatch):
    assert len(planted_values()) >= 200
    path = build_corpus(tmp_path)
    db = tmp_path / "leak.duckdb"
    root = Path(__file__).resolve().parents[2]
    config = tmp_path / "config.yaml"
    config.write_text(
        f"database: {db}\nlanding: {path}\nsops: {root / 'data' / 'sops' / 'sample'}\n"
        f"embed:\n  cache_dir: {root / '.cache' / 'cxminer'}\n"
        f"flows:\n  report_dir: {tmp_path / 'out'}\n"
    )
    monkeypatch.setenv("CXMINER_HASH_KEY", "leak-test-key")
    assert main(["run", "--config", str(config), "-v"]) == 0
    output = capsys.readouterr()
    needles = planted_values() + RAW_IDS
    with open_store(db, read_only=True) as store:
        assert store.count("conversations") == len(CASES)
        assert store.count("quarantine") == 40
        columns = text_columns(store)
        assert ("turns", "text") in columns and ("quarantine", "raw") in columns
        leaks = []
        for table, column in columns:
            values = store.sql(f'select "{column}"::varchar as v from {table} where v is not null')[
                "v"
            ].to_list()
            blob = "\n".join(values)
            leaks += [(table, column, n) for n in needles if n in blob]
    assert leaks == []
    assert [n for n in needles if n in output.out + output.err] == []
    data = db.read_bytes()
    assert [n for n in needles if n.encode() in data] == []
    for report in ("index.html", "summary.md"):
        text = (tmp_path / "out" / report).read_text()
        assert [n for n in needles if n in text] == [], report
    # every workflow's playbook bundle: playbook, tests, monitors, evidence
    with open_store(db, read_only=True) as store:
        workflows = store.sql("select distinct workflow_id from step_events "
                              "where workflow_id is not null")["workflow_id"].to_list()  # fmt: skip
    assert workflows
    for workflow in workflows:
        out = tmp_path / "bundles" / workflow
        args = ["playbook", "export", workflow, "--config", str(config), "--out", str(out)]
        assert main(args) == 0
        for file in out.rglob("*"):
            if file.is_file():
                text = file.read_text()
                assert [n for n in needles if n in text] == [], file
