"""Write the conversations and cxminer's results back as vCon files (``cxminer export-vcon``).

:func:`export_vcons` reads the store read-only, :data:`BATCH_SIZE` conversations at a time
(their turns, step events, intent, conformance and drift examples), builds their vCon
documents with :func:`pipeline.export.vcon.build_vcons` and writes one file a
conversation, so memory holds one batch, never every turn. It is the only module of
:mod:`pipeline.export` that touches the store or the file system.
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime
from pathlib import Path
from typing import NamedTuple

import polars as pl

from pipeline import schema
from pipeline.errors import InputError, StoreError
from pipeline.export.vcon import build_vcons, dump_vcon
from pipeline.progress import track
from pipeline.store import Store, open_store

BATCH_SIZE = 500  # conversations a batch: about 7,000 turns of the bundled sample
SUFFIX = ".vcon.json"

_IN_BATCH = "where conversation_id in (select unnest(?::varchar[]))"
#: Per batch: each table's rows for the batch's conversations.
BATCH_SQL = {
    "conversations": "select c.conversation_id, c.channel, c.customer_hash, c.agent_hash, "
    f"c.started_at, r.started_at as ingested_at from {schema.CONVERSATIONS} c "
    f"left join {schema.RUNS} r using (run_id) {_IN_BATCH} order by conversation_id",
    "turns": "select conversation_id, turn_idx, speaker, event_type, text, action_name, "
    f"args::varchar as args, action_status, ts, run_id from {schema.TURNS} {_IN_BATCH}",
    "step_events": "select conversation_id, seq, turn_idx, step_id, source, confidence, "
    f"sop_id, workflow_id, is_repeat, run_id from {schema.STEP_EVENTS} {_IN_BATCH}",
    "intent_assignments": "select conversation_id, intent_id, probability, is_outlier, method, "
    f"model_version, run_id from {schema.INTENT_ASSIGNMENTS} {_IN_BATCH}",
    "conformance": "select conversation_id, sop_id, version, variant_id, fitness, missing, "
    "undocumented, order_violations, skipped_gates, skipped, is_conforming, run_id "
    f"from {schema.CONFORMANCE} {_IN_BATCH}",
    "drift_examples": "select finding_id, kind, workflow_id, step, rank, conversation_id, "
    f"turn_idx, why, run_id from {schema.DRIFT_EXAMPLES} {_IN_BATCH}",
}
#: Once: the small tables every batch looks values up in.
LOOKUP_SQL = {
    "step_types": f"select step_id, label from {schema.STEP_TYPES}",
    "intents": f"select intent_id, label, family_id, family_label from {schema.INTENTS} "
    f"where run_id = (select max(run_id) from {schema.INTENTS})",
    "drift_findings": "select finding_id, severity, sentence, window_start, window_end "
    f"from {schema.DRIFT_FINDINGS} where flagged",  # only flagged findings have examples
}
#: What a database from before ``drift_examples`` (schema v9) gives for it: no rows.
NO_EXAMPLES = {"finding_id": pl.String, "kind": pl.String, "workflow_id": pl.String,
               "step": pl.String, "rank": pl.Int32, "conversation_id": pl.String,
               "turn_idx": pl.Int32, "why": pl.String, "run_id": pl.String}  # fmt: skip


class VconCounts(NamedTuple):
    """What :func:`export_vcons` wrote."""

    files: int  # one a conversation
    dialog: int  # text entries (utterances)
    analyses: int


def export_vcons(
    db_path: Path,
    out_dir: str | Path,
    *,
    since: date | datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> VconCounts:
    """Write one vCon file a conversation (started on or after ``since``) into ``out_dir``.

    Files are named ``<uuid>.vcon.json`` after the document's UUID, which comes from the
    conversation id: exporting again rewrites the same files with the same bytes (until
    a later run changes the results), and files of conversations not selected are left
    alone. Each file is written whole or not at all (written aside, then renamed).

    Parameters
    ----------
    db_path
        The database, opened read-only.
    out_dir
        The folder to write into; created if missing.
    since
        Only conversations started on or after this time (a date: its midnight UTC; a
        time without zone: UTC); ``None`` exports all, those without a start time too.
    batch_size
        Conversations read and written at a time (memory is bounded by a batch).

    Raises
    ------
    StoreError
        The database cannot be opened or holds no conversations.
    InputError
        The output folder or a file in it cannot be written.
    """
    out = Path(out_dir)
    with open_store(db_path, read_only=True) as store:
        if not store.count(schema.CONVERSATIONS):
            raise StoreError(
                f"{db_path}: no conversations to export; run `cxminer run` or `cxminer ingest`"
            )
        ids = _selected_ids(store, since)
        has_examples = _has_table(store, schema.DRIFT_EXAMPLES)
        lookups = {name: store.sql(query) for name, query in LOOKUP_SQL.items()}
        _make_folder(out)
        counts = VconCounts(0, 0, 0)
        with track("export-vcon", total=len(ids), unit=" conv", leave=False) as progress:
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                frames = {name: _read(store, name, query, has_examples, [batch])
                          for name, query in BATCH_SQL.items()}  # fmt: skip
                for vcon in build_vcons(**frames, **lookups):
                    _write(out / f"{vcon['uuid']}{SUFFIX}", dump_vcon(vcon))
                    counts = VconCounts(counts.files + 1, counts.dialog + len(vcon["dialog"]),
                                        counts.analyses + len(vcon["analysis"]))  # fmt: skip
                progress.update(len(batch))
    return counts


def _selected_ids(store: Store, since: date | datetime | None) -> list[str]:
    """Return the ids of the conversations to export, in id order."""
    if since is None:
        query, params = f"select conversation_id from {schema.CONVERSATIONS}", None
    else:
        query = f"select conversation_id from {schema.CONVERSATIONS} where started_at >= ?"
        params = [_utc(since)]
    return store.sql(f"{query} order by conversation_id", params)["conversation_id"].to_list()


def _utc(since: date | datetime) -> datetime:
    """Return a date as its midnight UTC, a time without zone as UTC."""
    if not isinstance(since, datetime):
        return datetime(since.year, since.month, since.day, tzinfo=UTC)
    return since if since.tzinfo else since.replace(tzinfo=UTC)


def _has_table(store: Store, table: str) -> bool:
    """Whether the table exists (``drift_examples`` is missing from a database before v9)."""
    query = "select count(*) from information_schema.tables where table_name = ?"
    return bool(store.scalar(query, [table]))


def _read(store: Store, name: str, query: str, has_examples: bool, params: list) -> pl.DataFrame:
    """One table's rows of a batch; no drift examples where the database has no such table."""
    if name == schema.DRIFT_EXAMPLES and not has_examples:
        return pl.DataFrame(schema=NO_EXAMPLES)
    return store.sql(query, params)


def _make_folder(out: Path) -> None:
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"{out}: cannot create the output folder ({exc.strerror})") from None


def _write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole: to a file beside it, then renamed over it."""
    aside = path.with_name(f".{path.name}.tmp")
    try:
        aside.write_bytes(data)
        os.replace(aside, path)
    except OSError as exc:
        aside.unlink(missing_ok=True)
        raise InputError(f"{path}: cannot write the vCon file ({exc.strerror})") from None
