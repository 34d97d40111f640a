"""Canonical JSONL: one conversation a line (gzip allowed), read in bounded batches."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import orjson

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import RawBatch, Record, build_batch, content_hash, reject
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import iter_lines

_MAX_BATCH_BYTES = 64 * 1024 * 1024
_RAW_KEEP_CHARS = 4000


def read_jsonl(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of at most ``batch_size`` conversations from a canonical JSONL file.

    Malformed JSON, a line that is not an object, bad UTF-8 and a truncated gzip stream
    become rejects with the line number; the rest of the file still loads.

    Raises
    ------
    InputError
        The file cannot be opened at all.
    """
    records: list[Record] = []
    rejects: list[dict] = []
    size = 0
    for line_no, line, error in iter_lines(path):
        locator = f"line {line_no}"
        if error is not None:
            rejects.append(reject(locator, error[0], error[1], line.decode("utf-8", "replace")))
        else:
            record = parse_line(locator, line, rejects)
            if record is not None:
                records.append(record)
                size += len(line)
        if len(records) + len(rejects) >= batch_size or size >= _MAX_BATCH_BYTES:
            yield build_batch(records, rejects)
            records, rejects, size = [], [], 0
    if records or rejects:
        yield build_batch(records, rejects)


def parse_line(locator: str, line: bytes, rejects: list[dict]) -> Record | None:
    """Parse one JSONL line into a record, or append a reject and return ``None``."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        rejects.append(
            reject(
                locator,
                "bad_encoding",
                f"not valid UTF-8 at byte {exc.start}; re-export the file as UTF-8",
                line.decode("utf-8", "replace")[:_RAW_KEEP_CHARS],
            )
        )
        return None
    try:
        data = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        rejects.append(
            reject(
                locator,
                "malformed_json",
                f"not valid JSON ({exc.msg} at char {exc.pos})",
                text[:_RAW_KEEP_CHARS],
            )
        )
        return None
    if not isinstance(data, dict):
        rejects.append(
            reject(
                locator,
                "bad_type",
                "expected a JSON object (one conversation a line)",
                text[:_RAW_KEEP_CHARS],
            )
        )
        return None
    return Record(locator, data, content_hash(line), text[:_RAW_KEEP_CHARS])


def detect(head: FileHead) -> bool:
    """Whether the first record is a JSON object with a ``conversation_id``."""
    first = head.first_record
    return isinstance(first, dict) and "conversation_id" in first


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_jsonl(path, batch_size=config.batch_size)


ADAPTER = Adapter("jsonl", read=_read, detect=detect)
