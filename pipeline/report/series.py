"""Small inline SVG charts for the HTML report: drift series, sparklines, intervals, volume.

Every function returns a :class:`markupsafe.Markup` holding one ``<svg>`` element, with
all text from data escaped; colours come from the report stylesheet's CSS classes.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import date

from markupsafe import Markup

from pipeline.report.svg import as_percent, coord, esc, shorten

TIER_CLASSES = {"autonomous": "t-auto", "human-led": "t-human"}  # CSS class; else t-gate


def series_svg(
    windows: Sequence[date],
    values: Sequence[float],
    *,
    baseline: float | None = None,
    flagged: Collection[date] = (),
    percent: bool = True,
    title: str = "",
) -> Markup:
    """Draw a small line chart of a rate per window, with the baseline dashed.

    Flagged windows are drawn as filled red points (CSS class ``pt-flag``); the x axis
    names the first and last window, the y axis its maximum.
    """
    width, height, left, right, top, bottom = 340, 130, 44, 10, 12, 22
    fmt = as_percent if percent else (lambda v: f"{v:.3g}")
    top_value = max([*values, baseline or 0.0, 1e-9]) * 1.15
    inner_w, inner_h = width - left - right, height - top - bottom

    def px(i: int) -> float:
        return left + (inner_w / 2 if len(values) == 1 else inner_w * i / (len(values) - 1))

    def py(v: float) -> float:
        return top + inner_h * (1 - v / top_value)

    parts = [
        f'<svg class="chart" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img"><title>{esc(title)}</title>',
        f'<line class="axis" x1="{left}" y1="{coord(py(0))}" x2="{width - right}" '
        f'y2="{coord(py(0))}"/>',
        f'<text class="tick" x="{left - 4}" y="{coord(py(top_value) + 8)}" text-anchor="end">'
        f"{esc(fmt(top_value))}</text>",
        f'<text class="tick" x="{left - 4}" y="{coord(py(0))}" text-anchor="end">'
        f"{esc(fmt(0.0))}</text>",
    ]
    if baseline is not None:
        parts.append(
            f'<line class="baseline" x1="{left}" y1="{coord(py(baseline))}" x2="{width - right}" '
            f'y2="{coord(py(baseline))}"><title>baseline {esc(fmt(baseline))}</title></line>'
        )
    if len(values) > 1:
        points = " ".join(f"{coord(px(i))},{coord(py(v))}" for i, v in enumerate(values))
        parts.append(f'<polyline class="line" points="{points}"/>')
    for i, (window, value) in enumerate(zip(windows, values, strict=True)):
        cls = "pt pt-flag" if window in flagged else "pt"
        parts.append(
            f'<circle class="{cls}" cx="{coord(px(i))}" cy="{coord(py(value))}" r="3.5">'
            f"<title>{esc(f'{window}: {fmt(value)}')}</title></circle>"
        )
    if windows:
        parts.append(
            f'<text class="tick" x="{left}" y="{height - 6}">{esc(windows[0])}</text>'
            f'<text class="tick" x="{width - right}" y="{height - 6}" text-anchor="end">'
            f"{esc(windows[-1])}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def sparkline_svg(values: Sequence[float], *, title: str = "") -> Markup:
    """Draw a 120 x 28 trend line (weekly counts); the last point is marked."""
    width, height, pad = 120, 28, 3
    top = max([*values, 1e-9])
    step = (width - 2 * pad) / max(len(values) - 1, 1)
    points = [
        (pad + i * step, height - pad - (height - 2 * pad) * v / top) for i, v in enumerate(values)
    ]
    parts = [
        f'<svg class="spark" width="{width}" height="{height}" role="img">'
        f"<title>{esc(title)}</title>"
    ]
    if len(points) > 1:
        parts.append(
            '<polyline class="line" points="'
            + " ".join(f"{coord(x)},{coord(y)}" for x, y in points)
            + '"/>'
        )
    if points:
        parts.append(
            f'<circle class="pt" cx="{coord(points[-1][0])}" cy="{coord(points[-1][1])}" r="2"/>'
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def interval_svg(score: float, low: float, high: float, *, tier: str) -> Markup:
    """Draw a 0-100 scale with the score's interval as a band and the score as a tick."""
    width, height, pad = 150, 16, 4

    def px(v: float) -> float:
        return pad + (width - 2 * pad) * min(max(v, 0.0), 100.0) / 100.0

    tier_class = TIER_CLASSES.get(tier, "t-gate")
    return Markup(
        f'<svg class="interval {tier_class}" width="{width}" height="{height}" role="img">'
        f"<title>{esc(f'score {score:.0f} (interval {low:.0f}-{high:.0f}) of 100')}</title>"
        f'<rect class="track" x="{pad}" y="6" width="{width - 2 * pad}" height="4" rx="2"/>'
        f'<rect class="band" x="{coord(px(low))}" y="3" '
        f'width="{coord(max(px(high) - px(low), 2))}" '
        f'height="10" rx="3"/>'
        f'<rect class="tick" x="{coord(px(score) - 1)}" y="1" width="2" height="14"/></svg>'
    )


def volume_readiness_svg(
    points: Sequence[tuple[str, float, float, str]], *, title: str = ""
) -> Markup:
    """Draw volume against readiness: one point per workflow, coloured by its tier.

    Parameters
    ----------
    points
        ``(name, score 0-100, conversations per month, tier)`` per workflow.

    Each point is labelled with its shortened name and carries its full name, score,
    volume and tier as a tooltip; the x axis runs 0-100, the y axis from 0 to the
    largest volume.
    """
    width, height, left, right, top, bottom = 560, 300, 56, 96, 22, 34
    inner_w, inner_h = width - left - right, height - top - bottom
    top_value = max([v for _, _, v, _ in points] + [1e-9]) * 1.1

    def px(score: float) -> float:
        return left + inner_w * min(max(score, 0.0), 100.0) / 100.0

    def py(volume: float) -> float:
        return top + inner_h * (1 - volume / top_value)

    parts = [
        f'<svg class="chart scatter" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" role="img"><title>{esc(title)}</title>',
        f'<line class="axis" x1="{left}" y1="{coord(py(0))}" x2="{width - right}" '
        f'y2="{coord(py(0))}"/><line class="axis" x1="{left}" y1="{top}" x2="{left}" '
        f'y2="{coord(py(0))}"/>',
    ]
    for score in (0, 50, 100):
        parts.append(
            f'<text class="tick" x="{coord(px(score))}" y="{coord(py(0) + 13)}" '
            f'text-anchor="middle">{score}</text>'
        )
    parts.append(
        f'<text class="tick" x="{coord(left + inner_w / 2)}" y="{height - 4}" '
        'text-anchor="middle">readiness score (0-100)</text>'
        f'<text class="tick" x="{left - 4}" y="{coord(py(0))}" text-anchor="end">0</text>'
        f'<text class="tick" x="{left - 4}" y="{coord(py(top_value) + 8)}" text-anchor="end">'
        f"{esc(f'{top_value:,.0f}')}</text>"
        f'<text class="tick" x="4" y="{top - 4}">conversations / month</text>'
    )
    placed: list[tuple[float, float, float]] = []  # label boxes: left, right, baseline
    for name, score, volume, tier in sorted(points, key=lambda p: -p[2]):
        x, y, label = px(score), py(volume), shorten(name)
        span = 5.5 * len(label)  # ~ px per character at the tick font size
        # beside the point, right then left, level, above or below: the first free place
        tries = [(x + 7, y + dy, "start") for dy in (3, -6, 12)]
        tries += [(x - 7, y + dy, "end") for dy in (3, -6, 12)]
        for lx, ly, anchor in tries:
            x0 = lx if anchor == "start" else lx - span
            if not any(x0 < b1 and a1 < x0 + span and abs(y1 - ly) < 10 for a1, b1, y1 in placed):
                break
        else:
            lx, ly, anchor = tries[0]
            x0 = lx
        placed.append((x0, x0 + span, ly))
        tip = f"{name}: score {score:.0f}, {volume:,.1f} conversations/month, {tier}"
        parts.append(
            f'<g class="{TIER_CLASSES.get(tier, "t-gate")}"><circle class="pt" '
            f'cx="{coord(x)}" cy="{coord(y)}" r="5"><title>{esc(tip)}</title></circle>'
            f'<text class="tick" x="{coord(lx)}" y="{coord(ly)}" text-anchor="{anchor}">'
            f"{esc(label)}</text></g>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
