"""Stage 7, exception clusters: recurring off-script sub-flows of a SOP, named by their text.

Where agents depart from a documented SOP, what they say instead is the evidence of a
missing step in the playbook (a check every agent does, a workaround for a broken tool).
:func:`pipeline.drift.deviating_turns.find_deviating_turns` collects those agent turns;
:func:`find_exception_clusters` clusters each SOP's with the steps stage's clustering of
agent turns (:func:`pipeline.steps.clusters.cluster_turns`: HDBSCAN with data-chosen
sizes, class-based TF-IDF terms) and reports each cluster as a ``drift_findings`` row of
kind ``exception_cluster``, flagged when it recurs and is specific to the SOP: hold
phrases and apologies recur in every workflow and are conversation management, not a
missing step.

Texts are redacted data: they go into ``sentence`` and ``details`` as plain text, never
as markup.
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl
from scipy.stats import hypergeom

from pipeline.config import DriftConfig, StepsConfig, TurnClusterConfig
from pipeline.drift.deviating_turns import (
    StepMatch,
    documented_step,
    find_deviating_turns,
    match_documented_steps,
)
from pipeline.drift.findings import findings_frame
from pipeline.drift.stats import bh_adjust
from pipeline.embed.models import Embedder
from pipeline.frames import require_columns
from pipeline.sops.model import Sop
from pipeline.steps.clusters import CLUSTERING, cluster_turns
from pipeline.steps.events import OTHER
from pipeline.steps.library import ROLE_PHRASINGS

UNDOCUMENTED, MISSING = "undocumented step", "missing step"
_NAME = re.compile(r"[^a-z0-9]+")
_QUOTE_CHARS = 80  # exemplar length in the sentence; details keep it whole


def find_exception_clusters(
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    turns: pl.DataFrame,
    sops: Sequence[Sop],
    *,
    embedder: Embedder,
    not_steps: Sequence[str] = (OTHER,),
    min_cluster_size: int | None = None,
    config: DriftConfig | None = None,
    speakers: Sequence[str] = StepsConfig.speakers,
    cluster_config: TurnClusterConfig = CLUSTERING,
    outcomes: pl.DataFrame | None = None,
    threshold: float | None = StepsConfig.threshold,
    roles: Mapping[str, Sequence[str]] = ROLE_PHRASINGS,
) -> pl.DataFrame:
    """Find recurring off-script sub-flows per SOP and name them by their text.

    Reads ``conformance``, ``step_events`` and ``turns``; produces ``drift_findings``
    rows of kind ``exception_cluster``.

    Each SOP's deviating turns
    (:func:`~pipeline.drift.deviating_turns.find_deviating_turns`) are clustered
    (:func:`pipeline.steps.clusters.cluster_turns`; per SOP, so that a sub-flow of one small
    workflow is not swamped by talk common to all). HDBSCAN works in a reduced space where
    an off-topic turn can land in a dense group, so a member whose cosine to the centroid is
    below the cluster's lower Tukey fence (Q1 - 1.5 IQR) is not counted; the same bound
    decides which deviating turns of the other SOPs' conversations the cluster covers. A
    cluster in two conversations gives a row: ``step`` a name from its top terms, ``rate``
    the share of the SOP's conversations showing it (``n`` of ``n_baseline``), ``baseline``
    the share of the other SOPs', ``p_value`` a one-sided Fisher exact test of rate above
    baseline, ``q_value`` Benjamini-Hochberg over all rows; ``details`` its terms, most
    typical turn, the steps its turns were given and the missing steps it stands at.
    A cluster is a documented step, not an exception, when most of its turns are one
    (:func:`~pipeline.drift.deviating_turns.documented_step`: a template filled in or a
    paraphrase at the steps stage's threshold, of a step of the SOP or of a greeting,
    closing or hold of any SOP): its row is kept, unflagged, ``details.documented`` naming
    the step. Of the other clusters, turns that are such a step are not counted.
    ``flagged`` when it recurs in at least ``config.min_count`` conversations and is
    specific to the SOP (``q_value`` at most ``config.alpha`` and ``rate`` at least
    ``config.exception_min_lift`` times ``baseline``; with no other SOP, recurring is
    enough). With ``outcomes``, each gets ``details.outcome_cost``
    (:func:`add_outcome_costs`) and severity ranks by it: ``high`` when its conversations
    end poorly significantly more often than the SOP's others and it is in at least
    ``exception_medium_share`` of them, ``medium`` when only the first holds, else ``low``;
    without, ``high`` from ``exception_high_share`` (20%) of the SOP's conversations,
    ``medium`` from ``exception_medium_share`` (10%), else ``low``. A SOP with fewer
    deviating turns than ``cluster_config.min_turns`` (20), or whose turns form a single
    group, gives no rows. ``speakers`` and ``cluster_config`` default to
    :class:`~pipeline.config.StepsConfig`'s (``steps.speakers``, ``steps.clustering``).

    Parameters
    ----------
    conformance, step_events, turns, sops
        As for :func:`~pipeline.drift.deviating_turns.find_deviating_turns`.
    embedder
        Encodes the distinct deviating texts, in one call.
    not_steps
        Step ids that are no workflow step (:func:`pipeline.process.discover.not_steps`);
        ``other`` among them still counts as deviating.
    min_cluster_size
        The smallest group of turns HDBSCAN may form (``min_cluster_floor``); None keeps
        ``cluster_config``'s (5); larger data-chosen sizes apply either way.
    config
        ``min_count``, ``alpha`` and the ``exception_*`` settings; None means the
        :class:`DriftConfig` defaults.
    speakers, cluster_config
        Speakers whose utterances are agent turns; the clustering settings.
    outcomes
        Table ``outcomes`` (``resolved``, ``escalated``, ``repeat_contact``), or None.
    threshold, roles
        ``steps.threshold`` (None: calibrated) and the ``steps.*_phrasings`` per role.

    Returns
    -------
    polars.DataFrame
        ``drift_findings`` rows (:data:`pipeline.drift.findings.DRIFT_FINDINGS_SCHEMA`),
        sorted by SOP, falling outcome cost and falling rate.
    """
    config = config or DriftConfig()
    if min_cluster_size is not None:
        cluster_config = dataclasses.replace(cluster_config, min_cluster_floor=min_cluster_size)
    off = find_deviating_turns(conformance, step_events, turns, sops, not_steps=not_steps,
                               speakers=speakers)  # fmt: skip
    if off.is_empty():
        return findings_frame([])
    match = match_documented_steps(off, turns, sops, embedder=embedder, threshold=threshold,
                                   roles=roles, speakers=speakers)  # fmt: skip
    known = {s.sop_id for s in sops}
    sop_conversations = {
        sop_id: set(ids)
        for sop_id, ids in conformance.filter(pl.col("sop_id").is_in(sorted(known)))
        .group_by("sop_id")
        .agg(pl.col("conversation_id").unique())
        .iter_rows()
    }
    totals = {sop_id: len(ids) for sop_id, ids in sop_conversations.items()}
    documented: dict[str, list[str]] = {}  # step id -> the SOPs that document it
    for sop in sops:
        for step in sop.steps:
            owners = documented.setdefault(step.id, [])
            if sop.sop_id not in owners:
                owners.append(sop.sop_id)
    rows = []
    for sop_id in sorted(off["sop_id"].unique()):
        mine = (off["sop_id"] == sop_id).to_numpy()
        rows += _sop_rows(off, match, mine, sop_id, totals=totals, documented=documented,
                          cluster_config=cluster_config)  # fmt: skip
    tested = [r for r in rows if r["p_value"] is not None]
    for row, q in zip(tested, bh_adjust([r["p_value"] for r in tested]), strict=True):
        row["q_value"] = q
    if outcomes is not None:
        add_outcome_costs(rows, outcomes, sop_conversations, alpha=config.alpha)
    for row in rows:
        _judge(row, config=config)
    return findings_frame(sorted(rows, key=_rank))


def _rank(row: dict) -> tuple:
    """SOP, then most outcome cost (extra poor endings; none without outcomes), then rate."""
    cost = row.get("_cost") or {}
    return row["sop_id"], -cost.get("extra_poor", 0.0), -row["rate"], row["step"]


def _sop_rows(
    off: pl.DataFrame,
    match: StepMatch,
    mine: np.ndarray,
    sop_id: str,
    *,
    totals: dict[str, int],
    documented: dict[str, list[str]],
    cluster_config: TurnClusterConfig,
) -> list[dict]:
    """Cluster one SOP's deviating turns; one row (not yet judged) per recurring cluster."""
    own = off.filter(pl.Series(mine))
    vectors = match.vectors
    ids = own.select(pl.concat_str("conversation_id", "turn_idx", separator="#")).to_series()
    found = cluster_turns(ids.to_list(), own["text"].to_list(), vectors[mine],
                          own["conversation_id"].to_list(), config=cluster_config)  # fmt: skip
    if not found.descriptions:
        return []
    labels = found.labels
    sims = vectors[mine] @ found.centroids.T
    typical = np.where(labels >= 0, sims[np.arange(labels.size), np.maximum(labels, 0)], -np.inf)
    bounds = np.array([_lower_fence(typical[labels == c]) for c in range(len(found.descriptions))])
    counted = (labels >= 0) & (typical >= bounds[np.maximum(labels, 0)])
    is_step = np.array([s is not None for s in match.step], dtype=bool)[mine]
    absent = off["absent_steps"].to_list()
    # other SOPs' turns, as codes of their (conversation, SOP) pair: would they be members?
    pairs = off.select(pl.struct("conversation_id", "sop_id").rank("dense")).to_series()
    elsewhere = pairs.to_numpy()[~mine]
    near = vectors[~mine] @ found.centroids.T
    nearest = near.argmax(axis=1) if elsewhere.size else np.zeros(0, dtype=np.int64)
    covered = near[np.arange(nearest.size), nearest] >= bounds[nearest]
    covered &= np.array([s is None for s in match.step], dtype=bool)[~mine]  # not a step
    others = sum(n for s, n in totals.items() if s != sop_id)
    names = _names(found.descriptions)
    rows = []
    for c, described in enumerate(found.descriptions):
        in_c = counted & (labels == c)
        known = documented_step(match, np.flatnonzero(mine)[in_c], absent)
        if known:
            known["sops"] = documented.get(known["step"], [])
        keep = in_c if known else in_c & ~is_step  # a documented turn is no exception
        members = own.filter(pl.Series(keep))
        n = members["conversation_id"].n_unique()
        if n < 2:
            continue
        n_else = np.unique(elsewhere[covered & (nearest == c)]).size
        exemplar = own["text"][int(np.argmax(np.where(keep, typical, -np.inf)))]
        rows.append({
            "kind": "exception_cluster", "sop_id": sop_id, "workflow_id": sop_id,
            "step": names[c], "metric": "conversation_share",
            "rate": n / totals[sop_id], "n": n, "n_baseline": totals[sop_id],
            "baseline": n_else / others if others else None,
            "p_value": _fisher_greater(n, totals[sop_id], n_else, others) if others else None,
            "_label": described["label"], "_exemplar": exemplar, "_documented": known,
            "_conversations": set(members["conversation_id"]),
            "_details": {
                "label": described["label"], "terms": described["terms"], "exemplar": exemplar,
                "n_conversations": n, "n_turns": members.height,
                "n_turns_documented": int((in_c & is_step).sum()),
                "n_conversations_elsewhere": n_else,
                "steps": _counts(members["step_id"]),
                "sits_at": _sits_at(members["missing_step"]),
                "documented": known,
            },
            "_via": _via(members["step_id"], sop_id, documented),
        })  # fmt: skip
    return rows


def _lower_fence(values: np.ndarray) -> float:
    """Q1 - 1.5 IQR of a cluster's member cosines to its centroid."""
    q1, q3 = np.percentile(values, [25, 75])
    return float(q1 - 1.5 * (q3 - q1) - 1e-9)


def _fisher_greater(n: int, total: int, n_else: int, total_else: int) -> float:
    """One-sided Fisher exact p-value that ``n / total`` exceeds ``n_else / total_else``."""
    return float(hypergeom.sf(n - 1, total + total_else, n + n_else, total))


def _counts(values: pl.Series) -> dict[str, int]:
    counted = values.value_counts(sort=True, name="n").sort(
        ["n", values.name], descending=[True, False]
    )
    return dict(counted.iter_rows())


def _sits_at(missing: pl.Series) -> list[dict]:
    """Where a cluster's turns stand: at which missing step, or simply undocumented."""
    return [
        {"deviation": MISSING if m else UNDOCUMENTED, "step": m or None, "n_turns": k}
        for m, k in _counts(missing.fill_null("")).items()
    ]


def _via(steps: pl.Series, sop_id: str, documented: dict[str, list[str]]) -> str | None:
    """``step lookup_order of order_status`` when most turns are another SOP's step."""
    top, k = next(iter(_counts(steps).items()))
    owners = [s for s in documented.get(top, []) if s != sop_id]
    return f"step {top} of {', '.join(owners[:2])}" if owners and 2 * k >= steps.len() else None


def _names(descriptions: list[dict]) -> list[str]:
    """Name each cluster from its key phrase (``x_points_missing``), uniquely."""
    names: list[str] = []
    for c, described in enumerate(descriptions):
        phrase = described.get("key", described["label"]) if described["terms"] else ""
        words = [_NAME.sub("_", t.lower()).strip("_") for t in phrase.split()]
        name = "x_" + "_".join(w for w in words if w) if any(words) else f"x_{c}"
        names.append(name if name not in names else f"{name}_{c}")
    return names


def add_outcome_costs(
    rows: list[dict],
    outcomes: pl.DataFrame,
    sop_conversations: Mapping[str, set[str]],
    *,
    alpha: float,
) -> None:
    """Give each row the outcome cost of its sub-flow (in place; our own dicts).

    A conversation ends poorly when it is not resolved, was escalated or was followed by
    a repeat contact (table ``outcomes``). The cluster's conversations are compared with
    the SOP's other conversations that have an outcome: ``poor_share`` against
    ``poor_share_others``, ``extra_poor`` = (difference) x the cluster's conversations
    (how many more poor endings than the SOP's others would have had), ``p_value`` a
    one-sided Fisher exact test of a higher poor share, ``q_value`` Benjamini-Hochberg
    over the clusters that are not documented steps; also each part's share.
    """
    require_columns(outcomes, ("conversation_id", "resolved", "escalated", "repeat_contact"),
                    table="outcomes", what="exception clusters")  # fmt: skip
    frame = outcomes.select(
        "conversation_id",
        unresolved=~pl.col("resolved").fill_null(False),
        escalated=pl.col("escalated").fill_null(False),
        repeat_contact=pl.col("repeat_contact").fill_null(False),
    ).unique("conversation_id", keep="last", maintain_order=True)
    frame = frame.with_columns(poor=pl.any_horizontal("unresolved", "escalated", "repeat_contact"))
    parts = ("poor", "unresolved", "escalated", "repeat_contact")
    ended = {r[0]: r[1:] for r in frame.select("conversation_id", *parts).iter_rows()}
    for row in rows:
        inside = [ended[c] for c in row["_conversations"] if c in ended]
        others = sop_conversations.get(row["sop_id"], set()) - row["_conversations"]
        rest = [ended[c] for c in others if c in ended]
        if not inside or not rest:
            row["_cost"] = None
            continue
        a, b = np.mean(inside, axis=0), np.mean(rest, axis=0)
        k, k_rest = int(sum(r[0] for r in inside)), int(sum(r[0] for r in rest))
        row["_cost"] = {
            "poor_share": round(float(a[0]), 4), "poor_share_others": round(float(b[0]), 4),
            "extra_poor": round(float(a[0] - b[0]) * len(inside), 2),
            "n_conversations": len(inside), "n_others": len(rest),
            **{f"{p}_share": [round(float(a[j]), 4), round(float(b[j]), 4)]
               for j, p in enumerate(parts[1:], start=1)},
            "p_value": _fisher_greater(k, len(inside), k_rest, len(rest)),
        }  # fmt: skip
    tested = [r["_cost"] for r in rows if r["_cost"] and not r["_documented"]]
    for cost, q in zip(tested, bh_adjust([c["p_value"] for c in tested]), strict=True):
        cost["q_value"] = q
        cost["costly"] = bool(q <= alpha and cost["extra_poor"] > 0)


def _judge(row: dict, *, config: DriftConfig) -> None:
    """Set flag, severity, sentence and details of a row (in place; our own dict)."""
    rate, baseline, n, sop_id = row["rate"], row["baseline"], row["n"], row["sop_id"]
    known, cost, details = row.pop("_documented"), row.get("_cost"), row.pop("_details")
    row.pop("_conversations")
    min_lift = config.exception_min_lift
    recurring = n >= config.min_count
    specific = baseline is None or (row["q_value"] <= config.alpha and rate >= min_lift * baseline)
    row["flagged"] = recurring and specific and not known
    common = rate >= config.exception_medium_share
    if "_cost" in row and not known:  # outcomes given: the cost ranks, then how common
        costly = bool(cost and cost.get("costly"))
        severity = "high" if costly and common else "medium" if costly else "low"
        details["outcome_cost"] = cost
    else:
        severity = ("high" if rate >= config.exception_high_share else "medium" if common
                    else "low")  # fmt: skip
    row["severity"] = severity if row["flagged"] else "info"
    exemplar = row.pop("_exemplar")
    quote = (
        exemplar if len(exemplar) <= _QUOTE_CHARS else exemplar[: _QUOTE_CHARS - 3].rstrip() + "..."
    )
    missing, via, label = details["sits_at"][0]["step"], row.pop("_via"), row.pop("_label")
    what = (f"'{label}'" + (f" ({via})" if via else "")
            + (f" where the mandatory step {missing} is missing" if missing else ""))  # fmt: skip
    share = f"{rate:.0%} of {sop_id} conversations"
    if baseline is not None:
        share += f" (against {baseline:.0%} in other workflows)"
    said = f'In {share} agents do an undocumented sub-flow {what} (e.g. "{quote}")'
    if known:
        part = f"{known['share_of_turns']:.0%} of its turns"
        owners = ", ".join([o for o in known.get("sops", []) if o != sop_id][:2])
        step = known["step"] + ("" if known["of_sop"] or not owners else f" of {owners}")
        kind = f"{known['role']}, step {step}" if known["role"] else f"step {step}"
        row["sentence"] = (
            f"In {rate:.0%} of {sop_id} conversations agents say '{label}' (e.g. \"{quote}\"); "
            + (f"{part} are the SOP's documented step {step} (its template filled in or a "
               "paraphrase): that step, not an exception, so not flagged."
               if known["of_sop"] and not known["role"] else
               f"{part} are conversation management ({kind}): not a step missing from the "
               "SOP, so not flagged.")
        )  # fmt: skip
    elif row["flagged"]:
        use = "a candidate step for the SOP" + (
            f", or a replacement for {missing}" if missing else ""
        )
        if details.get("outcome_cost"):
            c = details["outcome_cost"]
            use += (f"; {c['poor_share']:.0%} of these conversations end unresolved, escalated "
                    f"or in a repeat contact, against {c['poor_share_others']:.0%} of the "
                    "SOP's others")  # fmt: skip
        row["sentence"] = f"{said}: {use}."
    elif not recurring:
        row["sentence"] = (f"In {n} {sop_id} conversations ({rate:.0%}) agents do an "
                           f'undocumented sub-flow {what} (e.g. "{quote}"); fewer than '
                           f"{config.min_count} conversations, so not flagged.")  # fmt: skip
    elif rate < min_lift * baseline:
        often = "more common" if rate < baseline else "about as common"
        row["sentence"] = (f"{said}; {often} in other workflows: conversation management "
                           "rather than a step of this SOP, so not flagged.")  # fmt: skip
    else:
        row["sentence"] = (f"{said}; not significantly more common than elsewhere "
                           f"(q = {row['q_value']:.2f}), so not flagged.")  # fmt: skip
    row["details"] = json.dumps(details, ensure_ascii=False)
