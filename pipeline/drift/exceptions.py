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
from collections.abc import Sequence

import numpy as np
import polars as pl
from scipy.stats import hypergeom

from pipeline.config import DriftConfig, StepsConfig, TurnClusterConfig
from pipeline.drift.deviating_turns import find_deviating_turns
from pipeline.drift.findings import findings_frame
from pipeline.drift.stats import bh_adjust
from pipeline.embed.models import Embedder
from pipeline.sops.model import Sop
from pipeline.steps.clusters import CLUSTERING, cluster_turns
from pipeline.steps.events import OTHER

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
    cluster in at least two conversations gives a row: ``step`` a
    name from its top terms (``x_points_missing``), ``rate`` the share of the SOP's
    conversations showing it (``n`` of ``n_baseline``), ``baseline`` the share of the
    other SOPs' conversations, ``p_value`` a one-sided Fisher exact test of rate above
    baseline, ``q_value`` Benjamini-Hochberg over all rows; ``details`` its terms, most
    typical turn, the steps its turns were given and the missing steps it stands at.
    ``flagged`` when it recurs in at least ``config.min_count`` conversations and is
    specific to the SOP (``q_value`` at most ``config.alpha`` and ``rate`` at least
    ``config.exception_min_lift`` times ``baseline``; with no other SOP, recurring is
    enough); severity ``high`` from ``config.exception_high_share`` (20%) of the SOP's
    conversations, ``medium`` from ``exception_medium_share`` (10%), else ``low``. A SOP
    with fewer deviating turns than ``cluster_config.min_turns`` (20), or whose turns form
    a single group, gives no rows (:func:`~pipeline.steps.clusters.cluster_turns` needs
    two recurring groups). ``speakers`` and ``cluster_config`` default to
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

    Returns
    -------
    polars.DataFrame
        ``drift_findings`` rows (:data:`pipeline.drift.findings.DRIFT_FINDINGS_SCHEMA`),
        sorted by SOP and falling rate.
    """
    config = config or DriftConfig()
    if min_cluster_size is not None:
        cluster_config = dataclasses.replace(cluster_config, min_cluster_floor=min_cluster_size)
    off = find_deviating_turns(conformance, step_events, turns, sops, not_steps=not_steps,
                               speakers=speakers)  # fmt: skip
    if off.is_empty():
        return findings_frame([])
    texts = off["text"].unique(maintain_order=True).to_list()
    matrix = np.asarray(embedder.encode(texts), dtype=np.float32)
    row_of = {t: i for i, t in enumerate(texts)}
    vectors = matrix[np.array([row_of[t] for t in off["text"]], dtype=np.int64)]
    known = {s.sop_id for s in sops}
    totals = dict(
        conformance.filter(pl.col("sop_id").is_in(sorted(known)))
        .group_by("sop_id")
        .agg(pl.col("conversation_id").n_unique())
        .iter_rows()
    )
    documented: dict[str, list[str]] = {}  # step id -> the SOPs that document it
    for sop in sops:
        for step in sop.steps:
            owners = documented.setdefault(step.id, [])
            if sop.sop_id not in owners:
                owners.append(sop.sop_id)
    rows = []
    for sop_id in sorted(off["sop_id"].unique()):
        mine = (off["sop_id"] == sop_id).to_numpy()
        rows += _sop_rows(off, vectors, mine, sop_id, totals=totals, documented=documented,
                          cluster_config=cluster_config)  # fmt: skip
    tested = [r for r in rows if r["p_value"] is not None]
    for row, q in zip(tested, bh_adjust([r["p_value"] for r in tested]), strict=True):
        row["q_value"] = q
    for row in rows:
        _judge(row, config=config)
    return findings_frame(sorted(rows, key=lambda r: (r["sop_id"], -r["rate"], r["step"])))


def _sop_rows(
    off: pl.DataFrame,
    vectors: np.ndarray,
    mine: np.ndarray,
    sop_id: str,
    *,
    totals: dict[str, int],
    documented: dict[str, list[str]],
    cluster_config: TurnClusterConfig,
) -> list[dict]:
    """Cluster one SOP's deviating turns; one row (not yet judged) per recurring cluster."""
    own = off.filter(pl.Series(mine))
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
    elsewhere = off.filter(~pl.Series(mine))
    near = vectors[~mine] @ found.centroids.T  # other SOPs' turns: would they be members?
    nearest = near.argmax(axis=1) if elsewhere.height else np.zeros(0, dtype=np.int64)
    covered = near[np.arange(nearest.size), nearest] >= bounds[nearest]
    others = sum(n for s, n in totals.items() if s != sop_id)
    names = _names(found.descriptions)
    rows = []
    for c, described in enumerate(found.descriptions):
        members = own.filter(pl.Series(counted & (labels == c)))
        n = members["conversation_id"].n_unique()
        if n < 2:
            continue
        hits = elsewhere.filter(pl.Series(covered & (nearest == c), dtype=pl.Boolean))
        n_else = hits.select("conversation_id", "sop_id").n_unique()
        exemplar = own["text"][int(np.argmax(np.where(counted & (labels == c), typical, -np.inf)))]
        rows.append({
            "kind": "exception_cluster", "sop_id": sop_id, "workflow_id": sop_id,
            "step": names[c], "metric": "conversation_share",
            "rate": n / totals[sop_id], "n": n, "n_baseline": totals[sop_id],
            "baseline": n_else / others if others else None,
            "p_value": _fisher_greater(n, totals[sop_id], n_else, others) if others else None,
            "_label": described["label"], "_exemplar": exemplar,
            "_details": {
                "label": described["label"], "terms": described["terms"], "exemplar": exemplar,
                "n_conversations": n, "n_turns": members.height,
                "n_conversations_elsewhere": n_else,
                "steps": _counts(members["step_id"]),
                "sits_at": _sits_at(members["missing_step"]),
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
        phrase = described["label"] if described["terms"] else ""
        words = [_NAME.sub("_", t.lower()).strip("_") for t in phrase.split()]
        name = "x_" + "_".join(w for w in words if w) if any(words) else f"x_{c}"
        names.append(name if name not in names else f"{name}_{c}")
    return names


def _judge(row: dict, *, config: DriftConfig) -> None:
    """Set flag, severity, sentence and details of a row (in place; our own dict)."""
    rate, baseline, n = row["rate"], row["baseline"], row["n"]
    min_lift = config.exception_min_lift
    recurring = n >= config.min_count
    specific = baseline is None or (row["q_value"] <= config.alpha and rate >= min_lift * baseline)
    row["flagged"] = recurring and specific
    severity = ("high" if rate >= config.exception_high_share
                else "medium" if rate >= config.exception_medium_share else "low")  # fmt: skip
    row["severity"] = severity if row["flagged"] else "info"
    exemplar, details = row.pop("_exemplar"), row.pop("_details")
    quote = (
        exemplar if len(exemplar) <= _QUOTE_CHARS else exemplar[: _QUOTE_CHARS - 3].rstrip() + "..."
    )
    missing = details["sits_at"][0]["step"]
    via = row.pop("_via")
    what = (f"'{row.pop('_label')}'" + (f" ({via})" if via else "")
            + (f" where the mandatory step {missing} is missing" if missing else ""))  # fmt: skip
    share = f"{rate:.0%} of {row['sop_id']} conversations"
    if baseline is not None:
        share += f" (against {baseline:.0%} in other workflows)"
    if row["flagged"]:
        use = "a candidate step for the SOP" + (
            f", or a replacement for {missing}" if missing else ""
        )
        row["sentence"] = (
            f'In {share} agents do an undocumented sub-flow {what} (e.g. "{quote}"): {use}.'
        )
    elif not recurring:
        row["sentence"] = (f"In {n} {row['sop_id']} conversations ({rate:.0%}) agents do an "
                           f'undocumented sub-flow {what} (e.g. "{quote}"); fewer than '
                           f"{config.min_count} conversations, so not flagged.")  # fmt: skip
    elif rate < min_lift * baseline:
        often = "more common" if rate < baseline else "about as common"
        row["sentence"] = (
            f'In {share} agents do an undocumented sub-flow {what} (e.g. "{quote}"); {often} in '
            "other workflows: conversation management rather than a step of this SOP, so not "
            "flagged."
        )
    else:
        row["sentence"] = (
            f'In {share} agents do an undocumented sub-flow {what} (e.g. "{quote}"); not '
            f"significantly more common than elsewhere (q = {row['q_value']:.2f}), so not flagged."
        )
    row["details"] = json.dumps(details, ensure_ascii=False)
