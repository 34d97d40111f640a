"""Density clustering of unit vectors: reduction, HDBSCAN with data-chosen sizes, centroids.

The one shared clustering routine (intents and turn clusters both use it) and the only
module that imports hdbscan and umap. :func:`fit_clusters`, with no number of clusters
given:

1. rows are put in a canonical order (by id) and, past ``fit_sample``, a deterministic
   hash-chosen sample is fitted, so input order never changes a fit;
2. UMAP (cosine, ``n_components`` dims) or PCA reduces the vectors
   (:func:`reduce_vectors`): density clustering on 384 raw dimensions neither scales
   nor separates well;
3. ``hdbscan.HDBSCAN`` runs for each candidate smallest-cluster size (shares of the
   fitted rows, ``min_cluster_shares``) and both cluster-selection methods; the run with
   the best density-based cluster validity (DBCV, hdbscan's ``relative_validity_``) is
   kept (:func:`search_hdbscan`): the data choose the number of clusters;
4. centroids are taken in the original embedding space; a noise point, or a row outside
   the fitted sample, joins the nearest cluster only when its cosine to that centroid is
   at least ``assign_threshold``; the rest stay unassigned.

New rows are placed with :class:`Projection` and :func:`predict_clusters`
(``hdbscan.approximate_predict``); :func:`subcluster` runs one plain HDBSCAN inside a
cluster.
"""

from __future__ import annotations

import hashlib
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from pipeline.errors import ModelError

NOISE = -1
# method column of intent_assignments
CLUSTER, NEAREST, PREDICTED, UNASSIGNED, NO_REQUEST = (
    "cluster",
    "nearest",
    "predicted",
    "unassigned",
    "no_request",
)
MIN_FIT = 20  # fewer conversations than this cannot form two intents of useful size


@dataclass(frozen=True)
class DensityFit:
    """Cluster labels of one fit (``NOISE`` = unassigned) and how each was decided."""

    labels: np.ndarray
    probability: np.ndarray
    method: np.ndarray
    centroids: np.ndarray
    reducer: Any
    clusterer: Any
    params: dict[str, Any]
    fitted_ids: frozenset[str]


def fit_clusters(
    ids: Sequence[str],
    vectors: np.ndarray,
    *,
    reducer: str,
    n_components: int,
    n_neighbors: int,
    min_samples: int,
    min_cluster_shares: Sequence[float],
    selection_methods: Sequence[str],
    min_cluster_floor: int,
    fit_sample: int,
    assign_threshold: float,
    seed: int,
) -> DensityFit:
    """Cluster unit rows by density, choosing the HDBSCAN parameters from the data.

    Parameters
    ----------
    ids
        One id per row of ``vectors``; they fix the canonical order and the sample.
    vectors
        ``(n, dim)`` unit rows (not modified).
    reducer, n_components, n_neighbors
        ``"umap"`` or ``"pca"``, its output dimensions and the neighbours UMAP (and
        :class:`Projection`) uses.
    min_samples, min_cluster_shares, selection_methods, min_cluster_floor
        HDBSCAN's ``min_samples`` (capped at the size), the candidate smallest-cluster
        sizes as shares of the fitted rows (never below ``min_cluster_floor``) and the
        cluster-selection methods tried with each.
    fit_sample
        Fit on at most this many rows; the rest are predicted.
    assign_threshold
        Cosine to a centroid a row needs to join (or stay in) its cluster.
    seed
        The reducer's random state.

    Returns
    -------
    DensityFit
        Labels in input order (``NOISE`` for unassigned), probabilities, the method of
        each decision, centroids and the fitted reducer and clusterer.

    Raises
    ------
    ModelError
        Fewer than 20 rows, or no candidate found two clusters.
    """
    ids = np.asarray(ids, dtype=object)
    n = len(ids)
    if n < MIN_FIT:
        raise ModelError(
            f"intents: {n} conversations with a customer request; at least {MIN_FIT} "
            "are needed to fit intents"
        )
    order = np.argsort(ids, kind="stable")
    fit_rows = order
    if n > fit_sample:  # the fit_sample ids with the smallest hashes: stable as data grow
        keys = np.array([_id_hash(i) for i in ids[order]])
        fit_rows = np.sort(order[np.argsort(keys, kind="stable")[:fit_sample]])
        fit_rows = fit_rows[np.argsort(ids[fit_rows], kind="stable")]
    fitted = vectors[fit_rows]
    projection = reduce_vectors(fitted, reducer=reducer, n_components=n_components,
                                n_neighbors=n_neighbors, seed=seed)  # fmt: skip
    sizes = cluster_sizes(len(fit_rows), min_cluster_shares, floor=min_cluster_floor)
    best, candidates = search_hdbscan(
        projection.reduced, sizes, min_samples=min_samples, selection_methods=selection_methods
    )
    if best is None:
        raise ModelError(
            f"intents: no candidate found two or more intents among {len(fit_rows)} "
            "conversations; are the requests all alike?"
        )
    _, size, method, clusterer = best
    fit_labels = clusterer.labels_.astype(np.int64)
    centroids = cluster_centroids(vectors[fit_rows], fit_labels, int(fit_labels.max()) + 1)

    labels = np.full(n, NOISE, dtype=np.int64)
    probability = np.zeros(n, dtype=np.float64)
    method_of = np.full(n, UNASSIGNED, dtype=object)
    labels[fit_rows] = fit_labels
    probability[fit_rows] = clusterer.probabilities_
    method_of[fit_rows[fit_labels != NOISE]] = CLUSTER
    rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
    if rest.size:
        rest_labels, rest_probability = predict_clusters(projection, clusterer, vectors[rest])
        labels[rest], probability[rest] = rest_labels, rest_probability
        method_of[rest[rest_labels != NOISE]] = PREDICTED
    join_nearest(vectors, labels, probability, method_of, centroids, assign_threshold)
    params = {
        "reducer": reducer,
        "n_components": n_components,
        "n_neighbors": n_neighbors,
        "min_samples": min_samples,
        "min_cluster_size": size,
        "cluster_selection_method": method,
        "n_fit": len(fit_rows),
        "candidates": candidates,
        "assign_threshold": assign_threshold,
    }
    return DensityFit(labels, probability, method_of, centroids, projection, clusterer, params,
                      frozenset(ids[fit_rows].tolist()))  # fmt: skip


class Projection:
    """Place new vectors in a fitted reduced space.

    PCA projects exactly. For UMAP, a new vector is put at the similarity-weighted mean
    of its nearest fitted neighbours' coordinates (UMAP's own ``transform`` starts from
    this point, then optimises; the optimisation needs numba's nearest-neighbour index,
    which costs ~40 s of compilation per process). Only coordinates are approximate:
    the final intent of a new conversation also passes the centroid-similarity rule.
    """

    def __init__(
        self, kind: str, model: Any, fitted: np.ndarray, reduced: np.ndarray, n_neighbors: int
    ) -> None:
        self.kind = kind
        self.model = model if kind == "pca" else None  # a fitted UMAP is not needed again
        self.fitted = fitted.astype(np.float32)
        self.reduced = reduced
        self.n_neighbors = min(n_neighbors, len(fitted))

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Return reduced coordinates of ``vectors`` (unit rows in the embedding space)."""
        if self.kind == "pca":
            return np.asarray(self.model.transform(vectors), dtype=np.float64)
        index, similarity = nearest(vectors, self.fitted, self.n_neighbors)
        weights = np.maximum(similarity, 1e-6)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.reduced[index])


def reduce_vectors(
    fitted: np.ndarray, *, reducer: str, n_components: int, n_neighbors: int, seed: int
) -> Projection:
    """Fit UMAP or PCA on ``fitted`` unit rows; return the :class:`Projection` that holds it.

    The reduced coordinates of ``fitted`` are the projection's ``reduced`` (float64).
    """
    neighbours = nearest(fitted, fitted, min(n_neighbors, len(fitted) - 1))
    model = _make_reducer(reducer, n_components, seed, len(fitted), neighbours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap: "n_jobs overridden by random_state"
        reduced = np.asarray(model.fit_transform(fitted), dtype=np.float64)
    return Projection(reducer, model, fitted, reduced, n_neighbors)


def _make_reducer(
    kind: str, n_components: int, seed: int, n: int, neighbours: tuple[np.ndarray, np.ndarray]
) -> Any:
    if kind == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=min(n_components, n - 1), random_state=seed)
    import umap

    index, similarity = neighbours
    return umap.UMAP(
        n_neighbors=index.shape[1],
        n_components=min(n_components, n - 2),
        min_dist=0.0,
        metric="cosine",
        n_epochs=200,  # UMAP's own default for large data; 500 below 10k points costs 2.5x
        random_state=seed,
        # exact neighbours computed here: pynndescent would compile for ~40 s per process
        precomputed_knn=(index, np.maximum(1.0 - similarity, 0.0), None),
    )


def nearest(
    queries: np.ndarray, points: np.ndarray, k: int, *, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest ``points`` of each query by cosine (unit rows), best first."""
    k = max(1, min(k, len(points)))
    index = np.empty((len(queries), k), dtype=np.int64)
    similarity = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        sims = queries[start : start + chunk] @ points.T
        top = (
            np.argpartition(-sims, k - 1, axis=1)[:, :k]
            if k < len(points)
            else np.tile(np.arange(len(points)), (len(sims), 1))
        )
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        index[start : start + chunk] = np.take_along_axis(top, order, axis=1)
        similarity[start : start + chunk] = np.take_along_axis(top_sims, order, axis=1)
    return index, similarity


def cluster_sizes(n: int, shares: Sequence[float], *, floor: int) -> list[int]:
    """Return the candidate smallest-cluster sizes: ``shares`` of ``n``, at least ``floor``."""
    sizes = {max(floor, round(n * s)) for s in shares}
    return sorted(s for s in sizes if s <= n // 2) or [floor]


def search_hdbscan(
    reduced: np.ndarray,
    sizes: Sequence[int],
    *,
    min_samples: int,
    selection_methods: Sequence[str],
) -> tuple[tuple[float, int, str, Any] | None, list[dict[str, Any]]]:
    """Run HDBSCAN for each size and selection method; keep the best DBCV of >= 2 clusters.

    Returns
    -------
    best : tuple or None
        ``(validity, min_cluster_size, method, clusterer)`` of the kept run; ``None``
        when no run found two clusters.
    candidates : list of dict
        ``min_cluster_size, method, k, dbcv`` of every run, in the order tried.
    """
    import hdbscan

    best, candidates = None, []
    for size in sizes:
        for method in selection_methods:
            clusterer = hdbscan.HDBSCAN(
                min_cluster_size=size,
                min_samples=min(min_samples, size),
                cluster_selection_method=method,
                gen_min_span_tree=True,
                prediction_data=True,
            ).fit(reduced)
            k = int(clusterer.labels_.max()) + 1
            validity = float(clusterer.relative_validity_) if k >= 2 else float("-inf")
            candidates.append({"min_cluster_size": size, "method": method, "k": k,
                               "dbcv": round(validity, 4)})  # fmt: skip
            if k >= 2 and (best is None or validity > best[0] + 1e-12):
                best = (validity, size, method, clusterer)
    return best, candidates


def resample_agreement(
    reduced: np.ndarray,
    labels: np.ndarray,
    *,
    min_cluster_size: int,
    min_samples: int,
    method: str,
    share: float = 0.8,
    seed: int = 0,
) -> float:
    """Return how well a cut holds when a share of the rows is clustered again (ARI).

    HDBSCAN runs with the same settings (the size scaled by ``share``) on a random
    ``share`` of the reduced rows; the adjusted Rand index between its labels and
    ``labels`` on those rows (noise as one more group) is returned: 1.0 when the cut is
    found again, about 0 when it is chance. The reduction itself is not refitted.
    """
    import hdbscan
    from sklearn.metrics import adjusted_rand_score

    n = len(reduced)
    rows = np.sort(np.random.default_rng(seed).choice(n, size=max(2, round(share * n)),
                                                      replace=False))  # fmt: skip
    size = max(2, round(min_cluster_size * share))
    again = hdbscan.HDBSCAN(
        min_cluster_size=size, min_samples=min(min_samples, size), cluster_selection_method=method
    ).fit(reduced[rows])
    return float(adjusted_rand_score(labels[rows], again.labels_))


def predict_clusters(
    reducer: Any, clusterer: Any, vectors: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Return HDBSCAN's cluster (``NOISE`` for none) and strength of each new row."""
    import hdbscan

    reduced = reducer.transform(vectors)
    labels, strengths = hdbscan.approximate_predict(clusterer, reduced)
    return labels.astype(np.int64), strengths.astype(np.float64)


def subcluster(reduced: np.ndarray, *, min_cluster_size: int, min_samples: int) -> np.ndarray:
    """Return the labels of one plain HDBSCAN run on ``reduced`` (-1 for noise)."""
    import hdbscan

    return (
        hdbscan.HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples)
        .fit(reduced)
        .labels_
    )


def join_nearest(
    vectors: np.ndarray,
    labels: np.ndarray,
    probability: np.ndarray,
    method: np.ndarray,
    centroids: np.ndarray,
    threshold: float,
) -> None:
    """In place: each row ends in the nearest cluster at cosine >= ``threshold``, or none.

    A row placed by HDBSCAN keeps its cluster only if it passes the same test against
    that cluster's centroid (UMAP can glue an isolated point to a cluster).
    """
    if not len(centroids):
        return
    placed = np.flatnonzero(labels != NOISE)
    own = np.einsum("nd,nd->n", vectors[placed], centroids[labels[placed]])
    far = placed[own < threshold]  # placed by density, but unlike its cluster's centre
    labels[far], probability[far], method[far] = NOISE, 0.0, UNASSIGNED
    noise = np.flatnonzero(labels == NOISE)
    if not noise.size:
        return
    sims = vectors[noise] @ centroids.T
    best = sims.argmax(axis=1)
    close = sims[np.arange(noise.size), best] >= threshold
    labels[noise[close]] = best[close]
    probability[noise[close]] = sims[np.arange(noise.size), best][close]
    method[noise[close]] = NEAREST


def cluster_centroids(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """Return the ``(k, dim)`` unit mean rows of the clusters ``0..k-1`` (noise left out)."""
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[labels != NOISE], vectors[labels != NOISE])
    return unit_rows(sums).astype(np.float32)


def unit_rows(matrix: np.ndarray) -> np.ndarray:
    """Return ``matrix`` with each non-zero row scaled to unit length."""
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _id_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()
