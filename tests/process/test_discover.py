"""The discovery stage: the three tables from one sort of the log."""

import polars as pl
from polars.testing import assert_frame_equal
from process.log_cases import REFUND, log

from pipeline.config import DiscoverConfig
from pipeline.process.candidate import discover_candidate_sop
from pipeline.process.dfg import discover_dfg
from pipeline.process.discover import discover_process, not_steps
from pipeline.process.variants import discover_variants


def test_discover_process_equals_the_tables_built_one_by_one():
    events = log(*REFUND, ("d0", "refund", ["greet", "other", "verify", "other", "close"]))
    events = events.rename({"intent_id": "workflow_id"}).with_columns(is_repeat=pl.col("seq") == 4)
    config = DiscoverConfig(mandatory_support=0.6, rare_support=0.1)
    tables = discover_process(events, config, not_steps=("other",))
    kept = events.filter(~pl.col("is_repeat"))
    roles = {"intent_col": "workflow_id"}
    assert_frame_equal(tables["variants"], discover_variants(kept, **roles))
    assert_frame_equal(tables["dfg_edges"], discover_dfg(kept, **roles))
    assert_frame_equal(
        tables["candidate_sops"],
        discover_candidate_sop(
            kept.filter(pl.col("step_id") != "other"),
            mandatory_support=0.6,
            rare_support=0.1,
            precedence_share=config.precedence_share,
            branch_share=config.branch_share,
            **roles,
        ),
    )


def test_discover_process_does_not_modify_its_input():
    events = log(*REFUND, ("d0", "refund", ["greet", "other", "verify", "close"]))
    events = events.rename({"intent_id": "workflow_id"}).with_columns(is_repeat=pl.col("seq") == 2)
    before = events.clone()
    discover_process(events, DiscoverConfig(), not_steps=("other",))
    assert_frame_equal(events, before)


def test_not_steps_are_other_and_management_steps_without_a_sop_step():
    types = pl.DataFrame(
        {
            "step_id": ["greeting", "verify", "d_refund_0", "bye", "other"],
            "source": ["sop", "sop", "discovered", "sop", "other"],
            "sop_steps": [[], ["refund/verify"], [], [], []],
        }
    )
    before = types.clone()
    assert not_steps(types) == ["bye", "greeting", "other"]
    assert_frame_equal(types, before)
