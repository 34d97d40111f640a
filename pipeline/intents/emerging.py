"""Emerging intents: new kinds of request, split out of older intents and flagged.

A new kind of request is at first small and absorbed by its nearest older intent:
:func:`split_emerging` splits all-recent groups out as intents of their own, and
:func:`emerging_intents` flags an intent whose conversations are almost all recent,
with its first-seen date.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime, timedelta

import numpy as np
import polars as pl

from pipeline.clustering import NOISE, cluster_centroids, subcluster
from pipeline.config import IntentConfig
from pipeline.intents.fit import IntentClusterer, route_to_children

__all__ = ["emerging_intents", "route_to_children", "split_emerging"]


def split_emerging(
    fit: IntentClusterer,
    conversation_ids: Sequence[str],
    vectors: np.ndarray,
    started_at: Sequence[datetime | None],
    config: IntentConfig,
) -> IntentClusterer:
    """Split all-recent groups out of older intents as intents of their own.

    A new kind of request is at first small: at the intent size the fit chose, it is
    absorbed by its nearest older intent and no intent looks new. Inside each intent,
    HDBSCAN is run again on the fitted conversations' reduced coordinates with a quarter
    of that size; a sub-cluster whose conversations are at least ``emerging_share``
    recent (the last ``emerging_days``), in an intent whose other conversations are
    not, becomes a new intent. Cost: one small HDBSCAN per intent.

    Parameters
    ----------
    fit
        An :class:`~pipeline.intents.fit.IntentClusterer` fitted on ``vectors`` with
        ``conversation_ids`` (not modified).
    started_at
        Each conversation's start time (``None`` when unknown: never recent).
    config
        ``emerging_days``, ``emerging_share``, ``min_samples``, ``min_cluster_floor``.

    Returns
    -------
    IntentClusterer
        A fitted copy whose ``params_["children"]`` maps each split-off intent's index to
        its parent's (:func:`assign_intents` routes a parent's new conversations to the
        nearer of parent and child), or ``fit`` itself when nothing was split. Nothing
        is split unless the data span at least twice ``emerging_days``.
    """
    recent = _recent(started_at, config.emerging_days)
    if recent is None or not config.emerging_split or len(fit.centroids_) == 0:
        return fit
    ids = np.asarray(conversation_ids, dtype=object)
    in_fit = np.flatnonzero([c in fit.fitted_ids_ for c in ids])
    in_fit = in_fit[np.argsort(ids[in_fit], kind="stable")]  # the reducer's row order
    reduced = fit.reducer_.reduced
    size = max(config.min_cluster_floor, int(fit.params_["min_cluster_size"]) // 4)
    labels, centroids = fit.labels_.copy(), list(fit.centroids_)
    children: dict[int, int] = {}
    for parent in range(len(fit.centroids_)):
        rows = np.flatnonzero(labels[in_fit] == parent)
        if rows.size < 2 * size:
            continue
        sub = subcluster(
            reduced[rows], min_cluster_size=size, min_samples=min(config.min_samples, size)
        )
        for group in range(int(sub.max()) + 1):
            members = in_fit[rows[sub == group]]
            rest = in_fit[rows[sub != group]]
            if (
                recent[members].mean() >= config.emerging_share
                and recent[rest].mean() < config.emerging_share
            ):
                child = len(centroids)
                labels[members] = child
                centroids.append(
                    cluster_centroids(vectors, np.where(labels == child, 0, NOISE), 1)[0]
                )
                children[child] = parent
    if not children:
        return fit
    centroids = np.asarray(centroids, dtype=np.float32)
    for parent in set(children.values()):  # the parent's centre without its children
        centroids[parent] = cluster_centroids(vectors, np.where(labels == parent, 0, NOISE), 1)[0]
    outside = np.setdiff1d(np.arange(len(ids)), in_fit, assume_unique=True)
    moved = labels[outside]
    route_to_children(moved, vectors[outside], centroids, children)
    labels[outside] = moved
    split = copy.copy(fit)  # the fitted state is replaced below, never changed in place
    split.labels_, split.centroids_ = labels, centroids
    split.params_ = {**fit.params_, "children": children}
    return split


def emerging_intents(assignments: pl.DataFrame, *, recent_days: int, share: float) -> pl.DataFrame:
    """First-seen dates, recent shares and the emerging flag of each intent.

    Parameters
    ----------
    assignments
        ``intent_id, started_at`` (null intent = unassigned, kept as its own group).
    recent_days
        "Recent" is the last ``recent_days`` before the newest conversation.
    share
        An intent is emerging when at least this share of its conversations is recent.
        Nothing is flagged unless the data span at least twice ``recent_days``: with
        less history, everything looks new.

    ``first_seen`` is where the intent's latest unbroken run of conversations starts (no
    gap longer than ``recent_days``): a stray early conversation joined to a new intent
    does not date it.

    Returns
    -------
    polars.DataFrame
        ``intent_id, first_seen, last_seen, recent_share, is_emerging``, plus a row
        with a null ``intent_id`` for the unassigned conversations, flagged when their
        recent share is at least twice their share before.
    """
    dated = assignments.filter(pl.col("started_at").is_not_null())
    schema = {"intent_id": pl.String, "first_seen": pl.Datetime("us", "UTC"),
              "last_seen": pl.Datetime("us", "UTC"), "recent_share": pl.Float64,
              "is_emerging": pl.Boolean}  # fmt: skip
    if dated.is_empty():
        return pl.DataFrame(schema=schema)
    newest, oldest = dated["started_at"].max(), dated["started_at"].min()
    since = newest - timedelta(days=recent_days)
    enough_history = newest - oldest >= timedelta(days=2 * recent_days)
    # first seen: the start of the intent's latest unbroken run (no gap longer than
    # recent_days), so one stray early conversation does not date a new intent
    gap = pl.col("started_at").diff().over("intent_id")
    stats = (
        dated.sort("intent_id", "started_at", nulls_last=True)
        .group_by("intent_id")
        .agg(
            first_seen=pl.col("started_at")
            .filter(gap.is_null() | (gap > timedelta(days=recent_days)))
            .max(),
            last_seen=pl.col("started_at").max(),
            recent_share=(pl.col("started_at") > since).mean(),
        )
    )
    recent_all = (dated["started_at"] > since).sum()
    earlier_all = dated.height - recent_all
    unassigned = dated.filter(pl.col("intent_id").is_null())
    recent_unassigned = (unassigned["started_at"] > since).sum()
    growing = bool(
        enough_history
        and recent_all
        and earlier_all
        and recent_unassigned / recent_all
        >= 2 * (unassigned.height - recent_unassigned) / earlier_all
        and recent_unassigned > 0
    )
    return (
        stats.with_columns(
            is_emerging=pl.when(pl.col("intent_id").is_null())
            .then(pl.lit(growing))
            .otherwise(pl.lit(enough_history) & (pl.col("recent_share") >= share))
        )
        .select(list(schema))
        .cast(schema)
    )  # type: ignore[arg-type]


def _recent(started_at: Sequence[datetime | None], days: int) -> np.ndarray | None:
    """Which rows started in the last ``days``; ``None`` when the data span < 2 x ``days``."""
    known = [t for t in started_at if t is not None]
    if not known:
        return None
    newest, oldest = max(known), min(known)
    if newest - oldest < timedelta(days=2 * days):
        return None
    since = newest - timedelta(days=days)
    return np.array([t is not None and t > since for t in started_at], dtype=bool)
