"""Score of the conformance section: the conforming share per true intent."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.evaluate.sections import Absent, Table
from pipeline.schema import CONFORMANCE


def score_conformance(conformance: Table, labels: pl.DataFrame) -> dict[str, Any]:
    """Score the conforming share and mean fitness of checked conversations, per true intent.

    A conversation is checked when a documented SOP applied to it (it has a
    ``conformance`` row); ``checked_share`` is the share of labelled conversations
    that were. ``macro_conforming_share`` averages the intents' shares.
    """
    rows = conformance.frame.select(
        pl.col("conversation_id").cast(pl.String), "is_conforming", "fitness"
    ).unique("conversation_id", keep="first", maintain_order=True)
    joined = labels.select("conversation_id", "intent").join(rows, on="conversation_id", how="left")
    checked = joined.filter(pl.col("is_conforming").is_not_null())
    if checked.is_empty():
        raise Absent(
            f"no labelled conversation in {CONFORMANCE} (run {conformance.run_id}): "
            "was any conversation checked against a documented SOP?"
        )
    per_intent = (
        joined.group_by("intent")
        .agg(
            n=pl.len(),
            n_checked=pl.col("is_conforming").is_not_null().sum(),
            conforming_share=pl.col("is_conforming").cast(pl.Float64).mean(),
            mean_fitness=pl.col("fitness").mean(),
        )
        .sort("intent")
    )
    shares = per_intent["conforming_share"].drop_nulls()
    return {
        "run_id": conformance.run_id,
        "n_checked": checked.height,
        "checked_share": checked.height / labels.height,
        "conforming_share": float(checked["is_conforming"].cast(pl.Float64).mean()),
        "macro_conforming_share": float(shares.mean()) if shares.len() else None,
        "mean_fitness": float(checked["fitness"].mean()),
        "per_intent": {
            row["intent"]: {k: v for k, v in row.items() if k != "intent"}
            for row in per_intent.to_dicts()
        },
    }
