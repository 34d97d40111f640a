"""The conversations behind the findings, on a real run of the bundled sample.

`cxminer run` over the bundled corpus (real model, real Prefect); then every flagged drift
finding must have two or three examples, and each example's conversation must show the
deviation, checked against the step events, conformance rows, outcomes and turns in the
database, not against the code that chose it. The excerpts are the stored, redacted turns.
"""

from __future__ import annotations

import gzip
import json
import re
from datetime import date
from pathlib import Path

import polars as pl
import pytest

from pipeline import schema
from pipeline.cli.main import main
from pipeline.config import DriftConfig
from pipeline.drift.run import stored_sops
from pipeline.store import open_store

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PLACEHOLDERS = ("unassigned", "other", "other variants")
EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+")
PHONE = re.compile(r"\b\d{3}[- .]\d{3}[- .]\d{4}\b")


@pytest.fixture(scope="module")
def bundled(bundled_run) -> tuple[Path, Path]:
    """The session's run of the bundled sample (tests/e2e/conftest.py): config and database."""
    return bundled_run.config, bundled_run.db


@pytest.fixture(scope="module")
def db(bundled) -> dict:
    """The tables the checks read, straight from the database."""
    with open_store(bundled[1], read_only=True) as store:
        tables = {
            name: store.sql(f"select * from {name}")
            for name in (schema.DRIFT_EXAMPLES, schema.READINESS_EXAMPLES, schema.STEP_EVENTS,
                         schema.CONFORMANCE, schema.OUTCOMES, schema.INTENT_ASSIGNMENTS,
                         schema.CONVERSATIONS)
        }  # fmt: skip
        tables["findings"] = store.sql(f"select * from {schema.DRIFT_FINDINGS} where flagged")
        tables["turns"] = store.sql(
            f"select * from {schema.TURNS} where conversation_id in (select conversation_id "
            f"from {schema.DRIFT_EXAMPLES} union select conversation_id from "
            f"{schema.READINESS_EXAMPLES})"
        )
        tables["readiness"] = store.sql(
            f"select * from {schema.READINESS} where run_id = (select max(run_id) from readiness)"
        )
        tables["sops"] = {sop.sop_id: sop for sop in stored_sops(store)}
    return tables


def first_turns(db: dict) -> dict[tuple[str, str], int]:
    """(conversation, step) -> the turn of the step's first event."""
    first = db[schema.STEP_EVENTS].sort("seq").group_by("conversation_id", "step_id").first()
    return {(c, s): t for c, s, t in first.select("conversation_id", "step_id", "turn_idx").rows()}


def row_of(frame: pl.DataFrame, cid: str) -> dict:
    return frame.filter(pl.col("conversation_id") == cid).row(0, named=True)


def deviates(db, first, cid, sop_id, kind, step, before) -> bool:
    """Whether the conversation shows the deviation, by its events and conformance row."""
    steps = {s for (c, s) in first if c == cid}
    conformance = row_of(db[schema.CONFORMANCE], cid)
    if conformance["sop_id"] != sop_id:
        return False
    if kind in ("missing", "skipped"):
        return step not in steps
    if kind == "gate_skipped":
        return step not in steps and step in conformance["skipped_gates"]
    if kind == "undocumented":
        return step in steps and step not in db["sops"][sop_id].step_ids
    if kind == "order_violation":
        return any(first[(cid, step)] < first.get((cid, b), -1) for b in before if step in steps)
    raise AssertionError(kind)


def started(db, cid) -> date:
    return row_of(db[schema.CONVERSATIONS], cid)["started_at"].date()


def grown(details: dict) -> list[str]:
    return [m["category"] for m in details["moved"] if m["share_after"] > m["share_before"]]


def shows(db: dict, first: dict, finding: dict, example: dict) -> bool:
    """Whether one example shows what its finding says (see the module docstring)."""
    cid, kind, details = example["conversation_id"], finding["kind"], json.loads(finding["details"])
    turn, step, sop_id = example["turn_idx"], finding["step"], finding["sop_id"]
    in_window = finding["window_start"] is None or (
        finding["window_start"] <= started(db, cid) <= finding["window_end"]
    )
    if kind in ("missing", "skipped", "gate_skipped", "undocumented", "order_violation"):
        team = (
            finding["team"] is None
            or row_of(db[schema.CONVERSATIONS], cid)["team"] == finding["team"]
        )
        ok = deviates(db, first, cid, sop_id, kind, step, details.get("before") or [])
        at = turn == first[(cid, step)] if kind in ("undocumented", "order_violation") else True
        return ok and at and in_window and team
    if kind == "outcome_impact":
        sop = row_of(db[schema.CONFORMANCE], cid)["sop_id"]
        if sop not in (details.get("sops") or [sop_id]):
            return False
        outcome = row_of(db[schema.OUTCOMES], cid)[finding["metric"]]
        return outcome == (finding["outcome_delta"] > 0) and deviates(
            db, first, cid, sop, details["deviation"], step, details.get("before") or []
        )
    here = (pl.col("conversation_id") == cid) & (pl.col("turn_idx") == turn)
    if kind == "exception_cluster":  # an agent's utterance whose step the SOP does not have
        said = db["turns"].filter(here).row(0, named=True)
        events = db[schema.STEP_EVENTS].filter(here)["step_id"]
        off = [s for s in events if s in details["steps"] and s not in db["sops"][sop_id].step_ids]
        conformance = row_of(db[schema.CONFORMANCE], cid)
        return said["speaker"] == "agent" and conformance["sop_id"] == sop_id and bool(off)
    if kind == "intent_mix":
        intent = row_of(db[schema.INTENT_ASSIGNMENTS], cid)["intent_id"]
        customer = (pl.col("conversation_id") == cid) & (pl.col("speaker") == "customer")
        opening = db["turns"].filter(customer)["turn_idx"].min()
        return intent in grown(details) and in_window and turn == opening
    if kind == "variant_mix":
        conformance = db[schema.CONFORMANCE].filter(pl.col("sop_id") == finding["workflow_id"])
        variant = row_of(conformance, cid)["variant_id"]
        share = (conformance["variant_id"] == variant).mean()
        rare = "other variants" in grown(details) and share < DriftConfig.variant_rare_share
        return (variant in grown(details) or rare) and in_window
    if kind == "conformance_change":
        segment = details["after" if finding["rate"] < finding["baseline"] else "before"]
        day = started(db, cid).isoformat()
        conformance = row_of(db[schema.CONFORMANCE], cid)
        bad = conformance["fitness"] < 1 if finding["metric"] == "fitness" else (
            not conformance["is_conforming"])  # fmt: skip
        return bad and segment["from"] <= day <= segment["to"] and conformance["sop_id"] == sop_id
    raise AssertionError(f"no check for {kind}")


def test_every_flagged_finding_has_two_or_three_examples(db):
    counts = (
        db[schema.DRIFT_EXAMPLES]
        .group_by("finding_id")
        .agg(examples=pl.len(), ranks=pl.col("rank"))
    )
    per_finding = db["findings"].select("finding_id").join(counts, on="finding_id", how="left")
    assert per_finding.filter(pl.col("examples").fill_null(0) < 2).is_empty()
    assert per_finding["examples"].max() <= 3
    assert all(sorted(r) == list(range(1, len(r) + 1)) for r in per_finding["ranks"])
    assert db[schema.DRIFT_EXAMPLES].join(db["findings"], on="finding_id", how="anti").is_empty()
    # the bundled run flags step deviations, their cost, mixes, a change point, clusters
    assert db["findings"]["kind"].n_unique() >= 5


def test_each_example_shows_what_its_finding_says(db):
    first = first_turns(db)
    findings = {r["finding_id"]: r for r in db["findings"].iter_rows(named=True)}
    wrong = [
        (findings[e["finding_id"]]["kind"], e["conversation_id"], e["why"])
        for e in db[schema.DRIFT_EXAMPLES].iter_rows(named=True)
        if not shows(db, first, findings[e["finding_id"]], e)
    ]
    assert wrong == []


def test_each_excerpt_is_the_stored_turns_around_the_highlighted_one(db):
    columns = ("conversation_id", "turn_idx", "speaker", "event_type", "text", "action_name")
    turns = {(c, t): rest for c, t, *rest in db["turns"].select(columns).rows()}
    for table in (schema.DRIFT_EXAMPLES, schema.READINESS_EXAMPLES):
        for cid, turn, excerpt in db[table].select("conversation_id", "turn_idx", "excerpt").rows():
            shown = json.loads(excerpt)
            assert [t["turn_idx"] for t in shown if t["highlight"]] == [turn]
            assert all(abs(t["turn_idx"] - turn) <= 2 for t in shown)
            for t in shown:
                speaker, event, text, action = turns[(cid, t["turn_idx"])]
                assert t["speaker"] == speaker
                if event == "action":
                    assert t["text"].startswith(f"[{action}")
                else:
                    assert len(t["text"]) <= 240
                    assert text.startswith(t["text"].removesuffix("…").rstrip())


def test_readiness_examples_show_their_reason(db):
    outcomes = {r["conversation_id"]: r for r in db[schema.OUTCOMES].iter_rows(named=True)}
    fitness = dict(db[schema.CONFORMANCE].select("conversation_id", "fitness").rows())
    other = set(db[schema.STEP_EVENTS].filter(pl.col("step_id") == "other")["conversation_id"])
    undocumented = set(db[schema.CONFORMANCE].filter(pl.col("undocumented").list.len() > 0)
                       ["conversation_id"])  # fmt: skip
    paths = documented_paths(db)
    shown = {
        "escalation": lambda c: outcomes[c]["escalated"],
        "resolution": lambda c: not outcomes[c]["resolved"],
        "repeat_contact": lambda c: outcomes[c]["repeat_contact"],
        "exceptions": lambda c: (
            c in other or c in undocumented or outcomes[c]["failed_actions"] > 0
        ),
        "conformance": lambda c: fitness[c] < 1,
        # a rare path: less common than the workflow's most common one
        "standardisation": lambda c: c not in paths or paths[c][0] < paths[c][1],
    }
    examples = db[schema.READINESS_EXAMPLES]
    assert examples.height > 0 and set(examples["component"]) <= set(shown)
    ranking = {w: (json.loads(c), r) for w, c, r in db["readiness"].select(
        "workflow_id", "components", "reasons").rows()}  # fmt: skip
    for workflow, component, cid in examples.select("workflow_id", "component",
                                                    "conversation_id").rows():  # fmt: skip
        assert outcomes[cid]["workflow_id"] == workflow
        assert shown[component](cid), (component, cid)
        components, reasons = ranking[workflow]
        assert any(components[component]["detail"] in reason for reason in reasons)


def documented_paths(db: dict) -> dict[str, tuple[int, int]]:
    """Per conversation of a documented workflow: how many share its documented steps in
    order, and how many share the workflow's most common such path."""
    events = db[schema.STEP_EVENTS].filter(~pl.col("is_repeat") & pl.col("sop_id").is_not_null())
    steps = pl.DataFrame([(s, step) for s, sop in db["sops"].items() for step in sop.step_ids],
                         schema=["sop_id", "step_id"], orient="row")  # fmt: skip
    paths = (events.join(steps, on=["sop_id", "step_id"]).sort("seq")
             .group_by("conversation_id", "sop_id").agg(path=pl.col("step_id").str.join(">"))
             .with_columns(n=pl.len().over("sop_id", "path"))
             .with_columns(top=pl.col("n").max().over("sop_id")))  # fmt: skip
    return {c: (n, top) for c, n, top in paths.select("conversation_id", "n", "top").rows()}


def test_drift_examples_prints_them_under_each_finding(bundled, db, capsys):
    config, _ = bundled
    capsys.readouterr()
    assert main(["drift", "--config", str(config), "--examples", "--limit", "2"]) == 0
    text = capsys.readouterr().out
    blocks = re.split(r"^(?=\s*\[\w+\] )", text, flags=re.M)
    blocks = [b for b in blocks if b.strip()]
    assert blocks and all(b.count("e.g. ") >= 2 for b in blocks)
    assert all(re.search(r"^\s+>\s+\d+ (agent|customer|bot|system): ", b, re.M) for b in blocks)
    assert main(["drift", "--config", str(config), "--examples", "--json", "--limit", "2"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert lines and all(len(line["examples"]) >= 2 for line in lines)
    assert all(sum(t["highlight"] for t in e["excerpt"]) == 1 for line in lines
               for e in line["examples"])  # fmt: skip
    assert main(["drift", "--config", str(config), "--json", "--limit", "2"]) == 0
    assert all("examples" not in json.loads(line) for line in capsys.readouterr().out.splitlines())


def test_no_raw_personal_data_reaches_the_examples(db):
    ids = set(db[schema.DRIFT_EXAMPLES]["conversation_id"]) | set(
        db[schema.READINESS_EXAMPLES]["conversation_id"])  # fmt: skip
    raw = []
    with gzip.open(ROOT / "data" / "sample" / "conversations.jsonl.gz", "rt") as lines:
        for line in lines:  # the input, read here only to know what must not leak
            try:
                record = json.loads(line)
            except json.JSONDecodeError:  # the sample's deliberately broken records
                continue
            if isinstance(record, dict) and record.get("conversation_id") in ids:
                said = " ".join(t.get("text") or "" for t in record["turns"])
                raw += EMAIL.findall(said) + PHONE.findall(said)
    assert raw  # the sample plants personal data in these conversations
    for table in (schema.DRIFT_EXAMPLES, schema.READINESS_EXAMPLES):
        blob = "\n".join(db[table]["excerpt"].to_list() + db[table]["why"].to_list())
        assert [value for value in raw if value in blob] == []
        assert EMAIL.findall(blob) == [] and PHONE.findall(blob) == []
