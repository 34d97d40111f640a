"""Inline SVG of a workflow's process graph for the HTML report.

The small charts (drift series, sparklines, intervals) are in
:mod:`pipeline.report.series`. :func:`process_graph_svg` returns a
:class:`markupsafe.Markup` holding one ``<svg>`` element, with all text from data
escaped here (step names and labels can hold anything). The SVG has no ``xmlns``
(inline SVG in HTML needs none), no ids (several graphs share one page) and no external
references; colours come from CSS classes that the report's stylesheet defines, so the
charts follow the page's styling. Where boxes and edges go is
:mod:`pipeline.report.layout`.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from markupsafe import Markup

from pipeline.process.log import END, START
from pipeline.report.layout import Layout, Point, Segment, label_spots, layered_layout
from pipeline.report.svg import as_percent, coord, esc, shorten
from pipeline.sops.model import Sop

# Box geometry (px): two lines of a label and a line of facts.
_NODE_W, _NODE_H, _MARKER_R, _LINE_CHARS = 122, 48, 12, 18
_NOTE_H = 22  # below the drawing, for the note on the transitions left out
SKIPPED_OFTEN = 0.2  # a documented step missing in this share of conversations is dashed


@dataclass(frozen=True)
class _Edge:
    src: str
    dst: str
    n: int
    kind: str  # documented | order | undocumented | other | expected


def _documented_edges(sop: Sop) -> set[tuple[str, str]]:
    """Transitions the SOP names: ``after`` and ``next``, else its document order."""
    edges = {(a, s.id) for s in sop.steps for a in s.after}
    edges |= {(s.id, n) for s in sop.steps for n in s.next}
    if not edges:
        edges = set(zip(sop.step_ids, sop.step_ids[1:], strict=False))
    return edges


def _ancestors(sop: Sop) -> dict[str, set[str]]:
    """Map each step to the steps that must come before it, through chains of ``after``."""
    after = {s.id: set(s.after) for s in sop.steps}
    found: dict[str, set[str]] = {}
    for step in sop.step_ids:  # O(steps^2): SOPs have tens of steps
        seen, todo = set(), list(after[step])
        while todo:
            prev = todo.pop()
            if prev not in seen:
                seen.add(prev)
                todo.extend(after.get(prev, ()))
        found[step] = seen
    return found


def _node_kind(
    step: str, *, neutral: Collection[str], documented: Collection[str], sop: Sop | None
) -> str:
    if step in neutral and step not in documented:
        return "neutral"
    if sop is None:
        return "step"
    return "documented" if step in documented else "undocumented"


def _edge_kind(
    src: str,
    dst: str,
    *,
    kinds: Mapping[str, str],
    documented: Collection[tuple[str, str]],
    before: Mapping[str, Collection[str]],
) -> str:
    if kinds.get(src) == "undocumented" or kinds.get(dst) == "undocumented":
        return "undocumented"
    if (src, dst) in documented:
        return "documented"
    if dst in before.get(src, ()):
        return "order"
    return "other"


def _order(
    nodes: Collection[str],
    edges: Sequence[_Edge],
    positions: Mapping[str, float],
    sop: Sop | None,
) -> list[str]:
    """Sort steps by typical position (0..1), documented ones in their SOP order.

    A step without a position sits among its neighbours; documented steps take the
    places their positions give them in SOP order, so the documented path reads forward.
    """
    key = {s: float(positions[s]) for s in nodes if s in positions}
    if sop is not None:  # an unobserved documented step goes right after its predecessor
        prev = 0.0
        for step in sop.step_ids:
            key.setdefault(step, prev + 1e-3)
            prev = key[step]
    known = {START: 0.0, END: 1.0, **key}
    for step in sorted(set(nodes) - set(known)):
        weights = [
            (e.n, known[other])
            for e in edges
            for other in ((e.dst,) if e.src == step else (e.src,) if e.dst == step else ())
            if other in known
        ]
        total = sum(w for w, _ in weights)
        key[step] = sum(w * p for w, p in weights) / total if total else 0.5
    ranked = sorted(nodes, key=lambda s: (key[s], s))
    if sop is None:
        return ranked
    documented = iter([s for s in sop.step_ids if s in key])
    return [next(documented) if s in sop.step_ids else s for s in ranked]


def process_graph_svg(
    edges: pl.DataFrame,
    *,
    sop: Sop | None,
    positions: Mapping[str, float],
    labels: Mapping[str, str],
    neutral: Collection[str] = ("other",),
    skipped: Mapping[str, float] | None = None,
    support: Mapping[str, float] | None = None,
    max_edges: int = 24,
    min_share: float = 0.03,
    max_width: float = 1100.0,
) -> Markup:
    """Draw a workflow's directly-follows graph against its documented SOP.

    A layered drawing (:func:`~pipeline.report.layout.layered_layout`) from the start
    ``▶`` to the end ``■``: layers are columns read left to right when they fit
    ``max_width`` (about five layers of steps), else rows read top down; when neither
    fits, the narrower is scaled down to ``max_width``. Documented steps keep their SOP
    order, the others their typical positions; back edges (loops, rework) run against
    the layers, self-loops beside their box; no edge crosses a box but its own two. The
    documented path is thick; width grows with the count, written beside the edge where
    it covers no box. Colours (CSS classes): documented transitions ``e-documented``,
    order violations ``e-order``, transitions touching an undocumented step
    ``e-undocumented``, others ``e-other``; documented ones never observed are dashed
    (``e-expected``), as are documented steps skipped in at least :data:`SKIPPED_OFTEN`
    of conversations, or never seen (``n-skipped``). A box shows its label on up to two
    lines; its title holds the step id, the whole label and the step's facts.

    Parameters
    ----------
    edges
        ``dfg_edges`` rows of one workflow: ``src, dst, n`` (start/end markers included).
    sop
        The workflow's documented SOP; None draws the mined process alone.
    positions
        Typical position (0..1) of each step, from ``candidate_sops``.
    labels
        Readable label per step id (the id is used where absent).
    neutral
        Steps that are no workflow step (``other``, greetings and closings).
    skipped, support
        Share of the workflow's conversations missing / showing each step.
    max_edges, min_share
        At most this many transitions are drawn, each carrying at least this share of
        the conversations; the rest are counted in a note.
    max_width
        The SVG's width never exceeds this (px); the report's column is about 1100.

    Returns
    -------
    Markup
        One ``<svg>`` element.
    """
    skipped, support = skipped or {}, support or {}
    rows = edges.select("src", "dst", "n").sort(
        ["n", "src", "dst"], descending=[True, False, False]
    )
    n_cases = int(rows.filter(pl.col("src") == START)["n"].sum()) or int(rows["n"].sum())
    keep = rows.filter(pl.col("n") >= max(1.0, min_share * n_cases)).head(max_edges)
    hidden = rows.height - keep.height
    documented = set(sop.step_ids) if sop else set()
    observed = set(rows["src"].to_list()) | set(rows["dst"].to_list())
    drawn_steps = set(keep["src"].to_list()) | set(keep["dst"].to_list())
    nodes = (drawn_steps | documented) - {START, END}
    kinds = {s: _node_kind(s, neutral=neutral, documented=documented, sop=sop) for s in nodes}
    doc_edges = _documented_edges(sop) if sop else set()
    before = _ancestors(sop) if sop else {}
    drawn = [
        _Edge(s, d, int(n), _edge_kind(s, d, kinds=kinds, documented=doc_edges, before=before))
        for s, d, n in keep.iter_rows()
    ]
    if sop is not None:
        seen = set(zip(rows["src"].to_list(), rows["dst"].to_list(), strict=True))
        drawn += [
            _Edge(a, b, 0, "expected")
            for a, b in sorted(doc_edges)
            if (a, b) not in seen and a in nodes and b in nodes
        ]
    order = [START, *_order(nodes, drawn, positions, sop), END]
    max_n = max((e.n for e in drawn), default=1) or 1
    marker = (2.0 * _MARKER_R, 2.0 * _MARKER_R)
    layout = layered_layout(
        {s: marker if s in (START, END) else (_NODE_W, _NODE_H) for s in order},
        [(e.src, e.dst) for e in drawn],
        order=order,
        lead=frozenset(documented & nodes),
        weights=[_pull(e, max_n) for e in drawn],
        max_width=max_width,
    )
    hidden_n = int(rows["n"].sum() - keep["n"].sum())
    note = f"{hidden} rarer transitions ({hidden_n:,} in all) not drawn" if hidden else ""
    width = max(layout.width, 6.0 * len(note) + 32)
    height = layout.height + (_NOTE_H if note else 0)
    scale = min(1.0, max_width / width)
    parts = [
        f'<svg class="graph" width="{coord(width * scale)}" height="{coord(height * scale)}" '
        f'viewBox="0 0 {coord(width)} {coord(height)}" role="img">'
    ]
    parts += _edges_svg(drawn, layout, sop=sop)
    for step in layout.order:
        parts.append(
            _node_svg(
                step,
                at=layout.centres[step],
                kind=kinds.get(step, "marker"),
                label=labels.get(step, step),
                skipped=skipped.get(step),
                support=support.get(step),
                unseen=step in documented and step not in observed,
                role=_role(sop, step),
            )
        )
    if note:
        parts.append(f'<text class="note" x="16" y="{coord(height - 10)}">{esc(note)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _pull(e: _Edge, max_n: int) -> float:
    """Return how straight to draw an edge: the documented path most, then by count."""
    if e.kind == "documented":
        return 30.0
    return 2.0 if e.kind == "expected" else 1.0 + 2.0 * e.n / max_n


def _role(sop: Sop | None, step: str) -> str | None:
    """``approval gate`` or ``optional`` for such documented steps, else None."""
    if sop is None or step not in sop.step_ids:
        return None
    documented = sop.step(step)
    return "approval gate" if documented.when else None if documented.mandatory else "optional"


def _edges_svg(drawn: Sequence[_Edge], layout: Layout, *, sop: Sop | None) -> list[str]:
    """Draw the edges, the busiest on top, each with its count where that covers no box."""
    max_n = max((e.n for e in drawn), default=1) or 1
    widths = [_stroke(e, max_n, sop=sop) for e in drawn]
    busiest = sorted(range(len(drawn)), key=lambda k: (-drawn[k].n, k))  # labelled first
    spots = label_spots(
        [layout.routes[k] for k in busiest],
        list(layout.boxes.values()),
        [(6.0 * len(f"{drawn[k].n:,}") + 4, 12.0) if drawn[k].n else None for k in busiest],
        clear=[widths[k] / 2 + 1 for k in busiest],
        across=layout.across,
    )
    spot = dict(zip(busiest, spots, strict=True))
    out = []
    for k in reversed(busiest):
        e, width = drawn[k], widths[k]
        title = f"{e.src} → {e.dst}: " + (f"{e.n:,} times" if e.n else "documented, never observed")
        route, head = _arrowed(layout.routes[k], 5 + 1.2 * width)
        count = ""
        if spot[k]:
            x, y = spot[k]
            count = f'<text class="count" x="{coord(x)}" y="{coord(y + 3.5)}">{e.n:,}</text>'
        out.append(
            f'<g class="edge e-{e.kind}"><title>{esc(title)}</title>'
            f'<path d="{_path(route)}" fill="none" stroke-width="{coord(width)}"/>{head}{count}</g>'
        )
    return out


def _stroke(e: _Edge, max_n: int, *, sop: Sop | None) -> float:
    """Return an edge's width: the documented path thick, each edge by its count."""
    ratio = math.sqrt(e.n / max_n)
    if e.kind == "expected":
        return 2.5
    if e.kind == "documented":
        return 3.5 + 3.0 * ratio
    return 1.0 + (4.0 if sop is None else 2.0) * ratio


def _path(route: Sequence[Segment]) -> str:
    """Return SVG path data: ``M`` once, then ``L`` for each line and ``C`` for each cubic."""
    d = ["M" + _xy(route[0][0])]
    for p0, c1, c2, p1 in route:
        d.append("L" + _xy(p1) if (c1, c2) == (p0, p1) else f"C{_xy(c1)} {_xy(c2)} {_xy(p1)}")
    return " ".join(d)


def _xy(p: Point) -> str:
    return f"{coord(p[0])},{coord(p[1])}"


def _arrowed(route: Sequence[Segment], size: float) -> tuple[list[Segment], str]:
    """Return the route, its end drawn back under an arrowhead of ``size``, and the head."""
    p0, c1, c2, tip = route[-1]
    back = c2 if c2 != tip else p0
    norm = math.hypot(tip[0] - back[0], tip[1] - back[1]) or 1.0
    ux, uy = (tip[0] - back[0]) / norm, (tip[1] - back[1]) / norm
    bx, by = tip[0] - ux * size, tip[1] - uy * size
    corners = (
        tip,
        (bx - uy * size / 2, by + ux * size / 2),
        (bx + uy * size / 2, by - ux * size / 2),
    )
    short = min(size * 0.6, norm)
    end = (tip[0] - ux * short, tip[1] - uy * short)
    last = (p0, c1, end, end) if c2 == tip and c1 == p0 else (p0, c1, c2, end)
    head = f'<polygon class="head" points="{" ".join(_xy(p) for p in corners)}"/>'
    return [*route[:-1], last], head


def _wrap(label: str, n: int = _LINE_CHARS, lines: int = 2) -> list[str]:
    """Cut a label into at most ``lines`` lines of ``n`` characters, ``…`` where cut.

    Lines break between words, or after an underscore in a long identifier; a word
    longer than a line is cut.
    """
    words = label.replace("_", "_ ").split()
    out: list[str] = []
    for i, word in enumerate(words):
        joint = "" if not out or out[-1].endswith("_") else " "
        if out and len(out[-1]) + len(joint) + len(word) <= n:
            out[-1] += joint + word
        elif len(out) < lines:
            out.append(word)
        else:
            out[-1] = shorten(out[-1] + joint + " ".join(words[i:]).replace("_ ", "_"), n)
            break
    return [shorten(line, n) for line in out] or [""]


def _node_svg(
    step: str,
    *,
    at: Point,
    kind: str,
    label: str,
    skipped: float | None,
    support: float | None,
    unseen: bool,
    role: str | None,
) -> str:
    x, y = at
    if step in (START, END):
        name = "start" if step == START else "end"
        return (
            f'<g class="node n-marker"><title>{name}</title>'
            f'<circle cx="{coord(x)}" cy="{coord(y)}" r="{_MARKER_R}"/>'
            f'<text x="{coord(x)}" y="{coord(y + 4)}">{esc(step)}</text></g>'
        )
    facts = []
    if support is not None:
        facts.append(f"in {as_percent(support)}")
    if skipped:
        facts.append(f"skipped {as_percent(skipped)}")
    if unseen:
        facts.append("never seen")
    if role:
        facts.append(role)
    if kind == "undocumented":
        facts.append("not in SOP")
    dashed = kind == "documented" and (unseen or (skipped or 0.0) >= SKIPPED_OFTEN)
    classes = f"node n-{kind}" + (" n-skipped" if dashed else "")
    title = step if label == step else f"{step}: {label}"
    sub = " · ".join(facts)
    lines = _wrap(label)
    top = y - (13 * len(lines) + (12 if sub else 0)) / 2 + 10  # the first baseline
    texts = [
        f'<text x="{coord(x)}" y="{coord(top + 13 * i)}">{esc(line)}</text>'
        for i, line in enumerate(lines)
    ]
    if sub:
        texts.append(
            f'<text class="sub" x="{coord(x)}" y="{coord(top + 13 * len(lines))}">'
            f"{esc(shorten(sub, 24))}</text>"
        )
    return (
        f'<g class="{classes}"><title>{esc(title)}{esc(" (" + sub + ")") if sub else ""}</title>'
        f'<rect x="{coord(x - _NODE_W / 2)}" y="{coord(y - _NODE_H / 2)}" width="{_NODE_W}" '
        f'height="{_NODE_H}" rx="6"/>' + "".join(texts) + "</g>"
    )
