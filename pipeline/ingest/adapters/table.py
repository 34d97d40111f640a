"""CSV and Parquet exports with one turn a row, columns named by ``ingest.table`` config.

Rows are streamed in blocks (pyarrow readers), so memory is bounded by the block size.
A conversation's rows must be contiguous, as exports grouped by conversation are; the
rows of one that reappears later in the file are quarantined with the fix (sort the
export by conversation), never silently merged or dropped.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from pipeline.config import IngestConfig, TableColumns
from pipeline.errors import InputError
from pipeline.ingest.adapters import (
    CONVERSATION_FIELDS,
    RAW_CONVERSATION_SCHEMA,
    RAW_TURN_SCHEMA,
    REJECT_SCHEMA,
    TURN_FIELDS,
    RawBatch,
    content_hash,
)
from pipeline.ingest.adapters.adapter import Adapter, FileHead
from pipeline.ingest.adapters.files import GZIP_MAGIC

_TURN_COLUMNS = ("speaker", "event_type", "text", "action", "status", "ts")
_BLOCK_ROWS = 65536


def read_table(
    path: Path, *, fmt: str, columns: TableColumns, batch_size: int
) -> Iterator[RawBatch]:
    """Yield raw batches of at most ``batch_size`` conversations from a CSV or Parquet file.

    Locators are ``rows A-B``: line numbers for CSV (the header is line 1; a quoted
    multi-line text counts its lines), row numbers for Parquet.

    Raises
    ------
    InputError
        The file cannot be opened, or a required column is missing.
    """
    name = path.name.lower().removesuffix(".gz")
    blocks = _blocks(path, fmt, delimiter="\t" if name.endswith(".tsv") else ",")
    first = next(blocks, None)
    if first is None:
        return
    mapping = _mapping(path, first.columns, columns)
    next_line = 2 if fmt == "csv" else 1
    carry = pl.DataFrame()
    seen: set[str] = set()
    pending: list[pl.DataFrame] = []
    pending_n = 0
    for block in _chain(first, blocks):
        rows, next_line = _numbered(block, mapping, next_line, count_newlines=fmt == "csv")
        rows = pl.concat([carry, rows]) if carry.height else rows
        rows, carry = _split_tail(rows)
        for chunk in _chunks(rows, room=batch_size - pending_n, batch_size=batch_size):
            pending.append(chunk)
            pending_n += _n_conversations(chunk)
            if pending_n >= batch_size:
                yield _batch(pl.concat(pending), mapping, seen)
                pending, pending_n = [], 0
    pending.append(carry)
    rest = pl.concat([p for p in pending if p.height]) if any(p.height for p in pending) else None
    if rest is not None:
        yield _batch(rest, mapping, seen)


def _numbered(
    block: pl.DataFrame, mapping: dict[str, str], first_line: int, *, count_newlines: bool
) -> tuple[pl.DataFrame, int]:
    """Canonical columns plus each row's first and last line; returns the next free line."""
    if count_newlines:
        newlines = pl.sum_horizontal(
            pl.col(c).str.count_matches("\n").fill_null(0) for c in block.columns
        )
        spans = block.select(newlines.cast(pl.Int64).alias("nl"))["nl"]
    else:
        spans = pl.zeros(block.height, dtype=pl.Int64, eager=True)
    starts = first_line + (spans + 1).cum_sum() - (spans + 1)
    rows = _canonical(block, mapping).with_columns(row=starts, row_end=starts + spans)
    return rows, first_line + int((spans + 1).sum())


def _conversation_rank() -> pl.Expr:
    ids = pl.col("conversation_id")
    return (ids.ne_missing(ids.shift())).fill_null(True).cum_sum()


def _n_conversations(rows: pl.DataFrame) -> int:
    return int(rows.select(_conversation_rank().max()).item() or 0) if rows.height else 0


def _chunks(rows: pl.DataFrame, *, room: int, batch_size: int) -> list[pl.DataFrame]:
    """Split complete conversations into chunks: the first fills ``room``, then batch-sized."""
    if rows.is_empty():
        return []
    rank = _conversation_rank()
    chunk = pl.when(rank <= room).then(0).otherwise((rank - room - 1) // batch_size + 1)
    return rows.with_columns(_chunk=chunk).partition_by(
        "_chunk", maintain_order=True, include_key=False
    )


def _blocks(path: Path, fmt: str, *, delimiter: str) -> Iterator[pl.DataFrame]:
    try:
        if fmt == "parquet":
            for record_batch in pq.ParquetFile(path).iter_batches(batch_size=_BLOCK_ROWS):
                yield pl.from_arrow(record_batch).cast(pl.String)
            return
        with open(path, "rb") as probe:
            compression = "gzip" if probe.read(2) == GZIP_MAGIC else None
        parse = pacsv.ParseOptions(delimiter=delimiter, newlines_in_values=True)
        with pa.input_stream(str(path), compression=compression) as stream:
            names = pacsv.open_csv(
                stream, read_options=pacsv.ReadOptions(block_size=1 << 16), parse_options=parse
            ).schema.names
        reader = pacsv.open_csv(
            pa.input_stream(str(path), compression=compression),
            read_options=pacsv.ReadOptions(block_size=8 << 20),
            parse_options=parse,
            convert_options=pacsv.ConvertOptions(
                column_types={n: pa.string() for n in names}, strings_can_be_null=True
            ),
        )
        for record_batch in reader:
            yield pl.from_arrow(record_batch)
    except (pa.ArrowInvalid, OSError) as exc:
        raise InputError(f"{path}: cannot read as {fmt} ({str(exc).splitlines()[0]})") from None


def _chain(first: pl.DataFrame, rest: Iterator[pl.DataFrame]) -> Iterator[pl.DataFrame]:
    yield first
    yield from rest


def _mapping(path: Path, present: list[str], columns: TableColumns) -> dict[str, str]:
    """Canonical field -> source column, for the configured columns present in the file."""
    mapping = {
        field: getattr(columns, field)
        for field in (*CONVERSATION_FIELDS, *_TURN_COLUMNS, "turn_idx")
        if getattr(columns, field) and getattr(columns, field) in present
    }
    for required in ("conversation_id", "speaker"):
        if required not in mapping:
            raise InputError(
                f"{path}: column {getattr(columns, required) or '(none)'!r} for {required} "
                f"not found (columns: {', '.join(present[:12])}); set ingest.table.{required} "
                "in config.yaml"
            )
    if "text" not in mapping and "action" not in mapping:
        raise InputError(
            f"{path}: neither a text column ({columns.text!r}) nor an action column "
            f"({columns.action!r}) found; set ingest.table.text in config.yaml"
        )
    extra = [c for c in present if c not in mapping.values()]
    mapping["_extra"] = ",".join(extra)
    return mapping


def _canonical(block: pl.DataFrame, mapping: dict[str, str]) -> pl.DataFrame:
    """Rename mapped columns to canonical names; blank cells are null (as in Parquet)."""
    fields = [f for f in mapping if f != "_extra"]
    exprs = [
        pl.when(pl.col(mapping[f]).str.strip_chars() == "")
        .then(None)
        .otherwise(pl.col(mapping[f]))
        .alias(f)
        for f in fields
    ]
    extra = [c for c in mapping["_extra"].split(",") if c]
    if extra:
        exprs.append(pl.struct(extra).struct.json_encode().alias("_extra"))
    return block.select(exprs)


def _split_tail(rows: pl.DataFrame) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Hold back the last conversation's rows: it may continue in the next block."""
    if rows.is_empty():
        return rows, rows
    last = rows["conversation_id"][-1]
    ids = rows["conversation_id"]
    tail_start = rows.height
    while tail_start > 0 and ids[tail_start - 1] == last:
        tail_start -= 1
    return rows.slice(0, tail_start), rows.slice(tail_start)


def _batch(rows: pl.DataFrame, mapping: dict[str, str], seen: set[str]) -> RawBatch:
    """Group contiguous rows into conversations; reject rows that cannot belong to one."""
    no_id = rows.filter(pl.col("conversation_id").is_null() | (pl.col("conversation_id") == ""))
    rows = rows.filter(pl.col("conversation_id").is_not_null() & (pl.col("conversation_id") != ""))
    rows = rows.with_columns(
        block=(pl.col("conversation_id") != pl.col("conversation_id").shift())
        .fill_null(True)
        .cum_sum()
    )
    row_json = pl.struct(pl.exclude("row", "row_end", "block")).struct.json_encode()
    blocks = rows.group_by("block", maintain_order=True).agg(
        pl.col("conversation_id").first(),
        pl.col("row").min().alias("first_row"),
        pl.col("row_end").max().alias("last_row"),
        *[pl.col(f).drop_nulls().first() for f in CONVERSATION_FIELDS[1:] if f in mapping],
        *([_extra_metadata()] if "_extra" in rows.columns else []),
        row_json.str.join("\n").alias("raw"),
    )
    repeat = blocks["conversation_id"].is_in(list(seen)) | blocks["conversation_id"].is_duplicated()
    first_of_dupes = (
        ~blocks["conversation_id"].is_in(list(seen)) & blocks["conversation_id"].is_first_distinct()
    )
    bad = repeat & ~first_of_dupes
    seen.update(blocks["conversation_id"].to_list())
    rejects = pl.concat(
        [
            _rejects_missing_id(no_id),
            _rejects_non_contiguous(blocks.filter(bad)),
        ]
    )
    good = blocks.filter(~bad).with_row_index("rec").with_columns(pl.col("rec").cast(pl.Int64))
    conversations = good.select(
        pl.col("rec"),
        pl.format("rows {}-{}", "first_row", "last_row").alias("locator"),
        *[
            (pl.col(f) if f in good.columns else pl.lit(None, dtype=pl.String)).alias(f)
            for f in CONVERSATION_FIELDS
        ],
        (pl.col("metadata") if "metadata" in good.columns else pl.lit(None, pl.String)).alias(
            "metadata"
        ),
        pl.col("raw")
        .map_elements(lambda r: content_hash(r.encode()), return_dtype=pl.String)
        .alias("content_hash"),
        pl.col("raw").str.slice(0, 4000),
        *[
            pl.lit(None, dtype=pl.String).alias(c)
            for c in ("problem_field", "problem_reason", "problem_message")
        ],
    ).cast(RAW_CONVERSATION_SCHEMA)
    turns = _turns(rows.join(good.select("block", "rec"), on="block", how="inner"))
    return RawBatch(conversations, turns, rejects.cast(REJECT_SCHEMA))


def _extra_metadata() -> pl.Expr:
    """Unmapped columns as metadata, so nothing is dropped.

    The first row's values, plus every row's under ``turn_fields`` when they vary
    within the conversation.
    """
    first = pl.col("_extra").first()
    varying = pl.concat_str(
        first.str.strip_suffix("}"),
        pl.lit(',"turn_fields":['),
        pl.col("_extra").str.join(","),
        pl.lit("]}"),
    )
    return (
        pl.when(pl.col("_extra").n_unique() == 1).then(first).otherwise(varying).alias("metadata")
    )


def _turns(rows: pl.DataFrame) -> pl.DataFrame:
    order = ["rec", "turn_idx"] if "turn_idx" in rows.columns else ["rec", "row"]
    if "turn_idx" in rows.columns:
        rows = rows.with_columns(pl.col("turn_idx").cast(pl.Int64, strict=False).fill_null(0))
    rows = rows.sort(order).with_columns(turn_idx=pl.int_range(pl.len()).over("rec").cast(pl.Int32))
    return rows.select(
        "rec",
        "turn_idx",
        *[  # args is never a column: a table export has no structured arguments
            (pl.col(f) if f in rows.columns else pl.lit(None, pl.String)).alias(f)
            for f in TURN_FIELDS
        ],
        pl.lit(None, pl.String).alias("type_problem"),
    ).cast({**RAW_TURN_SCHEMA, "type_problem": pl.String})


def _rejects_missing_id(rows: pl.DataFrame) -> pl.DataFrame:
    return rows.select(
        pl.format("row {}", "row").alias("locator"),
        pl.lit(None, pl.String).alias("conversation_id"),
        pl.lit("conversation_id").alias("field"),
        pl.lit("missing_id").alias("reason"),
        pl.lit("row has no conversation id; every row must name its conversation").alias("message"),
        pl.struct(pl.exclude("row", "row_end")).struct.json_encode().alias("raw"),
    )


def _rejects_non_contiguous(blocks: pl.DataFrame) -> pl.DataFrame:
    return blocks.select(
        pl.format("rows {}-{}", "first_row", "last_row").alias("locator"),
        pl.col("conversation_id"),
        pl.lit("conversation_id").alias("field"),
        pl.lit("duplicate_id").alias("reason"),
        pl.format(
            "conversation {} appears again after other conversations' rows; sort the export by "
            "conversation so each conversation's rows are together",
            "conversation_id",
        ).alias("message"),
        pl.col("raw").str.slice(0, 4000),
    )


def detect_parquet(head: FileHead) -> bool:
    """Whether the file is named ``.parquet``."""
    return head.name.endswith(".parquet")


def detect_csv(head: FileHead) -> bool:
    """Whether the file is named ``.csv`` or ``.tsv``."""
    return head.name.endswith((".csv", ".tsv"))


def _read_parquet(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_table(path, fmt="parquet", columns=config.table, batch_size=config.batch_size)


def _read_csv(path: Path, config: IngestConfig) -> Iterator[RawBatch]:
    return read_table(path, fmt="csv", columns=config.table, batch_size=config.batch_size)


PARQUET = Adapter("parquet", read=_read_parquet, detect=detect_parquet)
CSV = Adapter("csv", read=_read_csv, detect=detect_csv)
