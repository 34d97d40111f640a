"""AWS exports' files: documents one a file, a line or an array; sidecars; fields checked by name.

Shared by :mod:`pipeline.ingest.adapters.amazon` and :mod:`~pipeline.ingest.adapters.aws_pca`:
:func:`read_documents` reads a file of documents into raw batches (a document that cannot
be read, or that the converter refuses with a :class:`FieldError`, becomes a reject naming
the field), :func:`read_sidecar` a call's ``<file>.meta.json`` (its start time and the
conversation fields a voice export lacks), and :func:`field`/:func:`object_at` check a
value's type with an error that names where it is.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipeline.ingest.adapters import (
    RawBatch,
    Record,
    build_batch,
    canonical_hash,
    reject,
)
from pipeline.ingest.adapters.adapter import FileHead
from pipeline.ingest.adapters.files import iter_lines, open_binary
from pipeline.ingest.adapters.jsonl import parse_line

#: What a sidecar ``<file>.meta.json`` may give (``started_at`` anchors the offsets).
SIDECAR_FIELDS = ("started_at", "queue", "team", "agent_id", "customer_id", "outcome")
_RAW_KEEP_CHARS = 4000
_SNIFF_MAX = 16 * 1024 * 1024
_KINDS = {str: "a string", list: "a list", dict: "an object", float: "a number", bool: "a boolean"}


class FieldError(ValueError):
    """A field of a document that cannot be read: its path, the reason code and why."""

    def __init__(self, field: str, message: str, reason: str = "bad_type") -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message, self.reason = field, message, reason


def read_documents(
    path: Path, *, batch_size: int, convert: Callable[..., dict], prune: Callable[[Any], Any]
) -> Iterator[RawBatch]:
    """Yield raw batches of the conversations ``convert`` makes of a file's documents.

    A document that cannot be parsed or converted is a reject naming its field (``prune``
    gives what of it quarantine may show); the file's other documents still load. A
    file of one document is read with its sidecar (:func:`read_sidecar`) and, without
    an id of its own, is named after the file. Raises ``InputError`` if it cannot be opened.
    """
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    records: list[Record] = []
    rejects: list[dict] = []
    for locator, document, problem in iter_documents(path):
        if problem is not None:
            rejects.append(problem)
            continue
        single = locator == "document"
        try:
            sidecar = read_sidecar(path) if single else {}
            fallback = stem if single else f"{stem}-{locator.rsplit(' ', 1)[-1]}"
            data = convert(document, fallback_id=fallback, sidecar=sidecar)
        except FieldError as exc:
            raw = orjson.dumps(prune(document), default=str).decode()[:_RAW_KEEP_CHARS]
            rejects.append(reject(locator, exc.reason, exc.message, raw, field=exc.field))
            continue
        raw = orjson.dumps(data, default=str).decode()[:_RAW_KEEP_CHARS]
        records.append(Record(locator, data, canonical_hash(data), raw))
        if len(records) + len(rejects) >= batch_size:
            yield build_batch(records, rejects)
            records, rejects = [], []
    if records or rejects:
        yield build_batch(records, rejects)


def iter_documents(path: Path) -> Iterator[tuple[str, Any, dict | None]]:
    """Yield ``(locator, document, reject row or None)`` for each JSON document of a file.

    A file of one document (pretty-printed or not) yields it as ``document``; a JSON
    array yields ``item N``; JSON Lines (the first of several lines a whole object) are
    streamed as ``line N``. What cannot be parsed is a reject row (``malformed_json``,
    ``bad_encoding``, ``truncated_gzip``).
    """
    lines = iter_lines(path)
    first, second = next(lines, None), next(lines, None)
    head = None
    if first is not None and first[2] is None and first[1][:1] == b"{":
        try:  # a whole object, or the first line of a pretty-printed document
            head = orjson.loads(first[1])
        except orjson.JSONDecodeError:
            head = None
    if isinstance(head, dict) and second is None:
        yield "document", head, None
        return
    if isinstance(head, dict):
        yield f"line {first[0]}", head, None
        for line_no, line, error in itertools.chain([second], lines):
            locator, rows = f"line {line_no}", []
            if error is not None:
                rows.append(reject(locator, *error))
            parsed = None if error else parse_line(locator, line, rows)
            yield locator, None if parsed is None else parsed.data, rows[0] if rows else None
        return
    lines.close()
    try:
        with open_binary(path) as handle:
            data = handle.read()
    except (EOFError, OSError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
        message = f"gzip stream is truncated or corrupt ({exc}); re-copy the file"
        yield "document", None, reject("document", "truncated_gzip", message)
        return
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        what = "the file is empty" if not data.strip() else f"{exc.msg} at char {exc.pos}"
        raw = data[:_RAW_KEEP_CHARS].decode("utf-8", "replace")
        message = f"not valid JSON ({what})"
        yield "document", None, reject("document", "malformed_json", message, raw)
        return
    if isinstance(document, list):
        yield from ((f"item {i}", item, None) for i, item in enumerate(document))
    else:
        yield "document", document, None


def read_sidecar(path: Path) -> dict[str, Any]:
    """Return the conversation fields a ``<file>.meta.json`` sidecar gives (``{}``: none).

    The sidecar is a JSON object of any of :data:`SIDECAR_FIELDS`, strings;
    ``started_at`` (ISO-8601, UTC without an offset) anchors the turns' offsets and is
    also returned parsed, as ``start``.

    Raises
    ------
    FieldError
        The sidecar cannot be read, is not such an object, or ``started_at`` is no time.
    """
    sidecar = path.with_name(path.name + ".meta.json")
    try:
        fields = orjson.loads(sidecar.read_bytes())
    except FileNotFoundError:
        return {}
    except (OSError, orjson.JSONDecodeError) as exc:
        raise FieldError(sidecar.name, f"cannot read it ({exc})", "malformed_json") from None
    if not isinstance(fields, dict) or not set(fields) <= set(SIDECAR_FIELDS):  # a typo
        found = sorted(fields) if isinstance(fields, dict) else kind_of(fields)
        message = f"expected an object of {'/'.join(SIDECAR_FIELDS)}, found {found}"
        raise FieldError(sidecar.name, message)
    for key, value in fields.items():
        if not isinstance(value, str):
            raise FieldError(f"{sidecar.name}:{key}", f"expected a string, found {kind_of(value)}")
    if "started_at" in fields:
        return {**fields, "start": parse_time(fields["started_at"], f"{sidecar.name}:started_at")}
    return fields


def parse_time(value: str, field: str, *, naive: bool = False) -> datetime:
    """Parse an ISO-8601 time; one without an offset is UTC, or left naive if ``naive``.

    Raises
    ------
    FieldError
        ``value`` is not ISO-8601 (reason ``bad_timestamp``).
    """
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        message = f"not a timestamp ({value[:40]!r}); expected ISO-8601 like 2026-03-01T10:00:00Z"
        raise FieldError(field, message, "bad_timestamp") from None
    return moment if moment.tzinfo or naive else moment.replace(tzinfo=UTC)


def at(start: datetime, offset_ms: float) -> str:
    """Return the ISO-8601 time ``offset_ms`` milliseconds after ``start``."""
    return (start + timedelta(milliseconds=offset_ms)).isoformat()


def sniff_document(head: FileHead, keys: tuple[bytes, ...]) -> Any:
    """Return the file's first document (an array's first item) for a detection test.

    A compact first line is the head's first record; a pretty-printed file is parsed
    whole only when its first 64 KiB hold one of ``keys`` and it is at most 16 MiB.
    ``None`` when neither gives a document.
    """
    first = head.first_record
    start = head.start
    if first is None and start.lstrip()[:1] in (b"{", b"[") and any(k in start for k in keys):
        try:
            with open_binary(head.path) as handle:
                data = handle.read(_SNIFF_MAX + 1)
            first = orjson.loads(data) if len(data) <= _SNIFF_MAX else None
        except (EOFError, OSError, zlib.error, orjson.JSONDecodeError):
            return None
    return (first[0] if first else None) if isinstance(first, list) else first


def field(parent: dict, key: str, where: str, kind: type) -> Any:
    """Return ``parent[key]`` if it is a ``kind`` (list, dict, str; float: any number).

    Absent, a list or dict is empty and a string or number ``None``.

    Raises
    ------
    FieldError
        The value is of another type (naming ``<where><key>``).
    """
    value = parent.get(key)
    if value is None:
        return [] if kind is list else {} if kind is dict else None
    if type(value) is kind or (kind is float and type(value) is int):
        return value
    raise FieldError(f"{where}{key}", f"expected {_KINDS[kind]}, found {kind_of(value)}")


def object_at(items: list, i: int, where: str) -> dict:
    """Return ``items[i]`` if it is an object; else :class:`FieldError` naming ``where[i]``."""
    if type(items[i]) is not dict:
        raise FieldError(f"{where}[{i}]", f"expected an object, found {kind_of(items[i])}")
    return items[i]


def kind_of(value: Any) -> str:
    """Say what a JSON value is, for messages ("a string", "a list")."""
    return "null" if value is None else _KINDS.get(type(value), type(value).__name__)
