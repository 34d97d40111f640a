"""Intent families: group-average merging of intents whose requests are alike."""

import numpy as np

from pipeline.clustering import NOISE, unit_rows
from pipeline.intents.families import group_average_merges, intent_families


def _rows(direction, n, rng, spread=0.2):
    return unit_rows(np.asarray(direction, dtype=float) + spread * rng.normal(size=(n, 3)))


def test_intents_with_alike_requests_form_one_family_and_a_distinct_one_stays_apart():
    rng = np.random.default_rng(0)
    vectors = np.vstack([
        _rows([1, 0.3, 0], 20, rng), _rows([1, -0.3, 0], 20, rng), _rows([0, 0, 1], 20, rng)
    ])  # fmt: skip
    labels = np.repeat([0, 1, 2], 20)
    labels[5] = NOISE  # an unassigned row counts for no intent
    ids = ["I7", "I3", "I9"]
    assert intent_families(vectors, labels, ids, similarity=0.5) == ["F3", "F3", "F9"]
    assert intent_families(vectors, labels, ids, similarity=1.0) == ["F7", "F3", "F9"]
    assert intent_families(vectors, labels, [], similarity=0.5) == []


def test_group_average_merging_uses_the_mean_pairwise_cosine_of_the_members():
    # group 0 and 1: mean vectors (1, 0) and (0.6, 0.8): mean pairwise cosine 0.6
    sums = np.array([[2.0, 0.0], [1.2, 1.6], [0.0, -3.0]])
    counts = np.array([2.0, 2.0, 3.0])
    assert group_average_merges(sums, counts, threshold=0.6).tolist() == [0, 0, 1]
    assert group_average_merges(sums, counts, threshold=0.61).tolist() == [0, 1, 2]
