"""Calendar windows of conversations: the day, ISO week or month they started in.

The drift stages count, test and word their findings per window. A window is named by
its first day (``window_start``) and ends on its last (``window_end``, inclusive); a
``week`` runs Monday to Sunday, a ``month`` is the calendar month, all in the
timestamps' own time zone.
"""

from __future__ import annotations

from datetime import date

import polars as pl

from pipeline.frames import require_columns

WINDOWS = ("day", "week", "month")


def window_start(started_at: pl.Expr, window: str) -> pl.Expr:
    """Return the first day (a ``Date``) of the window holding each timestamp.

    ``day`` is the calendar day, ``week`` the ISO week starting on Monday, ``month`` the
    calendar month, all in the timestamps' own time zone.

    Raises
    ------
    ValueError
        ``window`` is not one of :data:`WINDOWS`.
    """
    every = {"day": "1d", "week": "1w", "month": "1mo"}
    if window not in every:
        raise ValueError(f"drift window: expected one of {'/'.join(WINDOWS)}, found {window!r}")
    return started_at.dt.truncate(every[window]).dt.date()


def window_end(start: pl.Expr, window: str) -> pl.Expr:
    """Return the last day of the window starting on ``start`` (inclusive, a ``Date``)."""
    if window == "day":
        return start
    if window == "week":
        return start + pl.duration(days=6)
    if window == "month":
        return start.dt.month_end()
    raise ValueError(f"drift window: expected one of {'/'.join(WINDOWS)}, found {window!r}")


def window_end_date(start: date, window: str) -> date:
    """Return the last day of the window starting on the date ``start`` (:func:`window_end`)."""
    return pl.select(window_end(pl.lit(start, pl.Date), window)).item()


def window_phrase(start: date, window: str) -> str:
    """Name a window in words: ``in the week of 2026-05-04``, ``on 2026-05-04``, ``in 2026-05``.

    Lower case, to stand inside a sentence.
    """
    if window == "week":
        return f"in the week of {start.isoformat()}"
    if window == "month":
        return f"in {start.isoformat()[:7]}"
    return f"on {start.isoformat()}"


def windowed(
    frame: pl.DataFrame, conversations: pl.DataFrame, *, window: str, what: str
) -> pl.DataFrame:
    """Join ``frame`` to conversations' ``started_at``; add ``_window`` (undated rows go).

    Raises
    ------
    SchemaError
        ``conversations`` lacks ``conversation_id`` or ``started_at`` (``what`` names the
        stage in the message).
    """
    require_columns(conversations, ("conversation_id", "started_at"), table="conversations",
                    what=what)  # fmt: skip
    dates = conversations.select("conversation_id", "started_at").unique("conversation_id")
    return (
        frame.join(dates, on="conversation_id", how="inner")
        .filter(pl.col("started_at").is_not_null())
        .with_columns(_window=window_start(pl.col("started_at"), window))
    )
