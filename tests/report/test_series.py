"""Time-series charts (``pipeline.report.series``)."""

from __future__ import annotations

from datetime import date

from report_store import ESCAPED, PLANT

from pipeline.report.series import interval_svg, series_svg, sparkline_svg


def test_series_marks_flagged_windows_and_baseline():
    windows = [date(2026, 3, 2), date(2026, 3, 9)]
    svg = str(
        series_svg(windows, [0.1, 0.4], baseline=0.1, flagged={date(2026, 3, 9)}, title=PLANT)
    )
    assert svg.count('class="pt pt-flag"') == 1 and svg.count('class="pt"') == 1
    assert "<title>baseline 10%</title>" in svg and "<title>2026-03-09: 40%</title>" in svg
    assert ESCAPED in svg and "<script" not in svg


def test_sparkline_and_interval():
    assert (
        str(sparkline_svg([1, 2, 4])).count('<polyline class="line" points="3,19.5 60,14 117,3"/>')
        == 1
    )
    svg = str(interval_svg(72, 65, 80, tier="autonomous"))
    assert 'class="interval t-auto"' in svg and "score 72 (interval 65-80) of 100" in svg
