"""Template filters of the report: numbers, dates, q-values, and Markdown escaping."""

from __future__ import annotations

import html
import re
from datetime import date, datetime

from markupsafe import Markup, escape


def pct(value: float | None, digits: int = 0) -> str:
    """Format a share as a percentage, or a dash when missing."""
    return "–" if value is None else f"{100 * value:.{digits}f}%"


def num(value: float | None) -> str:
    """Format a count with thousands separators, or a dash when missing."""
    return "–" if value is None else f"{value:,.0f}"


def fixed(value: float | None, digits: int = 2) -> str:
    """Format a number with ``digits`` decimals, or a dash when missing."""
    return "–" if value is None else f"{value:.{digits}f}"


def q(value: float | None) -> str:
    """Format a q-value with its relation: ``= 0.0312`` or ``< 0.0001``."""
    return "not tested" if value is None else "< 0.0001" if value < 1e-4 else f"= {value:.4f}"


def when(value: datetime | date | None) -> str:
    """Format a timestamp (minutes) or a date, or a dash when missing."""
    if value is None:
        return "–"
    return f"{value:%Y-%m-%d %H:%M}" if isinstance(value, datetime) else f"{value:%Y-%m-%d}"


_EMPHASIS = re.compile(r"\*([^*<>]+)\*")


def emphasis(text: str | None) -> Markup:
    """Escape a sentence for HTML, then show its ``*word*`` emphasis in italics."""
    return Markup(_EMPHASIS.sub(r"<em>\1</em>", str(escape(text or ""))))


class MdText(str):
    """Markdown already escaped (by a filter), so the environment prints it as it is."""


_WHITESPACE = re.compile(r"\s+")
_MD_SPECIAL = re.compile(r"([\\`*_\[\]|#])")
_MD_SPECIAL_BUT_STARS = re.compile(r"([\\`_\[\]|#])")


def md(value: object, *, emphasis: bool = False) -> str:
    """Markdown-safe text: HTML-escaped (viewers render raw HTML), specials escaped.

    With ``emphasis``, balanced ``*word*`` pairs are kept as Markdown emphasis.
    """
    text = html.escape(_WHITESPACE.sub(" ", str(value)), quote=False)  # one line
    keep_stars = emphasis and text.count("*") % 2 == 0
    return (_MD_SPECIAL_BUT_STARS if keep_stars else _MD_SPECIAL).sub(r"\\\1", text)


def md_value(value: object) -> str:
    """Escape every value the Markdown template prints (its ``finalize``)."""
    return value if isinstance(value, MdText) else md("" if value is None else value)
