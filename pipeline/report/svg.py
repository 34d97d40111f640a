"""Text and numbers as the report's inline SVG writes them: escaped, shortened, rounded."""

from __future__ import annotations

from html import escape

_LABEL_CHARS = 18


def esc(value: object) -> str:
    """Escape text for an SVG text node or attribute value."""
    return escape(str(value), quote=True)


def shorten(text: str, n: int = _LABEL_CHARS) -> str:
    """Cut ``text`` to ``n`` characters, ending with an ellipsis when cut."""
    return text if len(text) <= n else text[: n - 1] + "…"


def coord(x: float) -> str:
    """Format a coordinate with at most one decimal, without trailing zeros."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def as_percent(x: float) -> str:
    """Format a share as a percentage (one decimal below 1%)."""
    return f"{100 * x:.0f}%" if abs(x) >= 0.01 or x == 0 else f"{100 * x:.1f}%"
