"""Frames and helpers of the step-level drift tests (test_step_rates*.py)."""

from datetime import UTC, datetime, timedelta

import polars as pl

from pipeline.config import DriftConfig
from pipeline.drift.step_rates import find_drift
from pipeline.sops.model import Sop, Step

MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)
AGENT = "3f2a1bc9d8e7f6a5"
SOPS = {
    "refund": Sop(
        sop_id="refund",
        version=1,
        intent=("refund",),
        steps=(
            Step("verify_identity"),
            Step("update_address", after=("verify_identity",)),
            Step("send_confirmation", after=("update_address",)),
            Step("supervisor_approval", mandatory=False, when="amount > 200"),
        ),
    )
}
LISTS = {"missing": "missing", "order": "order_violations", "extra": "undocumented",
         "gates": "skipped_gates", "skipped": "skipped"}  # fmt: skip


def config(**changes):
    base = {"window": "week", "baseline_windows": 1, "min_count": 5, "alpha": 0.05,
            "min_effect": 0.1, "breakdown": ()}  # fmt: skip
    return DriftConfig(**(base | changes))


def calls(n, week, **fields):
    """``n`` conversations started in ``week`` (0 = the week of MONDAY) with ``fields``."""
    return [{"week": week, **fields} for _ in range(n)]


def frames(cases):
    """conformance, outcomes and conversations frames for a list of conversations."""
    conformance, outcomes, conversations = [], [], []
    for i, case in enumerate(cases):
        cid = f"c{i:03d}"
        lists = {column: list(case.get(key, ())) for key, column in LISTS.items()}
        conformance.append({"conversation_id": cid, "sop_id": case.get("sop", "refund"),
                            "version": 1, "variant_id": "v1", "fitness": 1.0, **lists,
                            "is_conforming": not any(lists.values())})  # fmt: skip
        outcomes.append({"conversation_id": cid, "workflow_id": case.get("sop", "refund"),
                         "outcome": "resolved", "outcome_source": "data",
                         "escalated": case.get("escalated", False),
                         "resolved": case.get("resolved", True),
                         "repeat_contact": case.get("repeat", False)})  # fmt: skip
        started = MONDAY + timedelta(weeks=case["week"], hours=i % 48)
        conversations.append({"conversation_id": cid, "started_at": started,
                              "team": case.get("team", "north"),
                              "agent_hash": case.get("agent", AGENT),
                              "queue": case.get("queue", "billing"),
                              "channel": "chat"})  # fmt: skip
    text_list = pl.List(pl.String)
    return (
        pl.DataFrame(conformance, schema={
            "conversation_id": pl.String, "sop_id": pl.String, "version": pl.Int32,
            "variant_id": pl.String, "fitness": pl.Float64, "missing": text_list,
            "undocumented": text_list, "order_violations": text_list,
            "skipped_gates": text_list, "skipped": text_list, "is_conforming": pl.Boolean}),
        pl.DataFrame(outcomes, schema={
            "conversation_id": pl.String, "workflow_id": pl.String, "outcome": pl.String,
            "outcome_source": pl.String, "escalated": pl.Boolean, "resolved": pl.Boolean,
            "repeat_contact": pl.Boolean}),
        pl.DataFrame(conversations, schema={
            "conversation_id": pl.String, "started_at": pl.Datetime("us", "UTC"),
            "team": pl.String, "agent_hash": pl.String, "queue": pl.String,
            "channel": pl.String}),
    )  # fmt: skip


def drift(cases, **changes):
    return find_drift(*frames(cases), SOPS, config=config(**changes))


def rates(findings, kind="missing"):
    """What a reader sees of ``kind``: the findings, and the windows that belong to none."""
    in_finding = pl.col("details").str.json_path_match("$.window_flagged") == "true"
    return findings.filter((pl.col("kind") == kind) & ~in_finding.fill_null(False)).sort(
        "team", "agent_hash", "window_start"
    )


def windows(findings, kind="missing"):
    """Every tested window of ``kind`` (the series), flagged when its own test was."""
    return (
        findings.filter((pl.col("kind") == kind) & pl.col("details").str.contains("window_flagged"))
        .with_columns(flagged=pl.col("details").str.json_path_match("$.window_flagged") == "true")
        .sort("team", "agent_hash", "window_start")
    )


# A rise planted from week 2 on: 0/20 in the baseline week, 1/20 in week 1, then 12/20
# and 12/20; skipping verification brings repeat contact (10 of the 25 who skip, 2 of
# the 55 who do not).
PLANTED = (
    calls(20, 0)
    + calls(1, 1, missing=["verify_identity"], repeat=True)
    + calls(19, 1)
    + calls(9, 2, missing=["verify_identity"], repeat=True)
    + calls(3, 2, missing=["verify_identity"])
    + calls(2, 2, repeat=True)
    + calls(6, 2)
    + calls(12, 3, missing=["verify_identity"])
    + calls(8, 3)
)


def impact(findings, metric):
    return findings.filter((pl.col("kind") == "outcome_impact") & (pl.col("metric") == metric))
