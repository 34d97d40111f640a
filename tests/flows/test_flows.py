import json

import pytest
from conftest import conversation, write_jsonl

from flows.ingest import ingest_flow, ingest_small_sources, ingest_source
from pipeline.store import open_store

pytestmark = pytest.mark.usefixtures("prefect_harness")


def make_config(tmp_path, landing="landing"):
    path = tmp_path / "config.yaml"
    path.write_text(f"database: db.duckdb\nlanding: {landing}\n")
    (tmp_path / landing).mkdir(exist_ok=True)
    return path


def test_ingest_flow_records_the_run_and_is_idempotent(tmp_path):
    config = make_config(tmp_path)
    write_jsonl(
        tmp_path / "landing" / "a.jsonl",
        [conversation(f"c{i}", ("customer", "hi"), ("agent", "hello")) for i in range(5)]
        + [b"not json"],
    )
    first = ingest_flow(config_path=str(config))
    assert first["counts"] == {
        "records": 6,
        "loaded": 5,
        "replaced": 0,
        "unchanged": 0,
        "quarantined": 1,
    }
    second = ingest_flow(config_path=str(config))
    assert second["sources"][0]["status"] == "skipped"
    forced = ingest_flow(config_path=str(config), force=True)
    assert forced["counts"]["loaded"] == 0 and forced["counts"]["unchanged"] == 5
    with open_store(tmp_path / "db.duckdb", read_only=True) as store:
        assert store.count("conversations") == 5
        assert store.count("turns") == 10
        assert store.count("quarantine") == 1
        assert store.count("sources") == 1
        runs = store.sql("select * from runs order by started_at").to_dicts()
    assert [r["status"] for r in runs] == ["ok", "ok", "ok"]
    assert runs[0]["flow"] == "ingest" and len(runs[0]["config_hash"]) == 16
    assert runs[0]["code_version"].startswith("0.1.0")
    inputs = json.loads(runs[0]["inputs"])
    assert inputs[0]["path"].endswith("a.jsonl") and len(inputs[0]["sha256"]) == 64
    assert json.loads(runs[0]["row_counts"])["loaded"] == 5


def test_a_changed_file_replaces_changed_conversations(tmp_path):
    config = make_config(tmp_path)
    path = tmp_path / "landing" / "a.jsonl"
    write_jsonl(path, [conversation("c1", ("customer", "v1")), conversation("c2", ("agent", "x"))])
    ingest_flow(config_path=str(config))
    write_jsonl(
        path,
        [
            conversation("c1", ("customer", "v2")),
            conversation("c2", ("agent", "x")),
            conversation("c3", ("agent", "new")),
        ],
    )
    result = ingest_flow(config_path=str(config))
    assert result["counts"] == {
        "records": 3,
        "loaded": 1,
        "replaced": 1,
        "unchanged": 1,
        "quarantined": 0,
    }
    with open_store(tmp_path / "db.duckdb", read_only=True) as store:
        texts = store.sql("select text from turns order by conversation_id")["text"].to_list()
    assert texts == ["v2", "x", "new"]


def test_an_unreadable_file_is_recorded_and_the_others_still_load(tmp_path):
    config = make_config(tmp_path)
    write_jsonl(tmp_path / "landing" / "good.jsonl", [conversation("c1", ("agent", "hi"))])
    (tmp_path / "landing" / "broken.parquet").write_bytes(b"PAR1 not really")
    result = ingest_flow(
        config_path=str(config),
        inputs=[str(tmp_path / "landing"), str(tmp_path / "landing" / "good.jsonl")],
    )
    statuses = {s["path"].rsplit("/", 1)[-1]: s["status"] for s in result["sources"]}
    assert statuses == {"broken.parquet": "unreadable", "good.jsonl": "ok"}
    with open_store(tmp_path / "db.duckdb", read_only=True) as store:
        row = store.sql("select status, error from sources where path like '%broken%'").row(0)
        assert store.count("conversations") == 1
    assert row[0] == "unreadable" and "broken.parquet" in row[1]


def test_a_failing_run_is_marked_failed_with_its_error(tmp_path, monkeypatch):
    config = make_config(tmp_path)
    write_jsonl(tmp_path / "landing" / "a.jsonl", [conversation("c1", ("agent", "hi"))])

    def explode(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(ingest_source, "fn", explode)
    monkeypatch.setattr(ingest_small_sources, "fn", explode)  # a.jsonl is a small file
    with pytest.raises(RuntimeError):
        ingest_flow(config_path=str(config))
    with open_store(tmp_path / "db.duckdb", read_only=True) as store:
        status, error = store.sql("select status, error from runs").row(0)
    assert status == "failed" and "disk on fire" in error
