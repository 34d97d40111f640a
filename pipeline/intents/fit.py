"""The intent clusterer: conversations grouped by request, with the scikit-learn contract.

:class:`IntentClusterer` fits with the shared density routine
(:func:`pipeline.clustering.fit_clusters`: reduction, HDBSCAN at data-chosen sizes,
the nearest-centroid rule) and assigns new conversations with the same rule
(:func:`assign_labels`), routing a split-off emerging intent's parent to the nearer of
parent and child (:func:`route_to_children`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from numbers import Integral, Real
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, ClusterMixin
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from pipeline.clustering import (
    NOISE,
    PREDICTED,
    UNASSIGNED,
    DensityFit,
    fit_clusters,
    join_nearest,
    predict_clusters,
    resample_agreement,
)
from pipeline.config import IntentConfig
from pipeline.progress import track

__all__ = ["HYPERPARAMETERS", "IntentClusterer", "assign_labels", "route_to_children"]

#: The :class:`~pipeline.config.IntentConfig` fields that fitting reads.
HYPERPARAMETERS = ("reducer", "n_components", "n_neighbors", "min_samples",
                   "min_cluster_shares", "selection_methods", "min_cluster_floor",
                   "fit_sample", "assign_threshold", "seed")  # fmt: skip
_DEFAULT = IntentConfig()
_POSITIVE = [Interval(Integral, 1, None, closed="left")]


class IntentClusterer(ClusterMixin, BaseEstimator):
    """Cluster request vectors into intents, choosing the number of intents from the data.

    Parameters
    ----------
    reducer, n_components, n_neighbors, min_samples, min_cluster_shares,
    selection_methods, min_cluster_floor, fit_sample, assign_threshold, seed
        As in :class:`~pipeline.config.IntentConfig` (keyword-only, defaults the same).

    Attributes
    ----------
    labels_ : numpy.ndarray
        Intent of each fitted row (``NOISE`` = unassigned).
    probabilities_ : numpy.ndarray
        HDBSCAN membership strength, or the cosine to the centroid for a nearest match.
    methods_ : numpy.ndarray
        ``cluster``, ``predicted``, ``nearest`` or ``unassigned`` per row.
    centroids_ : numpy.ndarray
        ``(n_intents, dim)`` unit rows in the embedding space.
    reducer_, hdbscan_
        The fitted :class:`~pipeline.clustering.Projection` and ``hdbscan.HDBSCAN``.
    params_ : dict
        The chosen HDBSCAN settings, every candidate's DBCV, ``stability_ari`` (the
        cut's agreement with HDBSCAN rerun on 80% of the rows,
        :func:`~pipeline.clustering.resample_agreement`), and ``children`` once
        :func:`~pipeline.intents.emerging.split_emerging` split an intent off.
    fitted_ids_ : frozenset of str
        The conversations in the fitted sample.
    """

    _parameter_constraints: dict = {
        "reducer": [StrOptions({"umap", "pca"})],
        "n_components": _POSITIVE,
        "n_neighbors": _POSITIVE,
        "min_samples": _POSITIVE,
        "min_cluster_shares": [tuple, list],
        "selection_methods": [tuple, list],
        "min_cluster_floor": _POSITIVE,
        "fit_sample": _POSITIVE,
        "assign_threshold": [Interval(Real, 0.0, 1.0, closed="both")],
        "seed": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        *,
        reducer: str = _DEFAULT.reducer,
        n_components: int = _DEFAULT.n_components,
        n_neighbors: int = _DEFAULT.n_neighbors,
        min_samples: int = _DEFAULT.min_samples,
        min_cluster_shares: Sequence[float] = _DEFAULT.min_cluster_shares,
        selection_methods: Sequence[str] = _DEFAULT.selection_methods,
        min_cluster_floor: int = _DEFAULT.min_cluster_floor,
        fit_sample: int = _DEFAULT.fit_sample,
        assign_threshold: float = _DEFAULT.assign_threshold,
        seed: int = _DEFAULT.seed,
    ) -> None:
        self.reducer = reducer
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.min_samples = min_samples
        self.min_cluster_shares = min_cluster_shares
        self.selection_methods = selection_methods
        self.min_cluster_floor = min_cluster_floor
        self.fit_sample = fit_sample
        self.assign_threshold = assign_threshold
        self.seed = seed

    @classmethod
    def from_config(cls, config: IntentConfig) -> IntentClusterer:
        """Return an unfitted clusterer with the hyperparameters of ``config``.

        The candidate sizes are ``config.cluster_shares()``: ``min_cluster_shares``
        after ``granularity`` (or the one ``smallest_intent_share``).
        """
        settings = {name: getattr(config, name) for name in HYPERPARAMETERS}
        return cls(**{**settings, "min_cluster_shares": config.cluster_shares()})

    def fit(
        self, X: np.ndarray, y: Any = None, *, conversation_ids: Sequence[str] | None = None
    ) -> IntentClusterer:
        """Fit intents on ``X``, ``(n, dim)`` unit rows (not modified).

        Parameters
        ----------
        X
            The request vectors.
        y
            Ignored.
        conversation_ids
            One id per row (they fix the canonical order and the fitted sample); by
            default the row numbers.

        Returns
        -------
        IntentClusterer
            ``self``, fitted.

        Raises
        ------
        sklearn.utils._param_validation.InvalidParameterError
            A hyperparameter is out of range (a ``ValueError`` naming it).
        ModelError
            Fewer than 20 rows, or no candidate found two intents.
        """
        self._validate_hyperparameters()
        X = np.asarray(X)
        if conversation_ids is None:
            conversation_ids = [f"{i:012d}" for i in range(len(X))]
        n_fit = min(len(X), self.fit_sample)
        with track(f"intents: {self.reducer.upper()} and HDBSCAN on {n_fit:,} conversations"):
            fit = fit_clusters(
                conversation_ids, X, **{name: getattr(self, name) for name in HYPERPARAMETERS}
            )
        with track(f"intents: stability check on {n_fit:,} conversations"):
            agreement = resample_agreement(
                fit.reducer.reduced,
                fit.clusterer.labels_,
                min_cluster_size=fit.params["min_cluster_size"],
                min_samples=self.min_samples,
                method=fit.params["cluster_selection_method"],
                seed=self.seed,
            )
        fit = replace(fit, params={**fit.params, "stability_ari": round(agreement, 4)})
        self._set_fit(fit)
        self.n_features_in_ = X.shape[1]
        return self

    def predict(self, X: np.ndarray) -> np.ndarray:
        """Return the intent of each new row of ``X`` (``NOISE`` when none), as a saved model.

        Raises
        ------
        sklearn.exceptions.NotFittedError
            Called before :meth:`fit`.
        """
        check_is_fitted(self, "centroids_")
        labels, _, _ = assign_labels(
            self.reducer_, self.hdbscan_, self.centroids_, self.params_.get("children", {}),
            np.asarray(X), threshold=self.assign_threshold,
        )  # fmt: skip
        return labels

    def _set_fit(self, fit: DensityFit) -> None:
        self.labels_ = fit.labels
        self.probabilities_ = fit.probability
        self.methods_ = fit.method
        self.centroids_ = fit.centroids
        self.reducer_ = fit.reducer
        self.hdbscan_ = fit.clusterer
        self.params_ = fit.params
        self.fitted_ids_ = fit.fitted_ids

    def _validate_hyperparameters(self) -> None:
        self._validate_params()
        shares = self.min_cluster_shares
        if not shares or not all(isinstance(v, Real) and 0 < v < 1 for v in shares):
            raise InvalidParameterError(
                "The 'min_cluster_shares' parameter of IntentClusterer must be a non-empty "
                f"sequence of shares in (0, 1). Got {list(shares)!r} instead."
            )
        methods = self.selection_methods
        if not methods or set(methods) - {"eom", "leaf"}:
            raise InvalidParameterError(
                "The 'selection_methods' parameter of IntentClusterer must be a non-empty "
                f"sequence of 'eom' and/or 'leaf'. Got {list(methods)!r} instead."
            )


def assign_labels(
    reducer: Any,
    clusterer: Any,
    centroids: np.ndarray,
    children: dict[int, int],
    vectors: np.ndarray,
    *,
    threshold: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Assign new rows with a fitted reducer, HDBSCAN and centroids (``vectors`` unchanged).

    ``hdbscan.approximate_predict`` places each row, a parent intent's rows move to the
    nearest of parent and its split-off children, then the nearest-centroid rule of the
    fit applies at cosine ``threshold``.

    Returns
    -------
    labels : numpy.ndarray
        Cluster index per row, ``NOISE`` when unassigned.
    probability : numpy.ndarray
        HDBSCAN membership strength (or the cosine to the centroid for a nearest match).
    method : numpy.ndarray
        ``predicted``, ``nearest`` or ``unassigned`` per row.
    """
    labels, probability = predict_clusters(reducer, clusterer, vectors)
    route_to_children(labels, vectors, centroids, children)
    method = np.where(labels != NOISE, PREDICTED, UNASSIGNED).astype(object)
    join_nearest(vectors, labels, probability, method, centroids, threshold)
    return labels, probability, method


def route_to_children(
    labels: np.ndarray, vectors: np.ndarray, centroids: np.ndarray, children: dict[int, int]
) -> None:
    """In place: a row in a parent intent moves to the nearest of parent and children."""
    for parent in set(children.values()):
        family = np.array([parent, *sorted(c for c, p in children.items() if p == parent)])
        rows = np.flatnonzero(labels == parent)
        if rows.size:
            labels[rows] = family[(vectors[rows] @ centroids[family].T).argmax(axis=1)]
