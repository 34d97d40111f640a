"""Settings for reading and de-identifying input: formats, columns, redaction.

The ``ingest`` and ``redact`` sections of ``config.yaml``; loaded and validated by
:func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.errors import ConfigError, require_choice, require_positive
from pipeline.schema import SPEAKERS

#: Personal-data types the redactor knows (pipeline.ingest.redact.PII_TYPES).
REDACT_TYPES = ("email", "phone", "card", "iban", "ssn", "ip", "dob", "name", "address", "id")

FORMATS = (
    "auto", "jsonl", "csv", "parquet", "star", "abcd", "banking77", "multidogo",
    "vcon", "amazon", "aws-pca", "ccai", "genesys",
)  # fmt: skip


@dataclass(frozen=True)
class TableColumns:
    """Column names of a turn-per-row CSV/Parquet export (canonical field -> column).

    An empty string means the export has no such column. ``status`` is an action row's
    result (ok/failed), read as the JSONL turn field ``status`` is.
    """

    conversation_id: str = "conversation_id"
    speaker: str = "speaker"
    text: str = "text"
    ts: str = "ts"
    turn_idx: str = ""
    event_type: str = "event_type"
    action: str = "action"
    status: str = "status"
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

    format: Literal[
        "auto", "jsonl", "csv", "parquet", "star", "abcd", "banking77", "multidogo",
        "vcon", "amazon", "aws-pca", "ccai", "genesys",
    ] = "auto"  # fmt: skip
    batch_size: int = 5000
    max_text_chars: int = 10000
    # files up to this size are read many together, a group of up to batch_size
    # conversations redacted and written at once (a platform's export: one file a call);
    # 0: every file on its own
    small_file_bytes: int = 1_048_576
    patterns: tuple[str, ...] = (
        "*.jsonl",
        "*.jsonl.gz",
        "*.ndjson",
        "*.json",
        "*.json.gz",
        "*.csv",
        "*.csv.gz",
        "*.parquet",
        "*.vcon",
        "*.vcon.gz",
    )
    recursive: bool = False
    speaker_aliases: dict[str, str] = field(default_factory=dict)
    table: TableColumns = field(default_factory=TableColumns)

    def __post_init__(self) -> None:
        require_positive("ingest", self, ("batch_size", "max_text_chars"))
        if self.small_file_bytes < 0:
            raise ConfigError(
                f"ingest.small_file_bytes: expected 0 or more bytes, found {self.small_file_bytes}"
            )
        for alias, speaker in self.speaker_aliases.items():
            require_choice(f"ingest.speaker_aliases.{alias}", speaker, SPEAKERS)


@dataclass(frozen=True)
class RedactConfig:
    """What is redacted, what is never redacted, and where the identifier-hashing key comes from.

    ``allow`` lists words and phrases (product and brand names: "Visa", "Air Jordan")
    that the name, address and id rules never redact; case-insensitive.
    """

    types: tuple[str, ...] = REDACT_TYPES
    allow: tuple[str, ...] = ()
    hash_key_env: str = "CXMINER_HASH_KEY"

    def __post_init__(self) -> None:
        known = REDACT_TYPES
        for name in self.types:
            if name not in known:
                raise ConfigError(
                    f"redact.types: expected a list of {'/'.join(known)}, found {name!r}"
                )
