"""Stage 9, readiness: which workflows an AI agent can run, with a human gate, or not at all.

:func:`readiness_inputs` joins the stage tables into one row per conversation (the unit
the bootstrap resamples) and one row per workflow (facts that do not vary with the
sample); :func:`score_readiness` turns them into the ``readiness`` table; and
:func:`format_readiness` prints the ranking. A workflow is the ``workflow_id`` of the
event log: the documented SOP where one applies, else the intent.

Components
----------
Each is a value in [0, 1] where 1 is readier (config keys in ``readiness.``); one that
cannot be measured (no documented SOP, never tested for drift) is null and its weight
is shared out over the others.

volume
    ``log(1 + n) / log(1 + volume_full)``, capped at 1: payoff and evidence grow with
    orders of magnitude of volume, not linearly.
standardisation
    ``1 - H / log(n)``: ``H`` is the entropy of the workflow's trace variants (its
    steps in order, without ``other``, greetings, closings and consecutive repeats),
    ``log(n)`` its largest possible value (every conversation a variant of its own).
conformance
    Mean fitness against the documented SOP (``conformance.fitness``).
resolution, repeat_contact, escalation, exceptions, handle_time_spread
    A level where 0 is ideal, mapped to ``max(0, 1 - level / zero_at[component])``:
    the share not resolved; followed by a repeat contact; escalated or transferred;
    exceptional (an undocumented step, or an off-script turn: ``other``, which no step
    explains); and the coefficient of variation of agent turns (or duration).
stability
    ``1 - c / w``: of the ``w`` windows in which the drift stage tested the workflow,
    ``c`` start a change (a flagged finding of ``stability_kinds`` whose series was not
    flagged in its previous tested window: a deviation that persists is one change).
system_actions
    Of the steps performed (distinct per conversation), the share bound to a tool: an
    ``action`` in the SOP, or a logged action that no step is bound to.
risk
    ``1 - risk_moves_money x moves_money - risk_regulated x regulated``, plus
    ``approval_credit`` when such an SOP has an approval step (a ``when`` condition, or
    an id or action holding one of ``approval_words``). From the SOP alone.

Score, interval, tier
---------------------
The score is ``100 x sum(w x value) / sum(w)`` over the measured components. The
bootstrap resamples conversations within each workflow (multinomial weights applied to
the per-conversation columns; volume, stability and risk stay). Its percentile interval
is re-centred on the score: resampling repeats conversations, which lowers the variant
entropy and would shift every replicate up. The tier compares the interval's low end
(``tier_on: low``; or the score) with ``autonomous_score`` and ``approval_score``; then
each hard gate that applies caps it at "agent with human approval" (a gate never lowers
a tier further). Rank stability is the share of weight perturbations (each weight times
a uniform factor in ``1 +- weight_jitter``) that leave the workflow's rank unchanged.
Reasons compare each component's contribution with the median workflow's.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl
from scipy import sparse

from pipeline import schema
from pipeline.config import READINESS_COMPONENTS, ReadinessConfig
from pipeline.discover import draft_sop, variant_id, variant_of_case
from pipeline.errors import SchemaError, SopError
from pipeline.sop import Sop, sop_to_yaml

AUTONOMOUS, APPROVAL, HUMAN_LED = schema.TIERS
OTHER = "other"  # the steps stage's outlier turns: no step explains them
COMPONENTS = READINESS_COMPONENTS
_CELLS = 4_000_000  # bootstrap weights held at once (replicates x conversations): ~32 MB

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

CONVERSATION_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "workflow_id": pl.String,
        "intent_id": pl.String,
        "variant_id": pl.String,
        "fitness": pl.Float64,
        "has_exception": pl.Boolean,
        "resolved": pl.Boolean,
        "escalated": pl.Boolean,
        "repeat_contact": pl.Boolean,
        "n_agent_turns": pl.Int64,
        "duration_s": pl.Float64,
        "n_steps": pl.Int64,
        "n_action_steps": pl.Int64,
        "started_at": pl.Datetime("us", "UTC"),
    }
)


@dataclass(frozen=True)
class ReadinessInputs:
    """What :func:`score_readiness` needs, from :func:`readiness_inputs`.

    Attributes
    ----------
    conversations
        :data:`CONVERSATION_SCHEMA`, one row per conversation with a workflow.
    workflows
        One row per workflow: ``workflow_id, intent_id`` (its most common intent),
        ``intent_label`` (null unless ``conversations`` had one), ``n_windows,
        n_unstable_windows, stability`` (null when drift tested no window) and
        ``candidate_playbook`` (YAML of the mined draft, for workflows without a
        documented SOP; null when there is none).
    """

    conversations: pl.DataFrame
    workflows: pl.DataFrame


def readiness_inputs(
    conversations: pl.DataFrame,
    outcomes: pl.DataFrame,
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    drift_findings: pl.DataFrame,
    candidate_sops: pl.DataFrame,
    step_types: pl.DataFrame,
    *,
    sops: Sequence[Sop] = (),
    config: ReadinessConfig | None = None,
) -> ReadinessInputs:
    """Join the stage tables into per-conversation and per-workflow readiness inputs.

    Reads ``conversations``, ``outcomes``, ``conformance``, ``step_events``,
    ``drift_findings``, ``candidate_sops`` and ``step_types`` (their ``schema.COLUMNS``;
    extra columns are ignored). The ``variants`` table is not read: its variants keep
    greetings, closings and ``other``, which standardisation leaves out, so they are
    recounted from ``step_events``.

    Parameters
    ----------
    conversations
        ``conversation_id, started_at`` and ``intent_id`` (from ``intent_assignments``);
        optionally ``intent_label`` (the intent's label).
    outcomes
        ``conversation_id, workflow_id, resolved, escalated, repeat_contact,
        n_agent_turns, duration_s``.
    conformance
        ``conversation_id, version, fitness, undocumented`` (the highest version counts).
    step_events
        ``conversation_id, seq, step_id, source, sop_id, workflow_id, is_repeat``.
    drift_findings
        ``kind, sop_id, workflow_id, window_start, flagged`` (and the series columns
        ``step, team, agent_hash, metric`` where present).
    candidate_sops
        The mined candidate SOPs, for the playbook of undocumented workflows.
    step_types
        ``step_id, label, source`` (and ``exemplar``, ``sop_steps`` where present).
    sops
        The documented SOPs: which steps are bound to a tool, which are no step.
    config
        The drift kinds that count against stability; the defaults when None.

    Returns
    -------
    ReadinessInputs
        A conversation takes the workflow of its step events, else of its outcome,
        else its intent; one with none of these is left out.

    Raises
    ------
    SchemaError
        A table lacks a needed column.
    """
    config = config or ReadinessConfig()
    _require(conversations, ("conversation_id", "intent_id", "started_at"), "conversations")
    _require(
        outcomes,
        ("conversation_id", "workflow_id", "resolved", "escalated", "repeat_contact")
        + ("n_agent_turns", "duration_s"),
        "outcomes",
    )
    _require(conformance, ("conversation_id", "version", "fitness", "undocumented"), "conformance")
    _require(
        step_events,
        ("conversation_id", "seq", "step_id", "source", "sop_id", "workflow_id", "is_repeat"),
        "step_events",
    )
    _require(
        drift_findings,
        ("kind", "sop_id", "workflow_id", "window_start", "flagged"),
        "drift_findings",
    )
    _require(step_types, ("step_id", "label", "source"), "step_types")
    ignore = _not_steps(step_types, sops)
    events = step_events.filter(~pl.col("is_repeat"))
    steps = events.filter(~pl.col("step_id").is_in(ignore) & pl.col("workflow_id").is_not_null())
    bound = pl.DataFrame(
        [(s.sop_id, step.id) for s in sops for step in s.steps if step.action],
        schema={"sop_id": pl.String, "step_id": pl.String},
        orient="row",
    ).with_columns(_bound=pl.lit(True))
    per_step = (
        steps.join(bound, on=["sop_id", "step_id"], how="left")
        .group_by("conversation_id", "step_id")
        .agg(_backed=(pl.col("_bound").fill_null(False) | (pl.col("source") == "action")).any())
        .group_by("conversation_id")
        .agg(n_steps=pl.len().cast(pl.Int64), n_action_steps=pl.col("_backed").sum().cast(pl.Int64))
    )
    of_case = variant_of_case(steps, intent_col="workflow_id").select(
        "conversation_id", "variant_id"
    )
    outliers = step_events.filter(pl.col("step_id") == OTHER)["conversation_id"].unique()
    workflow = events.group_by("conversation_id").agg(
        _events_workflow=pl.col("workflow_id").drop_nulls().first()
    )
    fitness = (
        conformance.sort("conversation_id", "version")
        .group_by("conversation_id")
        .agg(pl.col("fitness").last(), _undocumented=pl.col("undocumented").last().list.len() > 0)
    )
    outcome_cols = ["resolved", "escalated", "repeat_contact", "n_agent_turns", "duration_s"]
    label = ["intent_label"] if "intent_label" in conversations.columns else []
    frame = (
        conversations.select("conversation_id", "intent_id", "started_at", *label)
        .join(workflow, on="conversation_id", how="left")
        .join(
            outcomes.select(
                "conversation_id", pl.col("workflow_id").alias("_outcome_workflow"), *outcome_cols
            ),
            on="conversation_id",
            how="left",
        )
        .with_columns(workflow_id=pl.coalesce("_events_workflow", "_outcome_workflow", "intent_id"))
        .filter(pl.col("workflow_id").is_not_null())
        .join(of_case, on="conversation_id", how="left")
        .join(fitness, on="conversation_id", how="left")
        .join(per_step, on="conversation_id", how="left")
    )
    frame = frame.with_columns(
        pl.col("variant_id").fill_null(variant_id(())),
        pl.col("n_steps", "n_action_steps").fill_null(0),
        has_exception=pl.col("_undocumented").fill_null(False)
        | pl.col("conversation_id").is_in(outliers.implode()),
    )
    conversations_out = frame.select(
        [pl.col(name).cast(dtype) for name, dtype in CONVERSATION_SCHEMA.items()]
    ).sort("workflow_id", "conversation_id")
    per_workflow = frame.group_by("workflow_id").agg(
        intent_id=pl.col("intent_id").drop_nulls().mode().sort().first(),
        intent_label=(
            pl.col("intent_label").drop_nulls().mode().sort().first()
            if label
            else pl.lit(None, dtype=pl.String)
        ),
    )
    workflows = per_workflow.join(
        _stability(drift_findings, config.stability_kinds), on="workflow_id", how="left"
    ).sort("workflow_id")
    documented = {s.sop_id for s in sops}
    undocumented = [w for w in workflows["workflow_id"].to_list() if w not in documented]
    drafts = _drafts(candidate_sops, step_types, undocumented, ignore)
    workflows = workflows.with_columns(
        candidate_playbook=pl.col("workflow_id").replace_strict(
            drafts, default=None, return_dtype=pl.String
        )
    )
    return ReadinessInputs(conversations=conversations_out, workflows=workflows)


def _not_steps(step_types: pl.DataFrame, sops: Sequence[Sop]) -> list[str]:
    """Step ids that are no workflow step: ``other``, greetings, closings.

    With ``sop_steps`` (the steps stage's own frame), a ``sop`` type standing for no SOP
    step (:func:`pipeline.process.not_steps`); without it (the stored table), a ``sop``
    type that no SOP names.
    """
    generic = pl.col("source") == "sop"
    if "sop_steps" in step_types.columns:
        generic &= pl.col("sop_steps").list.len() == 0
    else:
        generic &= ~pl.col("step_id").is_in([step.id for s in sops for step in s.steps])
    return sorted({OTHER, *step_types.filter(generic)["step_id"].to_list()})


def _stability(drift_findings: pl.DataFrame, kinds: Collection[str]) -> pl.DataFrame:
    """Per workflow: windows tested, windows where a flagged change starts, stability.

    A series is one (kind, step, group, metric) of a workflow; a change starts in a
    flagged window whose previous tested window in the series was not flagged. A
    deviation that persists from week 8 on is one change, not five unstable weeks:
    that it departs from the SOP is conformance's business.
    """
    series = [c for c in ("kind", "step", "team", "agent_hash", "metric") if c in drift_findings]
    rows = (
        drift_findings.with_columns(workflow_id=pl.coalesce("workflow_id", "sop_id"))
        .filter(
            pl.col("kind").is_in(list(kinds))
            & pl.col("workflow_id").is_not_null()
            & pl.col("window_start").is_not_null()
        )
        .sort("window_start")
    )
    before = pl.col("flagged").shift(1).over("workflow_id", *series).fill_null(False)
    return (
        rows.with_columns(_starts=pl.col("flagged") & ~before)
        .group_by("workflow_id")
        .agg(
            n_windows=pl.col("window_start").n_unique().cast(pl.Int64),
            n_unstable_windows=pl.col("window_start").filter("_starts").n_unique().cast(pl.Int64),
        )
        .with_columns(stability=1.0 - pl.col("n_unstable_windows") / pl.col("n_windows"))
    )


def _drafts(
    candidate_sops: pl.DataFrame,
    step_types: pl.DataFrame,
    workflows: Sequence[str],
    ignore: Sequence[str],
) -> dict[str, str | None]:
    """Return the mined playbook draft of each workflow as YAML (None: no draftable step)."""
    labels = dict(step_types.select("step_id", "label").iter_rows())
    examples = {}
    if "exemplar" in step_types.columns:
        exemplars = step_types.filter(pl.col("exemplar").is_not_null())
        examples = {s: [e] for s, e in exemplars.select("step_id", "exemplar").iter_rows()}
    drafts: dict[str, str | None] = {}
    for workflow in workflows:  # one draft per undocumented workflow: few
        try:
            draft = draft_sop(
                candidate_sops,
                intent_id=workflow,
                labels=labels,
                examples=examples,
                omit=ignore,
                intent_col="workflow_id",
            )
        except SopError:
            drafts[workflow] = None
        else:
            drafts[workflow] = sop_to_yaml(draft)
    return drafts


def _require(frame: pl.DataFrame, columns: Sequence[str], table: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{table}: expected columns {', '.join(columns)}, missing {', '.join(missing)}; "
            f"pass the {table} table as the store returns it"
        )


# ---- scoring ---------------------------------------------------------------------------
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
    ``_CELLS`` weights; never a Python loop over conversations.

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
        values[g], detail = _components(
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


def _resampled_sums(
    columns: np.ndarray, codes: np.ndarray, n_codes: int, *, replicates: int, rng
) -> tuple[np.ndarray, np.ndarray]:
    """Weighted column sums and variant counts: row 0 the data, then bootstrap replicates.

    Each replicate weights the ``n`` conversations by multinomial counts (a resample
    with replacement); weights are drawn ``_CELLS // n`` replicates at a time.
    """
    n = columns.shape[0]
    onehot = sparse.csr_matrix((np.ones(n), (np.arange(n), codes)), shape=(n, n_codes))
    sums, counts = [columns.sum(axis=0)[None, :]], [np.asarray(onehot.sum(axis=0))]
    step = max(1, _CELLS // n)
    for start in range(0, replicates, step):
        draws = rng.multinomial(n, np.full(n, 1.0 / n), size=min(step, replicates - start))
        sums.append(draws.astype(np.float64) @ columns)  # float: BLAS, not numpy's int loop
        counts.append(np.asarray((onehot.T @ draws.T).T))
    return np.vstack(sums), np.vstack(counts)


def _components(
    part: pl.DataFrame, fact: dict, sop: Sop | None, *, config: ReadinessConfig, rng
) -> tuple[np.ndarray, dict[str, str]]:
    """Return the (1 + replicates) x components values of one workflow, and the details."""
    n = part.height
    spread = "n_agent_turns" if config.handle_time == "turns" else "duration_s"
    measures = part.select(
        pl.col("fitness"),
        pl.col("resolved", "escalated", "repeat_contact", "has_exception").cast(pl.Float64),
        _spread=pl.col(spread).cast(pl.Float64),
        _spread2=pl.col(spread).cast(pl.Float64) ** 2,
        _steps=pl.col("n_steps").cast(pl.Float64),
        _actions=pl.col("n_action_steps").cast(pl.Float64),
    ).to_numpy()
    measured = ~np.isnan(measures)
    variant_index = part["variant_id"].rank("dense").cast(pl.Int64).to_numpy() - 1
    n_variants = int(variant_index.max()) + 1
    sums, counts = _resampled_sums(
        np.hstack([np.where(measured, measures, 0.0), measured.astype(np.float64)]),
        variant_index,
        n_variants,
        replicates=config.bootstrap,
        rng=rng,
    )
    k = measures.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = sums[:, :k] / sums[:, k:]
        fitness, resolved, escalated, repeat, exception, mu, mu2, steps, actions = mean.T
        cv = np.where(mu > 0, np.sqrt(np.maximum(mu2 - mu**2, 0.0)) / mu, 0.0)
        cv = np.where(np.isnan(mu), np.nan, cv)
        shares = counts / n
        entropy = -(shares * np.log(np.where(shares > 0, shares, 1.0))).sum(axis=1)
        standardisation = 1.0 - entropy / math.log(n) if n > 1 else np.ones(len(counts))
        backed = actions / steps
    risk, risk_detail = _risk(sop, config)
    stability = fact.get("stability")
    zero = config.zero_at
    columns = {
        "volume": np.full(len(counts), min(1.0, math.log1p(n) / math.log1p(config.volume_full))),
        "standardisation": standardisation,
        "conformance": fitness,
        "resolution": _falling(1.0 - resolved, zero["resolution"]),
        "repeat_contact": _falling(repeat, zero["repeat_contact"]),
        "escalation": _falling(escalated, zero["escalation"]),
        "exceptions": _falling(exception, zero["exceptions"]),
        "handle_time_spread": _falling(cv, zero["handle_time_spread"]),
        "stability": np.full(len(counts), np.nan if stability is None else stability),
        "system_actions": backed,
        "risk": np.full(len(counts), risk),
    }
    values = np.column_stack([columns[c] for c in COMPONENTS])
    order = np.sort(counts[0])[::-1].cumsum() / n
    cover = int(np.searchsorted(order, config.variant_cover - 1e-9) + 1)
    unit = "agent turns" if config.handle_time == "turns" else "handle time"
    details = {
        "volume": f"{n} conversations",
        "standardisation": f"{cover} of {n_variants} variants cover "
        f"{config.variant_cover:.0%} of calls",
        "conformance": _said(fitness[0], "mean fitness {:.2f} against the documented SOP"),
        "resolution": _said(resolved[0], "{:.0%} of calls resolved"),
        "repeat_contact": _said(repeat[0], "{:.0%} of calls followed by a repeat contact"),
        "escalation": _said(escalated[0], "{:.0%} of calls escalated or transferred"),
        "exceptions": _said(
            exception[0], "{:.0%} of calls with undocumented steps or off-script turns"
        ),
        "handle_time_spread": _said(cv[0], unit + " vary by {:.0%} around their mean"),
        "stability": "not tested for drift"
        if stability is None
        else f"drift starts in {fact['n_unstable_windows']} of {fact['n_windows']} windows",
        "system_actions": _said(backed[0], "{:.0%} of performed steps are bound to a tool"),
        "risk": risk_detail,
    }
    return values, details


def _said(value: float, template: str) -> str:
    return "not measured" if math.isnan(value) else template.format(value)


def _falling(level: np.ndarray, zero_at: float) -> np.ndarray:
    """Map a level where 0 is ideal onto [0, 1]: 1 at 0, falling linearly to 0 at ``zero_at``."""
    return np.clip(1.0 - level / zero_at, 0.0, 1.0)


def _approval_step(sop: Sop, words: Sequence[str]) -> bool:
    """Whether the SOP has an approval step: a ``when`` gate, or an id/action naming one."""
    return any(
        step.when is not None or any(w in f"{step.id} {step.action or ''}".lower() for w in words)
        for step in sop.steps
    )


def _risks(sop: Sop) -> str:
    flags = [name for name, on in (("moves money", sop.risk.moves_money),
                                   ("regulated", sop.risk.regulated)) if on]  # fmt: skip
    return " and ".join(flags)


def _risk(sop: Sop | None, config: ReadinessConfig) -> tuple[float, str]:
    if sop is None:
        return math.nan, "no documented SOP: risk unknown"
    risks = _risks(sop)
    if not risks:
        return 1.0, "neither moves money nor regulated"
    gated = _approval_step(sop, config.approval_words)
    value = (
        1.0
        - config.risk_moves_money * sop.risk.moves_money
        - config.risk_regulated * sop.risk.regulated
        + config.approval_credit * gated
    )
    where = "with" if gated else "without"
    return min(1.0, max(0.0, value)), f"{risks}, {where} an approval step in the SOP"


def _tier(
    n: int, sop: Sop | None, score: float, low: float, *, config: ReadinessConfig
) -> tuple[str, list[str]]:
    """Return the tier and every gate that applies, in words.

    The thresholds judge the interval's low end (``tier_on: low``) or the score; a score
    that clears a threshold its low end misses is named as uncertain. Then a hard gate
    (too few conversations, no documented SOP, moves money or regulated without an
    approval step, or without the ``risky_autonomous_score``) caps the tier at
    "agent with human approval".
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
    if n < config.min_conversations:
        hard.append(
            f"fewer than {config.min_conversations} conversations ({n}): too little evidence"
        )
    if sop is None and config.require_sop:
        hard.append("no documented SOP: review the candidate playbook first")
    risks = _risks(sop) if sop else ""
    if (
        risks
        and config.risky_needs_approval_gate
        and not _approval_step(sop, config.approval_words)
    ):
        hard.append(f"{risks}, and the SOP has no approval step")
    elif risks and evidence < config.risky_autonomous_score:
        basis = "interval low end" if config.tier_on == "low" else "score"
        hard.append(
            f"{risks}: autonomy needs {config.risky_autonomous_score:g} ({basis} {evidence:.1f})"
        )
    if hard and tier == AUTONOMOUS:
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


def format_readiness(readiness: pl.DataFrame) -> str:
    """Render the ranking as plain text: one block per workflow, best first.

    Parameters
    ----------
    readiness
        The ``readiness`` table (any order).

    Returns
    -------
    str
        A header line, then per workflow its rank, id, score with interval, tier, rank
        stability and conversations, followed by its gates and reasons.
    """
    if readiness.is_empty():
        return "no workflows scored\n"
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
    return "\n".join(lines) + "\n"
