"""What an AI agent could take per workflow, a month (``pipeline.readiness.capacity``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from polars.testing import assert_frame_equal

from pipeline.errors import SchemaError
from pipeline.readiness.capacity import (
    APPROVAL,
    AUTONOMOUS,
    CAPACITY_SCHEMA,
    HUMAN_LED,
    MONTH_DAYS,
    format_capacity,
    leaders_capacity,
    span_months,
)

START = datetime(2026, 1, 1, tzinfo=UTC)
MONTHS = 2.0  # the contacts below start 2 x 30.44 days apart


# Every count and per-month column, and the share of contacts (written out: a column
# dropped from the module's list must still be checked).
SUMMED = (
    "conversations", "conversations_per_month", "contact_share", "agent_hours_per_month",
    "timed_conversations", "untimed_conversations", "ai_conversations_per_month",
    "ai_agent_hours_per_month", "approvals_per_month",
)  # fmt: skip


def ranking(*rows: tuple[str, str, int]) -> pl.DataFrame:
    """``(workflow_id, tier, n_conversations)`` rows, ranked in the order given."""
    return pl.DataFrame(
        [
            {"workflow_id": w, "label": w.replace("_", " "), "rank": i, "tier": tier,
             "score": 90.0 - 10 * i, "n_conversations": n}
            for i, (w, tier, n) in enumerate(rows, 1)
        ],
        schema={"workflow_id": pl.String, "label": pl.String, "rank": pl.Int32,
                "tier": pl.String, "score": pl.Float64, "n_conversations": pl.Int32},
    )  # fmt: skip


def outcomes(*rows: tuple[str, float | None, bool]) -> pl.DataFrame:
    """``(workflow_id, duration_s, resolved)`` rows; escalated = not resolved."""
    return pl.DataFrame(
        [
            {"workflow_id": w, "duration_s": d, "resolved": r, "escalated": not r,
             "repeat_contact": False}
            for w, d, r in rows
        ],
        schema={"workflow_id": pl.String, "duration_s": pl.Float64, "resolved": pl.Boolean,
                "escalated": pl.Boolean, "repeat_contact": pl.Boolean},
    )  # fmt: skip


def contacts(n: int) -> pl.DataFrame:
    """``n`` conversation starts spread evenly over :data:`MONTHS` months."""
    span = timedelta(days=MONTHS * MONTH_DAYS)
    return pl.DataFrame({"started_at": [START + span * i / (n - 1) for i in range(n)]})


@pytest.fixture
def capacity() -> pl.DataFrame:
    return leaders_capacity(
        ranking(("password_reset", AUTONOMOUS, 4), ("refund_request", APPROVAL, 2),
                ("fraud_report", HUMAN_LED, 2)),
        outcomes(("password_reset", 1800.0, True), ("password_reset", 5400.0, True),
                 ("password_reset", None, False), ("password_reset", 3600.0, True),
                 ("refund_request", 7200.0, True), ("refund_request", 7200.0, False),
                 ("fraud_report", None, False), ("fraud_report", None, True)),
        contacts(10),
    )  # fmt: skip


def test_one_row_per_workflow_in_rank_order_then_the_totals(capacity):
    assert capacity.schema == CAPACITY_SCHEMA
    assert capacity["label"].to_list() == [
        "password reset", "refund request", "fraud report", "total",
    ]  # fmt: skip
    assert capacity["is_total"].to_list() == [False, False, False, True]


@pytest.mark.parametrize("column", SUMMED)
def test_the_totals_row_is_the_sum_of_the_rows(capacity, column):
    rows, total = capacity.filter(~pl.col("is_total")), capacity.filter("is_total")
    assert total[column][0] == pytest.approx(rows[column].sum())


def test_per_month_figures_divide_by_the_span(capacity):
    row = capacity.row(0, named=True)  # password_reset: 4 conversations, 3 timed (3 hours)
    assert row["span_months"] == pytest.approx(MONTHS)
    assert row["conversations_per_month"] == pytest.approx(4 / MONTHS)
    assert row["contact_share"] == pytest.approx(4 / 10)
    assert row["agent_hours_per_month"] == pytest.approx(3.0 / MONTHS)
    assert row["resolved_share"] == pytest.approx(3 / 4)


def test_unknown_handle_times_are_counted_not_zero(capacity):
    reset, _, fraud, total = capacity.iter_rows(named=True)
    assert (reset["timed_conversations"], reset["untimed_conversations"]) == (3, 1)
    # no conversation of fraud_report is timed: its hours are unknown, not 0
    assert (fraud["timed_conversations"], fraud["untimed_conversations"]) == (0, 2)
    assert fraud["agent_hours_per_month"] is None
    assert total["untimed_conversations"] == 3


def test_a_workflow_without_outcomes_is_all_untimed():
    frame = leaders_capacity(ranking(("address_change", AUTONOMOUS, 3)), outcomes(), contacts(4))
    row = frame.row(0, named=True)
    assert (row["timed_conversations"], row["untimed_conversations"]) == (0, 3)
    assert row["agent_hours_per_month"] is None
    assert row["ai_agent_hours_per_month"] is None
    assert frame.filter("is_total")["agent_hours_per_month"][0] is None


@pytest.mark.parametrize(
    ("tier", "ai_share", "approvals_share"),
    [(AUTONOMOUS, 1.0, 0.0), (APPROVAL, 1.0, 1.0), (HUMAN_LED, 0.0, 0.0)],
)
def test_what_an_ai_agent_could_take_at_each_tier(tier, ai_share, approvals_share):
    frame = leaders_capacity(
        ranking(("order_status", tier, 6)),
        outcomes(*[("order_status", 600.0, True)] * 6),
        contacts(6),
    )
    row = frame.row(0, named=True)
    assert row["conversations_per_month"] == pytest.approx(3.0)  # 6 over 2 months
    assert row["agent_hours_per_month"] == pytest.approx(0.5)  # 1 hour over 2 months
    assert row["ai_conversations_per_month"] == pytest.approx(3.0 * ai_share)
    assert row["ai_agent_hours_per_month"] == pytest.approx(0.5 * ai_share)
    assert row["approvals_per_month"] == pytest.approx(3.0 * approvals_share)


@pytest.mark.parametrize(
    ("days", "months"),
    [(0, 1.0), (10, 1.0), (MONTH_DAYS, 1.0), (3 * MONTH_DAYS, 3.0), (91.32, 3.0)],
)
def test_the_span_is_days_over_a_mean_month_at_least_one(days, months):
    starts = pl.Series([START, START + timedelta(days=days)])
    assert span_months(starts) == pytest.approx(months)


def test_no_start_at_all_is_one_month():
    assert span_months(pl.Series([None, None], dtype=pl.Datetime("us", "UTC"))) == 1.0


def test_outcome_shares_of_the_totals_are_over_all_rows_conversations(capacity):
    total = capacity.filter("is_total").row(0, named=True)
    assert total["resolved_share"] == pytest.approx(5 / 8)
    assert total["escalated_share"] == pytest.approx(3 / 8)


def test_no_ranking_no_rows():
    frame = leaders_capacity(ranking(), outcomes(), contacts(3))
    assert frame.is_empty()
    assert format_capacity(frame) == ""


def test_does_not_modify_its_inputs():
    given = (ranking(("a", APPROVAL, 2)), outcomes(("a", 60.0, True)), contacts(3))
    copies = [frame.clone() for frame in given]
    leaders_capacity(*given)
    for frame, copy in zip(given, copies, strict=True):
        assert_frame_equal(frame, copy)


def test_a_missing_column_is_a_schema_error():
    with pytest.raises(SchemaError, match="outcomes: .*missing duration_s"):
        leaders_capacity(ranking(("a", APPROVAL, 2)),
                         outcomes().drop("duration_s"), contacts(3))  # fmt: skip


def test_the_text_states_units_and_ends_with_the_totals(capacity):
    text = format_capacity(capacity)
    lines = text.splitlines()
    assert "2.0 months of data" in lines[0] and "30.44 days" in lines[0]
    for unit in ("conv/month", "agent h/month", "AI h/month", "approvals/month"):
        assert unit in lines[1]
    total = next(line for line in lines if line.startswith("total"))
    assert total.split()[1:3] == ["4.0", "80%"]  # 8 conversations over 2 months, of 10 contacts
    assert "3 conversations have no handle time" in text
    fraud = next(line for line in lines if line.startswith("fraud_report"))
    assert "unknown" in fraud and "0/2" in fraud
