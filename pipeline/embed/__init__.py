"""Stage 3, embed: texts to unit vectors, normalised, deduplicated and cached by hash.

Models sit behind the :class:`Embedder` protocol (:mod:`pipeline.embed.models`, with the
ONNX backends in :mod:`pipeline.embed.onnx`); texts are normalised and hashed and only
the distinct misses encoded (:mod:`pipeline.embed.vectors`); stages read vectors through
a :class:`VectorLookup` (:mod:`pipeline.embed.lookup`), which never writes. Only
:mod:`pipeline.embed.cache` reads and fills the DuckDB cache.
"""

from pipeline.embed.lookup import VectorLookup
from pipeline.embed.models import Embedder, embedder_model_id, make_embedder
from pipeline.embed.vectors import (
    embed_texts,
    embedding_matrix,
    encode_rows,
    normalise_text,
    text_hash,
)

__all__ = [
    "Embedder",
    "VectorLookup",
    "embed_texts",
    "embedder_model_id",
    "embedding_matrix",
    "encode_rows",
    "make_embedder",
    "normalise_text",
    "text_hash",
]
