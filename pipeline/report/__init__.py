"""Stage 10, report: SQL views over the store, and an HTML report and Markdown summary.

:func:`view_statements` reads the views' SQL (``reports/views``) for the store to
create; :func:`pipeline.report.data.read_report_data`, the stage's one reader of the
store, gathers what the report shows; :func:`render_report` turns it into the HTML page
and the Markdown summary, drawing process graphs (:mod:`pipeline.report.charts`) and
small charts (:mod:`pipeline.report.series`) as inline SVG.
"""

from pipeline.report.render import render_report, report_paths
from pipeline.report.views import view_statements

__all__ = ["render_report", "report_paths", "view_statements"]
