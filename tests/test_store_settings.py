"""DuckDB's resources (config section ``store``): validated, applied on every connection."""

import pytest

from pipeline.config import Config, StoreConfig, config_hash, load_config
from pipeline.errors import ConfigError
from pipeline.store import Store, open_store, use_settings


def _settings(store) -> tuple[str, int]:
    return store.con.execute(
        "select current_setting('memory_limit'), current_setting('threads')"
    ).fetchone()


def test_writer_and_reader_connections_get_the_settings(tmp_path):
    db = tmp_path / "x.duckdb"
    settings = StoreConfig(memory_limit="300MB", threads=1)
    with open_store(db, settings=settings) as store:
        assert _settings(store) == ("286.1 MiB", 1)  # DuckDB shows MB as MiB
    with open_store(db, read_only=True, settings=settings) as store:
        assert _settings(store) == ("286.1 MiB", 1)


def test_the_default_limit_is_one_gigabyte_not_most_of_the_machine(tmp_path):
    with open_store(tmp_path / "x.duckdb") as store:
        assert _settings(store)[0] == "953.6 MiB"


def test_use_settings_sets_the_process_defaults(tmp_path):
    db = tmp_path / "x.duckdb"
    try:
        use_settings(StoreConfig(memory_limit="200MB", threads=1))
        with open_store(db) as store:
            assert _settings(store) == ("190.7 MiB", 1)
    finally:
        use_settings(StoreConfig())
    with open_store(db) as store:
        assert _settings(store)[0] == "953.6 MiB"


def test_store_section_is_read_from_yaml_and_checked(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("store:\n  memory_limit: 2GB\n  threads: 2\n")
    assert load_config(path).store == StoreConfig(memory_limit="2GB", threads=2)
    for bad, named in (
        ("memory_limit: lots", "store.memory_limit"),
        ("threads: 0", "store.threads"),
    ):
        path.write_text(f"store:\n  {bad}\n")
        with pytest.raises(ConfigError, match=named):
            load_config(path)


def test_resources_do_not_change_the_config_hash():
    assert config_hash(Config()) == config_hash(Config(store=StoreConfig(memory_limit="4GB")))


def test_memory_capped_lowers_the_limit_in_the_block_and_restores_it(tmp_path):
    with open_store(tmp_path / "x.duckdb", settings=StoreConfig(memory_limit="1GB")) as store:
        with store.memory_capped("128MB"):
            assert _settings(store)[0] == "122.0 MiB"
        assert _settings(store)[0] == "953.6 MiB"
        with store.memory_capped("4GB"):  # never above the connection's own
            assert _settings(store)[0] == "953.6 MiB"
        try:
            with store.memory_capped("128MB"):
                raise RuntimeError("boom")
        except RuntimeError:
            pass
        assert _settings(store)[0] == "953.6 MiB"


def test_ingest_holds_duckdb_to_its_cap_while_it_writes(tmp_path, monkeypatch):
    from pipeline.config import Config
    from pipeline.ingest import run as ingest_run

    limits = []
    real = Store.write_conversations

    def spy(store, **kwargs):
        limits.append(_settings(store)[0])
        return real(store, **kwargs)

    monkeypatch.setattr(Store, "write_conversations", spy)
    data = tmp_path / "in.jsonl"
    data.write_text('{"conversation_id": "c1", "turns": [{"speaker": "customer", "text": "hi"}]}\n')
    row = {"source_id": "s", "n_records": 0, "n_loaded": 0, "n_replaced": 0,
           "n_unchanged": 0, "n_quarantined": 0, "problems": [], "status": "ok"}  # fmt: skip
    with open_store(tmp_path / "x.duckdb") as store:
        ingest_run.load_source(store, data, row, config=Config(), fmt="jsonl",
                               hash_key=b"k", run_id="r")  # fmt: skip
        assert store.count("conversations") == 1
        assert _settings(store)[0] == "953.6 MiB"
    assert limits == ["122.0 MiB"]
