"""The saved intent model: assigning with it, and reading it back."""

import pickle

import numpy as np
import pytest
from intent_vectors import blobs

from pipeline.config import IntentConfig
from pipeline.errors import ModelError
from pipeline.intents.fit import fit_intents
from pipeline.intents.lineage import match_intent_ids
from pipeline.intents.model import IntentModel, assign_intents, dump_model, load_model


def test_assign_puts_new_conversations_in_the_right_intent():
    ids, vectors, truth = blobs(seed=1)
    fit = fit_intents(ids, vectors, IntentConfig())
    intent_ids, _ = match_intent_ids(None, fit.centroids, threshold=0.7)
    model = IntentModel(1, intent_ids, fit.centroids, fit.reducer, fit.clusterer, {}, None)
    new_ids, new_vectors, new_truth = blobs(n_per=10, seed=1)  # same centres, new points
    rng = np.random.default_rng(9)
    new_vectors = new_vectors + 0.05 * rng.normal(size=new_vectors.shape).astype(np.float32)
    new_vectors /= np.linalg.norm(new_vectors, axis=1, keepdims=True)
    assigned, probability, method = assign_intents(model, new_vectors, threshold=0.5)
    expected = {t: intent_ids[c] for t, c in zip(truth, fit.labels, strict=True) if c >= 0}
    assert [expected[t] for t in new_truth] == assigned
    assert set(method) <= {"predicted", "nearest"}
    assert (probability > 0).all()


def test_model_round_trips_and_a_bad_blob_is_a_model_error():
    ids, vectors, _ = blobs()
    fit = fit_intents(ids, vectors, IntentConfig())
    model = IntentModel(2, ["i001"] * 4, fit.centroids, fit.reducer, fit.clusterer, {}, None)
    again = load_model(dump_model(model), 2)
    np.testing.assert_array_equal(
        assign_intents(again, vectors[:5], threshold=0.5)[1],
        assign_intents(model, vectors[:5], threshold=0.5)[1],
    )
    with pytest.raises(ModelError, match="refit with `cxminer intents --refit`"):
        load_model(b"not a pickle", 7)


def test_a_model_saved_before_the_intents_split_still_loads():
    ids, vectors, _ = blobs()
    fit = fit_intents(ids, vectors, IntentConfig(reducer="pca"))
    model = IntentModel(1, ["i001"] * 4, fit.centroids, fit.reducer, fit.clusterer, {}, None)
    # protocol 0 names classes as "module\nname\n": rewrite them to the old module
    blob = pickle.dumps(model, protocol=0)
    old = blob.replace(b"pipeline.intents.model\n", b"pipeline.intents.run\n").replace(
        b"pipeline.intents.fit\n", b"pipeline.intents.run\n"
    )
    assert old != blob and b"pipeline.intent_" not in old
    again = load_model(old, 1)
    assert type(again) is IntentModel and type(again.reducer) is type(model.reducer)
    np.testing.assert_array_equal(
        assign_intents(again, vectors[:5], threshold=0.5)[1],
        assign_intents(model, vectors[:5], threshold=0.5)[1],
    )
