"""The ABCD conversation format (ASAPP's Action-Based Conversations Dataset).

A file holds a JSON list of conversations, or a mapping of split name -> list
(``{"train": [...], "dev": [...]}``). ``original`` gives ``[speaker, text]`` pairs;
``action`` speaker turns become action events named by the ``delexed`` target
(``pull-up-account``) with its slot values as args. The scenario (the customer's
personal data and the true flow/subflow) is not stored: it is ground truth and PII.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import IngestConfig
from pipeline.errors import InputError
from pipeline.ingest.adapters import RawBatch, Record, build_batch, canonical_hash, reject
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import open_binary

_SPEAKERS = {"agent": "agent", "customer": "customer", "action": "agent"}


def read_abcd(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of canonical conversations from an ABCD JSON file.

    The file is one JSON document, so it is parsed whole (ABCD's full corpus is
    ~10k conversations); records are still emitted in bounded batches.
    """
    records: list[Record] = []
    rejects: list[dict] = []
    for locator, item in iter_abcd_items(path):
        try:
            data = conversation_to_record(item)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raw = orjson.dumps(item, default=str).decode()[:4000]
            rejects.append(
                reject(
                    locator,
                    "bad_type",
                    f"not an ABCD conversation ({type(exc).__name__}: {exc})",
                    raw,
                )
            )
            continue
        records.append(Record(locator, data, canonical_hash(data), _raw(item)))
        if len(records) >= batch_size:
            yield build_batch(records, rejects)
            records, rejects = [], []
    if records or rejects:
        yield build_batch(records, rejects)


def conversation_to_record(item: dict[str, Any]) -> dict[str, Any]:
    """Convert one ABCD conversation to a canonical record."""
    delexed = item.get("delexed") or []
    turns: list[dict[str, Any]] = []
    for position, (speaker, text) in enumerate(item["original"]):
        if speaker not in _SPEAKERS:
            turns.append({"speaker": speaker, "text": text})  # validation quarantines it
        elif speaker == "action":
            target = delexed[position]["targets"] if position < len(delexed) else [None] * 4
            turns.append(
                {
                    "speaker": "agent",
                    "event_type": "action",
                    "action": target[2] or "unknown-action",
                    "args": {"values": target[3] or []},
                    "text": text,
                }
            )
        else:
            turns.append({"speaker": speaker, "text": text})
    return {
        "conversation_id": f"abcd-{item['convo_id']}",
        "channel": "chat",
        "metadata": {"dataset": "abcd"},
        "turns": turns,
    }


def looks_like_abcd(document_start: bytes) -> bool:
    """Whether the start of a file looks like ABCD (``convo_id`` + ``original`` keys)."""
    return b'"convo_id"' in document_start and b'"original"' in document_start


def iter_abcd_items(path: Path) -> Iterator[tuple[str, Any]]:
    """Yield ``(locator, conversation)`` of an ABCD file (a list, or split name -> list).

    Raises
    ------
    InputError
        The file cannot be read, is not JSON, or is neither a list nor a mapping.
    """
    try:
        with open_binary(path) as handle:
            document = orjson.loads(handle.read())
    except orjson.JSONDecodeError as exc:
        raise InputError(f"{path}: not valid JSON ({exc.msg} at char {exc.pos})") from None
    except (EOFError, OSError) as exc:
        raise InputError(f"{path}: cannot read ({exc})") from None
    if not isinstance(document, list | dict):
        raise InputError(f"{path}: expected a JSON list of ABCD conversations")
    return _iter_items(document)


def _iter_items(document: Any) -> Iterator[tuple[str, Any]]:
    if isinstance(document, list):
        for i, item in enumerate(document):
            yield f"item {i}", item
    elif isinstance(document, dict):
        for split, items in document.items():
            for i, item in enumerate(items if isinstance(items, list) else []):
                yield f"{split}[{i}]", item
    else:
        raise InputError("expected a JSON list of ABCD conversations")


def _raw(item: dict[str, Any]) -> str:
    # The scenario holds the customer's personal data: never keep it in raw.
    return orjson.dumps(
        {k: v for k, v in item.items() if k not in ("scenario", "delexed")}
    ).decode()[:4000]


def detect(head: FileHead) -> bool:
    """Whether the start of the file has ABCD's keys."""
    return looks_like_abcd(head.start)


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_abcd(path, batch_size=config.batch_size)


ADAPTER = Adapter("abcd", read=_read, detect=detect)
