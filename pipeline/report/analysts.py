"""The analysts' part of the report: intent families with their intents, data quality."""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline.report.series import sparkline_svg


def intents_with_trends(intents: pl.DataFrame, weekly: pl.DataFrame) -> list[dict[str, Any]]:
    """Intent rows with a sparkline of weekly conversations (weeks without any count 0)."""
    weeks = sorted(set(weekly["week"].to_list()))
    counts = {(i, w): n for i, w, n in weekly.iter_rows()}
    rows = []
    for row in intents.to_dicts():
        values = [counts.get((row["intent_id"], w), 0) for w in weeks]
        title = f"conversations per week, {weeks[0]} to {weeks[-1]}: {values}" if weeks else ""
        rows.append({**row, "trend": sparkline_svg(values, title=title) if weeks else None})
    return rows


def families(intents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Intent families, biggest first, each with its intents (biggest first) folded inside."""
    families: dict[str, dict[str, Any]] = {}
    for row in intents:
        family = families.setdefault(
            row["family_id"],
            {"family_id": row["family_id"], "label": row["family_label"] or row["label"],
             "size": 0, "share": 0.0, "intents": [], "n_emerging": 0},
        )  # fmt: skip
        family["size"] += row["size"] or 0
        family["share"] += row["share"] or 0.0
        family["n_emerging"] += bool(row["is_emerging"])
        family["intents"].append(row)
    return sorted(families.values(), key=lambda f: (-f["size"], f["family_id"]))


def data_quality(quality: pl.DataFrame) -> dict[str, Any]:
    """Record counts per source, and quarantine reasons and redactions over all sources."""
    sources = [
        {**part.select("path", "format", "status").row(0, named=True),
         **dict(part.select("item", "n").iter_rows())}
        for _, part in quality.filter(pl.col("category") == "records")
        .group_by("source_id", maintain_order=True)
    ]  # fmt: skip

    def totals(category: str) -> list[tuple[str, int]]:
        summed = quality.filter(pl.col("category") == category).group_by("item").agg(pl.sum("n"))
        return summed.sort(["n", "item"], descending=[True, False]).rows()

    return {
        "sources": sources,
        "quarantine": totals("quarantine"),
        "redactions": totals("redaction"),
    }
