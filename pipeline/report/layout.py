"""Where a process graph's boxes, edges and counts go: a layered (Sugiyama) layout.

grandalf ranks the graph, back edges reversed, into layers, orders each layer to reduce
crossings, puts a dummy vertex in every layer a long edge passes, and gives first places
(Brandes and Köpf); sweeps then straighten the heavy paths and the long edges. Layers
are apart by empty channels, so an edge routed as here touches no box but its own two:
in a channel, a cubic Bézier tangent to the layers' axis at both ends (it stays between
the channel's sides); through a layer, a straight line at its dummy's place, which
keeps its distance from the layer's boxes. Inside, points are (along the axis, across
it), turned into (x, y) for columns read left to right or rows read top down.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

from grandalf.graphs import Edge, Vertex, graph_core
from grandalf.layouts import SugiyamaLayout, VertexViewer

Point = tuple[float, float]
Segment = tuple[Point, Point, Point, Point]  # a cubic Bézier; a line has c1 == p0, c2 == p1
Rect = tuple[float, float, float, float]  # left, top, right, bottom

MARGIN = 16.0
GAP = {True: 56.0, False: 44.0}  # channel between layers: columns | rows
SPACE = {True: 18.0, False: 26.0}  # between neighbours in a layer: columns | rows
LOOP = 22.0  # a self-loop's room beside its box
_DUMMY = 4.0  # the room a long edge takes in a layer it passes
_ROUNDS = 3  # crossing-reduction sweeps, down and up: O(rounds x edges x layer width)
_SWEEPS = 12  # placement sweeps over the layers: O(sweeps x (vertices + dummies))
_OMEGA = (1.0, 2.0, 40.0)  # pull between two vertices, a vertex and a dummy, two dummies
_TIE = 0.5  # pull of a layout-only tie
_NUDGE = 40.0  # how far a layer's others may move for a long edge to run straight (px)
_TRIES = (0.5, 0.35, 0.65, 0.2, 0.8)  # where on a segment a label may go, first to last


@dataclass(frozen=True)
class Layout:
    """A placed graph: box centres, one route per edge, and the drawing's size (px)."""

    width: float
    height: float
    across: bool  # True: layers are columns, read left to right; False: rows, top down
    centres: dict[str, Point]
    boxes: dict[str, Rect]  # each box's (left, top, right, bottom)
    routes: tuple[tuple[Segment, ...], ...]  # per edge, from its source to its target
    order: tuple[str, ...]  # the vertices layer by layer, each layer in reading order


def layered_layout(
    sizes: Mapping[str, Point],
    edges: Sequence[tuple[str, str]],
    *,
    order: Sequence[str],
    lead: Collection[str] = (),
    weights: Sequence[float] | None = None,
    max_width: float = 1100.0,
) -> Layout:
    """Lay a directed graph out in layers: columns when they fit ``max_width``, else rows.

    Parameters
    ----------
    sizes
        Width and height of each vertex's box, for every vertex of ``order``.
    edges
        ``(src, dst)`` pairs, each at most once; a self-loop is drawn beside its box.
    order
        Every vertex in reading order, the first (the start) alone in the first layer
        and the last (the end) alone in the last: an edge going back in this order is a
        back edge, reversed for layering; a vertex without an edge in (out) is tied to
        the vertex before (after) it by an edge that is not drawn.
    lead
        Vertices that start their layer before crossing reduction (the documented path).
    weights
        How straight to draw each edge (default 1): places in the layers minimise the
        sum of weight times squared offset between the vertices an edge links.
    max_width
        Widest drawing wanted: layers as columns when they fit, else as rows; when
        neither fits, the narrower of the two (the caller scales it down).

    Returns
    -------
    Layout
    """
    rank = {v: i for i, v in enumerate(order)}
    vertices = {v: Vertex(v) for v in order}
    for v in vertices.values():
        v.view = VertexViewer(1.0, 1.0)
    pairs = [(a, b) if rank[a] < rank[b] else (b, a) for a, b in edges]
    grand = {k: Edge(vertices[a], vertices[b]) for k, (a, b) in enumerate(pairs) if a != b}
    for k, (a, b) in enumerate(sorted(_ties(order, pairs)), start=len(edges)):
        grand[k] = Edge(vertices[a], vertices[b])
    sug = SugiyamaLayout(graph_core(list(vertices.values()), list(grand.values())))
    sug.dw = sug.dh = _DUMMY
    sug.init_all(roots=[vertices[order[0]]], inverted_edges=[])
    first = set(lead)
    for layer in sug.layers:  # seed: the lead path first, then reading order, then dummies
        layer.sort(key=lambda v: (v.data not in first, rank[v.data]) if _real(v) else (2, 0))
        layer.setup(sug)
    for _ in range(_ROUNDS):
        for _step in sug.ordering_step():
            pass
    chains = {}  # per edge: its vertices and dummies, in layer order
    for k, e in grand.items():
        ctrl = sug.ctrls.get(e, {})
        chains[k] = [e.v[0], *(ctrl[r] for r in sorted(ctrl)[1:-1]), e.v[1]]
    weight = {k: (weights[k] if weights else 1.0) if k < len(edges) else _TIE for k in chains}
    loops = {a for a, b in edges if a == b}
    placed = _Placed(sug, sizes, chains, weight, loops, len(edges), across=True)
    if placed.length > max_width:
        rows = _Placed(sug, sizes, chains, weight, loops, len(edges), across=False)
        # rows when they fit; when neither fits, the narrower (the caller scales it down)
        placed = rows if rows.depth <= max_width or rows.depth < placed.length else placed
    return placed.layout(edges)


def _real(v: object) -> bool:
    """Whether a layout vertex is a step's (not a dummy)."""
    return hasattr(v, "data")


def _ties(order: Sequence[str], pairs: Sequence[tuple[str, str]]) -> set[tuple[str, str]]:
    """Layout-only edges: a vertex with no edge in (out) is tied to its neighbour in order.

    They keep the graph connected, the first vertex alone in the first layer and the
    last alone in the last.
    """
    has_in = {b for a, b in pairs if a != b}
    has_out = {a for a, b in pairs if a != b}
    ties = {(order[i - 1], v) for i, v in enumerate(order) if i and v not in has_in}
    return ties | {(v, order[i + 1]) for i, v in enumerate(order[:-1]) if v not in has_out}


class _Placed:
    """grandalf's layers placed one way (columns or rows): places, ports and routes."""

    def __init__(
        self,
        sug: SugiyamaLayout,
        sizes: Mapping[str, Point],
        chains: Mapping[int, list[object]],  # per edge (and tie): vertices and dummies
        weight: Mapping[int, float],
        loops: set[str],
        n_edges: int,  # chains from here on are ties, never drawn
        *,
        across: bool,
    ):
        self.sug, self.sizes, self.chains, self.across = sug, sizes, chains, across
        self.drawn = [k for k in sorted(chains, key=lambda k: -weight[k]) if k < n_edges]
        everything = [v for layer in sug.layers for v in layer]
        self.room = {
            v: self.size(v)[1] + (2 * LOOP if getattr(v, "data", None) in loops else 0)
            for v in everything
        }
        bands = [max(self.size(v)[0] for v in layer) for layer in sug.layers]
        self.length = sum(bands) + GAP[across] * (len(bands) - 1) + 2 * MARGIN
        self.along, self.band, pos = {}, {}, MARGIN
        for layer, band in zip(sug.layers, bands, strict=True):
            self.along |= dict.fromkeys(layer, pos + band / 2)
            self.band |= dict.fromkeys(layer, band / 2)
            pos += band + GAP[across]
        pulls: dict[object, list[tuple[object, float]]] = {v: [] for v in everything}
        for k, chain in chains.items():
            for u, v in zip(chain, chain[1:], strict=False):
                w = weight[k] * _OMEGA[(not _real(u)) + (not _real(v))]
                pulls[u].append((v, w))
                pulls[v].append((u, w))
        at = self._sweep(pulls)
        low = min(at[v] - self.room[v] / 2 for v in at)
        self.at = {v: x - low + MARGIN for v, x in at.items()}  # the place across, in the layer
        self.depth = max(x + self.room[v] / 2 for v, x in self.at.items()) + MARGIN

    def size(self, v: object) -> Point:
        """(along, across) size of a vertex's box; a dummy has no length."""
        if not _real(v):
            return 0.0, _DUMMY
        w, h = self.sizes[v.data]
        return (w, h) if self.across else (h, w)

    def _sweep(self, pulls: Mapping[object, list[tuple[object, float]]]) -> dict[object, float]:
        """Place every vertex and dummy in its layer.

        grandalf's places (Brandes and Köpf) are the start; each sweep then moves one
        layer after the other to its best places given the others' (least weighted
        squared offsets along the links, in order and spaced); last, each drawn long
        edge's dummies go on one line, the straightest wanted first.
        """
        for v, r in self.room.items():
            v.view.w = r
        self.sug.xspace = SPACE[self.across]
        self.sug.setxy()
        at = {v: v.view.xy[0] for v in self.room}
        for sweep in range(_SWEEPS):
            for layer in self.sug.layers[:: 1 if sweep % 2 == 0 else -1]:
                wanted = []
                for v in layer:
                    total = sum(w for _, w in pulls[v])
                    mean = sum(w * at[u] for u, w in pulls[v]) / total if total else at[v]
                    wanted.append((mean, total or 1e-3))
                at.update(zip(layer, _spaced(wanted, self._gaps(layer)), strict=True))
        pinned: set[object] = set()
        for k in self.drawn:
            self._straighten(self.chains[k][1:-1], at, pinned)
        return at

    def _gaps(self, layer: Sequence[object]) -> list[float]:
        space = SPACE[self.across]
        return [
            (self.room[a] + self.room[b]) / 2 + space
            for a, b in zip(layer, layer[1:], strict=False)
        ]

    def _straighten(self, run: Sequence[object], at: dict[object, float], pinned: set) -> None:
        """Put a long edge's dummies on one line, moving their layers' others a little.

        The line is the nearest to the dummies' median that their neighbours leave room
        for; where none does by at most :data:`_NUDGE`, the neighbours make room (dummies
        already on a line, ``pinned``, move least); beyond that the edge keeps its bends.
        """
        low, high, room, space = -1e9, 1e9, self.room, SPACE[self.across]
        for d in run:
            layer, i = self.sug.layers[self.sug.grx[d].rank], self.sug.grx[d].pos
            if i:
                low = max(low, at[layer[i - 1]] + (room[layer[i - 1]] + room[d]) / 2 + space)
            if i + 1 < len(layer):
                high = min(high, at[layer[i + 1]] - (room[layer[i + 1]] + room[d]) / 2 - space)
        if len(run) < 2 or low > high + _NUDGE:
            return
        median = sorted(at[d] for d in run)[len(run) // 2]
        line = min(max(median, low), high) if low <= high else (low + high) / 2
        at.update(dict.fromkeys(run, line))
        pinned.update(run)
        for d in run:
            layer = self.sug.layers[self.sug.grx[d].rank]
            wanted = [(at[v], 1e6 if v in pinned else 1.0) for v in layer]
            at.update(zip(layer, _spaced(wanted, self._gaps(layer)), strict=True))

    def layout(self, edges: Sequence[tuple[str, str]]) -> Layout:
        """Return the placed graph in (x, y), each edge routed from source to target."""
        ports, routes = self._ports(), []
        for k, (src, dst) in enumerate(edges):
            if src == dst:
                v = next(v for v in self.at if getattr(v, "data", None) == src)
                routes.append((_loop(self.along[v], self.at[v], self.size(v), self.across),))
                continue
            segs, chain, prev = [], self.chains[k], None
            for v in chain:  # a dummy has no length: two lines through its layer
                a, half, band = self.along[v], self.size(v)[0] / 2, self.band[v]
                c_in, c_out = (self.at[v] + ports.get((k, v, side), 0.0) for side in (-1, 1))
                if prev:
                    segs += [
                        _curve(prev, (a - band, c_in)),
                        _line((a - band, c_in), (a - half, c_in)),
                    ]
                segs.append(_line((a + half, c_out), (a + band, c_out)))
                prev = (a + band, c_out)
            segs = [s for s in segs[:-1] if s[0] != s[3]]
            if chain[0].data != src:  # a back edge runs against the layers
                segs = [(s[3], s[2], s[1], s[0]) for s in reversed(segs)]
            routes.append(tuple(tuple(_xy(p, self.across) for p in s) for s in segs))
        real = [v for layer in self.sug.layers for v in sorted(layer, key=self.at.get) if _real(v)]
        return Layout(
            width=self.length if self.across else self.depth,
            height=self.depth if self.across else self.length,
            across=self.across,
            centres={v.data: _xy((self.along[v], self.at[v]), self.across) for v in real},
            boxes={v.data: self._rect(v) for v in real},
            routes=tuple(routes),
            order=tuple(v.data for v in real),
        )

    def _rect(self, v: object) -> Rect:
        (a, c), (s_a, s_c) = (self.along[v], self.at[v]), self.size(v)
        low, high = (
            _xy((a - s_a / 2, c - s_c / 2), self.across),
            _xy((a + s_a / 2, c + s_c / 2), self.across),
        )
        return (*low, *high)

    def _ports(self) -> dict[tuple[int, object, int], float]:
        """Spread the edges meeting one side of a box along it, as their far ends go.

        Keyed by (edge, vertex, -1 entering | +1 leaving along the axis): an offset across.
        """
        sides: dict[tuple[object, int], list[tuple[float, int]]] = {}
        for k in self.drawn:
            chain = self.chains[k]
            sides.setdefault((chain[0], 1), []).append((self.at[chain[1]], k))
            sides.setdefault((chain[-1], -1), []).append((self.at[chain[-2]], k))
        ports = {}
        for (v, side), ends in sides.items():
            length = self.size(v)[1]
            if len(ends) < 2 or length < 30:  # a marker: edges fan out of its centre
                continue
            step = min(9.0 if self.across else 14.0, (length - 14) / (len(ends) - 1))
            for i, (_, k) in enumerate(sorted(ends)):
                ports[(k, v, side)] = (i - (len(ends) - 1) / 2) * step
        return ports


def _spaced(wanted: Sequence[tuple[float, float]], gaps: Sequence[float]) -> list[float]:
    """Return the places nearest the wanted ones (weighted, squared), in order, gaps apart.

    Pool adjacent violators on the places less their cumulative gaps: O(layer width).
    """
    offsets = [0.0]
    for gap in gaps:
        offsets.append(offsets[-1] + gap)
    blocks: list[list[float]] = []  # [weight, weighted sum, count]
    for (x, w), offset in zip(wanted, offsets, strict=True):
        blocks.append([w, w * (x - offset), 1])
        while len(blocks) > 1 and blocks[-2][1] * blocks[-1][0] > blocks[-1][1] * blocks[-2][0]:
            w2, s2, n2 = blocks.pop()
            blocks[-1] = [blocks[-1][0] + w2, blocks[-1][1] + s2, blocks[-1][2] + n2]
    pooled = [s / w for w, s, n in blocks for _ in range(int(n))]
    return [y + offset for y, offset in zip(pooled, offsets, strict=True)]


def _xy(p: Point, across: bool) -> Point:
    return p if across else (p[1], p[0])


def _line(p: Point, q: Point) -> Segment:
    return p, p, q, q


def _curve(p: Point, q: Point) -> Segment:
    """Return a cubic from ``p`` to ``q`` (along, across), tangent to the axis at both."""
    m = (p[0] + q[0]) / 2
    return _line(p, q) if p[1] == q[1] else (p, (m, p[1]), (m, q[1]), q)


def _loop(along: float, at: float, size: Point, across: bool) -> Segment:
    """Return a self-loop beside its box: above it in columns, right of it in rows."""
    side = -1.0 if across else 1.0
    edge, out = at + side * size[1] / 2, at + side * (size[1] / 2 + LOOP * 1.2)
    points = ((along - 10, edge), (along - 18, out), (along + 18, out), (along + 10, edge))
    return tuple(_xy(p, across) for p in points)


def label_spots(
    routes: Sequence[Sequence[Segment]],
    boxes: Sequence[Rect],
    sizes: Sequence[Point | None],
    *,
    clear: Sequence[float],
    across: bool,
) -> list[Point | None]:
    """Place each route's label beside it where it covers no box and no earlier label.

    Routes are served in the order given, the most important first, each from its
    middle segment outwards; a label goes above its route in columns, right of it in
    rows, ``clear`` px from its centre line (half the stroke and a gap). ``sizes``: each
    label's width and height (None: no label). Returns each label's centre, None where
    no place is free.
    """
    taken = [(x0 - 1, y0 - 1, x1 + 1, y1 + 1) for x0, y0, x1, y1 in boxes]
    spots: list[Point | None] = []
    for route, size, gap in zip(routes, sizes, clear, strict=True):
        mid = (len(route) - 1) / 2
        order = sorted(range(len(route)), key=lambda i: (route[i][0] == route[i][1], abs(i - mid)))
        tries = (_beside(route[i], t, size, gap, across) for i in order for t in _TRIES)
        spots.append(next((p for p in tries if _free(p, size, taken)), None) if size else None)
    return spots


def _beside(s: Segment, t: float, size: Point, gap: float, across: bool) -> Point:
    """Return the centre of a label beside a cubic at ``t``: above it, or right of it."""
    u = 1 - t
    w = (u**3, 3 * u * u * t, 3 * u * t * t, t**3)
    x, y = (sum(k * p[i] for k, p in zip(w, s, strict=True)) for i in (0, 1))
    if s[1] == s[0]:  # a line
        dx, dy = s[3][0] - s[0][0], s[3][1] - s[0][1]
    else:  # the cubic's derivative
        dx, dy = (
            3 * u * u * (s[1][i] - s[0][i])
            + 6 * u * t * (s[2][i] - s[1][i])
            + 3 * t * t * (s[3][i] - s[2][i])
            for i in (0, 1)
        )
    norm = (dx * dx + dy * dy) ** 0.5 or 1.0
    nx, ny = -dy / norm, dx / norm
    if (ny > 0) if across else (nx < 0):  # the normal pointing up (columns) or right (rows)
        nx, ny = -nx, -ny
    reach = abs(nx) * size[0] / 2 + abs(ny) * size[1] / 2 + gap
    return x + nx * reach, y + ny * reach


def _free(p: Point, size: Point, taken: list[Rect]) -> bool:
    """Whether a label of ``size`` centred at ``p`` meets nothing taken; take it if so."""
    rect = (p[0] - size[0] / 2, p[1] - size[1] / 2, p[0] + size[0] / 2, p[1] + size[1] / 2)
    if any(rect[0] < o[2] and o[0] < rect[2] and rect[1] < o[3] and o[1] < rect[3] for o in taken):
        return False
    taken.append(rect)
    return True
