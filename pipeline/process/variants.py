"""Trace variants: the distinct step sequences of each intent, their ids and counts.

A variant's id is 12 hex digits of sha1 of its steps joined with :data:`SEP`; hashing
runs over distinct variants only, O(variants), not O(cases). :func:`by_variant` keeps
one case per variant, weighted by its cases, so that counts over cases become sums over
a frame as small as the variants.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import polars as pl

from pipeline.errors import SchemaError
from pipeline.process.log import ordered_log

# Joins a variant's steps before hashing; a control character, so no step id holds it.
SEP = "\x1f"
VARIANT_ID_LENGTH = 12  # hex digits of sha1: collisions need ~16M variants per intent


def variant_id(steps: Iterable[str]) -> str:
    """Return the stable id of a trace variant: 12 hex digits of sha1 of its steps.

    The steps are joined with :data:`SEP` (the unit separator, U+001F); the discover
    functions reject step ids that hold it, so distinct sequences give distinct keys.
    """
    return _hash_key(SEP.join(steps))


def _hash_key(key: str) -> str:
    return hashlib.sha1(key.encode("utf-8"), usedforsecurity=False).hexdigest()[:VARIANT_ID_LENGTH]


def _traces(
    frame: pl.DataFrame, *, case_col: str, activity_col: str, intent_col: str
) -> pl.DataFrame:
    """Return one row per case of an :func:`.ordered_log` frame, with its variant.

    Columns: intent, case, ``sequence`` (steps in order), ``_key`` (the steps joined)
    and ``variant_id``.
    """
    _check_separator(frame, activity_col)
    traces = frame.group_by("_case", maintain_order=True).agg(
        pl.col(intent_col).first(),
        pl.col(case_col).first(),
        sequence=pl.col(activity_col),
    )
    keys = traces.select(_key=pl.col("sequence").list.join(SEP))["_key"]
    # Hashing is Python, but over distinct variants only: O(variants), not O(cases).
    distinct = keys.unique().to_list()
    ids = pl.DataFrame(
        {"_key": distinct, "variant_id": [_hash_key(k) for k in distinct]},
        schema={"_key": pl.String, "variant_id": pl.String},
    )
    return traces.with_columns(_key=keys).join(ids, on="_key", how="left", maintain_order="left")


def variant_of_case(
    events: pl.DataFrame,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Map each case to its trace variant, so per-variant results can be joined back.

    Parameters
    ----------
    events
        The step event log (case, intent, order and step columns).
    case_col, activity_col, intent_col, order_col
        Column roles in ``events``.

    Returns
    -------
    polars.DataFrame
        ``case_col, intent_col, variant_id``, one row per case, sorted by intent and case.
    """
    roles = {"case_col": case_col, "activity_col": activity_col, "intent_col": intent_col}
    traces = _traces(ordered_log(events, order_col=order_col, **roles), **roles)
    return traces.select(case_col, intent_col, "variant_id").sort(
        intent_col, case_col, nulls_last=True, maintain_order=True
    )


def discover_variants(
    events: pl.DataFrame,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    intent_col: str = "intent_id",
    order_col: str = "seq",
) -> pl.DataFrame:
    """Count the trace variants (distinct step sequences) of each intent.

    Reads the step event log; produces the ``variants`` table.

    Parameters
    ----------
    events
        The step event log (case, intent, order and step columns).
    case_col, activity_col, intent_col, order_col
        Column roles in ``events``.

    Returns
    -------
    polars.DataFrame
        ``intent_col, variant_id, sequence (list[str]), n (cases), share (of the
        intent's cases), rank`` (1 = most frequent; ties ordered by sequence), sorted
        by intent and rank.
    """
    roles = {"case_col": case_col, "activity_col": activity_col, "intent_col": intent_col}
    return variants_table(ordered_log(events, order_col=order_col, **roles), **roles)


def variants_table(frame: pl.DataFrame, *, case_col: str, activity_col: str, intent_col: str):
    """Return the ``variants`` rows of an :func:`~pipeline.process.log.ordered_log` frame."""
    traces = _traces(frame, case_col=case_col, activity_col=activity_col, intent_col=intent_col)
    # The joined key orders like the step list: SEP sorts before every printable character.
    return (
        traces.group_by(intent_col, "_key")
        .agg(pl.col("variant_id").first(), pl.col("sequence").first(), n=pl.len().cast(pl.Int64))
        .with_columns(share=pl.col("n") / pl.col("n").sum().over(intent_col))
        .sort([intent_col, "n", "_key"], descending=[False, True, False], nulls_last=True)
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over(intent_col))
        .select(intent_col, "variant_id", "sequence", "n", "share", "rank")
    )


def _check_separator(frame: pl.DataFrame, activity_col: str) -> None:
    if frame[activity_col].str.contains(SEP, literal=True).any():
        raise SchemaError(
            f"event log: column {activity_col} holds a step id with the control character "
            "\\x1f, which variant ids use as a separator; remove it from step ids"
        )


def by_variant(frame: pl.DataFrame, *, intent_col: str, activity_col: str) -> pl.DataFrame:
    """Keep one case per distinct trace of each intent, weighted by its number of cases.

    Takes and returns an :func:`.ordered_log` frame; the result adds ``_w`` (cases with the
    same intent and step sequence as the kept one). Counts over cases become sums of
    ``_w`` over a frame as small as the variants: what makes discovery scale with the
    variety of the log, not its length.
    """
    cases = frame.group_by("_case").agg(
        pl.col(intent_col).first(), _key=pl.col(activity_col).str.join(SEP)
    )
    kept = cases.group_by(intent_col, "_key").agg(
        _case=pl.col("_case").min(), _w=pl.len().cast(pl.Int64)
    )
    return frame.join(kept.select("_case", "_w"), on="_case", maintain_order="left")
