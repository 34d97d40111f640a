"""Tests of pipeline.report.render and pipeline.report.charts: views, data, HTML and Markdown."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from pipeline import schema
from pipeline.errors import SchemaError, StoreError
from pipeline.evaluate.metrics import END, START
from pipeline.report.charts import interval_svg, process_graph_svg, series_svg, sparkline_svg
from pipeline.report.render import (
    REPORT_VIEWS,
    VIEWS_DIR,
    read_report_data,
    render_report,
    report_paths,
    view_statements,
)
from pipeline.sops.model import Sop, Step
from pipeline.store import Store, open_store

PLANT = "<script>alert(1)</script>"
ESCAPED = "&lt;script&gt;alert(1)&lt;/script&gt;"
GENERATED = datetime(2026, 4, 1, 12, 0, tzinfo=UTC)
R1, R2 = "r20260101-000000-aaaaaa", "r20260102-000000-bbbbbb"

SOP_V1 = """sop_id: refund_request
version: 1
intent: refund request
steps:
- id: verify_identity
"""
SOP_V2 = """sop_id: refund_request
version: 2
intent: refund request
steps:
- id: verify_identity
  description: Confirm who the customer is
- id: check_eligibility
  after: [verify_identity]
- id: issue_refund
  after: [check_eligibility]
risk: {moves_money: true, regulated: false}
"""


def ts(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


def insert(con, table: str, rows: list[tuple]) -> None:
    columns = schema.COLUMNS[table]
    marks = ", ".join("?" for _ in columns)
    con.executemany(f"insert into {table} ({', '.join(columns)}) values ({marks})", rows)


def fill(store: Store) -> None:
    """A tiny database covering every report section, with a planted script tag."""
    with store.transaction() as con:
        insert(con, schema.RUNS, [
            (R1, "ingest", ts(20), ts(20, 11), "ok", "h", "0.1", "[]", "{}", None),
            (R2, "run", ts(21), None, "failed", "h", "0.1", "[]", "{}", "boom <b>"),
        ])  # fmt: skip
        insert(con, schema.SOURCES, [
            ("s1", "data/in.jsonl", "abc", "jsonl", "ok", None, 5, 4, 0, 0, 1, R1, ts(20)),
        ])  # fmt: skip
        insert(
            con, schema.QUARANTINE, [("s1", "line 5", None, "ts", "bad_timestamp", "m", "{}", R1)]
        )
        insert(con, schema.CONVERSATIONS, [
            (c, "s1", f"line {i}", "chat", "billing", team, "agent-hash", "cust-hash", start,
             None, None, "{}", 3, f"hash{i}", R1)
            for i, (c, team, start) in enumerate(
                [("c1", "north", ts(2)), ("c2", "north", ts(9)), ("c3", "south", ts(10)),
                 ("c4", None, ts(16))], 1)
        ])  # fmt: skip
        insert(con, schema.REDACTIONS, [("c1", 0, "email", 2, R1), ("c2", 1, "phone", 1, R1)])
        centroid = [0.0, 1.0]
        insert(con, schema.INTENTS, [
            ("i1", 1, "old label", ["old"], "old", 2, 1.0, ts(2), ts(9), 0.0, False, centroid, R1),
            ("i1", 2, "refund, money", ["refund", "money"], f"{PLANT} refund please", 3, 0.75,
             ts(2), ts(10), 0.3, False, centroid, R2),
            ("i2", 2, "address change", ["address"], "new address", 1, 0.25, ts(16), ts(16), 1.0,
             True, centroid, R2),
        ])  # fmt: skip
        insert(con, schema.INTENT_ASSIGNMENTS, [
            ("c1", "i1", 0.9, False, "cluster", None, 2, R2),
            ("c2", "i1", 0.8, False, "cluster", None, 2, R2),
            ("c3", "i1", 0.7, False, "cluster", None, 2, R2),
            ("c4", "i2", 0.9, False, "cluster", None, 2, R2),
        ])  # fmt: skip
        insert(con, schema.SOPS, [
            ("refund_request", 1, ["refund request"], 1, SOP_V1, "x1", "a.yaml", R1),
            ("refund_request", 2, ["refund request"], 3, SOP_V2, "x2", "a.yaml", R2),
        ])  # fmt: skip
        insert(con, schema.STEP_TYPES, [
            (s, label, source, sop, None, 1, R2, [f"{sop}/{s}"] if sop else [])
            for s, label, source, sop in [
                ("verify_identity", "Confirm the customer", "sop", "refund_request"),
                ("check_eligibility", "check_eligibility", "sop", "refund_request"),
                ("issue_refund", "issue_refund", "sop", "refund_request"),
                ("greeting", "greeting", "sop", None),
                ("d_refund_1", PLANT, "discovered", None),
                ("d_address_1", "new address", "discovered", None),
                ("closing", "closing", "sop", None),
                ("other", "other", "other", None),
            ]
        ])  # fmt: skip
        events = {
            "c1": [
                "greeting",
                "verify_identity",
                "verify_identity",
                "other",
                "verify_identity",
                "check_eligibility",
                "issue_refund",
                "closing",
            ],
            "c2": ["greeting", "verify_identity", "d_refund_1", "issue_refund"],
            "c3": ["greeting", "check_eligibility", "verify_identity", "issue_refund"],
            "c4": ["greeting", "other", "d_address_1", "closing"],
        }
        insert(con, schema.STEP_EVENTS, [
            (c, seq, seq, step, "sop", 0.9, None, None if c == "c4" else "refund_request",
             "i2" if c == "c4" else "refund_request", seq == 2 and c == "c1", R2)
            for c, steps in events.items() for seq, step in enumerate(steps)
        ])  # fmt: skip
        insert(con, schema.CANDIDATE_SOPS, [
            ("refund_request", "verify_identity", 1.0, 3, "mandatory", 0.2, [], [], R2),
            ("refund_request", "check_eligibility", 0.67, 2, "mandatory", 0.4, [], [], R2),
            ("refund_request", "d_refund_1", 0.33, 1, "optional", 0.6, [], [], R2),
            ("refund_request", "issue_refund", 1.0, 3, "mandatory", 0.9, [], [], R2),
        ])  # fmt: skip
        insert(con, schema.OUTCOMES, [
            ("c1", "refund_request", "resolved", "data", False, True, False, None, 3, 0, 60.0, R2),
            ("c2", "refund_request", "escalated", "derived", True, False, False, None, 3, 0, 90.0,
             R2),
            ("c3", "refund_request", "resolved", "data", False, True, True, 2.0, 3, 1, 30.0, R2),
        ])  # fmt: skip
        insert(con, schema.CONFORMANCE, [
            ("c1", "refund_request", 2, "v1", 1.0, [], [], [], [], True, R2),
            ("c2", "refund_request", 2, "v2", 0.5, ["check_eligibility"], ["d_refund_1"], [], [],
             False, R2),
            ("c3", "refund_request", 2, "v3", 0.75, [], [],
             ["check_eligibility before verify_identity"], [], False, R2),
        ])  # fmt: skip
        finding = (None, None, 20, 40, 0.01, 0.02)
        insert(con, schema.DRIFT_FINDINGS, [
            ("f1", "missing", "refund_request", "refund_request", "check_eligibility", None, None,
             date(2026, 3, 2), date(2026, 3, 8), 0.1, 0.1, *finding[2:], False, None, None, None,
             None, None, None, "high", "no change", None, R2),
            ("f2", "missing", "refund_request", "refund_request", "check_eligibility", None, None,
             date(2026, 3, 9), date(2026, 3, 15), 0.4, 0.1, *finding[2:], True, None, None, None,
             None, None, None, "high", f"Agents skip check_eligibility {PLANT} more often.",
             None, R2),
            ("f3", "outcome_impact", "refund_request", "refund_request", "check_eligibility",
             None, None, None, None, None, None, 30, 60, 0.001, 0.003, True, "repeat_contact",
             0.3, 0.1, 0.2, 0.05, 0.35, "medium", "Skipping check_eligibility raises repeats.",
             json.dumps({"x": 1}), R2),
            ("f4", "intent_mix", None, None, None, None, None, date(2026, 3, 9), date(2026, 3, 15),
             0.2, 0.0, 50, 100, 0.01, 0.03, True, None, None, None, None, None, None, "low",
             "The intent mix moved.", None, R2),
            ("f5", "missing", "refund_request", "refund_request", "check_eligibility", "north",
             None, date(2026, 3, 9), date(2026, 3, 15), 0.5, 0.1, 20, 40, 0.2, 0.3, False, None,
             None, None, None, None, None, "high", "north: no flag", None, R2),
        ])  # fmt: skip
        components = json.dumps({"volume": 0.5, "conformance": 0.8})
        insert(con, schema.READINESS, [
            ("refund_request", "i1", "refund_request", "refund request", 1, 3, 50.0, 40.0, 60.0,
             "human-led", [], components, ["old reason"], 0.5, "documented", "yaml", R1),
            ("refund_request", "i1", "refund_request", "refund request", 1, 3, 72.0, 65.0, 80.0,
             "agent with human approval", ["issue_refund"], components,
             ["High conformance (80%)", "Moves money: approval gate"], 0.9, "documented",
             "yaml", R2),
            ("i2", "i2", None, "address change", 2, 1, 30.0, 20.0, 45.0, "human-led", [], "{}",
             ["Too few conversations"], 0.6, "mined", None, R2),
        ])  # fmt: skip


@pytest.fixture
def full_store(db_path: Path):
    with open_store(db_path) as store:
        fill(store)
        store.create_views(view_statements(VIEWS_DIR))
        yield store


@pytest.fixture
def empty_store(db_path: Path):
    with open_store(db_path) as store:
        store.create_views(view_statements(VIEWS_DIR))
        yield store


@pytest.fixture
def rendered(full_store: Store) -> tuple[str, str]:
    return render_report(read_report_data(full_store), generated_at=GENERATED)


# ---- views ---------------------------------------------------------------------------------
def test_view_statements_are_the_report_views_in_file_order():
    statements = view_statements(VIEWS_DIR)
    assert [name for name, _ in statements] == list(REPORT_VIEWS)
    assert all(sql.count("create or replace view") == 1 for _, sql in statements)


@pytest.mark.parametrize(
    ("name", "sql", "message"),
    [
        ("01_a.sql", "create or replace view a as select 1;\ncreate or replace view b as "
         "select 2", "found 2"),
        ("01_a.sql", "select 1", "found 0"),
        ("01_a.sql", "create or replace view b as select 1", "found 1 view statement(s) ['b']"),
        ("a.sql", "create or replace view a as select 1", "NN_name.sql"),
    ],
)  # fmt: skip
def test_view_statements_reject_a_file_without_exactly_its_view(tmp_path, name, sql, message):
    (tmp_path / name).write_text(sql)
    with pytest.raises(SchemaError, match=re.escape(message)) as info:
        view_statements(tmp_path)
    assert name in str(info.value)


def test_view_statements_ignore_commented_statements(tmp_path):
    (tmp_path / "02_b.sql").write_text("-- create or replace view old as ...\n"
                                       "create or replace view b as select 1 as x")  # fmt: skip
    (tmp_path / "01_a.sql").write_text("create or replace view a as select 1 as x")
    assert [n for n, _ in view_statements(tmp_path)] == ["a", "b"]


@pytest.mark.parametrize("view", REPORT_VIEWS)
def test_views_create_on_an_empty_database(empty_store: Store, view: str):
    assert empty_store.sql(f"select * from {view}").height == 0


def test_intent_overview_is_the_latest_snapshot(full_store: Store):
    rows = full_store.sql(
        "select intent_id, label, size, n_assigned, is_emerging from intent_overview"
    )
    assert rows.rows() == [
        ("i1", "refund, money", 3, 3, False),
        ("i2", "address change", 1, 1, True),
    ]


def test_intent_weekly_counts_conversations_per_monday_week(full_store: Store):
    rows = full_store.sql("select intent_id, week, n_conversations from intent_weekly").rows()
    assert rows == [
        ("i1", date(2026, 3, 2), 1),
        ("i1", date(2026, 3, 9), 2),
        ("i2", date(2026, 3, 16), 1),
    ]


def test_workflow_conformance_rates(full_store: Store):
    row = full_store.sql("select * from workflow_conformance").row(0, named=True)
    assert row == {
        "sop_id": "refund_request", "version": 2, "n_conversations": 3, "n_conforming": 1,
        "conforming_share": pytest.approx(1 / 3), "mean_fitness": pytest.approx(0.75),
        "missing_share": pytest.approx(1 / 3), "undocumented_share": pytest.approx(1 / 3),
        "order_violation_share": pytest.approx(1 / 3), "gate_skipped_share": 0.0,
        "n_variants": 3, "n_with_outcome": 3, "resolved_share": pytest.approx(2 / 3),
        "escalated_share": pytest.approx(1 / 3), "repeat_contact_share": pytest.approx(1 / 3),
    }  # fmt: skip


def test_step_deviations_one_row_per_step_and_kind(full_store: Store):
    rows = full_store.sql(
        "select deviation, step, detail, n_conversations, n_workflow from step_deviations"
    )
    assert rows.rows() == [
        ("missing", "check_eligibility", "check_eligibility", 1, 3),
        ("order_violation", "check_eligibility", "check_eligibility before verify_identity", 1, 3),
        ("undocumented", "d_refund_1", "d_refund_1", 1, 3),
    ]


def test_team_conformance_per_team(full_store: Store):
    rows = full_store.sql("select team, n_conversations, conforming_share from team_conformance")
    assert rows.rows() == [("north", 2, 0.5), ("south", 1, 0.0)]


def test_drift_view_puts_flagged_first_then_severity(full_store: Store):
    rows = full_store.sql("select priority, finding_id, flagged from drift_findings_ranked")
    assert rows.rows() == [
        (1, "f2", True), (2, "f3", True), (3, "f4", True), (4, "f1", False), (5, "f5", False),
    ]  # fmt: skip


def test_readiness_view_shows_only_the_latest_run(full_store: Store):
    rows = full_store.sql("select rank, workflow_id, score, run_id from readiness_leaderboard")
    assert rows.rows() == [(1, "refund_request", 72.0, R2), (2, "i2", 30.0, R2)]


def test_data_quality_counts_records_quarantine_and_redactions(full_store: Store):
    rows = full_store.sql("select category, item, n from data_quality").rows()
    assert rows == [
        ("quarantine", "bad_timestamp", 1),
        ("records", "read", 5), ("records", "loaded", 4), ("records", "quarantined", 1),
        ("records", "replaced", 0), ("records", "unchanged", 0),
        ("redaction", "email", 2), ("redaction", "phone", 1),
    ]  # fmt: skip


# ---- reading -------------------------------------------------------------------------------
def test_read_report_data_needs_the_views(db_path: Path):
    with open_store(db_path) as store, pytest.raises(StoreError, match="report views missing"):
        read_report_data(store)


def test_read_report_data_takes_the_latest_sop_version(full_store: Store):
    data = read_report_data(full_store)
    assert data.sops.select("sop_id", "version").rows() == [("refund_request", 2)]
    assert data.counts[schema.CONVERSATIONS] == 4
    assert data.period == (ts(2), ts(16))


def test_process_edges_leave_out_conversation_management_and_collapse_repeats(full_store):
    # c1: greeting, verify, verify (repeat), other, verify, check, issue, closing
    edges = full_store.sql("select * from process_edges")
    assert sorted(edges.rows()) == sorted(
        [
            ("i2", START, "d_address_1", 1),
            ("i2", "d_address_1", END, 1),
            ("refund_request", "issue_refund", END, 3),
            ("refund_request", START, "verify_identity", 2),
            ("refund_request", START, "check_eligibility", 1),
            ("refund_request", "check_eligibility", "issue_refund", 1),
            ("refund_request", "check_eligibility", "verify_identity", 1),
            ("refund_request", "d_refund_1", "issue_refund", 1),
            ("refund_request", "verify_identity", "check_eligibility", 1),
            ("refund_request", "verify_identity", "d_refund_1", 1),
            ("refund_request", "verify_identity", "issue_refund", 1),
        ]
    )


def test_process_edges_keep_a_type_without_sop_steps(full_store):
    # a step type written before step_types.sop_steps existed cannot be told generic
    with full_store.transaction() as con:
        con.execute("update step_types set sop_steps = null where step_id = 'greeting'")
    edges = full_store.sql("select * from process_edges where src = '▶'").rows()
    assert sorted(edges) == [("i2", START, "greeting", 1), ("refund_request", START, "greeting", 3)]


# ---- HTML ----------------------------------------------------------------------------------
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
    assert lines[11:16] == [
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
SOP = Sop(
    sop_id="s",
    version=1,
    intent=("s",),
    steps=(Step(id="a"), Step(id="b", after=("a",)), Step(id="c", after=("b",))),
)
EDGES = pl.DataFrame(
    {
        "src": [START, "a", "b", "x", "b", "c"],
        "dst": ["a", "b", "x", "c", "a", END],
        "n": [10, 9, 4, 4, 1, 10],
    }
)


def _graph(**kwargs) -> str:
    args = {"sop": SOP, "positions": {"a": 0.1, "b": 0.4, "x": 0.6, "c": 0.9}, "labels": {}}
    return str(process_graph_svg(EDGES, **(args | kwargs)))


@pytest.mark.parametrize(
    ("fragment", "count"),
    [
        ('class="edge e-documented"', 1),  # a -> b (b -> c is documented but unseen)
        ('class="edge e-order"', 1),  # b -> a: a must come before b
        ('class="edge e-undocumented"', 2),  # b -> x and x -> c
        ('class="edge e-expected"', 1),  # b -> c, documented, never observed
        ('class="node n-undocumented"', 1),
    ],
)
def test_process_graph_classifies_edges_and_nodes(fragment, count):
    assert _graph().count(fragment) == count


def test_process_graph_dashes_documented_steps_often_skipped():
    svg = _graph(skipped={"b": 0.25, "a": 0.05})
    assert svg.count("n-skipped") == 1
    assert "<title>b (skipped 25%)</title>" in svg


def test_process_graph_orders_steps_by_position():
    svg = _graph(positions={"a": 0.1, "b": 0.4, "x": 0.95, "c": 0.9})
    texts = re.findall(r'<g class="node[^"]*"><title>([^<(]+)', svg)
    assert [t.strip() for t in texts] == ["start", "a", "b", "c", "x", "end"]


def test_process_graph_dashes_a_documented_step_never_seen():
    sop = Sop(sop_id="s", version=1, intent=("s",), steps=(*SOP.steps, Step(id="d", after=("c",))))
    svg = _graph(sop=sop)
    assert '<g class="node n-documented n-skipped"><title>d (never seen)</title>' in svg
    assert "<title>c → d: documented, never observed</title>" in svg


def test_process_graph_hides_rare_edges_with_a_note():
    svg = _graph(max_edges=4)
    assert "2 rarer transitions (5 in all) not drawn" in svg


def test_process_graph_without_sop_has_no_deviation_classes():
    svg = _graph(sop=None)
    assert "e-documented" not in svg and "e-order" not in svg and "n-undocumented" not in svg
    assert svg.count('class="node n-step"') == 4


def test_process_graph_escapes_labels():
    svg = _graph(labels={"x": PLANT})
    assert "<script" not in svg and f"x: {ESCAPED}" in svg


def test_series_marks_flagged_windows_and_baseline():
    windows = [date(2026, 3, 2), date(2026, 3, 9)]
    svg = str(
        series_svg(windows, [0.1, 0.4], baseline=0.1, flagged={date(2026, 3, 9)}, title=PLANT)
    )
    assert svg.count('class="pt pt-flag"') == 1 and svg.count('class="pt"') == 1
    assert "<title>baseline 10%</title>" in svg and "<title>2026-03-09: 40%</title>" in svg
    assert ESCAPED in svg and "<script" not in svg


def test_sparkline_and_interval():
    assert (
        str(sparkline_svg([1, 2, 4])).count('<polyline class="line" points="3,19.5 60,14 117,3"/>')
        == 1
    )
    svg = str(interval_svg(72, 65, 80, tier="autonomous"))
    assert 'class="interval t-auto"' in svg and "score 72 (interval 65-80) of 100" in svg
