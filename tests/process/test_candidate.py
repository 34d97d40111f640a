"""Precedence and the candidate SOP: support, role, position, after, branches."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from process.log_cases import REFUND, log

from pipeline.process.candidate import discover_candidate_sop, precedence


def test_precedence_exact():
    events = log(
        ("c1", "i", ["a", "b", "c"]),
        ("c2", "i", ["a", "c", "b"]),
        ("c3", "i", ["b", "a"]),
    )
    expected = pl.DataFrame(
        {
            "intent_id": ["i"] * 6,
            "a": ["a", "a", "b", "b", "c", "c"],
            "b": ["b", "c", "a", "c", "a", "b"],
            "n_both": [3, 2, 3, 2, 2, 2],
            "share_a_before_b": [2 / 3, 1.0, 1 / 3, 0.5, 0.0, 0.5],
        }
    )
    assert_frame_equal(precedence(events), expected)


def test_precedence_uses_first_occurrences_and_keeps_intents_apart():
    events = log(("c1", "i1", ["a", "b", "a"]), ("c2", "i2", ["b", "a"]))
    assert precedence(events).rows() == [
        ("i1", "a", "b", 1, 1.0),
        ("i1", "b", "a", 1, 0.0),
        ("i2", "a", "b", 1, 0.0),
        ("i2", "b", "a", 1, 1.0),
    ]


def test_precedence_of_single_event_cases_is_empty():
    assert precedence(log(("c1", "i", ["x"]))).is_empty()


def test_candidate_sop_exact():
    # positions: greet 0; verify .25 (.4 in c0); check .5 (.2 in c0); refund, deny .75;
    # upsell .8; close 1. verify before check in 9 of 10 cases (= 0.9, kept). Through
    # mandatory check, greet and verify are implied for the later steps; through the
    # optional refund and deny, check is not implied for close. check -> refund 6,
    # deny 3, verify 1: a split into refund (0.6) and deny (0.3).
    candidate = discover_candidate_sop(log(*REFUND), rare_support=0.2)
    expected = pl.DataFrame(
        {
            "intent_id": ["refund"] * 7,
            "step": ["greet", "verify", "check", "deny", "refund", "upsell", "close"],
            "support": [1.0, 1.0, 1.0, 0.3, 0.7, 0.1, 1.0],
            "n_conversations": [10, 10, 10, 3, 7, 1, 10],
            "role": ["mandatory"] * 3 + ["optional", "optional", "rare", "mandatory"],
            "position": [0.0, 0.25, 0.5, 0.75, 0.75, 0.8, 1.0],
            "after": [
                [],
                ["greet"],
                ["verify"],
                ["check"],
                ["check"],
                [],
                ["check", "deny", "refund"],
            ],
            "branches": [[], [], ["refund", "deny"], [], [], [], []],
        },
        schema_overrides={"after": pl.List(pl.String), "branches": pl.List(pl.String)},
    )
    assert_frame_equal(candidate, expected)


def test_position_is_the_median_over_cases_not_over_variants():
    # check at .5 in two identical cases, at 0 in two different ones: the median over
    # the four cases is (0 + .5) / 2, though two of the three variants put it at 0.
    cases = [("a0", "x", ["go", "check", "end"]), ("a1", "x", ["go", "check", "end"]),
             ("b", "x", ["check", "go", "end"]), ("c", "x", ["check", "end"])]  # fmt: skip
    candidate = discover_candidate_sop(log(*cases))
    assert dict(zip(candidate["step"], candidate["position"], strict=True)) == {
        "check": 0.25, "go": 0.0, "end": 1.0}  # fmt: skip


def test_repeating_every_case_only_scales_the_counts():
    once = discover_candidate_sop(log(*REFUND), rare_support=0.2)
    thrice = discover_candidate_sop(
        log(*[(f"{case}-{k}", intent, steps) for case, intent, steps in REFUND for k in range(3)]),
        rare_support=0.2,
    )
    assert_frame_equal(thrice, once.with_columns(pl.col("n_conversations") * 3))


def test_after_is_the_transitive_reduction_of_a_mandatory_chain():
    events = log(*[(f"c{i}", "i", ["a", "b", "c", "d"]) for i in range(3)])
    candidate = discover_candidate_sop(events)
    assert candidate["after"].to_list() == [[], ["a"], ["b"], ["c"]]


@pytest.mark.parametrize(
    ("n_with", "n_cases", "role"),
    [
        (8, 10, "mandatory"),  # support 0.8: at the mandatory bound
        (7, 10, "optional"),
        (1, 10, "optional"),  # support 0.1: at the rare bound, not below it
        (1, 20, "rare"),
    ],
)
def test_role_follows_support(n_with, n_cases, role):
    events = log(*[(f"c{i}", "i", ["a", "x"] if i < n_with else ["a"]) for i in range(n_cases)])
    row = discover_candidate_sop(events).filter(step="x")
    assert (row["support"].item(), row["role"].item()) == (n_with / n_cases, role)


def test_rare_steps_have_no_order():
    events = log(*[(f"c{i}", "i", ["a", "x", "b"] if i == 0 else ["a", "b"]) for i in range(20)])
    row = discover_candidate_sop(events).filter(step="x")
    assert row.select("role", "after", "branches").rows() == [("rare", [], [])]


@pytest.mark.parametrize(
    ("steps", "expected"),
    [
        (["x"], [("x", 1, 1.0, 0.0)]),  # single event: position 0
        (["a", "b", "a"], [("a", 1, 1.0, 0.0), ("b", 1, 1.0, 0.5)]),  # first occurrence
        (["a", "a", "b"], [("a", 1, 1.0, 0.0), ("b", 1, 1.0, 1.0)]),  # repeats not collapsed
    ],
)
def test_candidate_sop_edge_cases(steps, expected):
    candidate = discover_candidate_sop(log(("c1", "i", steps)))
    assert candidate.select("step", "n_conversations", "support", "position").rows() == expected


def test_candidate_sop_keeps_intents_apart():
    events = log(
        ("c1", "i1", ["a", "b"]),
        ("c2", "i1", ["a"]),
        ("c3", "i2", ["b", "a"]),
    )
    candidate = discover_candidate_sop(events)
    assert candidate.select("intent_id", "step", "support", "after").rows() == [
        ("i1", "a", 1.0, []),
        ("i1", "b", 0.5, ["a"]),
        ("i2", "b", 1.0, []),
        ("i2", "a", 1.0, ["b"]),
    ]


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"mandatory_support": 1.5}, "mandatory_support"),
        ({"rare_support": -0.1}, "rare_support"),
        ({"rare_support": 0.9, "mandatory_support": 0.8}, "must not exceed"),
        ({"precedence_share": 0.5}, "precedence_share"),
        ({"branch_share": 0.0}, "branch_share"),
    ],
)
def test_candidate_sop_rejects_bad_shares(params, match):
    with pytest.raises(ValueError, match=match):
        discover_candidate_sop(log(("c1", "i", ["a"])), **params)
