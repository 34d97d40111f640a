"""Slot values: replies made (mostly) of slots, recognised by where their values come from.

A documented reply that is only slots (``"{hotel_name:s}"``) has no words to be similar
to and no pattern to fill: the agent's turn is just the value a system result gave
("The Grand Hotel", "42"). Such a turn is recognised from the preceding result:

1. A phrasing is *slot-heavy* when it has a slot and at most as many literal words (runs
   of word characters outside the slots) as slots: ``"{name:s}"``,
   ``"{hotel_name:s}, {hotel_location:s}"``, ``"Room {room:d}"``. A step all of whose
   phrasings are slot-heavy is recognised from values (:func:`slot_heavy_phrasings`);
   a step with one wordier phrasing is left to similarity and its pattern.
2. A turn's *result* is the latest action event with arguments (``args``) before it in
   its conversation. Its values are the JSON leaves, strings and numbers as text
   (case-folded, whitespace collapsed), each with the keys it stands under
   (:func:`result_values`).
3. A turn *reads* a slot-heavy phrasing when, with every value that occurs in it as a
   whole word removed (longest first), only the phrasing's literal words and punctuation
   are left, and it used at least one and at most as many distinct values as the
   phrasing has slots.
   Redacted values: a placeholder (``<NAME>``) is a value like any other, and one in the
   turn also matches the result's opaque ``<REDACTED>`` (its key was the cue). Free
   text and JSON values are redacted apart, so a result may hide a value the turn
   shows ("Hyatt Hotel" under ``"Name": "<NAME>"``): a leftover run of one to four
   words that each begin with a capital or a digit (how names, ids and amounts look)
   stands for one of the result's hidden values, but only beside a value read outright:
   a hidden value alone is no evidence ("OK" is not a hotel's name).
4. Of the phrasings a turn reads, those whose slot names best match the keys of the
   values it used win: per slot 2 for the same name up to case and separators
   (``average_rating`` / ``AverageRating``), 1 for a word in common (``hotel_name`` /
   ``Name``), else 0; summed over the slots. The winners' steps score as a template fill
   (1.0) for that turn. Where the winners are several steps, the SOP graph picks: Viterbi
   decoding (:func:`~pipeline.steps.decoding.decode_steps`) takes the one the
   conversation's SOP expects after its previous step, or the one its SOP has.

Scores are per distinct text and this recognition is per unit (it depends on the
conversation), so :func:`read_result_values` gives each recognised unit an extra score
row: a copy of its text's row with the winners set to 1.0, shared by the units of the
same text and winners (a wording stays one row for :mod:`pipeline.steps.slots`).
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.steps.library import StepLibrary, template_parts

_WORD = re.compile(r"\w+")
_PLACEHOLDER = re.compile(r"<[A-Z_]+>", re.IGNORECASE)  # what ingest writes over a value
_REDACTED = "<redacted>"  # ingest's mark for a JSON value hidden for its key
_RUN = re.compile(r"[^\w\s<>]+|\|")  # punctuation or a value read: the end of a run
_NAME_WORD = re.compile(r"[A-Z]+(?=[A-Z][a-z]|[^A-Za-z]|$)|[A-Z]?[a-z]+|\d+")


@dataclass(frozen=True)
class SlotPhrasing:
    """A slot-heavy phrasing: its column, its slot names and its literal words (folded)."""

    phrasing: int
    slots: tuple[str, ...]
    literals: frozenset[str]


def slot_heavy_phrasings(library: StepLibrary) -> list[SlotPhrasing]:
    """Return the phrasings of the steps all of whose phrasings are slot-heavy (rule 1)."""
    by_type: dict[int, list[SlotPhrasing | None]] = defaultdict(list)
    for p, template in enumerate(library.proto_templates):
        slots, literals = template_parts(template)
        heavy = bool(slots) and len(literals) <= len(slots)
        folded = frozenset(w.casefold() for w in literals)
        by_type[int(library.proto_type[p])].append(
            SlotPhrasing(p, slots, folded) if heavy else None
        )
    return [s for group in by_type.values() if all(group) for s in group if s is not None]


def result_values(args: str | None) -> dict[str, frozenset[str]]:
    """Map each value of a result's JSON arguments to the keys it stands under (rule 2).

    Strings and numbers only (not booleans or nulls); a list's items stand under the
    list's key. Text that is not JSON has no values.
    """
    try:
        document = json.loads(args) if args else None
    except ValueError:
        return {}
    found: dict[str, set[str]] = defaultdict(set)
    stack: list[tuple[object, str]] = [(document, "")]
    while stack:
        node, key = stack.pop()
        if isinstance(node, dict):
            stack.extend((value, str(name)) for name, value in node.items())
        elif isinstance(node, list):
            stack.extend((value, key) for value in node)
        elif isinstance(node, str) and node.strip():
            found[_fold(node)].add(key)
        elif isinstance(node, int | float) and not isinstance(node, bool):
            whole = isinstance(node, float) and node.is_integer()
            found[str(int(node)) if whole else str(node)].add(key)
    return {value: frozenset(keys) for value, keys in found.items()}


def read_phrasings(
    text: str, values: dict[str, frozenset[str]], heavy: list[SlotPhrasing]
) -> tuple[int, ...]:
    """Return the columns of the slot-heavy phrasings ``text`` reads best (rules 3, 4)."""
    rest, used, keys = " ".join(unicodedata.normalize("NFC", text).split()), 0, set()
    for value in sorted(values, key=len, reverse=True):
        rest, n = re.subn(rf"(?<!\w){re.escape(value)}(?!\w)", "|", rest, flags=re.IGNORECASE)
        if n:
            used, keys = used + 1, keys | values[value]
    hidden = {k for value, at in values.items() if _PLACEHOLDER.fullmatch(value) for k in at}
    if _REDACTED in values:  # placeholders of the same kind were read above
        rest, n = _PLACEHOLDER.subn("|", rest)
        used, keys = used + n, keys | (values[_REDACTED] if n else set())
    if not used:
        return ()
    runs = [_WORD.findall(run) for run in _RUN.split(rest)]
    best, winners = -1, []
    for s in heavy:
        unread = ([w for w in run if w.casefold() not in s.literals] for run in runs)
        left = [run for run in unread if run]  # runs of words neither values nor literals
        if left and not (hidden and all(_looks_hidden(run) for run in left)):
            continue
        if used + len(left) > len(s.slots):
            continue
        read = keys | (hidden if left else set())
        fit = sum(max((_name_match(slot, k) for k in read), default=0) for slot in s.slots)
        if fit > best:
            best, winners = fit, []
        if fit == best:
            winners.append(s.phrasing)
    return tuple(winners)


def read_result_values(
    units: pl.DataFrame,
    rows: np.ndarray,
    phrase_scores: np.ndarray,
    library: StepLibrary,
    results: pl.DataFrame | None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Score the units that read their result's values as fills of slot-heavy phrasings.

    Parameters
    ----------
    units
        :func:`~pipeline.steps.units.agent_units`' frame.
    rows
        Per unit, its text's row of ``phrase_scores`` (-1 for none).
    phrase_scores
        ``(n_texts, n_phrasings)``: :func:`~pipeline.steps.scores.score_phrases`.
    library
        The step types of the columns.
    results
        Action events with arguments: ``conversation_id, turn_idx, args`` (JSON text);
        None or empty for none.

    Returns
    -------
    rows, origin, phrase_scores
        The units' rows, each new row's text row (``origin[r]``, the identity for the
        text rows) and the phrasing scores with one row appended per distinct (text,
        winners) pair. Unchanged when no unit reads a result. Cost O(units after a
        result x values of their result x slot-heavy phrasings).
    """
    origin = np.arange(len(phrase_scores))
    heavy = slot_heavy_phrasings(library)
    if not heavy or results is None or results.is_empty():
        return rows, origin, phrase_scores
    latest = _latest_results(units, results)
    args = results.sort("conversation_id", "turn_idx")["args"].to_list()
    texts = units["text"].to_list()
    values_of: dict[int, dict[str, frozenset[str]]] = {}
    extra: dict[tuple[int, tuple[int, ...]], int] = {}
    read = rows.copy()
    for i in np.flatnonzero((rows >= 0) & (latest >= 0)):
        r = int(latest[i])
        if r not in values_of:
            values_of[r] = result_values(args[r])
        winners = read_phrasings(texts[i], values_of[r], heavy)
        if winners:
            read[i] = extra.setdefault((int(rows[i]), winners), len(phrase_scores) + len(extra))
    if not extra:
        return rows, origin, phrase_scores
    copied = np.array([row for row, _ in extra], dtype=np.int64)
    added = phrase_scores[copied].copy()
    for j, (_, winners) in enumerate(extra):
        added[j, list(winners)] = 1.0
    return read, np.r_[origin, copied], np.vstack([phrase_scores, added])


def _latest_results(units: pl.DataFrame, results: pl.DataFrame) -> np.ndarray:
    """Per unit, the row of ``results`` (sorted by call and turn) last before it, else -1."""
    at = {"conversation_id": pl.String, "turn_idx": pl.Int64}
    marks = pl.concat([
        units.select(*at).cast(at).with_columns(
            unit=pl.int_range(pl.len()), result=pl.lit(None, dtype=pl.Int64)
        ),
        results.sort("conversation_id", "turn_idx").select(*at).cast(at).with_columns(
            unit=pl.lit(None, dtype=pl.Int64), result=pl.int_range(pl.len())
        ),
    ])  # fmt: skip
    latest = (
        marks.sort("conversation_id", "turn_idx", "unit", nulls_last=False)
        .with_columns(pl.col("result").forward_fill().over("conversation_id"))
        .filter(pl.col("unit").is_not_null())
        .sort("unit")["result"]
    )
    return latest.fill_null(-1).to_numpy().astype(np.int64)


def _looks_hidden(words: list[str]) -> bool:
    """Whether a run of words looks like a value redaction hides: a name, an id, an amount."""
    return len(words) <= 4 and all(w[0].isupper() or w[0].isdigit() for w in words)


def _fold(text: str) -> str:
    return " ".join(unicodedata.normalize("NFC", text).split()).casefold()


def _name_match(slot: str, key: str) -> int:
    """2: the same name up to case and separators; 1: a word in common; 0 otherwise."""
    if re.sub(r"[\W_]", "", slot).casefold() == re.sub(r"[\W_]", "", key).casefold():
        return 2
    words = {w.casefold() for w in _NAME_WORD.findall(slot)}
    return int(bool(words & {w.casefold() for w in _NAME_WORD.findall(key)}))
