"""Ground truth in the labels format: built from STAR, ABCD, Banking77 and MultiDoGO; JSONL.

One object a line (DESIGN.md, "Interfaces")::

    {"conversation_id": "c-1001", "intent": "billing_dispute",
     "steps": ["verify_identity", "lookup_charges"],
     "turn_steps": {"1": "verify_identity", "2": "lookup_charges"},
     "outcome": "resolved"}

``steps``, ``turn_steps`` and ``outcome`` (one of :data:`pipeline.schema.OUTCOME_VALUES`)
are optional; ``turn_steps`` maps a turn's position in the
conversation's ``turns`` list, as ingested (the ``turn_idx`` of table ``turns``), to its
true step. Conversation ids and turn positions come from the same adapter functions
ingest uses, so labels always point at the stored turns. Labels are read only by
evaluation: they never enter the database.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipeline.errors import InputError, LabelsError
from pipeline.ingest.adapters.abcd import conversation_to_record, iter_abcd_items
from pipeline.ingest.adapters.banking77 import column_problem, conversation_id, file_stem, iter_rows
from pipeline.ingest.adapters.files import iter_lines
from pipeline.ingest.adapters.multidogo import GENERIC_ACTS, iter_conversations, split_intents
from pipeline.ingest.adapters.star import completion_outcome, dialogue_to_record
from pipeline.schema import OUTCOME_VALUES

LABEL_FORMATS = ("star", "abcd", "banking77", "multidogo")

#: Schema of :func:`read_labels`' frame.
LABELS_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "intent": pl.String,
        "steps": pl.List(pl.String),
        "turn_steps": pl.List(pl.Struct({"turn_idx": pl.Int32, "step": pl.String})),
        "outcome": pl.String,
    }
)


def star_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one label row per STAR dialogue of a ``dialogues.jsonl(.gz)``.

    ``conversation_id`` is ``star-<DialogueID>`` and ``turn_steps`` the per-turn
    ``ActionLabel`` map, both from :func:`pipeline.ingest.adapters.star.dialogue_to_record`
    (so positions index the turns ingest stores). ``intent`` is
    ``Scenario.WizardCapabilities[0].Task``: a dialogue offering several capabilities
    (none in the shared corpus) is labelled with the first. ``steps`` are the
    ``ActionLabel`` of the wizard's ``pick_suggestion`` events in order, ``outcome``
    the one ingest reads from ``CompletionLevel`` (resolved when complete, abandoned on
    any disconnect; absent without a level). A dialogue without conversation turns still
    gets a row (empty steps).

    Raises
    ------
    LabelsError
        A line is not JSON or not a STAR dialogue (names file, line and field).
    InputError
        The file cannot be opened.
    """
    for line_no, line, error in iter_lines(path):
        where = f"{path}:{line_no}"
        if error is not None:
            raise LabelsError(f"{where}: {error[1]}")
        dialogue = _parse_json(line, where)
        if not isinstance(dialogue, dict):
            raise LabelsError(f"{where}: expected a STAR dialogue object, found {_kind(dialogue)}")
        try:
            record, turn_labels = dialogue_to_record(dialogue)
        except KeyError as exc:
            raise LabelsError(
                f"{where}: {exc.args[0]}: missing; expected a STAR dialogue "
                "(DialogueID, Events, Scenario)"
            ) from None
        except (TypeError, ValueError) as exc:
            raise LabelsError(f"{where}: not a STAR dialogue ({exc})") from None
        try:
            task = dialogue["Scenario"]["WizardCapabilities"][0]["Task"]
        except (KeyError, IndexError, TypeError):
            task = None
        if not isinstance(task, str) or not task:
            raise LabelsError(
                f"{where}: Scenario.WizardCapabilities[0].Task: expected the task name, "
                f"found {task!r}; is this an original STAR dialogue?"
            )
        positions = sorted(turn_labels)
        yield {
            "conversation_id": record["conversation_id"],
            "intent": task,
            "steps": [turn_labels[i] for i in positions],
            "turn_steps": {str(i): turn_labels[i] for i in positions},
            "outcome": completion_outcome(dialogue.get("CompletionLevel")),
        }


def abcd_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one label row per ABCD conversation of a corpus JSON file.

    ``conversation_id`` is ``abcd-<convo_id>``, ``intent`` the ``scenario.subflow``,
    ``steps`` the names of the ``action`` turns in order (the ``delexed`` target, as
    :func:`pipeline.ingest.adapters.abcd.conversation_to_record` names them) and
    ``turn_steps`` their positions in the record's turns.

    Raises
    ------
    LabelsError
        The file cannot be read, is not an ABCD corpus, or a conversation lacks a field
        (names file, item, field).
    """
    try:
        items = list(iter_abcd_items(path))
    except InputError as exc:
        raise LabelsError(str(exc)) from None
    for locator, item in items:
        where = f"{path}: {locator}"
        try:
            record = conversation_to_record(item)
        except (KeyError, TypeError, ValueError, IndexError) as exc:
            raise LabelsError(
                f"{where}: not an ABCD conversation ({type(exc).__name__}: {exc})"
            ) from None
        scenario = item.get("scenario")
        intent = scenario.get("subflow") if isinstance(scenario, dict) else None
        if not isinstance(intent, str) or not intent:
            raise LabelsError(
                f"{where}: scenario.subflow: expected the subflow name, found {intent!r}"
            )
        actions = [
            (i, turn["action"])
            for i, turn in enumerate(record["turns"])
            if turn.get("event_type") == "action"
        ]
        yield {
            "conversation_id": record["conversation_id"],
            "intent": intent,
            "steps": [name for _, name in actions],
            "turn_steps": {str(i): name for i, name in actions},
        }


def banking77_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one label row per query of a Banking77 CSV (``text,category``).

    ``conversation_id`` is ``b77-<file stem>-<row>``, from the same functions ingest uses
    (:mod:`pipeline.ingest.adapters.banking77`), and ``intent`` the ``category``; there are no
    steps. A row with empty text still gets a row (ingest quarantines it).

    Raises
    ------
    LabelsError
        The file is not a Banking77 CSV, or a row is malformed or has no category (names
        file, row and field).
    """
    stem = file_stem(path)
    try:
        for number, fields, problem in iter_rows(path):
            where = f"{path}: row {number}"
            problem = problem or column_problem(fields)
            if problem is not None:
                field, _, message = problem
                raise LabelsError(
                    f"{where}: {field}: {message}" if field else f"{where}: {message}"
                )
            category = fields[1].strip()
            if not category:
                raise LabelsError(f"{where}: category: expected the intent name, found nothing")
            yield {"conversation_id": conversation_id(stem, number), "intent": category}
    except InputError as exc:
        raise LabelsError(str(exc)) from None


def multidogo_labels(
    path: Path, *, unlabelled: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield one label row per conversation with a task intent of a MultiDoGO TSV.

    ``conversation_id`` is ``mdg-<conversationId>`` and turn order is ``turnNumber``
    order, both from the functions ingest uses (:mod:`pipeline.ingest.adapters.multidogo`).
    ``intent`` is the conversation's first task intent: the first intent, in turn order
    and in ``<div>`` order within a turn, that is not a generic act
    (:data:`~pipeline.ingest.adapters.multidogo.GENERIC_ACTS`: greetings, answers, thanks,
    confirmations, ...). A conversation with no task intent gets no row; its id is
    appended to ``unlabelled`` when given. A conversation with an empty utterance still
    gets a row (ingest quarantines it); there are no steps.

    Raises
    ------
    LabelsError
        The file is not a MultiDoGO TSV, a row is malformed or has no intent, or a
        conversation's rows are not together (names file, rows and field).
    """
    try:
        for conversation in iter_conversations(path):
            where = f"{path}: {conversation.locator}"
            if conversation.problem is not None:
                field, _, message = conversation.problem
                raise LabelsError(
                    f"{where}: {field}: {message}" if field else f"{where}: {message}"
                )
            intent = None
            for fields in conversation.turn_rows():
                intents = split_intents(fields[5])
                if not all(intents):
                    raise LabelsError(
                        f"{where}: intent: expected intent names joined by <div>, found "
                        f"{fields[5][:80]!r} (turnNumber {fields[1].strip()})"
                    )
                intent = next((name for name in intents if name not in GENERIC_ACTS), None)
                if intent is not None:
                    break
            if intent is not None:
                yield {"conversation_id": conversation.conversation_id, "intent": intent}
            elif unlabelled is not None:
                unlabelled.append(str(conversation.conversation_id))
    except InputError as exc:
        raise LabelsError(str(exc)) from None


def labels_from_format(
    fmt: str, inputs: Sequence[Path], *, unlabelled: list[str] | None = None
) -> Iterator[dict[str, Any]]:
    """Yield label rows from each input file of format ``fmt`` (one of :data:`LABEL_FORMATS`).

    Parameters
    ----------
    fmt
        The dataset's format.
    inputs
        Its files, read in order.
    unlabelled
        When given, the ids of conversations that get no row (a MultiDoGO conversation
        without a task intent) are appended to it.

    Raises
    ------
    LabelsError
        ``fmt`` is not a known labels format, or an input is malformed.
    """
    readers = {"star": star_labels, "abcd": abcd_labels, "banking77": banking77_labels}
    if fmt not in (*readers, "multidogo"):
        raise LabelsError(
            f"labels format: expected one of {', '.join(LABEL_FORMATS)}, found {fmt!r}"
        )
    for path in inputs:
        if fmt == "multidogo":
            yield from multidogo_labels(Path(path), unlabelled=unlabelled)
        else:
            yield from readers[fmt](Path(path))


def write_labels(rows: Iterable[Mapping[str, Any]], out: Path) -> int:
    """Validate label rows and write them as JSONL (gzipped when ``out`` ends in ``.gz``).

    The file appears whole or not at all (written beside ``out``, then renamed).

    Returns
    -------
    int
        Rows written.

    Raises
    ------
    LabelsError
        A row is invalid or repeats a conversation id (names the row and the field).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial")
    seen: dict[str, str] = {}
    n = 0
    try:
        with (
            gzip.open(partial, "wb") if out.name.endswith(".gz") else open(partial, "wb") as handle
        ):
            for n, row in enumerate(rows, start=1):
                clean = validate_label(row, where=f"{out}: row {n}", seen=seen)
                handle.write(orjson.dumps({k: v for k, v in clean.items() if v is not None}))
                handle.write(b"\n")
        os.replace(partial, out)
    finally:
        partial.unlink(missing_ok=True)
    return n


def read_labels(path: Path) -> pl.DataFrame:
    """Read and validate a labels JSONL file (gzip allowed).

    Returns
    -------
    polars.DataFrame
        One row per conversation, columns :data:`LABELS_SCHEMA`: ``conversation_id``
        and ``intent`` (String, not null), ``steps`` (List[String], null when the row
        has none) and ``turn_steps`` (List[Struct{turn_idx: Int32, step: String}]
        sorted by turn_idx, null when the row has none). Unknown fields are ignored.

    Raises
    ------
    LabelsError
        Malformed JSON, a missing or mistyped field, a repeated conversation id, or no
        rows at all (names file, line and field).
    InputError
        The file cannot be opened.
    """
    rows: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for line_no, line, error in iter_lines(Path(path)):
        where = f"{path}:{line_no}"
        if error is not None:
            raise LabelsError(f"{where}: {error[1]}")
        row = validate_label(_parse_json(line, where), where=where, seen=seen)
        turn_steps = row["turn_steps"]
        if turn_steps is not None:
            turn_steps = [
                {"turn_idx": int(k), "step": v}
                for k, v in sorted(turn_steps.items(), key=lambda kv: int(kv[0]))
            ]
        rows.append({**row, "turn_steps": turn_steps})
    if not rows:
        raise LabelsError(
            f"{path}: no label rows; expected one JSON object a line "
            "(make one with `cxminer labels --format star|abcd|banking77|multidogo IN -o OUT`)"
        )
    return pl.DataFrame(rows, schema=LABELS_SCHEMA)


def validate_label(row: Any, *, where: str, seen: dict[str, str]) -> dict[str, Any]:
    """Check one label row and return it normalised (``turn_steps`` keys as strings).

    Parameters
    ----------
    row
        The parsed row.
    where
        ``file:line`` (or ``file: row N``) for error messages.
    seen
        Conversation ids met so far -> where; updated with this row's id.

    Returns
    -------
    dict
        ``conversation_id``, ``intent``, ``steps`` (list or None), ``turn_steps``
        (``{"<position>": step}`` or None), ``outcome`` (or None).

    Raises
    ------
    LabelsError
        Names ``where``, the field, what was expected and what was found.
    """
    if not isinstance(row, Mapping):
        raise LabelsError(f"{where}: expected a JSON object, found {_kind(row)}")
    for key in ("conversation_id", "intent"):
        value = row.get(key)
        if not isinstance(value, str) or not value.strip():
            found = "nothing" if value is None else repr(value)
            raise LabelsError(f"{where}: {key}: expected a non-empty string, found {found}")
    cid = row["conversation_id"]
    if cid in seen:
        raise LabelsError(
            f"{where}: conversation_id: {cid!r} already labelled at {seen[cid]}; "
            "keep one row per conversation"
        )
    steps = row.get("steps")
    if steps is not None and (
        not isinstance(steps, list) or not all(isinstance(s, str) and s for s in steps)
    ):
        raise LabelsError(
            f"{where}: steps: expected a list of non-empty strings, found {_preview(steps)}"
        )
    turn_steps = row.get("turn_steps")
    if turn_steps is not None:
        turn_steps = _check_turn_steps(turn_steps, where)
    outcome = row.get("outcome")
    if outcome is not None and outcome not in OUTCOME_VALUES:
        raise LabelsError(
            f"{where}: outcome: expected one of {'/'.join(OUTCOME_VALUES)}, found {outcome!r}"
        )
    seen[cid] = where
    return {
        "conversation_id": cid,
        "intent": row["intent"],
        "steps": steps,
        "turn_steps": turn_steps,
        "outcome": outcome,
    }


def _check_turn_steps(turn_steps: Any, where: str) -> dict[str, str]:
    if not isinstance(turn_steps, Mapping):
        raise LabelsError(
            f"{where}: turn_steps: expected an object of turn position -> step, "
            f"found {_kind(turn_steps)}"
        )
    clean: dict[str, str] = {}
    for key, step in turn_steps.items():
        text = str(key)
        if isinstance(key, bool) or not text.isdigit():
            raise LabelsError(
                f"{where}: turn_steps: expected keys that are turn positions (0, 1, ...), "
                f"found {key!r}"
            )
        if not isinstance(step, str) or not step:
            raise LabelsError(
                f"{where}: turn_steps[{text}]: expected a non-empty step name, found {step!r}"
            )
        clean[str(int(text))] = step
    return clean


def _parse_json(line: bytes, where: str) -> Any:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LabelsError(
            f"{where}: not valid JSON ({exc.msg} at char {exc.pos}); expected one object a line"
        ) from None


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _preview(value: Any) -> str:
    return repr(value)[:80]
