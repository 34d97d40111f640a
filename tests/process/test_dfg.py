"""The directly-follows graph: edges, shares, gaps and markers."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from process.log_cases import REFUND, log

from pipeline.process.dfg import discover_dfg
from pipeline.process.log import END, START


def test_discover_dfg_exact():
    events = log(
        ("c1", "i", ["a", "b", "c"]),
        ("c2", "i", ["a", "c"]),
        gaps={"c1": [0, 10, 40], "c2": [0, 20]},
    )
    expected = pl.DataFrame(
        {
            "intent_id": ["i"] * 5,
            "src": ["c", START, "a", "a", "b"],
            "dst": [END, "a", "b", "c", "c"],
            "n": [2, 2, 1, 1, 1],
            "share": [1.0, 1.0, 0.5, 0.5, 1.0],
            "median_gap_s": [None, None, 10.0, 20.0, 30.0],
        }
    )
    # by n, then src: "▶" sorts after the letters
    assert_frame_equal(discover_dfg(events), expected)


def test_median_gap_skips_missing_timestamps():
    events = log(
        ("c1", "i", ["a", "b"]),
        ("c2", "i", ["a", "b"]),
        ("c3", "i", ["a", "b"]),
        ("c4", "i", ["a", "b"]),
        gaps={"c1": [0, 10], "c2": [0, 20], "c3": [0, 60], "c4": [0, None]},
    )
    edges = discover_dfg(events)
    row = edges.filter(src="a", dst="b")
    assert (row["n"].item(), row["median_gap_s"].item()) == (4, 20.0)


@pytest.mark.parametrize("ts_col", ["ts", None])
def test_dfg_without_timestamps_has_null_gaps(ts_col):
    events = log(("c1", "i", ["a", "b"]), gaps={"c1": [None, None]})
    if ts_col is None:
        events = events.drop("ts")
    edges = discover_dfg(events, ts_col=ts_col)
    assert edges["median_gap_s"].null_count() == edges.height == 3


@pytest.mark.parametrize(
    ("steps", "edges"),
    [
        (["x"], {(START, "x"), ("x", END)}),
        (["a", "b", "a"], {(START, "a"), ("a", "b"), ("b", "a"), ("a", END)}),
        (["a", "a", "b"], {(START, "a"), ("a", "a"), ("a", "b"), ("b", END)}),  # self-loop
    ],
)
def test_dfg_edge_cases(steps, edges):
    found = discover_dfg(log(("c1", "i", steps)))
    assert set(found.select("src", "dst").rows()) == edges
    assert found["n"].sum() == len(steps) + 1


def test_dfg_keeps_intents_apart():
    events = log(("c1", "i1", ["a", "b"]), ("c2", "i2", ["a", "c"]), ("c3", "i2", ["a", "b"]))
    a_out = discover_dfg(events).filter(src="a").sort("intent_id", "dst")
    assert a_out.select("intent_id", "dst", "n", "share").rows() == [
        ("i1", "b", 1, 1.0),
        ("i2", "b", 1, 0.5),
        ("i2", "c", 1, 0.5),
    ]


def test_dfg_contract():
    edges = discover_dfg(log(*REFUND))
    assert edges.select("intent_id", "src", "dst").is_unique().all()
    assert edges.select("intent_id", "src", "dst", "n", "share").null_count().row(0) == (0,) * 5
    shares = edges.group_by("intent_id", "src").agg(pl.col("share").sum())["share"]
    assert shares.to_list() == pytest.approx([1.0] * shares.len())
    assert edges.filter(src=START)["n"].sum() == edges.filter(dst=END)["n"].sum() == 10
