"""Score of the drift section: flagged findings against the planted ones in ``drift.json``."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pipeline.drift.findings import STEP_KINDS, print_order
from pipeline.errors import LabelsError, SopError
from pipeline.evaluate.exception_templates import count_template_exemplars
from pipeline.evaluate.metrics import as_date, match_drift, rank_planted
from pipeline.evaluate.sections import Absent, Table, read_truth
from pipeline.sops.model import parse_sop

#: Kinds that claim a change in time (a rate or mix that moved from a window on), which a
#: planted drift can explain; outcome impacts and exception clusters describe the whole
#: period and are scored apart.
CHANGE_KINDS = (*STEP_KINDS, "intent_mix", "variant_mix", "conformance_change")
_KEY = ("kind", "sop_id", "workflow_id", "step", "team", "agent_hash", "metric")


def score_drift(
    drift: Table, truth_dir: Path | None, window_days: int, sops: Table | None = None
) -> dict[str, Any]:
    """Score flagged findings against ``drift.json``: precision, recall and ranks.

    Precision is over the kinds a planted finding can have (a step's deviation rate);
    ``precision_every_kind`` is over every printed finding (not nested under another)
    that claims a change in time (:data:`CHANGE_KINDS`), counted as explained when it
    is a planted step deviation (:func:`~pipeline.evaluate.metrics.match_drift`), a
    workflow-level change (variant mix, conformance change point) of a workflow with a
    planted drift from a window ending after the onset, or an intent-mix change from a
    window ending after an emerging intent's first day (``planted.json``'s
    ``emerging_intents``, where the truth folder has one). ``n_printed_twice`` counts
    printed findings that repeat another's kind, workflow, step, team, agent and metric.
    """
    truth = read_truth(truth_dir, "drift.json")
    planted = truth.get("findings")
    required = ("sop_id", "step", "kind", "onset")
    if not isinstance(planted, list) or not all(
        isinstance(f, dict) and all(k in f for k in required) for f in planted
    ):
        raise LabelsError(
            f"{truth_dir}/drift.json: findings: expected a list of objects with "
            f"{', '.join(required)} (team optional)"
        )
    frame = drift.frame
    flagged = frame.filter(pl.col("flagged").fill_null(False))
    step_level = flagged.filter(pl.col("kind").is_in(STEP_KINDS))
    others = flagged.filter(~pl.col("kind").is_in(STEP_KINDS)).group_by("kind").len().sort("kind")
    ordered = print_order(flagged)
    printed = ordered.to_dicts()
    ranks = rank_planted(printed, planted, window_days=window_days)
    top = ordered.filter(~pl.col("nested"))
    return {
        "run_id": drift.run_id,
        **match_drift(step_level.to_dicts(), planted, window_days=window_days),
        **_every_kind(top, planted, _emerging(truth_dir), window_days),
        "n_flagged_other_kinds": dict(others.iter_rows()),
        "n_printed": len(printed),
        "n_printed_top": top.height,
        "n_printed_twice": _printed_twice(top),
        "planted": [
            {**{k: truth.get(k) for k in ("sop_id", "step", "kind", "team", "onset")}, "rank": rank}
            for truth, rank in zip(planted, ranks, strict=True)
        ],
        "outcome_effects": _outcome_effects(frame, truth.get("outcome_effects") or []),
        "exception_templates": _exception_templates(frame, sops),
    }


def _every_kind(
    top: pl.DataFrame, planted: list[dict], emerging: list[date], window_days: int
) -> dict[str, Any]:
    """Precision over the printed findings that claim a change in time (see score_drift)."""
    window = timedelta(days=window_days)
    drifted = {(p["sop_id"], as_date(p["onset"])) for p in planted}
    changes = top.filter(pl.col("kind").is_in(CHANGE_KINDS)).to_dicts()
    explained = 0
    by_kind: dict[str, list[int]] = {}
    for row in changes:
        start = as_date(row["window_start"])
        end = row.get("window_end")
        end = as_date(end) if end is not None else start + window - timedelta(days=1)
        if row["kind"] in STEP_KINDS:
            hit = match_drift([row], planted, window_days=window_days)["precision"] == 1.0
        elif row["kind"] == "intent_mix":
            hit = any(end >= first for first in emerging)
        else:
            workflow = row.get("sop_id") or row.get("workflow_id")
            hit = any(workflow == sop and end >= onset for sop, onset in drifted)
        explained += hit
        by_kind.setdefault(row["kind"], [0, 0])
        by_kind[row["kind"]][0] += hit
        by_kind[row["kind"]][1] += 1
    return {
        "precision_every_kind": explained / len(changes) if changes else None,
        "n_change_findings": len(changes),
        "explained_by_kind": {k: {"explained": e, "n": n} for k, (e, n) in sorted(by_kind.items())},
    }


def _printed_twice(top: pl.DataFrame) -> int:
    """Count printed findings that repeat an earlier one's identity, the window aside."""
    present = [c for c in _KEY if c in top.columns]
    return top.height - top.select(present).unique().height if present else 0


def _emerging(truth_dir: Path | None) -> list[date]:
    try:
        planted = read_truth(truth_dir, "planted.json")
    except Absent:
        return []
    return [as_date(e["first_seen"])
            for e in planted.get("emerging_intents") or [] if e.get("first_seen")]  # fmt: skip


def _exception_templates(frame: pl.DataFrame, sops: Table | None) -> dict[str, Any] | None:
    """Count the flagged exception clusters whose exemplar fills a documented template."""
    if sops is None or "details" not in frame.columns:
        return None
    parsed = []
    for sop_id, text in sops.frame.select("sop_id", "yaml").iter_rows():
        try:
            parsed.append(parse_sop(yaml.safe_load(text), origin=f"table sops: {sop_id}"))
        except (yaml.YAMLError, SopError):
            continue
    counted = count_template_exemplars(frame, parsed)
    return {**counted, "examples": counted["examples"][:5]}


def _outcome_effects(frame: pl.DataFrame, planted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each planted effect of skipping a step beside the impact the stage found.

    The pooled row (the step over every SOP that has it) where there is one, else the
    row of the SOP with the most conversations that skip it (a step of one SOP has no
    pooled row); ``found_scope`` says which.
    """
    needed = {"kind", "step", "metric", "outcome_deviating", "outcome_conforming", "sop_id"}
    if not planted or not needed <= set(frame.columns):
        return []
    found = frame.filter(pl.col("kind") == "outcome_impact")
    if "details" in found.columns:  # the impact of skipping, not of other deviations
        found = found.filter(pl.col("details").str.contains('"deviation": "missing"'))
    results = []
    for effect in planted:
        metric = str(effect.get("metric", "")).removesuffix("_7d")
        rows = found.filter((pl.col("step") == effect.get("step")) & (pl.col("metric") == metric))
        order = [pl.col("sop_id").is_not_null()] + (["n"] if "n" in rows.columns else [])
        rows = rows.sort(order, descending=[False, True][: len(order)], nulls_last=True)
        row = rows.row(0, named=True) if rows.height else None
        true_delta = effect["measured_rate_when_skipped"] - effect["measured_rate_when_done"]
        delta = row and row["outcome_deviating"] - row["outcome_conforming"]
        results.append({
            "step": effect.get("step"),
            "metric": metric,
            "true_skipped": effect["measured_rate_when_skipped"],
            "true_done": effect["measured_rate_when_done"],
            "found_skipped": row and row["outcome_deviating"],
            "found_done": row and row["outcome_conforming"],
            "found_flagged": row and row.get("flagged"),
            "found_scope": row and (row["sop_id"] or "pooled"),
            "same_sign": None if delta is None else (delta > 0) == (true_delta > 0),
            "delta_ratio": None if not delta or not true_delta else delta / true_delta,
        })  # fmt: skip
    return results
