"""Readiness components: one workflow's values on the data and its bootstrap replicates."""

import math

import numpy as np
import polars as pl
import pytest
from polars.testing import assert_frame_equal
from readiness.score_cases import rows, sop

from pipeline.config import ReadinessConfig
from pipeline.readiness.components import (
    COMPONENTS,
    has_approval_step,
    risk_names,
    workflow_components,
)
from pipeline.readiness.inputs import CONVERSATION_SCHEMA
from pipeline.sops.model import parse_sop

CONFIG = ReadinessConfig(bootstrap=3)
# two variants (3 + 1), one unresolved, turns 4, 4, 4, 8, 3 of 4 steps bound to a tool
PART = pl.DataFrame(
    rows("w", 3) + rows("w", 1, start=3, variant_id="v2", resolved=False, n_agent_turns=8,
                        fitness=0.5, n_steps=4, n_action_steps=1),
    schema=CONVERSATION_SCHEMA,
)  # fmt: skip
FACT = {"stability": 0.5, "n_windows": 4, "n_unstable_windows": 2}


def test_row_zero_holds_the_components_of_the_data():
    values, _ = workflow_components(PART, FACT, sop("w"), config=CONFIG,
                                    rng=np.random.default_rng(0))  # fmt: skip
    got = dict(zip(COMPONENTS, values[0].tolist(), strict=True))
    cv = math.sqrt(28 - 25) / 5  # turns 4, 4, 4, 8: mean 5, mean square 28
    entropy = -(0.75 * math.log(0.75) + 0.25 * math.log(0.25))
    assert got == pytest.approx({
        "volume": math.log(5) / math.log(1001),
        "standardisation": 1 - entropy / math.log(4),
        "conformance": 3.5 / 4,
        "resolution": 1 - 0.25 / 0.5,
        "repeat_contact": 1.0,
        "escalation": 1.0,
        "exceptions": 1.0,
        "handle_time_spread": 1 - cv / CONFIG.zero_at["handle_time_spread"],
        "stability": 0.5,
        "system_actions": 7 / 10,
        "risk": 1.0,
    })  # fmt: skip


def test_each_replicate_is_a_row_and_volume_stability_risk_stay():
    values, details = workflow_components(PART, FACT, None, config=CONFIG,
                                          rng=np.random.default_rng(0))  # fmt: skip
    assert values.shape == (1 + CONFIG.bootstrap, len(COMPONENTS))
    for name in ("volume", "stability"):
        column = values[:, COMPONENTS.index(name)]
        assert (column == column[0]).all()
    assert np.isnan(values[:, COMPONENTS.index("risk")]).all()  # no SOP: not measured
    assert details["volume"] == "4 conversations"
    assert details["stability"] == "drift starts in 2 of 4 windows"
    assert details["risk"] == "no documented SOP: risk unknown"


@pytest.mark.parametrize(
    ("exceptions", "failed", "detail"),
    [
        ([False] * 4, [0] * 4, "0% of calls with undocumented steps, off-script turns or "
                               "failed system calls"),
        ([True, False, False, False], [0] * 4, "25% of calls with undocumented steps, "
                                               "off-script turns or failed system calls"),
        ([True, True, False, False], [2, 0, 0, 0], "50% of calls with undocumented steps, "
         "off-script turns or failed system calls, 25% with a failed system call"),
        ([True] * 4, [1, 1, 1, 1], "100% of calls with undocumented steps, off-script turns "
                                   "or failed system calls, 100% with a failed system call"),
    ],
)  # fmt: skip
def test_the_exceptions_detail_names_the_share_with_a_failed_system_call(
    exceptions, failed, detail
):
    part = PART.with_columns(
        has_exception=pl.Series(exceptions), failed_actions=pl.Series(failed, dtype=pl.Int64)
    )
    values, details = workflow_components(part, FACT, None, config=CONFIG,
                                          rng=np.random.default_rng(0))  # fmt: skip
    assert details["exceptions"] == detail
    assert values[0, COMPONENTS.index("exceptions")] == pytest.approx(1 - sum(exceptions) / 4)


def test_workflow_components_do_not_modify_their_input():
    before = PART.clone()
    workflow_components(PART, FACT, None, config=CONFIG, rng=np.random.default_rng(0))
    assert_frame_equal(PART, before)


def _steps(*steps: dict):
    return parse_sop({"sop_id": "s", "version": 1, "steps": list(steps)}, origin="test")


@pytest.mark.parametrize(
    ("steps", "approval"),
    [
        (({"id": "verify"}, {"id": "pay", "when": "amount > 100", "mandatory": False}), True),
        (({"id": "verify"}, {"id": "supervisor_check"}), True),
        (({"id": "verify"}, {"id": "check", "action": "crm.Approve"}), True),
        (({"id": "verify"}, {"id": "pay", "action": "billing.pay"}), False),
    ],
)
def test_an_approval_step_is_a_gate_or_a_step_named_for_one(steps, approval):
    assert has_approval_step(_steps(*steps), CONFIG.approval_words) is approval


@pytest.mark.parametrize(("words", "approval"), [(("four_eyes",), True), (("sign-off",), False)])
def test_the_approval_words_are_the_ones_passed(words, approval):
    # a step named in a centre's own wording, none of the default words
    sop_ = _steps({"id": "verify"}, {"id": "four_eyes_review"})
    assert has_approval_step(sop_, CONFIG.approval_words) is False
    assert has_approval_step(sop_, words) is approval


@pytest.mark.parametrize(
    ("moves_money", "regulated", "words"),
    [
        (False, False, ""),
        (True, False, "moves money"),
        (False, True, "regulated"),
        (True, True, "moves money and regulated"),
    ],
)
def test_risk_names_say_what_the_sop_risks(moves_money, regulated, words):
    assert risk_names(sop("s", moves_money=moves_money, regulated=regulated)) == words
