"""The embedding cache: vectors keyed by (normalised text hash, model id)."""

from __future__ import annotations

import polars as pl

from pipeline import schema
from pipeline.store.database import Database, registered


class EmbeddingCache(Database):
    """Reads and writes of table ``embeddings``."""

    def cached_embeddings(self, text_hashes: pl.Series, *, model_id: str) -> pl.DataFrame:
        """Return ``text_hash, vector`` rows of the cache for these hashes and model."""
        frame = pl.DataFrame({"text_hash": text_hashes.unique()})
        cursor = self.con.cursor()
        try:
            cursor.register("_wanted", frame)
            return cursor.sql(
                f"select e.text_hash, e.vector from {schema.EMBEDDINGS} e "
                "join _wanted w using (text_hash) where e.model_id = ?",
                params=[model_id],
            ).pl()
        finally:
            cursor.close()

    def write_embeddings(self, vectors: pl.DataFrame, *, model_id: str, run_id: str) -> int:
        """Add ``text_hash, vector`` rows to the cache (hashes already cached are skipped)."""
        if vectors.is_empty():
            return 0
        with self.transaction() as con, registered(con, _batch_embeddings=vectors):
            con.execute(
                f"insert into {schema.EMBEDDINGS} (text_hash, model_id, vector, run_id) "
                "select b.text_hash, ?, b.vector::float[], ? from _batch_embeddings b "
                f"anti join (select text_hash from {schema.EMBEDDINGS} where model_id = ?) e "
                "using (text_hash)",
                [model_id, run_id, model_id],
            )
        return vectors.height
