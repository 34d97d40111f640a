"""The quality scoreboard's table, its check against the baseline, and the baseline file.

Pure functions over the figures ``quality.py`` collects: no pipeline run happens here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RESOLUTION = 0.001  # the table prints three decimals: a smaller move is no change
#: stage -> (evaluate's key, label, direction: +1 higher is better, -1 lower, 0 not judged)
FIGURES: dict[str, list[tuple[str, str, int]]] = {
    "intents": [
        ("accuracy", "accuracy (Hungarian, unassigned wrong), median of seeds", 1),
        ("nmi", "NMI", 1),
        ("ari", "ARI", 1),
        ("n_clusters_found", "intents found", 0),
        ("noise_share", "unassigned share", 0),
        ("filler_labels", "labels made only of fillers", -1),
    ],
    # The request rule on MultiDoGO's turn acts: a turn called an answer or small talk.
    "requests": [
        ("precision", "answer turns: precision (contentonly/confirmation/greeting/thanks)", 1),
        ("recall", "answer turns: recall (same four acts)", 1),
        ("precision_all_acts", "  precision, every generic act (+ no, bye, out of domain)", 1),
        ("recall_all_acts", "  recall, every generic act", 1),
    ],
    # Full-log figures first; the narrower ones (only the steps the labels name) beside them.
    "steps": [
        ("per_turn_accuracy", "per-turn accuracy (labelled turns)", 1),
        ("edit_similarity_full_log", "edit similarity, full log", 1),
        ("edit_similarity", "  edit similarity, labels' steps only", 1),
        ("exact_sequence_share", "  exact sequences, labels' steps only", 1),
    ],
    "process": [
        ("f1_full_log", "edge F1 (macro over intents), full log", 1),
        ("f1", "  edge F1, labels' steps only", 1),
    ],
    "conformance": [
        ("conforming_share", "conforming share (checked)", 0),
        ("checked_share", "checked against a SOP", 0),
        ("mean_fitness", "mean fitness", 0),
    ],
    "outcomes": [
        ("accuracy", "accuracy", 1),
        ("macro_recall", "macro recall over true outcomes", 1),
        ("derived_share", "derived from the transcript", 0),
    ],
    # The truth names planted step deviations only: precision is over the flagged findings
    # of those kinds; every flagged finding (what `cxminer drift` prints) is counted beside.
    "drift": [
        ("recall", "recall of the planted drifts", 1),
        ("recall_first_window", "  recall, first window after the onset", 1),
        ("precision", "precision over flagged step deviations", 1),
        ("n_flagged", "  flagged step deviations", 0),
        ("precision_every_kind", "precision over every printed change finding", 1),
        ("n_change_findings", "  printed change findings (steps, mixes, change points)", 0),
        ("n_printed", "  flagged findings of every kind", 0),
        ("n_printed_twice", "  findings printed twice", -1),
    ],
    "readiness": [
        ("spearman", "Spearman vs designed order", 1),
        ("tier_accuracy", "tiers right", 1),
    ],
    # Token-level, on the stored (redacted) turns: recall per personal-data type, and the
    # share of tokens labelled not personal (O) that are kept.
    "redaction": [
        ("o_kept", "O tokens kept", 1),
        ("recall_name", "recall: name", 1),
        ("recall_address", "recall: address", 1),
        ("recall_email", "recall: email", 1),
        ("recall_phone", "recall: phone", 1),
        ("recall_ssn", "recall: ssn", 1),
        ("recall_booking_number", "recall: booking number", 1),
        ("recall_policy_id", "recall: policy id", 1),
        ("recall_claim_id", "recall: claim id", 1),
    ],
}  # fmt: skip


@dataclass
class Figure:
    """One line of the scoreboard."""

    key: str
    run: str
    stage: str
    label: str
    value: float | int | None
    direction: int
    anchors: dict[str, Any] = field(default_factory=dict)
    shown: str | None = None


def format_table(
    figures: list[Figure], spread_of: dict[str, float] | None, baseline: dict | None
) -> str:
    """Render the scoreboard: one line a figure, anchors (and baseline) beside it."""
    base = (baseline or {}).get("figures", {})
    lines = []
    header = f"{'run':<14} {'stage':<12} {'figure':<58} {'value':>12}  anchors"
    if spread_of is not None:
        header += "  [seed spread]"
    lines += [header, "-" * len(header)]
    last = None
    for f in figures:
        where = (f.run, f.stage)
        run, stage = (f.run, f.stage) if where != last else ("", "")
        last = where
        anchors = " | ".join(f"{name} {_fmt(v)}" for name, v in f.anchors.items())
        line = f"{run:<14} {stage:<12} {f.label:<58} {f.shown or _fmt(f.value):>12}  {anchors}"
        if spread_of is not None and f.key in spread_of:
            line += f"  [{_fmt(spread_of[f.key])}]"
        if f.key in base and f.direction:
            expected = base[f.key]["value"]
            if f.key.endswith(".flagged"):  # a yes/no figure beside its rank
                expected = "flagged" if expected else "not flagged"
            line += f"  (baseline {_fmt(expected)})"
        lines.append(line.rstrip())
    return "\n".join(lines)


def format_planted(planted: dict[str, Any]) -> str:
    """Say what the scoreboard planted in each run's copy of the data, one line a drift."""
    lines = []
    for run, drifts in planted.items():
        for name, about in drifts.items():
            now = f", now {about['now']}" if "now" in about else ""
            lines.append(f"{run}: {name}: {about['sop_id']}/{about['step']}{now}, in "
                         f"{about['n_changed']} of {about['n_eligible']} dialogues from "
                         f"{about['onset']}")  # fmt: skip
    return "\n".join(["", "planted:", *lines]) if lines else ""


def check(
    figures: list[Figure], baseline: dict[str, Any], *, ran: set[str]
) -> tuple[list[str], list[str]]:
    """Compare judged figures with the baseline.

    A figure of a run that did not happen this time (its dataset is absent) is not
    judged; one that is missing from a run that did happen is a problem.

    Returns
    -------
    problems, improvements
        One line each: the figure, its value, the baseline, the change and tolerance.
    """
    by_key = {f.key: f for f in figures}
    problems, better = [], []
    for key, base in baseline["figures"].items():
        direction, tolerance, expected = base["direction"], base["tolerance"], base["value"]
        if not direction or key.split(".")[0] not in ran:
            continue
        figure = by_key.get(key)
        value = None if figure is None else figure.value
        if figure is None:
            problems.append(f"{key}: missing (baseline {_fmt(expected)})")
            continue
        if expected is None or value is None:  # a rank that is absent: never printed
            if value is None and expected is not None:
                problems.append(f"{key}: none now (baseline {_fmt(expected)})")
            elif value is not None and expected is None:
                better.append(f"{key}: {_fmt(value)} (baseline none)")
            continue
        change = (value - expected) * direction
        line = (f"{key}: {_fmt(value)} vs baseline {_fmt(expected)} "
                f"({value - expected:+.4f}; tolerance {tolerance:.4f})")  # fmt: skip
        if change < -tolerance:
            problems.append(line)
        elif change > tolerance:
            better.append(line)
    return problems, better


def spread(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Per figure, the largest distance from the first report's value over the others."""
    first = {f["key"]: f["value"] for f in reports[0]["figures"]}
    result: dict[str, float] = {}
    for report in reports[1:]:
        for f in report["figures"]:
            a, b = first.get(f["key"]), f["value"]
            if isinstance(a, int | float) and isinstance(b, int | float):
                result[f["key"]] = max(result.get(f["key"], 0.0), abs(b - a))
            elif a != b:
                result[f["key"]] = float("inf")  # present in one run, absent in another
    return result


def write_baseline(path: Path, report: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Write the judged figures with their tolerances.

    The tolerance is the figure's seed spread (``--noise``) or, without a new
    measurement, the tolerance the old baseline had; never below :data:`RESOLUTION`.
    """
    measured = report.get("spread")
    previous = (old or {}).get("figures", {})
    figures = {}
    for f in report["figures"]:
        if not f["direction"]:
            continue
        if measured is not None:
            tolerance = measured.get(f["key"], 0.0)
        else:
            tolerance = previous.get(f["key"], {}).get("tolerance", 0.0)
        figures[f["key"]] = {"value": f["value"], "direction": f["direction"],
                             "tolerance": max(tolerance, RESOLUTION)}  # fmt: skip
    meta = {**report["meta"], "tolerance_from": "seed spread" if measured else "previous baseline"}
    if measured is not None:
        meta["seeds"] = report.get("seeds")
    path.write_text(json.dumps({"meta": meta, "figures": figures}, indent=1) + "\n")


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)
