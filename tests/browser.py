"""Headless Chromium for the report's browser tests (the Debian binary through subprocess).

With ``--enable-logging=stderr``, Chromium writes each message of the page's console (any
level, uncaught exceptions included) as one stderr line whose log prefix ends in
``CONSOLE:<line>]`` (Chromium 156; older builds wrote ``CONSOLE(<line>)]``), e.g.
``[20845:20845:1121/102610.206132:INFO:CONSOLE:1] "Uncaught ReferenceError: ...", source: ...``.
Only these lines are matched; Chromium's own noise (dbus, GPU, sandbox, the Debian wrapper
script) carries other prefixes such as ``ERROR:dbus/bus.cc:405]`` and is ignored.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
NO_CHROMIUM = (
    "no 'chromium' or 'chromium-browser' on PATH; .ci/run installs the Debian package "
    "(apt-get install chromium)"
)
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
    """The page's console messages among Chromium's stderr lines."""
    return [line for line in stderr.splitlines() if CONSOLE.search(line)]
