"""Process graphs (``pipeline.report.charts``)."""

from __future__ import annotations

import re

import polars as pl
import pytest
from report_store import ESCAPED, PLANT

from pipeline.process.log import END, START
from pipeline.report.charts import process_graph_svg
from pipeline.sops.model import Sop, Step

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


def box_texts(svg: str, step: str) -> list[str]:
    """The text lines of a step's box, label lines first."""
    box = re.search(rf'<g class="node[^"]*"><title>{step}[:( <].*?</g>', svg)[0]
    return re.findall(r"<text[^>]*>([^<]*)</text>", box)


@pytest.mark.parametrize(
    ("label", "lines"),
    [
        ("escalating this to our tier 2 team", ["escalating this to", "our tier 2 team"]),
        ("please hold on while I look into this", ["please hold on", "while I look into…"]),
        ("confirm_account_closure_request", ["confirm_account_", "closure_request"]),
        ("refund", ["refund"]),
        (PLANT, ["&lt;script&gt;alert(1)&lt;…"]),  # one word longer than a line: cut
    ],
)
def test_process_graph_writes_a_label_on_two_lines_at_most(label, lines):
    svg = _graph(labels={"x": label})
    assert box_texts(svg, "x") == [*lines, "not in SOP"]
    assert (
        f"<title>x: {label.replace('<', '&lt;').replace('>', '&gt;')} (not in SOP)</title>" in svg
    )


def test_process_graph_draws_the_documented_path_heavier():
    svg = _graph(positions={"a": 0.1, "b": 0.4, "x": 0.6, "c": 0.9})
    widths = {
        kind: float(width)
        for kind, width in re.findall(r'class="edge e-(\w+)">.*?stroke-width="([\d.]+)"', svg)
    }
    assert widths["documented"] >= 3.5 > max(widths["order"], widths["undocumented"])


def test_process_graph_is_never_wider_than_asked():
    wide = pl.DataFrame(
        {
            "src": [START, *[f"s{i}" for i in range(12)]],
            "dst": [*[f"s{i}" for i in range(12)], END],
            "n": [5] * 13,
        }
    )
    for max_width in (1100, 600, 200):
        svg = str(process_graph_svg(wide, sop=None, positions={}, labels={}, max_width=max_width))
        assert float(re.search(r'<svg class="graph" width="([\d.]+)"', svg)[1]) <= max_width


def test_process_graph_does_not_modify_its_input():
    edges = EDGES.clone()
    _graph()
    assert EDGES.equals(edges)
