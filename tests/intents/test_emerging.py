"""Emerging intents: flags, first-seen dates and all-recent groups split off."""

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from intent_vectors import DIM, blobs

from pipeline.config import IntentConfig
from pipeline.intents.emerging import emerging_intents, route_to_children, split_emerging
from pipeline.intents.fit import IntentClusterer


def _dated(intent, days):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [{"intent_id": intent, "started_at": start + timedelta(days=d)} for d in days]


def test_an_intent_seen_only_recently_is_emerging_and_old_ones_are_not():
    rows = (
        _dated("old", range(0, 84, 2))
        + _dated("new", range(70, 84))
        + _dated(None, range(0, 84, 7))
    )
    table = emerging_intents(pl.DataFrame(rows), recent_days=28, share=0.9)
    flags = dict(table.select("intent_id", "is_emerging").iter_rows())
    assert flags == {"old": False, "new": True, None: False}
    new = table.filter(pl.col("intent_id") == "new").row(0, named=True)
    assert new["first_seen"].date().isoformat() == "2026-03-12"


def test_nothing_is_emerging_without_enough_history_and_growing_noise_is_flagged():
    short = pl.DataFrame(_dated("a", range(0, 30)) + _dated("b", range(20, 30)))
    assert not emerging_intents(short, recent_days=28, share=0.9)["is_emerging"].any()
    noisy = pl.DataFrame(_dated("a", range(0, 84)) + _dated(None, range(60, 84)))
    flags = dict(emerging_intents(noisy, recent_days=28, share=0.9)
                 .select("intent_id", "is_emerging").iter_rows())  # fmt: skip
    assert flags == {"a": False, None: True}


class _Reduced:
    def __init__(self, reduced):
        self.reduced = reduced


def _fit_with_absorbed_group(recent_group: bool):
    """Two intents; intent 0 has absorbed a tight group of 30 that may all be recent."""
    ids, vectors, truth = blobs(n_per=60, k=2, spread=0.12)
    rng = np.random.default_rng(3)
    centre = vectors[truth == 0].mean(axis=0) + 0.6 * np.eye(DIM, dtype=np.float32)[7]
    group = centre + 0.03 * rng.normal(size=(30, DIM))
    group /= np.linalg.norm(group, axis=1, keepdims=True)
    vectors = np.concatenate([vectors, group.astype(np.float32)])
    ids = ids + [f"g{i:03d}" for i in range(30)]
    labels = np.concatenate([truth, np.zeros(30, dtype=np.int64)])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    days = [int(d) for d in rng.integers(0, 84, size=120)]
    days += [int(d) for d in rng.integers(60, 84, size=30)] if recent_group else days[:30]
    order = np.argsort(ids, kind="stable")
    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in (0, 1)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    fit = IntentClusterer()  # fitted state set by hand: two intents, one absorbing the group
    fit.labels_, fit.probabilities_ = labels, np.ones(150)
    fit.methods_, fit.centroids_ = np.full(150, "cluster", dtype=object), centroids
    fit.reducer_, fit.hdbscan_ = _Reduced(vectors[order]), None
    fit.params_, fit.fitted_ids_ = {"min_cluster_size": 40}, frozenset(ids)
    return fit, ids, vectors, [start + timedelta(days=d) for d in days]


def test_an_all_recent_group_inside_an_old_intent_is_split_off():
    fit, ids, vectors, started = _fit_with_absorbed_group(recent_group=True)
    split = split_emerging(fit, ids, vectors, started, IntentConfig())
    assert split is not fit and split.params_["children"] == {2: 0}
    child = np.flatnonzero(split.labels_ == 2)
    assert {ids[i][0] for i in child} == {"g"} and len(child) >= 25
    assert len(split.centroids_) == 3 and fit.labels_.max() == 1  # input not modified
    near_child = vectors[ids.index("g000")][None, :]
    labels = np.array([0])
    route_to_children(labels, near_child, split.centroids_, split.params_["children"])
    assert labels.tolist() == [2]


@pytest.mark.parametrize("case", ["group spread over time", "history too short", "disabled"])
def test_nothing_is_split_without_a_recent_group_or_enough_history(case):
    fit, ids, vectors, started = _fit_with_absorbed_group(
        recent_group=case != "group spread over time"
    )
    config = IntentConfig(emerging_split=case != "disabled")
    if case == "history too short":
        started = [datetime(2026, 1, 1, tzinfo=UTC)] * len(ids)
    assert split_emerging(fit, ids, vectors, started, config) is fit


def test_split_emerging_does_not_modify_its_inputs():
    fit, ids, vectors, started = _fit_with_absorbed_group(recent_group=True)
    before = (fit.labels_.copy(), fit.centroids_.copy(), dict(fit.params_), vectors.copy())
    reduced = fit.reducer_.reduced.copy()
    split_emerging(fit, list(ids), vectors, list(started), IntentConfig())
    np.testing.assert_array_equal(fit.labels_, before[0])
    np.testing.assert_array_equal(fit.centroids_, before[1])
    assert fit.params_ == before[2] and "children" not in fit.params_
    np.testing.assert_array_equal(vectors, before[3])
    np.testing.assert_array_equal(fit.reducer_.reduced, reduced)


def test_a_stray_early_conversation_does_not_date_a_new_intent():
    rows = _dated("old", range(0, 84, 2)) + _dated("new", [3, *range(70, 84)])
    table = emerging_intents(pl.DataFrame(rows), recent_days=28, share=0.9)
    new = table.filter(pl.col("intent_id") == "new").row(0, named=True)
    assert new["first_seen"].date().isoformat() == "2026-03-12"  # day 70, not day 3
    old = table.filter(pl.col("intent_id") == "old").row(0, named=True)
    assert old["first_seen"].date().isoformat() == "2026-01-01"  # never a long gap
