"""The leaders' volume and hours: view ``leaders_capacity``, its chart and its table."""

from __future__ import annotations

import re

import pytest
from polars.testing import assert_frame_equal
from report_store import ESCAPED, PLANT

from pipeline.readiness.capacity import CAPACITY_SCHEMA, leaders_capacity
from pipeline.report.data import read_report_data
from pipeline.report.series import volume_readiness_svg
from pipeline.store import Store

# Every count and per-month column, and the share of contacts (written out: a column
# dropped from the module's list must still be checked).
SUMMED = (
    "conversations", "conversations_per_month", "contact_share", "agent_hours_per_month",
    "timed_conversations", "untimed_conversations", "ai_conversations_per_month",
    "ai_agent_hours_per_month", "approvals_per_month",
)  # fmt: skip


def test_the_view_has_the_capacity_columns(full_store: Store):
    assert full_store.sql("select * from leaders_capacity").columns == list(CAPACITY_SCHEMA)


def test_the_view_computes_what_the_readiness_function_computes(full_store: Store):
    ranking = full_store.sql("select * from readiness_leaderboard")
    expected = leaders_capacity(
        ranking,
        full_store.sql("select * from outcomes"),
        full_store.sql("select started_at from conversations"),
    )
    assert_frame_equal(full_store.sql("select * from leaders_capacity"), expected,
                       check_dtypes=False)  # fmt: skip


@pytest.mark.parametrize("column", SUMMED)
def test_the_view_totals_are_the_sum_of_its_rows(full_store: Store, column: str):
    total, summed = full_store.sql(
        f"select sum({column}) filter (is_total), sum({column}) filter (not is_total) "
        "from leaders_capacity"
    ).row(0)
    assert total == pytest.approx(summed)


def test_the_view_on_the_report_store(full_store: Store):
    # refund_request: 3 timed conversations (180 s), approval-gated; i2: 1 untimed, human-led;
    # the 4 contacts span 14 days: one month
    rows = full_store.sql(
        "select workflow_id, conversations_per_month, agent_hours_per_month, "
        "untimed_conversations, ai_conversations_per_month, approvals_per_month, is_total "
        "from leaders_capacity"
    ).rows()
    assert rows == [
        ("refund_request", 3.0, pytest.approx(180 / 3600), 0, 3.0, 3.0, False),
        ("i2", 1.0, None, 1, 0.0, 0.0, False),
        (None, 4.0, pytest.approx(180 / 3600), 1, 3.0, 3.0, True),
    ]


def test_the_chart_has_one_point_per_workflow_coloured_by_tier_and_escapes_labels():
    svg = str(volume_readiness_svg(
        [(PLANT, 85.0, 120.0, "autonomous"), ("refund request", 70.0, 300.0,
          "agent with human approval"), ("fraud report", 40.0, 50.0, "human-led")],
        title="volume <against> readiness",
    ))  # fmt: skip
    assert PLANT not in svg and "<script" not in svg
    assert "&lt;script&gt;alert(1)&lt;…</text>" in svg  # the label, shortened
    assert f"{ESCAPED}: score 85, 120.0 conversations/month, autonomous" in svg  # the tooltip
    assert "volume &lt;against&gt; readiness" in svg
    assert svg.count("<circle") == 3
    assert re.findall(r'<g class="(t-[a-z]+)">', svg) == ["t-gate", "t-auto", "t-human"]
    assert "conversations / month" in svg and "readiness score (0-100)" in svg


def test_the_report_shows_the_chart_and_the_table_with_its_totals(rendered):
    html, markdown = rendered
    part = html[html.index('id="leaders-capacity"') : html.index('id="process-owners"')]
    assert '<svg class="chart scatter"' in part
    for unit in ("Conversations / month", "Agent hours / month", "Approvals / month"):
        assert unit in part
    total = part[part.index('<tr class="total">') :]
    assert "<strong>Total</strong>" in total and "4.0" in total
    assert "unknown" in part  # i2's hours: no conversation timed
    assert "| total |  | 4.0 | 0.1 | 3 of 4 | 3.0 | 0.1 | 3.0 |" in markdown


def test_the_report_leaves_the_capacity_out_without_a_ranking(empty_store: Store):
    data = read_report_data(empty_store)
    assert data.leaders_capacity.is_empty()
    assert data.leaders_capacity.columns == list(CAPACITY_SCHEMA)
