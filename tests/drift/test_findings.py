"""The drift_findings frame: its schema, the identity of a finding and its id."""

import hashlib
from datetime import date

import polars as pl
import pytest

from pipeline import schema
from pipeline.drift.findings import DRIFT_FINDINGS_SCHEMA, finding_id, findings_frame, print_order

ROW = {"kind": "missing", "sop_id": "refund", "window_start": date(2026, 3, 9)}


def test_the_schema_is_the_tables_batch_columns_with_duckdb_dtypes():
    assert list(DRIFT_FINDINGS_SCHEMA) == schema.batch_columns(schema.DRIFT_FINDINGS)
    picked = {c: DRIFT_FINDINGS_SCHEMA[c] for c in ("window_start", "n", "flagged", "q_value")}
    assert picked == {"window_start": pl.Date, "n": pl.Int32, "flagged": pl.Boolean,
                      "q_value": pl.Float64}  # fmt: skip
    assert DRIFT_FINDINGS_SCHEMA["details"] == pl.String  # JSON text


def test_finding_id_hashes_the_identity_with_absent_fields_empty():
    key = "\x1f".join(["missing", "refund", "", "", "", "", "2026-03-09", ""])
    assert finding_id(ROW) == hashlib.sha1(key.encode()).hexdigest()[:16] == "bcdae2c361993a5f"


@pytest.mark.parametrize(
    ("change", "same"),
    [
        ({"sentence": "other words", "rate": 0.9}, True),  # not identity
        ({"team": None}, True),  # null is absent
        ({"team": "north"}, False),
        ({"window_start": date(2026, 3, 16)}, False),
    ],
)
def test_only_the_identity_changes_the_id(change, same):
    assert (finding_id(ROW | change) == finding_id(ROW)) is same


def test_findings_frame_fills_absent_columns_and_the_id():
    frame = findings_frame([ROW | {"n": 20, "flagged": True}])
    assert frame.schema == DRIFT_FINDINGS_SCHEMA
    row = frame.row(0, named=True)
    assert (row["finding_id"], row["kind"], row["n"], row["flagged"], row["metric"]) == (
        "bcdae2c361993a5f", "missing", 20, True, None,
    )  # fmt: skip


def test_no_rows_give_an_empty_frame_of_the_schema():
    frame = findings_frame([])
    assert frame.is_empty() and frame.schema == DRIFT_FINDINGS_SCHEMA


def test_print_order_flagged_then_step_kinds_then_severity_then_q_then_latest_window():
    rows = [
        ("a", False, "missing", "high", 0.001, "2026-03-09"),
        ("b", True, "intent_mix", "high", 0.001, "2026-03-09"),
        ("c", True, "missing", "low", 0.001, "2026-03-09"),
        ("d", True, "order_violation", "high", 0.04, "2026-03-09"),
        ("e", True, "missing", "high", 0.01, "2026-03-09"),
        ("f", True, "missing", "high", 0.01, "2026-03-16"),
        ("g", True, "missing", None, None, "2026-03-23"),
    ]
    findings = pl.DataFrame(
        rows,
        schema=["name", "flagged", "kind", "severity", "q_value", "window_start"],
        orient="row",
    ).with_columns(pl.col("window_start").str.to_date(), sop_id=pl.lit("refund"))
    before = findings.clone()
    assert print_order(findings)["name"].to_list() == ["f", "e", "d", "c", "g", "b", "a"]
    assert findings.equals(before)  # the input is not modified


def test_print_order_puts_a_nested_finding_under_its_parent():
    rows = [
        ("w", True, "missing", "medium", 0.01, "{}"),
        ("t", True, "missing", "high", 0.001, '{"parent": "w"}'),  # more severe, yet nested
        ("x", True, "order_violation", "medium", 0.02, "{}"),
        ("o", True, "outcome_impact", "high", 0.001, '{"parent": "gone"}'),  # parent not shown
    ]
    findings = pl.DataFrame(
        rows, schema=["finding_id", "flagged", "kind", "severity", "q_value", "details"],
        orient="row",
    ).with_columns(sop_id=pl.lit("refund"), window_start=pl.lit(None, pl.Date))  # fmt: skip
    ordered = print_order(findings)
    assert ordered.select("finding_id", "nested").rows() == [
        ("w", False), ("t", True), ("x", False), ("o", False)
    ]  # fmt: skip


def test_print_order_without_ids_nests_nothing():
    findings = pl.DataFrame({"flagged": [True], "kind": ["missing"], "severity": ["low"],
                             "q_value": [0.01], "sop_id": ["s"],
                             "window_start": [None]})  # fmt: skip
    assert print_order(findings)["nested"].to_list() == [False]
