from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest

from pipeline import analysis_settings, config, input_settings, model_settings
from pipeline.config import (
    DEV_HASH_KEY,
    Config,
    config_hash,
    hash_key_from_env,
    load_config,
)
from pipeline.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_repo_config_loads_and_matches_the_builtin_defaults():
    loaded = load_config(ROOT / "config.yaml")
    assert loaded.ingest == Config().ingest
    assert loaded.redact == Config().redact
    assert loaded.database == ROOT / "reports" / "cxminer.duckdb"


def test_paths_resolve_relative_to_the_config_file(tmp_path):
    config = load_config(write(tmp_path, "database: out/x.duckdb\nlanding: in\n"))
    assert config.database == tmp_path / "out" / "x.duckdb"
    assert config.landing == tmp_path / "in"


def test_empty_file_gives_defaults(tmp_path):
    assert load_config(write(tmp_path, "")).ingest.batch_size == 5000


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("databse: x.duckdb\n", "databse: unknown key"),
        ("ingest:\n  batch_sise: 3\n", "ingest.batch_sise: unknown key"),
        (
            "ingest:\n  batch_size: many\n",
            "ingest.batch_size: expected an integer, found str 'many'",
        ),
        ("ingest:\n  batch_size: 0\n", "ingest.batch_size: expected a positive integer"),
        (
            "ingest:\n  format: xml\n",
            "ingest.format: expected one of auto/jsonl/csv/parquet/star/abcd",
        ),
        ("ingest: [1]\n", "ingest: expected a mapping, found a list"),
        ("ingest:\n  patterns: '*.jsonl'\n", "ingest.patterns: expected a list"),
        ("ingest:\n  table:\n    speaker: 3\n", "ingest.table.speaker: expected a string"),
        (
            "ingest:\n  speaker_aliases: {rep: robot}\n",
            "ingest.speaker_aliases.rep: expected one of",
        ),
        ("redact:\n  types: [email, names]\n", "redact.types: expected a list of"),
        ("embed:\n  batch_size: 0\n", "embed.batch_size: expected a positive integer, found 0"),
        ("intents:\n  reducer: tsne\n", "intents.reducer: expected one of umap/pca, found 'tsne'"),
        (
            "discover:\n  rare_support: 0.7\n",
            "discover.rare_support (0.7) must not exceed discover.mandatory_support (0.6)",
        ),
        (
            "outcomes:\n  outcome_aliases: {booked: maybe}\n",
            "outcomes.outcome_aliases.booked: expected one of",
        ),
        ("drift:\n  alpha: 2\n", "drift.alpha: expected a number in (0, 1), found 2.0"),
        (
            "readiness:\n  stability_kinds: [drifting]\n",
            "readiness.stability_kinds: expected drift kinds among",
        ),
        ("flows:\n  nightly_cron: daily\n", "flows.nightly_cron: expected a cron expression"),
        ("lock_timeout_s: -1\n", "lock_timeout_s: expected a number >= 0"),
        ("lock_timeout_s: true\n", "lock_timeout_s: expected a number"),
        ("[1, 2]\n", "config: expected a mapping"),
        ("a: [\n", "cannot read config"),
    ],
)
def test_bad_config_names_the_key_and_what_was_expected(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert message in str(info.value)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_config_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        load_config(tmp_path / "nope.yaml")


def test_config_is_frozen():
    with pytest.raises(FrozenInstanceError):
        Config().ingest.batch_size = 3  # type: ignore[misc]


def test_config_hash_is_stable_ignores_locations_and_tracks_settings(tmp_path):
    a = load_config(write(tmp_path, "database: a.duckdb\n"))
    b = load_config(write(tmp_path, "database: elsewhere/b.duckdb\nlanding: x\n"))
    c = load_config(write(tmp_path, "ingest:\n  max_text_chars: 50\n"))
    assert config_hash(a) == config_hash(b)
    assert config_hash(a) != config_hash(c)
    assert len(config_hash(a)) == 16


def test_hash_key_from_env():
    assert hash_key_from_env("K", {}) == (DEV_HASH_KEY, True)
    assert hash_key_from_env("K", {"K": ""}) == (DEV_HASH_KEY, True)
    assert hash_key_from_env("K", {"K": "s3cret"}) == (b"s3cret", False)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (input_settings, ("FORMATS", "TableColumns", "IngestConfig", "RedactConfig")),
        (
            model_settings,
            ("DEFAULT_PLEASANTRIES", "EmbedConfig", "IntentConfig", "DiscoverConfig"),
        ),
        (
            analysis_settings,
            (
                "READINESS_COMPONENTS",
                "DEFAULT_READINESS_WEIGHTS",
                "DEFAULT_READINESS_ZERO_AT",
                "OutcomeConfig",
                "DriftConfig",
                "ReadinessConfig",
            ),
        ),
    ],
)
def test_each_section_is_importable_from_config_as_the_same_object(module, names):
    assert [name for name in names if getattr(config, name) is not getattr(module, name)] == []
    assert set(names) <= set(config.__all__)


def test_config_all_names_only_what_exists():
    assert [name for name in config.__all__ if not hasattr(config, name)] == []
