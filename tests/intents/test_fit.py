"""Fitting intents: planted clusters found, order-free, thresholds and samples."""

import numpy as np
import pytest
from intent_vectors import DIM, blobs
from sklearn.metrics import adjusted_rand_score

from pipeline.config import IntentConfig
from pipeline.errors import ModelError
from pipeline.intents.fit import NOISE, fit_intents


@pytest.mark.parametrize(("reducer", "min_ari"), [("umap", 0.95), ("pca", 0.85)])
def test_fit_finds_the_planted_clusters_without_being_told_how_many(reducer, min_ari):
    ids, vectors, truth = blobs()
    fit = fit_intents(ids, vectors, IntentConfig(reducer=reducer))
    assert fit.labels.max() + 1 == 4 or reducer == "pca"  # PCA may split one blob
    assert adjusted_rand_score(truth, fit.labels) >= min_ari
    assert fit.params["min_cluster_size"] in {
        c["min_cluster_size"] for c in fit.params["candidates"]
    }
    assert set(fit.method) <= {"cluster", "nearest", "unassigned"}


def test_fit_does_not_depend_on_input_order():
    ids, vectors, _ = blobs()
    first = fit_intents(ids, vectors, IntentConfig())
    order = np.random.default_rng(3).permutation(len(ids))
    second = fit_intents([ids[i] for i in order], vectors[order], IntentConfig())
    restored = np.empty_like(second.labels)
    restored[order] = second.labels
    np.testing.assert_array_equal(first.labels, restored)


def test_noise_joins_a_cluster_only_above_the_threshold():
    ids, vectors, _ = blobs()
    outlier = np.zeros((1, DIM), dtype=np.float32)
    outlier[0, -1] = 1.0  # orthogonal to every cluster
    ids, vectors = [*ids, "zz-outlier"], np.concatenate([vectors, outlier])
    fit = fit_intents(ids, vectors, IntentConfig(assign_threshold=0.5))
    assert fit.labels[-1] == NOISE and fit.method[-1] == "unassigned"
    loose = fit_intents(ids, vectors, IntentConfig(assign_threshold=0.0))
    assert loose.labels[-1] != NOISE and loose.method[-1] in ("cluster", "nearest")


def test_a_fit_sample_bounds_the_fit_and_the_rest_is_predicted():
    ids, vectors, truth = blobs(n_per=80)
    fit = fit_intents(ids, vectors, IntentConfig(fit_sample=200))
    assert fit.params["n_fit"] == 200 == len(fit.fitted_ids)
    assert (fit.method == "predicted").sum() + (fit.method == "nearest").sum() >= 100
    assert adjusted_rand_score(truth, fit.labels) >= 0.95


def test_too_few_conversations_is_a_clear_error():
    ids, vectors, _ = blobs(n_per=4)
    with pytest.raises(ModelError, match="at least 20"):
        fit_intents(ids, vectors, IntentConfig())
