"""Texts to cache rows: normalisation, the text hash, encoding the misses, the matrix.

Agent speech is highly repetitive and scheduled runs see mostly old text, so texts are
normalised and hashed first and each distinct text is encoded once; vectors are keyed by
``(text_hash, model_id)``. Everything here is pure: reading and writing the cache is
:mod:`pipeline.embed.cache`'s job.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from pipeline.config import EmbedConfig
from pipeline.embed.models import Embedder
from pipeline.errors import SchemaError

_HASH_CHARS = 32  # 128 bits of sha256: collisions are negligible at any corpus size


def normalise_text(texts: pl.Series, *, max_chars: int = EmbedConfig.max_chars) -> pl.Series:
    """Return texts in the form that is hashed and encoded.

    Unicode NFC, whitespace runs collapsed to one space, stripped, cut to ``max_chars``
    characters (then stripped of a trailing space the cut exposed). Nulls stay null.
    """
    return (
        texts.cast(pl.String)
        .str.normalize("NFC")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.slice(0, max_chars)
        .str.strip_chars_end()
    )


def text_hash(texts: pl.Series) -> pl.Series:
    """Return a stable hash of each text: the first 32 hex digits of its UTF-8 sha256.

    Stable across runs, machines and library versions (polars' ``hash()`` is not). Each
    distinct text is hashed once. Pass normalised text (:func:`normalise_text`).
    """
    unique = texts.unique().drop_nulls()
    digests = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:_HASH_CHARS] for t in unique]
    return texts.replace_strict(unique, digests, default=None, return_dtype=pl.String).rename(
        "text_hash"
    )


def embed_texts(
    texts: pl.Series,
    *,
    embedder: Embedder,
    cached: pl.DataFrame,
    max_chars: int = EmbedConfig.max_chars,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Encode the distinct texts that ``cached`` lacks.

    Parameters
    ----------
    texts
        Texts to embed (no nulls); duplicates are encoded once.
    embedder
        The encoder; its ``model_id`` must be the one ``cached`` was read for.
    cached
        ``text_hash, vector`` rows already in the cache (any superset or subset).
    max_chars
        Texts are cut to this many characters (part of what is hashed).

    Returns
    -------
    embedded : polars.DataFrame
        ``text_hash``, one row per input text, in input order.
    embeddings : polars.DataFrame
        ``text_hash, vector`` (list of float32) for the newly encoded texts: the rows to
        add to the ``embeddings`` table. Empty when everything was cached.

    Raises
    ------
    SchemaError
        ``texts`` holds nulls.
    """
    normalised = normalise_text(texts, max_chars=max_chars)
    return embed_normalised(normalised, text_hash(normalised), embedder=embedder, cached=cached)


def embedding_matrix(text_hashes: pl.Series, vectors: pl.DataFrame, *, dim: int) -> np.ndarray:
    """Return the ``(len(text_hashes), dim)`` float32 matrix of each hash's vector.

    Parameters
    ----------
    text_hashes
        Hashes in the order wanted (repeats allowed).
    vectors
        ``text_hash, vector`` rows covering every hash (duplicates of a hash allowed).
    dim
        Vector length.

    Raises
    ------
    SchemaError
        A hash has no vector.
    """
    table = vectors.unique("text_hash", keep="first", maintain_order=True)
    position = pl.Series(range(table.height), dtype=pl.Int64)
    rows = text_hashes.replace_strict(table["text_hash"], position, default=None)
    if rows.null_count():
        missing = text_hashes.filter(rows.is_null()).first()
        raise SchemaError(f"embedding_matrix: no vector for text_hash {missing!r}")
    if table.is_empty():
        return np.empty((text_hashes.len(), dim), dtype=np.float32)
    matrix = table["vector"].cast(pl.Array(pl.Float32, dim)).to_numpy()
    return np.ascontiguousarray(matrix[rows.to_numpy()], dtype=np.float32)


def encode_rows(rows: pl.DataFrame, embedder: Embedder) -> pl.DataFrame:
    """Encode ``text_hash, text`` rows (from :func:`missing_texts`) in the order given.

    Parameters
    ----------
    rows
        ``text_hash, text``: distinct, already normalised texts without nulls.
    embedder
        The encoder.

    Returns
    -------
    polars.DataFrame
        ``text_hash, vector`` (list of float32), one row per input row: the rows to add
        to ``embeddings`` with ``store.write_embeddings(..., model_id=embedder.model_id)``.

    Raises
    ------
    SchemaError
        ``rows`` lacks ``text_hash`` or ``text``, or a text is null.
    """
    missing = [c for c in ("text_hash", "text") if c not in rows.columns]
    if missing:
        raise SchemaError(
            f"encode_rows: expected columns text_hash, text (from missing_texts), "
            f"found {', '.join(rows.columns) or 'none'}; missing {', '.join(missing)}"
        )
    nothing_cached = pl.DataFrame(schema={"text_hash": pl.String})
    _, embeddings = embed_normalised(
        rows["text"], rows["text_hash"], embedder=embedder, cached=nothing_cached
    )
    return embeddings


def embed_normalised(
    normalised: pl.Series, hashes: pl.Series, *, embedder: Embedder, cached: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Encode the distinct ``normalised`` texts (hashed as ``hashes``) that ``cached`` lacks.

    Returns
    -------
    embedded : polars.DataFrame
        ``text_hash``, one row per input text, in input order.
    embeddings : polars.DataFrame
        ``text_hash, vector`` of the newly encoded texts, in first-occurrence order.

    Raises
    ------
    SchemaError
        A text is null.
    """
    if normalised.null_count():
        raise SchemaError(
            f"embed: expected texts without nulls, found {normalised.null_count()}; "
            "drop action events and empty turns before embedding"
        )
    wanted = (
        pl.DataFrame({"text_hash": hashes, "text": normalised})
        .unique("text_hash", keep="first", maintain_order=True)
        .join(cached.select("text_hash"), on="text_hash", how="anti")
    )
    vectors = embedder.encode(wanted["text"].to_list()) if wanted.height else None
    embeddings = pl.DataFrame(
        {
            "text_hash": wanted["text_hash"],
            "vector": pl.Series(
                vectors if vectors is not None else np.empty((0, embedder.dim), np.float32),
                dtype=pl.Array(pl.Float32, embedder.dim),
            ).cast(pl.List(pl.Float32)),
        }
    )
    return pl.DataFrame({"text_hash": hashes}), embeddings
