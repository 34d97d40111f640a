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
    that were. ``macro_conforming_share`` averages the intents' shares. Where labels
    say which scenarios are the happy path (``happy_path``), ``happy_path`` holds the
    conforming share of the checked happy and other conversations: most happy-path
    conversations should conform, and more of them than of the others.
    """
    rows = conformance.frame.select(
        pl.col("conversation_id").cast(pl.String), "is_conforming", "fitness"
    ).unique("conversation_id", keep="first", maintain_order=True)
    happy = pl.col("happy_path") if "happy_path" in labels.columns else pl.lit(None, pl.Boolean)
    joined = labels.select("conversation_id", "intent", happy.alias("happy_path")).join(
        rows, on="conversation_id", how="left"
    )
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
    by_path = (
        checked.filter(pl.col("happy_path").is_not_null())
        .group_by("happy_path")
        .agg(n=pl.len(), conforming_share=pl.col("is_conforming").cast(pl.Float64).mean())
    )
    happy_path = {("happy" if row["happy_path"] else "other"): {"n": row["n"],
                  "conforming_share": row["conforming_share"]}
                  for row in by_path.to_dicts()}  # fmt: skip
    return {
        "run_id": conformance.run_id,
        "n_checked": checked.height,
        "checked_share": checked.height / labels.height,
        "conforming_share": float(checked["is_conforming"].cast(pl.Float64).mean()),
        "macro_conforming_share": float(shares.mean()) if shares.len() else None,
        "mean_fitness": float(checked["fitness"].mean()),
        "happy_path": happy_path or None,
        "per_intent": {
            row["intent"]: {k: v for k, v in row.items() if k != "intent"}
            for row in per_intent.to_dicts()
        },
    }
