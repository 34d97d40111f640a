"""The event log discovery reads: column roles, case order, empty logs, inputs left alone."""

import polars as pl
import pytest
from polars.testing import assert_frame_equal
from process.log_cases import (
    REFUND,
    SCHEMA,
    log,
)

from pipeline.errors import SchemaError
from pipeline.process.candidate import discover_candidate_sop, precedence
from pipeline.process.dfg import discover_dfg
from pipeline.process.variants import discover_variants, variant_of_case


@pytest.mark.parametrize("discover", [discover_variants, variant_of_case, discover_dfg, precedence])
def test_missing_column_names_it(discover):
    with pytest.raises(SchemaError, match="missing seq"):
        discover(log(("c1", "i", ["a"])).drop("seq"))


@pytest.mark.parametrize(
    "discover",
    [discover_variants, discover_dfg, discover_candidate_sop, precedence, variant_of_case],
)
@pytest.mark.parametrize("mixed", [False, True])
def test_a_log_already_in_case_order_gives_the_same_tables(discover, mixed):
    # In case order the log is not sorted again; a case with two intents (mixed) must
    # still be split per intent as the sorted path does.
    cases = [*REFUND, ("d0", "billing", ["greet", "charge", "close"])]
    if mixed:
        cases.append(("a0", "billing", ["charge"]))
    reversed_log = log(*cases)
    in_order = reversed_log.sort("conversation_id", "seq", "intent_id")
    assert_frame_equal(discover(in_order), discover(reversed_log))


EMPTY_SCHEMAS = {
    discover_variants: {
        "intent_id": pl.String,
        "variant_id": pl.String,
        "sequence": pl.List(pl.String),
        "n": pl.Int64,
        "share": pl.Float64,
        "rank": pl.Int64,
    },
    variant_of_case: {
        "conversation_id": pl.String,
        "intent_id": pl.String,
        "variant_id": pl.String,
    },
    discover_dfg: {
        "intent_id": pl.String,
        "src": pl.String,
        "dst": pl.String,
        "n": pl.Int64,
        "share": pl.Float64,
        "median_gap_s": pl.Float64,
    },
    precedence: {
        "intent_id": pl.String,
        "a": pl.String,
        "b": pl.String,
        "n_both": pl.Int64,
        "share_a_before_b": pl.Float64,
    },
    discover_candidate_sop: {
        "intent_id": pl.String,
        "step": pl.String,
        "support": pl.Float64,
        "n_conversations": pl.Int64,
        "role": pl.String,
        "position": pl.Float64,
        "after": pl.List(pl.String),
        "branches": pl.List(pl.String),
    },
}


@pytest.mark.parametrize("discover", list(EMPTY_SCHEMAS), ids=lambda f: f.__name__)
def test_empty_log_gives_an_empty_table_with_the_schema(discover):
    result = discover(pl.DataFrame(schema=SCHEMA))
    assert result.is_empty()
    assert dict(result.schema) == EMPTY_SCHEMAS[discover]


@pytest.mark.parametrize("discover", list(EMPTY_SCHEMAS), ids=lambda f: f.__name__)
def test_discover_does_not_modify_its_input(discover):
    events = log(*REFUND, ("s1", "other", ["x"]), gaps={"a0": [0, 5, None, 20, 30]})
    before = events.clone()
    discover(events)
    assert_frame_equal(events, before)


def test_cases_without_an_intent_form_their_own_group():
    events = log(("c1", None, ["a", "b"]), ("c2", None, ["a", "b"]), ("c3", "i", ["b", "a"]))
    assert discover_variants(events).select("intent_id", "n").rows() == [("i", 1), (None, 2)]
    assert discover_dfg(events).filter(pl.col("intent_id").is_null())["n"].to_list() == [2, 2, 2]
    candidate = discover_candidate_sop(events)
    assert candidate.select("intent_id", "step", "after").rows() == [
        ("i", "b", []),
        ("i", "a", ["b"]),
        (None, "a", []),
        (None, "b", ["a"]),
    ]


def test_events_without_a_step_are_ignored():
    events = pl.concat([log(("c1", "i", ["a", "b"])), log(("c1", "i", [None]))])
    events = events.with_columns(seq=pl.when(pl.col("step_id").is_null()).then(1).otherwise("seq"))
    assert discover_variants(events)["sequence"].to_list() == [["a", "b"]]
