"""The report's sections, shaped from :class:`~pipeline.report.data.ReportData`.

Leaders (the readiness ranking: :mod:`pipeline.report.leaders`), process owners (per
workflow: process graph, deviations, drift with its example conversations, teams; here)
and analysts (intent families, data quality, runs: :mod:`pipeline.report.analysts`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import TYPE_CHECKING, Any

import polars as pl
import yaml
from markupsafe import Markup

from pipeline import schema
from pipeline.errors import SopError
from pipeline.report.analysts import data_quality, families, intents_with_trends
from pipeline.report.charts import process_graph_svg
from pipeline.report.leaders import capacity, examples_by_finding, leaders
from pipeline.report.series import series_svg
from pipeline.sops.model import Sop, parse_sop

if TYPE_CHECKING:
    from pipeline.report.data import ReportData

# Drift kinds whose rate is a share of conversations (shown as %).
SHARE_KINDS = (
    "missing",
    "skipped",
    "order_violation",
    "undocumented",
    "gate_skipped",
    "conformance_change",
)
# Drift kinds tested per window (a rate series to chart); the others cover the period.
WINDOW_KINDS = (*SHARE_KINDS, "intent_mix", "variant_mix")
# A test series: the same test over windows (findings.IDENTITY without the window).
_SERIES_KEY = ("kind", "sop_id", "workflow_id", "step", "team", "agent_hash", "metric")
MAX_FINDINGS = 10  # flagged series shown per workflow (all are in the drift view)
TOP = 10  # rows of the Markdown summary's lists


def report_context(data: ReportData, *, generated_at: datetime) -> dict[str, Any]:
    """Shape the report data into the templates' sections.

    Short by design: the leaders' and process owners' parts show the workflows with a
    documented SOP or enough evidence to be scored (table ``readiness``) and one line
    for the rest (``unscored``); the analysts' part shows intent families with their
    intents folded inside.
    """
    examples = examples_by_finding(data.examples)
    workflows = _workflows(data, examples)
    cross = _cross_findings(data.drift, examples)
    flagged = [f for w in workflows for f in w["findings"]] + cross
    intents = intents_with_trends(data.intents, data.intent_weekly)
    return {
        "generated_at": generated_at,
        "counts": data.counts,
        "period": data.period,
        "leaders": leaders(data.readiness, examples),
        "capacity": capacity(data.leaders_capacity),
        "unscored": _unscored(data),
        "workflows": workflows,
        "cross_findings": cross,
        "top_findings": sorted(flagged, key=lambda f: f["priority"])[:TOP],
        "drift_computed": data.counts.get(schema.DRIFT_FINDINGS, 0) > 0,
        "intents": intents,
        "families": families(intents),
        "quality": data_quality(data.data_quality),
        "runs": data.runs.to_dicts(),
    }


def _shown(data: ReportData) -> set[str] | None:
    """Return the workflows the report shows: those with a documented SOP or a readiness row.

    None (show every workflow) before the readiness stage has run.
    """
    if data.readiness.is_empty():
        return None
    return set(data.sops["sop_id"].to_list()) | set(data.readiness["workflow_id"].to_list())


def _unscored(data: ReportData) -> dict[str, int]:
    """Count the workflows not ranked (no SOP, under the volume floor) and their conversations.

    From view ``unranked_workflows``, counted as the readiness stage counts them.
    """
    rest = data.unranked
    if rest.is_empty():
        return {"workflows": 0, "conversations": 0}
    return {"workflows": rest.height, "conversations": int(rest["n_conversations"].sum())}


def _workflows(data: ReportData, examples: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One section per workflow: documented SOPs first, then mined-only workflows."""
    sops = {row["sop_id"]: row for row in data.sops.to_dicts()}
    ids = set(sops) | set(data.process_edges["workflow_id"].to_list())
    ids |= set(data.workflow_conformance["sop_id"].to_list())
    shown = _shown(data)
    if shown is not None:  # undocumented workflows under the volume floor: one line
        ids &= shown | set(sops)
    labels = dict(data.step_types.select("step_id", "label").iter_rows())
    intent_labels = dict(data.intents.select("intent_id", "label").iter_rows())
    candidates = dict(
        data.readiness.filter(pl.col("playbook_source") == "candidate")
        .select("workflow_id", "playbook")
        .iter_rows()
    )
    out = []
    for wf in sorted(ids, key=lambda w: (w not in sops, w)):
        row = sops.get(wf)
        sop = _parse(row["yaml"], wf) if row else None
        conformance = data.workflow_conformance.filter(pl.col("sop_id") == wf)
        version = conformance["version"].max()  # the SOP version in force
        deviations = data.step_deviations.filter(
            (pl.col("sop_id") == wf) & pl.col("version").eq_missing(version)
        )
        edges = data.process_edges.filter(pl.col("workflow_id") == wf)
        candidate = data.candidate_sops.filter(pl.col("workflow_id") == wf)
        missing = deviations.filter(pl.col("deviation") == "missing")
        title = ", ".join(row["intent"]) if row else intent_labels.get(wf, "")
        documented = set(sop.step_ids) if sop else set()
        graph = None
        if not edges.is_empty():
            graph = process_graph_svg(
                edges,
                sop=sop,
                positions=dict(candidate.select("step", "position").drop_nulls().iter_rows()),
                # documented steps go by their SOP id, the others by their label
                labels={k: v for k, v in labels.items() if k not in documented},
                skipped=dict(missing.select("step", "share").iter_rows()),
                support=dict(candidate.select("step", "support").iter_rows()),
            )
        out.append(
            {
                "id": wf,
                "name": wf.replace("_", " ") if row else intent_labels.get(wf) or wf,
                "anchor": "wf-" + re.sub(r"[^A-Za-z0-9_-]", "-", wf),
                "title": "" if title == wf or not row else title,
                "documented": row is not None,
                "version": row["version"] if row else None,
                "yaml": row["yaml"] if row else None,
                "candidate": candidates.get(wf),
                "kpis": conformance.filter(pl.col("version") == version).to_dicts()[0]
                if version is not None
                else None,
                "graph": graph,
                "deviations": [
                    {**d, "name": d["step_label"] or d["step"]}
                    for d in deviations.head(10).to_dicts()
                ],
                "teams": data.team_conformance.filter(
                    (pl.col("sop_id") == wf) & pl.col("version").eq_missing(version)
                ).to_dicts(),
                **_findings(data.drift, wf, examples),
            }
        )
    return out


def _parse(text: str, sop_id: str) -> Sop | None:
    """Parse a stored SOP YAML; None when it no longer parses (then shown as text only)."""
    try:
        return parse_sop(yaml.safe_load(text), origin=f"sops table, {sop_id}")
    except (yaml.YAMLError, SopError):
        return None


def _findings(
    drift: pl.DataFrame, wf: str, examples: dict[str, list[dict[str, Any]]]
) -> dict[str, Any]:
    """Return a workflow's flagged findings, one per test series, and its count of tests.

    Each shown finding has its ``chart`` and its ``examples`` (conversations).
    """
    mine = drift.filter(pl.col("workflow_id").eq(wf) | pl.col("sop_id").eq(wf))
    findings = _by_series(mine.filter(pl.col("flagged")))
    shown = [{**f, "chart": _chart(mine, f), "examples": examples.get(f["finding_id"], [])}
             for f in findings[:MAX_FINDINGS]]  # fmt: skip
    return {"findings": shown, "n_flagged": len(findings), "n_tests": mine.height}


def _cross_findings(
    drift: pl.DataFrame, examples: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Return the flagged findings of no single workflow (intent mix, pooled outcomes)."""
    shared = drift.filter(pl.col("workflow_id").is_null() & pl.col("sop_id").is_null())
    findings = _by_series(shared.filter(pl.col("flagged")))
    return [{**f, "chart": _chart(shared, f), "examples": examples.get(f["finding_id"], [])}
            for f in findings[:MAX_FINDINGS]]  # fmt: skip


def _by_series(flagged: pl.DataFrame) -> list[dict[str, Any]]:
    """One finding per test series, its most urgent row, in priority order.

    Adds ``flagged_windows`` (the series' flagged window starts, in order), ``percent``
    (its rate is a share of conversations) and ``windowed`` (it is tested per window).
    """
    series: dict[tuple, list[dict[str, Any]]] = {}
    for row in flagged.sort("priority").to_dicts():
        series.setdefault(tuple(row[c] for c in _SERIES_KEY), []).append(row)
    return [
        {
            **rows[0],
            "flagged_windows": sorted(r["window_start"] for r in rows if r["window_start"]),
            "percent": rows[0]["kind"] in SHARE_KINDS,
            "windowed": rows[0]["kind"] in WINDOW_KINDS,
        }
        for rows in series.values()
    ]


def _chart(drift: pl.DataFrame, finding: dict[str, Any]) -> Markup | None:
    """Chart the rate per window of a finding's test series against its baseline.

    None for a kind that covers the whole period, or a series of fewer than two windows.
    """
    if not finding["windowed"] or finding["window_start"] is None:
        return None
    same = pl.all_horizontal(pl.col(c).eq_missing(finding[c]) for c in _SERIES_KEY)
    merged = pl.col("details").fill_null("").str.contains('"n_windows"', literal=True)
    series = (  # the windows: a merged finding (one row per run of windows) is no point
        drift.filter(
            same & ~merged & pl.col("rate").is_not_null() & pl.col("window_start").is_not_null()
        )  # fmt: skip
        .sort("window_start")
        .unique("window_start", keep="first", maintain_order=True)
    )
    in_run = pl.col("details").fill_null("").str.contains('"window_flagged": true', literal=True)
    if series.height < 2:
        return None
    where = " / ".join(str(finding[c]) for c in ("step", "team", "agent_hash") if finding[c])
    return series_svg(
        series["window_start"].to_list(),
        series["rate"].to_list(),
        baseline=finding["baseline"],
        flagged=set(series.filter(pl.col("flagged") | in_run)["window_start"].to_list()),
        percent=finding["percent"],
        title=f"{finding['kind']} {where}: rate per window against the baseline",
    )
