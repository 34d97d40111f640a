"""The sample corpus generator: deterministic, rich enough, and its truth is consistent."""

from __future__ import annotations

import gzip
import json
from collections import Counter
from pathlib import Path

import orjson
import pytest
from conftest import HASH_KEY

from pipeline.config import IngestConfig
from pipeline.ingest import read_source
from pipeline.sample.conversation import CLOSING, GREETING, OTHER
from pipeline.sample.design import INTENDED_READINESS, PLANTED_DRIFT
from pipeline.sample.generate import generate_sample
from pipeline.sample.generator import load_content
from pipeline.sample.truth import sample_sops, write_sample
from pipeline.sample.workflows import WORKFLOWS
from pipeline.sops.files import load_sops

N = 1500


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sample")
    write_sample(generate_sample(N, seed=11), out)
    return out


def read_jsonl_gz(path: Path) -> list[bytes]:
    return gzip.decompress(path.read_bytes()).splitlines()


def test_same_seed_same_bytes_other_seed_other_bytes(tmp_path, written):
    write_sample(generate_sample(N, seed=11), tmp_path / "again")
    for path in sorted(p for p in written.rglob("*") if p.is_file()):
        twin = tmp_path / "again" / path.relative_to(written)
        assert twin.read_bytes() == path.read_bytes(), path.name
    write_sample(generate_sample(N, seed=12), tmp_path / "other")
    other = tmp_path / "other" / "conversations.jsonl.gz"
    assert other.read_bytes() != (written / "conversations.jsonl.gz").read_bytes()


def test_content_is_rich_enough():
    content = load_content()
    assert 10 <= sum(w.documented for w in WORKFLOWS) <= 15
    for workflow in WORKFLOWS:
        assert len(content["intents"][workflow.intent]["openings"]) >= 15, workflow.intent
        for fs in workflow.flow:
            assert len(content["steps"][fs.step]["agent"]) >= 6, fs.step


def test_every_documented_workflow_has_a_valid_sop(written):
    sops = load_sops([written / "sops"])
    documented = sorted(w.intent for w in WORKFLOWS if w.documented)
    assert sorted(s.sop_id for s in sops) == documented
    assert sops == sorted(sample_sops(), key=lambda s: s.sop_id)
    refund = next(s for s in sops if s.sop_id == "refund_request")
    assert refund.risk.moves_money
    assert refund.step("supervisor_approval").when == "amount > 200"
    # SOP examples are the official script, not the phrasings agents actually use
    content = load_content()
    for sop in sops:
        for step in sop.steps:
            assert not set(step.examples) & set(content["steps"][step.id]["agent"])


def test_labels_point_at_the_right_turns(written):
    records = {}
    for line in read_jsonl_gz(written / "conversations.jsonl.gz"):
        try:
            record = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        records.setdefault(record.get("conversation_id"), record)
    labels = [json.loads(x) for x in (written / "truth" / "labels.jsonl").read_text().splitlines()]
    assert len(labels) == len({row["conversation_id"] for row in labels})
    assert {row["intent"] for row in labels} == {w.intent for w in WORKFLOWS}
    for row in labels:
        turns = records[row["conversation_id"]]["turns"]
        for position in row["turn_steps"]:
            assert turns[int(position)]["speaker"] == "agent"
        agent_positions = {str(i) for i, t in enumerate(turns) if t["speaker"] == "agent"}
        assert set(row["turn_steps"]) == agent_positions  # every agent turn is labelled
        assert row["turn_steps"]["0"] == GREETING
        expected = [
            s
            for _, s in sorted((int(k), v) for k, v in row["turn_steps"].items())
            if s not in (GREETING, CLOSING, OTHER)
        ]
        collapsed = [s for i, s in enumerate(expected) if i == 0 or expected[i - 1] != s]
        assert row["steps"] == collapsed


def test_planted_bad_records_are_quarantined_as_the_truth_says(written):
    planted = json.loads((written / "truth" / "planted.json").read_text())
    batches = list(
        read_source(
            written / "conversations.jsonl.gz",
            source_id="s",
            fmt="auto",
            config=IngestConfig(),
            hash_key=HASH_KEY,
        )
    )
    quarantined = {
        loc: reason
        for b in batches
        for loc, reason in b.quarantine.select("locator", "reason").iter_rows()
    }
    expected = {f["locator"]: f["reason"] for f in planted["quarantine_expected"]}
    assert quarantined == expected
    assert len(expected) >= 6
    loaded = sum(b.conversations.height for b in batches)
    assert loaded == planted["n_conversations"]


def test_planted_drift_and_outcome_effects_are_visible_in_the_data(written):
    drift = json.loads((written / "truth" / "drift.json").read_text())
    assert {(f["sop_id"], f["step"], f["kind"]) for f in drift["findings"]} == {
        (d.sop_id, d.step, d.kind) for d in PLANTED_DRIFT
    }
    for finding in drift["findings"]:
        assert finding["measured_rate_after"] > finding["measured_rate_before"] + 0.2
    unverified = next(e for e in drift["outcome_effects"] if e["step"] == "verify_identity")
    assert unverified["measured_rate_when_skipped"] > 2 * unverified["measured_rate_when_done"]


def test_emerging_intent_only_in_the_last_three_weeks(written):
    planted = json.loads((written / "truth" / "planted.json").read_text())
    labels = {
        json.loads(x)["conversation_id"]: json.loads(x)["intent"]
        for x in (written / "truth" / "labels.jsonl").read_text().splitlines()
    }
    emerging = planted["emerging_intents"][0]
    assert emerging["first_seen"] >= "2026-05-04"  # week 10 of 12
    records = [
        orjson.loads(x)
        for x in read_jsonl_gz(written / "conversations.jsonl.gz")
        if x.startswith(b"{") and x.endswith(b"}")
    ]
    dates = [
        r["started_at"]
        for r in records
        if labels.get(r.get("conversation_id")) == emerging["intent"]
    ]
    assert dates and min(dates) >= "2026-05-04"


def test_readiness_truth_and_volumes_follow_the_design(written):
    readiness = json.loads((written / "truth" / "readiness.json").read_text())
    assert readiness["order"] == [intent for intent, _ in INTENDED_READINESS]
    counts = json.loads((written / "truth" / "planted.json").read_text())["intents"]
    assert counts["order_status"] > 4 * counts["fraud_report"]
    tiers = Counter(readiness["tiers"].values())
    assert set(tiers) == {"autonomous", "agent with human approval", "human-led"}


def test_sample_text_carries_pii_for_redaction_to_find(written):
    text = gzip.decompress((written / "conversations.jsonl.gz").read_bytes()).decode()
    assert "@" in text and "example" in text
