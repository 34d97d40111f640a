"""Stage 4, intents: group conversations by what the customer asked for.

The unit is a conversation, represented by its opening request: the first
``opening_turns`` customer turns that carry content (greetings, thanks and
self-introductions are skipped), each embedded through the cache and averaged.

Fitting (:func:`fit_intents`), with no number of intents given:

1. conversations are put in a canonical order (by id) and, past ``fit_sample``, a
   deterministic hash-chosen sample is fitted, so input order never changes a fit;
2. UMAP (cosine, ``n_components`` dims) or PCA reduces the vectors: density clustering
   on 384 raw dimensions neither scales nor separates well;
3. ``hdbscan.HDBSCAN`` runs for each candidate smallest-intent size (shares of the
   fitted conversations, ``min_cluster_shares``) and both cluster-selection methods;
   the run with the best density-based cluster validity (DBCV, hdbscan's
   ``relative_validity_``) is kept: the data choose the number of intents;
4. centroids are taken in the original embedding space; a noise point, or a
   conversation outside the fitted sample, joins the nearest intent only when its
   cosine to that centroid is at least ``assign_threshold``; the rest stay unassigned
   and are reported.

Later runs assign new conversations with the saved model (``reducer.transform`` then
``hdbscan.approximate_predict``, then the same nearest-centroid rule). A refit matches
its clusters to the previous model's intents by centroid similarity (Hungarian) so that
ids persist, and records kept, new, split, merged and retired intents in
``intent_lineage``. Labels are class-based TF-IDF terms plus the most typical request.
An intent whose conversations are almost all recent is flagged as emerging, with its
first-seen date.
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import re
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl
from scipy.optimize import linear_sum_assignment
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, CountVectorizer

from pipeline import schema
from pipeline.config import Config, IntentConfig
from pipeline.embed import Embedder, embed_with_cache, normalise_text, text_hash
from pipeline.errors import ModelError, StoreError

if TYPE_CHECKING:
    from pipeline.store import Store

MODEL_FORMAT = 1  # bump when IntentModel's pickled layout changes
NOISE = -1
# method column of intent_assignments
CLUSTER, NEAREST, PREDICTED, UNASSIGNED, NO_REQUEST = (
    "cluster",
    "nearest",
    "predicted",
    "unassigned",
    "no_request",
)
_WORD = r"[a-z][a-z']+"
_PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_MIN_FIT = 20  # fewer conversations than this cannot form two intents of useful size


@dataclass
class IntentModel:
    """A fitted intent model: what a later run needs to assign and to reconcile ids."""

    version: int
    intent_ids: list[str]  # one per cluster index
    centroids: np.ndarray  # (n_intents, dim) unit rows, original embedding space
    reducer: Any
    clusterer: Any
    params: dict[str, Any]
    fitted_at: datetime
    fitted_ids: frozenset[str] = field(default_factory=frozenset)  # conversations in the fit
    descriptions: list[dict[str, Any]] = field(default_factory=list)  # per cluster index
    format: int = MODEL_FORMAT


@dataclass
class Fit:
    """Cluster labels of one fit (``NOISE`` = unassigned) and how each was decided."""

    labels: np.ndarray
    probability: np.ndarray
    method: np.ndarray
    centroids: np.ndarray
    reducer: Any
    clusterer: Any
    params: dict[str, Any]
    fitted_ids: frozenset[str]


class Assign(Protocol):
    """Assigns rows of request vectors with a saved model, as :func:`assign_intents`."""

    def __call__(
        self, model: IntentModel, vectors: np.ndarray, *, threshold: float
    ) -> tuple[list[str | None], np.ndarray, np.ndarray]:
        """Return each row's intent id (or None), probability and method."""
        ...


# ---- the request ---------------------------------------------------------------------
def opening_requests(turns: pl.DataFrame, config: IntentConfig) -> pl.DataFrame:
    """Pick each conversation's opening request turns.

    Parameters
    ----------
    turns
        ``conversation_id, turn_idx, speaker, event_type, text`` (any order).
    config
        ``opening_turns``, ``min_content_words`` and ``pleasantries`` are used.

    Returns
    -------
    polars.DataFrame
        ``conversation_id, turn_idx, text``: up to ``opening_turns`` customer utterances
        per conversation with at least ``min_content_words`` content words; when a
        conversation has none, its first customer utterance. Conversations without
        customer text are absent.
    """
    skip = sorted(set(ENGLISH_STOP_WORDS) | {w.lower() for w in config.pleasantries})
    customer = (
        turns.lazy()
        .filter(
            (pl.col("speaker") == "customer")
            & (pl.col("event_type") == "utterance")
            & (pl.col("text").str.strip_chars().str.len_chars() > 0)
        )
        .select("conversation_id", "turn_idx", "text")
        .with_columns(
            n_content=pl.col("text")
            .str.replace_all(_PLACEHOLDER.pattern, " ")
            .str.to_lowercase()
            .str.extract_all(_WORD)
            .list.eval(pl.element().filter(~pl.element().is_in(skip)))
            .list.len()
        )
        .sort("conversation_id", "turn_idx")
    )
    content = customer.filter(pl.col("n_content") >= config.min_content_words)
    picked = content.group_by("conversation_id", maintain_order=True).head(config.opening_turns)
    fallback = (
        customer.join(content.select("conversation_id").unique(), on="conversation_id", how="anti")
        .group_by("conversation_id", maintain_order=True)
        .head(1)
    )
    return (
        pl.concat([picked, fallback])
        .select("conversation_id", "turn_idx", "text")
        .sort("conversation_id", "turn_idx")
        .collect()
    )


def request_vectors(requests: pl.DataFrame, matrix: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """Average each conversation's request turn vectors into one unit vector.

    Parameters
    ----------
    requests
        Output of :func:`opening_requests` plus ``text_hash``, sorted by conversation
        (as :func:`opening_requests` returns it); ``matrix`` row ``i`` embeds row ``i``.

    Returns
    -------
    units : polars.DataFrame
        ``conversation_id, request, unit_hash``, one row per conversation in order:
        the joined request text and a hash of its turns' text hashes (a conversation
        whose request changed gets a new unit hash).
    vectors : numpy.ndarray
        ``(n_conversations, dim)`` float32 unit rows aligned with ``units``.
    """
    if requests.is_empty():
        empty = pl.DataFrame(schema={"conversation_id": pl.String, "request": pl.String,
                                     "unit_hash": pl.String})  # fmt: skip
        return empty, np.empty((0, matrix.shape[1] if matrix.ndim == 2 else 0), np.float32)
    units = requests.group_by("conversation_id", maintain_order=True).agg(
        request=pl.col("text").str.join(" / "), n=pl.len()
    )
    starts = np.concatenate([[0], np.cumsum(units["n"].to_numpy())[:-1]]).astype(np.int64)
    sums = np.add.reduceat(matrix.astype(np.float64), starts, axis=0)
    vectors = _unit_rows(sums).astype(np.float32)
    hashes = _unit_hashes(requests)
    units = units.drop("n").join(hashes, on="conversation_id", maintain_order="left")
    return units, vectors


# ---- fitting -------------------------------------------------------------------------
def fit_intents(conversation_ids: Sequence[str], vectors: np.ndarray, config: IntentConfig) -> Fit:
    """Cluster conversations into intents, choosing the HDBSCAN parameters from the data.

    Parameters
    ----------
    conversation_ids
        One id per row of ``vectors``; they fix the canonical order and the sample.
    vectors
        ``(n, dim)`` unit rows (the request vectors).
    config
        The intent settings.

    Returns
    -------
    Fit
        Labels in input order (``NOISE`` for unassigned), probabilities, the method of
        each decision, centroids and the fitted reducer and clusterer.

    Raises
    ------
    ModelError
        Fewer than 20 conversations, or no candidate found two clusters.
    """
    import hdbscan

    ids = np.asarray(conversation_ids, dtype=object)
    n = len(ids)
    if n < _MIN_FIT:
        raise ModelError(
            f"intents: {n} conversations with a customer request; at least {_MIN_FIT} "
            "are needed to fit intents"
        )
    order = np.argsort(ids, kind="stable")
    fit_rows = order
    if n > config.fit_sample:  # the fit_sample ids with the smallest hashes: stable as data grow
        keys = np.array([_id_hash(i) for i in ids[order]])
        fit_rows = np.sort(order[np.argsort(keys, kind="stable")[: config.fit_sample]])
        fit_rows = fit_rows[np.argsort(ids[fit_rows], kind="stable")]
    fitted = vectors[fit_rows]
    neighbours = _nearest(fitted, fitted, min(config.n_neighbors, len(fit_rows) - 1))
    reducer = _make_reducer(config, len(fit_rows), neighbours)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # umap: "n_jobs overridden by random_state"
        reduced = np.asarray(reducer.fit_transform(fitted), dtype=np.float64)
    reducer = Projection(config.reducer, reducer, fitted, reduced, config.n_neighbors)
    best, candidates = None, []
    for size in _cluster_sizes(len(fit_rows), config):
        for method in config.selection_methods:
            clusterer = hdbscan.HDBSCAN(
                min_cluster_size=size,
                min_samples=min(config.min_samples, size),
                cluster_selection_method=method,
                gen_min_span_tree=True,
                prediction_data=True,
            ).fit(reduced)
            k = int(clusterer.labels_.max()) + 1
            validity = float(clusterer.relative_validity_) if k >= 2 else float("-inf")
            candidates.append({"min_cluster_size": size, "method": method, "k": k,
                               "dbcv": round(validity, 4)})  # fmt: skip
            if k >= 2 and (best is None or validity > best[0] + 1e-12):
                best = (validity, size, method, clusterer)
    if best is None:
        raise ModelError(
            f"intents: no candidate found two or more intents among {len(fit_rows)} "
            "conversations; are the requests all alike?"
        )
    _, size, method, clusterer = best
    fit_labels = clusterer.labels_.astype(np.int64)
    centroids = _centroids(vectors[fit_rows], fit_labels, int(fit_labels.max()) + 1)

    labels = np.full(n, NOISE, dtype=np.int64)
    probability = np.zeros(n, dtype=np.float64)
    method_of = np.full(n, UNASSIGNED, dtype=object)
    labels[fit_rows] = fit_labels
    probability[fit_rows] = clusterer.probabilities_
    method_of[fit_rows[fit_labels != NOISE]] = CLUSTER
    rest = np.setdiff1d(np.arange(n), fit_rows, assume_unique=True)
    if rest.size:
        rest_labels, rest_probability = _predict(reducer, clusterer, vectors[rest])
        labels[rest], probability[rest] = rest_labels, rest_probability
        method_of[rest[rest_labels != NOISE]] = PREDICTED
    _join_nearest(vectors, labels, probability, method_of, centroids, config.assign_threshold)
    params = {
        "reducer": config.reducer,
        "n_components": config.n_components,
        "n_neighbors": config.n_neighbors,
        "min_samples": config.min_samples,
        "min_cluster_size": size,
        "cluster_selection_method": method,
        "n_fit": len(fit_rows),
        "candidates": candidates,
        "assign_threshold": config.assign_threshold,
    }
    return Fit(labels, probability, method_of, centroids, reducer, clusterer, params,
               frozenset(ids[fit_rows].tolist()))  # fmt: skip


def split_emerging(
    fit: Fit,
    conversation_ids: Sequence[str],
    vectors: np.ndarray,
    started_at: Sequence[datetime | None],
    config: IntentConfig,
) -> Fit:
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
        The result of :func:`fit_intents` on ``conversation_ids`` / ``vectors``.
    started_at
        Each conversation's start time (``None`` when unknown: never recent).
    config
        ``emerging_days``, ``emerging_share``, ``min_samples``, ``min_cluster_floor``.

    Returns
    -------
    Fit
        A new fit whose ``params["children"]`` maps each split-off intent's index to
        its parent's (:func:`assign_intents` routes a parent's new conversations to the
        nearer of parent and child), or ``fit`` itself when nothing was split. Nothing
        is split unless the data span at least twice ``emerging_days``.
    """
    import hdbscan

    recent = _recent(started_at, config.emerging_days)
    if recent is None or not config.emerging_split or len(fit.centroids) == 0:
        return fit
    ids = np.asarray(conversation_ids, dtype=object)
    in_fit = np.flatnonzero([c in fit.fitted_ids for c in ids])
    in_fit = in_fit[np.argsort(ids[in_fit], kind="stable")]  # the reducer's row order
    reduced = fit.reducer.reduced
    size = max(config.min_cluster_floor, int(fit.params["min_cluster_size"]) // 4)
    labels, centroids = fit.labels.copy(), list(fit.centroids)
    children: dict[int, int] = {}
    for parent in range(len(fit.centroids)):
        rows = np.flatnonzero(labels[in_fit] == parent)
        if rows.size < 2 * size:
            continue
        sub = hdbscan.HDBSCAN(min_cluster_size=size, min_samples=min(config.min_samples, size)).fit(
            reduced[rows]
        )
        for group in range(int(sub.labels_.max()) + 1):
            members = in_fit[rows[sub.labels_ == group]]
            rest = in_fit[rows[sub.labels_ != group]]
            if (
                recent[members].mean() >= config.emerging_share
                and recent[rest].mean() < config.emerging_share
            ):
                child = len(centroids)
                labels[members] = child
                centroids.append(_centroids(vectors, np.where(labels == child, 0, NOISE), 1)[0])
                children[child] = parent
    if not children:
        return fit
    centroids = np.asarray(centroids, dtype=np.float32)
    for parent in set(children.values()):  # the parent's centre without its children
        centroids[parent] = _centroids(vectors, np.where(labels == parent, 0, NOISE), 1)[0]
    outside = np.setdiff1d(np.arange(len(ids)), in_fit, assume_unique=True)
    moved = labels[outside]
    _route_to_children(moved, vectors[outside], centroids, children)
    labels[outside] = moved
    params = {**fit.params, "children": children}
    return replace(fit, labels=labels, centroids=centroids, params=params)


def assign_intents(
    model: IntentModel, vectors: np.ndarray, *, threshold: float
) -> tuple[list[str | None], np.ndarray, np.ndarray]:
    """Assign new conversations to a saved model's intents.

    Returns
    -------
    intent_ids : list of str or None
        The intent of each row, ``None`` when unassigned.
    probability : numpy.ndarray
        HDBSCAN membership strength (or the cosine to the centroid for a nearest match).
    method : numpy.ndarray
        ``predicted``, ``nearest`` or ``unassigned`` per row.
    """
    n = len(vectors)
    if n == 0:
        return [], np.zeros(0), np.zeros(0, dtype=object)
    labels, probability = _predict(model.reducer, model.clusterer, vectors)
    _route_to_children(labels, vectors, model.centroids, model.params.get("children", {}))
    method = np.where(labels != NOISE, PREDICTED, UNASSIGNED).astype(object)
    _join_nearest(vectors, labels, probability, method, model.centroids, threshold)
    ids = [model.intent_ids[label] if label != NOISE else None for label in labels]
    return ids, probability, method


def match_intent_ids(
    previous: IntentModel | None, centroids: np.ndarray, *, threshold: float
) -> tuple[list[str], dict[str, float]]:
    """Give a new fit's clusters ids, keeping an old id where centroids match.

    The assignment maximises total cosine similarity between old and new centroids
    (Hungarian algorithm); a pair below ``threshold`` is not a match. Unmatched clusters
    get fresh ids numbered after the highest id ever used.

    Returns
    -------
    ids : list of str
        One id per new cluster.
    similarity : dict
        Matched id -> cosine of the old and new centroid.
    """
    k = len(centroids)
    ids: list[str | None] = [None] * k
    similarity: dict[str, float] = {}
    used = 0
    if previous is not None and len(previous.centroids):
        sims = centroids @ previous.centroids.T
        rows, cols = linear_sum_assignment(-sims)
        for row, col in zip(rows, cols, strict=True):
            if sims[row, col] >= threshold:
                ids[row] = previous.intent_ids[col]
                similarity[previous.intent_ids[col]] = float(sims[row, col])
        used = max(int(i[1:]) for i in previous.intent_ids)
        used = max(used, previous.params.get("max_id", 0))
    for row in range(k):
        if ids[row] is None:
            used += 1
            ids[row] = format_intent_id(used)
    return [i for i in ids if i is not None], similarity


def format_intent_id(number: int) -> str:
    """Intent ids are ``i`` plus a zero-padded number: ``i007``."""
    return f"i{number:03d}"


def intent_lineage(
    previous: pl.DataFrame,
    current: pl.DataFrame,
    *,
    old_ids: Sequence[str],
    similarity: dict[str, float],
    share: float,
) -> pl.DataFrame:
    """Relate a refit's intents to the previous ones through shared conversations.

    Parameters
    ----------
    previous, current
        ``conversation_id, intent_id`` before and after the refit (null = unassigned).
    old_ids
        The previous model's intent ids.
    similarity
        Ids kept by centroid matching -> cosine (from :func:`match_intent_ids`).
    share
        The share of an intent's shared conversations that makes a split or a merge.

    Returns
    -------
    polars.DataFrame
        ``event, intent_id, related_intent_id, n_conversations, similarity``. Events:
        ``kept`` (same id), ``new`` (no old intent gave it ``share`` of its
        conversations), ``split`` (``share`` of old ``related`` went to new ``intent``),
        ``merged`` (old ``related`` went into kept ``intent``), ``retired`` (an old id
        no longer matched).
    """
    flows = (
        previous.rename({"intent_id": "old"})
        .join(current.rename({"intent_id": "new"}), on="conversation_id")
        .drop_nulls(["old", "new"])
        .group_by("old", "new")
        .agg(n=pl.len())
        .with_columns(
            old_share=pl.col("n") / pl.col("n").sum().over("old"),
            new_share=pl.col("n") / pl.col("n").sum().over("new"),
        )
    )
    new_ids = current["intent_id"].drop_nulls().unique().sort().to_list()
    size = dict(current.group_by("intent_id").len().drop_nulls().iter_rows())
    rows: list[dict[str, Any]] = []
    for new in new_ids:
        if new in similarity:
            rows.append(_lineage_row("kept", new, new, size[new], similarity[new]))
            continue
        sources = flows.filter((pl.col("new") == new) & (pl.col("old_share") >= share))
        if sources.is_empty():
            rows.append(_lineage_row("new", new, None, size[new], None))
        for old, n in sources.select("old", "n").iter_rows():
            rows.append(_lineage_row("split", new, old, n, None))
    merged = flows.filter(
        (pl.col("old") != pl.col("new"))
        & pl.col("new").is_in(list(similarity))
        & (pl.col("old_share") >= share)
    )
    for old, new, n in merged.select("old", "new", "n").iter_rows():
        rows.append(_lineage_row("merged", new, old, n, None))
    for old in sorted(set(old_ids) - set(similarity)):
        rows.append(_lineage_row("retired", old, None, 0, None))
    return pl.DataFrame(rows, schema=_LINEAGE_SCHEMA)


# ---- labels and emerging intents ------------------------------------------------------
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
    documents = [_PLACEHOLDER.sub(" ", " ".join(texts[labels == c].tolist())) for c in range(k)]
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
    stats = dated.group_by("intent_id").agg(
        first_seen=pl.col("started_at").min(),
        last_seen=pl.col("started_at").max(),
        recent_share=(pl.col("started_at") > since).mean(),
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


# ---- model persistence -----------------------------------------------------------------
def dump_model(model: IntentModel) -> bytes:
    """Serialise a model for ``intent_models`` (pickle: only ever read back by cxminer)."""
    buffer = io.BytesIO()
    pickle.dump(model, buffer, protocol=pickle.HIGHEST_PROTOCOL)
    return buffer.getvalue()


def load_model(blob: bytes, version: int) -> IntentModel:
    """Read a model written by :func:`dump_model`.

    Raises
    ------
    ModelError
        The model was written by an incompatible cxminer version; refit with
        ``cxminer intents --refit``.
    """
    try:
        model = pickle.loads(blob)  # noqa: S301 (our own table, written by dump_model)
    except Exception as exc:  # unpickling runs arbitrary library code
        raise ModelError(
            f"intent model v{version}: cannot be read ({type(exc).__name__}: {exc}); "
            "refit with `cxminer intents --refit`"
        ) from None
    if not isinstance(model, IntentModel) or model.format != MODEL_FORMAT:
        raise ModelError(
            f"intent model v{version}: written by another cxminer version; "
            "refit with `cxminer intents --refit`"
        )
    return model


def now_utc() -> datetime:
    """Return the current time, timezone-aware (a seam for tests)."""
    return datetime.now(UTC)


# ---- the stage -------------------------------------------------------------------------
def update_intents(
    store: Store,
    *,
    config: Config,
    embedder: Embedder | Callable[[], Embedder],
    run_id: str,
    refit: bool | None = None,
    assign: Assign | None = None,
) -> dict[str, Any]:
    """Run the intent stage on everything in the store; write its tables.

    Parameters
    ----------
    store
        An open, writable store.
    config
        ``intents`` and ``embed.max_chars`` are used.
    embedder
        Encodes request turns not yet in the embedding cache; or a function returning
        one, called only when the stage has work (a skipped run loads no model).
    run_id
        Stamped on every row written.
    refit
        ``True`` fits a new model, ``False`` only assigns new conversations with the
        saved one, ``None`` follows ``intents.refit`` in config (``auto``: refit when
        there is no model, the model is older than ``refit_after_days``, or at least
        ``refit_new_share`` of the conversations were not in its fit).
    assign
        Assigns new conversations with the saved model (``assign`` mode only); called
        as :func:`assign_intents` is, which it defaults to. The flows pass one that runs
        it in chunks on their task runner (a Dask cluster when configured).

    Returns
    -------
    dict
        A summary: ``mode`` (fit/refit/assign/skipped), ``model_version``,
        ``conversations``, ``new``, ``intents``, ``unassigned``, ``encoded``,
        ``emerging`` (ids), ``unassigned_growing`` and, when skipped, ``reason``.
    """
    settings = config.intents
    # numba (under UMAP) compiles for seconds per process unless it may cache its code
    os.environ.setdefault("NUMBA_CACHE_DIR", str(config.embed.cache_dir / "numba"))
    conversations = store.sql(
        f"select conversation_id, started_at from {schema.CONVERSATIONS} order by conversation_id"
    )
    requests = opening_requests(
        store.sql(
            f"select conversation_id, turn_idx, speaker, event_type, text from {schema.TURNS} "
            "where speaker = 'customer' and event_type = 'utterance'"
        ),
        settings,
    )
    requests = requests.with_columns(
        text_hash=text_hash(normalise_text(requests["text"], max_chars=config.embed.max_chars))
    )
    unit_hashes = _unit_hashes(requests)
    previous = store.sql(
        f"select conversation_id, intent_id, probability, method, unit_hash, model_version "
        f"from {schema.INTENT_ASSIGNMENTS}"
    )
    stored = store.latest_intent_model()
    model = load_model(stored[1], stored[0]) if stored else None
    current = conversations.join(unit_hashes, on="conversation_id", how="left")
    unchanged = current.join(
        previous.select("conversation_id", "unit_hash"),
        on=["conversation_id", "unit_hash"],
        nulls_equal=True,  # a conversation without a request stays without one
    )
    n_new = current.height - unchanged.height
    mode = _choose_mode(model, refit, settings, current)
    summary: dict[str, Any] = {"mode": mode, "conversations": current.height, "new": n_new,
                               "encoded": 0}  # fmt: skip
    n_requests = unit_hashes.height
    if mode in ("fit", "refit") and n_requests < _MIN_FIT:
        return {**summary, "mode": "skipped", "model_version": None,
                "reason": f"{n_requests} conversations with a customer request; intents need "
                f"at least {_MIN_FIT}"}  # fmt: skip
    if callable(embedder) and not hasattr(embedder, "encode"):
        embedder = embedder()
    if mode == "assign":
        todo = requests.join(
            current.join(
                unchanged.select("conversation_id"), on="conversation_id", how="anti"
            ).select("conversation_id"),
            on="conversation_id",
        )
    else:
        todo = requests
    hashes, matrix, summary["encoded"] = embed_with_cache(
        store, todo["text"], embedder=embedder, run_id=run_id, max_chars=config.embed.max_chars
    )
    units, vectors = request_vectors(todo.with_columns(text_hash=hashes), matrix)
    if mode == "assign":
        assert model is not None
        ids, probability, method = (assign or assign_intents)(
            model, vectors, threshold=settings.assign_threshold
        )
        fresh = units.select("conversation_id", "unit_hash").with_columns(
            intent_id=pl.Series(ids, dtype=pl.String),
            probability=pl.Series(probability, dtype=pl.Float64),
            method=pl.Series(method.tolist(), dtype=pl.String),
        )
        kept = previous.join(unchanged.select("conversation_id"), on="conversation_id")
        assignments = pl.concat([kept.drop("model_version"), fresh], how="diagonal_relaxed")
        lineage = pl.DataFrame(schema=_LINEAGE_SCHEMA)
        new_model = None
    else:
        fit = fit_intents(units["conversation_id"].to_list(), vectors, settings)
        started = units.select("conversation_id").join(
            conversations, on="conversation_id", how="left", maintain_order="left"
        )["started_at"]
        fit = split_emerging(
            fit, units["conversation_id"].to_list(), vectors, started.to_list(), settings
        )
        intent_ids, similarity = match_intent_ids(
            model, fit.centroids, threshold=settings.match_threshold
        )
        descriptions = describe_intents(
            units["request"].to_list(), fit.labels, vectors, fit.centroids,
            n_terms=settings.n_terms, stop_words=settings.pleasantries,
        )  # fmt: skip
        version = (model.version if model else 0) + 1
        max_id = max(int(i[1:]) for i in intent_ids)
        new_model = IntentModel(
            version=version,
            intent_ids=intent_ids,
            centroids=fit.centroids,
            reducer=fit.reducer,
            clusterer=fit.clusterer,
            params={**fit.params, "max_id": max(max_id, model.params.get("max_id", 0) if model
                                                else 0)},
            fitted_at=now_utc(),
            fitted_ids=fit.fitted_ids,
            descriptions=descriptions,
        )  # fmt: skip
        assignments = units.select("conversation_id", "unit_hash").with_columns(
            intent_id=pl.Series(
                [intent_ids[c] if c != NOISE else None for c in fit.labels], dtype=pl.String
            ),
            probability=pl.Series(fit.probability, dtype=pl.Float64),
            method=pl.Series(fit.method.tolist(), dtype=pl.String),
        )
        lineage = (
            intent_lineage(
                previous.select("conversation_id", "intent_id"),
                assignments.select("conversation_id", "intent_id"),
                old_ids=model.intent_ids,
                similarity=similarity,
                share=settings.lineage_share,
            )
            if model
            else pl.DataFrame(
                [_lineage_row("new", i, None, 0, None) for i in intent_ids],
                schema=_LINEAGE_SCHEMA,
            )
        )
        model = new_model
    assignments = (
        conversations.select("conversation_id")
        .join(assignments, on="conversation_id", how="left", maintain_order="left")
        .with_columns(
            method=pl.col("method").fill_null(NO_REQUEST),
            is_outlier=pl.col("intent_id").is_null(),
            model_version=pl.lit(model.version, dtype=pl.Int32),
        )
        .select(schema.batch_columns(schema.INTENT_ASSIGNMENTS))
    )
    times = emerging_intents(
        assignments.select("conversation_id", "intent_id").join(
            conversations, on="conversation_id"
        ),
        recent_days=settings.emerging_days,
        share=settings.emerging_share,
    )
    intents = _intent_rows(model, assignments, times.drop_nulls("intent_id"))
    emerging = intents.filter(pl.col("is_emerging"))["intent_id"].to_list()
    growth = times.filter(pl.col("intent_id").is_null())
    store.write_intents(
        intents=intents.select(schema.batch_columns(schema.INTENTS)),
        assignments=assignments,
        lineage=lineage.with_columns(model_version=pl.lit(model.version, dtype=pl.Int32)),
        model=None
        if new_model is None
        else {
            "model_version": new_model.version,
            "fitted_at": new_model.fitted_at,
            "n_fit": len(new_model.fitted_ids),
            "params": new_model.params,
            "model": dump_model(new_model),
        },
        run_id=run_id,
    )
    n_unassigned = int(assignments["is_outlier"].sum())
    return {
        **summary,
        "model_version": model.version,
        "intents": len(model.intent_ids),
        "unassigned": n_unassigned,
        "unassigned_share": round(n_unassigned / max(assignments.height, 1), 4),
        "emerging": emerging,
        "unassigned_growing": bool(growth["is_emerging"].any()) if growth.height else False,
        "lineage": dict(lineage.group_by("event").len().iter_rows()),
    }


def _choose_mode(
    model: IntentModel | None, refit: bool | None, settings: IntentConfig, current: pl.DataFrame
) -> str:
    if model is None:
        return "fit"
    if refit is not None:
        return "refit" if refit else "assign"
    if settings.refit == "always":
        return "refit"
    if settings.refit == "never":
        return "assign"
    age = now_utc() - model.fitted_at
    unseen = 1 - current["conversation_id"].is_in(list(model.fitted_ids)).mean()
    too_old = age >= timedelta(days=settings.refit_after_days)
    return "refit" if too_old or unseen >= settings.refit_new_share else "assign"


def _intent_rows(
    model: IntentModel, assignments: pl.DataFrame, times: pl.DataFrame
) -> pl.DataFrame:
    """One ``intents`` row per model intent: description, size, share and dates."""
    sizes = assignments.group_by("intent_id").len("size").drop_nulls()
    total = max(assignments.height, 1)
    frame = pl.DataFrame(
        {
            "intent_id": model.intent_ids,
            "model_version": [model.version] * len(model.intent_ids),
            "label": [d["label"] for d in model.descriptions],
            "terms": [d["terms"] for d in model.descriptions],
            "exemplar": [d["exemplar"] for d in model.descriptions],
            "centroid": [row.tolist() for row in model.centroids],
        },
        schema_overrides={
            "terms": pl.List(pl.String),
            "centroid": pl.List(pl.Float32),
            "model_version": pl.Int32,
        },  # fmt: skip
    )
    return (
        frame.join(sizes, on="intent_id", how="left")
        .join(times, on="intent_id", how="left")
        .with_columns(
            size=pl.col("size").fill_null(0).cast(pl.Int32),
            share=pl.col("size").fill_null(0) / total,
            is_emerging=pl.col("is_emerging").fill_null(False),
        )
        .sort("size", descending=True)
    )


# ---- reading ---------------------------------------------------------------------------
def read_intents(db_path: Path) -> dict[str, Any]:
    """Read the intents of the latest run, largest first, for printing.

    Raises
    ------
    StoreError
        The database has no intents yet.
    """
    from pipeline.store import open_store

    with open_store(db_path, read_only=True) as store:
        if store.schema_version() < 3 or not store.count(schema.INTENTS):
            raise StoreError(
                f"{db_path}: no intents yet; run `cxminer run` or `cxminer intents --update`"
            )
        run_id = store.scalar(f"select max(run_id) from {schema.INTENTS}")
        intents = store.sql(
            "select intent_id, label, size, share, exemplar, first_seen, is_emerging, terms, "
            f"model_version from {schema.INTENTS} where run_id = ? "
            "order by size desc, intent_id",
            [run_id],
        )
        counts = store.sql(
            "select count(*) as conversations, count(*) filter (where is_outlier) as unassigned "
            f"from {schema.INTENT_ASSIGNMENTS}"
        ).row(0, named=True)
    return {
        "run_id": run_id,
        "model_version": intents["model_version"].max(),
        **counts,
        "intents": intents.drop("model_version").to_dicts(),
    }


def format_intents(report: dict[str, Any], *, width: int = 60) -> str:
    """Format :func:`read_intents` output as a plain-text table."""
    lines = [
        f"intents of run {report['run_id']} (model v{report['model_version']}): "
        f"{len(report['intents'])} intents, {report['conversations']} conversations, "
        f"{report['unassigned']} unassigned",
        f"{'id':<6} {'size':>6} {'share':>6}  {'label':<32} exemplar",
    ]
    for row in report["intents"]:
        exemplar = " ".join((row["exemplar"] or "").split())
        if len(exemplar) > width:
            exemplar = exemplar[: width - 3] + "..."
        flag = f"  [emerging since {row['first_seen']:%Y-%m-%d}]" if row["is_emerging"] else ""
        lines.append(
            f"{row['intent_id']:<6} {row['size']:>6} {row['share']:>6.1%}  "
            f"{row['label'][:32]:<32} {exemplar}{flag}"
        )
    return "\n".join(lines)


# ---- helpers ---------------------------------------------------------------------------
_LINEAGE_SCHEMA = {
    "event": pl.String,
    "intent_id": pl.String,
    "related_intent_id": pl.String,
    "n_conversations": pl.Int64,
    "similarity": pl.Float64,
}


def _lineage_row(
    event: str, intent_id: str, related: str | None, n: int, similarity: float | None
) -> dict[str, Any]:
    return {"event": event, "intent_id": intent_id, "related_intent_id": related,
            "n_conversations": int(n), "similarity": similarity}  # fmt: skip


class Projection:
    """Place new vectors in a fitted reduced space.

    PCA projects exactly. For UMAP, a new vector is put at the similarity-weighted mean
    of its nearest fitted neighbours' coordinates (UMAP's own ``transform`` starts from
    this point, then optimises; the optimisation needs numba's nearest-neighbour index,
    which costs ~40 s of compilation per process). Only coordinates are approximate:
    the final intent of a new conversation also passes the centroid-similarity rule.
    """

    def __init__(
        self, kind: str, model: Any, fitted: np.ndarray, reduced: np.ndarray, n_neighbors: int
    ) -> None:
        self.kind = kind
        self.model = model if kind == "pca" else None  # a fitted UMAP is not needed again
        self.fitted = fitted.astype(np.float32)
        self.reduced = reduced
        self.n_neighbors = min(n_neighbors, len(fitted))

    def transform(self, vectors: np.ndarray) -> np.ndarray:
        """Return reduced coordinates of ``vectors`` (unit rows in the embedding space)."""
        if self.kind == "pca":
            return np.asarray(self.model.transform(vectors), dtype=np.float64)
        index, similarity = _nearest(vectors, self.fitted, self.n_neighbors)
        weights = np.maximum(similarity, 1e-6)
        weights /= weights.sum(axis=1, keepdims=True)
        return np.einsum("nk,nkd->nd", weights, self.reduced[index])


def _make_reducer(config: IntentConfig, n: int, neighbours: tuple[np.ndarray, np.ndarray]) -> Any:
    if config.reducer == "pca":
        from sklearn.decomposition import PCA

        return PCA(n_components=min(config.n_components, n - 1), random_state=config.seed)
    import umap

    index, similarity = neighbours
    return umap.UMAP(
        n_neighbors=index.shape[1],
        n_components=min(config.n_components, n - 2),
        min_dist=0.0,
        metric="cosine",
        n_epochs=200,  # UMAP's own default for large data; 500 below 10k points costs 2.5x
        random_state=config.seed,
        # exact neighbours computed here: pynndescent would compile for ~40 s per process
        precomputed_knn=(index, np.maximum(1.0 - similarity, 0.0), None),
    )


def _nearest(
    queries: np.ndarray, points: np.ndarray, k: int, *, chunk: int = 2048
) -> tuple[np.ndarray, np.ndarray]:
    """Exact k nearest ``points`` of each query by cosine (unit rows), best first."""
    k = max(1, min(k, len(points)))
    index = np.empty((len(queries), k), dtype=np.int64)
    similarity = np.empty((len(queries), k), dtype=np.float32)
    for start in range(0, len(queries), chunk):
        sims = queries[start : start + chunk] @ points.T
        top = (
            np.argpartition(-sims, k - 1, axis=1)[:, :k]
            if k < len(points)
            else np.tile(np.arange(len(points)), (len(sims), 1))
        )
        top_sims = np.take_along_axis(sims, top, axis=1)
        order = np.argsort(-top_sims, axis=1, kind="stable")
        index[start : start + chunk] = np.take_along_axis(top, order, axis=1)
        similarity[start : start + chunk] = np.take_along_axis(top_sims, order, axis=1)
    return index, similarity


def _cluster_sizes(n: int, config: IntentConfig) -> list[int]:
    sizes = {max(config.min_cluster_floor, round(n * s)) for s in config.min_cluster_shares}
    return sorted(s for s in sizes if s <= n // 2) or [config.min_cluster_floor]


def _predict(reducer: Any, clusterer: Any, vectors: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import hdbscan

    reduced = reducer.transform(vectors)
    labels, strengths = hdbscan.approximate_predict(clusterer, reduced)
    return labels.astype(np.int64), strengths.astype(np.float64)


def _join_nearest(
    vectors: np.ndarray,
    labels: np.ndarray,
    probability: np.ndarray,
    method: np.ndarray,
    centroids: np.ndarray,
    threshold: float,
) -> None:
    """In place: each row ends in the nearest intent at cosine >= ``threshold``, or none.

    A row placed by HDBSCAN keeps its intent only if it passes the same test against
    that intent's centroid (UMAP can glue an isolated point to a cluster).
    """
    if not len(centroids):
        return
    placed = np.flatnonzero(labels != NOISE)
    own = np.einsum("nd,nd->n", vectors[placed], centroids[labels[placed]])
    far = placed[own < threshold]  # placed by density, but unlike its intent's centre
    labels[far], probability[far], method[far] = NOISE, 0.0, UNASSIGNED
    noise = np.flatnonzero(labels == NOISE)
    if not noise.size:
        return
    sims = vectors[noise] @ centroids.T
    best = sims.argmax(axis=1)
    close = sims[np.arange(noise.size), best] >= threshold
    labels[noise[close]] = best[close]
    probability[noise[close]] = sims[np.arange(noise.size), best][close]
    method[noise[close]] = NEAREST


def _route_to_children(
    labels: np.ndarray, vectors: np.ndarray, centroids: np.ndarray, children: dict[int, int]
) -> None:
    """In place: a row in a parent intent moves to the nearest of parent and children."""
    for parent in set(children.values()):
        family = np.array([parent, *sorted(c for c, p in children.items() if p == parent)])
        rows = np.flatnonzero(labels == parent)
        if rows.size:
            labels[rows] = family[(vectors[rows] @ centroids[family].T).argmax(axis=1)]


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


def _centroids(vectors: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    sums = np.zeros((k, vectors.shape[1]), dtype=np.float64)
    np.add.at(sums, labels[labels != NOISE], vectors[labels != NOISE])
    return _unit_rows(sums).astype(np.float32)


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return matrix / np.where(norms == 0, 1, norms)


def _id_hash(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _unit_hashes(requests: pl.DataFrame) -> pl.DataFrame:
    """``conversation_id, unit_hash``: a hash of the request turns' text hashes."""
    joined = requests.group_by("conversation_id", maintain_order=True).agg(
        unit_hash=pl.col("text_hash").str.join("+")
    )
    return joined.with_columns(
        unit_hash=pl.Series(
            [hashlib.sha256(v.encode()).hexdigest()[:32] for v in joined["unit_hash"]],
            dtype=pl.String,
        )
    )
