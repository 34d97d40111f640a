"""Fitting intents: planted clusters found, order-free, thresholds and samples."""

import numpy as np
import pytest
from intent_vectors import DIM, blobs
from sklearn.metrics import adjusted_rand_score

from pipeline.clustering import NOISE
from pipeline.config import IntentConfig
from pipeline.errors import ConfigError, ModelError
from pipeline.intents.fit import HYPERPARAMETERS, IntentClusterer


@pytest.mark.parametrize(("reducer", "min_ari"), [("umap", 0.95), ("pca", 0.85)])
def test_fit_finds_the_planted_clusters_without_being_told_how_many(reducer, min_ari):
    ids, vectors, truth = blobs()
    fit = IntentClusterer(reducer=reducer).fit(vectors, conversation_ids=ids)
    assert fit.labels_.max() + 1 == 4 or reducer == "pca"  # PCA may split one blob
    assert adjusted_rand_score(truth, fit.labels_) >= min_ari
    assert fit.params_["min_cluster_size"] in {
        c["min_cluster_size"] for c in fit.params_["candidates"]
    }
    assert set(fit.methods_) <= {"cluster", "nearest", "unassigned"}


def test_fit_does_not_depend_on_input_order():
    ids, vectors, _ = blobs()
    first = IntentClusterer().fit(vectors, conversation_ids=ids)
    order = np.random.default_rng(3).permutation(len(ids))
    second = IntentClusterer().fit(vectors[order], conversation_ids=[ids[i] for i in order])
    restored = np.empty_like(second.labels_)
    restored[order] = second.labels_
    np.testing.assert_array_equal(first.labels_, restored)


def test_noise_joins_a_cluster_only_above_the_threshold():
    ids, vectors, _ = blobs()
    outlier = np.zeros((1, DIM), dtype=np.float32)
    outlier[0, -1] = 1.0  # orthogonal to every cluster
    ids, vectors = [*ids, "zz-outlier"], np.concatenate([vectors, outlier])
    fit = IntentClusterer(assign_threshold=0.5).fit(vectors, conversation_ids=ids)
    assert fit.labels_[-1] == NOISE and fit.methods_[-1] == "unassigned"
    loose = IntentClusterer(assign_threshold=0.0).fit(vectors, conversation_ids=ids)
    assert loose.labels_[-1] != NOISE and loose.methods_[-1] in ("cluster", "nearest")


def test_a_fit_sample_bounds_the_fit_and_the_rest_is_predicted():
    ids, vectors, truth = blobs(n_per=80)
    fit = IntentClusterer(fit_sample=200).fit(vectors, conversation_ids=ids)
    assert fit.params_["n_fit"] == 200 == len(fit.fitted_ids_)
    assert (fit.methods_ == "predicted").sum() + (fit.methods_ == "nearest").sum() >= 100
    assert adjusted_rand_score(truth, fit.labels_) >= 0.95


def test_too_few_conversations_is_a_clear_error():
    ids, vectors, _ = blobs(n_per=4)
    with pytest.raises(ModelError, match="at least 20"):
        IntentClusterer().fit(vectors, conversation_ids=ids)


def test_from_config_takes_every_fitting_setting_of_the_config():
    ids, vectors, _ = blobs(n_per=30)
    config = IntentConfig(reducer="pca", min_cluster_floor=6, assign_threshold=0.6, seed=3)
    estimator = IntentClusterer.from_config(config)
    assert estimator.get_params() == {name: getattr(config, name) for name in HYPERPARAMETERS}
    same = IntentClusterer(**estimator.get_params()).fit(vectors, conversation_ids=ids)
    fitted = estimator.fit(vectors, conversation_ids=ids)
    np.testing.assert_array_equal(fitted.labels_, same.labels_)


def test_the_fit_reports_how_well_its_cut_holds_on_a_resample():
    vectors = blobs(60, 4, seed=3)[1]
    fit = IntentClusterer(seed=0).fit(vectors)
    assert 0.9 <= fit.params_["stability_ari"] <= 1.0  # well separated: found again


def test_granularity_scales_the_candidate_shares_and_a_fixed_share_replaces_them():
    config = IntentConfig(min_cluster_shares=(0.01, 0.02))
    assert config.cluster_shares() == (0.01, 0.02)
    assert IntentConfig(min_cluster_shares=(0.01, 0.3), granularity="coarser").cluster_shares() == (
        0.02, 0.5,
    )  # fmt: skip
    assert IntentConfig(min_cluster_shares=(0.01,), granularity="finer").cluster_shares() == (
        0.005,
    )
    fixed = IntentConfig(smallest_intent_share=0.004)
    assert fixed.cluster_shares() == (0.004,)
    assert IntentClusterer.from_config(fixed).min_cluster_shares == (0.004,)
    with pytest.raises(ConfigError, match="intents.smallest_intent_share"):
        IntentConfig(smallest_intent_share=1.5)
