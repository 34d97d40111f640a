"""Report build time, size and peak memory on a synthetic store at a stated size (not a test).

Generates a store of N conversations and K intents (``benchmarks/report_store_gen.py``:
what the stages would store, written through the store API) in a child process, so that
the peak RSS printed is the report's own, then builds the report as ``cxminer report``
does and times each part: creating the views, ``read_report_data``, ``render_report``
(HTML and Markdown) and writing the two files. Prints the sizes, the times, what the page
shows, the peak RSS and where the HTML's bytes go (by section, by workflow card, inline
SVG by kind, YAML). Targets at 100,000 conversations and 300 intents: the HTML under 5 MB
(5,000,000 bytes) and the build under 30 s; ``--check`` exits 1 when one is missed.
Usage:

    python benchmarks/bench_report.py [--conversations 100000] [--intents 300] [--seed 7]
        [--workdir DIR [--reuse]] [--report-out DIR] [--check]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import resource
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from report_store_gen import SOPS, generate, write_store  # noqa: E402

from pipeline import schema  # noqa: E402
from pipeline.report.data import read_report_data  # noqa: E402
from pipeline.report.render import render_report, report_paths  # noqa: E402
from pipeline.report.views import view_statements  # noqa: E402
from pipeline.store import open_store  # noqa: E402

MAX_BYTES, MAX_SECONDS = 5_000_000, 30.0  # at 100,000 conversations and 300 intents
_SECTION = re.compile(r'<section id="([^"]+)"')
_ARTICLE = re.compile(r'<article[^>]*\bid="([^"]+)".*?</article>', re.S)
_SVG = re.compile(r'<svg class="([\w-]+)[^"]*".*?</svg>', re.S)
_PRE = re.compile(r"<pre>.*?</pre>", re.S)
_DETAILS = re.compile(r"<details\b.*?</details>", re.S)  # not nested in the report
_INTENT = re.compile(r"\bi\d{3,}\b")


def _generate(db: str, n: int, n_intents: int, seed: int) -> None:
    """Build and write the store (in a child process); its row counts go beside it."""
    started = time.perf_counter()
    counts = write_store(db, generate(n, n_intents, seed))
    counts["_seconds"] = round(time.perf_counter() - started, 1)
    Path(db).with_suffix(".json").write_text(json.dumps(counts))


def _write(path: Path, text: str) -> None:
    """Write as the report flow does: a partial file, then renamed into place."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(text, encoding="utf-8")
    os.replace(partial, path)


def _size(n: int, total: int) -> str:
    return f"{n:>11,} B {n / 1e6:6.2f} MB {100 * n / max(total, 1):5.1f}%"


def breakdown(html: str) -> list[str]:
    """Where the page's bytes go: sections, workflow cards, inline SVG by kind, YAML."""
    total = len(html.encode())
    lines = ["where the HTML's bytes go (a part can hold the next ones):"]
    for part in re.split(r'(?=<section id=")', html):  # each section runs to the next one
        named = _SECTION.match(part)
        name = f"section {named.group(1)}" if named else "head: styles, navigation"
        lines.append(f"  {name:<36}{_size(len(part.encode()), total)}")
    cards = defaultdict(list)
    for m in _ARTICLE.finditer(html):
        documented = m.group(1).removeprefix("wf-") in SOPS
        cards["documented SOP" if documented else "no SOP"].append(len(m.group(0).encode()))
    for kind, sizes in sorted(cards.items()):
        name = f"{len(sizes)} workflow cards, {kind}"
        lines.append(
            f"  {name:<36}{_size(sum(sizes), total)}  "
            f"(median {statistics.median(sizes):,.0f} B, largest {max(sizes):,} B)"
        )
    svg = defaultdict(list)
    for m in _SVG.finditer(html):
        svg[m.group(1)].append(len(m.group(0).encode()))
    for kind, sizes in sorted(svg.items(), key=lambda item: -sum(item[1])):
        lines.append(f"  {f'{len(sizes)} svg.{kind}':<36}{_size(sum(sizes), total)}")
    every_svg = sum(sum(sizes) for sizes in svg.values())
    lines.append(f"  {'all inline SVG':<36}{_size(every_svg, total)}")
    pre = [len(m.group(0).encode()) for m in _PRE.finditer(html)]
    lines.append(f"  {f'{len(pre)} <pre> (playbook YAML)':<36}{_size(sum(pre), total)}")
    folded = [len(m.group(0).encode()) for m in _DETAILS.finditer(html)]
    lines.append(f"  {f'{len(folded)} <details> (folded)':<36}{_size(sum(folded), total)}")
    lines.append(f"  {'whole page':<36}{_size(total, total)}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=100_000)
    parser.add_argument("--intents", type=int, default=300)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--workdir", help="keep the generated database here (default: a temp dir)")
    parser.add_argument("--reuse", action="store_true", help="reuse a database in --workdir")
    parser.add_argument("--report-out", help="keep index.html and summary.md in this folder")
    parser.add_argument("--check", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxminer-bench-report-") as scratch:
        folder = Path(args.workdir or scratch)
        folder.mkdir(parents=True, exist_ok=True)
        db = folder / f"report-{args.conversations}-{args.intents}-s{args.seed}.duckdb"
        if not (args.reuse and db.exists()):
            for stale in (db, db.with_suffix(".duckdb.wal"), db.with_suffix(".json")):
                stale.unlink(missing_ok=True)
            child = multiprocessing.get_context("spawn").Process(
                target=_generate, args=(str(db), args.conversations, args.intents, args.seed)
            )
            child.start()
            child.join()
            if child.exitcode:
                sys.exit(f"generating the store failed (exit {child.exitcode})")
        rows = json.loads(db.with_suffix(".json").read_text())
        out = Path(args.report_out) if args.report_out else folder / "out"
        failed = report(db, out, rows, args)
    if args.check and failed:
        sys.exit(1)


def report(db: Path, out: Path, rows: dict, args: argparse.Namespace) -> bool:
    """Build the report from ``db`` into ``out``, print the figures; True when a target missed."""
    times = {}
    with open_store(db) as store:
        started = time.perf_counter()
        store.create_views(view_statements())
        times["create views"] = time.perf_counter() - started
        started = time.perf_counter()
        data = read_report_data(store)
        times["read_report_data"] = time.perf_counter() - started
    started = time.perf_counter()
    html, markdown = render_report(data, generated_at=datetime.now(UTC))
    times["render_report (HTML + Markdown)"] = time.perf_counter() - started
    started = time.perf_counter()
    html_path, md_path = report_paths(out)
    _write(html_path, html)
    _write(md_path, markdown)
    times["write the files"] = time.perf_counter() - started
    total, size = sum(times.values()), len(html.encode())
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    drift = data.drift
    flagged = int(drift["flagged"].sum()) if "flagged" in drift.columns else 0
    empty = sorted(t for t in schema.COLUMNS if not rows.get(t))
    print(f"report benchmark, {os.cpu_count()} cores, seed {args.seed}")
    print(f"store               {rows['conversations']:,} conversations, {args.intents} intents, "
          f"generated in {rows['_seconds']} s (child process, not timed): {db}")  # fmt: skip
    for table in ("step_events", "drift_findings", "drift_examples", "readiness"):
        print(f"  {table:<18}{rows.get(table, 0):,} rows")
    print(f"  left empty        {', '.join(empty) or 'none'}")
    for part, seconds in times.items():
        print(f"{part:<34}{seconds:7.2f} s")
    print(f"{'total':<34}{total:7.2f} s")
    print(f"HTML                {size:,} bytes ({size / 1e6:.2f} MB): {html_path}")
    print(f"Markdown            {len(markdown.encode()):,} bytes: {md_path}")
    print(f"in the data         {data.intents.height} intents, {data.readiness.height} ranked "
          f"workflows, {drift.height:,} drift rows ({flagged} flagged)")  # fmt: skip
    findings = html.count('<div class="finding"')
    print(f"shown in the HTML   {len(_ARTICLE.findall(html))} workflow cards, "
          f"{len(set(_INTENT.findall(html)))} intent ids named, {findings} findings")  # fmt: skip
    print(
        f"peak RSS            {peak_mb:,.0f} MB (this process: the report build, imports included)"
    )
    print("\n".join(breakdown(html)))
    at_scale = args.conversations >= 100_000 and args.intents >= 300
    size_ok, time_ok = size < MAX_BYTES, total < MAX_SECONDS
    scope = "" if at_scale else " (stated for 100,000 conversations and 300 intents)"
    verdict = {True: "PASS", False: "FAIL"}
    print(f"size target         {verdict[size_ok]}: {size / 1e6:.2f} MB, target < 5 MB{scope}")
    print(f"time target         {verdict[time_ok]}: {total:.1f} s, target < 30 s{scope}")
    return not (size_ok and time_ok)


if __name__ == "__main__":
    main()
