"""Stage 9, readiness: which workflows an AI agent can run, with a human gate, or not at all.

:func:`~pipeline.readiness.inputs.readiness_inputs` joins the stage tables into one row
per conversation (the unit the bootstrap resamples) and one row per workflow (facts
that do not vary with the sample); :func:`score_readiness` turns them into the
``readiness`` table; and :func:`format_readiness` prints the ranking. A workflow is the
``workflow_id`` of the event log: the documented SOP where one applies, else the intent.

Score, interval, tier
---------------------
The components, each a value in [0, 1] where 1 is readier, are defined in
:mod:`pipeline.readiness.components`; one that cannot be measured is null and its weight
is shared out over the others. The score is ``100 x sum(w x value) / sum(w)`` over the
measured components. The bootstrap resamples conversations within each workflow
(multinomial weights applied to the per-conversation columns; volume, stability and
risk stay). Its percentile interval is re-centred on the score: resampling repeats
conversations, which lowers the variant entropy and would shift every replicate up. The
tier compares the interval's low end (``tier_on: low``; or the score) with
``autonomous_score`` and ``approval_score``; then each hard gate that applies caps it at
"agent with human approval" (a gate never lowers a tier further). Rank stability is the
share of weight perturbations (each weight times a uniform factor in
``1 +- weight_jitter``) that leave the workflow's rank unchanged. Reasons compare each
component's contribution with the median workflow's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence

import numpy as np
import polars as pl

from pipeline import schema
from pipeline.config import ReadinessConfig
from pipeline.readiness.components import (
    COMPONENTS,
    has_approval_step,
    risk_names,
    workflow_components,
)
from pipeline.readiness.inputs import ReadinessInputs
from pipeline.sops.model import Sop, sop_to_yaml

AUTONOMOUS, APPROVAL, HUMAN_LED = schema.TIERS

# What lifts (first) or sinks (second) a workflow, per component, for the reasons.
_WORDS = {
    "volume": ("high volume", "low volume"),
    "standardisation": ("high standardisation", "low standardisation"),
    "conformance": ("high SOP conformance", "low SOP conformance"),
    "resolution": ("high resolution", "low resolution"),
    "repeat_contact": ("few repeat contacts", "many repeat contacts"),
    "escalation": ("few escalations", "many escalations"),
    "exceptions": ("few exceptions", "many exceptions"),
    "handle_time_spread": ("steady handle time", "variable handle time"),
    "stability": ("stable over time", "unstable over time"),
    "system_actions": ("steps backed by tools", "few steps backed by tools"),
    "risk": ("low risk", "high risk"),
}

_SCHEMA = pl.Schema(
    {
        "workflow_id": pl.String,
        "intent_id": pl.String,
        "sop_id": pl.String,
        "label": pl.String,
        "rank": pl.Int32,
        "n_conversations": pl.Int32,
        "score": pl.Float64,
        "low": pl.Float64,
        "high": pl.Float64,
        "tier": pl.String,
        "gates": pl.List(pl.String),
        "components": pl.String,
        "reasons": pl.List(pl.String),
        "rank_stability": pl.Float64,
        "playbook_source": pl.String,
        "playbook": pl.String,
    }
)


def score_readiness(
    inputs: ReadinessInputs,
    sops: Sequence[Sop],
    *,
    config: ReadinessConfig,
    seed: int = 0,
) -> pl.DataFrame:
    """Score, tier, explain and rank every workflow for autonomy.

    Reads the inputs of :func:`readiness_inputs` and the documented SOPs; produces the
    ``readiness`` table. The components, the score, the interval, the tier rule and rank
    stability are defined in the module docstring. Cost: per workflow, a (replicates x
    conversations) weight matrix times the per-conversation columns, in chunks of
    ``readiness_components._CELLS`` weights; never a Python loop over conversations.

    Parameters
    ----------
    inputs
        Per-conversation and per-workflow inputs.
    sops
        The documented SOPs; a workflow whose id is a ``sop_id`` is documented (the
        highest version counts).
    config
        Weights, thresholds, gates, bootstrap and perturbation settings.
    seed
        Seeds the bootstrap (per workflow, so a workflow's interval does not move when
        others are added) and the weight perturbations.

    Returns
    -------
    polars.DataFrame
        ``schema.batch_columns(schema.READINESS)``, one row per workflow, sorted by
        ``rank`` (1 = highest score; ties by ``workflow_id``). ``low``/``high`` bound the
        ``config.interval`` bootstrap interval; ``gates`` lists every hard gate whose
        condition holds, in words; ``components`` is JSON text: per component its
        ``value`` (null when not measured), ``weight``, ``contribution`` (score points;
        they add up to the score, up to rounding) and ``detail``; ``reasons`` names the
        ``config.n_reasons`` components whose contribution differs most from the
        median workflow's (a value of 0.5 when one workflow is scored), with the points
        of difference; ``rank_stability`` is in [0, 1]; ``playbook`` is the documented
        SOP's YAML (``playbook_source`` ``documented``) or the mined draft
        (``candidate``), null when neither exists.
    """
    sop_of = {s.sop_id: s for s in sorted(sops, key=lambda s: s.version)}
    facts = {row["workflow_id"]: row for row in inputs.workflows.iter_rows(named=True)}
    parts = inputs.conversations.sort("workflow_id", "conversation_id").partition_by(
        "workflow_id", maintain_order=True
    )
    if not parts:
        return pl.DataFrame(schema=_SCHEMA)
    weights = np.array([config.weights[c] for c in COMPONENTS], dtype=np.float64)
    workflows = [part["workflow_id"][0] for part in parts]
    values = np.empty((len(parts), config.bootstrap + 1, len(COMPONENTS)))
    details = []
    for g, (workflow, part) in enumerate(zip(workflows, parts, strict=True)):
        rng = np.random.default_rng([seed, _stable_int(workflow)])
        values[g], detail = workflow_components(
            part, facts.get(workflow, {}), sop_of.get(workflow), config=config, rng=rng
        )
        details.append(detail)
    scores = _scores(values, weights)
    point = scores[:, 0]
    alpha = (1.0 - config.interval) / 2.0
    q_low, q_mid, q_high = np.quantile(scores[:, 1:], [alpha, 0.5, 1.0 - alpha], axis=1)
    low = np.clip(point - (q_mid - q_low), 0.0, 100.0)
    high = np.clip(point + (q_high - q_mid), 0.0, 100.0)
    evidence = np.array([p.height >= config.min_conversations for p in parts])
    ranks = _ranks(point[:, None], evidence)[:, 0]
    perturbed = weights * np.random.default_rng(seed).uniform(
        1.0 - config.weight_jitter, 1.0 + config.weight_jitter, (config.perturbations, weights.size)
    )
    held = (_ranks(_scores(values[:, 0, :], perturbed.T), evidence) == ranks[:, None]).mean(axis=1)
    reasons = _reasons(values[:, 0, :], weights, details, config.n_reasons)
    rows = []
    for g, workflow in enumerate(workflows):
        fact, sop = facts.get(workflow, {}), sop_of.get(workflow)
        n = parts[g].height
        tier, gates = _tier(n, sop, float(point[g]), float(low[g]), config=config)
        candidate = fact.get("candidate_playbook")
        rows.append(
            {
                "workflow_id": workflow,
                "intent_id": fact.get("intent_id"),
                "sop_id": sop.sop_id if sop else None,
                "label": (sop.description if sop and sop.description else None)
                or fact.get("intent_label")
                or fact.get("intent_id")
                or workflow,
                "rank": int(ranks[g]),
                "n_conversations": n,
                "score": float(point[g]),
                "low": float(low[g]),
                "high": float(high[g]),
                "tier": tier,
                "gates": gates,
                "components": _components_json(values[g, 0], weights, details[g]),
                "reasons": reasons[g],
                "rank_stability": float(held[g]),
                "playbook_source": "documented" if sop else ("candidate" if candidate else None),
                "playbook": sop_to_yaml(sop) if sop else candidate,
            }
        )
    return pl.DataFrame(rows, schema=_SCHEMA).sort("rank")


def _stable_int(text: str) -> int:
    return int.from_bytes(hashlib.sha1(text.encode("utf-8"), usedforsecurity=False).digest()[:8])


def _tier(
    n: int, sop: Sop | None, score: float, low: float, *, config: ReadinessConfig
) -> tuple[str, list[str]]:
    """Return the tier and every gate that applies, in words.

    The thresholds judge the interval's low end (``tier_on: low``) or the score; a score
    that clears a threshold its low end misses is named as uncertain. Then a hard gate
    (too few conversations, no documented SOP, moves money or regulated without an
    approval step, or without the ``risky_autonomous_score``) caps the tier at
    "agent with human approval"; too few conversations caps it at "human-led" (no
    evidence that an agent could run the workflow, even with approval).
    """
    evidence = low if config.tier_on == "low" else score
    if evidence >= config.autonomous_score:
        tier = AUTONOMOUS
    else:
        tier = APPROVAL if evidence >= config.approval_score else HUMAN_LED
    gates = [
        f"uncertain: the score reaches {threshold:g} ({name}), the interval's low end "
        f"({low:.1f}) does not"
        for threshold, name in (
            (config.autonomous_score, AUTONOMOUS),
            (config.approval_score, APPROVAL),
        )
        if config.tier_on == "low" and low < threshold <= score
    ][:1]
    hard = []
    too_few = n < config.min_conversations
    if too_few:
        hard.append(
            f"fewer than {config.min_conversations} conversations ({n}): too little evidence"
        )
    if sop is None and config.require_sop:
        hard.append("no documented SOP: review the candidate playbook first")
    risks = risk_names(sop) if sop else ""
    if (
        risks
        and config.risky_needs_approval_gate
        and not has_approval_step(sop, config.approval_words)
    ):
        hard.append(f"{risks}, and the SOP has no approval step")
    elif risks and evidence < config.risky_autonomous_score:
        basis = "interval low end" if config.tier_on == "low" else "score"
        hard.append(
            f"{risks}: autonomy needs {config.risky_autonomous_score:g} ({basis} {evidence:.1f})"
        )
    if too_few:
        tier = HUMAN_LED
    elif hard and tier == AUTONOMOUS:
        tier = APPROVAL
    return tier, gates + hard


def _scores(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Score 0-100: weighted mean of the measured components (``values[..., C]``).

    ``weights`` is ``(C,)`` or ``(C, P)`` (P weight sets, a trailing axis of P scores).
    """
    measured = ~np.isnan(values)
    num = np.where(measured, values, 0.0) @ weights
    den = measured.astype(np.float64) @ weights
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, 100.0 * num / den, 0.0)


_EVIDENCE_FIRST = 1000.0  # above any score (0-100): evidence sorts first


def _ranks(scores: np.ndarray, evidence: np.ndarray) -> np.ndarray:
    """Rank 1 = best of each column of ``scores[workflow, set]``; ties by workflow order.

    Workflows with enough conversations (``evidence``) rank before the others: a
    score from a handful of conversations is no evidence, however high.
    """
    order = np.argsort(-(scores + _EVIDENCE_FIRST * evidence[:, None]), axis=0, kind="stable")
    ranks = np.empty_like(order)
    np.put_along_axis(ranks, order, np.arange(1, scores.shape[0] + 1)[:, None], axis=0)
    return ranks


def _reasons(
    values: np.ndarray, weights: np.ndarray, details: list[dict[str, str]], n_reasons: int
) -> list[list[str]]:
    """Name the components that move each workflow's score most against the average one."""
    measured = ~np.isnan(values)
    reference = np.full(values.shape[1], 0.5)  # one workflow, or a component none measured
    seen = measured.any(axis=0)
    if len(values) > 1:
        reference[seen] = np.nanmedian(values[:, seen], axis=0)
    den = (measured * weights).sum(axis=1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        effect = np.where(measured & (weights > 0), 100.0 * weights * (values - reference) / den, 0)
    reasons = []
    for g, row in enumerate(effect):  # one row per workflow: tiny
        # a component that moves the score by less than 0.05 points neither lifts nor sinks it
        top = [c for c in np.argsort(-np.abs(row), kind="stable") if abs(row[c]) >= 0.05]
        sentences = []
        for c in top[:n_reasons]:
            name = COMPONENTS[c]
            word = _WORDS[name][0 if row[c] >= 0 else 1]
            sentences.append(f"{word}: {details[g][name]} ({row[c]:+.1f} points)")
        reasons.append(sentences)
    return reasons


def _components_json(values: np.ndarray, weights: np.ndarray, details: dict[str, str]) -> str:
    measured = ~np.isnan(values)
    den = float((measured * weights).sum())
    out = {}
    for c, name in enumerate(COMPONENTS):
        value = None if not measured[c] else round(float(values[c]), 4)
        contribution = 0.0 if value is None or den == 0 else 100.0 * weights[c] * values[c] / den
        out[name] = {
            "value": value,
            "weight": float(weights[c]),
            "contribution": round(float(contribution), 2),
            "detail": details[name],
        }
    return json.dumps(out)


def volume_floor(n_total: int, config: ReadinessConfig) -> int:
    """Return the fewest conversations a workflow without a documented SOP needs for a row."""
    return max(config.min_volume, math.ceil(config.min_volume_share * n_total))


def drop_small_workflows(
    inputs: ReadinessInputs, sops: Sequence[Sop], *, config: ReadinessConfig
) -> tuple[ReadinessInputs, dict[str, int]]:
    """Leave out workflows under :func:`volume_floor` that have no documented SOP.

    An intent of a few conversations is most often the residue of an over-split intent,
    not a workflow to hand to an agent; a documented workflow keeps its row at any size.

    Returns
    -------
    tuple
        The inputs without those workflows, and ``workflows``, ``conversations`` and
        ``floor``: how many were left out, their conversations and the floor applied.
    """
    documented = {s.sop_id for s in sops}
    sizes = inputs.conversations.group_by("workflow_id").len("n")
    floor = volume_floor(inputs.conversations.height, config)
    small = sizes.filter((pl.col("n") < floor) & ~pl.col("workflow_id").is_in(list(documented)))
    kept = ReadinessInputs(
        conversations=inputs.conversations.join(small, on="workflow_id", how="anti"),
        workflows=inputs.workflows.join(small, on="workflow_id", how="anti"),
    )
    return kept, {"workflows": small.height, "conversations": int(small["n"].sum()),
                  "floor": floor}  # fmt: skip


def format_readiness(readiness: pl.DataFrame, small: dict[str, int] | None = None) -> str:
    """Render the ranking as plain text: one block per workflow, best first.

    Parameters
    ----------
    readiness
        The ``readiness`` table (any order).

    Returns
    -------
    str
        A header line, then per workflow its rank, id, score with interval, tier, rank
        stability and conversations, followed by its gates and reasons; last, with
        ``small`` (``workflows``, ``conversations``, ``floor``), one line for the small
        intents that got no row.
    """
    rest = ""
    if small and small["workflows"]:
        rest = (
            f"      + {small['workflows']} small intents, {small['conversations']} "
            f"conversations: too little evidence (fewer than {small['floor']} each, no "
            "documented SOP)\n"
        )
    if readiness.is_empty():
        return "no workflows scored\n" + rest
    lines = [
        f"{'rank':>4}  {'workflow':<28} {'score':>5}  {'interval':<13} {'tier':<26} "
        f"{'rank held':>9} {'n':>7}"
    ]
    for row in readiness.sort("rank").iter_rows(named=True):
        interval = f"[{row['low']:.1f}, {row['high']:.1f}]"
        held = "" if row["rank_stability"] is None else f"{row['rank_stability']:.2f}"
        lines.append(
            f"{row['rank']:>4}  {row['workflow_id']:<28} {row['score']:>5.1f}  {interval:<13} "
            f"{row['tier']:<26} {held:>9} {row['n_conversations']:>7}"
        )
        lines.extend(f"{'':6}gate: {gate}" for gate in row["gates"])
        lines.extend(f"{'':6}why: {reason}" for reason in row["reasons"])
    return "\n".join(lines) + "\n" + rest
