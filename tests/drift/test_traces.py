"""Step traces: one row per (conversation, SOP), its steps in order as codes."""

import polars as pl
import pytest
from drift.conformance_cases import check, log
from polars.testing import assert_frame_equal

from pipeline.drift import traces
from pipeline.drift.traces import case_traces
from pipeline.errors import SchemaError


def test_codes_index_the_sorted_step_ids_and_leave_out_repeats():
    events = log(("c1", "refund", ["verify", "verify", "lookup"]), ("c2", None, ["pay"]))
    found, steps = case_traces(events, ["refund"], "conversation_id", "step_id", "seq")
    assert steps == ["lookup", "pay", "verify"]
    assert found.rows() == [(0, "c1", "refund", [2, 0])]


def test_unsorted_log_gives_the_same_result():
    events = log(
        ("c1", "refund", ["lookup", "verify", "refund"]),
        ("c2", "refund", ["verify", "lookup", "refund", "chat"]),
    )
    reversed_rows = events.reverse()
    result = check(reversed_rows).sort("conversation_id")
    assert_frame_equal(result, check(events))
    assert result["order_violations"].to_list() == [["lookup before verify"], []]


def test_rows_follow_first_appearance_in_the_log():
    events = log(("b", "refund", ["verify"]), ("a", "refund", ["verify"]))
    assert check(events)["conversation_id"].to_list() == ["b", "a"]


def test_hash_collision_falls_back_to_exact_grouping(monkeypatch):
    events = log(
        ("c1", "refund", ["verify", "lookup", "refund"]),
        ("c2", "refund", ["lookup", "verify"]),
        ("c3", "payment", ["verify", "pay"]),
    )
    honest = check(events)
    real = traces._case_hashes

    def colliding(case_col):
        return pl.lit(0, dtype=pl.UInt64), real(case_col)[1]

    monkeypatch.setattr(traces, "_case_hashes", colliding)
    assert_frame_equal(check(events), honest)
    assert honest.height == 3


def test_one_conversation_under_two_sops_gets_two_rows():
    events = pl.concat([log(("c1", "refund", ["verify"])), log(("c1", "payment", ["verify"]))])
    result = check(events)
    assert result.select("conversation_id", "sop_id").rows() == [
        ("c1", "refund"),
        ("c1", "payment"),
    ]


def test_separator_in_a_step_id_is_an_error():
    with pytest.raises(SchemaError, match="control character U\\+001F"):
        check(log(("c1", "refund", ["ver\x1fify"])))


def test_does_not_modify_its_input():
    events = log(("c2", "refund", ["lookup", "verify", "verify"]), ("c1", "payment", ["pay"]))
    before = events.clone()
    found, _ = case_traces(events, ["refund", "payment"], "conversation_id", "step_id", "seq")
    assert found.height == 2
    assert_frame_equal(events, before)
