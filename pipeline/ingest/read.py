"""Reading input files: find them, read each as a stream of validated, redacted batches.

Reads: input files (through :mod:`pipeline.ingest.adapters.registry`). Writes nothing: the
ingest flow passes each :class:`~pipeline.ingest.batch.IngestBatch` to ``pipeline.store``.
Tables fed: ``conversations``, ``turns``, ``redactions``, ``quarantine`` (and one
``sources`` row a file).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

from pipeline.config import IngestConfig
from pipeline.errors import InputError
from pipeline.ingest.adapters.registry import read_raw
from pipeline.ingest.batch import IngestBatch, prepare_batch
from pipeline.ingest.redact import PII_TYPES, SHAPE_TYPES, redact_text
from pipeline.ingest.validate import validate_batch


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
            redact_allow=redact_allow,
        )


def unreadable_reason(error: Exception) -> str:
    """One redacted line describing why a whole file could not be read."""
    line = str(error).splitlines()[0] if str(error) else type(error).__name__
    return redact_text(line, types=SHAPE_TYPES)
