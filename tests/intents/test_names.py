"""Intent labels: class-based TF-IDF terms and exemplars."""

import numpy as np

from pipeline.intents.names import describe_intents, is_filler, phrases


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


def test_labels_are_key_phrases_without_fillers_placeholders_numbers_or_names():
    requests = [
        "hi, I want to reset my password <EMAIL>",
        "yeah hmm please reset my password, it's Maria",
        "reset password link expired 2 times",
        "my parcel never arrived, order <ID>",
        "parcel never arrived yet, thanks",
        "hello, parcel never arrived",
    ]
    labels = np.array([0, 0, 0, 1, 1, 1])
    vectors = np.eye(6)[:, :2] + 0.1
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    described = describe_intents(requests, labels, vectors, centroids, n_terms=6)
    assert described[0]["label"] == "reset password"
    assert described[1]["label"] == "parcel arrived"
    every = [t for d in described for t in d["terms"]]
    for dropped in ("email", "id", "maria", "2", "hmm", "yeah", "want", "it's", "thanks"):
        assert all(dropped not in t.split() for t in every)


def test_a_phrase_never_spans_two_requests_nor_repeats_a_word():
    assert phrases("card declined abroad") == [
        "card", "declined", "abroad", "card declined", "declined abroad", "card declined abroad",
    ]  # fmt: skip
    assert "card card" not in phrases("card, card again")
    requests = ["card declined", "abroad today", "card declined", "abroad today"]
    described = describe_intents(
        requests, np.zeros(4, dtype=int), np.ones((4, 1)), np.ones((1, 1)), n_terms=10
    )
    assert "declined abroad" not in described[0]["terms"]


def test_fillers_are_stop_words_chat_words_contractions_and_the_commonest_words():
    for word in ("the", "hmm", "yeah", "it's", "we're", "think", "really", "want"):
        assert is_filler(word), word
    for word in ("password", "refund", "parcel", "cancel", "bill"):
        assert not is_filler(word), word
    assert is_filler("parcel", frozenset({"parcel"}))


def test_a_cluster_of_fillers_only_is_named_by_its_number_not_by_a_filler():
    requests = ["hi there", "thanks so much", "hello!", "ok thanks"]
    labels = np.array([0, 0, 1, 1])
    vectors = np.ones((4, 1))
    described = describe_intents(requests, labels, vectors, np.ones((2, 1)), n_terms=3)
    assert [d["label"] for d in described] == ["intent 0", "intent 1"]
    assert described[0]["terms"] == []
