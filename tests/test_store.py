import os
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime

import duckdb
import polars as pl
import pytest

from pipeline import migrations, schema
from pipeline.errors import StoreError, StoreLockedError
from pipeline.store import lock_path, new_run_id, open_store

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def frames(cid: str, text: str, content_hash: str):
    conversations = pl.DataFrame(
        {
            "conversation_id": [cid],
            "source_id": ["s1"],
            "locator": ["line 1"],
            "channel": ["chat"],
            "queue": [None],
            "team": [None],
            "agent_hash": ["ah"],
            "customer_hash": ["ch"],
            "started_at": [datetime(2026, 3, 1, tzinfo=UTC)],
            "ended_at": [None],
            "outcome": [None],
            "metadata": [None],
            "n_turns": [2],
            "content_hash": [content_hash],
        },
        schema_overrides={
            "queue": pl.String,
            "team": pl.String,
            "outcome": pl.String,
            "metadata": pl.String,
            "ended_at": pl.Datetime("us", "UTC"),
            "n_turns": pl.Int32,
        },
    )
    turns = pl.DataFrame(
        {
            "conversation_id": [cid, cid],
            "turn_idx": [0, 1],
            "speaker": ["customer", "agent"],
            "event_type": ["utterance", "utterance"],
            "text": [text, "ok"],
            "action_name": [None, None],
            "args": [None, None],
            "ts": [None, None],
        },
        schema_overrides={
            "turn_idx": pl.Int32,
            "action_name": pl.String,
            "args": pl.String,
            "ts": pl.Datetime("us", "UTC"),
        },
    )
    redactions = pl.DataFrame(
        {"conversation_id": [cid], "turn_idx": [0], "pii_type": ["email"], "n": [1]},
        schema_overrides={"turn_idx": pl.Int32, "n": pl.Int32},
    )
    return {"conversations": conversations, "turns": turns, "redactions": redactions}


def test_new_database_is_migrated_to_latest(db_path):
    with open_store(db_path) as store:
        assert store.schema_version() == migrations.LATEST_VERSION
        for table, columns in schema.COLUMNS.items():
            got = store.sql(f"select * from {table} limit 0").columns
            assert tuple(got) == columns, table
    with open_store(db_path) as store:  # re-opening does not migrate twice
        assert store.count(schema.SCHEMA_VERSION) == migrations.LATEST_VERSION


def test_newer_schema_than_code_is_refused(db_path):
    with open_store(db_path) as store:
        store.con.execute(f"insert into {schema.SCHEMA_VERSION} values (99, now())")
    with pytest.raises(StoreError, match="newer than this cxminer"):
        with open_store(db_path):
            pass


def test_write_conversations_is_idempotent_and_replaces_changed(db_path):
    with open_store(db_path) as store:
        one = {"loaded": 1, "replaced": 0, "unchanged": 0}
        assert store.write_conversations(**frames("c1", "hi", "h1"), run_id="r1") == {
            **one, "by_source": {"s1": one},
        }  # fmt: skip
        same = {"loaded": 0, "replaced": 0, "unchanged": 1}
        assert store.write_conversations(**frames("c1", "hi", "h1"), run_id="r2") == {
            **same, "by_source": {"s1": same},
        }  # fmt: skip
        changed = {"loaded": 0, "replaced": 1, "unchanged": 0}
        assert store.write_conversations(**frames("c1", "changed", "h2"), run_id="r3") == {
            **changed, "by_source": {"s1": changed},
        }  # fmt: skip
        assert store.count("conversations") == 1
        assert store.count("turns") == 2
        assert store.count("redactions") == 1
        row = store.sql(
            "select c.content_hash, c.run_id, t.text from conversations c "
            "join turns t using (conversation_id) where t.turn_idx = 0"
        ).row(0)
        assert row == ("h2", "r3", "changed")


def test_a_failing_write_rolls_back_the_whole_batch(db_path):
    bad = frames("c1", "hi", "h1")
    bad["turns"] = bad["turns"].with_columns(speaker=pl.lit(None, pl.String))  # violates not null
    with open_store(db_path) as store:
        with pytest.raises(duckdb.Error):
            store.write_conversations(**bad, run_id="r1")
        assert store.count("conversations") == 0
        assert store.count("turns") == 0


def test_quarantine_and_sources_upsert_by_key(db_path):
    q = pl.DataFrame(
        {
            "source_id": ["s1"],
            "locator": ["line 3"],
            "conversation_id": [None],
            "field": [None],
            "reason": ["malformed_json"],
            "message": ["bad"],
            "raw": ["{"],
        },
        schema_overrides={"conversation_id": pl.String, "field": pl.String},
    )
    source = {
        "source_id": "s1",
        "path": "a.jsonl",
        "sha256": "abc",
        "format": "jsonl",
        "status": "ok",
        "error": None,
        "n_records": 3,
        "n_loaded": 2,
        "n_unchanged": 0,
        "n_replaced": 0,
        "n_quarantined": 1,
    }
    with open_store(db_path) as store:
        for run in ("r1", "r2"):
            store.write_quarantine(q, run_id=run)
            store.write_source(source, run_id=run)
        assert store.count("quarantine") == 1
        assert store.count("sources") == 1
        assert store.source_status("abc") == "ok"
        assert store.source_status("other") is None


def test_runs_record_status_counts_and_error(db_path):
    with open_store(db_path) as store:
        run_id = store.begin_run(flow="ingest", config_hash="c", code_version="v", inputs=[])
        store.finish_run(run_id, status="failed", row_counts={"records": 3}, error="boom")
        row = store.sql("select status, row_counts, error, started_at, finished_at from runs").row(
            0
        )
    assert row[0] == "failed" and '"records": 3' in row[1] and row[2] == "boom"
    assert isinstance(row[4], datetime) and row[4] >= row[3]
    with pytest.raises(ValueError):
        with open_store(db_path) as store:
            store.finish_run(run_id, status="done")


def test_run_ids_sort_by_time_and_are_unique():
    a = new_run_id(datetime(2026, 1, 1, tzinfo=UTC))
    b = new_run_id(datetime(2026, 1, 2, tzinfo=UTC))
    assert a < b
    assert new_run_id() != new_run_id()


def test_read_only_store_refuses_writes_and_missing_file(db_path):
    with pytest.raises(StoreError, match="no database yet"):
        with open_store(db_path, read_only=True):
            pass
    with open_store(db_path):
        pass
    with open_store(db_path, read_only=True) as store:
        with pytest.raises(StoreError, match="read-only"):
            store.begin_run(flow="x", config_hash="c", code_version="v", inputs=[])


def test_not_a_duckdb_file_is_a_clear_error(tmp_path):
    path = tmp_path / "notes.duckdb"
    path.write_text("hello, I am not a database")
    with pytest.raises(StoreError, match="not a readable DuckDB database"):
        with open_store(path):
            pass


HOLDER = textwrap.dedent("""
    import sys, time
    from pipeline.store import open_store
    with open_store(sys.argv[1], owner="holder-test") as store:
        store.begin_run(flow="hold", config_hash="c", code_version="v", inputs=[])
        print("locked", flush=True)
        time.sleep(float(sys.argv[2]))
""")


def start_holder(db_path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(db_path), str(seconds)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_second_writer_fails_with_a_message_naming_the_holder(db_path):
    holder = start_holder(db_path, 30)
    try:
        with pytest.raises(StoreLockedError) as info:
            with open_store(db_path, lock_timeout_s=0.3):
                pass
        message = str(info.value)
        assert f"pid {holder.pid}" in message and "holder-test" in message
        with pytest.raises(StoreLockedError):  # a reader gets a clear error too
            with open_store(db_path, read_only=True):
                pass
    finally:
        holder.kill()
        holder.wait()
    # The holder was killed mid-run: the OS released the lock and the file is intact.
    with open_store(db_path) as store:
        assert store.count("runs") == 1
    assert lock_path(db_path).exists()


def test_second_writer_waits_when_a_timeout_is_set(db_path):
    holder = start_holder(db_path, 1.0)
    started = time.monotonic()
    with open_store(db_path, lock_timeout_s=30) as store:
        waited = time.monotonic() - started
        store.begin_run(flow="second", config_hash="c", code_version="v", inputs=[])
        assert store.count("runs") == 2
    holder.wait()
    assert waited > 0.3


def test_embedding_cache_round_trip_and_dedup(db_path):
    vectors = pl.DataFrame({"text_hash": ["a", "b"], "vector": [[0.1, 0.2], [0.3, 0.4]]})
    with open_store(db_path) as store:
        store.write_embeddings(vectors, model_id="m1", run_id="r1")
        store.write_embeddings(vectors, model_id="m1", run_id="r2")  # already cached
        store.write_embeddings(vectors.head(1), model_id="m2", run_id="r2")
        assert store.count("embeddings") == 3
        got = store.cached_embeddings(pl.Series(["a", "zz", "a"]), model_id="m1")
    assert got["text_hash"].to_list() == ["a"]
    assert got["vector"].to_list()[0] == pytest.approx([0.1, 0.2])


def test_a_v1_database_migrates_forward(db_path):
    con = duckdb.connect(str(db_path))
    con.execute(f"create table {schema.SCHEMA_VERSION} (version integer, applied_at timestamptz)")
    for statement in migrations.MIGRATIONS[1]:
        con.execute(statement)
    con.execute(f"insert into {schema.SCHEMA_VERSION} values (1, now())")
    con.close()
    with open_store(db_path) as store:
        assert store.schema_version() == migrations.LATEST_VERSION
        assert store.count("embeddings") == 0


def _step_tables(step_id: str) -> dict[str, pl.DataFrame]:
    events = pl.DataFrame(
        {
            "conversation_id": ["c1", "c1"],
            "seq": [0, 1],
            "turn_idx": [1, 3],
            "step_id": ["greet", step_id],
            "source": ["sop", "sop"],
            "confidence": [0.9, 0.8],
            "ts": [None, None],
            "sop_id": ["s", "s"],
            "workflow_id": ["s", "s"],
            "is_repeat": [False, False],
        },  # fmt: skip
        schema_overrides={"ts": pl.Datetime("us", "UTC"), "seq": pl.Int32, "turn_idx": pl.Int32},
    )
    types = pl.DataFrame({"step_id": ["greet", step_id], "label": ["hello", "x"],
                          "source": ["sop", "sop"], "sop_id": ["s", "s"],
                          "exemplar": [None, None], "n_events": [1, 1],
                          "sop_steps": [[], [f"s/{step_id}"]]})  # fmt: skip
    from pipeline.config import DiscoverConfig
    from pipeline.process.discover import discover_process

    return {"step_types": types, "step_events": events,
            **discover_process(events, DiscoverConfig())}  # fmt: skip


def test_write_steps_replaces_the_snapshot(db_path):
    with open_store(db_path) as store:
        counts = store.write_steps(_step_tables("refund"), run_id="r1")
        store.write_steps(_step_tables("verify"), run_id="r2")
        assert counts["step_events"] == 2 and counts["dfg_edges"] == 3
        events = store.sql("select step_id, run_id from step_events order by seq")
        assert events.rows() == [("greet", "r2"), ("verify", "r2")]
        assert store.scalar("select count(*) from candidate_sops") == 2
        with pytest.raises(StoreError, match="tables missing: step_events, variants"):
            store.write_steps({"step_types": pl.DataFrame()}, run_id="r3")


def test_write_snapshots_rejects_a_history_table(db_path):
    with open_store(db_path) as store, pytest.raises(StoreError, match="readiness is not a snap"):
        store.write_snapshots({"readiness": pl.DataFrame()}, run_id="r1")


def _readiness(score: float) -> pl.DataFrame:
    row = {c: None for c in schema.batch_columns(schema.READINESS)}
    row.update(workflow_id="refund", rank=1, n_conversations=10, score=score, low=score - 5,
               high=score + 5, tier="human-led", gates=[], components="{}", reasons=[])  # fmt: skip
    return pl.DataFrame([row], schema_overrides={"gates": pl.List(pl.String),
                                                 "reasons": pl.List(pl.String)})  # fmt: skip


def test_write_readiness_keeps_runs_and_replaces_the_same_run(db_path):
    with open_store(db_path) as store:
        store.write_readiness(_readiness(40.0), run_id="r1")
        store.write_readiness(_readiness(50.0), run_id="r2")
        store.write_readiness(_readiness(60.0), run_id="r2")  # the same run again
        rows = store.sql("select run_id, score from readiness order by run_id").rows()
    assert rows == [("r1", 40.0), ("r2", 60.0)]


def test_turns_keep_the_action_status_and_a_frame_without_it_stores_null(db_path):
    with_status = frames("c1", "hi", "h1")
    with_status["turns"] = with_status["turns"].with_columns(
        event_type=pl.Series(["utterance", "action"]), action_status=pl.Series([None, "failed"])
    )
    with open_store(db_path) as store:
        store.write_conversations(**with_status, run_id="r1")
        store.write_conversations(**frames("c2", "hi", "h2"), run_id="r1")  # no column
        rows = store.sql(
            "select conversation_id, turn_idx, action_status from turns order by all"
        ).rows()
    assert rows == [("c1", 0, None), ("c1", 1, "failed"), ("c2", 0, None), ("c2", 1, None)]


def _v5_database(db_path) -> None:
    """A database at schema v5 holding one conversation whose turns had a status then."""
    con = duckdb.connect(str(db_path))
    con.execute(f"create table {schema.SCHEMA_VERSION} (version integer, applied_at timestamptz)")
    for version in range(1, 6):
        for statement in migrations.MIGRATIONS[version]:
            con.execute(statement)
        con.execute(f"insert into {schema.SCHEMA_VERSION} values (?, now())", [version])
    # before v6 a turn's status was an unknown turn field, kept in metadata.turn_fields
    metadata = '{"turn_fields": {"1": {"status": " Failed "}, "2": {"status": "maybe"}, '
    metadata += '"3": {"status": "ok"}, "0": {"status": "read"}}}'
    con.execute(
        f"insert into {schema.CONVERSATIONS} values ('c1', 's', 'line 1', null, null, null, "
        "null, null, null, null, null, ?, 5, 'h', 'r0')",
        [metadata],
    )
    for idx, event_type in enumerate(["utterance", "action", "action", "action", "action"]):
        con.execute(
            f"insert into {schema.TURNS} values ('c1', ?, 'agent', ?, null, null, null, null, "
            "'r0')",
            [idx, event_type],
        )
    con.execute(
        f"insert into {schema.OUTCOMES} values ('c1', 'w', 'resolved', 'data', false, true, "
        "false, null, 1, 2.0, 'r0')"
    )
    con.close()


def test_a_v5_database_migrates_to_v6(db_path):
    _v5_database(db_path)
    with open_store(db_path) as store:
        assert store.schema_version() == migrations.LATEST_VERSION
        statuses = store.sql("select turn_idx, action_status from turns order by turn_idx")
        # an action's valid status moves over; a bad one, an utterance's, none: unknown
        assert statuses.rows() == [(0, None), (1, "failed"), (2, None), (3, "ok"), (4, None)]
        # outcomes is a snapshot recreated empty, with failed_actions beside n_agent_turns
        assert store.count(schema.OUTCOMES) == 0
        columns = store.sql(f"select * from {schema.OUTCOMES} limit 0").columns
        assert columns[8:10] == ["n_agent_turns", "failed_actions"]
