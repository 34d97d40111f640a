"""The Banking77 format (PolyAI's online-banking intent dataset): a CSV of ``text,category``.

Each data row is one customer query, ingested as a one-turn ``chat`` conversation with
id ``b77-<file stem>-<row>`` (``row`` counts data rows from 1, header and blank lines
not counted, so ids are stable and distinct between ``train.csv`` and ``test.csv``).
There are no timestamps, agents or outcomes. ``category`` is ground truth: it never
enters the record or its raw copy; :func:`iter_rows` hands it to ``cxminer labels``.

A row with a missing or extra column, bad UTF-8 or unparseable CSV becomes a reject
(locator ``row N``); a row with empty text becomes a conversation that validation
quarantines (``missing_text``). A row with an empty category still loads (ingest does
not read the category); ``cxminer labels`` rejects it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import RawBatch, Record, build_batch, canonical_hash, reject
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import iter_delimited

HEADER = ("text", "category")
_HEADER_LINE = b"text,category"
_BOM = b"\xef\xbb\xbf"

#: ``(field, reason, message)`` of a row that cannot become a conversation.
Problem = tuple[str, str, str]


def read_banking77(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of one-turn conversations from a Banking77 CSV (gzip allowed).

    Raises
    ------
    InputError
        The file cannot be opened, or its header is not ``text,category``.
    """
    records: list[Record] = []
    rejects: list[dict] = []
    stem = file_stem(path)
    for number, fields, problem in iter_rows(path):
        locator = f"row {number}"
        problem = problem or column_problem(fields)
        if problem is not None:
            field, reason, message = problem
            row = reject(locator, reason, message, _raw_fields(fields), field)
            # A row that parsed has an id (the quarantine names it); a broken stream has not.
            rejects.append(
                {**row, "conversation_id": conversation_id(stem, number) if fields else None}
            )
        else:
            data = query_to_record(conversation_id(stem, number), fields[0])
            records.append(Record(locator, data, canonical_hash(data), _raw(data)))
        if len(records) + len(rejects) >= batch_size:
            yield build_batch(records, rejects)
            records, rejects = [], []
    if records or rejects:
        yield build_batch(records, rejects)


def iter_rows(path: Path) -> Iterator[tuple[int, list[str], Problem | None]]:
    """Yield ``(row number, fields, problem)`` for each data row of a Banking77 CSV.

    Row numbers count data rows from 1 (a quoted multi-line text is one row; blank lines
    are skipped). ``problem`` is ``(field, reason, message)`` for a row that is not valid
    UTF-8 or not parseable CSV (its fields may then be empty), else ``None``; a truncated
    gzip stream ends the rows with one final item whose fields are empty. Column counts
    are not checked here (see :func:`column_problem`).

    Raises
    ------
    InputError
        The file cannot be opened or read, or its header is not ``text,category``.
    """
    return iter_delimited(
        path, header=HEADER, delimiter=",", expected="a Banking77 CSV with header 'text,category'"
    )


def column_problem(fields: Sequence[str]) -> Problem | None:
    """Return the problem of a row that is not exactly ``text,category``, else ``None``."""
    if len(fields) < len(HEADER):
        return (
            HEADER[len(fields)],
            "bad_type",
            f"missing; a Banking77 row has {len(HEADER)} columns (text,category), "
            f"found {len(fields)}",
        )
    if len(fields) > len(HEADER):
        return (
            "",
            "bad_type",
            f"a Banking77 row has {len(HEADER)} columns (text,category), found {len(fields)}; "
            "quote a text that holds a comma",
        )
    return None


def query_to_record(cid: str, text: str) -> dict[str, Any]:
    """Convert one query to a canonical one-turn conversation (see DESIGN.md, "Interfaces")."""
    return {
        "conversation_id": cid,
        "channel": "chat",
        "metadata": {"dataset": "banking77"},
        "turns": [{"speaker": "customer", "text": text}],
    }


def conversation_id(stem: str, number: int) -> str:
    """Return the conversation id of data row ``number`` of the file with stem ``stem``."""
    return f"b77-{stem}-{number}"


def file_stem(path: Path) -> str:
    """Return a file's name without ``.gz`` and extension (``test.csv.gz`` -> ``test``)."""
    return Path(path.name.removesuffix(".gz")).stem


def looks_like_banking77(first_line: bytes) -> bool:
    """Whether a CSV's first line is exactly the Banking77 header ``text,category``."""
    return first_line.removeprefix(_BOM).rstrip(b"\r\n") == _HEADER_LINE


def _raw_fields(fields: Sequence[str]) -> str:
    # Without the category column: it is ground truth and must not reach the database.
    kept = [f.encode("utf-8", "replace").decode() for i, f in enumerate(fields) if i != 1]
    return orjson.dumps(kept).decode()[:4000]


def _raw(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()[:4000]


def detect(head: FileHead) -> bool:
    """Whether the file is a ``.csv`` whose header line is exactly Banking77's."""
    return head.name.endswith(".csv") and looks_like_banking77(head.first_line(limit=64))


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_banking77(path, batch_size=config.batch_size)


ADAPTER = Adapter("banking77", read=_read, detect=detect)
