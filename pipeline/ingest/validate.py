"""Record validation: split a raw batch into valid conversations and quarantine rows.

All checks run on whole columns (polars); a record with any problem is quarantined
whole, with the first problem named (``turns[3].speaker``) and a count of the others.

An action event's optional ``status`` ("ok" or "failed", case ignored; absent or blank:
unknown) becomes ``action_status``; any other value quarantines the record
(``bad_status``). A ``status`` on an utterance is ignored: it is no system action's
result (chat exports put message delivery states such as "read" there), and a
conversation should not be lost over it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.ingest.adapters import RawBatch
from pipeline.schema import ACTION_STATUSES, EVENT_TYPES, SPEAKERS

# Timestamp forms accepted, tried in order; timezone-less values are taken as UTC.
_TS_WITH_ZONE = ("%Y-%m-%dT%H:%M:%S%.f%#z", "%Y-%m-%d %H:%M:%S%.f%#z")
_TS_NAIVE = ("%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%d")


@dataclass(frozen=True)
class ValidBatch:
    """The valid part of a batch (still unredacted) and the quarantined records."""

    conversations: pl.DataFrame
    turns: pl.DataFrame
    quarantine: pl.DataFrame


class SeenIds:
    """Conversation ids met earlier in one file, kept as sorted 64-bit hashes.

    Eight bytes an id (a million ids: 8 MB, where a set of strings takes ~90 MB), and a
    batch is checked in O(batch x log n), so reading a file costs memory and time that do
    not grow with what was read before. Two different ids share a hash with probability
    ~n^2/2^65 (3e-8 in a file of a million): the later one would be quarantined as a
    duplicate, with its id named.
    """

    def __init__(self, ids: Iterable[str] = ()) -> None:
        self._hashes = np.sort(_hash(pl.Series(list(ids), dtype=pl.String)))

    def __len__(self) -> int:
        return len(self._hashes)

    def met(self, ids: pl.Series) -> pl.Series:
        """Whether each id was met before (a null id: false)."""
        hashes = _hash(ids)
        at = np.searchsorted(self._hashes, hashes).clip(0, max(len(self._hashes) - 1, 0))
        found = self._hashes[at] == hashes if len(self._hashes) else np.zeros(len(ids), bool)
        return pl.Series(found, dtype=pl.Boolean) & ids.is_not_null()

    def add(self, ids: pl.Series) -> None:
        """Remember the (non-null) ids."""
        new = _hash(ids.drop_nulls())
        self._hashes = np.union1d(self._hashes, new)  # sorted, each hash once


def _hash(ids: pl.Series) -> np.ndarray:
    return ids.cast(pl.String).hash(seed=0).to_numpy()


def parse_timestamp(column: str) -> pl.Expr:
    """Parse ISO-8601-like strings to UTC datetimes; unparseable values become null."""
    expr = pl.col(column).str.strip_chars()
    zoned = [
        expr.str.to_datetime(f, strict=False, time_unit="us", time_zone="UTC")
        for f in _TS_WITH_ZONE
    ]
    naive = [
        expr.str.to_datetime(f, strict=False, time_unit="us").dt.replace_time_zone("UTC")
        for f in _TS_NAIVE
    ]
    return pl.coalesce(*zoned, *naive)


def validate_batch(
    batch: RawBatch,
    *,
    source_id: str,
    max_text_chars: int,
    speaker_aliases: Mapping[str, str],
    seen_ids: SeenIds,
) -> tuple[ValidBatch, SeenIds]:
    """Validate one raw batch.

    Parameters
    ----------
    batch
        Parsed records of one input file (see ``pipeline.ingest.adapters``).
    source_id
        The file's source id, stamped on quarantine rows (rows that carry a
        ``source_id`` column, from :func:`pipeline.ingest.read.combine_raw`, keep theirs).
    max_text_chars
        Longest turn text accepted.
    speaker_aliases
        Extra speaker names mapped to canonical speakers (case is ignored).
    seen_ids
        Conversation ids already met earlier in the same file (duplicates are
        quarantined); this batch's ids are added to it.

    Returns
    -------
    ValidBatch, SeenIds
        The split batch, and ``seen_ids`` (now holding this batch's ids too).
    """
    turns = _check_turns(batch.turns, max_text_chars=max_text_chars, aliases=speaker_aliases)
    turn_problems = (
        turns.filter(pl.col("problem_reason").is_not_null())
        .group_by("rec")
        .agg(
            pl.col("problem_field", "problem_reason", "problem_message")
            .sort_by("turn_idx")
            .first(),
            pl.len().alias("n_problems"),
        )
    )
    conv = batch.conversations.join(
        turns.group_by("rec").agg(
            pl.len().cast(pl.Int32).alias("n_turns"),
            pl.col("ts_parsed").min().alias("first_ts"),
            pl.col("ts_parsed").max().alias("last_ts"),
        ),
        on="rec",
        how="left",
    ).join(turn_problems, on="rec", how="left", suffix="_turn")
    ids = pl.col("conversation_id")
    conv = conv.with_columns(
        ids.str.strip_chars(),
        started_parsed=parse_timestamp("started_at"),
        ended_parsed=parse_timestamp("ended_at"),
    )
    conv = conv.with_columns(
        duplicate=seen_ids.met(conv["conversation_id"])
        | (ids.is_duplicated() & ~ids.is_first_distinct()),
    )
    checks = [  # (condition, field, reason, detail), first match wins
        (
            pl.col("problem_reason").is_not_null(),
            pl.col("problem_field"),
            pl.col("problem_reason"),
            pl.col("problem_message"),
        ),
        (
            ids.is_null() | (ids == ""),
            pl.lit("conversation_id"),
            pl.lit("missing_id"),
            pl.lit("missing; every conversation needs a conversation_id"),
        ),
        (
            pl.col("n_turns").is_null(),
            pl.lit("turns"),
            pl.lit("empty_turns"),
            pl.lit("missing or empty; a conversation needs at least one turn"),
        ),
        (
            pl.col("duplicate"),
            pl.lit("conversation_id"),
            pl.lit("duplicate_id"),
            pl.format("{} already appeared earlier in this file; the first one was kept", ids),
        ),
        (
            pl.col("started_at").is_not_null() & pl.col("started_parsed").is_null(),
            pl.lit("started_at"),
            pl.lit("bad_timestamp"),
            pl.lit("not a timestamp; expected ISO-8601 like 2026-03-01T10:00:00Z"),
        ),
        (
            pl.col("ended_at").is_not_null() & pl.col("ended_parsed").is_null(),
            pl.lit("ended_at"),
            pl.lit("bad_timestamp"),
            pl.lit("not a timestamp; expected ISO-8601 like 2026-03-01T10:00:00Z"),
        ),
        (
            pl.col("problem_reason_turn").is_not_null(),
            pl.col("problem_field_turn"),
            pl.col("problem_reason_turn"),
            pl.when(pl.col("n_problems") > 1)
            .then(
                pl.format(
                    "{} (+{} more problems)", "problem_message_turn", pl.col("n_problems") - 1
                )
            )
            .otherwise(pl.col("problem_message_turn")),
        ),
    ]
    field, reason, detail = (_first_match(checks, i) for i in (1, 2, 3))
    conv = conv.with_columns(q_field=field, q_reason=reason, q_detail=detail)
    seen_ids.add(conv["conversation_id"])

    bad = conv.filter(pl.col("q_reason").is_not_null())
    quarantine = pl.concat(
        [
            bad.select(
                _source(bad, source_id),
                "locator",
                "conversation_id",
                pl.col("q_field").alias("field"),
                pl.col("q_reason").alias("reason"),
                pl.format("{}: {}", "q_field", "q_detail").alias("message"),
                "raw",
            ),
            batch.rejects.select(
                _source(batch.rejects, source_id),
                "locator",
                "conversation_id",
                "field",
                "reason",
                pl.when(pl.col("field").is_not_null())
                .then(pl.format("{}: {}", "field", "message"))
                .otherwise(pl.col("message"))
                .alias("message"),
                "raw",
            ),
        ]
    )
    good = conv.filter(pl.col("q_reason").is_null()).with_columns(
        started_at=pl.coalesce("started_parsed", "first_ts"),
        ended_at=pl.coalesce("ended_parsed", "last_ts"),
    )
    good_turns = turns.join(good.select("rec", "conversation_id"), on="rec", how="inner")
    return ValidBatch(good, good_turns, quarantine), seen_ids


def _source(frame: pl.DataFrame, source_id: str) -> pl.Expr:
    """Return the rows' own ``source_id`` (files read together), else the batch's."""
    column = pl.col("source_id") if "source_id" in frame.columns else pl.lit(source_id)
    return column.alias("source_id")


def _check_turns(
    turns: pl.DataFrame, *, max_text_chars: int, aliases: Mapping[str, str]
) -> pl.DataFrame:
    lower_aliases = {k.strip().lower(): v for k, v in aliases.items()}
    speaker = pl.col("speaker").str.strip_chars().str.to_lowercase()
    if lower_aliases:
        speaker = speaker.replace(lower_aliases)
    event_type = (
        pl.when(pl.col("event_type").is_not_null())
        .then(pl.col("event_type").str.strip_chars().str.to_lowercase())
        .when(pl.col("action").is_not_null())
        .then(pl.lit("action"))
        .otherwise(pl.lit("utterance"))
    )
    # ``status`` is optional in a raw batch (an export may have no status column)
    status = pl.col("status") if "status" in turns.columns else pl.lit(None, dtype=pl.String)
    turns = turns.with_columns(
        speaker=speaker,
        event_type=event_type,
        ts_parsed=parse_timestamp("ts"),
        status=status.cast(pl.String),
    )
    is_action = pl.col("event_type") == "action"
    # blank is absent, as in exports that write "" for a missing value
    action_status = pl.col("status").str.strip_chars().str.to_lowercase().replace("", None)
    place = pl.format("turns[{}]", "turn_idx")
    empty_text = pl.col("text").is_null() | (pl.col("text").str.strip_chars() == "")
    checks = [
        (pl.col("type_problem").is_not_null(), pl.lit("bad_type"), pl.col("type_problem")),
        (
            pl.col("speaker").is_null(),
            pl.lit("unknown_speaker"),
            pl.lit("speaker: missing; expected one of " + "/".join(SPEAKERS)),
        ),
        (
            ~pl.col("speaker").is_in(list(SPEAKERS)),
            pl.lit("unknown_speaker"),
            pl.lit(
                "speaker: unknown value; expected one of "
                + "/".join(SPEAKERS)
                + " (map other names with ingest.speaker_aliases)"
            ),
        ),
        (
            ~pl.col("event_type").is_in(list(EVENT_TYPES)),
            pl.lit("bad_event_type"),
            pl.lit("event_type: expected utterance or action"),
        ),
        (
            (pl.col("event_type") == "utterance") & empty_text,
            pl.lit("missing_text"),
            pl.lit(
                "text: missing or empty; an utterance needs text (an action event needs action)"
            ),
        ),
        (
            (pl.col("event_type") == "action")
            & (pl.col("action").is_null() | (pl.col("action").str.strip_chars() == "")),
            pl.lit("missing_action"),
            pl.lit("action: missing; an action event needs an action name"),
        ),
        (
            is_action & action_status.is_not_null() & ~action_status.is_in(list(ACTION_STATUSES)),
            pl.lit("bad_status"),
            pl.format(
                "status: expected "
                + " or ".join(f'"{v}"' for v in ACTION_STATUSES)
                + ', found "{}"',
                pl.col("status").str.slice(0, 40),
            ),
        ),
        (
            pl.col("ts").is_not_null() & pl.col("ts_parsed").is_null(),
            pl.lit("bad_timestamp"),
            pl.lit("ts: not a timestamp; expected ISO-8601 like 2026-03-01T10:00:03Z"),
        ),
        (
            pl.col("text").str.len_chars() > max_text_chars,
            pl.lit("text_too_long"),
            pl.format(
                "text: {} characters, over ingest.max_text_chars = " + str(max_text_chars),
                pl.col("text").str.len_chars(),
            ),
        ),
    ]
    reason = _first_match([(c, r, r) for c, r, _ in checks], 1)
    message = _first_match([(c, m, m) for c, _, m in checks], 1)
    return turns.with_columns(
        problem_reason=reason,
        problem_message=message,
        action_status=pl.when(is_action).then(action_status),
    ).with_columns(
        problem_field=pl.when(pl.col("problem_reason").is_not_null()).then(
            pl.format("{}.{}", place, pl.col("problem_message").str.extract(r"^(\w+):"))
        ),
        problem_message=pl.col("problem_message").str.replace(r"^\w+: ", ""),
    )


def _first_match(checks: list[tuple], index: int) -> pl.Expr:
    expr = pl.when(checks[0][0]).then(checks[0][index])
    for check in checks[1:]:
        expr = expr.when(check[0]).then(check[index])
    return expr.otherwise(pl.lit(None, dtype=pl.String))
