"""A read-only vector lookup: cached vectors for a stage, misses encoded, nothing written.

A stage gets the vectors it needs from a :class:`VectorLookup`; filling the cache stays
with the boundary module that bound ``read_cached`` (it writes :meth:`VectorLookup.new_rows`
with ``store.write_embeddings``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import polars as pl

from pipeline.embed.models import Embedder
from pipeline.embed.vectors import embed_normalised, embedding_matrix, normalise_text, text_hash

#: ``read_cached(text_hashes, model_id=...)`` -> ``text_hash, vector`` rows, as
#: ``Store.cached_embeddings``.
ReadCached = Callable[..., pl.DataFrame]


class VectorLookup:
    """An :class:`~pipeline.embed.models.Embedder` over the cache that never writes to it.

    Cached vectors are read with ``read_cached``, only the misses go to ``embedder``, and
    a text encoded once is not encoded again by a later call. The encoded rows are kept
    for the boundary (:meth:`new_rows`).

    Parameters
    ----------
    read_cached
        ``read_cached(text_hashes, model_id=...)`` returning ``text_hash, vector`` rows
        (``Store.cached_embeddings`` bound to an open store); only read.
    embedder
        Encodes the texts not cached yet.
    max_chars
        Texts are cut to this many characters (part of what is hashed).

    Attributes
    ----------
    encoded : int
        How many distinct texts were sent to ``embedder``.
    """

    def __init__(self, read_cached: ReadCached, embedder: Embedder, *, max_chars: int) -> None:
        self.read_cached, self.embedder, self.max_chars = read_cached, embedder, max_chars
        self.model_id, self.dim = embedder.model_id, embedder.dim
        self.encoded = 0
        self._new: list[pl.DataFrame] = []

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit vectors for ``texts``, encoding only those not cached yet."""
        if not len(texts):
            return np.empty((0, self.dim), dtype=np.float32)
        return self.encode_hashed(pl.Series(list(texts), dtype=pl.String))[1]

    def encode_hashed(self, texts: pl.Series) -> tuple[pl.Series, np.ndarray]:
        """Return the texts' cache hashes and ``(len(texts), dim)`` float32 unit rows.

        Raises
        ------
        SchemaError
            ``texts`` holds nulls.
        """
        normalised = normalise_text(texts, max_chars=self.max_chars)
        hashes = text_hash(normalised)
        cached = pl.concat(
            [self.read_cached(hashes.drop_nulls(), model_id=self.model_id), *self._new],
            how="vertical_relaxed",
        )
        embedded, embeddings = embed_normalised(
            normalised, hashes, embedder=self.embedder, cached=cached
        )
        if embeddings.height:
            self._new.append(embeddings)
        self.encoded += embeddings.height
        matrix = embedding_matrix(
            embedded["text_hash"], pl.concat([cached, embeddings], how="vertical_relaxed"),
            dim=self.dim,
        )  # fmt: skip
        return embedded["text_hash"], matrix

    def new_rows(self) -> pl.DataFrame:
        """Return ``text_hash, vector`` of every text encoded so far, for ``write_embeddings``."""
        schema = {"text_hash": pl.String, "vector": pl.List(pl.Float32)}
        return pl.concat([pl.DataFrame(schema=schema), *self._new], how="vertical_relaxed")
