"""Small files (one call each, as platforms export) are ingested many together, same result.

Read together (``ingest.small_file_bytes``), a folder of small files gives the same
tables and the same ``sources`` rows as reading each file on its own (the setting at 0),
a later file still replaces an earlier one's conversation, and a broken file is reported
while the others load.
"""

from __future__ import annotations

import gzip

import pytest
from conftest import conversation, write_jsonl

from flows.ingest import ingest_flow
from pipeline.store import open_store

pytestmark = pytest.mark.usefixtures("prefect_harness")

SOURCES = "select path, format, status, n_records, n_loaded, n_unchanged, n_replaced, " \
          "n_quarantined from sources order by path"  # fmt: skip
TABLES = {
    "conversations": "select conversation_id, source_id, locator, agent_hash, started_at, "
    "n_turns, content_hash from conversations order by conversation_id",
    "turns": "select conversation_id, turn_idx, speaker, text from turns "
    "order by conversation_id, turn_idx",
    "quarantine": "select source_id, locator, field, reason, message from quarantine "
    "order by source_id, locator",
    "redactions": "select * exclude (run_id) from redactions order by all",
}


def landing(folder) -> None:
    """Twelve small files: calls, a repeated id, bad records, a truncated gzip, a broken file."""
    folder.mkdir()
    for i in range(8):
        write_jsonl(folder / f"call-{i:02d}.jsonl", [conversation(
            f"c{i}", ("customer", f"my email is user{i}@example.com"), ("agent", "thanks"),
            agent_id=f"a{i % 3}", started_at=f"2026-03-0{1 + i % 5}T10:00:00Z",
        )])  # fmt: skip
    write_jsonl(folder / "call-08.jsonl", [conversation("c2", ("customer", "changed my mind"))])
    write_jsonl(folder / "call-09.jsonl", [b"not json", conversation("c9", ("agent", "hi"))])
    (folder / "call-10.jsonl").write_text('{"conversation_id": "c10", "turns": []}\n')
    line = b'{"conversation_id": "c11", "turns": [{"speaker": "agent", "text": "hi"}]}\n'
    data = gzip.compress(line, mtime=0)  # the same bytes in every run
    (folder / "call-11.jsonl.gz").write_bytes(data[: len(data) - 12])  # truncated


def ingest(tmp_path, small_file_bytes: int) -> dict:
    (tmp_path / "config.yaml").write_text(
        f"database: db.duckdb\nlanding: landing\ningest:\n  small_file_bytes: {small_file_bytes}\n"
        "  batch_size: 4\n"  # groups of at most four conversations
    )
    landing(tmp_path / "landing")
    result = ingest_flow(config_path=str(tmp_path / "config.yaml"))
    with open_store(tmp_path / "db.duckdb", read_only=True) as store:
        tables = {name: store.sql(sql).rows() for name, sql in TABLES.items()}
        tables["sources"] = [
            (path.rsplit("/", 1)[1], *rest) for path, *rest in store.sql(SOURCES).rows()
        ]
    return {"result": result, **tables}


@pytest.fixture(scope="module")
def together(tmp_path_factory) -> dict:
    return ingest(tmp_path_factory.mktemp("together"), 1_048_576)


@pytest.fixture(scope="module")
def one_by_one(tmp_path_factory) -> dict:
    return ingest(tmp_path_factory.mktemp("alone"), 0)


@pytest.mark.parametrize("table", [*TABLES, "sources"])
def test_small_files_read_together_give_the_same_tables(together, one_by_one, table):
    assert together[table] == one_by_one[table]


def test_each_file_keeps_its_own_row_and_counts(together):
    rows = {name: rest for name, *rest in together["sources"]}
    assert len(rows) == 12
    assert rows["call-02.jsonl"] == ["jsonl", "ok", 1, 1, 0, 0, 0]
    assert rows["call-08.jsonl"] == ["jsonl", "ok", 1, 0, 0, 1, 0]  # replaces c2 of call-02
    assert rows["call-09.jsonl"] == ["jsonl", "ok", 2, 1, 0, 0, 1]  # one bad line
    assert rows["call-10.jsonl"] == ["jsonl", "ok", 1, 0, 0, 0, 1]  # empty turns
    assert rows["call-11.jsonl.gz"][1] == "partial"  # truncated gzip
    counts = together["result"]["counts"]
    assert counts["loaded"] == 9 and counts["replaced"] == 1


def test_the_replacing_file_wins(together):
    texts = {(cid, idx): text for cid, idx, _, text in together["turns"]}
    assert texts[("c2", 0)] == "changed my mind"
    assert not [t for t in texts.values() if "@example.com" in t]  # redacted as ever


def test_a_folder_of_many_files_prints_one_line_for_the_plain_ones(tmp_path, capsys):
    from pipeline.cli.main import main

    folder = tmp_path / "calls"
    folder.mkdir()
    for i in range(30):
        write_jsonl(folder / f"c{i:02d}.jsonl", [conversation(f"c{i}", ("agent", "hi"))])
    write_jsonl(folder / "c99.jsonl", [b"not json"])
    assert main(["ingest", "--db", str(tmp_path / "db.duckdb"), str(folder)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines[1:-2]] == [str(folder / "c99.jsonl")]
    assert lines[-2] == "  ... 30 more files (table `sources` has a row for each)"
    assert lines[-1].startswith("total: 31 records, 30 new")
