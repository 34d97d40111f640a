"""Readers of external formats; each turns its input into canonical raw batches.

Every adapter yields :class:`RawBatch` objects of at most ``batch_size`` conversations,
so memory is bounded by the batch, not the file. A record that cannot be parsed at all
(malformed JSON, bad encoding, truncated gzip) becomes a row of ``RawBatch.rejects``;
a parsed record is flattened into ``conversations`` and ``turns`` frames whose values
are still unvalidated strings. Validation, redaction and hashing happen downstream on
whole frames (``pipeline.ingest.validate``, ``pipeline.ingest.redact``).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Any

import orjson
import polars as pl

CONVERSATION_FIELDS = (
    "conversation_id",
    "channel",
    "queue",
    "team",
    "agent_id",
    "customer_id",
    "started_at",
    "ended_at",
    "outcome",
)
TURN_FIELDS = ("speaker", "event_type", "text", "action", "args", "status", "ts")
_KNOWN_RECORD_KEYS = frozenset((*CONVERSATION_FIELDS, "turns", "metadata"))
_KNOWN_TURN_KEYS = frozenset(TURN_FIELDS)

RAW_CONVERSATION_SCHEMA = {
    "rec": pl.Int64,
    "locator": pl.String,
    **{name: pl.String for name in CONVERSATION_FIELDS},
    "metadata": pl.String,
    "content_hash": pl.String,
    "raw": pl.String,
    "problem_field": pl.String,
    "problem_reason": pl.String,
    "problem_message": pl.String,
}
RAW_TURN_SCHEMA = {
    "rec": pl.Int64,
    "turn_idx": pl.Int32,
    "speaker": pl.String,
    "event_type": pl.String,
    "text": pl.String,
    "action": pl.String,
    "args": pl.String,
    "status": pl.String,
    "ts": pl.String,
}
REJECT_SCHEMA = {
    "locator": pl.String,
    "conversation_id": pl.String,
    "field": pl.String,
    "reason": pl.String,
    "message": pl.String,
    "raw": pl.String,
}


@dataclass(frozen=True)
class RawBatch:
    """Parsed but unvalidated records of one batch of an input file."""

    conversations: pl.DataFrame
    turns: pl.DataFrame
    rejects: pl.DataFrame


@dataclass(frozen=True)
class Record:
    """One parsed conversation in canonical shape, with where it came from."""

    locator: str
    data: dict[str, Any]
    content_hash: str
    raw: str


def reject(locator: str, reason: str, message: str, raw: str = "", field: str = "") -> dict:
    """Return one reject row (a record that could not be parsed into a conversation)."""
    return {
        "locator": locator,
        "conversation_id": None,
        "field": field or None,
        "reason": reason,
        "message": message,
        "raw": raw,
    }


def content_hash(data: bytes) -> str:
    """Return the content hash used for idempotent re-ingest."""
    return hashlib.sha256(data).hexdigest()[:32]


def canonical_hash(record: dict[str, Any]) -> str:
    """Content hash of a record built in memory (sorted keys, so key order does not matter)."""
    return content_hash(orjson.dumps(record, option=orjson.OPT_SORT_KEYS, default=str))


def epoch_to_iso(value: float) -> str:
    """Format a Unix timestamp as an ISO-8601 UTC string.

    Seconds, milliseconds and microseconds are told apart by magnitude (any date after
    1973 in milliseconds exceeds every plausible date in seconds).

    Raises
    ------
    ValueError
        The value is not a representable date in any of those units.
    """
    for scale in (1, 1e3, 1e6):
        if abs(value) / scale < 1e11:
            try:
                return datetime.fromtimestamp(value / scale, tz=UTC).isoformat()
            except (OverflowError, OSError) as exc:
                raise ValueError(f"{value} is not a Unix timestamp") from exc
    raise ValueError(f"{value} is not a Unix timestamp")


class PendingBatch(RawBatch):
    """A :class:`RawBatch` of records not yet flattened: its frames are built on first use.

    What :func:`build_batch` returns. Ingest reading many small files together
    (:func:`pipeline.ingest.read.combine_raw`) joins the records of several files and
    flattens them once, instead of building small frames a file.
    """

    def __init__(self, records: list[Record], rejects: list[dict]) -> None:
        object.__setattr__(self, "records", list(records))
        object.__setattr__(self, "reject_rows", list(rejects))

    @cached_property
    def _frames(self) -> RawBatch:
        return _flatten(self.records, self.reject_rows)

    @property
    def conversations(self) -> pl.DataFrame:  # type: ignore[override]
        """Raw conversation frame, one row a record."""
        return self._frames.conversations

    @property
    def turns(self) -> pl.DataFrame:  # type: ignore[override]
        """Raw turn frame."""
        return self._frames.turns

    @property
    def rejects(self) -> pl.DataFrame:  # type: ignore[override]
        """Records that could not be parsed."""
        return self._frames.rejects


def build_batch(records: list[Record], rejects: list[dict]) -> RawBatch:
    """Return canonical records as a raw batch, flattened on first use (:class:`PendingBatch`).

    Flattening is the one per-turn Python loop of ingest (it only gathers values; checks
    that can run on whole columns run later in polars). Type problems found there are
    noted on the record as ``problem_*`` and quarantine it downstream.
    """
    return PendingBatch(records, rejects)


def _flatten(records: list[Record], rejects: list[dict]) -> RawBatch:
    """Flatten canonical records into raw conversation and turn frames."""
    conv_cols: dict[str, list] = {name: [] for name in RAW_CONVERSATION_SCHEMA}
    turn_rec: list[int] = []
    turn_idx: list[int] = []
    turn_cols: dict[str, list] = {name: [] for name in TURN_FIELDS}
    speaker, event_type, text = turn_cols["speaker"], turn_cols["event_type"], turn_cols["text"]
    action, args, ts = turn_cols["action"], turn_cols["args"], turn_cols["ts"]
    status = turn_cols["status"]
    for rec, record in enumerate(records):
        data = record.data
        problem = _record_problem(data)
        metadata = data.get("metadata")
        extra = {k: data[k] for k in data.keys() - _KNOWN_RECORD_KEYS}
        turns = data.get("turns")
        if problem is None and isinstance(turns, list):
            for j, turn in enumerate(turns):
                if type(turn) is not dict:
                    problem = (
                        f"turns[{j}]",
                        "bad_type",
                        f"expected an object, found {_kind(turn)}",
                    )
                    break
                get = turn.get
                turn_rec.append(rec)
                turn_idx.append(j)
                speaker.append(get("speaker"))
                event_type.append(get("event_type"))
                text.append(get("text"))
                action.append(get("action"))
                value = get("args")
                args.append(None if value is None else orjson.dumps(value).decode())
                ts.append(get("ts"))
                status.append(get("status"))
                if not _KNOWN_TURN_KEYS.issuperset(turn):
                    extra.setdefault("turn_fields", {})[str(j)] = {
                        k: turn[k] for k in turn.keys() - _KNOWN_TURN_KEYS
                    }
        if extra:
            metadata = (
                {**metadata, **extra}
                if isinstance(metadata, dict)
                else {**({"metadata": metadata} if metadata is not None else {}), **extra}
            )
        conv_cols["rec"].append(rec)
        conv_cols["locator"].append(record.locator)
        for name in CONVERSATION_FIELDS:
            value = data.get(name)
            if not isinstance(value, str):  # numbers become strings; other types are a problem
                numeric = isinstance(value, int | float) and not isinstance(value, bool)
                value = str(value) if numeric else None
            conv_cols[name].append(value)
        conv_cols["metadata"].append(
            None if metadata is None else orjson.dumps(metadata, default=str).decode()
        )
        conv_cols["content_hash"].append(record.content_hash)
        conv_cols["raw"].append(record.raw)
        field, reason, message = problem or (None, None, None)
        conv_cols["problem_field"].append(field)
        conv_cols["problem_reason"].append(reason)
        conv_cols["problem_message"].append(message)
    conversations = _frame(conv_cols, RAW_CONVERSATION_SCHEMA)
    turns = _turn_frame(turn_rec, turn_idx, turn_cols)
    return RawBatch(conversations, turns, pl.DataFrame(rejects, schema=REJECT_SCHEMA))


def _record_problem(data: dict[str, Any]) -> tuple[str, str, str] | None:
    """Type problems of top-level fields (missing values are left to validation)."""
    for name in CONVERSATION_FIELDS:
        value = data.get(name)
        if value is not None and (
            isinstance(value, bool) or not isinstance(value, str | int | float)
        ):
            return name, "bad_type", f"expected a string, found {_kind(value)}"
    turns = data.get("turns")
    if turns is not None and not isinstance(turns, list):
        return "turns", "bad_type", f"expected a list of turns, found {_kind(turns)}"
    return None


def _frame(columns: dict[str, list], schema: dict[str, pl.DataType]) -> pl.DataFrame:
    return pl.DataFrame(
        {name: pl.Series(name, columns[name], dtype=schema[name]) for name in schema}
    )


def _turn_frame(rec: list[int], idx: list[int], cols: dict[str, list]) -> pl.DataFrame:
    """Build the turn frame; values of the wrong type become typed problems, not crashes."""
    data: dict[str, pl.Series] = {
        "rec": pl.Series("rec", rec, dtype=pl.Int64),
        "turn_idx": pl.Series("turn_idx", idx, dtype=pl.Int32),
    }
    bad: list[pl.Series] = []
    for name in TURN_FIELDS:
        values = cols[name]
        try:
            data[name] = pl.Series(name, values, dtype=pl.String, strict=True)
        except (TypeError, pl.exceptions.PolarsError):
            # Rare path: some value is not a string (a number, list, object).
            fixed, wrong = _split_non_strings(name, values)
            data[name] = pl.Series(name, fixed, dtype=pl.String)
            bad.append(pl.Series(f"bad_{name}", wrong, dtype=pl.String))
    frame = pl.DataFrame(data)
    type_problem = pl.coalesce(bad) if bad else pl.lit(None, dtype=pl.String)
    return frame.with_columns(type_problem=type_problem)


def _split_non_strings(name: str, values: list) -> tuple[list, list]:
    fixed: list[str | None] = []
    wrong: list[str | None] = []
    for value in values:
        if value is None or isinstance(value, str):
            fixed.append(value)
            wrong.append(None)
        elif name == "ts" and isinstance(value, int | float) and not isinstance(value, bool):
            try:  # Unix epochs are a common export form
                fixed.append(epoch_to_iso(value))
                wrong.append(None)
            except ValueError:
                fixed.append(None)
                wrong.append(f"ts: {value} is not a Unix timestamp (s, ms or us) nor ISO-8601")
        else:
            fixed.append(None)
            wrong.append(f"{name}: expected a string, found {_kind(value)}")
    return fixed, wrong


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "a boolean"
    return type(value).__name__
