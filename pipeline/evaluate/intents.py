"""Score of the intents section: intent assignments against the labels' intents."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.evaluate.metrics import score_clustering
from pipeline.evaluate.sections import Absent, Table
from pipeline.intents.names import is_filler_label
from pipeline.schema import INTENT_ASSIGNMENTS


def score_intents(
    assignments: Table, labels: pl.DataFrame, intents: Table | None = None
) -> dict[str, Any]:
    """Score intent assignments against the labels' intents (outliers are noise).

    With the ``intents`` table (``intent_id, label``), also count the labels made only
    of filler words (``filler_labels``: stop words, greetings, chat fillers; a defect).
    """
    noise = pl.col("intent_id").is_null() | pl.col("is_outlier").fill_null(False)
    pred = assignments.frame.select(
        pl.col("conversation_id").cast(pl.String),
        pl.when(noise).then(None).otherwise(pl.col("intent_id").cast(pl.String)).alias("pred"),
    ).unique("conversation_id", keep="first", maintain_order=True)
    joined = labels.select("conversation_id", "intent").join(pred, on="conversation_id")
    if joined.is_empty():
        raise Absent(
            f"no labelled conversation in {INTENT_ASSIGNMENTS} (run {assignments.run_id}): "
            "do the labels belong to this database?"
        )
    scores = score_clustering(joined["intent"].to_list(), joined["pred"].to_list())
    named = {}
    if intents is not None:
        names = intents.frame["label"].fill_null("").to_list()
        named = {
            "filler_labels": sum(map(is_filler_label, names)),
            "n_labels": len(names),
        }
    return {
        "run_id": assignments.run_id,
        **scores,
        "n_labelled_unscored": labels.height - joined.height,
        **named,
    }
