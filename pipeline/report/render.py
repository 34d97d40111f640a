"""Stage 10, report: the HTML report and Markdown summary, built on the SQL views.

:func:`~pipeline.report.views.view_statements` reads ``reports/views/NN_name.sql``
(one ``create or replace view`` a file) for the caller to run;
:func:`~pipeline.report.data.read_report_data` reads the views and a few tables through
a :class:`~pipeline.store.Store`; :func:`render_report` turns that
into one self-contained HTML page (inline CSS and SVG, no script, nothing fetched at
view time) and a Markdown summary, from the templates in ``reports/templates``. Three
audiences, three sections: leaders (the readiness ranking), process owners (per
workflow: process graph, deviations, drift, teams) and analysts (intents, data quality,
runs). Every text from data is escaped: the HTML template autoescapes, the SVG helpers
of :mod:`pipeline.report.charts` escape, and the Markdown environment escapes every
value it prints.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import jinja2

if TYPE_CHECKING:
    from pipeline.report.data import ReportData

from pipeline.report.filters import MdText, emphasis, fixed, md, md_value, num, pct, q, when
from pipeline.report.sections import report_context
from pipeline.report.views import ROOT

TEMPLATES_DIR = ROOT / "reports" / "templates"


def report_paths(out_dir: Path) -> tuple[Path, Path]:
    """Return the paths of the HTML report and the Markdown summary in ``out_dir``."""
    return out_dir / "index.html", out_dir / "summary.md"


def render_report(
    data: ReportData, *, generated_at: datetime, templates_dir: Path = TEMPLATES_DIR
) -> tuple[str, str]:
    """Render the HTML report and the Markdown summary (pure, apart from reading templates).

    Memory grows with the workflows and intents shown (the views aggregate in DuckDB), not
    with the conversations.

    Returns
    -------
    tuple of str
        The HTML document (``report.html.j2``) and the Markdown text (``summary.md.j2``).
    """
    context = report_context(data, generated_at=generated_at)
    filters = {"pct": pct, "num": num, "fixed": fixed, "when": when, "q": q}
    page = _environment(templates_dir, autoescape=True, finalize=None)  # escapes every value
    page.filters.update(filters, emph=emphasis)
    summary = _environment(templates_dir, autoescape=False, finalize=md_value)
    summary.filters.update(filters, emph=lambda text: MdText(md(text, emphasis=True)))
    return (
        page.get_template("report.html.j2").render(**context),
        summary.get_template("summary.md.j2").render(**context),
    )


def _environment(templates_dir: Path, **options: Any) -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(templates_dir),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )
