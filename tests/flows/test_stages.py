"""Stage reuse by fingerprint (flows/stages.py): unchanged inputs are not recomputed."""

import dataclasses

import polars as pl
import pytest

from flows.stages import folder_state, reusable_run, run_stage, stage_fingerprint
from pipeline.config import Config, DiscoverConfig, load_config
from pipeline.store import open_store


def assignments(conversation_id: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"conversation_id": [conversation_id], "intent_id": ["i000"], "probability": [1.0],
         "is_outlier": [False], "method": ["cluster"], "unit_hash": ["h"],
         "model_version": [1]},
        schema_overrides={"model_version": pl.Int32},
    )  # fmt: skip


def write_assignments(store, run_id: str, conversation_id: str = "c1") -> None:
    with store.transaction() as con:
        con.register("_a", assignments(conversation_id))
        con.execute("delete from intent_assignments")
        con.execute("insert into intent_assignments select *, ? from _a", [run_id])


class Counter:
    """A stage body that writes its output and counts its calls."""

    def __init__(self, store):
        self.store, self.calls = store, 0

    def __call__(self, run_id: str) -> dict:
        self.calls += 1
        write_assignments(self.store, run_id)
        return {"mode": "computed", "rows": 1}


def test_an_unchanged_stage_is_reused_and_recorded(db_path):
    config = Config()
    with open_store(db_path) as store:
        compute = Counter(store)
        first = run_stage(store, "intents", compute, config=config)
        second = run_stage(store, "intents", compute, config=config)
        assert compute.calls == 1
        assert first["mode"] == "computed"
        assert second == {"run_id": second["run_id"], "mode": "unchanged",
                          "reused": first["run_id"]}  # fmt: skip
        runs = store.sql("select flow, status from runs order by run_id").rows()
        assert runs == [("intents", "ok"), ("intents", "ok")]


@pytest.mark.parametrize("change", ["config", "data", "force", "failed"])
def test_a_change_recomputes(db_path, change):
    config = Config()
    with open_store(db_path) as store:
        compute = Counter(store)
        first = run_stage(store, "intents", compute, config=config)
        if change == "config":
            config = dataclasses.replace(config, discover=DiscoverConfig(mandatory_support=0.7))
        elif change == "data":
            store.con.execute(
                "insert into conversations (conversation_id, source_id, locator, n_turns, "
                "content_hash, run_id) values ('c9', 's', '1', 1, 'x', 'r')"
            )
        elif change == "failed":  # the run that wrote the output never finished ok
            store.con.execute("update runs set status = 'failed' where run_id = ?",
                              [first["run_id"]])  # fmt: skip
        run_stage(store, "intents", compute, config=config, force=change == "force")
        assert compute.calls == 2


def test_a_new_upstream_output_recomputes_the_downstream_stage(db_path):
    config = Config()
    with open_store(db_path) as store:
        write_assignments(store, "r-intents-1")
        before = stage_fingerprint(store, "process", config=config)
        write_assignments(store, "r-intents-2")
        assert stage_fingerprint(store, "process", config=config) != before
        assert reusable_run(store, "process", before) is None  # nothing written yet


def test_an_exception_marks_the_run_failed_and_propagates(db_path):
    def broken(run_id):
        raise OSError("disk full")

    with open_store(db_path) as store:
        with pytest.raises(OSError, match="disk full"):
            run_stage(store, "intents", broken, config=Config())
        assert store.sql("select status, error from runs").rows() == [
            ("failed", "OSError: disk full")
        ]


def test_folder_state_follows_file_contents(tmp_path):
    (tmp_path / "a.yaml").write_text("x")
    first = folder_state(tmp_path)
    assert folder_state(tmp_path) == first
    (tmp_path / "a.yaml").write_text("y")
    assert folder_state(tmp_path) != first
    assert folder_state(tmp_path / "absent") == "absent"


def test_reuse_current_records_an_unchanged_stage_and_declines_a_stale_one(db_path, tmp_path):
    from flows.stages import reuse_current

    config = tmp_path / "config.yaml"
    config.write_text(f"database: {db_path}\n")
    assert reuse_current("intents", config_path=str(config), db_path=None) is None  # never run
    with open_store(db_path) as store:
        first = run_stage(store, "intents", Counter(store), config=load_config(config))
    reused = reuse_current("intents", config_path=str(config), db_path=None)
    assert (reused["mode"], reused["reused"]) == ("unchanged", first["run_id"])
    with open_store(db_path, read_only=True) as store:
        assert store.count("runs") == 2


def test_stage_config_replaces_the_sop_folder_only_when_given(tmp_path):
    from flows.stages import stage_config

    config = tmp_path / "config.yaml"
    config.write_text("sops: documented\n")
    assert stage_config(str(config)).sops == tmp_path / "documented"
    assert stage_config(str(config), sops=str(tmp_path / "other")).sops == tmp_path / "other"
