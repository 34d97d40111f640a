"""A bundle's evidence: what the transcripts show about each step, its monitors, its story.

Pure functions over one workflow's frames (:mod:`pipeline.playbook.run` reads them):

- :func:`observed`: the playbook's ``observed`` section. Per step its decision
  (mandatory, discretionary or an approval gate, as the playbook says) beside the share
  of conversations that perform it; the tools called at it (action name, share of the
  step's calls, failure rate); decision points (a step whose conversations go on to two or more next
  steps, each taking at least ``branch_share`` of them); a proposed approval gate with
  its reason; the content hash and version at export (the version rule of
  :mod:`pipeline.playbook.govern` holds an edited playbook to them).
- :func:`monitors`: per step the expected rate and its alert band, per workflow the
  outcome KPIs (resolution, escalation, repeat contact, failed tool calls) with their
  current value and band.
- :func:`evidence_markdown`: EVIDENCE.md, in plain words.

Bands: a weekly rate is expected within ``expected +- max(min_effect, 2 * sqrt(p (1 - p) /
n_week))`` (``n_week``: the workflow's mean conversations a week; the drift stage's
``min_effect`` is the smallest change worth an alert). Everything here is counts and
shares of the stored (redacted) data: no text, no id of a conversation, agent or customer.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from pipeline.process.log import END
from pipeline.sops.model import Sop, content_hash

#: Readiness tiers that ask for a human approval before the workflow's risky step.
APPROVAL_TIERS = ("agent with human approval",)


def observed(
    sop: Sop,
    events: pl.DataFrame,
    edges: pl.DataFrame,
    *,
    tier: str | None,
    branch_share: float,
) -> dict[str, Any]:
    """Return the ``observed`` section of a bundle's playbook.

    Parameters
    ----------
    sop
        The playbook (a documented SOP, or the workflow's mined draft).
    events
        The workflow's step events: ``conversation_id, step_id, action_name,
        action_status`` (action columns null for utterances).
    edges
        The workflow's directly-follows graph: ``src, dst, n``.
    tier
        The workflow's readiness tier, if scored.
    branch_share
        A next step is a branch of a decision point from this share of its exits.
    """
    n = events["conversation_id"].n_unique()
    performed = _performed(events)
    calls = (
        events.filter(pl.col("action_name").is_not_null())
        .group_by("step_id", "action_name")
        .agg(calls=pl.len(), failed=(pl.col("action_status") == "failed").sum())
        .sort("step_id", "calls", "action_name", descending=[False, True, False])
    )
    steps: dict[str, Any] = {}
    for step in sop.steps:
        if not step.is_process:
            continue
        mine = calls.filter(pl.col("step_id") == step.id)
        total = int(mine["calls"].sum()) if mine.height else 0
        steps[step.id] = {
            "decision": step.decision,
            "performed_share": round(performed.get(step.id, 0) / n, 4) if n else 0.0,
        }
        if total:
            steps[step.id]["tools"] = [
                {"name": name, "share_of_calls": round(k / total, 4),
                 "failure_rate": round(failed / k, 4)}
                for name, k, failed in mine.select("action_name", "calls", "failed").iter_rows()
            ]  # fmt: skip
    return {
        "content_hash": content_hash(sop),
        "exported_version": sop.version,
        "conversations": n,
        "steps": steps,
        "decision_points": decision_points(edges, set(steps), branch_share=branch_share),
        "proposed_gates": proposed_gates(sop, tier),
    }


def _performed(events: pl.DataFrame) -> dict[str, int]:
    """Step id -> how many conversations perform it."""
    return dict(events.group_by("step_id").agg(pl.col("conversation_id").n_unique()).iter_rows())


def decision_points(
    edges: pl.DataFrame, steps: set[str], *, branch_share: float
) -> dict[str, dict[str, float]]:
    """Return the steps whose exits split: next step (or ``end``) -> its share of the exits.

    Only exits to the playbook's process steps or to the end of the conversation count
    (a closing or off-script talk is no decision).
    """
    exits = (
        edges.with_columns(dst=pl.col("dst").replace({END: "end"}))
        .filter(pl.col("src").is_in(sorted(steps)) & pl.col("dst").is_in([*sorted(steps), "end"]))
        .with_columns(share=pl.col("n") / pl.col("n").sum().over("src"))
    )
    points: dict[str, dict[str, float]] = {}
    for (src,), part in exits.sort("src", "n", descending=[False, True]).group_by(
        "src", maintain_order=True
    ):
        branches = part.filter(pl.col("share") >= branch_share)
        if branches.height >= 2:
            pairs = branches.select("dst", "share").iter_rows()
            points[str(src)] = {str(d): round(float(s), 4) for d, s in pairs}
    return points


def proposed_gates(sop: Sop, tier: str | None) -> list[dict[str, str]]:
    """Propose an approval gate for a risky or approval-tier workflow that has none.

    The workflow moves money or is regulated (its ``risk``), or its readiness tier asks
    for a human approval, and no step of the playbook is a gate (``when``): one gate is
    proposed, before the last mandatory step that calls a tool (the step that acts: the
    refund, the closure), its reason in words. A playbook with a gate keeps its own.
    """
    why = [reason for flag, reason in (
        (sop.risk.moves_money, "the workflow moves money"),
        (sop.risk.regulated, "the workflow is regulated"),
        (tier in APPROVAL_TIERS, f"its readiness tier is '{tier}'"),
    ) if flag]  # fmt: skip
    if not why or any(step.when is not None for step in sop.steps):
        return []
    acting = [s for s in sop.steps if s.is_process and s.mandatory and s.action]
    if not acting:
        return []
    step = acting[-1]
    return [
        {
            "before": step.id,
            "tool": step.action,
            "reason": f"{' and '.join(why)}, and {step.id} acts through {step.action}",
        }
    ]


def monitors(
    sop: Sop,
    events: pl.DataFrame,
    outcomes: pl.DataFrame,
    *,
    weeks: float,
    min_effect: float,
) -> dict[str, Any]:
    """Return monitors.yaml: per step the expected rate and band, per workflow the KPIs.

    Parameters
    ----------
    events
        As :func:`observed` takes them.
    outcomes
        The workflow's conversations' ``resolved, escalated, repeat_contact``.
    weeks
        The weeks the data spans (at least 1): the band is for a week's rate.
    min_effect
        The smallest change worth an alert (``drift.min_effect``).
    """
    n = events["conversation_id"].n_unique()
    per_week = max(n / max(weeks, 1.0), 1.0)
    performed = _performed(events)
    steps = {
        step.id: _band(performed.get(step.id, 0) / n if n else 0.0, per_week, min_effect)
        for step in sop.steps
        if step.is_process
    }
    kpis: dict[str, Any] = {}
    for metric, column in (("resolution", "resolved"), ("escalation", "escalated"),
                           ("repeat_contact", "repeat_contact")):  # fmt: skip
        known = outcomes[column].drop_nulls() if column in outcomes.columns else pl.Series([])
        if known.len():
            kpis[metric] = _band(float(known.cast(pl.Float64).mean()), per_week, min_effect)
    tool = events.filter(pl.col("action_name").is_not_null())
    if tool.height:
        failed = float((tool["action_status"] == "failed").mean() or 0.0)
        kpis["failed_tool_calls"] = _band(failed, max(tool.height / max(weeks, 1.0), 1.0),
                                          min_effect)  # fmt: skip
    return {
        "workflow": sop.sop_id,
        "playbook_version": sop.version,
        "window": "week",
        "conversations_per_week": round(per_week, 1),
        "steps": steps,
        "kpis": kpis,
    }


def _band(rate: float, n: float, min_effect: float) -> dict[str, float]:
    width = max(min_effect, 2.0 * math.sqrt(rate * (1.0 - rate) / n))
    return {"expected": round(rate, 4), "alert_below": round(max(0.0, rate - width), 4),
            "alert_above": round(min(1.0, rate + width), 4)}  # fmt: skip


def evidence_markdown(
    sop: Sop,
    seen: Mapping[str, Any],
    *,
    outcome_shares: Mapping[str, float],
    readiness: Mapping[str, Any] | None,
    variants: Sequence[tuple[Sequence[str], float]],
    findings: Sequence[str],
    n_cases: Mapping[str, int],
) -> str:
    """Return EVIDENCE.md: the workflow's evidence in plain words."""
    lines = [f"# Evidence for {sop.sop_id} (playbook version {sop.version})", ""]
    lines.append(f"- Conversations analysed: {seen['conversations']}.")
    if outcome_shares:
        said = ", ".join(f"{k.replace('_', ' ')} {v:.0%}" for k, v in outcome_shares.items())
        lines.append(f"- Outcomes: {said}.")
    if readiness:
        lines.append(
            f"- Readiness: {readiness['score']:.0f} (interval {readiness['low']:.0f} to "
            f"{readiness['high']:.0f}), tier '{readiness['tier']}'."
        )
        for reason in readiness.get("reasons") or []:
            lines.append(f"  - {reason}")
    lines.append(f"- Content hash of the procedure: {seen['content_hash']}.")
    lines += ["", "## Steps", ""]
    for step_id, about in seen["steps"].items():
        tools = "; ".join(
            f"calls {t['name']} ({t['share_of_calls']:.0%} of its calls, "
            f"{t['failure_rate']:.0%} failed)"
            for t in about.get("tools", [])
        )
        lines.append(f"- {step_id}: {about['decision']}, done in {about['performed_share']:.0%} "
                     f"of conversations" + (f"; {tools}" if tools else "") + ".")  # fmt: skip
    if seen["decision_points"]:
        lines += ["", "## Decision points", ""]
        for step_id, branches in seen["decision_points"].items():
            said = ", ".join(f"{d} {s:.0%}" for d, s in branches.items())
            lines.append(f"- After {step_id}: {said}.")
    if seen["proposed_gates"]:
        lines += ["", "## Proposed approval gates", ""]
        lines += [f"- Before {g['before']}: {g['reason']}." for g in seen["proposed_gates"]]
    lines += ["", "## Most common paths", ""]
    lines += [f"- {share:.0%}: {' > '.join(seq)}" for seq, share in variants]
    lines += ["", "## Drift findings and exception clusters", ""]
    lines += [f"- {sentence}" for sentence in findings] or ["- None flagged."]
    lines += ["", "## Tests", "",
              f"- {n_cases.get('golden', 0)} golden cases and {n_cases.get('deviation', 0)} "
              "known deviations mined from these conversations (tests/)."]  # fmt: skip
    return "\n".join(lines) + "\n"
