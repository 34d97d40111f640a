"""The ingest stage's boundary: stream one input file through ingest into the store."""

from __future__ import annotations

from pathlib import Path

from tqdm import tqdm

from pipeline.config import Config
from pipeline.ingest.read import read_source
from pipeline.store import Store

MAX_LOGGED_PROBLEMS = 20  # per file; the rest are counted, and all are in `quarantine`


def load_source(
    store: Store, path: Path, row: dict, *, config: Config, fmt: str, hash_key: bytes, run_id: str
) -> None:
    """Stream ``path`` through ingest into the store, batch by batch; count into ``row``.

    Each batch is written in its own transaction (``conversations``, ``turns``,
    ``redactions``, ``quarantine``), so memory is bounded by ``ingest.batch_size``.
    ``row`` is the file's ``sources`` row being built: its ``n_*`` counts, ``problems``
    (the first :data:`MAX_LOGGED_PROBLEMS` one-line errors) and ``status`` (``partial``
    for a truncated gzip) are updated in place.
    """
    batches = read_source(
        path,
        source_id=row["source_id"],
        fmt=fmt,
        config=config.ingest,
        hash_key=hash_key,
        redact_types=config.redact.types,
        redact_allow=config.redact.allow,
    )
    with tqdm(desc=path.name, unit=" conv", disable=None, leave=False) as progress:
        for batch in batches:
            counts = store.write_conversations(
                conversations=batch.conversations,
                turns=batch.turns,
                redactions=batch.redactions,
                run_id=run_id,
            )
            store.write_quarantine(batch.quarantine, run_id=run_id)
            row["n_records"] += batch.n_records
            row["n_loaded"] += counts["loaded"]
            row["n_replaced"] += counts["replaced"]
            row["n_unchanged"] += counts["unchanged"]
            row["n_quarantined"] += batch.quarantine.height
            row["problems"].extend(
                f"{path}: {loc}: {msg}"
                for loc, msg in batch.quarantine.select("locator", "message")
                .head(MAX_LOGGED_PROBLEMS - len(row["problems"]))
                .iter_rows()
            )
            if batch.quarantine["reason"].is_in(["truncated_gzip"]).any():
                row["status"] = "partial"
            progress.update(batch.n_records)
