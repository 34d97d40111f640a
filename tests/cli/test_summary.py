"""The run summary as text: one line a stage, problems on stderr."""

import json

import pytest

from pipeline.cli.summary import (
    SHOWN_PROBLEMS,
    print_drift_summary,
    print_ingest_summary,
    print_run_summary,
)

INGEST_RESULT = {
    "run_id": "r1",
    "database": "db.duckdb",
    "counts": {"records": 3, "loaded": 1, "replaced": 0, "unchanged": 0, "quarantined": 2},
    "sources": [
        {
            "path": "a.jsonl",
            "format": "jsonl",
            "status": "loaded",
            "n_records": 3,
            "n_loaded": 1,
            "n_replaced": 0,
            "n_unchanged": 0,
            "n_quarantined": 2,
            "problems": ["a.jsonl: line 2: bad", "a.jsonl: line 3: bad"],
        },
        {"path": "b.csv", "format": "csv", "status": "skipped", "problems": []},
        {"path": "c.csv", "format": "csv", "status": "unreadable", "error": "gzip", "problems": []},
    ],
}


def test_ingest_summary_prints_each_source_and_problems_on_stderr(capsys):
    print_ingest_summary(INGEST_RESULT)
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "run r1 -> db.duckdb",
        "  a.jsonl  [jsonl] loaded: 3 records, 1 new, 0 replaced, 0 unchanged, 2 quarantined",
        "  b.csv  [csv] skipped: already ingested (same content); --force re-reads it",
        "  c.csv  [csv] unreadable: gzip",
        "total: 3 records, 1 new, 0 replaced, 0 unchanged, 2 quarantined",
    ]
    assert err.splitlines() == [
        "  quarantined: a.jsonl: line 2: bad",
        "  quarantined: a.jsonl: line 3: bad",
    ]


def test_ingest_summary_counts_the_problems_it_does_not_show(capsys):
    source = dict(INGEST_RESULT["sources"][0], problems=[f"p{i}" for i in range(12)])
    counts = dict(INGEST_RESULT["counts"], quarantined=15)
    print_ingest_summary(dict(INGEST_RESULT, sources=[source], counts=counts))
    err = capsys.readouterr().err.splitlines()
    assert len(err) == SHOWN_PROBLEMS + 1
    assert err[-1].startswith("  ... 5 more; `cxminer status` counts them by reason")


@pytest.mark.parametrize(
    ("summary", "line"),
    [
        (
            {"mode": "unchanged", "reused": "r0"},
            "drift: unchanged since run r0 (same data, config and code)",
        ),
        ({"mode": "skipped", "reason": "no SOPs"}, "drift: skipped: no SOPs"),
        (
            {
                "mode": "full",
                "conformance": 10,
                "conforming_share": 0.25,
                "findings": 4,
                "flagged": {"missing": 2, "variant_mix": 1},
            },
            "drift: 10 conversations checked against their SOP (25.0% conforming); "
            "4 findings, flagged: 2 missing, 1 variant_mix",
        ),
        (
            {
                "mode": "full",
                "conformance": 0,
                "conforming_share": 0.0,
                "findings": 0,
                "flagged": {},
            },
            "drift: 0 conversations checked against their SOP (0.0% conforming); "
            "0 findings, flagged: none",
        ),
    ],
)
def test_drift_summary_line(capsys, summary, line):
    print_drift_summary(summary)
    assert capsys.readouterr().out == line + "\n"


def test_run_summary_prints_one_line_a_stage_then_the_report(capsys):
    result = {
        "ingest": dict(
            INGEST_RESULT, sources=[], counts=dict(INGEST_RESULT["counts"], quarantined=0)
        ),
        "intents": {
            "mode": "fit",
            "model_version": 2,
            "intents": 3,
            "conversations": 40,
            "new": 40,
            "unassigned": 4,
            "unassigned_share": 0.1,
            "encoded": 40,
            "emerging": ["i7"],
            "unassigned_growing": True,
        },
        "process": {
            "mode": "full",
            "events": 90,
            "conversations": 40,
            "guided_share": 0.5,
            "sops": 2,
            "step_types": {"sop": 5, "mined": 2},
            "workflows": 3,
            "encoded": 12,
        },
        "drift": {"mode": "skipped", "reason": "too few windows"},
        "readiness": {"mode": "full", "workflows": 3, "tiers": {"autonomous": 1, "human-led": 2}},
        "report": {"html": "out/index.html", "markdown": "out/summary.md"},
    }
    print_run_summary(result)
    assert capsys.readouterr().out.splitlines() == [
        "run r1 -> db.duckdb",
        "total: 3 records, 1 new, 0 replaced, 0 unchanged, 0 quarantined",
        "intents: fit (model v2): 3 intents, 40 conversations (40 new), 4 unassigned (10.0%), "
        "40 texts encoded; emerging: i7; the unassigned share is growing (consider --refit)",
        "steps: 90 events in 40 conversations (50.0% guided by 2 documented SOPs); "
        "step types: 5 sop, 2 mined; 3 workflows; 12 texts encoded",
        "drift: skipped: too few windows",
        "readiness: 3 workflows scored: 1 autonomous, 2 human-led",
        "report: out/index.html (summary: out/summary.md)",
    ]


def test_summaries_do_not_modify_their_input():
    before = json.dumps(INGEST_RESULT, sort_keys=True)
    print_ingest_summary(INGEST_RESULT)
    assert json.dumps(INGEST_RESULT, sort_keys=True) == before
