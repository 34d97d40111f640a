"""Turn clusters: recurring groups of turns, the step types found in the data.

The ``other`` residue of each SOP, and the turns of unguided conversations, are
clustered (:func:`cluster_turns`) into recurring step types, labelled by class-based
TF-IDF terms and their most typical turn.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.clustering import fit_clusters
from pipeline.config import TurnClusterConfig
from pipeline.errors import ModelError
from pipeline.intents.names import describe_intents

#: The default clustering settings (``steps.clustering`` in config.yaml).
CLUSTERING = TurnClusterConfig()


@dataclass(frozen=True)
class TurnClusters:
    """Recurring groups of turns: step types found in the data.

    Attributes
    ----------
    labels
        Cluster of each turn, numbered by size (largest first); -1 for none.
    centroids
        ``(k, dim)`` unit rows.
    radius
        Per cluster: the lowest cosine to its centroid of a turn HDBSCAN placed in it.
    descriptions
        Per cluster: ``label`` (top class-based TF-IDF terms), ``terms``, ``exemplar``.
    """

    labels: np.ndarray
    centroids: np.ndarray
    radius: np.ndarray
    descriptions: list[dict]


def cluster_turns(
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: np.ndarray,
    conversations: Sequence[str],
    *,
    config: TurnClusterConfig = CLUSTERING,
) -> TurnClusters:
    """Cluster turns into recurring step types, every size chosen from the data.

    1. HDBSCAN through :func:`pipeline.clustering.fit_clusters` (reduction, then the
       smallest-cluster size with the best density-based validity): dense groups;
    2. groups whose centroids are close merge (average linkage, cut at the best
       silhouette over distinct wordings): one step said with different slot values,
       or worded per SOP, forms several dense groups;
    3. a turn HDBSCAN left as noise joins its nearest group only within the group's
       radius; a group must recur in ``config.min_conversations`` conversations. The
       rest is -1.

    Parameters
    ----------
    ids
        A unique id per turn (fixes the canonical order and the fitted sample).
    texts, vectors
        Each turn's text and unit vector.
    conversations
        Each turn's conversation.
    config
        Reduction and HDBSCAN settings; ``min_turns`` (fewer turns: no clusters),
        ``min_conversations``, and ``silhouette_sample`` (the distinct turns scored per
        candidate merge).
    """
    n = len(ids)
    none = TurnClusters(np.full(n, -1, dtype=np.int64), np.empty((0, vectors.shape[1])),
                        np.empty(0), [])  # fmt: skip
    if n < config.min_turns:
        return none
    try:
        settings = config.intent_config()  # assign_threshold 0: the radius rule joins below
        fit = fit_clusters(
            list(ids),
            vectors,
            reducer=settings.reducer,
            n_components=settings.n_components,
            n_neighbors=settings.n_neighbors,
            min_samples=settings.min_samples,
            min_cluster_shares=settings.min_cluster_shares,
            selection_methods=settings.selection_methods,
            min_cluster_floor=settings.min_cluster_floor,
            fit_sample=settings.fit_sample,
            assign_threshold=settings.assign_threshold,
            seed=settings.seed,
        )
    except ModelError:  # too few turns, or not two recurring groups: nothing found
        return none
    placed = np.isin(fit.method, ("cluster", "predicted")) & (fit.labels >= 0)
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    _, first = np.unique(np.asarray(texts, dtype=object)[order], return_index=True)
    sample = np.sort(order[first])  # one turn per wording: repeats would weigh too much
    sample = sample[placed[sample]]
    sample = sample[np.linspace(0, sample.size - 1, min(sample.size, config.silhouette_sample),
                                dtype=np.int64)] if sample.size else sample  # fmt: skip
    groups = _merge_groups(vectors[sample], fit.labels[sample], fit.centroids)
    merged = np.where(fit.labels >= 0, groups[np.maximum(fit.labels, 0)], -1)
    k = int(groups.max()) + 1
    sums = np.zeros((k, vectors.shape[1]))
    np.add.at(sums, merged[placed], vectors[placed])
    centroids = _unit_rows(sums)
    sims = vectors @ centroids.T
    radius = np.full(k, np.inf)
    np.minimum.at(radius, merged[placed], sims[placed, merged[placed]])
    nearest = sims.argmax(axis=1)
    joins = ~placed & (sims[np.arange(n), nearest] >= radius[nearest])
    merged = np.where(placed, merged, np.where(joins, nearest, -1))
    conv = np.asarray(conversations, dtype=object)
    kept = [c for c in range(k) if len(set(conv[merged == c])) >= config.min_conversations]
    kept.sort(key=lambda c: (-int((merged == c).sum()), c))
    labels = np.full(n, -1, dtype=np.int64)
    for new, c in enumerate(kept):
        labels[merged == c] = new
    centroids, radius = centroids[kept], radius[kept]
    described = describe_intents(
        list(texts), labels, vectors, centroids, n_terms=config.n_terms, spans=True
    )
    return TurnClusters(labels, centroids, radius, described)


def _merge_groups(vectors: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Map each cluster to a merged group: the average-linkage cut with best silhouette.

    The silhouette is that of the sample turns (``vectors``, ``labels``).
    Cost O(sample^2 + cuts x sample x k).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    k = len(centroids)
    if k < 3 or len(labels) < 3:
        return np.arange(k)
    tree = linkage(centroids.astype(np.float64), method="average", metric="cosine")
    distance = 1.0 - vectors @ vectors.T
    best, best_groups = -np.inf, np.arange(k)
    for height in np.unique(np.r_[0.0, tree[:, 2]]):
        groups = fcluster(tree, t=height + 1e-9, criterion="distance") - 1
        score = _silhouette(distance, groups[labels])
        if score > best + 1e-12:
            best, best_groups = score, groups
    return best_groups


def _silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a precomputed distance matrix; -1 for fewer than two groups."""
    k = int(labels.max()) + 1
    if len(np.unique(labels)) < 2:
        return -1.0
    n = len(labels)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1.0
    size = onehot.sum(axis=0)
    totals = distance @ onehot
    a = totals[np.arange(n), labels] / np.maximum(size[labels] - 1, 1)
    mean = totals / np.maximum(size, 1)
    mean[np.arange(n), labels] = np.inf
    mean[:, size == 0] = np.inf
    b = mean.min(axis=1)
    score = np.where(size[labels] > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(score.mean())


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)
