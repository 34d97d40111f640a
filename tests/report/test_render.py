"""The HTML and Markdown report (``pipeline.report.render``)."""

from __future__ import annotations

import re
from pathlib import Path

from report_store import ESCAPED, GENERATED

from pipeline import schema
from pipeline.report.data import read_report_data
from pipeline.report.render import render_report, report_paths
from pipeline.store import Store


def test_report_renders_every_section(rendered):
    html, _ = rendered
    for anchor in ("leaders", "process-owners", "analysts", "wf-refund_request", "wf-i2"):
        assert f'id="{anchor}"' in html
        assert f'href="#{anchor}"' in html
    for text in ("Rank stability", "Deviations by step", "By team", "Emerging intents",
                 "Quarantined records by reason", "Run history", "Across workflows",
                 "High conformance (80%)", "The intent mix moved."):  # fmt: skip
        assert text in html
    assert "not computed yet" not in html
    assert html.count('<svg class="graph"') == 2  # refund_request and i2
    assert html.count('<svg class="chart"') == 1  # f2: the only flagged finding with windows


def test_report_escapes_every_planted_script(rendered):
    html, markdown = rendered
    assert "<script" not in html.lower()
    # the exemplar, the drift sentence, and the step label (tooltip and table)
    assert html.count(ESCAPED) >= 3
    assert "<b>" not in html  # the run error "boom <b>"
    assert "boom &lt;b&gt;" in html
    assert "<script" not in markdown and ESCAPED in markdown


def test_report_references_nothing_on_the_network(rendered):
    html, _ = rendered
    assert not re.search(r"""(?:src|href)\s*=\s*["']?\s*(?:https?:)?//""", html, re.I)
    assert "http://" not in html and "https://" not in html
    assert not re.search(r"@import|url\(", html)


def test_report_on_an_empty_database_says_not_computed_yet(empty_store: Store):
    html, markdown = render_report(read_report_data(empty_store), generated_at=GENERATED)
    for what in ("Readiness", "Intents", "Workflows (steps, discovery and the SOP library)"):
        assert f"{what} not computed yet" in html
    assert "No input ingested yet" in html and "No runs recorded yet" in html
    assert markdown.splitlines()[2] == "Generated 2026-04-01 12:00. 0 conversations."
    assert "Readiness not computed yet." in markdown
    assert "Drift not computed yet." in markdown


def test_report_marks_each_stage_not_computed_yet(full_store: Store):
    with full_store.transaction() as con:
        for table in (schema.CONFORMANCE, schema.OUTCOMES, schema.DRIFT_FINDINGS, schema.READINESS):
            con.execute(f"delete from {table}")
    html, markdown = render_report(read_report_data(full_store), generated_at=GENERATED)
    for note in ("Readiness not computed yet", "Conformance for this workflow not computed yet",
                 "Drift not computed yet"):  # fmt: skip
        assert note in html
    assert html.count('<svg class="graph"') == 2  # the process stage did run
    assert "Drift not computed yet." in markdown


def test_render_does_not_modify_its_input(full_store: Store):
    data = read_report_data(full_store)
    names = ("drift", "readiness", "process_edges", "intents", "step_deviations")
    before = {name: getattr(data, name).clone() for name in names}
    render_report(data, generated_at=GENERATED)
    for name, frame in before.items():
        assert getattr(data, name).equals(frame)


# ---- Markdown ------------------------------------------------------------------------------
def test_markdown_summary_has_top_readiness_and_flagged_findings(rendered):
    _, markdown = rendered
    lines = markdown.splitlines()
    assert lines[:8] == [
        "# cxminer summary",
        "",
        "Generated 2026-04-01 12:00. 4 conversations from 2026-03-02 10:00 to 2026-03-16 10:00.",
        "",
        "## Autonomy readiness",
        "",
        "| rank | workflow | tier | score (interval) | main reason |",
        "|---|---|---|---|---|",
    ]
    assert lines[8:10] == [
        "| 1 | refund request | agent with human approval | 72 (65-80) | High conformance (80%) |",
        "| 2 | address change | human-led | 30 (20-45) | Too few conversations |",
    ]
    assert lines[15:18] == [
        "| refund request | agent with human approval | 3.0 | 0.1 | 3 of 3 | 3.0 | 0.1 | 3.0 |",
        "| address change | human-led | 1.0 | unknown | 0 of 1 | 0.0 | 0.0 | 0.0 |",
        "| total |  | 4.0 | 0.1 | 3 of 4 | 3.0 | 0.1 | 3.0 |",
    ]
    assert lines[19:24] == [
        "## Drift: top flagged findings",
        "",
        f"1. **high** Agents skip check\\_eligibility {ESCAPED} more often.",
        "2. **medium** Skipping check\\_eligibility raises repeats.",
        "3. **low** The intent mix moved.",
    ]
    assert "Sources: 1; quarantined: bad\\_timestamp 1; redacted: email 2, phone 1." in lines


def test_report_paths(tmp_path: Path):
    assert report_paths(tmp_path) == (tmp_path / "index.html", tmp_path / "summary.md")


# ---- charts --------------------------------------------------------------------------------
