"""Score of the drift section: flagged findings against the planted ones in ``drift.json``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline.drift.findings import STEP_KINDS, print_order
from pipeline.errors import LabelsError
from pipeline.evaluate.metrics import match_drift, rank_planted
from pipeline.evaluate.sections import Table, read_truth


def score_drift(drift: Table, truth_dir: Path | None, window_days: int) -> dict[str, Any]:
    """Score flagged findings against ``drift.json``: precision, recall and ranks."""
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
    # Precision is over the kinds a planted finding can have (a step's deviation rate);
    # mix changes, change points, exception clusters and outcome impacts are other
    # questions, counted apart.
    frame = drift.frame
    flagged = frame.filter(pl.col("flagged").fill_null(False))
    step_level = flagged.filter(pl.col("kind").is_in(STEP_KINDS))
    others = flagged.filter(~pl.col("kind").is_in(STEP_KINDS)).group_by("kind").len().sort("kind")
    printed = print_order(flagged).to_dicts()
    ranks = rank_planted(printed, planted, window_days=window_days)
    return {
        "run_id": drift.run_id,
        **match_drift(step_level.to_dicts(), planted, window_days=window_days),
        "n_flagged_other_kinds": dict(others.iter_rows()),
        "n_printed": len(printed),
        "planted": [
            {**{k: truth.get(k) for k in ("sop_id", "step", "kind", "team", "onset")}, "rank": rank}
            for truth, rank in zip(planted, ranks, strict=True)
        ],
        "outcome_effects": _outcome_effects(frame, truth.get("outcome_effects") or []),
    }


def _outcome_effects(frame: pl.DataFrame, planted: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each planted effect of skipping a step beside the pooled impact the stage found."""
    needed = {"kind", "step", "metric", "outcome_deviating", "outcome_conforming", "sop_id"}
    if not planted or not needed <= set(frame.columns):
        return []
    found = frame.filter((pl.col("kind") == "outcome_impact") & pl.col("sop_id").is_null())
    results = []
    for effect in planted:
        metric = str(effect.get("metric", "")).removesuffix("_7d")
        rows = found.filter((pl.col("step") == effect.get("step")) & (pl.col("metric") == metric))
        if "details" in rows.columns:  # the impact of skipping, not of other deviations
            rows = rows.filter(pl.col("details").str.contains('"deviation": "missing"'))
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
            "same_sign": None if delta is None else (delta > 0) == (true_delta > 0),
            "delta_ratio": None if not delta or not true_delta else delta / true_delta,
        })  # fmt: skip
    return results
