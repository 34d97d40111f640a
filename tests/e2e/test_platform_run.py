"""The real Amazon Transcribe Call Analytics output through the whole ``cxminer run``.

``tests/fixtures/platform/amazon/transcribe-call-analytics-example-call.json`` is real
service output of a staged call, PII-redacted by Amazon (``[PII]``). One call is too little
for intents, drift or readiness; the run must still finish, load its 37 turns in order and
store nothing the platform hid nor its account id.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeline import schema
from pipeline.cli.main import main
from pipeline.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("prefect_harness")]

ROOT = Path(__file__).resolve().parents[2]
CALL = (
    ROOT
    / "tests"
    / "fixtures"
    / "platform"
    / "amazon"
    / "transcribe-call-analytics-example-call.json"
)


def test_a_real_transcribe_call_runs_through_every_stage(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text(
        f"database: {tmp_path / 'cx.duckdb'}\nlanding: {CALL}\nsops: {ROOT / 'data/sops/sample'}\n"
        f"embed:\n  cache_dir: {ROOT / '.cache' / 'cxminer'}\n"
        f"flows:\n  report_dir: {tmp_path / 'out'}\n"
    )
    assert main(["run", "--config", str(tmp_path / "config.yaml")]) == 0
    printed = capsys.readouterr().out
    assert "[amazon] ok: 1 records, 1 new" in printed
    source = json.loads(CALL.read_text())
    with open_store(tmp_path / "cx.duckdb", read_only=True) as store:
        turns = store.sql(f"select speaker, text from {schema.TURNS} order by turn_idx").rows()
        stored = " ".join(
            str(value)
            for table in (schema.CONVERSATIONS, schema.TURNS, schema.STEP_EVENTS)
            for row in store.sql(f"select * from {table}").rows()
            for value in row
        )
        assert store.count(schema.RUNS) >= 5  # ingest, embed, intents, process, drift, ...
    roles = [t["ParticipantRole"].lower() for t in source["Transcript"]]
    assert [speaker for speaker, _ in turns] == roles  # 37 turns, in the file's order
    assert "[PII]" not in stored and "<PII>" in stored  # Amazon's markers, as placeholders
    assert source["AccountId"] not in stored
    assert (tmp_path / "out" / "index.html").exists()
