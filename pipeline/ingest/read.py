"""Reading input files: find them, read each as a stream of validated, redacted batches.

Reads: input files (through :mod:`pipeline.ingest.adapters.registry`). Writes nothing: the
ingest flow passes each :class:`~pipeline.ingest.batch.IngestBatch` to ``pipeline.store``.
Tables fed: ``conversations``, ``turns``, ``redactions``, ``quarantine`` (and one
``sources`` row a file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.config import IngestConfig
from pipeline.errors import InputError
from pipeline.ingest.adapters import PendingBatch, RawBatch
from pipeline.ingest.adapters.registry import read_raw
from pipeline.ingest.batch import IngestBatch, prepare_batch
from pipeline.ingest.redact import PII_TYPES, SHAPE_TYPES, redact_text
from pipeline.ingest.validate import SeenIds, validate_batch

#: A platform file's sidecar, ``<file>.meta.json``: read with its file, never on its own.
SIDECAR_SUFFIX = ".meta.json"


def list_inputs(
    paths: Iterable[str | Path], *, patterns: Sequence[str], recursive: bool = False
) -> list[Path]:
    """Expand folders into the files matching ``patterns`` (sorted); keep files as given.

    A folder's subfolders are searched only when ``recursive`` is true. A sidecar
    (``<file>.meta.json``: what a voice export lacks, such as its start time, read by the
    platform adapters beside their file) is never an input of its own.

    Raises
    ------
    InputError
        A path does not exist.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            glob = path.rglob if recursive else path.glob
            found = {p for pattern in patterns for p in glob(pattern)
                     if p.is_file() and not p.name.lower().endswith(SIDECAR_SUFFIX)}  # fmt: skip
            files.extend(sorted(found))
        elif path.exists():
            files.append(path)
        else:
            raise InputError(f"{path}: no such file or folder")
    return list(dict.fromkeys(files))


def read_source(
    path: Path,
    *,
    source_id: str,
    fmt: str,
    config: IngestConfig,
    hash_key: bytes,
    redact_types: Sequence[str] = PII_TYPES,
    redact_allow: Sequence[str] = (),
) -> Iterator[IngestBatch]:
    """Read one input file as a stream of validated, redacted batches.

    Raises
    ------
    InputError
        The file cannot be opened or is not in the expected format at all.
    """
    seen = SeenIds()
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
            redact_allow=redact_allow,
        )


def read_whole(path: Path, *, fmt: str, config: IngestConfig) -> RawBatch:
    """Read one small file whole, as one raw batch (not yet validated).

    For files of one or a few conversations (a platform's export, one file a call) that
    ingest reads many together (:func:`combine_raw`).

    Raises
    ------
    InputError
        The file cannot be opened or is not in the expected format at all.
    """
    parts = list(read_raw(path, fmt=fmt, config=config))
    if all(isinstance(part, PendingBatch) for part in parts):  # not flattened yet: join them
        return PendingBatch([r for p in parts for r in p.records],
                            [r for p in parts for r in p.reject_rows])  # fmt: skip
    return combine_raw([(None, part) for part in parts])


def combine_raw(parts: Sequence[tuple[str | None, RawBatch]]) -> RawBatch:
    """Concatenate raw batches into one, each part's ``rec`` numbers shifted past the last's.

    A part with a source id stamps it on its conversations and rejects (column
    ``source_id``), which :func:`~pipeline.ingest.validate.validate_batch` and
    :func:`~pipeline.ingest.batch.prepare_batch` then keep per row.
    """
    if parts and all(isinstance(raw, PendingBatch) for _, raw in parts):
        return _combine_pending(parts)
    conversations, turns, rejects, offset = [], [], [], 0
    for source_id, raw in parts:
        stamp = [] if source_id is None else [pl.lit(source_id).alias("source_id")]
        conversations.append(raw.conversations.with_columns(pl.col("rec") + offset, *stamp))
        turns.append(raw.turns.with_columns(pl.col("rec") + offset))
        rejects.append(raw.rejects.with_columns(*stamp))
        offset += raw.conversations.height
    return RawBatch(
        conversations=pl.concat(conversations, how="vertical_relaxed"),
        turns=pl.concat(turns, how="vertical_relaxed"),
        rejects=pl.concat(rejects, how="vertical_relaxed"),
    )


def _combine_pending(parts: Sequence[tuple[str | None, PendingBatch]]) -> RawBatch:
    """Flatten the records of several not yet flattened batches at once; stamp source ids."""
    joined = PendingBatch([r for _, p in parts for r in p.records],
                          [r for _, p in parts for r in p.reject_rows])  # fmt: skip
    if all(source_id is None for source_id, _ in parts):
        return joined
    ids = [source_id for source_id, _ in parts]
    return RawBatch(
        conversations=joined.conversations.with_columns(source_id=pl.Series(
            np.repeat(ids, [len(p.records) for _, p in parts]), dtype=pl.String)),
        turns=joined.turns,
        rejects=joined.rejects.with_columns(source_id=pl.Series(
            np.repeat(ids, [len(p.reject_rows) for _, p in parts]), dtype=pl.String)),
    )  # fmt: skip


def unreadable_reason(error: Exception) -> str:
    """One redacted line describing why a whole file could not be read."""
    line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return redact_text(line, types=SHAPE_TYPES)
