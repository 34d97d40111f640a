"""The shared density clustering routine: reduction, HDBSCAN search, prediction, centroids."""

import ast
from pathlib import Path

import numpy as np
import pytest
from intent_vectors import blobs
from sklearn.metrics import adjusted_rand_score

from pipeline.clustering import (
    NOISE,
    Projection,
    cluster_centroids,
    cluster_sizes,
    fit_clusters,
    join_nearest,
    nearest,
    predict_clusters,
    reduce_vectors,
    search_hdbscan,
    subcluster,
)
from pipeline.config import IntentConfig
from pipeline.errors import ModelError

PIPELINE = Path(__file__).parents[1] / "pipeline"
SETTINGS = {name: getattr(IntentConfig(), name) for name in (
    "n_components", "n_neighbors", "min_samples", "min_cluster_shares", "selection_methods",
    "min_cluster_floor", "fit_sample", "assign_threshold", "seed")}  # fmt: skip


def test_only_the_clustering_module_imports_hdbscan_and_umap():
    importers = set()
    for path in PIPELINE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = (
                [a.name for a in node.names] if isinstance(node, ast.Import)
                else [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            )  # fmt: skip
            if any(n.split(".")[0] in ("hdbscan", "umap") for n in names):
                importers.add(path.relative_to(PIPELINE).as_posix())
    assert importers == {"clustering.py"}


@pytest.mark.parametrize("reducer", ["pca", "umap"])
def test_fit_clusters_finds_planted_clusters_and_does_not_modify_its_input(reducer):
    ids, vectors, truth = blobs()
    before = vectors.copy()
    fit = fit_clusters(ids, vectors, reducer=reducer, **SETTINGS)
    np.testing.assert_array_equal(vectors, before)
    assert adjusted_rand_score(truth, fit.labels) >= 0.85
    assert fit.centroids.shape == (fit.labels.max() + 1, vectors.shape[1])
    assert isinstance(fit.reducer, Projection) and fit.reducer.reduced.shape[0] == len(ids)


def test_fit_clusters_needs_twenty_rows():
    ids, vectors, _ = blobs(n_per=4)
    with pytest.raises(ModelError, match="at least 20"):
        fit_clusters(ids, vectors, reducer="pca", **SETTINGS)


@pytest.mark.parametrize(
    ("n", "shares", "floor", "expected"),
    [(1000, (0.002, 0.01, 0.6), 5, [5, 10]), (30, (0.5,), 5, [15]), (8, (0.9,), 5, [5])],
)
def test_cluster_sizes_are_shares_of_n_above_the_floor_and_at_most_half(n, shares, floor, expected):
    assert cluster_sizes(n, shares, floor=floor) == expected


def test_nearest_is_exact_and_best_first():
    points = np.eye(3, dtype=np.float32)
    queries = np.array([[0.6, 0.8, 0.0]], dtype=np.float32)
    index, similarity = nearest(queries, points, 2)
    assert index.tolist() == [[1, 0]]
    np.testing.assert_allclose(similarity, [[0.8, 0.6]])


def test_pca_projection_places_fitted_rows_on_their_coordinates():
    _, vectors, _ = blobs(n_per=20)
    projection = reduce_vectors(vectors, reducer="pca", n_components=3, n_neighbors=15, seed=0)
    assert projection.reduced.shape == (80, 3) and projection.reduced.dtype == np.float64
    np.testing.assert_allclose(projection.transform(vectors), projection.reduced, atol=1e-5)


def test_umap_projection_puts_a_fitted_row_near_its_coordinates():
    _, vectors, _ = blobs(n_per=20)
    projection = reduce_vectors(vectors, reducer="umap", n_components=2, n_neighbors=5, seed=0)
    assert projection.model is None  # the fitted UMAP is not kept
    moved = np.linalg.norm(projection.transform(vectors[:4]) - projection.reduced[:4], axis=1)
    spread = np.ptp(projection.reduced, axis=0).max()
    assert (moved < 0.2 * spread).all()


def test_search_keeps_the_best_dbcv_and_predict_places_new_rows():
    _, vectors, truth = blobs(n_per=25, k=3)
    projection = reduce_vectors(vectors, reducer="pca", n_components=5, n_neighbors=15, seed=0)
    best, candidates = search_hdbscan(
        projection.reduced, [5, 10], min_samples=5, selection_methods=("eom", "leaf")
    )
    assert [(c["min_cluster_size"], c["method"]) for c in candidates] == [
        (5, "eom"), (5, "leaf"), (10, "eom"), (10, "leaf")]  # fmt: skip
    validity, size, method, clusterer = best
    assert (
        validity == max(c["dbcv"] for c in candidates if c["k"] >= 2)
        or abs(round(validity, 4) - max(c["dbcv"] for c in candidates if c["k"] >= 2)) < 1e-9
    )
    labels, strength = predict_clusters(projection, clusterer, vectors[::10])
    np.testing.assert_array_equal(labels, clusterer.labels_[::10])
    assert labels.dtype == np.int64 and strength.dtype == np.float64


def test_search_returns_none_when_no_run_finds_two_clusters():
    rng = np.random.default_rng(0)
    one_blob = rng.normal(size=(40, 2))
    best, candidates = search_hdbscan(one_blob, [20], min_samples=5, selection_methods=("eom",))
    assert best is None and candidates[0]["k"] < 2


def test_subcluster_splits_a_tight_group_out_of_a_cluster():
    rng = np.random.default_rng(1)
    reduced = np.concatenate([rng.normal(size=(40, 2)), 0.05 * rng.normal(size=(15, 2)) + 6])
    labels = subcluster(reduced, min_cluster_size=10, min_samples=5)
    assert len(set(labels[40:])) == 1 and labels[40] != NOISE
    assert (labels[:40] != labels[40]).all()


def test_join_nearest_moves_rows_by_the_threshold_in_place():
    centroids = np.eye(2, dtype=np.float32)
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [0.6, 0.8], [-1.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 0, NOISE, NOISE])
    probability = np.array([1.0, 1.0, 0.0, 0.0])
    method = np.array(["cluster"] * 2 + ["unassigned"] * 2, dtype=object)
    join_nearest(vectors, labels, probability, method, centroids, 0.5)
    assert labels.tolist() == [0, 1, 1, NOISE]
    assert method.tolist() == ["cluster", "nearest", "nearest", "unassigned"]
    np.testing.assert_allclose(probability, [1.0, 1.0, 0.8, 0.0])


def test_cluster_centroids_are_unit_means_without_noise():
    vectors = np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])
    centroids = cluster_centroids(vectors, np.array([0, 0, NOISE]), 1)
    np.testing.assert_allclose(centroids, [[2**-0.5, 2**-0.5]], rtol=1e-6)
    assert centroids.dtype == np.float32
