"""Intent labels: class-based TF-IDF key terms and the most typical request of a cluster.

Also names the step types found in the data (:mod:`pipeline.steps.clusters`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from pipeline.intents.requests import PLACEHOLDER


def describe_intents(
    requests: Sequence[str],
    labels: np.ndarray,
    vectors: np.ndarray,
    centroids: np.ndarray,
    *,
    n_terms: int,
    stop_words: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """Name each cluster: class-based TF-IDF key terms and its most typical request.

    c-TF-IDF treats all requests of a cluster as one document: a term's weight is its
    frequency in the cluster times ``log(1 + A / f)``, with ``A`` the mean number of
    words per cluster and ``f`` the term's frequency over all clusters. Placeholders
    such as ``<CARD>``, stop words and ``stop_words`` are left out.

    Returns
    -------
    list of dict
        Per cluster index: ``terms`` (best first), ``label`` (the top three terms) and
        ``exemplar`` (the member request closest to the centroid).
    """
    k = len(centroids)
    texts = np.asarray(requests, dtype=object)
    documents = [PLACEHOLDER.sub(" ", " ".join(texts[labels == c].tolist())) for c in range(k)]
    terms_of: list[list[str]] = [[] for _ in range(k)]
    vectoriser = CountVectorizer(
        stop_words=sorted(set(ENGLISH_STOP_WORDS) | {w.lower() for w in stop_words}),
        token_pattern=r"(?u)\b[a-zA-Z][a-zA-Z']+\b",
    )
    try:
        counts = vectoriser.fit_transform(documents).toarray().astype(np.float64)
    except ValueError:  # every word is a stop word
        counts = None
    if counts is not None:
        vocabulary = vectoriser.get_feature_names_out()
        words = counts.sum(axis=1, keepdims=True)
        tf = counts / np.maximum(words, 1)
        idf = np.log(1 + words.mean() / np.maximum(counts.sum(axis=0), 1))
        weights = tf * idf
        for c in range(k):
            top = np.argsort(-weights[c], kind="stable")[:n_terms]
            terms_of[c] = [str(vocabulary[i]) for i in top if weights[c, i] > 0]
    described = []
    for c in range(k):
        members = np.flatnonzero(labels == c)
        exemplar = None
        if members.size:
            exemplar = str(texts[members[np.argmax(vectors[members] @ centroids[c])]])
        terms = terms_of[c]
        described.append({
            "terms": terms,
            "label": ", ".join(terms[:3]) if terms else f"intent {c}",
            "exemplar": exemplar,
        })  # fmt: skip
    return described
