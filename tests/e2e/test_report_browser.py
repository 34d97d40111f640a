"""The HTML report in a real browser: headless Chromium loads it cleanly, planted markup is text.

The report is rendered from the hand-made database of ``tests/test_report.py`` with more
markup planted in transcript-derived text (an intent exemplar, a drift sentence, a run
error), written to a temporary folder and opened with the Debian ``chromium`` binary
through ``subprocess`` (no Python browser library). ``.ci/run`` installs Chromium when it
is missing; elsewhere these tests skip, naming the missing binary. A screenshot is kept
under ``reports/out/`` (git-ignored) for a person to look at.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
from report_store import GENERATED, fill

from pipeline import schema
from pipeline.report.data import read_report_data
from pipeline.report.render import render_report, report_paths
from pipeline.report.views import view_statements
from pipeline.store import open_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None,
        reason="no 'chromium' or 'chromium-browser' on PATH; .ci/run installs the Debian "
        "package (apt-get install chromium)",
    ),
]

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

# With --enable-logging=stderr, Chromium writes each message of the page's console (any
# level, uncaught exceptions included) as one stderr line whose log prefix ends in
# "CONSOLE:<line>]" (Chromium 156; older builds wrote "CONSOLE(<line>)]"), e.g.
#   [20845:20845:1121/102610.206132:INFO:CONSOLE:1] "Uncaught ReferenceError: ...", source: ...
# Only these lines are matched; Chromium's own noise (dbus, GPU, sandbox, the Debian wrapper
# script) carries other prefixes such as "ERROR:dbus/bus.cc:405]" and is ignored.
CONSOLE = re.compile(r":CONSOLE(?::\d+|\(\d+\))\]")
# Elements and attributes that would make data active in the page; the report has no script
# and no image of its own (inline CSS and SVG only), so none may appear.
ACTIVE_TAGS = {"script", "img", "iframe", "frame", "object", "embed", "link", "base", "form"}


class Dom(HTMLParser):
    """The parts of a dumped DOM the tests look at: tags, attribute names, title, texts."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.attributes: set[str] = set()
        self.texts: list[str] = []
        self.title = ""
        self._in_title = False
        self.feed(text)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attributes |= {name for name, _ in attrs}
        self._in_title = tag == "title" and "svg" not in self.tags

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, data: str) -> None:
        self.texts.append(data)
        if self._in_title:
            self.title += data


def chromium(page: Path, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Open ``page`` in headless Chromium with a throwaway profile; console output on stderr."""
    command = [
        CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run",
        f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0",
        "--virtual-time-budget=3000",  # let any script and timer run before the dump
        *args, page.as_uri(),
    ]  # fmt: skip
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=True)


def console_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]


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
