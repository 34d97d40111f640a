"""Stage 3, embed: the DuckDB embedding cache, read and filled through the store.

Vectors are cached in DuckDB by ``(text_hash, model_id)``: a re-run encodes nothing.
:func:`embed_with_cache` reads and fills the cache (a stage's boundary module does the
same with a :class:`~pipeline.embed.lookup.VectorLookup` it writes back);
:func:`missing_texts` lists what the embed stage still has to encode. The pure parts
(normalising, hashing, encoding the misses) are :mod:`pipeline.embed.vectors`; the
models are :mod:`pipeline.embed.models`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import polars as pl

from pipeline.config import EmbedConfig
from pipeline.embed.lookup import VectorLookup
from pipeline.embed.models import Embedder
from pipeline.embed.vectors import normalise_text, text_hash

if TYPE_CHECKING:
    from pipeline.store import Store


def embed_with_cache(
    store: Store,
    texts: pl.Series,
    *,
    embedder: Embedder,
    run_id: str,
    max_chars: int = EmbedConfig.max_chars,
) -> tuple[pl.Series, np.ndarray, int]:
    """Embed ``texts`` through the DuckDB cache; reads and writes ``embeddings``.

    Returns
    -------
    text_hashes : polars.Series
        One hash per input text, in input order.
    matrix : numpy.ndarray
        ``(len(texts), dim)`` float32 unit rows aligned with ``texts``.
    n_encoded : int
        How many distinct texts were actually encoded (0 when all were cached).
    """
    vectors = VectorLookup(store.cached_embeddings, embedder, max_chars=max_chars)
    hashes, matrix = vectors.encode_hashed(texts)
    store.write_embeddings(vectors.new_rows(), model_id=embedder.model_id, run_id=run_id)
    return hashes, matrix, vectors.encoded


def missing_texts(
    store: Store,
    texts: pl.Series,
    *,
    model_id: str,
    max_chars: int = EmbedConfig.max_chars,
) -> pl.DataFrame:
    """Return the distinct texts that the cache lacks for ``model_id``; reads ``embeddings``.

    Parameters
    ----------
    store
        An open store (only read).
    texts
        Texts the stages will embed, in any order; duplicates and nulls are skipped.
    model_id
        The id of the vectors wanted (``Embedder.model_id``).
    max_chars
        Texts are cut to this many characters (part of what is hashed).

    Returns
    -------
    polars.DataFrame
        ``text_hash, text`` (normalised), one row per distinct text not yet cached,
        shortest first (ties by hash), so that a slice of rows pads little when batched.
    """
    normalised = normalise_text(texts, max_chars=max_chars).drop_nulls()
    wanted = pl.DataFrame({"text_hash": text_hash(normalised), "text": normalised}).unique(
        "text_hash"
    )
    cached = store.cached_embeddings(wanted["text_hash"], model_id=model_id)
    return (
        wanted.join(cached.select("text_hash"), on="text_hash", how="anti")
        .sort(pl.col("text").str.len_chars(), "text_hash")
        .select("text_hash", "text")
    )
