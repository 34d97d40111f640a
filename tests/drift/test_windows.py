"""Calendar windows: their first and last day, their name in words, the join to them."""

from datetime import UTC, date, datetime

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.drift.windows import (
    window_end,
    window_end_date,
    window_phrase,
    window_start,
    windowed,
)
from pipeline.errors import SchemaError


@pytest.mark.parametrize(
    ("started", "window", "start", "end"),
    [
        (datetime(2026, 5, 6, 23, 30, tzinfo=UTC), "day", date(2026, 5, 6), date(2026, 5, 6)),
        (datetime(2026, 5, 6, 23, 30, tzinfo=UTC), "week", date(2026, 5, 4), date(2026, 5, 10)),
        (datetime(2026, 5, 10, 23, 59, tzinfo=UTC), "week", date(2026, 5, 4), date(2026, 5, 10)),
        (datetime(2026, 5, 11, 0, 0, tzinfo=UTC), "week", date(2026, 5, 11), date(2026, 5, 17)),
        (datetime(2026, 5, 6, 23, 30, tzinfo=UTC), "month", date(2026, 5, 1), date(2026, 5, 31)),
        (datetime(2028, 2, 14, tzinfo=UTC), "month", date(2028, 2, 1), date(2028, 2, 29)),
    ],
)
def test_a_timestamp_falls_in_its_calendar_window(started, window, start, end):
    frame = pl.DataFrame({"t": [started]}).select(s=window_start(pl.col("t"), window))
    frame = frame.with_columns(e=window_end(pl.col("s"), window))
    assert frame.row(0) == (start, end)
    assert frame.schema == pl.Schema({"s": pl.Date, "e": pl.Date})


@pytest.mark.parametrize("function", [window_start, window_end])
def test_an_unknown_window_is_rejected(function):
    with pytest.raises(ValueError, match="expected one of day/week/month, found 'year'"):
        function(pl.col("t"), "year")


@pytest.mark.parametrize(
    ("start", "window", "end"),
    [
        (date(2026, 5, 6), "day", date(2026, 5, 6)),
        (date(2026, 5, 4), "week", date(2026, 5, 10)),
        (date(2028, 2, 1), "month", date(2028, 2, 29)),
    ],
)
def test_window_end_date_is_the_last_day_of_a_dated_window(start, window, end):
    assert window_end_date(start, window) == end


@pytest.mark.parametrize(
    ("window", "phrase"),
    [
        ("day", "on 2026-05-04"),
        ("week", "in the week of 2026-05-04"),
        ("month", "in 2026-05"),
    ],
)
def test_window_phrase_names_the_window_in_lower_case(window, phrase):
    assert window_phrase(date(2026, 5, 4), window) == phrase


def _dated():
    frame = pl.DataFrame({"conversation_id": ["a", "b", "c"], "x": [1, 2, 3]})
    conversations = pl.DataFrame(
        {
            "conversation_id": ["a", "b", "b", "d"],
            "started_at": [
                datetime(2026, 5, 6, 9, tzinfo=UTC),
                None,
                None,
                datetime(2026, 5, 7, tzinfo=UTC),
            ],
        }
    )
    return frame, conversations


def test_windowed_joins_the_start_and_drops_undated_rows():
    frame, conversations = _dated()
    got = windowed(frame, conversations, window="week", what="drift (test)")
    assert got.rows() == [("a", 1, datetime(2026, 5, 6, 9, tzinfo=UTC), date(2026, 5, 4))]
    assert got.columns == ["conversation_id", "x", "started_at", "_window"]


def test_windowed_names_the_stage_when_a_column_is_missing():
    frame, conversations = _dated()
    with pytest.raises(
        SchemaError,
        match=r"^drift \(test\): the conversations frame lacks column\(s\) started_at; "
        r"expected conversation_id, started_at \(table conversations\)$",
    ):
        windowed(frame, conversations.drop("started_at"), window="week", what="drift (test)")


def test_windowed_does_not_modify_its_input():
    frame, conversations = _dated()
    before = (frame.clone(), conversations.clone())
    windowed(frame, conversations, window="day", what="drift (test)")
    assert_frame_equal(frame, before[0])
    assert_frame_equal(conversations, before[1])
