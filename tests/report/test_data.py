"""Reading the report's data from the views (``pipeline.report.data``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from report_store import PLANT, ts

from pipeline import schema
from pipeline.errors import StoreError
from pipeline.process.log import END, START
from pipeline.report.data import read_report_data
from pipeline.store import Store, open_store


def test_read_report_data_needs_the_views(db_path: Path):
    with open_store(db_path) as store, pytest.raises(StoreError, match="report views missing"):
        read_report_data(store)


def test_read_report_data_takes_the_latest_sop_version(full_store: Store):
    data = read_report_data(full_store)
    assert data.sops.select("sop_id", "version").rows() == [("refund_request", 2)]
    assert data.counts[schema.CONVERSATIONS] == 4
    assert data.period == (ts(2), ts(16))


def test_process_edges_leave_out_conversation_management_and_collapse_repeats(full_store):
    # c1: greeting, verify, verify (repeat), other, verify, check, issue, closing
    edges = full_store.sql("select workflow_id, src, dst, n from process_edges")
    assert sorted(edges.rows()) == sorted(
        [
            ("i2", START, "d_address_1", 1),
            ("i2", "d_address_1", END, 1),
            ("refund_request", "issue_refund", END, 3),
            ("refund_request", START, "verify_identity", 2),
            ("refund_request", START, "check_eligibility", 1),
            ("refund_request", "check_eligibility", "issue_refund", 1),
            ("refund_request", "check_eligibility", "verify_identity", 1),
            ("refund_request", "d_refund_1", "issue_refund", 1),
            ("refund_request", "verify_identity", "check_eligibility", 1),
            ("refund_request", "verify_identity", "d_refund_1", 1),
            ("refund_request", "verify_identity", "issue_refund", 1),
        ]
    )


def test_views_name_steps_found_in_the_data_by_their_key_phrase(full_store):
    named = full_store.sql(
        "select src, src_label, dst, dst_label from process_edges where workflow_id = 'i2'"
    ).rows()
    assert sorted(named, key=str) == sorted(
        [(START, None, "d_address_1", "new address"), ("d_address_1", "new address", END, None)],
        key=str,
    )
    labels = dict(full_store.sql("select step, step_label from step_deviations").rows())
    assert labels == {"check_eligibility": None, "d_refund_1": PLANT}


def test_process_edges_keep_a_type_without_sop_steps(full_store):
    # a step type written before step_types.sop_steps existed cannot be told generic
    with full_store.transaction() as con:
        con.execute("update step_types set sop_steps = null where step_id = 'greeting'")
    edges = full_store.sql(
        "select workflow_id, src, dst, n from process_edges where src = '▶'"
    ).rows()
    assert sorted(edges) == [("i2", START, "greeting", 1), ("refund_request", START, "greeting", 3)]


# ---- HTML ----------------------------------------------------------------------------------
