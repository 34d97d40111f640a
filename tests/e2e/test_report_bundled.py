"""The bundled run's report as its three audiences read it, in headless Chromium at 1400 px.

The report of ``cxminer run`` on the bundled sample (fixture ``bundled_run``) loads with
no console message; no element of any part (every ``<details>`` opened) is wider than the
window or needs horizontal scrolling; each part's first screen is saved under
``reports/out/`` (git-ignored) for a person to look at; and no text a reader sees, nor a
line of ``cxminer drift``, names a step, cluster or intent by its machine id alone: an id
stands only in a ``<small class="id">`` beside the name, in brackets after it, in a
tooltip or in a YAML file shown as such.
"""

from __future__ import annotations

import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import pytest
from browser import CHROMIUM, NO_CHROMIUM, chromium, console_lines

from pipeline import schema
from pipeline.cli.main import main
from pipeline.intents.names import is_filler_label
from pipeline.store import open_store

pytestmark = [pytest.mark.slow, pytest.mark.skipif(CHROMIUM is None, reason=NO_CHROMIUM)]

ROOT = Path(__file__).resolve().parents[2]
PARTS = ("leaders", "process-owners", "analysts")
SHOTS = {part: ROOT / "reports" / "out" / f"report-{part}.png" for part in PARTS}
WINDOW = (1400, 2000)
# a discovered step (d_..., u_...), an exception cluster (x_...) or an intent (i001)
MACHINE_ID = re.compile(r"\b(?:[dux]_[a-z0-9_]+|i\d{3,})\b")
# Run in a copy of the page only (the report itself has no script): open every <details>,
# then list, per part, the elements that stick out of the window or scroll sideways.
PROBE = """<script>
for (const d of document.querySelectorAll('details')) d.open = true;
const width = document.documentElement.clientWidth, found = {};
const name = (el) => el.tagName.toLowerCase()
  + (el.className && el.className.baseVal === undefined
     ? '.' + String(el.className).replace(/ +/g, '.') : '')
  + ' ' + (el.textContent || '').slice(0, 60);
for (const part of %s) {
  const wide = [];
  const all = document.querySelectorAll('#' + part + ' *');
  for (const el of [document.getElementById(part), ...all]) {
    const box = el.getBoundingClientRect();
    if (box.width === 0 && box.height === 0) continue;
    if (box.right > width + 0.5 || box.left < -0.5) wide.push('wider: ' + name(el));
    const scrolls = getComputedStyle(el).overflowX;
    if (scrolls !== 'visible' && el.scrollWidth > el.clientWidth + 1) {
      wide.push('scrolls: ' + name(el));
    }
  }
  found[part] = wide;
}
const out = document.createElement('pre');
out.id = 'probe';
out.textContent = JSON.stringify(found);
document.body.appendChild(out);
</script>""" % json.dumps(list(PARTS))  # noqa: UP031 (braces of the script)


class ReaderText(HTMLParser):
    """The text a reader sees: no ``<small class="id">``, tooltips, YAML files or styles."""

    SKIPPED = {"title", "pre", "style", "script"}

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.texts: list[str] = []
        self._stack: list[bool] = []  # per open element: is it skipped
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        skipped = tag in self.SKIPPED or (tag == "small" and ("class", "id") in attrs)
        if tag not in {"br", "meta", "img", "input", "hr"}:
            self._stack.append(skipped)

    def handle_endtag(self, tag: str) -> None:
        if self._stack:
            self._stack.pop()

    def handle_data(self, data: str) -> None:
        if not any(self._stack):
            self.texts.append(data)


@pytest.fixture(scope="module")
def page(bundled_run) -> Path:
    return bundled_run.out / "index.html"


def test_the_report_loads_with_no_console_message(page: Path, tmp_path: Path):
    run = chromium(page, tmp_path / "profile", "--dump-dom")
    assert console_lines(run.stderr) == []
    assert all(f'id="{part}"' in run.stdout for part in PARTS)


def test_no_element_is_wider_than_the_window_in_any_part(page: Path, tmp_path: Path):
    probe = tmp_path / "probe.html"
    probe.write_text(page.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"))
    run = chromium(probe, tmp_path / "profile", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                   "--dump-dom")  # fmt: skip
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)[1])
    assert set(found) == set(PARTS)
    assert found == {part: [] for part in PARTS}


def test_the_probe_sees_an_element_wider_than_the_window(page: Path, tmp_path: Path):
    wide = '<div style="width: 3000px">wide</div>'
    probe = tmp_path / "probe.html"
    html = page.read_text(encoding="utf-8").replace(
        '<section id="analysts">', '<section id="analysts">' + wide
    )
    probe.write_text(html.replace("</body>", PROBE + "</body>"))
    run = chromium(probe, tmp_path / "profile", f"--window-size={WINDOW[0]},{WINDOW[1]}",
                   "--dump-dom")  # fmt: skip
    found = json.loads(re.search(r'<pre id="probe">(.*?)</pre>', run.stdout, re.S)[1])
    assert any(line.startswith("wider: div") for line in found["analysts"])


@pytest.mark.parametrize("part", PARTS)
def test_each_part_has_a_screenshot_under_reports_out(page: Path, tmp_path: Path, part: str):
    alone = tmp_path / f"{part}.html"  # the part alone: the others and the header hidden
    style = f"<style>header, nav, section:not(#{part}) {{ display: none; }}</style>"
    alone.write_text(page.read_text(encoding="utf-8").replace("</head>", style + "</head>"))
    shot = SHOTS[part]
    shot.parent.mkdir(parents=True, exist_ok=True)
    shot.unlink(missing_ok=True)
    run = chromium(alone, tmp_path / "profile", f"--screenshot={shot}",
                   f"--window-size={WINDOW[0]},{WINDOW[1]}", "--hide-scrollbars")  # fmt: skip
    assert console_lines(run.stderr) == []
    png = shot.read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", png[16:24]) == WINDOW


def test_no_text_names_a_step_cluster_or_intent_by_its_id_alone(page: Path):
    seen = " ".join(ReaderText(page.read_text(encoding="utf-8")).texts)
    outside = re.sub(r"\([^()]*\)", "", seen)  # an id in brackets is a secondary detail
    assert sorted(set(MACHINE_ID.findall(outside))) == []
    # the check can fail: the ids are in the page, as secondary details
    assert MACHINE_ID.search(page.read_text(encoding="utf-8"))


def test_cxminer_drift_names_steps_by_phrase_the_id_in_brackets(bundled_run, capsys):
    assert main(["drift", "--config", str(bundled_run.config), "--limit", "50"]) == 0
    printed = capsys.readouterr().out
    assert MACHINE_ID.search(printed)  # ids are printed, as secondary details
    outside = re.sub(r"\([^()]*\)", "", printed)  # what stands outside brackets
    assert MACHINE_ID.findall(outside) == []


def test_no_name_is_made_of_fillers(bundled_run):
    with open_store(bundled_run.db, read_only=True) as store:
        steps = store.sql(f"select label from {schema.STEP_TYPES} where source = 'discovered'")
        clusters = store.sql(
            f"select json_extract_string(details, '$.label') as label "
            f"from {schema.DRIFT_FINDINGS} where kind = 'exception_cluster'"
        )
        intents = store.sql(f"select label from {schema.INTENTS}")
    names = [*steps["label"], *clusters["label"], *intents["label"]]
    assert len(names) > 50  # the bundled run names this many
    assert [name for name in names if not name or is_filler_label(name)] == []
    assert is_filler_label("let me see") is False and is_filler_label("give me a") is True
