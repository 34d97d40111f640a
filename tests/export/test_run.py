"""Writing vCon files from a store (``pipeline.export.run``) and ``cxminer export-vcon``."""

import json
from datetime import date, datetime

import pytest
from export.run_cases import EMAIL, PHONE, RAW_IDS, seeded_export_store

from pipeline.cli.main import EXIT_ERROR, EXIT_OK, EXIT_USAGE, main
from pipeline.errors import InputError, StoreError
from pipeline.export.run import SUFFIX, VconCounts, export_vcons
from pipeline.export.vcon import vcon_uuid
from pipeline.store import open_store


def exported(folder) -> dict[str, dict]:
    """The files of a folder, by the conversation id their dialog names."""
    files = {}
    for path in sorted(folder.glob(f"*{SUFFIX}")):
        vcon = json.loads(path.read_text(encoding="utf-8"))
        assert path.name == f"{vcon['uuid']}{SUFFIX}"
        files[vcon["dialog"][0]["interaction_id"]] = vcon
    return files


@pytest.fixture
def database(tmp_path):
    return seeded_export_store(tmp_path)


def test_one_file_per_conversation_named_by_its_uuid(database, tmp_path):
    counts = export_vcons(database, tmp_path / "out")
    files = exported(tmp_path / "out")
    assert counts == VconCounts(files=3, dialog=7, analyses=4)
    assert sorted(files) == ["m-1", "m-2", "m-3"]
    assert {c: v["uuid"] for c, v in files.items()} == {c: vcon_uuid(c) for c in files}
    assert [p.name for p in (tmp_path / "out").iterdir() if p.name.startswith(".")] == []


def test_the_results_of_the_store_are_analyses_with_their_run(database, tmp_path):
    export_vcons(database, tmp_path / "out")
    m1 = exported(tmp_path / "out")["m-1"]
    bodies = {a["type"]: a["body"] for a in m1["analysis"]}
    assert list(bodies) == ["steps", "conformance", "drift", "actions"]  # no intent stage run
    assert [
        (s["step_id"], s["label"], s["sop_id"], s["dialog"]) for s in bodies["steps"]["steps"]
    ] == [("greet", "greeting", "acct", 0), ("lookup", "Look the customer up", "acct", None)]
    assert bodies["conformance"]["missing"] == ["verify"]
    assert bodies["drift"]["findings"][0]["sentence"] == "agents skip verify"
    assert bodies["drift"]["findings"][0]["dialog"] == 2
    assert {b["run_id"] for t, b in bodies.items() if t != "actions"} == {"r-results"}
    assert bodies["actions"]["run_id"] == "r-ingest"
    assert bodies["actions"]["actions"][0]["args"] == {"email": "<EMAIL>"}
    assert m1["created_at"] == "2026-05-01T00:00:00Z"


def test_no_raw_id_and_no_unredacted_text_reaches_a_file(database, tmp_path):
    export_vcons(database, tmp_path / "out")
    blob = "\n".join(p.read_text() for p in (tmp_path / "out").iterdir())
    assert [n for n in (EMAIL, PHONE, *RAW_IDS) if n in blob] == []
    assert "<EMAIL>" in blob and "<PHONE>" in blob
    with open_store(database, read_only=True) as store:
        hashes = store.sql("select customer_hash, agent_hash from conversations").rows()
    parties = {p["uuid"] for v in exported(tmp_path / "out").values() for p in v["parties"]
               if "uuid" in p}  # fmt: skip
    assert parties == {h for row in hashes for h in row if h}


def test_exporting_again_rewrites_the_same_bytes(database, tmp_path):
    export_vcons(database, tmp_path / "a")
    export_vcons(database, tmp_path / "b", batch_size=1)  # batches do not change a file
    export_vcons(database, tmp_path / "a")
    first = {p.name: p.read_bytes() for p in (tmp_path / "a").iterdir()}
    assert first == {p.name: p.read_bytes() for p in (tmp_path / "b").iterdir()}


@pytest.mark.parametrize(
    ("since", "expected"),
    [
        (date(2026, 5, 1), ["m-1"]),  # from midnight UTC on; no start time: left out
        (datetime(2026, 4, 30, 23, 59, 59), ["m-1", "m-2"]),  # a time without zone is UTC
        (date(2026, 5, 2), []),
        (None, ["m-1", "m-2", "m-3"]),
    ],
)
def test_since_keeps_the_conversations_started_on_or_after_it(database, tmp_path, since, expected):
    counts = export_vcons(database, tmp_path / "out", since=since)
    assert sorted(exported(tmp_path / "out")) == expected
    assert counts.files == len(expected)


def test_a_database_from_before_drift_examples_exports_without_them(database, tmp_path):
    with open_store(database) as store:
        store.con.execute("drop table drift_examples")
    export_vcons(database, tmp_path / "out")
    m1 = exported(tmp_path / "out")["m-1"]
    assert [a["type"] for a in m1["analysis"]] == ["steps", "conformance", "actions"]


def test_an_empty_or_missing_database_is_a_store_error(tmp_path):
    with pytest.raises(StoreError, match="no database yet"):
        export_vcons(tmp_path / "missing.duckdb", tmp_path / "out")
    with open_store(tmp_path / "empty.duckdb"):
        pass
    with pytest.raises(StoreError, match="no conversations to export; run `cxminer run`"):
        export_vcons(tmp_path / "empty.duckdb", tmp_path / "out")


def test_an_output_folder_that_cannot_be_made_is_an_input_error(database, tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(InputError, match="file/out: cannot create the output folder"):
        export_vcons(database, tmp_path / "file" / "out")


def test_cli_export_vcon_says_what_it_wrote(database, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["export-vcon", "--db", str(database), "-o", str(out), "--since", "2026-05-01"]
    assert main(args) == EXIT_OK
    assert capsys.readouterr().out == (
        f"wrote 1 vCon files to {out}, one per conversation started on or after 2026-05-01 "
        "(3 text turns, 4 analyses)\n"
    )
    assert len(list(out.iterdir())) == 1


def test_cli_export_vcon_rejects_a_bad_date_and_a_missing_database(tmp_path, capsys):
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit) as exit_info:
        main(["export-vcon", "--db", str(tmp_path / "x.duckdb"), "-o", out, "--since", "5/1"])
    assert exit_info.value.code == EXIT_USAGE
    assert "--since: expected a date as YYYY-MM-DD, found '5/1'" in capsys.readouterr().err
    assert main(["export-vcon", "--db", str(tmp_path / "x.duckdb"), "-o", out]) == EXIT_ERROR
    assert "cxminer: error: " in capsys.readouterr().err
