"""Ground truth in the labels format (JSONL): its schema, writer, reader and validation.

One object a line (DESIGN.md, "Interfaces")::

    {"conversation_id": "c-1001", "intent": "billing_dispute",
     "steps": ["verify_identity", "lookup_charges"],
     "turn_steps": {"1": "verify_identity", "2": "lookup_charges"},
     "outcome": "resolved",
     "turn_pii": {"3": {"text": "its raj prasad", "types": "O name name"}}}

``steps``, ``turn_steps``, ``outcome`` (one of :data:`pipeline.schema.OUTCOME_VALUES`),
``turn_pii`` and ``happy_path`` are optional; ``happy_path`` (true or false) says whether
the conversation's scenario is the flowchart's happy path, with no complication the
customer brings (STAR's ``Scenario.Happy``): conformance is scored apart on each.
``turn_steps`` maps a turn's position in the conversation's ``turns`` list, as ingested
(the ``turn_idx`` of table ``turns``), to its true step. ``turn_pii`` gives a turn's
original text and, per space-separated token, its personal-data type (``name``,
``address``, ``email``, ...), ``O`` for a token that is not personal data, or ``-`` for
one redaction is not judged on (another kind of slot); it scores redaction. Conversation
ids and turn positions come from the same adapter functions ingest uses, so labels
always point at the stored turns (the readers of each dataset are in
:mod:`pipeline.evaluate.datasets`). Labels are read only by evaluation: they
never enter the database.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import orjson
import polars as pl

from pipeline.errors import LabelsError
from pipeline.ingest.adapters.files import iter_lines
from pipeline.schema import OUTCOME_VALUES

#: Schema of :func:`read_labels`' frame.
LABELS_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "intent": pl.String,
        "steps": pl.List(pl.String),
        "turn_steps": pl.List(pl.Struct({"turn_idx": pl.Int32, "step": pl.String})),
        "outcome": pl.String,
        "turn_pii": pl.List(
            pl.Struct({"turn_idx": pl.Int32, "text": pl.String, "types": pl.String})
        ),
        "happy_path": pl.Boolean,
    }
)
#: ``turn_pii`` types that are not personal data: ``O`` (judged: must be kept) and ``-``.
NOT_PII = ("O", "-")


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
        row = validate_label(parse_json(line, where), where=where, seen=seen)
        turn_steps = row["turn_steps"]
        if turn_steps is not None:
            turn_steps = [
                {"turn_idx": int(k), "step": v}
                for k, v in sorted(turn_steps.items(), key=lambda kv: int(kv[0]))
            ]
        turn_pii = row["turn_pii"]
        if turn_pii is not None:
            turn_pii = [
                {"turn_idx": int(k), **v}
                for k, v in sorted(turn_pii.items(), key=lambda kv: int(kv[0]))
            ]
        rows.append({**row, "turn_steps": turn_steps, "turn_pii": turn_pii})
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
        (``{"<position>": step}`` or None), ``outcome`` (or None), ``turn_pii``
        (``{"<position>": {"text", "types"}}`` or None), ``happy_path`` (or None).

    Raises
    ------
    LabelsError
        Names ``where``, the field, what was expected and what was found.
    """
    if not isinstance(row, Mapping):
        raise LabelsError(f"{where}: expected a JSON object, found {kind(row)}")
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
    turn_pii = row.get("turn_pii")
    if turn_pii is not None:
        turn_pii = _check_turn_pii(turn_pii, where)
    happy = row.get("happy_path")
    if happy is not None and not isinstance(happy, bool):
        raise LabelsError(f"{where}: happy_path: expected true or false, found {happy!r}")
    seen[cid] = where
    return {
        "conversation_id": cid,
        "intent": row["intent"],
        "steps": steps,
        "turn_steps": turn_steps,
        "outcome": outcome,
        "turn_pii": turn_pii,
        "happy_path": happy,
    }


def _check_turn_steps(turn_steps: Any, where: str) -> dict[str, str]:
    if not isinstance(turn_steps, Mapping):
        raise LabelsError(
            f"{where}: turn_steps: expected an object of turn position -> step, "
            f"found {kind(turn_steps)}"
        )
    clean: dict[str, str] = {}
    for key, step in turn_steps.items():
        text = _turn_position(key, where, "turn_steps")
        if not isinstance(step, str) or not step:
            raise LabelsError(
                f"{where}: turn_steps[{text}]: expected a non-empty step name, found {step!r}"
            )
        clean[text] = step
    return clean


def _check_turn_pii(turn_pii: Any, where: str) -> dict[str, dict[str, str]]:
    if not isinstance(turn_pii, Mapping):
        raise LabelsError(
            f"{where}: turn_pii: expected an object of turn position -> "
            f'{{"text", "types"}}, found {kind(turn_pii)}'
        )
    clean: dict[str, dict[str, str]] = {}
    for key, value in turn_pii.items():
        text = _turn_position(key, where, "turn_pii")
        field = f"{where}: turn_pii[{text}]"
        if not isinstance(value, Mapping) or not all(
            isinstance(value.get(k), str) for k in ("text", "types")
        ):
            raise LabelsError(f'{field}: expected {{"text": str, "types": str}}, found {value!r}')
        n_tokens, types = len(value["text"].split(" ")), value["types"].split(" ")
        if len(types) != n_tokens or not all(types):
            raise LabelsError(
                f"{field}: types: expected one type per space-separated token of the text "
                f"({n_tokens}), found {len(types)}: {value['types'][:80]!r}"
            )
        clean[text] = {"text": value["text"], "types": value["types"]}
    return clean


def _turn_position(key: Any, where: str, field: str) -> str:
    """Return a turn-position key as its canonical string (``"07"`` -> ``"7"``)."""
    text = str(key)
    if isinstance(key, bool) or not text.isdigit():
        raise LabelsError(
            f"{where}: {field}: expected keys that are turn positions (0, 1, ...), found {key!r}"
        )
    return str(int(text))


def parse_json(line: bytes, where: str) -> Any:
    """Parse one JSONL line; a :class:`LabelsError` names ``where`` when it is not JSON."""
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        raise LabelsError(
            f"{where}: not valid JSON ({exc.msg} at char {exc.pos}); expected one object a line"
        ) from None


def kind(value: Any) -> str:
    """Name the JSON kind of ``value`` for an error message ("an object", "a list")."""
    return {dict: "an object", list: "a list", str: "a string"}.get(
        type(value), type(value).__name__
    )


def _preview(value: Any) -> str:
    return repr(value)[:80]
