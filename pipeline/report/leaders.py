"""The leaders' part of the report: the readiness ranking, its capacity, the evidence behind it.

Also the example conversations of every finding and reason (view ``finding_examples``),
which the process owners' part shows too.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl

from pipeline.readiness.examples import reason_components
from pipeline.report.filters import fixed
from pipeline.report.series import interval_svg, volume_readiness_svg


def examples_by_finding(frame: pl.DataFrame) -> dict[str, list[dict[str, Any]]]:
    """Map each finding id (or ``workflow:component`` reason key) to its example conversations.

    Each example (view ``finding_examples``) keeps its columns, in rank order, with
    ``turns``: its excerpt's turns (``turn_idx, speaker, text, highlight``).
    """
    found: dict[str, list[dict[str, Any]]] = {}
    if frame.is_empty():
        return found
    for row in frame.sort("finding_id", "rank").iter_rows(named=True):
        try:
            turns = json.loads(row["excerpt"]) if row["excerpt"] else []
        except ValueError:
            turns = []
        found.setdefault(row["finding_id"], []).append({**row, "turns": turns})
    return found


def leaders(
    readiness: pl.DataFrame, examples: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Return the ranking's rows, each reason with the example conversations of its component."""
    about = {
        (w, reason): component
        for w, component, reason in reason_components(readiness).iter_rows()
    }  # fmt: skip
    return [
        {
            **row,
            "name": row["label"] or row["workflow_id"],
            "interval": interval_svg(row["score"], row["low"], row["high"], tier=row["tier"]),
            "components": components(row["components"]),
            "reasons": [
                {
                    "text": reason,
                    "examples": examples.get(
                        f"{row['workflow_id']}:{about.get((row['workflow_id'], reason))}", []
                    ),
                }
                for reason in row["reasons"] or []
            ],  # fmt: skip
        }
        for row in readiness.to_dicts()
    ]


def capacity(capacity: pl.DataFrame) -> dict[str, Any]:
    """Return the leaders' capacity table (view ``leaders_capacity``) and its volume chart.

    ``rows`` (workflows, then the totals row), ``span_months`` and ``chart``: volume
    (conversations per month) against readiness score, one point per workflow
    coloured by tier; None without workflows.
    """
    if capacity.is_empty():
        return {"rows": [], "span_months": None, "chart": None}
    rows = capacity.to_dicts()
    workflows = [r for r in rows if not r["is_total"]]
    chart = volume_readiness_svg(
        [(r["label"] or r["workflow_id"], r["score"], r["conversations_per_month"], r["tier"])
         for r in workflows],
        title="conversations per month against readiness score, one point per workflow",
    )  # fmt: skip
    return {"rows": rows, "span_months": rows[0]["span_months"], "chart": chart}


def components(text: str | None) -> list[dict[str, Any]]:
    """Rows ``name, value, weight, points, detail`` of a readiness ``components`` JSON.

    Each component maps to ``{value, weight, contribution, detail}``; a bare value is
    shown as the value. Text that is not a JSON object gives no rows.
    """
    try:
        parsed = json.loads(text) if text else {}
    except ValueError:
        return []
    rows = []
    for name, item in parsed.items() if isinstance(parsed, dict) else ():
        item = item if isinstance(item, dict) else {"value": item}
        value = item.get("value")
        rows.append(
            {
                "name": str(name).replace("_", " "),
                "value": fixed(value) if isinstance(value, int | float) else value,
                "weight": item.get("weight"),
                "points": item.get("contribution"),
                "detail": item.get("detail"),
            }
        )
    return rows
