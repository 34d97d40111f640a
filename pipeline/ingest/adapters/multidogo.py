"""The MultiDoGO format (Amazon's multi-domain goal-oriented dialogues): turn-level TSV splits.

A file (``airline/dev.tsv``, ...) holds customer turns only, one a row, under the header
``conversationId, turnNumber, utteranceId, utterance, slot-labels, intent`` (tab
separated; an utterance may be quoted and span lines). The rows of one conversation
become one ``chat`` conversation with id ``mdg-<conversationId>`` and one customer turn
a row, in ``turnNumber`` order (file order among equal numbers); there are no
timestamps, agents or outcomes. The released ids are unique across domains and splits,
so several files load side by side. ``slot-labels`` and ``intent`` are ground truth:
they never enter the record or its raw copy; :func:`iter_conversations` hands them to
``cxminer labels``.

Rows are numbered from 1 after the header (a quoted multi-line utterance is one row;
blank lines are skipped); a conversation's locator is ``rows A-B`` (``row N`` for one
row). A conversation's rows must be together, as in the released files: rows that
reappear after other conversations' rows are rejected (``duplicate_id``) with the fix,
never merged. A row with the wrong number of columns, a ``turnNumber`` that is not an
integer, no ``conversationId``, bad UTF-8 or unparseable TSV rejects the whole
conversation it belongs to (the one its first column names; for a row that does not
parse, the one being read), the message naming the row, so no conversation loads with
a turn missing. An empty utterance becomes a turn that validation quarantines
(``missing_text``), which quarantines its conversation.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import RawBatch, Record, build_batch, canonical_hash, reject
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import iter_delimited

HEADER = ("conversationId", "turnNumber", "utteranceId", "utterance", "slot-labels", "intent")
#: Joins the intents of a turn that carries several.
INTENT_SEPARATOR = "<div>"
#: Intents that are dialogue acts, not tasks: a conversation's intent is its first other one.
GENERIC_ACTS = frozenset(
    (
        "openinggreeting",
        "closinggreeting",
        "contentonly",
        "confirmation",
        "rejection",
        "thankyou",
        "outofdomain",
    )
)
_HEADER_LINE = "\t".join(HEADER).encode()
_BOM = b"\xef\xbb\xbf"
_N_KEPT = 4  # columns before slot-labels: the only ones a raw copy may hold
_INTEGER = re.compile(r"-?[0-9]+")

#: ``(field, reason, message)`` of a row that cannot become a turn.
Problem = tuple[str, str, str]
#: ``(row number, fields)``.
Row = tuple[int, list[str]]


@dataclass(frozen=True)
class Conversation:
    """The rows of one MultiDoGO conversation, in file order, as read from the file.

    ``conversation_id`` is ``mdg-<conversationId>`` (``None`` when the rows name no
    conversation). ``problem`` is the first problem of its rows, or ``duplicate_id``
    when its id appeared earlier in the file; ``None`` when every row is sound.
    """

    conversation_id: str | None
    first_row: int
    last_row: int
    rows: tuple[Row, ...]
    problem: Problem | None

    @property
    def locator(self) -> str:
        """``row N`` or ``rows A-B``."""
        if self.first_row == self.last_row:
            return f"row {self.first_row}"
        return f"rows {self.first_row}-{self.last_row}"

    def turn_rows(self) -> list[list[str]]:
        """Return the rows' fields in ``turnNumber`` order (for a conversation without problem)."""
        return [fields for _, fields in sorted(self.rows, key=lambda row: int(row[1][1]))]


def read_multidogo(path: Path, *, batch_size: int) -> Iterator[RawBatch]:
    """Yield raw batches of customer-only chats from a MultiDoGO TSV (gzip allowed).

    Parameters
    ----------
    path
        A turn-level split, such as ``airline/dev.tsv``.
    batch_size
        Conversations (loaded plus rejected) a batch holds at most.

    Yields
    ------
    RawBatch
        Records ``mdg-<conversationId>`` (locator ``rows A-B``) and rejects.

    Raises
    ------
    InputError
        The file cannot be opened, or its header is not the MultiDoGO header.
    """
    records: list[Record] = []
    rejects: list[dict] = []
    for conversation in iter_conversations(path):
        if conversation.problem is not None:
            field, reason, message = conversation.problem
            row = reject(conversation.locator, reason, message, _raw_rows(conversation), field)
            rejects.append({**row, "conversation_id": conversation.conversation_id})
        else:
            data = conversation_to_record(conversation)
            records.append(Record(conversation.locator, data, canonical_hash(data), _raw(data)))
        if len(records) + len(rejects) >= batch_size:
            yield build_batch(records, rejects)
            records, rejects = [], []
    if records or rejects:
        yield build_batch(records, rejects)


def iter_conversations(path: Path) -> Iterator[Conversation]:
    """Yield the conversations of a MultiDoGO TSV, each from its run of consecutive rows.

    A row belongs to the conversation its first column names; a row that could not be
    parsed at all (and the end of a truncated gzip stream) belongs to the conversation
    being read. Memory holds one conversation's rows and the ids seen so far.

    Raises
    ------
    InputError
        The file cannot be opened, or its header is not the MultiDoGO header.
    """
    seen: set[str] = set()
    key: str | None = None
    rows: list[Row] = []
    problems: list[tuple[int, Problem]] = []
    for number, fields, problem in iter_rows(path):
        problem = problem or row_problem(fields)
        if fields and (key is None or fields[0].strip() != key):
            if key is not None:
                yield _conversation(key, rows, problems, seen)
            key, rows, problems = fields[0].strip(), [], []
        elif not fields and key is None:  # nothing read yet that it could belong to
            yield Conversation(None, number, number, (), _at_row([(number, problem)]))
            continue
        rows.append((number, fields))
        if problem is not None:
            problems.append((number, problem))
    if key is not None:
        yield _conversation(key, rows, problems, seen)


def iter_rows(path: Path) -> Iterator[tuple[int, list[str], Problem | None]]:
    """Yield ``(row number, fields, problem)`` for each data row of a MultiDoGO TSV.

    Row numbers count data rows from 1. ``problem`` is ``(field, reason, message)`` for a
    row that is not valid UTF-8 or not parseable (its fields are then empty), else
    ``None``; a truncated gzip stream ends the rows with one final item whose fields are
    empty. Column counts and values are not checked here (see :func:`row_problem`).

    Raises
    ------
    InputError
        The file cannot be opened or read, or its header is not the MultiDoGO header.
    """
    expected = f"a MultiDoGO TSV with the tab-separated header '{' '.join(HEADER)}'"
    return iter_delimited(path, header=HEADER, delimiter="\t", expected=expected)


def row_problem(fields: Sequence[str]) -> Problem | None:
    """Return the problem of a parsed row that cannot be a turn, else ``None``.

    Checks the number of columns, a non-blank ``conversationId`` and an integer
    ``turnNumber``. An empty utterance is left to validation (``missing_text``).
    """
    columns = ", ".join(HEADER)
    if len(fields) < len(HEADER):
        return (
            HEADER[len(fields)],
            "bad_type",
            f"missing; a MultiDoGO row has {len(HEADER)} columns ({columns}), found {len(fields)}",
        )
    if len(fields) > len(HEADER):
        return (
            "",
            "bad_type",
            f"a MultiDoGO row has {len(HEADER)} columns ({columns}), found {len(fields)}; "
            "quote an utterance that holds a tab",
        )
    if not fields[0].strip():
        return "conversationId", "missing_id", "missing; every row must name its conversation"
    if not _INTEGER.fullmatch(fields[1].strip()):
        return "turnNumber", "bad_type", f"expected an integer, found {_clean(fields[1])[:40]!r}"
    return None


def split_intents(value: str) -> list[str]:
    """Split a row's ``intent`` cell into its intents (``a<div>b`` -> ``["a", "b"]``)."""
    return [part.strip() for part in value.split(INTENT_SEPARATOR)]


def conversation_to_record(conversation: Conversation) -> dict[str, Any]:
    """Convert a sound conversation to a canonical record (see DESIGN.md, "Interfaces")."""
    return {
        "conversation_id": conversation.conversation_id,
        "channel": "chat",
        "metadata": {"dataset": "multidogo"},
        "turns": [
            {"speaker": "customer", "text": fields[3]} for fields in conversation.turn_rows()
        ],
    }


def conversation_id(key: str) -> str:
    """Return the conversation id of MultiDoGO ``conversationId`` ``key``."""
    return f"mdg-{key}"


def looks_like_multidogo(first_line: bytes) -> bool:
    """Whether a TSV's first line is exactly the MultiDoGO (turn-level) header."""
    return first_line.removeprefix(_BOM).rstrip(b"\r\n") == _HEADER_LINE


def _conversation(
    key: str, rows: list[Row], problems: list[tuple[int, Problem]], seen: set[str]
) -> Conversation:
    cid = conversation_id(_clean(key)) if key else None
    if key in seen:
        problem: Problem | None = (
            "conversationId",
            "duplicate_id",
            f"{cid} appears again after other conversations' rows; sort the file by "
            "conversation so each conversation's rows are together",
        )
    else:
        problem = _at_row(problems) if problems else None
    if key:
        seen.add(key)
    return Conversation(cid, rows[0][0], rows[-1][0], tuple(rows), problem)


def _at_row(problems: list[tuple[int, Problem]]) -> Problem:
    """Return the first problem, its message naming its row and how many others there are."""
    number, (field, reason, message) = problems[0]
    more = f"; {len(problems) - 1} more rows with problems" if len(problems) > 1 else ""
    return field, reason, f"{message} (row {number}{more})"


def _raw_rows(conversation: Conversation) -> str:
    # Without slot-labels and intent: they are ground truth and must not reach the
    # database. A row with too few columns is taken to end with them (its utterance was
    # split), so it keeps at most its columns but the last two.
    kept = [
        [_clean(value) for value in fields[: max(0, min(_N_KEPT, len(fields) - 2))]]
        for _, fields in conversation.rows
    ]
    return orjson.dumps(kept).decode()[:4000]


def _clean(value: str) -> str:
    """Return the value with undecodable bytes replaced (``?``), safe to store and print."""
    return value.encode("utf-8", "replace").decode()


def _raw(data: dict[str, Any]) -> str:
    return orjson.dumps(data).decode()[:4000]


def detect(head: FileHead) -> bool:
    """Whether the file is a ``.tsv`` whose header line is exactly MultiDoGO's."""
    return head.name.endswith(".tsv") and looks_like_multidogo(head.first_line(limit=128))


def _read(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_multidogo(path, batch_size=config.batch_size)


ADAPTER = Adapter("multidogo", read=_read, detect=detect)
