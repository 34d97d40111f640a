"""Approval gates: the SOPs' ``when`` conditions, and their outcome on each conversation."""

import polars as pl
import pytest
from drift.conformance_cases import SOPS, metadata
from polars.testing import assert_frame_equal

from pipeline.drift.gate_outcomes import FAILS, HOLDS, UNKNOWN, gates_of, with_gate_outcomes

TRACES = pl.DataFrame(
    {"conversation_id": ["c1", "c2", "c3", "c4"], "sop_id": ["payment"] * 3 + ["refund"]}
)


def test_gated_steps_are_listed_in_sop_order():
    gates = gates_of(SOPS)
    assert {sop_id: [step for step, _ in pairs] for sop_id, pairs in gates.items()} == {
        "refund": ["approve"],
        "payment": ["approve"],
    }


@pytest.mark.parametrize(
    ("conversations", "codes"),
    [
        # the payment gate wants at least 100 EUR; the refund gate more than 200
        (
            metadata(
                c1='{"amount": 120, "currency": "EUR"}',
                c2='{"amount": 120, "currency": "USD"}',
                c3='{"currency": "EUR"}',
                c4='{"amount": 90}',
            ),
            [HOLDS, FAILS, UNKNOWN, FAILS],
        ),
        (None, [UNKNOWN] * 4),
    ],
)
def test_each_gate_holds_fails_or_is_unknown(conversations, codes):
    found = with_gate_outcomes(TRACES, gates_of(SOPS), conversations, case_col="conversation_id")
    assert found.columns == [*TRACES.columns, "_gates"]
    assert found["_gates"].to_list() == codes


def test_does_not_modify_its_input():
    conversations = metadata(c1='{"amount": 120, "currency": "EUR"}', c2=None)
    before = (TRACES.clone(), conversations.clone())
    with_gate_outcomes(TRACES, gates_of(SOPS), conversations, case_col="conversation_id")
    assert_frame_equal(TRACES, before[0])
    assert_frame_equal(conversations, before[1])
