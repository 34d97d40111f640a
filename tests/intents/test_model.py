"""The saved intent model: assigning with it, and reading it back (old blobs included)."""

import pickle
from pathlib import Path

import numpy as np
import pytest
from intent_vectors import DIM, blobs

from pipeline.errors import ModelError
from pipeline.intents.fit import IntentClusterer
from pipeline.intents.lineage import match_intent_ids
from pipeline.intents.model import IntentModel, assign_intents, dump_model, load_model

OLD_BLOB = Path(__file__).parents[1] / "fixtures" / "intent_model_f8c2ab0.pkl"


def _model(vectors, ids, *, reducer="umap", version=1, intent_ids=None):
    fit = IntentClusterer(reducer=reducer).fit(vectors, conversation_ids=ids)
    if intent_ids is None:
        intent_ids, _ = match_intent_ids(None, fit.centroids_, threshold=0.7)
    model = IntentModel(version, intent_ids, fit.centroids_, fit.reducer_, fit.hdbscan_, {}, None)
    return fit, model


def test_assign_puts_new_conversations_in_the_right_intent():
    ids, vectors, truth = blobs(seed=1)
    fit, model = _model(vectors, ids)
    intent_ids = model.intent_ids
    new_ids, new_vectors, new_truth = blobs(n_per=10, seed=1)  # same centres, new points
    rng = np.random.default_rng(9)
    new_vectors = new_vectors + 0.05 * rng.normal(size=new_vectors.shape).astype(np.float32)
    new_vectors /= np.linalg.norm(new_vectors, axis=1, keepdims=True)
    before = new_vectors.copy()
    assigned, probability, method = assign_intents(model, new_vectors, threshold=0.5)
    expected = {t: intent_ids[c] for t, c in zip(truth, fit.labels_, strict=True) if c >= 0}
    assert [expected[t] for t in new_truth] == assigned
    assert set(method) <= {"predicted", "nearest"}
    assert (probability > 0).all()
    np.testing.assert_array_equal(new_vectors, before)  # input not modified


def test_model_round_trips_and_a_bad_blob_is_a_model_error():
    ids, vectors, _ = blobs()
    _, model = _model(vectors, ids, version=2, intent_ids=["i001"] * 4)
    again = load_model(dump_model(model), 2)
    np.testing.assert_array_equal(
        assign_intents(again, vectors[:5], threshold=0.5)[1],
        assign_intents(model, vectors[:5], threshold=0.5)[1],
    )
    with pytest.raises(ModelError, match="refit with `cxminer intents --refit`"):
        load_model(b"not a pickle", 7)


@pytest.mark.parametrize(
    ("model_module", "projection_module"),
    [
        ("pipeline.intents", "pipeline.intents"),  # before the intents split
        ("pipeline.intent_model", "pipeline.intent_fit"),  # up to f8c2ab0
        ("pipeline.intents.model", "pipeline.intents.fit"),  # before clustering moved out
    ],
)
def test_a_model_saved_under_an_old_module_path_still_loads(model_module, projection_module):
    ids, vectors, _ = blobs()
    _, model = _model(vectors, ids, reducer="pca", intent_ids=["i001"] * 4)
    # protocol 0 names classes as "module\nname\n": rewrite them to the old modules
    blob = pickle.dumps(model, protocol=0)
    old = blob.replace(b"pipeline.intents.model\nIntentModel\n",
                       f"{model_module}\nIntentModel\n".encode()).replace(
        b"pipeline.clustering\nProjection\n", f"{projection_module}\nProjection\n".encode()
    )  # fmt: skip
    assert old.count(f"{projection_module}\nProjection\n".encode()) == 1
    assert old.count(f"{model_module}\nIntentModel\n".encode()) == 1
    again = load_model(old, 1)
    assert type(again) is IntentModel and type(again.reducer) is type(model.reducer)
    np.testing.assert_array_equal(
        assign_intents(again, vectors[:5], threshold=0.5)[1],
        assign_intents(model, vectors[:5], threshold=0.5)[1],
    )


def _old_probes():
    """The probes the fixture's assignments were recorded on (see tests/fixtures/README.md)."""
    _, probes, _ = blobs(n_per=2, k=3, seed=5)
    rng = np.random.default_rng(11)
    probes = probes + 0.1 * rng.normal(size=probes.shape).astype(np.float32)
    outlier = np.zeros((1, DIM), dtype=np.float32)
    outlier[0, -1] = 1.0
    probes = np.concatenate([probes, outlier])
    return probes / np.linalg.norm(probes, axis=1, keepdims=True)


def test_a_model_written_by_f8c2ab0_loads_and_assigns_as_it_did():
    blob = OLD_BLOB.read_bytes()
    assert b"pipeline.intent_model" in blob and b"pipeline.intent_fit" in blob
    model = load_model(blob, 1)
    assert model.intent_ids == ["i001", "i002", "i003"] and len(model.fitted_ids) == 36
    assert model.params["reducer"] == "pca" and model.params["min_cluster_size"] == 5
    ids, probability, method = assign_intents(model, _old_probes(), threshold=0.5)
    # what f8c2ab0's assign_intents returned for the same probes
    assert ids == ["i002", "i002", "i001", "i001", "i003", "i003", None]
    assert probability.tolist() == [0.9966838984137704, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]
    assert method.tolist() == ["predicted"] * 6 + ["unassigned"]


@pytest.mark.parametrize(
    ("blob", "message"),
    [
        (b"\x80\x05cpipeline.intent_fit\nGone\n.", "cannot be read"),
        (pickle.dumps({"not": "a model"}), "written by another cxminer version"),
    ],
)
def test_a_layout_that_cannot_be_converted_asks_for_a_refit(blob, message):
    with pytest.raises(ModelError, match=f"v3: {message}.*refit with `cxminer intents --refit`"):
        load_model(blob, 3)


def test_a_model_of_another_format_asks_for_a_refit():
    ids, vectors, _ = blobs()
    _, model = _model(vectors, ids, reducer="pca", intent_ids=["i001"] * 4)
    model.format = 0
    with pytest.raises(ModelError, match="written by another cxminer version"):
        load_model(dump_model(model), 1)
