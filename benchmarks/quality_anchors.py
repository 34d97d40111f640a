"""Anchors for the quality scoreboard: simple methods run on the same input as cxminer.

Each anchor reads what the real run wrote to its database (read-only: the turns and the
embedding cache, so no text is encoded again) and is scored by ``pipeline.evaluate.scores``'s
own scorers, so the figure beside cxminer's means the same thing:

- intents: KMeans told the true number of intents, and BERTopic's default clustering
  (UMAP to 5 dimensions, 15 neighbours, min_dist 0, cosine; HDBSCAN min_cluster_size 10,
  eom; its outliers count as unassigned), both on the request vectors the intent stage
  clusters (:func:`pipeline.intents.requests.opening_requests`, averaged per conversation);
- steps: the naive nearest template: each agent utterance becomes the step of its
  conversation's *true* SOP whose phrasing is most similar, with no threshold and no
  sequence context.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline import schema
from pipeline.config import Config
from pipeline.embed.models import embedder_model_id
from pipeline.embed.vectors import embedding_matrix, normalise_text, text_hash
from pipeline.evaluate.metrics import score_clustering
from pipeline.evaluate.steps import score_step_log
from pipeline.intents.requests import opening_requests, request_vectors
from pipeline.sops.model import Sop
from pipeline.steps.library import step_library
from pipeline.store import Store, open_store


def cached_vectors(store: Store, texts: pl.Series, config: Config) -> np.ndarray:
    """Return the cached unit vector of each text (read-only; every text must be cached).

    Raises
    ------
    SchemaError
        A text was never embedded by the run.
    """
    normalised = normalise_text(texts, max_chars=config.embed.max_chars)
    hashes = text_hash(normalised)
    model_id = embedder_model_id(config.embed)
    cached = store.cached_embeddings(hashes.unique().drop_nulls(), model_id=model_id)
    dim = len(cached["vector"][0]) if cached.height else 0
    return embedding_matrix(hashes, cached, dim=dim)


def request_units(db: Path, config: Config) -> tuple[list[str], np.ndarray]:
    """The conversations with a request and their request vectors, as the intent stage sees them."""
    with open_store(db, read_only=True) as store:
        turns = store.sql(
            f"select conversation_id, turn_idx, speaker, event_type, text from {schema.TURNS} "
            "where speaker in ('customer', 'agent') and event_type = 'utterance'"
        )
        requests = opening_requests(turns, config.intents)
        matrix = cached_vectors(store, requests["text"], config)
    units, vectors = request_vectors(requests.with_columns(text_hash=pl.lit("")), matrix)
    return units["conversation_id"].to_list(), vectors


def intent_anchors(
    db: Path, config: Config, labels: pl.DataFrame, *, seed: int = 0
) -> dict[str, dict[str, Any]]:
    """Score KMeans-k and BERTopic's default clustering on the run's request vectors.

    Scored over the conversations ``cxminer evaluate`` scores (labelled and in
    ``intent_assignments``); a conversation without a request is unassigned, as it is
    for cxminer.
    """
    import hdbscan
    import umap
    from sklearn.cluster import KMeans

    ids, vectors = request_units(db, config)
    with open_store(db, read_only=True) as store:
        scored = set(store.sql(f"select conversation_id from {schema.INTENT_ASSIGNMENTS}")
                     ["conversation_id"].to_list())  # fmt: skip
    truth = {c: i for c, i in labels.select("conversation_id", "intent").iter_rows() if c in scored}
    k = len(set(truth.values()))
    kmeans = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors)
    reduced = umap.UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    ).fit_transform(vectors)
    bertopic = hdbscan.HDBSCAN(
        min_cluster_size=10, metric="euclidean", cluster_selection_method="eom"
    ).fit_predict(reduced)
    results = {}
    for name, found in (("KMeans-k", kmeans), ("BERTopic", bertopic)):
        cluster = {c: (int(f) if f >= 0 else None) for c, f in zip(ids, found, strict=True)}
        pairs = [(t, cluster.get(c)) for c, t in truth.items()]
        results[name] = score_clustering([t for t, _ in pairs], [p for _, p in pairs])
    return results


def nearest_template(
    db: Path, config: Config, labels: pl.DataFrame, sops: Sequence[Sop]
) -> dict[str, Any]:
    """Score the nearest-template baseline: each agent utterance -> its true SOP's closest step.

    A conversation whose true intent no SOP documents gets no events.
    """
    library = step_library(sops, roles={})
    sop_of_intent = {intent: sop.sop_id for sop in sops for intent in sop.intent}
    with open_store(db, read_only=True) as store:
        said = store.sql(
            f"select conversation_id, turn_idx, text from {schema.TURNS} "
            "where speaker in ('agent', 'bot') and event_type = 'utterance' "
            "and length(trim(text)) > 0 order by conversation_id, turn_idx"
        )
        turn_vectors = cached_vectors(store, said["text"], config)
        proto_vectors = cached_vectors(store, pl.Series(library.proto_texts), config)
    truth = dict(labels.select("conversation_id", "intent").iter_rows())
    sop_ids = [sop_of_intent.get(truth.get(c)) for c in said["conversation_id"]]
    step_of = np.array([library.type_ids[t] for t in library.proto_type], dtype=object)
    picked = np.full(said.height, None, dtype=object)
    for sop_id in {s for s in sop_ids if s is not None}:
        rows = np.flatnonzero(np.array([s == sop_id for s in sop_ids]))
        columns = np.flatnonzero([sop_id in sops_ for sops_ in library.proto_sops])
        if not columns.size:
            continue
        best = (turn_vectors[rows] @ proto_vectors[columns].T).argmax(axis=1)
        picked[rows] = step_of[columns[best]]
    events = (
        said.with_columns(step_id=pl.Series(picked.tolist(), dtype=pl.String))
        .drop_nulls("step_id")
        .with_columns(seq=pl.int_range(pl.len()).over("conversation_id"))
    )
    return score_step_log(events.select("conversation_id", "seq", "step_id", "turn_idx"), labels)
