"""Platform exports of one JSON document a conversation: reading, masking, small value readers.

Shared by the adapters of formats that put one conversation in a file (a document,
pretty-printed or not, gzip allowed): :func:`read_document` reads it into one raw batch
(a document that cannot be read, or that the adapter's converter refuses with a
:class:`DocumentProblem`, becomes a reject naming the field), :func:`masked_raw` keeps a
copy with people's ids masked, and the small readers turn platform values (epoch times,
numbers, texts, lists of objects) into canonical ones.
"""

from __future__ import annotations

import gzip
import re
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import fmean
from typing import Any

import orjson

from pipeline.ingest.adapters import RawBatch, Record, build_batch, canonical_hash, reject
from pipeline.ingest.adapters.adapter import FileHead
from pipeline.ingest.adapters.files import open_binary
from pipeline.ingest.adapters.markers import map_markers

_RAW_KEEP_CHARS = 4000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
# Keys that identify a person in platform exports: masked in the raw copy a reject keeps
# (ingest itself masks only the canonical agent_id/customer_id keys).
IDENTITY_KEYS = ("user_id", "userId", "agentId", "obfuscatedUserId", "obfuscatedExternalUserId",
                 "displayName", "ani", "dnis", "from", "to", "externalContactId")  # fmt: skip
_IDENTITY = re.compile(
    r'"(' + "|".join(IDENTITY_KEYS) + r')"\s*:\s*("(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?)'
)
#: Turns one parsed document and its fallback conversation id into a canonical record.
Convert = Callable[[dict[str, Any], str], dict[str, Any]]


class DocumentProblem(ValueError):
    """Why a platform document cannot become a conversation: the field and a reason code."""

    def __init__(self, field: str, reason: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.reason = reason


def read_document(path: Path, *, convert: Convert, kind: str) -> Iterator[RawBatch]:
    """Yield the raw batch of a file holding one JSON document (one conversation).

    ``convert`` gets the file's stem as fallback conversation id. A truncated gzip, bad
    UTF-8 or JSON, a non-object, and a document ``convert`` refuses (:class:`DocumentProblem`
    naming the field) become a reject (``document``), people's ids masked in its raw copy;
    ``kind`` names what the document should be ("a Genesys Cloud transcript").

    Raises
    ------
    InputError
        The file cannot be opened.
    """
    handle = open_binary(path)
    try:
        with handle:
            data = handle.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
        message = f"gzip stream is truncated or corrupt ({exc}); re-copy the file"
        yield build_batch([], [reject("document", "truncated_gzip", message)])
        return
    try:
        document, problem = orjson.loads(data.decode("utf-8").removeprefix("\ufeff")), None
    except UnicodeDecodeError as exc:
        document = data.decode("utf-8", "replace")
        problem = ("", "bad_encoding", f"not valid UTF-8 at byte {exc.start}; re-export as UTF-8")
    except orjson.JSONDecodeError as exc:
        document = data.decode("utf-8")
        problem = ("", "malformed_json", f"not valid JSON ({exc.msg} at char {exc.pos})")
    if problem is None and not isinstance(document, dict):
        problem = ("", "bad_type", f"expected a JSON object ({kind}), found {describe(document)}")
    stem = path.name.removesuffix(".gz").removesuffix(".json")
    try:
        if problem is not None:
            raise DocumentProblem(*problem)
        record = convert(document, stem)
    except DocumentProblem as exc:
        raw = masked_raw(document)
        yield build_batch([], [reject("document", exc.reason, str(exc), raw, field=exc.field)])
    except (KeyError, TypeError, AttributeError) as exc:
        message = f"not {kind} ({type(exc).__name__}: {exc})"
        yield build_batch([], [reject("document", "bad_type", message, masked_raw(document))])
    else:
        raw = orjson.dumps(record, default=str).decode()[:_RAW_KEEP_CHARS]
        yield build_batch([Record("document", record, canonical_hash(record), raw)], [])


def masked_raw(value: Any) -> str:
    """Return the raw copy a reject keeps: JSON text, people's ids masked, truncated."""
    text = value if isinstance(value, str) else orjson.dumps(value, default=str).decode()
    return _IDENTITY.sub(r'"\1": "<ID>"', text)[:_RAW_KEEP_CHARS]


def first_document(head: FileHead) -> Any:
    """Return the file's JSON document for detection, ``None`` if it cannot be sniffed.

    The first line is tried, then the file's start parsed whole (a pretty-printed
    document that fits in the first line plus 64 KiB).
    """
    if head.first_record is not None or head.start.lstrip()[:1] != b"{":
        return head.first_record
    try:
        return orjson.loads(head.start)
    except orjson.JSONDecodeError:
        return None


def epoch_iso(value: Any, *, unit: str) -> str | None:
    """Return the ISO-8601 UTC time of ``value`` ``unit``s (``ms``, ``us``) after the epoch.

    An integer written as a string is accepted (proto3 JSON writes int64 so); anything
    else gives ``None``.
    """
    value = integer(value)
    if value is None:
        return None
    try:
        return (_EPOCH + timedelta(microseconds=value * (1000 if unit == "ms" else 1))).isoformat()
    except OverflowError:
        return None


def integer(value: Any) -> int | None:
    """Return a JSON integer (or one written as a string, or an integral float), else ``None``."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def turn_text(value: Any, field: str) -> str | None:
    """Return a turn's text with platform redaction markers mapped, ``None`` if absent.

    Raises
    ------
    DocumentProblem
        The value is not a string.
    """
    if value is None or isinstance(value, str):
        return None if value is None else map_markers(value)
    raise DocumentProblem(field, "bad_type", f"expected a string, found {describe(value)}")


def number(value: Any) -> float | None:
    """Return ``value`` if it is a JSON number, else ``None``."""
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def summary(values: list[float]) -> dict[str, Any] | None:
    """Return the mean, minimum and count of numbers, ``None`` for none.

    Two decimals: ingest's redaction of metadata reads a longer fraction as an id number.
    """
    if not values:
        return None
    return {"mean": round(fmean(values), 2), "min": round(min(values), 2), "n": len(values)}


def describe(value: Any) -> str:
    """Name a JSON value for a message: ``"AGENT_X"``, a number, an object, null."""
    if isinstance(value, str):
        return f'"{value[:40]}"'
    if value is None or isinstance(value, bool):
        return "null" if value is None else "a boolean"
    return {dict: "an object", list: "a list"}.get(type(value), "a number")


def compact(mapping: dict[str, Any]) -> dict[str, Any]:
    """Return the mapping without its empty values (None, empty lists and objects)."""
    return {k: v for k, v in mapping.items() if v is not None and v != [] and v != {}}


def objects(value: Any, field: str) -> list[dict[str, Any]]:
    """Return ``value``, a list of objects (absent: empty), or raise :class:`DocumentProblem`."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise DocumentProblem(field, "bad_type", f"expected a list, found {describe(value)}")
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            message = f"expected an object, found {describe(item)}"
            raise DocumentProblem(f"{field}[{i}]", "bad_type", message)
    return value
