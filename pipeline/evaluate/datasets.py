"""Label rows built from the public datasets: STAR, ABCD, Banking77 and MultiDoGO.

Each reader yields rows in the labels format (:mod:`pipeline.evaluate.truth`), with
conversation ids and turn positions from the same adapter functions ingest uses.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from pipeline.errors import InputError, LabelsError
from pipeline.evaluate.truth import kind, parse_json
from pipeline.ingest.adapters.abcd import conversation_to_record, iter_abcd_items
from pipeline.ingest.adapters.banking77 import column_problem, conversation_id, file_stem, iter_rows
from pipeline.ingest.adapters.files import iter_lines
from pipeline.ingest.adapters.multidogo import GENERIC_ACTS, iter_conversations, split_intents
from pipeline.ingest.adapters.star import completion_outcome, dialogue_to_record

LABEL_FORMATS = ("star", "abcd", "banking77", "multidogo")


def star_labels(path: Path) -> Iterator[dict[str, Any]]:
    """Yield one label row per STAR dialogue of a ``dialogues.jsonl(.gz)``.

    ``conversation_id`` is ``star-<DialogueID>`` and ``turn_steps`` the per-turn
    ``ActionLabel`` map, both from :func:`pipeline.ingest.adapters.star.dialogue_to_record`
    (so positions index the turns ingest stores). ``intent`` is
    ``Scenario.WizardCapabilities[0].Task``: a dialogue offering several capabilities
    (none in the shared corpus) is labelled with the first. ``steps`` are the
    ``ActionLabel`` of the wizard's ``pick_suggestion`` events in order, ``outcome``
    the one ingest reads from ``CompletionLevel`` (resolved when complete, abandoned on
    any disconnect; absent without a level), ``happy_path`` ``Scenario.Happy`` (absent
    unless a boolean). A dialogue without conversation turns still gets a row (empty
    steps).

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
        dialogue = parse_json(line, where)
        if not isinstance(dialogue, dict):
            raise LabelsError(f"{where}: expected a STAR dialogue object, found {kind(dialogue)}")
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
            "happy_path": _happy(dialogue),
        }


def _happy(dialogue: dict[str, Any]) -> bool | None:
    scenario = dialogue.get("Scenario")
    happy = scenario.get("Happy") if isinstance(scenario, dict) else None
    return happy if isinstance(happy, bool) else None


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


#: MultiDoGO slot -> the personal-data type its tokens are scored as (``turn_pii``); any
#: other slot (a food item, a city, a seat) is ``-``: not judged.
MULTIDOGO_PII = {
    "name": "name",
    "address": "address",
    "email_address": "email",
    "phone_number": "phone",
    "phonenumber": "phone",
    "ssn": "ssn",
    "booking_confirmation_number": "booking_number",
    "policyid": "policy_id",
    "claimid": "claim_id",
}


def multidogo_turn_pii(utterance: str, slot_labels: str) -> dict[str, str] | None:
    """Return one turn's ``turn_pii`` entry, or None when its labels do not fit its tokens.

    A ``B-``/``I-`` prefix is dropped; ``O`` stays ``O``; a slot of
    :data:`MULTIDOGO_PII` becomes its type, any other slot ``-``.
    """
    slots = slot_labels.split(" ")
    if len(slots) != len(utterance.split(" ")) or not all(slots):
        return None
    types = []
    for slot in slots:
        name = slot[2:] if slot[:2] in ("B-", "I-") else slot
        types.append("O" if name == "O" else MULTIDOGO_PII.get(name, "-"))
    return {"text": utterance, "types": " ".join(types)}


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
    gets a row (ingest quarantines it); there are no steps. ``turn_pii`` carries each
    turn's slot labels as personal-data types (:func:`multidogo_turn_pii`; a turn whose
    labels do not fit its tokens is left out).

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
            intent, turn_pii, turns = None, {}, conversation.turn_rows()
            for position, fields in enumerate(turns):
                pii = multidogo_turn_pii(fields[3], fields[4])
                if pii is not None:
                    turn_pii[str(position)] = pii
            for fields in turns:
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
                yield {
                    "conversation_id": conversation.conversation_id,
                    "intent": intent,
                    "turn_pii": turn_pii or None,
                }
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
