"""The report's SQL views (``pipeline.report.views``, ``reports/views``)."""

from __future__ import annotations

import re
from datetime import date

import pytest
from report_store import R2

from pipeline.errors import SchemaError
from pipeline.report.views import REPORT_VIEWS, VIEWS_DIR, view_statements
from pipeline.store import Store


def test_view_statements_are_the_report_views_in_file_order():
    statements = view_statements(VIEWS_DIR)
    assert [name for name, _ in statements] == list(REPORT_VIEWS)
    assert all(sql.count("create or replace view") == 1 for _, sql in statements)


@pytest.mark.parametrize(
    ("name", "sql", "message"),
    [
        ("01_a.sql", "create or replace view a as select 1;\ncreate or replace view b as "
         "select 2", "found 2"),
        ("01_a.sql", "select 1", "found 0"),
        ("01_a.sql", "create or replace view b as select 1", "found 1 view statement(s) ['b']"),
        ("a.sql", "create or replace view a as select 1", "NN_name.sql"),
    ],
)  # fmt: skip
def test_view_statements_reject_a_file_without_exactly_its_view(tmp_path, name, sql, message):
    (tmp_path / name).write_text(sql)
    with pytest.raises(SchemaError, match=re.escape(message)) as info:
        view_statements(tmp_path)
    assert name in str(info.value)


def test_view_statements_ignore_commented_statements(tmp_path):
    (tmp_path / "02_b.sql").write_text("-- create or replace view old as ...\n"
                                       "create or replace view b as select 1 as x")  # fmt: skip
    (tmp_path / "01_a.sql").write_text("create or replace view a as select 1 as x")
    assert [n for n, _ in view_statements(tmp_path)] == ["a", "b"]


@pytest.mark.parametrize("view", REPORT_VIEWS)
def test_views_create_on_an_empty_database(empty_store: Store, view: str):
    assert empty_store.sql(f"select * from {view}").height == 0


def test_intent_overview_is_the_latest_snapshot(full_store: Store):
    rows = full_store.sql(
        "select intent_id, label, size, n_assigned, is_emerging from intent_overview"
    )
    assert rows.rows() == [
        ("i1", "refund money", 3, 3, False),
        ("i2", "address change", 1, 1, True),
    ]


def test_intent_weekly_counts_conversations_per_monday_week(full_store: Store):
    rows = full_store.sql("select intent_id, week, n_conversations from intent_weekly").rows()
    assert rows == [
        ("i1", date(2026, 3, 2), 1),
        ("i1", date(2026, 3, 9), 2),
        ("i2", date(2026, 3, 16), 1),
    ]


def test_workflow_conformance_rates(full_store: Store):
    row = full_store.sql("select * from workflow_conformance").row(0, named=True)
    assert row == {
        "sop_id": "refund_request", "version": 2, "n_conversations": 3, "n_conforming": 1,
        "conforming_share": pytest.approx(1 / 3), "mean_fitness": pytest.approx(0.75),
        "missing_share": pytest.approx(1 / 3), "undocumented_share": pytest.approx(1 / 3),
        "order_violation_share": pytest.approx(1 / 3), "gate_skipped_share": 0.0,
        "n_variants": 3, "n_with_outcome": 3, "resolved_share": pytest.approx(2 / 3),
        "escalated_share": pytest.approx(1 / 3), "repeat_contact_share": pytest.approx(1 / 3),
    }  # fmt: skip


def test_step_deviations_one_row_per_step_and_kind(full_store: Store):
    rows = full_store.sql(
        "select deviation, step, detail, n_conversations, n_workflow from step_deviations"
    )
    assert rows.rows() == [
        ("missing", "check_eligibility", "check_eligibility", 1, 3),
        ("order_violation", "check_eligibility", "check_eligibility before verify_identity", 1, 3),
        ("undocumented", "d_refund_1", "d_refund_1", 1, 3),
    ]


def test_team_conformance_per_team(full_store: Store):
    rows = full_store.sql("select team, n_conversations, conforming_share from team_conformance")
    assert rows.rows() == [("north", 2, 0.5), ("south", 1, 0.0)]


def test_drift_view_puts_flagged_first_then_severity(full_store: Store):
    rows = full_store.sql("select priority, finding_id, flagged from drift_findings_ranked")
    assert rows.rows() == [
        (1, "f2", True), (2, "f3", True), (3, "f4", True), (4, "f1", False), (5, "f5", False),
    ]  # fmt: skip


def test_readiness_view_shows_only_the_latest_run(full_store: Store):
    rows = full_store.sql("select rank, workflow_id, score, run_id from readiness_leaderboard")
    assert rows.rows() == [(1, "refund_request", 72.0, R2), (2, "i2", 30.0, R2)]


def test_data_quality_counts_records_quarantine_and_redactions(full_store: Store):
    rows = full_store.sql("select category, item, n from data_quality").rows()
    assert rows == [
        ("quarantine", "bad_timestamp", 1),
        ("records", "read", 5), ("records", "loaded", 4), ("records", "quarantined", 1),
        ("records", "replaced", 0), ("records", "unchanged", 0),
        ("redaction", "email", 2), ("redaction", "phone", 1),
    ]  # fmt: skip


# ---- reading -------------------------------------------------------------------------------
