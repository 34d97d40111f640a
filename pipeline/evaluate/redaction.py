"""Score of the redaction section: the labelled personal-data tokens stored text still holds.

The labels' ``turn_pii`` give each turn's original text and a type per space-separated
token (``name``, ``address``, ``email``, ... ``O`` for a token that is not personal
data, ``-`` for one not judged). The stored text (table ``turns``, after ingest redacted
it) is aligned with the original token by token (:func:`surviving`): a token a
placeholder replaced, in whole or in part, did not survive. Per type, ``recall`` is the
share of its tokens that did not survive; ``o_kept`` is the share of ``O`` tokens that
did (what redaction must not remove).
"""

from __future__ import annotations

import difflib
from collections import Counter
from collections.abc import Sequence
from typing import Any

import polars as pl

from pipeline.evaluate.sections import Absent, Table
from pipeline.evaluate.truth import NOT_PII
from pipeline.schema import TURNS


def surviving(before: Sequence[str], after: Sequence[str]) -> list[bool]:
    """Return, per token of ``before``, whether ``after`` still holds it in order, unchanged.

    A longest-matching-blocks alignment (:class:`difflib.SequenceMatcher`, no junk
    heuristic): O(n * m) for the tokens of one turn.
    """
    kept = [False] * len(before)
    matcher = difflib.SequenceMatcher(a=list(before), b=list(after), autojunk=False)
    for block in matcher.get_matching_blocks():
        for i in range(block.a, block.a + block.size):
            kept[i] = True
    return kept


def count_removed(
    texts: Sequence[str], types: Sequence[str], stored: Sequence[str]
) -> tuple[Counter, Counter]:
    """Count tokens per type, and those that did not survive, over aligned turns.

    Parameters
    ----------
    texts, types
        Each turn's original text and its space-separated token types.
    stored
        Each turn's text as stored (redacted).

    Returns
    -------
    total, removed : collections.Counter
        Tokens per type, and how many of them the stored text no longer holds.
    """
    total, removed = Counter(), Counter()
    for text, kinds, out in zip(texts, types, stored, strict=True):
        kept = surviving(text.split(" "), out.split(" "))
        for kind, still in zip(kinds.split(" "), kept, strict=True):
            total[kind] += 1
            removed[kind] += not still
    return total, removed


def score_redaction(turns: Table, labels: pl.DataFrame) -> dict[str, Any]:
    """Score the stored turns of the labelled conversations against their ``turn_pii``.

    Returns
    -------
    dict
        ``n_turns`` matched, ``o_kept`` and ``n_o``, ``recall_<type>`` per personal-data
        type, and ``recall`` (``{type: {"n", "recall"}}``).
    """
    truth = labels.filter(pl.col("turn_pii").is_not_null())
    if truth.is_empty():
        raise Absent("the labels carry no turn_pii: nothing to score redaction against")
    truth = (
        truth.select("conversation_id", "turn_pii")
        .explode("turn_pii")
        .unnest("turn_pii")
        .join(
            turns.frame.select(
                pl.col("conversation_id").cast(pl.String),
                pl.col("turn_idx").cast(pl.Int32),
                pl.col("text").cast(pl.String).alias("stored"),
            ),
            on=["conversation_id", "turn_idx"],
        )
        .filter(pl.col("stored").is_not_null())
    )
    if truth.is_empty():
        raise Absent(f"no labelled turn in {TURNS}: do the labels belong to this database?")
    total, removed = count_removed(truth["text"], truth["types"], truth["stored"])
    if not total["O"]:
        raise Absent("the labelled turns hold no O token: nothing to score what is kept")
    kinds = sorted(k for k in total if k not in NOT_PII)
    recall = {k: {"n": total[k], "recall": removed[k] / total[k]} for k in kinds}
    return {
        "n_turns": truth.height,
        "n_o": total["O"],
        "o_kept": 1 - removed["O"] / total["O"],
        **{f"recall_{k}": recall[k]["recall"] for k in kinds},
        "recall": recall,
    }
