"""Trace variants: ids, counts, ranks and the case -> variant map."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from process.log_cases import log, vid

from pipeline.errors import SchemaError
from pipeline.process.variants import SEP, discover_variants, variant_id, variant_of_case


def test_variant_id_is_sha1_of_the_joined_steps():
    assert SEP == "\x1f"
    assert variant_id(["a", "b"]) == vid("a", "b")
    assert len(variant_id(["a"])) == 12
    # the separator keeps ["a", "b"] and ["ab"] apart
    assert variant_id(["a", "b"]) != variant_id(["ab"])


def test_discover_variants_exact():
    events = log(
        ("c1", "refund", ["a", "b", "c"]),
        ("c2", "refund", ["a", "c"]),
        ("c3", "refund", ["a", "b", "c"]),
        ("c4", "refund", ["a", "b", "c"]),
        ("c5", "billing", ["x"]),
    )
    expected = pl.DataFrame(
        {
            "intent_id": ["billing", "refund", "refund"],
            "variant_id": [vid("x"), vid("a", "b", "c"), vid("a", "c")],
            "sequence": [["x"], ["a", "b", "c"], ["a", "c"]],
            "n": [1, 3, 1],
            "share": [1.0, 0.75, 0.25],
            "rank": [1, 1, 2],
        }
    )
    assert_frame_equal(discover_variants(events), expected)


def test_variant_ties_rank_by_sequence():
    # one case each: ["a"] < ["a", "b"] < ["a", "c"] < ["ab"] as lists of steps
    events = log(
        ("c1", "i", ["ab"]),
        ("c2", "i", ["a", "c"]),
        ("c3", "i", ["a", "b"]),
        ("c4", "i", ["a"]),
    )
    variants = discover_variants(events)
    assert variants["sequence"].to_list() == [["a"], ["a", "b"], ["a", "c"], ["ab"]]
    assert variants["rank"].to_list() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["a", "b", "a"], ["a", "b", "a"]),  # repeated, not consecutively
        (["a", "a", "b"], ["a", "a", "b"]),  # not collapsed by the caller: kept as is
        (["x"], ["x"]),  # single event
    ],
)
def test_variant_sequence_keeps_the_steps_in_seq_order(steps, expected):
    variants = discover_variants(log(("c1", "i", steps)))
    assert variants["sequence"].to_list() == [expected]
    assert variants["variant_id"].to_list() == [vid(*expected)]


def test_same_sequence_in_two_intents_is_counted_per_intent():
    events = log(("c1", "i1", ["a", "b"]), ("c2", "i2", ["a", "b"]), ("c3", "i2", ["a", "b"]))
    variants = discover_variants(events)
    assert variants.select("intent_id", "n", "share", "rank").rows() == [
        ("i1", 1, 1.0, 1),
        ("i2", 2, 1.0, 1),
    ]


def test_variant_of_case_joins_back_to_the_variants():
    events = log(("c2", "i", ["a", "c"]), ("c1", "i", ["a", "b"]), ("c3", "j", ["a", "b"]))
    expected = pl.DataFrame(
        {
            "conversation_id": ["c1", "c2", "c3"],
            "intent_id": ["i", "i", "j"],
            "variant_id": [vid("a", "b"), vid("a", "c"), vid("a", "b")],
        }
    )
    assigned = variant_of_case(events)
    assert_frame_equal(assigned, expected)
    counts = assigned.group_by("intent_id", "variant_id").len().sort("intent_id", "variant_id")
    variants = discover_variants(events).sort("intent_id", "variant_id")
    assert counts["len"].to_list() == variants["n"].to_list()


def test_variants_follow_custom_column_roles():
    events = log(("c1", "i", ["a", "b"])).rename(
        {"conversation_id": "case", "intent_id": "flow", "seq": "order", "step_id": "act"}
    )
    variants = discover_variants(
        events, case_col="case", activity_col="act", intent_col="flow", order_col="order"
    )
    assert variants.columns[0] == "flow"
    assert variants["sequence"].to_list() == [["a", "b"]]
    assert variant_of_case(
        events, case_col="case", activity_col="act", intent_col="flow", order_col="order"
    ).columns == ["case", "flow", "variant_id"]


def test_a_step_holding_the_separator_is_rejected():
    with pytest.raises(SchemaError, match="x1f"):
        discover_variants(log(("c1", "i", ["a\x1fb"])))
