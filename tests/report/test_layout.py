"""The process graph's layout (``pipeline.report.layout``), checked on the drawn SVG."""

from __future__ import annotations

import re
from html import unescape

import polars as pl
import pytest

from pipeline.process.log import END, START
from pipeline.report.charts import process_graph_svg
from pipeline.report.layout import layered_layout
from pipeline.sops.model import Sop, Step

Rect = tuple[float, float, float, float]  # left, top, right, bottom

SIZES = {START: (24, 24), END: (24, 24), "a": (122, 48), "b": (122, 48)}
STEPS = [f"s{i:02d}" for i in range(1, 21)]
LONG_SOP = Sop(
    sop_id="long",
    version=1,
    intent=("long",),
    steps=tuple(
        Step(id=s, after=(STEPS[i - 1],) if i else (), mandatory=i % 7 != 3)
        for i, s in enumerate(STEPS)
    ),
)
MAIN_PATH = [(a, b, 90 - i) for i, (a, b) in enumerate(zip(STEPS, STEPS[1:], strict=False))]
LONG_EDGES = pl.DataFrame(
    [
        (START, "s01", 100), *MAIN_PATH,
        ("s20", END, 80),
        ("s03", "s05", 20), ("s07", "s10", 15), ("s02", "s11", 9),  # skips
        ("s05", "s05", 12), ("s09", "s06", 14), ("s12", "s08", 11), ("s18", "s02", 8),  # loops
        ("s04", "u_escalate", 13), ("u_escalate", "s05", 12),  # an undocumented detour
        ("s15", "u_hold", 10), ("u_hold", "s13", 9), ("u_hold", END, 7),
        ("s11", "s10", 6), (START, "s04", 9), ("s16", END, 9),
    ],
    schema=["src", "dst", "n"],
    orient="row",
)  # fmt: skip
LONG_LABELS = {
    "u_escalate": "escalating this to our tier 2 team right away",
    "u_hold": "please hold while I check",
}
TINY_SOP = Sop(
    sop_id="s",
    version=1,
    intent=("s",),
    steps=(Step(id="a"), Step(id="b", after=("a",)), Step(id="c", after=("b",))),
)
TINY_EDGES = pl.DataFrame(
    {
        "src": [START, "a", "b", "x", "b", "c", "a"],
        "dst": ["a", "b", "x", "c", "a", END, "a"],
        "n": [10, 9, 4, 4, 1, 10, 3],
    }
)
STAR_EDGES = pl.DataFrame(
    [(START, f"k{i}", 5 + i) for i in range(14)] + [(f"k{i}", END, 5 + i) for i in range(14)],
    schema=["src", "dst", "n"],
    orient="row",
)


def draw(edges: pl.DataFrame, sop: Sop | None, **kwargs) -> str:
    steps = (set(edges["src"]) | set(edges["dst"])) - {START, END}
    positions = {s: i / len(steps) for i, s in enumerate(sorted(steps))}
    args = {"positions": positions, "labels": LONG_LABELS, "max_edges": 40} | kwargs
    return str(process_graph_svg(edges, sop=sop, **args))


GRAPHS = {
    "20 steps, skips, loops, undocumented": lambda: draw(LONG_EDGES, LONG_SOP),
    "20 steps without an SOP": lambda: draw(LONG_EDGES, None),
    "20 steps, rarer edges left out": lambda: draw(LONG_EDGES, LONG_SOP, max_edges=24),
    "tiny, a two-cycle and a self-loop": lambda: draw(TINY_EDGES, TINY_SOP),
    "a star of 14 steps": lambda: draw(STAR_EDGES, None),
}


def boxes(svg: str) -> dict[str, Rect]:
    """Each node's rectangle (a marker's bounding square), by step id."""
    rects = {}
    node = r'<g class="node[^"]*"><title>([^<]*)</title><(rect|circle) ([^>]*)/>'
    for title, shape, attributes in re.findall(node, svg):
        name = {"start": START, "end": END}.get(title) or re.match(r"[^:( ]+", unescape(title))[0]
        a = {k: float(v) for k, v in re.findall(r'(\w+)="([-\d.]+)"', attributes)}
        if shape == "rect":
            rects[name] = (a["x"], a["y"], a["x"] + a["width"], a["y"] + a["height"])
        else:
            rects[name] = (a["cx"] - a["r"], a["cy"] - a["r"], a["cx"] + a["r"], a["cy"] + a["r"])
    return rects


def edges(svg: str) -> list[tuple[str, str, list[tuple[float, float]]]]:
    """Each edge's source, target and points sampled along its path."""
    out = []
    for title, d in re.findall(
        r'<g class="edge [^"]*"><title>([^<]*)</title><path d="([^"]*)"', svg
    ):
        src, rest = unescape(title).split(" → ", 1)
        out.append((src, rest.split(": ", 1)[0], sample(d)))
    return out


def sample(d: str, per_segment: int = 24) -> list[tuple[float, float]]:
    """Points along an SVG path of M, L and C commands (absolute)."""
    points, at = [], (0.0, 0.0)
    for op, args in re.findall(r"([MLC])([^MLC]*)", d):
        xy = [float(v) for v in re.findall(r"-?[\d.]+", args)]
        ps = list(zip(xy[::2], xy[1::2], strict=True))
        if op == "M":
            at = ps[0]
            points.append(at)
            continue
        p0, c1, c2, p1 = (at, at, ps[0], ps[0]) if op == "L" else (at, *ps)
        for i in range(1, per_segment + 1):
            t, u = i / per_segment, 1 - i / per_segment
            points.append(
                tuple(
                    u**3 * p0[k] + 3 * u * u * t * c1[k] + 3 * u * t * t * c2[k] + t**3 * p1[k]
                    for k in (0, 1)
                )
            )
        at = p1
    return points


def crossings(svg: str) -> list[str]:
    """Every edge point inside a box other than its own two ends' (0.5 px inside)."""
    rects, found = boxes(svg), []
    for src, dst, points in edges(svg):
        for name, (x0, y0, x1, y1) in rects.items():
            if name not in (src, dst):
                found += [
                    f"{src} → {dst} crosses {name} at {x:.0f},{y:.0f}"
                    for x, y in points
                    if x0 + 0.5 < x < x1 - 0.5 and y0 + 0.5 < y < y1 - 0.5
                ]
    return found


def straightened(svg: str) -> str:
    """The same drawing with every edge a straight line between its ends (a bad layout)."""

    def straight(m: re.Match) -> str:
        points = sample(m[1], per_segment=1)
        (x0, y0), (x1, y1) = points[0], points[-1]
        return f'<path d="M{x0},{y0} L{x1},{y1}"'

    return re.sub(r'<path d="([^"]*)"', straight, svg)


@pytest.mark.parametrize("name", GRAPHS)
def test_no_edge_crosses_a_box_but_its_own_two(name):
    svg = GRAPHS[name]()
    ends = {end for src, dst, _ in edges(svg) for end in (src, dst)}
    assert len(boxes(svg)) >= 5 and ends <= set(boxes(svg))  # every edge's ends are found
    assert crossings(svg) == []


def test_the_check_catches_edges_drawn_straight_through_boxes():
    svg = GRAPHS["20 steps, skips, loops, undocumented"]()
    assert len(crossings(straightened(svg))) > 10


@pytest.mark.parametrize("name", GRAPHS)
def test_boxes_never_overlap_and_the_graph_fits_the_report(name):
    svg = GRAPHS[name]()
    rects = list(boxes(svg).values())
    for i, a in enumerate(rects):
        for b in rects[i + 1 :]:
            assert not (a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]), (a, b)
    assert float(re.search(r'<svg class="graph" width="([\d.]+)"', svg)[1]) <= 1100


def test_every_graph_of_the_report_keeps_its_edges_off_other_boxes(rendered):
    html, _ = rendered
    graphs = re.findall(r'<svg class="graph".*?</svg>', html, re.S)
    assert graphs
    for svg in graphs:
        assert crossings(svg) == []


def test_counts_are_written_off_the_boxes():
    svg = GRAPHS["20 steps, skips, loops, undocumented"]()
    rects = boxes(svg).values()
    counts = re.findall(r'<text class="count" x="([\d.]+)" y="([\d.]+)">([\d,]+)</text>', svg)
    assert len(counts) >= 20
    for x, y, text in counts:  # the text's box: 6 px a digit, 10 px high above the baseline
        cx, top, half = float(x), float(y) - 10, 3 * len(text)
        assert not any(
            cx - half < r[2] and r[0] < cx + half and top < r[3] and r[1] < top + 10 for r in rects
        ), text


def test_a_few_layers_read_left_to_right_many_top_to_bottom():
    short = layered_layout(
        SIZES, [(START, "a"), ("a", "b"), ("b", END)], order=[START, "a", "b", END]
    )
    chain = [START, *STEPS, END]
    long = layered_layout(
        {s: SIZES.get(s, (122, 48)) for s in chain},
        list(zip(chain, chain[1:], strict=False)),
        order=chain,
    )
    assert short.across and short.width <= 1100 and short.width > short.height
    assert not long.across and long.width <= 1100 and long.height > long.width


def test_a_star_too_wide_in_rows_reads_left_to_right():
    svg = GRAPHS["a star of 14 steps"]()
    rects = boxes(svg)
    assert rects[START][0] < rects["k0"][0] < rects[END][0]  # columns: start, steps, end


def test_a_graph_fitting_neither_way_is_scaled_down_to_the_width():
    svg = draw(LONG_EDGES, LONG_SOP, max_width=300)
    width, height, box_w, box_h = re.search(
        r'width="([\d.]+)" height="([\d.]+)" viewBox="0 0 ([\d.]+) ([\d.]+)"', svg
    ).groups()
    assert float(width) <= 300 < float(box_w)
    assert float(width) / float(box_w) == pytest.approx(float(height) / float(box_h), rel=0.01)


def test_the_documented_path_reads_forward():
    rects = boxes(GRAPHS["20 steps, skips, loops, undocumented"]())
    tops = [rects[s][1] for s in STEPS]  # rows, top to bottom
    assert tops == sorted(tops) and len(set(tops)) == len(tops)


def test_same_input_same_bytes():
    assert draw(LONG_EDGES, LONG_SOP) == draw(LONG_EDGES, LONG_SOP)
