"""Load and validate ``config.yaml`` into frozen, typed objects.

Configuration flows one way: YAML -> these objects -> flow parameters -> keyword
arguments. Library code never reads YAML or environment variables itself.

Each stage's section is defined in its own module of :mod:`pipeline.settings` (``store``,
``ingest`` with ``redact``, ``embed``, ``intents``, ``steps``, ``process``, ``outcomes``, ``drift``,
``readiness``); this module assembles them into the whole :class:`Config`, holds the
flows section, and the generic loader that checks every key and type against the
dataclass fields.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from pipeline.errors import ConfigError, require_choice
from pipeline.settings.drift import DriftConfig
from pipeline.settings.embed import EmbedConfig
from pipeline.settings.ingest import FORMATS, IngestConfig, RedactConfig, TableColumns
from pipeline.settings.intents import DEFAULT_PLEASANTRIES, IntentConfig
from pipeline.settings.outcomes import OutcomeConfig
from pipeline.settings.process import DiscoverConfig
from pipeline.settings.readiness import (
    DEFAULT_READINESS_WEIGHTS,
    DEFAULT_READINESS_ZERO_AT,
    READINESS_COMPONENTS,
    ReadinessConfig,
)
from pipeline.settings.steps import (
    DEFAULT_CLOSING_PHRASINGS,
    DEFAULT_GREETING_PHRASINGS,
    DEFAULT_HOLD_PHRASINGS,
    StepsConfig,
    TurnClusterConfig,
)
from pipeline.settings.store import StoreConfig

# The public names: the loader, and every section (each defined in the module of its
# noun) so that callers need one import for all of configuration.
__all__ = [
    "DEFAULT_CLOSING_PHRASINGS",
    "DEFAULT_GREETING_PHRASINGS",
    "DEFAULT_HOLD_PHRASINGS",
    "DEFAULT_PLEASANTRIES",
    "DEFAULT_READINESS_WEIGHTS",
    "DEFAULT_READINESS_ZERO_AT",
    "DEV_HASH_KEY",
    "FORMATS",
    "READINESS_COMPONENTS",
    "Config",
    "DiscoverConfig",
    "DriftConfig",
    "EmbedConfig",
    "FlowsConfig",
    "IngestConfig",
    "IntentConfig",
    "OutcomeConfig",
    "ReadinessConfig",
    "RedactConfig",
    "StepsConfig",
    "StoreConfig",
    "TableColumns",
    "TurnClusterConfig",
    "config_hash",
    "describe_value",
    "hash_key_from_env",
    "load_config",
]


@dataclass(frozen=True)
class FlowsConfig:
    """How the flows run: task runner, schedules, report folder (stage 10, orchestration)."""

    runner: Literal["local", "dask"] = "local"
    dask_address: str | None = None  # a running scheduler ("tcp://host:8786"); none: local cluster
    embed_chunk: int = 4096  # texts per embedding task (the unit of work sent to a worker)
    nightly_cron: str = "0 2 * * *"  # the nightly flow (ingest new files ... report)
    refit_cron: str = "0 3 * * 0"  # the intent refit (weekly)
    timezone: str = "UTC"
    report_dir: Path = Path("reports/out")

    def __post_init__(self) -> None:
        for name in ("nightly_cron", "refit_cron"):
            fields_ = getattr(self, name).split()
            if len(fields_) != 5:
                raise ConfigError(
                    f"flows.{name}: expected a cron expression of 5 fields "
                    f"(minute hour day month weekday), found {getattr(self, name)!r}"
                )
        if self.embed_chunk < 1:
            raise ConfigError(
                f"flows.embed_chunk: expected an integer >= 1, found {self.embed_chunk}"
            )


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; paths are absolute."""

    database: Path = Path("reports/cxminer.duckdb")
    landing: Path = Path("data/sample")
    sops: Path = Path("data/sops/sample")
    lock_timeout_s: float = 0.0
    store: StoreConfig = field(default_factory=StoreConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    redact: RedactConfig = field(default_factory=RedactConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    intents: IntentConfig = field(default_factory=IntentConfig)
    steps: StepsConfig = field(default_factory=StepsConfig)
    discover: DiscoverConfig = field(default_factory=DiscoverConfig)
    outcomes: OutcomeConfig = field(default_factory=OutcomeConfig)
    drift: DriftConfig = field(default_factory=DriftConfig)
    flows: FlowsConfig = field(default_factory=FlowsConfig)
    readiness: ReadinessConfig = field(default_factory=ReadinessConfig)
    source: Path | None = None

    def __post_init__(self) -> None:
        if self.lock_timeout_s < 0:
            raise ConfigError(
                f"lock_timeout_s: expected a number >= 0, found {self.lock_timeout_s}"
            )


def load_config(path: str | Path | None = None) -> Config:
    """Read and validate a config file.

    Parameters
    ----------
    path
        The YAML file; ``None`` gives the built-in defaults (paths relative to the
        current directory).

    Returns
    -------
    Config
        Frozen config with paths resolved relative to the file's folder.

    Raises
    ------
    ConfigError
        The file is missing or unreadable, or a key is unknown or of the wrong type.
    """
    if path is None:
        return _resolve_paths(Config(), Path.cwd())
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found; pass --config PATH") from None
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ConfigError(f"{path}: cannot read config: {reason}") from None
    if data is None:
        data = {}
    try:
        config = _build(Config, data, "")
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    return dataclasses.replace(_resolve_paths(config, path.resolve().parent), source=path.resolve())


def config_hash(config: Config) -> str:
    """Return a stable short hash of the analytic settings (for the audit trail in ``runs``).

    File locations (database, landing folder, embedding cache folder, the config file
    itself) and DuckDB's resources (``store``) are left out: the same settings hash the
    same on every machine; inputs are recorded separately.
    """
    settings = _plain(config)
    for location in ("database", "landing", "sops", "source"):
        settings.pop(location)
    settings.pop("store")  # resources: the same results with any memory limit
    settings["embed"].pop("cache_dir")
    settings["flows"].pop("report_dir")
    payload = json.dumps(settings, sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def _resolve_paths(config: Config, base: Path) -> Config:
    return dataclasses.replace(
        config,
        database=(base / config.database).resolve(),
        landing=(base / config.landing).resolve(),
        sops=(base / config.sops).resolve(),
        flows=dataclasses.replace(
            config.flows, report_dir=(base / config.flows.report_dir).resolve()
        ),
        embed=dataclasses.replace(
            config.embed, cache_dir=(base / config.embed.cache_dir).resolve()
        ),
    )


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    return value


def _build(cls: type, data: Any, prefix: str) -> Any:
    """Build dataclass ``cls`` from a mapping, checking every key and type."""
    where = prefix.rstrip(".") or "config"
    if not isinstance(data, dict):
        raise ConfigError(f"{where}: expected a mapping, found {describe_value(data)}")
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls) if f.name != "source"}
    unknown = sorted(set(data) - names)
    if unknown:
        raise ConfigError(
            f"{prefix}{unknown[0]}: unknown key; expected one of {', '.join(sorted(names))}"
        )
    kwargs = {key: _coerce(hints[key], value, f"{prefix}{key}") for key, value in data.items()}
    return cls(**kwargs)


def _coerce(hint: Any, value: Any, key: str) -> Any:
    """Check ``value`` against type ``hint``; return it in the declared type."""
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if dataclasses.is_dataclass(hint):
        return _build(hint, value, f"{key}.")
    if origin in (types.UnionType, typing.Union):
        if value is None and type(None) in args:
            return None
        inner = next(a for a in args if a is not type(None))
        return _coerce(inner, value, key)
    if origin is Literal:
        require_choice(key, value, args)
        return value
    if origin is tuple:
        if not isinstance(value, list | tuple):
            raise ConfigError(f"{key}: expected a list, found {describe_value(value)}")
        return tuple(_coerce(args[0], v, f"{key}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{key}: expected a mapping, found {describe_value(value)}")
        return {
            _coerce(args[0], k, f"{key}"): _coerce(args[1], v, f"{key}.{k}")
            for k, v in value.items()
        }
    if hint is Path:
        if not isinstance(value, str) or not value:
            raise ConfigError(f"{key}: expected a path string, found {describe_value(value)}")
        return Path(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ConfigError(f"{key}: expected a number, found {describe_value(value)}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{key}: expected an integer, found {describe_value(value)}")
        return value
    if hint is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, found {describe_value(value)}")
        return value
    if hint is str:
        if not isinstance(value, str):
            raise ConfigError(f"{key}: expected a string, found {describe_value(value)}")
        return value
    raise TypeError(f"unsupported config type {hint!r} for {key}")  # a bug in this module


def describe_value(value: Any) -> str:
    """Describe a parsed YAML value for an error message ("a list", "str 'x'")."""
    if value is None:
        return "nothing (null)"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return f"{type(value).__name__} {value!r}"


DEV_HASH_KEY = b"cxminer-development-key-not-for-production"


def hash_key_from_env(env_name: str, environ: typing.Mapping[str, str]) -> tuple[bytes, bool]:
    """Return the identifier-hashing key from ``environ[env_name]``.

    Called once, at the edge (flow or CLI). Returns ``(key, is_default)``: without the
    variable, a fixed development key is used and ``is_default`` is true so the caller
    can warn.
    """
    value = environ.get(env_name, "")
    if not value:
        return DEV_HASH_KEY, True
    return value.encode("utf-8"), False
