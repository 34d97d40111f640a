import dataclasses
from dataclasses import FrozenInstanceError
from pathlib import Path

import pytest
import yaml

from pipeline import config, settings
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


def _keys(settings: object) -> set[str]:
    """Every key of a settings object, nested sections as ``section.key``."""
    keys = set()
    for f in dataclasses.fields(settings):
        value = getattr(settings, f.name)
        nested = _keys(value) if dataclasses.is_dataclass(value) else set()
        keys |= {f"{f.name}.{k}" for k in nested} or {f.name}
    return keys


def _written(mapping: dict) -> set[str]:
    keys = set()
    for key, value in mapping.items():
        nested = _written(value) if isinstance(value, dict) and value else set()
        keys |= {f"{key}.{k}" for k in nested} or {key}
    return keys


@pytest.mark.parametrize("section", ["intents", "steps", "outcomes", "drift"])
def test_repo_config_writes_out_every_key_of_the_analytic_sections_at_its_default(section):
    # every word list and threshold is visible in config.yaml, with its built-in value
    raw = yaml.safe_load((ROOT / "config.yaml").read_text())[section]
    assert _written(raw) == _keys(getattr(Config(), section))
    assert getattr(load_config(ROOT / "config.yaml"), section) == getattr(Config(), section)


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
        ("steps:\n  threshhold: 0.5\n", "steps.threshhold: unknown key"),
        (
            "steps:\n  clustering:\n    n_neighbours: 3\n",
            "steps.clustering.n_neighbours: unknown key",
        ),
        (
            "steps:\n  min_explained: half\n",
            "steps.min_explained: expected a number, found str 'half'",
        ),
        (
            "steps:\n  min_explained: 1.5\n",
            "steps.min_explained: expected a number in [0, 1], found 1.5",
        ),
        ("steps:\n  threshold: -0.1\n", "steps.threshold: expected a number in [0, 1]"),
        ("steps:\n  edge_role_share: 2\n", "steps.edge_role_share: expected a number in [0, 1]"),
        ("steps:\n  neighbours: -1\n", "steps.neighbours: expected an integer >= 0, found -1"),
        ("steps:\n  neighbours: 2.5\n", "steps.neighbours: expected an integer, found float"),
        ("steps:\n  discover: sometimes\n", "steps.discover: expected true or false"),
        (
            "steps:\n  speakers: [agent, customer]\n",
            "steps.speakers: expected one of agent/bot/system, found 'customer'",
        ),
        (
            "steps:\n  speakers: []\n",
            "steps.speakers: expected a non-empty list of distinct speakers",
        ),
        ("steps:\n  hold_phrasings: please hold\n", "steps.hold_phrasings: expected a list"),
        (
            "steps:\n  closing_phrasings: ['  ']\n",
            "steps.closing_phrasings: expected non-empty phrasings",
        ),
        ("steps:\n  greeting_phrasings: [3]\n", "steps.greeting_phrasings[0]: expected a string"),
        ("steps:\n  slot_alpha: 0\n", "steps.slot_alpha: expected a number in (0, 1), found 0"),
        ("steps:\n  slot_majority: 1\n", "steps.slot_majority: expected a number in (0, 1)"),
        (
            "steps:\n  slot_min_said: 0\n",
            "steps.slot_min_said: expected a positive integer, found 0",
        ),
        (
            "steps:\n  clustering:\n    min_turns: 0\n",
            "steps.clustering.min_turns: expected a positive integer, found 0",
        ),
        (
            "steps:\n  clustering:\n    reducer: tsne\n",
            "steps.clustering.reducer: expected one of umap/pca, found 'tsne'",
        ),
        (
            "steps:\n  clustering:\n    min_cluster_shares: [0.5, 2]\n",
            "steps.clustering.min_cluster_shares: expected a non-empty list of shares in (0, 1)",
        ),
        ("steps:\n  clustering: pca\n", "steps.clustering: expected a mapping"),
        ("drift:\n  permutations: 0\n", "drift.permutations: expected a positive integer"),
        (
            "drift:\n  change_min_segment: 0\n",
            "drift.change_min_segment: expected a positive integer",
        ),
        ("drift:\n  seed: -1\n", "drift.seed: expected an integer >= 0, found -1"),
        (
            "drift:\n  exception_min_lift: 0.5\n",
            "drift.exception_min_lift: expected a number >= 1, found 0.5",
        ),
        ("drift:\n  large_rise_factor: 0\n", "drift.large_rise_factor: expected a number >= 1"),
        (
            "drift:\n  strong_alpha_divisor: 0.5\n",
            "drift.strong_alpha_divisor: expected a number >= 1",
        ),
        ("drift:\n  js_high_factor: 0.9\n", "drift.js_high_factor: expected a number >= 1"),
        (
            "drift:\n  change_high_factor: 1.5\n",
            "drift.change_high_factor (1.5) must not be below drift.change_medium_factor (2.0)",
        ),
        ("drift:\n  change_min_shift: 5\n", "drift.change_min_shift: expected a share in [0, 1]"),
        (
            "drift:\n  variant_rare_share: -0.1\n",
            "drift.variant_rare_share: expected a share in [0, 1]",
        ),
        (
            "drift:\n  exception_medium_share: 0.3\n",
            "drift.exception_medium_share (0.3) must not exceed drift.exception_high_share (0.2)",
        ),
        (
            "drift:\n  undocumented_weight: -1\n",
            "drift.undocumented_weight: expected a number >= 0, found -1.0",
        ),
        ("drift:\n  permutations: many\n", "drift.permutations: expected an integer"),
        (
            "outcomes:\n  no_outcome_values: ['']\n",
            "outcomes.no_outcome_values: expected non-empty values",
        ),
        ("outcomes:\n  no_outcome_values: n/a\n", "outcomes.no_outcome_values: expected a list"),
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


ROUND_TRIP = """
steps:
  threshold: 0.7
  min_explained: 0.4
  neighbours: 0
  speakers: [bot]
  discover: false
  edge_role_share: 0.8
  greeting_phrasings: ["Ahoy, welcome aboard!"]
  closing_phrasings: []
  slot_min_said: 3
  slot_majority: 0.6
  slot_alpha: 0.01
  clustering:
    reducer: umap
    min_turns: 40
    min_conversations: 3
    silhouette_sample: 500
drift:
  large_rise_factor: 3
  strong_alpha_divisor: 20
  js_high_factor: 1.5
  variant_rare_share: 0.02
  permutations: 199
  seed: 4
  change_min_shift: 0.1
  change_min_segment: 3
  change_medium_factor: 1.5
  change_high_factor: 2.5
  exception_min_lift: 1.5
  exception_high_share: 0.4
  exception_medium_share: 0.3
  undocumented_weight: 1
outcomes:
  no_outcome_values: [unknown, not recorded]
"""


def test_the_new_sections_load_into_typed_settings(tmp_path):
    loaded = load_config(write(tmp_path, ROUND_TRIP))
    steps, drift = loaded.steps, loaded.drift
    assert (steps.threshold, steps.min_explained, steps.neighbours, steps.speakers) == (
        0.7, 0.4, 0, ("bot",),
    )  # fmt: skip
    assert (steps.discover, steps.edge_role_share) == (False, 0.8)
    assert (steps.greeting_phrasings, steps.closing_phrasings) == (("Ahoy, welcome aboard!",), ())
    assert steps.hold_phrasings == settings.steps.DEFAULT_HOLD_PHRASINGS  # not given: default
    assert (steps.slot_min_said, steps.slot_majority, steps.slot_alpha) == (3, 0.6, 0.01)
    assert steps.clustering == settings.steps.TurnClusterConfig(
        reducer="umap", min_turns=40, min_conversations=3, silhouette_sample=500
    )
    assert dataclasses.asdict(drift) == dataclasses.asdict(Config().drift) | {
        "large_rise_factor": 3.0, "strong_alpha_divisor": 20.0, "js_high_factor": 1.5,
        "variant_rare_share": 0.02, "permutations": 199, "seed": 4, "change_min_shift": 0.1,
        "change_min_segment": 3, "change_medium_factor": 1.5, "change_high_factor": 2.5,
        "exception_min_lift": 1.5, "exception_high_share": 0.4, "exception_medium_share": 0.3,
        "undocumented_weight": 1.0,
    }  # fmt: skip
    assert loaded.outcomes.no_outcome_values == ("unknown", "not recorded")
    assert load_config(write(tmp_path, "steps:\n  threshold: null\n")).steps.threshold is None


@pytest.mark.parametrize(
    "text",
    [
        "steps:\n  threshold: 0.7\n",
        "steps:\n  min_explained: 0.6\n",
        "steps:\n  hold_phrasings: ['One moment, please.']\n",
        "steps:\n  slot_alpha: 0.01\n",
        "steps:\n  edge_role_share: 0.6\n",
        "steps:\n  clustering:\n    min_turns: 30\n",
        "drift:\n  exception_min_lift: 3\n",
        "drift:\n  change_min_shift: 0.1\n",
        "drift:\n  permutations: 199\n",
        "drift:\n  undocumented_weight: 1\n",
        "outcomes:\n  no_outcome_values: [unknown]\n",
        "intents:\n  pleasantries: [hello]\n",
    ],
)
def test_config_hash_changes_with_each_moved_setting(tmp_path, text):
    default = load_config(write(tmp_path, ""))
    assert config_hash(load_config(write(tmp_path, text))) != config_hash(default)


def test_hash_key_from_env():
    assert hash_key_from_env("K", {}) == (DEV_HASH_KEY, True)
    assert hash_key_from_env("K", {"K": ""}) == (DEV_HASH_KEY, True)
    assert hash_key_from_env("K", {"K": "s3cret"}) == (b"s3cret", False)


@pytest.mark.parametrize(
    ("module", "names"),
    [
        (settings.ingest, ("FORMATS", "TableColumns", "IngestConfig", "RedactConfig")),
        (settings.embed, ("EmbedConfig",)),
        (settings.intents, ("DEFAULT_PLEASANTRIES", "IntentConfig")),
        (
            settings.steps,
            (
                "DEFAULT_GREETING_PHRASINGS",
                "DEFAULT_CLOSING_PHRASINGS",
                "DEFAULT_HOLD_PHRASINGS",
                "StepsConfig",
                "TurnClusterConfig",
            ),
        ),
        (settings.process, ("DiscoverConfig",)),
        (settings.outcomes, ("OutcomeConfig",)),
        (settings.drift, ("DriftConfig",)),
        (
            settings.readiness,
            (
                "READINESS_COMPONENTS",
                "DEFAULT_READINESS_WEIGHTS",
                "DEFAULT_READINESS_ZERO_AT",
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


def test_redact_types_and_allow_list_load(tmp_path):
    from pipeline.ingest.redact import PII_TYPES

    assert settings.ingest.REDACT_TYPES == PII_TYPES  # the settings know every type
    loaded = load_config(
        write(tmp_path, "redact:\n  types: [name, id]\n  allow: [Visa, Air Jordan]\n")
    )
    assert loaded.redact.types == ("name", "id")
    assert loaded.redact.allow == ("Visa", "Air Jordan")
