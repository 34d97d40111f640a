"""Intent families: the coarse level of the two-level taxonomy (families over intents).

Intents are joined into families by group-average linkage in the embedding space: the
similarity of two groups is the mean cosine over all pairs of their conversations' request
vectors (with unit rows, the dot product of the two groups' mean vectors), and groups are
merged, most similar first, while it is at least ``family_similarity``. An intent that
is like no other stays a family of its own. A family's id is its smallest intent id with
``F`` for the letter (``I004`` -> ``F004``): it holds across refits while that intent's
id does. :func:`name_families` adds each intent's family and the family's key phrase to
the intents' descriptions.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from pipeline.clustering import NOISE, cluster_centroids
from pipeline.config import IntentConfig
from pipeline.intents.names import describe_intents


def group_average_merges(sums: np.ndarray, counts: np.ndarray, *, threshold: float) -> np.ndarray:
    """Return each group's merged group after group-average merging down to ``threshold``.

    Parameters
    ----------
    sums, counts
        Per group, the sum of its unit vectors and their number (``counts`` > 0).
    threshold
        Groups merge while their mean pairwise cosine is at least this.

    Returns
    -------
    numpy.ndarray
        ``(k,)`` merged-group index per group, numbered 0.. in order of first group.
    """
    k = len(counts)
    total = sums.astype(np.float64).copy()
    n = counts.astype(np.float64).copy()
    alive = np.ones(k, dtype=bool)
    owner = np.arange(k)
    similarity = (total @ total.T) / np.outer(n, n)
    np.fill_diagonal(similarity, -np.inf)
    while k > 1:
        a, b = divmod(int(np.argmax(similarity)), k)
        if similarity[a, b] < threshold:
            break
        a, b = min(a, b), max(a, b)
        total[a] += total[b]
        n[a] += n[b]
        alive[b] = False
        owner[owner == b] = a
        row = (total @ total[a]) / (n * n[a])
        row[~alive] = -np.inf
        row[a] = -np.inf
        similarity[a, :] = row
        similarity[:, a] = row
        similarity[b, :] = -np.inf
        similarity[:, b] = -np.inf
    _, merged = np.unique(owner, return_inverse=True)
    return merged


def intent_families(
    vectors: np.ndarray, labels: np.ndarray, intent_ids: Sequence[str], *, similarity: float
) -> list[str]:
    """Return the family id of each intent (index ``c`` of ``intent_ids``).

    Parameters
    ----------
    vectors
        ``(n, dim)`` unit request vectors.
    labels
        Intent index per row (``NOISE`` for none).
    intent_ids
        The stable id of each intent index (``I`` or another letter, then a number).
    similarity
        ``intents.family_similarity``: the mean pairwise cosine under which intents stay
        apart (1.0: every intent is its own family).
    """
    k = len(intent_ids)
    if k == 0:
        return []
    placed = labels != NOISE
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[placed], vectors[placed])
    # an intent without rows has similarity 0 to every other: it stays on its own
    counts = np.maximum(np.bincount(labels[placed], minlength=k), 1).astype(np.float64)
    merged = group_average_merges(sums, counts, threshold=similarity)
    number = np.array([int(i[1:]) for i in intent_ids])
    first = {g: int(np.flatnonzero(merged == g)[np.argmin(number[merged == g])])
             for g in np.unique(merged)}  # fmt: skip
    return [f"F{intent_ids[first[g]][1:]}" for g in merged]


def name_families(
    descriptions: list[dict[str, Any]],
    requests: list[str],
    labels: np.ndarray,
    vectors: np.ndarray,
    intent_ids: list[str],
    settings: IntentConfig,
) -> list[dict[str, Any]]:
    """Return ``descriptions`` with each intent's ``family_id`` and ``family_label``.

    Families come from :func:`intent_families` at ``settings.family_similarity``; a
    family's label is the key phrase of its requests (:func:`describe_intents`).
    """
    family_of = intent_families(vectors, labels, intent_ids, similarity=settings.family_similarity)
    families = sorted(set(family_of), key=lambda f: int(f[1:]))
    index = {f: i for i, f in enumerate(families)}
    by_intent = np.array([index[f] for f in family_of])
    family_labels = np.where(labels == NOISE, NOISE, by_intent[np.maximum(labels, 0)])
    centroids = cluster_centroids(vectors, family_labels, len(families))
    named = describe_intents(
        requests, family_labels, vectors, centroids,
        n_terms=settings.n_terms, stop_words=settings.pleasantries,
    )  # fmt: skip
    return [
        {**d, "family_id": f, "family_label": named[index[f]]["label"]}
        for d, f in zip(descriptions, family_of, strict=True)
    ]
