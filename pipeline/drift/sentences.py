"""Step-level drift findings in words: each row's sentence, details and id.

The row-writing half of :func:`pipeline.drift.step_rates.find_drift`: :func:`rate_row` turns a
judged step-rate cell, :func:`impact_row` a judged outcome comparison, into a
``drift_findings`` row; :func:`drift_notes` gathers what the sentences say besides the
row (the steps an order violation was done before, the condition of a gate).

Sentences name documented steps by their id with spaces for underscores, steps found in
the data (no SOP's) by their key phrase in quotes (``Notes.names``), agents by the first six
characters of their hash (a keyed hash: never an identity), and "since" the first
window of the run of consecutive flagged tested windows that ends at the row's window.
Python runs here once per finding row, never per conversation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import NamedTuple

import polars as pl

from pipeline.drift.deviations import ALL, METRICS
from pipeline.drift.findings import finding_id
from pipeline.drift.runs import series_details
from pipeline.drift.windows import window_phrase
from pipeline.sops.model import Sop

_VERBS = {  # kind -> (singular, plural) phrase
    "missing": ("skips {step}", "skip {step}"),
    "skipped": ("skips {step}", "skip {step}"),
    "order_violation": ("does {step} before {before}", "do {step} before {before}"),
    "undocumented": ("adds the undocumented step {step}", "add the undocumented step {step}"),
    "gate_skipped": ("skips the approval gate {step}", "skip the approval gate {step}"),
}
_METRIC_WORDS = {"repeat_contact": "re-contacted", "escalated": "escalated", "resolved": "resolved"}


class Notes(NamedTuple):
    """What sentences say besides the row.

    ``before``: (SOP or None, step) -> the steps it was done before, most frequent
    first; ``when``: (SOP, gate step) -> the gate's condition; ``names``: step id ->
    the key phrase of a step found in the data (its ``step_types`` label).
    """

    before: dict[tuple[str | None, str], list[str]]
    when: dict[tuple[str, str], str]
    names: Mapping[str, str] = MappingProxyType({})


def rate_row(row: dict, notes: Notes, *, window: str) -> dict:
    """Return the ``drift_findings`` row of a merged finding or of one tested window.

    Parameters
    ----------
    row
        A finding of :func:`pipeline.drift.runs.merge_runs` (it has ``n_windows``: one
        run of flagged windows, written flagged) or one of its tested windows (it has
        ``window_flagged``: written unflagged, severity ``info``, the series behind the
        finding): the series, counts, p- and q-values, ``since``, ``severity`` and the
        linked outcome columns.
    notes
        From :func:`drift_notes`.
    window
        The window length, for the sentences.
    """
    merged = "n_windows" in row
    group, value = row["group"], row["value"]
    plain = group in (ALL, "team", "agent_hash")  # told apart by the team/agent_hash columns
    kind_key = row["kind"] if plain else f"{row['kind']}|{group}={value}"
    team = value if group == "team" else None
    agent = value if group == "agent_hash" else None
    after = notes.before.get((row["sop_id"], row["step"]), [])
    subject, plural = _subject(group, value)
    verb = _deviation_words(row, notes, plural=plural)
    says = f"{subject} {verb} in {row['rate']:.0%} of {row['sop_id']} conversations"
    baseline = f"baseline {row['baseline']:.0%}"
    details = {
        "deviation": row["kind"],
        "group": group,
        "group_value": value,
        "deviating": row["k"],
        "deviating_baseline": row["k_baseline"],
        "test": row["test"],
        "rate_change_ci": [_round(row["change_low"]), _round(row["change_high"])],
        "since": row["since"].isoformat() if row["since"] else None,
        "before": after if row["kind"] == "order_violation" else None,
        "outcome_scope": row["outcome_scope"],
        "outcome_ratio": _ratio(row),
    }
    if merged:
        sentence = f"Since {row['since'].isoformat()}, {says}"
        if row["n_windows"] > 1:
            peak = window_phrase(row["peak_window"], window)
            sentence += (f" {window_phrase(row['current_window'], window)} (peak "
                         f"{row['peak_rate']:.0%} {peak}; {baseline})")  # fmt: skip
        else:
            sentence += f" ({baseline})"
        if row["metric"] is not None:
            sentence += "; those conversations are " + _outcome_words(row)
        details |= {
            "current_window": row["current_window"].isoformat(),
            "peak_rate": _round(row["peak_rate"]),
            "peak_window": row["peak_window"].isoformat(),
            "n_windows": row["n_windows"],
            "series": series_details(row["series"]),
        }
    else:
        kind_key += "|window"
        when = _capitalised(window_phrase(row["window_start"], window))
        if row["window_flagged"]:
            since = row["since"].isoformat()
            sentence = f"{when}, {says} ({baseline}); part of the finding since {since}"
        else:
            points = _points(row["rate"] - row["baseline"])
            sentence = f"{when}, {says} ({baseline}); not flagged ({points} points, " \
                       f"q = {row['q_value']:.2g})"  # fmt: skip
        details["window_flagged"] = row["window_flagged"]
    ident = {"sop_id": row["sop_id"], "workflow_id": row["sop_id"], "step": row["step"],
             "team": team, "agent_hash": agent, "window_start": row["window_start"]}  # fmt: skip
    return {
        "finding_id": finding_id({**ident, "kind": kind_key}),
        "kind": row["kind"],
        **ident,
        **{c: row[c] for c in ("window_end", "rate", "baseline", "n", "n_baseline", "p_value",
                               "q_value", "metric", "outcome_deviating",
                               "outcome_conforming", "outcome_delta", "ci_low", "ci_high")},
        "flagged": merged,
        "severity": row["severity"] if merged else "info",
        "sentence": sentence + ".",
        "details": json.dumps(details, sort_keys=True),
    }  # fmt: skip


def impact_row(row: dict, notes: Notes, period: tuple) -> dict:
    """Return the ``drift_findings`` row of one judged outcome comparison.

    Parameters
    ----------
    row
        A row of the judged outcome impact: counts, rates, interval, ``flagged``,
        ``harmful`` and ``severity``.
    notes
        From :func:`drift_notes`.
    period
        The first and last day of the windows analysed: the row's window.
    """
    sops = row["sops"]
    after = notes.before.get((row["sop_id"], row["step"]), [])
    verb = _deviation_words(row, notes, plural=True)
    reach = bool(row.get("reach"))
    if reach:  # compared among the conversations that got as far as the step
        verb += " but go on past it"
    if row["sop_id"] is None:
        subject = f"Across {len(sops)} workflows, conversations that {verb}"
    else:
        subject = f"{row['sop_id']} conversations that {verb}"
    ratio = _ratio(row)
    size = f"{ratio:.1f}x; " if ratio is not None else ""
    others = "those that do it" if reach else "the others"
    says = (f"{subject} are {_METRIC_WORDS[row['metric']]} in {row['outcome_deviating']:.0%} "
            f"of cases vs {row['outcome_conforming']:.0%} for {others} ({size}"
            f"{_points(row['outcome_delta'])} points, 95% CI {_points(row['ci_low'])} to "
            f"{_points(row['ci_high'])})")  # fmt: skip
    if row["harmful"]:
        sentence = says
    elif row["flagged"]:
        sentence = f"{says}: this deviation fares better and may be a candidate SOP change"
    else:
        sentence = f"{says}; no significant difference (q = {row['q_value']:.2g})"
    details = {
        "deviation": row["kind"],
        "events_deviating": row["x_dev"],
        "events_conforming": row["x_conf"],
        "ratio": ratio,
        "test": row["test"],
        "harmful": row["harmful"],
        "sops": sops,
        "stratified_delta": _round(row["stratified_delta"]),
        "before": after if row["kind"] == "order_violation" else None,
        "compared": "conversations that did the step or a step documented after it"
        if reach
        else "every conversation of the workflow",
    }
    ident = {"sop_id": row["sop_id"], "workflow_id": row["sop_id"], "step": row["step"],
             "window_start": period[0], "metric": row["metric"]}  # fmt: skip
    return {
        "finding_id": finding_id({**ident, "kind": f"outcome_impact|{row['kind']}"}),
        "kind": "outcome_impact",
        **ident,
        "window_end": period[1],
        "rate": row["n_dev"] / (row["n_dev"] + row["n_conf"]),
        "n": row["n_dev"],
        "n_baseline": row["n_conf"],
        **{c: row[c] for c in ("p_value", "q_value", "flagged", "outcome_deviating",
                               "outcome_conforming", "outcome_delta", "ci_low", "ci_high",
                               "severity")},
        "sentence": sentence + ".",
        "details": json.dumps(details, sort_keys=True),
    }  # fmt: skip


def _subject(group: str, value: str | None) -> tuple[str, bool]:
    """Who deviates, and whether the verb is plural."""
    if group == ALL:
        return "agents", True
    if group == "team":
        return f"team {value}", False
    if group == "agent_hash":
        return f"agent {value[:6]}…", False  # a keyed hash, shortened; never an identity
    return f"agents in {group} {value}", True


def _deviation_words(row: Mapping, notes: Notes, *, plural: bool) -> str:
    key = (row["sop_id"], row["step"])
    after = notes.before.get(key)
    first = step_words(after[0], notes.names) if after else "the step it must follow"
    step = step_words(row["step"], notes.names)
    words = _VERBS[row["kind"]][plural].format(step=step, before=first)
    if row["kind"] == "gate_skipped" and key in notes.when:
        words += f" (required when {notes.when[key]})"
    return words


def step_words(step: str, names: Mapping[str, str]) -> str:
    """Name a step in a sentence, emphasised: its key phrase in quotes, else its id in words."""
    if names.get(step):
        return f"*\u201c{names[step]}\u201d*"
    return "*" + step.replace("_", " ") + "*"


def _outcome_words(row: Mapping) -> str:
    deviating, conforming = row["outcome_deviating"], row["outcome_conforming"]
    rates = f"({deviating:.0%} vs {conforming:.0%})"
    name = _METRIC_WORDS[row["metric"]]
    if METRICS[row["metric"]] < 0:
        return f"{name} less often {rates}"
    if conforming > 0:
        return f"{name} {deviating / conforming:.1f}x as often {rates}"
    return f"{name} more often {rates}"


def _ratio(row: Mapping) -> float | None:
    if row["metric"] is None or not row["outcome_conforming"]:
        return None
    return _round(row["outcome_deviating"] / row["outcome_conforming"])


def _capitalised(phrase: str) -> str:
    return phrase[0].upper() + phrase[1:]


def _points(share: float) -> str:
    """Format a difference of shares in signed percentage points (never "-0")."""
    return f"{round(100 * share):+d}"


def _round(value: float | None) -> float | None:
    return None if value is None else round(float(value), 4)


def drift_notes(
    deviations: pl.DataFrame, sops: Mapping[str, Sop], names: Mapping[str, str] | None = None
) -> Notes:
    """Gather what the sentences say besides the row.

    Parameters
    ----------
    deviations
        ``sop_id, kind, step, before``, one row per (conversation, SOP, kind, step)
        (:func:`pipeline.drift.deviations.explode_deviations`).
    sops
        sop_id -> :class:`~pipeline.sops.model.Sop`, for the conditions of approval gates.
    names
        Step id -> key phrase, for the steps found in the data (no SOP's).
    """
    return Notes(before=_before_steps(deviations), when=_gate_conditions(sops),
                 names=dict(names or {}))  # fmt: skip


def _before_steps(deviations: pl.DataFrame) -> dict[tuple[str | None, str], list[str]]:
    """(SOP, step) and (None, step) -> the steps it was done before, most frequent first."""
    order = deviations.filter(pl.col("kind") == "order_violation")
    result: dict[tuple[str | None, str], list[str]] = {}
    for keys in (["sop_id", "step"], ["step"]):
        counts = (
            order.group_by(*keys, "before")
            .agg(n=pl.len())
            .sort("n", "before", descending=[True, False])
        )
        for row in counts.group_by(keys, maintain_order=True).agg("before").iter_rows(named=True):
            result[(row.get("sop_id"), row["step"])] = row["before"]
    return result


def _gate_conditions(sops: Mapping[str, Sop]) -> dict[tuple[str, str], str]:
    return {(sop_id, step.id): step.when for sop_id, sop in sops.items() for step in sop.steps
            if step.when}  # fmt: skip
