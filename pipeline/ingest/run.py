"""The ingest stage's boundary: stream input files through ingest into the store.

A large file streams batch by batch on its own (:func:`load_source`); small files (a
platform's export, one file a call) are read many together and written a group at a
time (:func:`load_small_sources`), so a folder of 100k one-call files costs about what
one file of 100k calls does.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from pipeline.config import Config
from pipeline.errors import InputError
from pipeline.ingest.adapters import PendingBatch, RawBatch
from pipeline.ingest.batch import prepare_batch
from pipeline.ingest.read import combine_raw, read_source, read_whole, unreadable_reason
from pipeline.ingest.validate import SeenIds, validate_batch
from pipeline.progress import track
from pipeline.store import Store

MAX_LOGGED_PROBLEMS = 20  # per file; the rest are counted, and all are in `quarantine`
#: DuckDB's memory while ingest writes (at most ``store.memory_limit``). A batch's join and
#: insert need little; what grows with the file is DuckDB's cache of the blocks written.
INGEST_DUCKDB_MEMORY = "128MB"


def load_source(
    store: Store, path: Path, row: dict, *, config: Config, fmt: str, hash_key: bytes, run_id: str
) -> None:
    """Stream ``path`` through ingest into the store, batch by batch; count into ``row``.

    Each batch is written in its own transaction (``conversations``, ``turns``,
    ``redactions``, ``quarantine``), and DuckDB is held to :data:`INGEST_DUCKDB_MEMORY`,
    so memory is bounded by ``ingest.batch_size``, not by the file's size.
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
    with (
        store.memory_capped(INGEST_DUCKDB_MEMORY),
        track(f"ingest: {path.name}", unit=" conv", leave=False) as progress,
    ):
        for batch in batches:
            counts = store.write_conversations(
                conversations=batch.conversations,
                turns=batch.turns,
                redactions=batch.redactions,
                run_id=run_id,
            )
            store.write_quarantine(batch.quarantine, run_id=run_id)
            _count_into(row, path, batch.n_records, counts, batch.quarantine)
            progress.update(batch.n_records)


def load_small_sources(
    store: Store,
    items: list[tuple[Path, dict, str]],
    *,
    config: Config,
    hash_key: bytes,
    run_id: str,
) -> None:
    """Read small files ``(path, sources row, format)`` together; count into each row.

    Each file is parsed whole (:func:`~pipeline.ingest.read.read_whole`); up to
    ``ingest.batch_size`` conversations of several files are then validated, redacted,
    hashed and written at once, in one transaction. A file holding a conversation id
    already in the group starts the next group, so a later file replaces an earlier one as
    when read one by one. A file that cannot be read is marked ``unreadable`` in its row;
    the others load.
    """
    group: list[tuple[Path, dict, RawBatch]] = []
    ids: set[str] = set()
    size = 0
    with (
        store.memory_capped(INGEST_DUCKDB_MEMORY),
        track("ingest: files", total=len(items), unit=" file", leave=False) as progress,
    ):
        for path, row, fmt in items:
            progress.update(1)
            try:
                raw = read_whole(path, fmt=fmt, config=config.ingest)
            except InputError as exc:
                row["status"], row["error"] = "unreadable", unreadable_reason(exc)
                continue
            found, n = _ids(raw), _count(raw)
            full = size + n > config.ingest.batch_size
            if group and (ids & found or full):
                _write_group(store, group, config=config, hash_key=hash_key, run_id=run_id)
                group, ids, size = [], set(), 0
            group.append((path, row, raw))
            ids |= found
            size += n
        if group:
            _write_group(store, group, config=config, hash_key=hash_key, run_id=run_id)


def _write_group(
    store: Store,
    group: list[tuple[Path, dict, RawBatch]],
    *,
    config: Config,
    hash_key: bytes,
    run_id: str,
) -> None:
    """Validate, redact, hash and write one group of small files; count into their rows."""
    valid, _ = validate_batch(
        combine_raw([(row["source_id"], raw) for _, row, raw in group]),
        source_id="",  # each row carries its file's
        max_text_chars=config.ingest.max_text_chars,
        speaker_aliases=config.ingest.speaker_aliases,
        seen_ids=SeenIds(),
    )
    batch = prepare_batch(
        valid.conversations,
        valid.turns,
        valid.quarantine,
        source_id="",
        hash_key=hash_key,
        redact_types=config.redact.types,
        redact_allow=config.redact.allow,
    )
    counts = store.write_conversations(
        conversations=batch.conversations,
        turns=batch.turns,
        redactions=batch.redactions,
        run_id=run_id,
    )
    store.write_quarantine(batch.quarantine, run_id=run_id)
    quarantined = batch.quarantine.partition_by("source_id", as_dict=True)
    for path, row, raw in group:
        mine = counts["by_source"].get(row["source_id"], {})
        bad = quarantined.get((row["source_id"],), batch.quarantine.head(0))
        _count_into(row, path, _count(raw) + _count_rejects(raw), mine, bad)


def _count_into(
    row: dict, path: Path, n_records: int, counts: dict[str, int], quarantine: pl.DataFrame
) -> None:
    """Add one batch's counts to a file's ``sources`` row: records, writes, quarantine.

    ``counts`` holds the file's ``loaded``/``replaced``/``unchanged`` (absent: 0);
    ``quarantine`` its quarantined records, whose first :data:`MAX_LOGGED_PROBLEMS` are
    kept as one-line problems and a truncated gzip makes the file ``partial``.
    """
    row["n_records"] += n_records
    for key in ("loaded", "replaced", "unchanged"):
        row[f"n_{key}"] += counts.get(key, 0)
    row["n_quarantined"] += quarantine.height
    row["problems"].extend(
        f"{path}: {loc}: {msg}"
        for loc, msg in quarantine.select("locator", "message")
        .head(MAX_LOGGED_PROBLEMS - len(row["problems"]))
        .iter_rows()
    )
    if quarantine["reason"].is_in(["truncated_gzip"]).any():
        row["status"] = "partial"


def _ids(raw: RawBatch) -> set[str]:
    """Return the conversation ids of a file's batch (its records', when not yet flattened)."""
    if isinstance(raw, PendingBatch):
        ids = (r.data.get("conversation_id") if isinstance(r.data, dict) else None
               for r in raw.records)  # fmt: skip
        return {str(i).strip() for i in ids if i is not None}
    return set(raw.conversations["conversation_id"].str.strip_chars().drop_nulls())


def _count(raw: RawBatch) -> int:
    return len(raw.records) if isinstance(raw, PendingBatch) else raw.conversations.height


def _count_rejects(raw: RawBatch) -> int:
    return len(raw.reject_rows) if isinstance(raw, PendingBatch) else raw.rejects.height
