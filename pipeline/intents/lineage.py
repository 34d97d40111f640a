"""Intent ids across refits: centroid matching and the lineage of each intent.

A refit matches its clusters to the previous model's intents by centroid similarity
(Hungarian) so that ids persist, and records kept, new, split, merged and retired
intents in ``intent_lineage``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment

from pipeline.intents.model import IntentModel

#: Columns of a lineage frame (``intent_lineage`` less ``model_version``).
LINEAGE_SCHEMA = {
    "event": pl.String,
    "intent_id": pl.String,
    "related_intent_id": pl.String,
    "n_conversations": pl.Int64,
    "similarity": pl.Float64,
}


def lineage_row(
    event: str, intent_id: str, related: str | None, n: int, similarity: float | None
) -> dict[str, Any]:
    """Return one lineage row (:data:`LINEAGE_SCHEMA`) as a dict."""
    return {"event": event, "intent_id": intent_id, "related_intent_id": related,
            "n_conversations": int(n), "similarity": similarity}  # fmt: skip


def match_intent_ids(
    previous: IntentModel | None, centroids: np.ndarray, *, threshold: float
) -> tuple[list[str], dict[str, float]]:
    """Give a new fit's clusters ids, keeping an old id where centroids match.

    The assignment maximises total cosine similarity between old and new centroids
    (Hungarian algorithm); a pair below ``threshold`` is not a match. Unmatched clusters
    get fresh ids numbered after the highest id ever used.

    Returns
    -------
    ids : list of str
        One id per new cluster.
    similarity : dict
        Matched id -> cosine of the old and new centroid.
    """
    k = len(centroids)
    ids: list[str | None] = [None] * k
    similarity: dict[str, float] = {}
    used = 0
    if previous is not None and len(previous.centroids):
        sims = centroids @ previous.centroids.T
        rows, cols = linear_sum_assignment(-sims)
        for row, col in zip(rows, cols, strict=True):
            if sims[row, col] >= threshold:
                ids[row] = previous.intent_ids[col]
                similarity[previous.intent_ids[col]] = float(sims[row, col])
        used = max(int(i[1:]) for i in previous.intent_ids)
        used = max(used, previous.params.get("max_id", 0))
    for row in range(k):
        if ids[row] is None:
            used += 1
            ids[row] = format_intent_id(used)
    return [i for i in ids if i is not None], similarity


def format_intent_id(number: int) -> str:
    """Intent ids are ``i`` plus a zero-padded number: ``i007``."""
    return f"i{number:03d}"


def intent_lineage(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    *,
    old_ids: Sequence[str],
    similarity: dict[str, float],
    share: float,
) -> pl.DataFrame:
    """Relate a refit's intents to the previous ones through shared conversations.

    Parameters
    ----------
    previous, current
        ``conversation_id, intent_id`` before and after the refit (null = unassigned).
    old_ids
        The previous model's intent ids.
    similarity
        Ids kept by centroid matching -> cosine (from :func:`match_intent_ids`).
    share
        The share of an intent's shared conversations that makes a split or a merge.

    Returns
    -------
    polars.DataFrame
        ``event, intent_id, related_intent_id, n_conversations, similarity``. Events:
        ``kept`` (same id), ``new`` (no old intent gave it ``share`` of its
        conversations), ``split`` (``share`` of old ``related`` went to new ``intent``),
        ``merged`` (old ``related`` went into kept ``intent``), ``retired`` (an old id
        no longer matched).
    """
    flows = (
        previous.rename({"intent_id": "old"})
        .join(current.rename({"intent_id": "new"}), on="conversation_id")
        .drop_nulls(["old", "new"])
        .group_by("old", "new")
        .agg(n=pl.len())
        .with_columns(
            old_share=pl.col("n") / pl.col("n").sum().over("old"),
            new_share=pl.col("n") / pl.col("n").sum().over("new"),
        )
    )
    new_ids = current["intent_id"].drop_nulls().unique().sort().to_list()
    size = dict(current.group_by("intent_id").len().drop_nulls().iter_rows())
    rows: list[dict[str, Any]] = []
    for new in new_ids:
        if new in similarity:
            rows.append(lineage_row("kept", new, new, size[new], similarity[new]))
            continue
        sources = flows.filter((pl.col("new") == new) & (pl.col("old_share") >= share))
        if sources.is_empty():
            rows.append(lineage_row("new", new, None, size[new], None))
        for old, n in sources.select("old", "n").iter_rows():
            rows.append(lineage_row("split", new, old, n, None))
    merged = flows.filter(
        (pl.col("old") != pl.col("new"))
        & pl.col("new").is_in(list(similarity))
        & (pl.col("old_share") >= share)
    )
    for old, new, n in merged.select("old", "new", "n").iter_rows():
        rows.append(lineage_row("merged", new, old, n, None))
    for old in sorted(set(old_ids) - set(similarity)):
        rows.append(lineage_row("retired", old, None, 0, None))
    return pl.DataFrame(rows, schema=LINEAGE_SCHEMA)
