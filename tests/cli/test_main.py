import json
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import conversation, write_jsonl

from pipeline.cli.main import EXIT_ERROR, EXIT_OK, EXIT_QUARANTINE, EXIT_USAGE, main

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    (tmp_path / "config.yaml").write_text("database: out/db.duckdb\nlanding: landing\n")
    (tmp_path / "landing").mkdir()
    write_jsonl(
        tmp_path / "landing" / "a.jsonl",
        [
            conversation("c1", ("customer", "my email is x@y.com"), ("agent", "ok")),
            conversation("c2", ("alien", "hi")),
        ],
    )
    monkeypatch.chdir(tmp_path)
    return tmp_path


@pytest.mark.usefixtures("prefect_harness")
def test_run_then_status(workdir, capsys):
    assert main(["run"]) == EXIT_OK
    out, err = capsys.readouterr()
    assert "1 new" in out and "1 quarantined" in out
    assert "a.jsonl: line 2: turns[0].speaker: unknown value" in err
    assert main(["status", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["counts"]["conversations"] == 1
    assert report["quarantine_by_reason"] == {"unknown_speaker": 1}
    assert report["redactions_by_type"] == {"email": 1}
    assert main(["status"]) == EXIT_OK
    assert "unknown_speaker" in capsys.readouterr().out


@pytest.mark.usefixtures("prefect_harness")
def test_ingest_with_fail_on_quarantine_and_explicit_db(workdir, capsys):
    db = workdir / "other.duckdb"
    code = main(["ingest", "landing/a.jsonl", "--db", str(db), "--fail-on-quarantine"])
    assert code == EXIT_QUARANTINE
    assert db.exists()


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["status"], "no database yet"),
        (["status", "--config", "missing.yaml"], "config file not found"),
        (["run", "--input", "landing", "--sops", "no/such/folder"], "SOP folder not found"),
    ],
)
def test_errors_are_one_line_with_exit_code_1(workdir, capsys, argv, message):
    assert main(argv) == EXIT_ERROR
    err = capsys.readouterr().err
    assert err.startswith("cxminer: error: ") and message in err
    assert err.count("\n") == 1


@pytest.mark.usefixtures("prefect_harness")
def test_ingest_of_a_missing_path_is_a_one_line_error(workdir, capsys):
    assert main(["ingest", "nope.jsonl"]) == EXIT_ERROR
    assert "nope.jsonl: no such file or folder" in capsys.readouterr().err


def test_no_command_prints_help_with_usage_exit_code(capsys):
    assert main([]) == EXIT_USAGE
    assert "run" in capsys.readouterr().err


def test_console_script_is_installed_and_documents_every_command():
    exe = Path(sys.executable).parent / "cxminer"
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("run", "ingest", "status"):
        assert command in out
        sub = subprocess.run(
            [str(exe), command, "--help"], capture_output=True, text=True, check=True
        ).stdout
        assert "--config" in sub and "--db" in sub


@pytest.mark.usefixtures("prefect_harness")
def test_labels_and_evaluate_commands(workdir, capsys):
    from conftest import FIXTURES

    out = workdir / "labels.jsonl"
    assert (
        main(["labels", "--format", "star", str(FIXTURES / "star_excerpt.jsonl"), "-o", str(out)])
        == EXIT_OK
    )
    assert "wrote 26 label rows" in capsys.readouterr().out
    assert main(["ingest", str(FIXTURES / "star_excerpt.jsonl"), "--db", "e.duckdb"]) == EXIT_OK
    capsys.readouterr()
    assert main(["evaluate", "--labels", str(out), "--db", "e.duckdb", "--json"]) == EXIT_OK
    report = json.loads(capsys.readouterr().out)
    assert report["labels"]["matched_conversations"] == 25  # one dialogue has no turns
    assert report["intents"]["status"] == "absent"


def test_sop_validate_exit_codes(workdir, capsys):
    root = Path(__file__).resolve().parents[2]
    assert main(["sop", "validate", str(root / "data" / "sops" / "sample")]) == EXIT_OK
    assert "12 of 12 SOP files valid" in capsys.readouterr().out
    bad = workdir / "bad.yaml"
    bad.write_text("sop_id: s\nversion: 1\nsteps:\n  - {id: a, after: [b]}\n")
    assert main(["sop", "validate", str(bad)]) == EXIT_ERROR
    err = capsys.readouterr().err
    assert "step a: after names unknown step 'b'" in err


def test_sample_command_writes_corpus_truth_and_sops(workdir, capsys):
    assert main(["sample", "--out", "s", "--n", "200", "--seed", "3"]) == EXIT_OK
    assert "200 base" in capsys.readouterr().out
    for name in (
        "conversations.jsonl.gz",
        "truth/labels.jsonl",
        "truth/drift.json",
        "truth/readiness.json",
        "truth/planted.json",
        "sops/refund_request.yaml",
    ):
        assert (workdir / "s" / name).exists(), name
