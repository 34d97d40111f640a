"""Deviating turns: the agent turns where a conversation departs from its SOP."""

import polars as pl
import pytest
from drift.exceptions_cases import NOT_STEPS, SOP, loyalty, tables

from pipeline.drift.deviating_turns import DEVIATING_SCHEMA, find_deviating_turns
from pipeline.errors import SchemaError
from pipeline.sops.model import Sop, Step

SMALL = Sop("s", 1, ("s",), tuple(Step(x) for x in ("a", "b", "c", "d")))


def test_undocumented_turns_are_tagged_with_the_missing_step_they_stand_at():
    call = [
        ("customer", "hi", None),
        ("agent", "hello there", "greeting"),  # generic: not deviating
        ("agent", "doing a", "a"),
        ("agent", "chat one", "other"),  # between a and c: where b should be
        ("action", "crm.poke", "crm.poke"),  # undocumented, but no text
        ("agent", "found step", "d_s_0"),  # a discovered step: undocumented too
        ("agent", "doing c", "c"),
        ("agent", "chat two", "other"),  # after c: d missing, nothing after it
        ("agent", "bye now", "greeting"),
    ]
    turns, events, conformance = tables([call], sop_id="s", missing=lambda i: ["b", "d"])
    found = find_deviating_turns(conformance, events, turns, [SMALL], not_steps=NOT_STEPS)
    assert found.schema == DEVIATING_SCHEMA
    assert found.select("turn_idx", "step_id", "text", "missing_step").rows() == [
        (3, "other", "chat one", "b"),
        (5, "d_s_0", "found step", "b"),
        (7, "other", "chat two", "d"),
    ]


def test_a_missing_step_with_no_present_neighbours_spans_the_whole_call():
    call = [("agent", "chat one", "other"), ("agent", "chat two", "other")]
    turns, events, conformance = tables([call], sop_id="s", missing=lambda i: ["c", "b"])
    found = find_deviating_turns(conformance, events, turns, [SMALL])
    assert found["missing_step"].to_list() == ["b", "b"]  # the first in document order


@pytest.mark.parametrize(("checked", "deviating"), [(1, ["x"]), (2, []), (3, [])])
def test_the_sop_version_checked_decides_what_is_documented(checked, deviating):
    v2 = Sop("s", 2, ("s",), tuple(Step(x) for x in ("a", "x")))
    turns, events, conformance = tables([[("agent", "said x", "x")]], sop_id="s")
    conformance = conformance.with_columns(version=pl.lit(checked))
    found = find_deviating_turns(conformance, events, turns, [SMALL, v2])
    assert found["step_id"].to_list() == deviating  # version 3 is unknown: the latest, 2


def test_conversations_of_an_unknown_sop_are_left_out():
    turns, events, conformance = tables([[("agent", "chat", "other")]], sop_id="elsewhere")
    assert find_deviating_turns(conformance, events, turns, [SMALL]).is_empty()


def test_a_missing_column_is_a_schema_error():
    turns, events, conformance = loyalty()
    with pytest.raises(SchemaError, match="the step_events frame lacks column\\(s\\) turn_idx"):
        find_deviating_turns(conformance, events.drop("turn_idx"), turns, [SOP])


def test_does_not_modify_its_input():
    frames = loyalty()
    kept = [f.clone() for f in frames]
    turns, events, conformance = frames
    assert not find_deviating_turns(
        conformance, events, turns, [SOP], not_steps=NOT_STEPS
    ).is_empty()
    for before, after in zip(kept, frames, strict=True):
        assert after.equals(before)
