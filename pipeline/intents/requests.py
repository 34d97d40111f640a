"""The opening request: what a conversation's customer asked for, as text and as a vector.

The unit of intent discovery is a conversation, represented by its opening request: the
first ``opening_turns`` customer turns that carry content (greetings, thanks and
self-introductions are skipped), each embedded through the cache and averaged.
"""

from __future__ import annotations

import hashlib
import re

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from pipeline.clustering import unit_rows
from pipeline.config import IntentConfig

_WORD = r"[a-z][a-z']+"
#: A redaction placeholder such as ``<CARD>``: no content word.
PLACEHOLDER = re.compile(r"<[A-Z_]+>")


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
            .str.replace_all(PLACEHOLDER.pattern, " ")
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
    vectors = unit_rows(sums).astype(np.float32)
    hashes = request_hashes(requests)
    units = units.drop("n").join(hashes, on="conversation_id", maintain_order="left")
    return units, vectors


def request_hashes(requests: pl.DataFrame) -> pl.DataFrame:
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
