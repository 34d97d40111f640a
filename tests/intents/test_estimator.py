"""IntentClusterer keeps the scikit-learn estimator contract (in the spirit of check_estimator)."""

import numpy as np
import pytest
from intent_vectors import blobs
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from pipeline.clustering import NOISE
from pipeline.config import IntentConfig
from pipeline.intents.fit import HYPERPARAMETERS, IntentClusterer


def test_defaults_are_the_config_defaults_and_init_only_stores():
    estimator = IntentClusterer(reducer="pca", n_components=0)  # invalid, not checked yet
    assert estimator.get_params()["n_components"] == 0
    defaults = IntentClusterer().get_params()
    assert defaults == {name: getattr(IntentConfig(), name) for name in HYPERPARAMETERS}
    assert not [name for name in vars(IntentClusterer()) if name.endswith("_")]


def test_hyperparameters_are_keyword_only():
    with pytest.raises(TypeError):
        IntentClusterer("pca")


def test_clone_is_an_unfitted_copy_with_equal_params():
    ids, vectors, _ = blobs(n_per=30)
    fitted = IntentClusterer(reducer="pca", seed=3).fit(vectors, conversation_ids=ids)
    copy = clone(fitted)
    assert copy is not fitted and copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "labels_")
    with pytest.raises(NotFittedError):
        copy.predict(vectors)


def test_set_params_changes_what_the_next_fit_uses():
    ids, vectors, _ = blobs(n_per=30)
    estimator = IntentClusterer(reducer="pca").set_params(min_cluster_floor=7)
    estimator.fit(vectors, conversation_ids=ids)
    assert estimator.get_params()["min_cluster_floor"] == 7
    assert min(c["min_cluster_size"] for c in estimator.params_["candidates"]) >= 7


@pytest.mark.parametrize("reducer", ["pca", "umap"])
def test_refit_with_the_same_seed_is_deterministic(reducer):
    ids, vectors, _ = blobs(n_per=30, seed=4)
    first = IntentClusterer(reducer=reducer, seed=1).fit(vectors, conversation_ids=ids)
    second = clone(first).fit(vectors, conversation_ids=ids)
    np.testing.assert_array_equal(first.labels_, second.labels_)
    np.testing.assert_array_equal(first.probabilities_, second.probabilities_)
    np.testing.assert_array_equal(first.centroids_, second.centroids_)
    np.testing.assert_array_equal(first.predict(vectors[:9]), second.predict(vectors[:9]))


def test_fit_returns_self_and_predict_places_the_fitted_rows_in_their_intents():
    ids, vectors, truth = blobs(n_per=30)
    estimator = IntentClusterer(reducer="pca")
    assert estimator.fit(vectors, conversation_ids=ids) is estimator
    assert estimator.n_features_in_ == vectors.shape[1]
    predicted = estimator.predict(vectors)
    placed = (estimator.labels_ != NOISE) & (predicted != NOISE)
    assert placed.mean() > 0.9
    np.testing.assert_array_equal(predicted[placed], estimator.labels_[placed])
    assert len(set(zip(truth[placed], predicted[placed], strict=True))) == len(set(truth))


def test_fit_without_ids_uses_the_row_order():
    ids, vectors, _ = blobs(n_per=30)
    with_ids = IntentClusterer(reducer="pca").fit(vectors, conversation_ids=ids)
    without = IntentClusterer(reducer="pca").fit_predict(vectors)
    np.testing.assert_array_equal(with_ids.labels_, without)


def test_fit_and_predict_do_not_modify_their_input():
    ids, vectors, _ = blobs(n_per=30)
    before, ids_before = vectors.copy(), list(ids)
    estimator = IntentClusterer(reducer="pca").fit(vectors, conversation_ids=ids)
    np.testing.assert_array_equal(vectors, before)
    assert ids == ids_before
    new = vectors[::7].copy()
    new_before = new.copy()
    estimator.predict(new)
    np.testing.assert_array_equal(new, new_before)


def test_predict_before_fit_is_not_fitted_error():
    with pytest.raises(NotFittedError) as error:
        IntentClusterer().predict(np.eye(3, dtype=np.float32))
    assert isinstance(error.value, ValueError) and isinstance(error.value, AttributeError)


@pytest.mark.parametrize(
    ("param", "value"),
    [
        ("reducer", "tsne"),
        ("n_components", 0),
        ("n_neighbors", -1),
        ("min_samples", 1.5),
        ("fit_sample", 0),
        ("assign_threshold", 1.5),
        ("seed", -1),
        ("min_cluster_shares", (0.5, 2.0)),
        ("min_cluster_shares", ()),
        ("selection_methods", ("eom", "best")),
    ],
)
def test_a_bad_hyperparameter_is_a_clear_error_naming_it(param, value):
    ids, vectors, _ = blobs(n_per=30)
    estimator = IntentClusterer(**{param: value})
    with pytest.raises(ValueError, match=f"'{param}' parameter of IntentClusterer"):
        estimator.fit(vectors, conversation_ids=ids)
    assert not hasattr(estimator, "labels_")
