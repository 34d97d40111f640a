"""Score of the readiness section: the ranking and tiers against ``readiness.json``."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import LabelsError
from pipeline.evaluate.metrics import spearman
from pipeline.evaluate.sections import Absent, Table, read_truth


def score_readiness(
    readiness: Table,
    assignments: Table | Absent,
    workflows: Table | None,
    labels: pl.DataFrame,
    truth_dir: Path | None,
) -> dict[str, Any]:
    """Score the readiness ranking and tiers against ``readiness.json``."""
    truth = read_truth(truth_dir, "readiness.json")
    order, tiers = truth.get("order"), truth.get("tiers", {})
    if not isinstance(order, list) or not isinstance(tiers, dict):
        raise LabelsError(
            f"{truth_dir}/readiness.json: expected "
            '{"order": [intent, ...], "tiers": {intent: tier}}'
        )
    # A scored workflow stands for the true intent most of its labelled conversations
    # carry (ties: alphabetical): its conversations from ``outcomes`` when the rows name
    # a workflow, else (older databases) those assigned to its intent, outliers left out.
    rows = readiness.frame.with_columns(pl.col("intent_id").cast(pl.String))
    by_workflow = workflows is not None and rows["workflow_id"].is_not_null().all()
    if by_workflow:
        key, members = "workflow_id", workflows.frame.select("conversation_id", "workflow_id")
    elif isinstance(assignments, Table):
        key = "intent_id"
        members = assignments.frame.filter(
            pl.col("intent_id").is_not_null() & ~pl.col("is_outlier").fill_null(False)
        ).select("conversation_id", "intent_id")
    else:
        raise Absent("no outcomes or intent assignments: cannot tell which intent a row is")
    votes = members.select(
        pl.col("conversation_id").cast(pl.String), pl.col(key).cast(pl.String)
    ).join(labels.select("conversation_id", "intent"), on="conversation_id")
    counts = Counter(zip(votes[key], votes["intent"], strict=True))
    majority: dict[str, str] = {}
    for (group, intent), _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][1])):
        majority.setdefault(group, intent)
    # best first: by rank where every row has one (older tables: by score)
    best_first = (
        (pl.col("rank"), -pl.col("score"))
        if rows["rank"].is_not_null().all()
        else (-pl.col("score"),)
    )
    rows = rows.with_columns(_key=pl.col(key).cast(pl.String)).sort(*best_first, nulls_last=True)
    found_order: list[str] = []
    found_tier: dict[str, Any] = {}
    for group, tier in rows.select("_key", "tier").iter_rows():
        intent = majority.get(group)
        if intent is not None and intent not in found_tier:
            found_order.append(intent)
            found_tier[intent] = tier
    compared = [i for i in found_tier if i in tiers]
    return {
        "run_id": readiness.run_id,
        "matched_by": key,
        "spearman": spearman(found_order, order),
        "n_common": len(set(found_order) & set(order)),
        "tier_accuracy": (
            sum(found_tier[i] == tiers[i] for i in compared) / len(compared) if compared else None
        ),
        "n_tiers_compared": len(compared),
        "tiers": {i: {"found": found_tier[i], "designed": tiers[i]} for i in compared},
        "n_unmapped_rows": rows.filter(~pl.col("_key").is_in(list(majority))).height,
        "row_map": {k: majority[k] for k in rows["_key"] if k in majority},
    }
