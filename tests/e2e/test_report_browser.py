"""The HTML report in a real browser: headless Chromium loads it cleanly, planted markup is text.

The report is rendered from the hand-made database of ``tests/report_store.py`` with more
markup planted in transcript-derived text (an intent exemplar, a drift sentence, a run
error, an example conversation's turn and why), written to a temporary folder and opened
with the Debian ``chromium`` binary through ``subprocess`` (``tests/browser.py``; no Python
browser library). ``.ci/run`` installs Chromium when it is missing; elsewhere these tests
skip, naming the missing binary. A screenshot is kept under ``reports/out/`` (git-ignored)
for a person to look at; the bundled run's report is tested in ``test_report_bundled.py``.
"""

from __future__ import annotations

import json
import struct
import subprocess
from pathlib import Path

import pytest
from browser import ACTIVE_TAGS, CHROMIUM, NO_CHROMIUM, Dom, chromium, console_lines
from report_store import GENERATED, fill

from pipeline import schema
from pipeline.report.data import read_report_data
from pipeline.report.render import render_report, report_paths
from pipeline.report.views import view_statements
from pipeline.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]

SCREENSHOT = Path(__file__).resolve().parents[2] / "reports" / "out" / "report-browser-test.png"
WINDOW = (1400, 2400)
TITLE = "cxminer report, 2026-04-01 12:00"  # the report's own <title>, from GENERATED
# Each plant, if it ran, would change the title: the title tells whether any script ran.
EXEMPLAR = (
    "<script>document.title='pwned'</script> refund please "
    "<img src=x onerror=\"document.title='pwned-img'\">"
)
SENTENCE = "Agents skip check_eligibility <script>alert('x')</script> more often."
RUN_ERROR = "boom <img src=x onerror=\"document.title='pwned-run'\">"
STEP_LABEL = "<script>alert(1)</script>"  # planted by test_report.fill (step d_refund_1)
# an example conversation's turn (the highlighted one) and its why
EXCERPT_TURN = "my card <img src=x onerror=\"document.title='pwned-turn'\"> was charged"
WHY = "no <b>check eligibility</b> step"


@pytest.fixture(scope="module")
def report_page(tmp_path_factory) -> Path:
    """The fixture report, with the planted markup, written as ``index.html``."""
    folder = tmp_path_factory.mktemp("browser")
    with open_store(folder / "report.duckdb") as store:
        fill(store)
        with store.transaction() as con:
            con.execute(
                f"update {schema.INTENTS} set exemplar = ? where intent_id = 'i1' "
                "and model_version = 2",
                [EXEMPLAR],
            )
            con.execute(
                f"update {schema.DRIFT_FINDINGS} set sentence = ? where finding_id = 'f2'",
                [SENTENCE],
            )
            con.execute(f"update {schema.RUNS} set error = ? where error is not null", [RUN_ERROR])
            excerpt = [{"turn_idx": 0, "speaker": "customer", "text": "hello", "highlight": False},
                       {"turn_idx": 1, "speaker": "customer", "text": EXCERPT_TURN,
                        "highlight": True}]  # fmt: skip
            con.execute(
                f"insert into {schema.DRIFT_EXAMPLES} (finding_id, kind, workflow_id, step, rank, "
                "conversation_id, turn_idx, why, excerpt, run_id) values "
                "('f2', 'missing', 'refund_request', 'check_eligibility', 1, 'c2', 1, ?, ?, 'r')",
                [WHY, json.dumps(excerpt)],
            )
        store.create_views(view_statements())
        html, _ = render_report(read_report_data(store), generated_at=GENERATED)
    page, _ = report_paths(folder / "out")
    page.parent.mkdir()
    page.write_text(html, encoding="utf-8")
    return page


@pytest.fixture(scope="module")
def loaded(report_page: Path, tmp_path_factory) -> subprocess.CompletedProcess[str]:
    """The report loaded in Chromium: the DOM after load on stdout, the console on stderr."""
    return chromium(report_page, tmp_path_factory.mktemp("profile"), "--dump-dom")


def test_the_browser_checks_can_fail(tmp_path: Path):
    # A page whose script runs: the console filter and the title check must both see it.
    page = tmp_path / "active.html"
    page.write_text(
        "<!doctype html><title>quiet</title><p>x</p>"
        "<script>console.error('boom'); document.title='pwned'; undefinedFunction()</script>"
    )
    run = chromium(page, tmp_path / "profile", "--dump-dom")
    messages = console_lines(run.stderr)
    assert len(messages) == 2, run.stderr
    assert '"boom"' in messages[0]
    assert "Uncaught ReferenceError: undefinedFunction is not defined" in messages[1]
    assert Dom(run.stdout).title == "pwned"


def test_report_loads_with_no_console_messages(loaded):
    assert console_lines(loaded.stderr) == []
    dom = Dom(loaded.stdout)
    assert dom.title == TITLE
    for anchor in ("leaders", "process-owners", "analysts", "wf-refund_request", "wf-i2"):
        assert f'id="{anchor}"' in loaded.stdout


def test_planted_markup_shows_as_text_and_never_runs(loaded):
    dom = Dom(loaded.stdout)
    assert dom.title == TITLE  # no plant changed it
    assert ACTIVE_TAGS.isdisjoint(dom.tags), sorted(ACTIVE_TAGS & set(dom.tags))
    assert "<script" not in loaded.stdout.lower()
    assert not [name for name in dom.attributes if name.startswith("on")]
    # each plant is shown to the reader verbatim, as text
    texts = set(dom.texts)
    assert EXEMPLAR in texts
    assert SENTENCE in texts
    assert RUN_ERROR in texts
    assert any(EXCERPT_TURN in text for text in texts)  # the example's highlighted turn
    assert any(WHY in text for text in texts)
    assert f"d_refund_1: {STEP_LABEL} (in 33% · not in SOP)" in texts  # graph node tooltip
    assert "<script>alert(1)<…" in texts  # the node's label, cut to fit its box
    assert "&lt;script&gt;alert('x')&lt;/script&gt;" in loaded.stdout
    assert "&lt;img src=x onerror=" in loaded.stdout


def test_screenshot_is_saved_under_reports_out(report_page: Path, tmp_path: Path):
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    SCREENSHOT.unlink(missing_ok=True)
    run = chromium(
        report_page,
        tmp_path / "profile",
        f"--screenshot={SCREENSHOT}",
        f"--window-size={WINDOW[0]},{WINDOW[1]}",
        "--hide-scrollbars",
    )
    assert console_lines(run.stderr) == []
    png = SCREENSHOT.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == WINDOW  # width, height of the IHDR chunk
