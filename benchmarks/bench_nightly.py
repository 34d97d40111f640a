"""Nightly-run benchmark: a whole `cxminer run` on N realistic conversations, then +10%.

For each size N, :mod:`nightly_corpus` writes (cached under benchmarks/out/) N
conversations with the sample's structure and real wording, then N x ``--increment-share``
more (the next night's). In a child process (so that peak RSS is the run's own), the real
nightly flow (``cxminer run``: real model, default config, a fresh database and a
temporary Prefect home in a temp folder) runs on the first file while a thread samples
RSS (VmRSS) and the process CPU time (all threads) every 0.2 s. The ``runs`` rows of
that run give each stage's window, and the table prints per stage: wall s, CPU s in the
window, rows (from ``row_counts``), texts encoded, and peak RSS in the window; then the
whole run's wall, CPU, peak RSS (``ru_maxrss``) and the share of wall time embedding.
A second child adds the increment to the same database (``cxminer run`` again) and
prints the same table. Usage:

    python benchmarks/bench_nightly.py [--sizes 10000 100000] [--increment-share 0.1]
        [--backend onnx|onnx-int8|torch] [--json FILE] [--keep DIR]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_EVERY_S = 0.2
# the row count shown for each stage (row_counts keys; others go to --json)
MAIN_ROWS = {
    "ingest": "loaded",
    "embed": "texts",
    "intents": "conversations",
    "process": "events",
    "drift": "findings",
    "readiness": "workflows",
    "report": "html_bytes",
}


def interpolate(samples: Sequence[tuple[float, float, float]], t: float, column: int) -> float:
    """Value of a sampled column at time ``t``: linear between samples, flat outside."""
    if t <= samples[0][0]:
        return samples[0][column]
    for before, after in zip(samples, samples[1:], strict=False):
        if t <= after[0]:
            span = after[0] - before[0]
            share = (t - before[0]) / span if span > 0 else 1.0
            return before[column] + share * (after[column] - before[column])
    return samples[-1][column]


def stage_table(
    runs: Sequence[dict[str, Any]], samples: Sequence[tuple[float, float, float]]
) -> list[dict[str, Any]]:
    """Attribute sampled CPU and RSS to each stage's window.

    Parameters
    ----------
    runs
        ``runs`` rows: ``flow``, ``started_at`` and ``finished_at`` (epoch seconds;
        ``finished_at`` None for a run that never finished), ``status``, ``row_counts``.
    samples
        ``(epoch seconds, RSS MB, process CPU seconds)``, in time order.

    Returns
    -------
    list of dict
        One row a run: ``stage, status, wall_s, cpu_s, rows, rows_of, encoded,
        peak_rss_mb``. CPU is interpolated at the window's ends; peak RSS is the largest
        sample inside the window, or of the two samples around it when none falls inside.
    """
    table = []
    for run in runs:
        start = run["started_at"]
        end = run["finished_at"] if run["finished_at"] is not None else samples[-1][0]
        inside = [s[1] for s in samples if start <= s[0] <= end]
        if not inside:
            before = [s[1] for s in samples if s[0] < start][-1:]
            inside = before + [s[1] for s in samples if s[0] > end][:1]
        counts = run.get("row_counts") or {}
        key = MAIN_ROWS.get(run["flow"], "unchanged")
        table.append(
            {
                "stage": run["flow"],
                "status": run["status"],
                "wall_s": end - start,
                "cpu_s": interpolate(samples, end, 2) - interpolate(samples, start, 2),
                "rows": counts.get(key, counts.get("unchanged")),
                "rows_of": key if key in counts else "unchanged",
                "encoded": counts.get("encoded"),
                "peak_rss_mb": max(inside) if inside else None,
                "row_counts": counts,
            }
        )
    return table


def format_table(table: Sequence[dict[str, Any]], whole: dict[str, Any]) -> str:
    """The per-stage table and the whole run's line, as printed."""
    lines = [
        f"  {'stage':<10} {'status':<7} {'wall s':>8} {'CPU s':>8} {'rows':>20} "
        f"{'encoded':>9} {'peak RSS MB':>12}"
    ]
    for row in table:
        rows = f"{row['rows']:,} {row['rows_of']}" if row["rows"] is not None else "-"
        encoded = f"{row['encoded']:,}" if row["encoded"] is not None else "-"
        peak = f"{row['peak_rss_mb']:,.0f}" if row["peak_rss_mb"] is not None else "-"
        lines.append(
            f"  {row['stage']:<10} {row['status']:<7} {row['wall_s']:>8.1f} "
            f"{row['cpu_s']:>8.1f} {rows:>20} {encoded:>9} {peak:>12}"
        )
    stages_wall = sum(r["wall_s"] for r in table)
    embed_wall = sum(r["wall_s"] for r in table if r["stage"] == "embed")
    lines.append(
        f"  whole run: wall {whole['wall_s']:.1f} s (stages {stages_wall:.1f} s; the rest is "
        f"start-up, Prefect and flow overhead), CPU {whole['cpu_s']:.1f} s, peak RSS "
        f"{whole['peak_rss_mb']:,.0f} MB, embedding {embed_wall / whole['wall_s']:.0%} of wall, "
        f"exit code {whole['exit_code']}"
    )
    return "\n".join(lines)


def format_found(found: dict[str, Any]) -> str:
    """What the run found (so the benchmark measures a run that works)."""
    steps = ", ".join(f"{k} {v:,}" for k, v in found["step_events"].items())
    line = (
        f"  found: {found['intents']} intents, {sum(found['step_events'].values()):,} "
        f"step events ({steps})"
    )
    scores = found.get("scores") or {}
    if scores:
        line += "; vs planted truth: " + ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
    return line


def _rss_mb() -> float:
    with open("/proc/self/status", encoding="ascii") as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _sample(samples: list[tuple[float, float, float]], stop: threading.Event) -> None:
    while not stop.wait(SAMPLE_EVERY_S):
        samples.append((time.time(), _rss_mb(), time.process_time()))


def child(config: str, db: str, corpus: str, which: str, out: str) -> None:
    """Run ``cxminer run`` on one file of the corpus; write the figures to ``out`` (JSON)."""
    samples = [(time.time(), _rss_mb(), time.process_time())]
    began, wall0, cpu0 = samples[0][0], time.perf_counter(), samples[0][2]
    stop = threading.Event()
    sampler = threading.Thread(target=_sample, args=(samples, stop), daemon=True)
    sampler.start()
    from pipeline.cli.main import main as cxminer  # imports count: they are part of a run

    folder = Path(corpus)
    inputs = ["--sops", str(folder / "sops"), "--input", str(folder / f"{which}.jsonl")]
    code = cxminer(["run", "--config", config, "--db", db, *inputs])
    whole = {
        "wall_s": time.perf_counter() - wall0,
        "cpu_s": time.process_time() - cpu0,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "exit_code": code,
    }
    stop.set()
    sampler.join()
    samples.append((time.time(), _rss_mb(), time.process_time()))
    runs, found = _read_run(db, began, folder / "labels.jsonl")
    figures = {"whole": whole, "runs": runs, "samples": samples, "found": found}
    Path(out).write_text(json.dumps(figures, default=str), encoding="utf-8")


def _read_run(db: str, began: float, labels: Path) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    """The ``runs`` rows that began after ``began``, and what the run found."""
    from pipeline.store import open_store

    with open_store(db, read_only=True) as store:
        rows = store.sql(
            "select flow, started_at, finished_at, status, row_counts from runs order by started_at"
        ).to_dicts()
        n_intents = store.scalar(
            "select count(*) from intents where run_id = (select max(run_id) from intents)"
        )
        events = store.sql(
            "select source, count(*) as n from step_events where run_id = "
            "(select max(run_id) from step_events) group by 1 order by 2 desc"
        )
    runs = [
        {
            **row,
            "started_at": row["started_at"].timestamp(),
            "finished_at": row["finished_at"].timestamp() if row["finished_at"] else None,
            "row_counts": json.loads(row["row_counts"] or "{}"),
        }
        for row in rows
        if row["started_at"].timestamp() >= began
    ]
    found: dict[str, Any] = {
        "intents": n_intents,
        "step_events": {r["source"]: r["n"] for r in events.to_dicts()},
    }
    found["scores"] = _scores(Path(db), labels)
    return runs, found


def _scores(db: Path, labels: Path) -> dict[str, float]:
    """Intent and step scores against the planted truth (outside the measured window)."""
    from pipeline.evaluate.scores import evaluate

    report = evaluate(db, labels)
    picks = {"intents": ("accuracy", "nmi"), "steps": ("per_turn_accuracy", "edit_similarity")}
    return {
        f"{section} {key}": report[section][key]
        for section, keys in picks.items()
        for key in keys
        if isinstance(report.get(section, {}).get(key), float)
    }


def run_child(work: Path, corpus: Path, which: str) -> dict[str, Any]:
    """Run :func:`child` in its own process (and session); return its figures."""
    out = work / f"{which}.json"
    log = work / f"{which}.log"
    env = {**os.environ, "PREFECT_HOME": str(work / "prefect"), "PYTHONUNBUFFERED": "1"}
    env.setdefault("CXMINER_HASH_KEY", "cxminer-bench")
    where = [str(work / "config.yaml"), str(work / "cx.duckdb"), str(corpus)]
    command = [sys.executable, __file__, "--child", *where, which, str(out)]
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen(
            command,
            stdout=handle,
            stderr=subprocess.STDOUT,
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        try:
            process.wait()
        finally:
            with contextlib.suppress(ProcessLookupError):  # a Prefect server left behind
                os.killpg(process.pid, signal.SIGTERM)
    if process.returncode != 0 or not out.exists():
        tail = log.read_text(encoding="utf-8").splitlines()[-15:]
        raise SystemExit(
            f"the {which} run failed (exit {process.returncode}); log {log}:\n" + "\n".join(tail)
        )
    return json.loads(out.read_text(encoding="utf-8"))


def write_config(work: Path, backend: str | None) -> None:
    """A config with the defaults, a fresh database, the shared model export cache."""
    lines = [
        f"database: {work / 'cx.duckdb'}",
        "embed:",
        f"  cache_dir: {ROOT / '.cache' / 'cxminer'}",
    ]
    if backend:
        lines.append(f"  backend: {backend}")
    lines += ["flows:", f"  report_dir: {work / 'out'}"]
    (work / "config.yaml").write_text("\n".join(lines) + "\n", encoding="utf-8")


@contextlib.contextmanager
def workdir(keep: Path | None, n: int) -> Iterator[Path]:
    """A fresh folder for one size's database, config and Prefect home."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="cxminer-nightly-") as tmp:
            yield Path(tmp)
        return
    folder = keep / f"nightly_{n}"
    if folder.exists():
        raise SystemExit(f"{folder} exists: --keep needs a folder without a previous run")
    folder.mkdir(parents=True)
    yield folder


def corpus(n: int, share: float) -> Path:
    """Generate the corpus in its own process (cached), so this one stays small."""
    sys.path.insert(0, str(Path(__file__).parent))
    from nightly_corpus import corpus_folder

    folder = corpus_folder(n, round(n * share), 1)
    if not (folder / "meta.json").exists():
        print(f"generating {n:,} + {round(n * share):,} conversations ...", file=sys.stderr)
        script = Path(__file__).with_name("nightly_corpus.py")
        command = [sys.executable, str(script), str(n), "--increment-share", str(share)]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(done.stderr.strip().splitlines()[-1])
    return folder


def format_shares(meta: dict[str, Any]) -> str:
    """Real and generated distinct shares (the corpus's wording diversity)."""
    real, at_k, at_n = meta["real"], meta["generated_k"], meta["generated_n"]
    return (
        f"  distinct texts, share of turns (whitespace/case normalised), at {meta['k']:,} "
        f"conversations: customer openings real {real['opening']:.3f} (STAR "
        f"{real['opening_star']:.3f}, MultiDoGO {real['opening_multidogo']:.3f}) vs generated "
        f"{at_k['opening']:.3f}; agent turns real STAR {real['agent']:.3f} vs generated "
        f"{at_k['agent']:.3f}\n  at all {meta['n']:,}: openings {at_n['opening']:.3f}, agent "
        f"turns {at_n['agent']:.3f} (varied: {meta['q']:.1%} of openings, {meta['p']:.1%} of "
        f"agent turns; generated in {meta['seconds']:.0f} s)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--increment-share", type=float, default=0.1)
    parser.add_argument("--backend", choices=("torch", "onnx", "onnx-int8"), default=None)
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--keep", type=Path, help="keep the databases under this folder")
    parser.add_argument("--child", nargs=5, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    from pipeline.config import Config

    default = Config().embed
    backend = args.backend or default.backend
    cores = len(os.sched_getaffinity(0))
    print(
        f"nightly benchmark: {cores} cores usable ({os.cpu_count()} on the machine), "
        f"embedding backend {backend}{'' if args.backend else ' (config default)'}, model "
        f"{default.model}; RSS and CPU sampled every {SAMPLE_EVERY_S} s"
    )
    figures: dict[str, Any] = {"cores": cores, "backend": backend, "sizes": {}}
    for n in args.sizes:
        folder = corpus(n, args.increment_share)
        meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
        print(f"\n{n:,} conversations, then {meta['n_increment']:,} more ({folder.name})")
        print(format_shares(meta))
        result: dict[str, Any] = {"corpus": meta}
        with workdir(args.keep, n) as work:
            write_config(work, args.backend)
            for which, title in (
                ("base", f"first night, {n:,}"),
                ("increment", f"increment, +{meta['n_increment']:,}"),
            ):
                run = run_child(work, folder, which)
                table = stage_table(run["runs"], run["samples"])
                print(f" {title} conversations:")
                print(format_table(table, run["whole"]))
                print(format_found(run["found"]))
                result[which] = {"stages": table, "whole": run["whole"], "found": run["found"]}
        figures["sizes"][str(n)] = result
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2, default=str) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
