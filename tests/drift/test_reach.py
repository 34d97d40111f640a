import polars as pl

from pipeline.drift.reach import later_steps, reached_steps
from pipeline.sops.model import parse_sop

ORDERED = parse_sop(
    {"sop_id": "a", "version": 1, "steps": [
        {"id": "hello", "kind": "management"},
        {"id": "ask"},
        {"id": "check", "after": ["ask"]},
        {"id": "tell", "after": ["check"]},
        {"id": "extra", "after": ["ask"], "mandatory": False},
    ]},
    origin="t",
)  # fmt: skip
CHART = parse_sop(
    {"sop_id": "b", "version": 1, "steps": [
        {"id": "ask", "next": ["check"]},
        {"id": "check", "next": ["found", "none"]},
        {"id": "found", "kind": "outcome", "next": ["tell"]},
        {"id": "none", "kind": "outcome", "next": ["ask"]},
        {"id": "tell"},
    ]},
    origin="t",
)  # fmt: skip


def test_later_steps_follow_the_closure_of_after_and_leave_management_out():
    assert later_steps(ORDERED) == {
        "ask": {"check", "tell", "extra"}, "check": {"tell"}, "tell": set(), "extra": set()
    }  # fmt: skip


def test_without_after_the_next_edges_order_the_steps_through_outcomes_and_loops():
    later = later_steps(CHART)
    assert later["check"] == {"ask", "tell"}  # the loop back through "none" reaches ask
    assert later["tell"] == set()


def test_reached_steps_are_the_steps_done_and_every_step_before_them():
    events = pl.DataFrame({"conversation_id": ["c1", "c1", "c2", "c3"],
                           "step_id": ["hello", "tell", "ask", "other"],
                           "sop_id": ["a", "a", "a", "a"]})  # fmt: skip
    got = reached_steps(events, {"a": ORDERED})
    assert got.rows() == [
        ("c1", "a", "ask"), ("c1", "a", "check"), ("c1", "a", "tell"), ("c2", "a", "ask")
    ]  # fmt: skip
