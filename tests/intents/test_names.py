"""Intent labels: class-based TF-IDF terms and exemplars."""

import numpy as np

from pipeline.intents.names import describe_intents


def test_describe_uses_class_terms_without_placeholders_and_picks_a_typical_exemplar():
    requests = [
        "refund my order <CARD>",
        "refund for broken order",
        "I want a refund",
        "reset password please",
        "password reset link expired",
        "forgot my password",
    ]
    labels = np.array([0, 0, 0, 1, 1, 1])
    vectors = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.1, 0.9], [0.2, 0.8]])
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    described = describe_intents(requests, labels, vectors, centroids, n_terms=3)
    assert described[0]["terms"][0] == "refund" and described[1]["terms"][0] == "password"
    assert all("card" not in d["terms"] for d in described)
    assert described[0]["exemplar"] == "refund my order <CARD>"
    assert described[1]["label"].startswith("password")


def test_describe_intents_does_not_modify_its_inputs():
    requests = ["refund my order", "refund please now", "reset my password", "password link"]
    labels = np.array([0, 0, 1, -1])
    vectors = np.array([[1.0, 0.0], [0.8, 0.6], [0.0, 1.0], [0.6, 0.8]])
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    before = (list(requests), labels.copy(), vectors.copy(), centroids.copy())
    described = describe_intents(requests, labels, vectors, centroids, n_terms=2)
    assert described[0]["terms"][0] == "refund"
    assert requests == before[0]
    for after, original in zip((labels, vectors, centroids), before[1:], strict=True):
        np.testing.assert_array_equal(after, original)
