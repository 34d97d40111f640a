"""Inline SVG of a workflow's process graph for the HTML report.

The small charts (drift series, sparklines, intervals) are in
:mod:`pipeline.report.series`. :func:`process_graph_svg` returns a
:class:`markupsafe.Markup` holding one ``<svg>`` element, with all text from data
escaped here (step names and labels can hold anything). The SVG has no ``xmlns``
(inline SVG in HTML needs none), no ids (several graphs share one page) and no external
references; colours come from CSS classes that the report's stylesheet defines, so the
charts follow the page's styling.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import polars as pl
from markupsafe import Markup

from pipeline.process.log import END, START
from pipeline.report.svg import as_percent, coord, esc, shorten
from pipeline.sops.model import Sop

# Process graph geometry (px): one column per step, in typical position order.
_NODE_W, _NODE_H, _MARKER_R, _GAP, _MARGIN = 122, 40, 12, 34, 16
_ARC_BASE, _ARC_STEP, _ARC_MAX = 44, 26, 200
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
    """Sort steps by typical position (0..1); one without sits among its neighbours."""
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
    return sorted(nodes, key=lambda s: (key[s], s))


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
) -> Markup:
    """Draw a workflow's directly-follows graph against its documented SOP.

    Steps stand in one row, left to right in typical position order, between the start
    ``▶`` and end ``■`` markers. Transitions to the next column are straight; longer
    forward ones arc above, backward ones (loops, rework) arc below; width grows with
    the count, which is written on each. Colours (CSS classes): documented transitions
    ``e-documented``, order violations ``e-order``, transitions touching an undocumented
    step ``e-undocumented``, others ``e-other``; documented transitions never observed
    are dashed (``e-expected``). Documented steps skipped in at least
    :data:`SKIPPED_OFTEN` of conversations, or never seen, are dashed (``n-skipped``).

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
    column = {s: i for i, s in enumerate(order)}
    max_n = max((e.n for e in drawn), default=1) or 1

    def arc(e: _Edge) -> float:
        span = abs(column[e.dst] - column[e.src])
        return min(_ARC_BASE + _ARC_STEP * max(span - 2, 0), _ARC_MAX)

    up = max((arc(e) for e in drawn if column[e.dst] > column[e.src] + 1), default=0.0)
    down = max((arc(e) for e in drawn if column[e.dst] <= column[e.src]), default=0.0)
    y = _MARGIN + up / 2 + 14 + _NODE_H / 2
    half = {s: _MARKER_R if s in (START, END) else _NODE_W / 2 for s in order}
    xs, x = {}, float(_MARGIN)
    for step in order:  # centres: each box, then a gap for the count
        xs[step] = x + half[step]
        x += 2 * half[step] + _GAP
    width = x - _GAP + _MARGIN
    height = y + _NODE_H / 2 + down / 2 + 14 + 22 + _MARGIN
    parts = [
        f'<svg class="graph" width="{coord(width)}" height="{coord(height)}" '
        f'viewBox="0 0 {coord(width)} {coord(height)}" role="img">'
    ]
    for e in sorted(drawn, key=lambda e: e.n):  # big edges on top
        parts.append(_edge_svg(e, column, xs, half, y=y, max_n=max_n, arc=arc(e)))
    for step in order:
        parts.append(
            _node_svg(
                step,
                x=xs[step],
                y=y,
                kind=kinds.get(step, "marker"),
                label=labels.get(step, step),
                skipped=skipped.get(step),
                support=support.get(step),
                unseen=step in documented and step not in observed,
                role=_role(sop, step),
            )
        )
    if hidden:
        hidden_n = int(rows["n"].sum() - keep["n"].sum())
        parts.append(
            f'<text class="note" x="{_MARGIN}" y="{coord(height - _MARGIN)}">{hidden} rarer '
            f"transitions ({hidden_n:,} in all) not drawn</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def _role(sop: Sop | None, step: str) -> str | None:
    """``approval gate`` or ``optional`` for such documented steps, else None."""
    if sop is None or step not in sop.step_ids:
        return None
    documented = sop.step(step)
    return "approval gate" if documented.when else None if documented.mandatory else "optional"


def _edge_svg(
    e: _Edge,
    column: Mapping[str, int],
    xs: Mapping[str, float],
    half: Mapping[str, float],
    *,
    y: float,
    max_n: int,
    arc: float,
) -> str:
    x0, x1, half_h = xs[e.src], xs[e.dst], _NODE_H / 2
    straight = column[e.dst] == column[e.src] + 1
    if straight:  # neighbours
        p0, p2 = (x0 + half[e.src], y), (x1 - half[e.dst] - 2, y)
        c = ((p0[0] + p2[0]) / 2, y)
    elif column[e.dst] > column[e.src]:  # forward jump: above
        p0, p2 = (x0 + 12, y - half_h), (x1 - 12, y - half_h - 2)
        c = ((p0[0] + p2[0]) / 2, y - half_h - arc)
    elif e.src == e.dst:  # self-loop: a short arc below the node
        p0, p2 = (x0 - 16, y + half_h), (x0 + 16, y + half_h + 2)
        c = (x0, y + half_h + arc)
    else:  # backward: below
        p0, p2 = (x0 - 12, y + half_h), (x1 + 12, y + half_h + 2)
        c = ((p0[0] + p2[0]) / 2, y + half_h + arc)
    width = 1.0 + 4.0 * math.sqrt(e.n / max_n) if e.n else 1.2
    path = (
        f"M{coord(p0[0])},{coord(p0[1])} Q{coord(c[0])},{coord(c[1])} {coord(p2[0])},{coord(p2[1])}"
    )
    title = f"{e.src} → {e.dst}: " + (f"{e.n:,} times" if e.n else "documented, never observed")
    out = [
        f'<g class="edge e-{e.kind}"><title>{esc(title)}</title>'
        f'<path d="{path}" fill="none" stroke-width="{coord(width)}"/>' + _arrow(c, p2, 4 + width)
    ]
    if e.n:
        mx, my = (p0[0] + 2 * c[0] + p2[0]) / 4, (p0[1] + 2 * c[1] + p2[1]) / 4
        my -= 7 if straight else 3  # above a straight edge, on an arc's crest
        out.append(f'<text class="count" x="{coord(mx)}" y="{coord(my)}">{e.n:,}</text>')
    out.append("</g>")
    return "".join(out)


def _arrow(c: tuple[float, float], tip: tuple[float, float], size: float) -> str:
    dx, dy = tip[0] - c[0], tip[1] - c[1]
    norm = math.hypot(dx, dy) or 1.0
    ux, uy = dx / norm, dy / norm
    bx, by = tip[0] - ux * size, tip[1] - uy * size
    left = (bx - uy * size / 2, by + ux * size / 2)
    right = (bx + uy * size / 2, by - ux * size / 2)
    points = " ".join(f"{coord(px)},{coord(py)}" for px, py in (tip, left, right))
    return f'<polygon class="head" points="{points}"/>'


def _node_svg(
    step: str,
    *,
    x: float,
    y: float,
    kind: str,
    label: str,
    skipped: float | None,
    support: float | None,
    unseen: bool,
    role: str | None,
) -> str:
    if step in (START, END):
        name = "start" if step == START else "end"
        return (
            f'<g class="node n-marker"><title>{name}</title>'
            f'<circle cx="{coord(x)}" cy="{coord(y)}" r="12"/>'
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
    return (
        f'<g class="{classes}"><title>{esc(title)}{esc(" (" + sub + ")") if sub else ""}</title>'
        f'<rect x="{coord(x - _NODE_W / 2)}" y="{coord(y - _NODE_H / 2)}" width="{_NODE_W}" '
        f'height="{_NODE_H}" rx="6"/>'
        f'<text x="{coord(x)}" y="{coord(y - 3 if sub else y + 4)}">{esc(shorten(label))}</text>'
        + (
            f'<text class="sub" x="{coord(x)}" y="{coord(y + 12)}">{esc(shorten(sub, 24))}</text>'
            if sub
            else ""
        )
        + "</g>"
    )
