"""Score of the outcomes section: each conversation's outcome against its label."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import polars as pl

from pipeline.evaluate.sections import Absent, Table
from pipeline.schema import OUTCOMES


def score_outcomes(outcomes: Table, labels: pl.DataFrame) -> dict[str, Any]:
    """Score the outcome of each conversation whose label has one.

    ``accuracy`` over those conversations; per true outcome its ``recall``, per outcome
    found its ``precision``, and the confusion counts; ``derived_share`` is the share
    whose outcome was derived from the transcript rather than read from the data.
    """
    truth = labels.filter(pl.col("outcome").is_not_null()).select("conversation_id", "outcome")
    if truth.is_empty():
        raise Absent("the labels carry no outcome: nothing to score outcomes against")
    rows = outcomes.frame.select(
        pl.col("conversation_id").cast(pl.String),
        pl.col("outcome").cast(pl.String).alias("found"),
        pl.col("outcome_source").cast(pl.String),
    ).unique("conversation_id", keep="first", maintain_order=True)
    joined = truth.join(rows, on="conversation_id")
    if joined.is_empty():
        raise Absent(
            f"no labelled conversation in {OUTCOMES} (run {outcomes.run_id}): "
            "do the labels belong to this database?"
        )
    right = pl.col("outcome") == pl.col("found")
    recall = joined.group_by("outcome").agg(n=pl.len(), recall=right.mean()).sort("outcome")
    precision = joined.group_by("found").agg(n=pl.len(), precision=right.mean()).sort("found")
    confusion: dict[str, dict[str, int]] = defaultdict(dict)
    counts = joined.group_by("outcome", "found").len().sort("outcome", "found")
    for true, found, n in counts.iter_rows():
        confusion[true][found] = n
    return {
        "run_id": outcomes.run_id,
        "n": joined.height,
        "accuracy": float(joined.select(right.mean()).item()),
        "macro_recall": float(recall["recall"].mean()),
        "derived_share": float((joined["outcome_source"] == "derived").mean()),
        "recall": {r["outcome"]: {"n": r["n"], "recall": r["recall"]} for r in recall.to_dicts()},
        "precision": {
            r["found"]: {"n": r["n"], "precision": r["precision"]} for r in precision.to_dicts()
        },
        "confusion": dict(confusion),
    }
