"""Ingest: read input files in bounded batches, validate, redact, and hand batches to the store.

Reads: input files (through ``pipeline.ingest.adapters``). Writes nothing itself: a flow task
passes each :class:`IngestBatch` to ``pipeline.store``. Tables fed: ``conversations``,
``turns``, ``redactions``, ``quarantine`` (and one ``sources`` row a file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson
import polars as pl

from pipeline.config import FORMATS, IngestConfig
from pipeline.errors import InputError
from pipeline.ingest.adapters import RawBatch
from pipeline.ingest.adapters.abcd import looks_like_abcd, read_abcd
from pipeline.ingest.adapters.banking77 import looks_like_banking77, read_banking77
from pipeline.ingest.adapters.files import open_binary
from pipeline.ingest.adapters.jsonl import read_jsonl
from pipeline.ingest.adapters.multidogo import looks_like_multidogo, read_multidogo
from pipeline.ingest.adapters.star import looks_like_star, read_star
from pipeline.ingest.adapters.table import read_table
from pipeline.ingest.redact import PII_TYPES, hash_identifiers, redact_text, redact_texts
from pipeline.ingest.validate import validate_batch
from pipeline.schema import CONVERSATIONS, QUARANTINE, REDACTIONS, TURNS, batch_columns

# Fields of raw records that hold customer or agent identities; masked in quarantine raw.
_ID_KEYS = ("agent_id", "customer_id", "AnonymizedUserWorkerID", "AnonymizedWizardWorkerID")
_ID_PATTERN = r'"(' + "|".join(_ID_KEYS) + r')"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)'
_FIRST_LINE_MAX = 16 * 1024 * 1024  # a first record longer than this is not sniffed
_SNIFF_BYTES = 64 * 1024


@dataclass(frozen=True)
class IngestBatch:
    """One batch ready for the store: redacted, identifiers hashed, quarantine separated."""

    conversations: pl.DataFrame
    turns: pl.DataFrame
    redactions: pl.DataFrame
    quarantine: pl.DataFrame

    @property
    def n_records(self) -> int:
        """Records seen in this batch (valid plus quarantined)."""
        return self.conversations.height + self.quarantine.height


def list_inputs(
    paths: Iterable[str | Path], *, patterns: Sequence[str], recursive: bool = False
) -> list[Path]:
    """Expand folders into the files matching ``patterns`` (sorted); keep files as given.

    A folder's subfolders are searched only when ``recursive`` is true.

    Raises
    ------
    InputError
        A path does not exist.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            glob = path.rglob if recursive else path.glob
            found = {p for pattern in patterns for p in glob(pattern) if p.is_file()}
            files.extend(sorted(found))
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return list(dict.fromkeys(files))


def detect_format(path: Path) -> str:
    """Guess a file's format from its name and its first record.

    A ``.csv`` whose header line is exactly ``text,category`` is Banking77 (a turn-per-row
    export needs conversation id and speaker columns, so it cannot be one); a ``.tsv``
    whose header line is exactly MultiDoGO's (``conversationId``, ``turnNumber``,
    ``utteranceId``, ``utterance``, ``slot-labels``, ``intent``) is MultiDoGO (it has no
    speaker column either).

    Returns
    -------
    str
        One of ``jsonl``, ``csv``, ``parquet``, ``star``, ``abcd``, ``banking77``,
        ``multidogo``.
    """
    name = path.name.lower().removesuffix(".gz")
    if name.endswith(".parquet"):
        return "parquet"
    if name.endswith(".csv") and looks_like_banking77(_first_line(path, limit=64)):
        return "banking77"
    if name.endswith(".tsv") and looks_like_multidogo(_first_line(path, limit=128)):
        return "multidogo"
    if name.endswith((".csv", ".tsv")):
        return "csv"
    with open_binary(path) as handle:
        try:
            first_line = handle.readline(_FIRST_LINE_MAX)
            head = first_line + handle.read(_SNIFF_BYTES)  # for pretty-printed documents
        except (EOFError, OSError):
            return "jsonl"  # the reader reports what is wrong with the file
    try:
        first = orjson.loads(first_line)
    except orjson.JSONDecodeError:
        first = None  # a pretty-printed document, or a bad first line
    if isinstance(first, dict) and looks_like_star(first):
        return "star"
    if isinstance(first, dict) and "conversation_id" in first:
        return "jsonl"
    if looks_like_abcd(head):
        return "abcd"
    return "jsonl"


def read_raw(path: Path, *, fmt: str, config: IngestConfig) -> Iterator[RawBatch]:
    """Dispatch to the reader of ``fmt`` (``auto`` detects it)."""
    if fmt == "auto":
        fmt = detect_format(path)
    if fmt == "jsonl":
        return read_jsonl(path, batch_size=config.batch_size)
    if fmt == "star":
        return read_star(path, batch_size=config.batch_size)
    if fmt == "abcd":
        return read_abcd(path, batch_size=config.batch_size)
    if fmt == "banking77":
        return read_banking77(path, batch_size=config.batch_size)
    if fmt == "multidogo":
        return read_multidogo(path, batch_size=config.batch_size)
    if fmt in ("csv", "parquet"):
        return read_table(path, fmt=fmt, columns=config.table, batch_size=config.batch_size)
    raise InputError(f"{path}: unknown format {fmt!r}; expected {'/'.join(FORMATS)}")


def read_source(
    path: Path,
    *,
    source_id: str,
    fmt: str,
    config: IngestConfig,
    hash_key: bytes,
    redact_types: Sequence[str] = PII_TYPES,
) -> Iterator[IngestBatch]:
    """Read one input file as a stream of validated, redacted batches.

    Raises
    ------
    InputError
        The file cannot be opened or is not in the expected format at all.
    """
    seen: set[str] = set()
    for raw in read_raw(path, fmt=fmt, config=config):
        valid, seen = validate_batch(
            raw,
            source_id=source_id,
            max_text_chars=config.max_text_chars,
            speaker_aliases=config.speaker_aliases,
            seen_ids=seen,
        )
        yield prepare_batch(
            valid.conversations,
            valid.turns,
            valid.quarantine,
            source_id=source_id,
            hash_key=hash_key,
            redact_types=redact_types,
        )


def prepare_batch(
    conversations: pl.DataFrame,
    turns: pl.DataFrame,
    quarantine: pl.DataFrame,
    *,
    source_id: str,
    hash_key: bytes,
    redact_types: Sequence[str],
) -> IngestBatch:
    """Redact text, hash identifiers and shape the frames to the store's columns."""
    text, counts = redact_texts(turns["text"], types=redact_types)
    args, _ = redact_texts(turns["args"], types=redact_types)
    metadata, _ = redact_texts(conversations["metadata"], types=redact_types)
    out_turns = turns.with_columns(text=text, args=args, action_name=pl.col("action"))
    out_turns = out_turns.with_columns(ts=pl.col("ts_parsed")).select(batch_columns(TURNS))
    redactions = (
        pl.concat([turns.select("conversation_id", "turn_idx"), counts], how="horizontal")
        .unpivot(index=["conversation_id", "turn_idx"], variable_name="pii_type", value_name="n")
        .filter(pl.col("n") > 0)
        .with_columns(pl.col("n").cast(pl.Int32))
        .sort("conversation_id", "turn_idx", "pii_type")
    )
    out_conv = conversations.with_columns(
        source_id=pl.lit(source_id),
        agent_hash=hash_identifiers(conversations["agent_id"], key=hash_key),
        customer_hash=hash_identifiers(conversations["customer_id"], key=hash_key),
        outcome=pl.col("outcome").str.strip_chars().str.to_lowercase(),
        metadata=metadata,
    ).select(batch_columns(CONVERSATIONS))
    return IngestBatch(
        conversations=out_conv,
        turns=out_turns,
        redactions=redactions.select(batch_columns(REDACTIONS)),
        quarantine=redact_quarantine(quarantine, redact_types=redact_types),
    )


def redact_quarantine(quarantine: pl.DataFrame, *, redact_types: Sequence[str]) -> pl.DataFrame:
    """Mask identifiers and redact PII in quarantined raw records and messages."""
    if quarantine.is_empty():
        return quarantine.select(batch_columns(QUARANTINE))
    masked = quarantine["raw"].str.replace_all(_ID_PATTERN, r'"$1": "<ID>"')
    raw, _ = redact_texts(masked, types=redact_types)
    message, _ = redact_texts(quarantine["message"], types=redact_types)
    return quarantine.with_columns(raw=raw, message=message).select(batch_columns(QUARANTINE))


def unreadable_reason(error: Exception) -> str:
    """One redacted line describing why a whole file could not be read."""
    return redact_text(str(error).splitlines()[0] if str(error) else type(error).__name__)


def _first_line(path: Path, *, limit: int) -> bytes:
    """Return the first line of a (gzipped) file, at most ``limit`` bytes; empty if unreadable."""
    with open_binary(path) as handle:
        try:
            return handle.readline(limit)
        except (EOFError, OSError):
            return b""  # the reader reports what is wrong with the file
