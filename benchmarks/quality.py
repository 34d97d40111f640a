"""The quality scoreboard: the real pipeline on every labelled dataset, one table.

For each dataset available (the bundled sample always; STAR, MultiDoGO dev and Banking77
test when ``../shared/data`` is beside the checkout; see ``quality_datasets.py``) this
runs ``cxminer run`` (real flows, real default embedding model, a fresh DuckDB file),
scores the database with ``cxminer evaluate``'s scorer (:func:`pipeline.evaluate.evaluate`,
the one place metrics are defined) and runs the anchors on the same input
(``quality_anchors.py``: KMeans told the true number of intents, BERTopic's default
clustering, the nearest-template step baseline). It prints one table: run by run,
stage by stage, each figure with its anchors beside it.

``--check`` compares every figure with ``benchmarks/quality_baseline.json`` and exits 1
when one fell by more than its tolerance (the noise of that figure, measured with
``--noise``), naming the figure and by how much. A deliberate trade-off updates the
baseline in the same commit (``--write-baseline``), with the reason in the message.

Usage::

    python benchmarks/quality.py [--datasets NAME ...] [--check] [--json FILE]
        [--set KEY=VALUE ...] [--workdir DIR]
    python benchmarks/quality.py --noise 3 --write-baseline   # measure tolerances
    python benchmarks/quality.py --results FILE --check       # re-check saved figures
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from quality_anchors import intent_anchors, nearest_template  # noqa: E402
from quality_datasets import DATASETS, Run, cxminer  # noqa: E402

from pipeline.config import Config, load_config  # noqa: E402
from pipeline.evaluate import evaluate  # noqa: E402
from pipeline.labels import read_labels  # noqa: E402
from pipeline.sop import load_sops  # noqa: E402

BASELINE = ROOT / "benchmarks" / "quality_baseline.json"
RESOLUTION = 0.001  # the table prints three decimals: a smaller move is no change
#: stage -> (evaluate's key, label, direction: +1 higher is better, -1 lower, 0 not judged)
FIGURES: dict[str, list[tuple[str, str, int]]] = {
    "intents": [
        ("accuracy", "accuracy (Hungarian, unassigned wrong)", 1),
        ("nmi", "NMI", 1),
        ("ari", "ARI", 1),
        ("n_clusters_found", "intents found", 0),
        ("noise_share", "unassigned share", 0),
    ],
    "steps": [
        ("per_turn_accuracy", "per-turn accuracy", 1),
        ("edit_similarity", "edit similarity", 1),
        ("exact_sequence_share", "exact sequences", 1),
        ("edit_similarity_full_log", "edit similarity, full log", 1),
    ],
    "process": [("f1", "edge F1 (macro over intents)", 1), ("f1_full_log", "edge F1, full log", 1)],
    "conformance": [
        ("conforming_share", "conforming share (checked)", 0),
        ("checked_share", "checked against a SOP", 0),
        ("mean_fitness", "mean fitness", 0),
    ],
    "outcomes": [
        ("accuracy", "accuracy", 1),
        ("macro_recall", "macro recall over true outcomes", 1),
        ("derived_share", "derived from the transcript", 0),
    ],
    "drift": [
        ("precision", "precision (step kinds)", 1),
        ("recall", "recall", 1),
        ("recall_first_window", "recall, first window", 1),
        ("n_flagged", "flagged (step kinds)", 0),
    ],
    "readiness": [
        ("spearman", "Spearman vs designed order", 1),
        ("tier_accuracy", "tiers right", 1),
    ],
}  # fmt: skip


@dataclass
class Figure:
    """One line of the scoreboard."""

    key: str
    run: str
    stage: str
    label: str
    value: float | int | None
    direction: int
    anchors: dict[str, Any] = field(default_factory=dict)
    shown: str | None = None


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    baseline = _read_json(args.baseline) if args.baseline.exists() else None
    if args.results:
        report = _read_json(args.results)
    else:
        report = run_board(args)
    figures = [Figure(**f) for f in report["figures"]]
    print(format_table(figures, report.get("spread"), baseline if args.check else None))
    print(format_planted(report["meta"].get("planted", {})))
    if args.json:
        args.json.write_text(json.dumps(report, indent=1, default=str))
    if args.write_baseline:
        write_baseline(args.baseline, report, baseline)
        print(f"baseline written: {args.baseline}")
    if args.check:
        if baseline is None:
            print(f"quality: no baseline at {args.baseline}; run with --write-baseline first")
            return 2
        problems, better = check(figures, baseline, ran=set(report["runs"]))
        for line in better:
            print(f"better than the baseline: {line}")
        for line in problems:
            print(f"WORSE than the baseline: {line}")
        print(f"check: {len(problems)} figure(s) fell beyond tolerance" if problems
              else "check: no figure fell beyond its tolerance")  # fmt: skip
        return 1 if problems else 0
    return 0


def run_board(args: argparse.Namespace) -> dict[str, Any]:
    """Run every selected dataset (once per seed with ``--noise``); return the report."""
    started = time.perf_counter()
    overrides = dict(_parse_set(item) for item in args.set)
    seeds = list(range(args.noise)) if args.noise else [None]
    reports = []
    work_root = args.workdir or Path(tempfile.mkdtemp(prefix="cxminer-quality-"))
    try:
        for seed in seeds:
            work = work_root / (f"seed-{seed}" if seed is not None else "board")
            reports.append(board_once(args.datasets, work, overrides, seed))
    finally:
        if args.workdir is None:
            shutil.rmtree(work_root, ignore_errors=True)
    report = reports[0]
    if len(reports) > 1:
        report["spread"] = spread(reports)
        report["seeds"] = seeds
    report["meta"]["seconds_total"] = round(time.perf_counter() - started, 1)
    return report


def board_once(
    names: list[str], work: Path, overrides: dict[str, Any], seed: int | None
) -> dict[str, Any]:
    """Prepare and run each dataset once; return figures, runs and timings."""
    work.mkdir(parents=True, exist_ok=True)
    figures: list[Figure] = []
    seconds: dict[str, float] = {}
    notes: dict[str, Any] = {}
    details: dict[str, Any] = {}
    for name in names:
        needs, prepare = DATASETS[name]
        if not needs.exists():
            _progress(f"{name}: skipped ({needs} not found)")
            continue
        _progress(f"{name}: preparing")
        for run in prepare(work):
            begun = time.perf_counter()
            db, config = run_pipeline(run, work, overrides, seed)
            _progress(f"{run.name}: cxminer run {time.perf_counter() - begun:.0f} s")
            labels = read_labels(run.labels)
            result = evaluate(db, run.labels, truth_dir=run.truth)
            anchors = {}
            if "intents" in run.anchors:
                anchors["intents"] = intent_anchors(db, config, labels, seed=seed or 0)
            if "steps" in run.anchors:
                anchors["steps"] = nearest_template(db, config, labels, load_sops([run.sops]))
            figures.extend(figures_of(run, result, anchors))
            seconds[run.name] = round(time.perf_counter() - begun, 1)
            details[run.name] = result
            if run.notes:
                notes[run.name] = run.notes
            _progress(f"{run.name}: done in {seconds[run.name]:.0f} s")
    return {
        "figures": [asdict(f) for f in figures],
        "runs": list(seconds),
        "meta": {"commit": _commit(), "date": datetime.now(UTC).isoformat(timespec="seconds"),
                 "seconds": seconds, "seed": seed, "overrides": overrides, "planted": notes},
        "details": details,
    }  # fmt: skip


def run_pipeline(
    run: Run, work: Path, overrides: dict[str, Any], seed: int | None
) -> tuple[Path, Config]:
    """Write the run's config and run ``cxminer run`` on its inputs; return db and config."""
    folder = work / run.name
    folder.mkdir(parents=True, exist_ok=True)
    db = folder / "cxminer.duckdb"
    if run.reuse:
        shutil.copy(work / run.reuse / "cxminer.duckdb", db)
    sops = run.sops or folder / "no-sops"
    sops.mkdir(exist_ok=True)
    settings: dict[str, Any] = {
        "database": str(db),
        "landing": str(run.inputs[0]),
        "sops": str(sops),
        "ingest": {"format": run.fmt},
        "embed": {"cache_dir": str(ROOT / ".cache" / "cxminer")},
        "flows": {"report_dir": str(folder / "report")},
    }
    for key, value in {**run.settings, **overrides, **_seed_overrides(seed)}.items():
        _set(settings, key, value)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    cxminer("run", "--config", str(path), "--input", *map(str, run.inputs), "--format", run.fmt)
    return db, load_config(path)


def figures_of(run: Run, result: dict[str, Any], anchors: dict[str, Any]) -> list[Figure]:
    """The scoreboard lines of one run: its stages' figures with their anchors."""
    figures = []
    for stage in run.stages:
        section = result[stage]
        if section.get("status") != "ok":
            figures.append(Figure(f"{run.name}.{stage}", run.name, stage,
                                  f"absent: {section.get('reason')}", None, 0))  # fmt: skip
            continue
        beside = _anchor_sections(stage, anchors)
        for key, label, direction in FIGURES[stage]:
            shown = None
            if key == "n_clusters_found":
                shown = f"{section[key]} (true {section['n_true']})"
            figures.append(Figure(
                f"{run.name}.{stage}.{key}", run.name, stage, label, section.get(key), direction,
                {name: values.get(key) for name, values in beside.items()}, shown,
            ))  # fmt: skip
        if stage == "conformance":
            for intent, row in section["per_intent"].items():
                figures.append(Figure(
                    f"{run.name}.conformance.{intent}", run.name, stage,
                    f"  conforming share: {intent} (n {row['n_checked']})",
                    row["conforming_share"], 0,
                ))  # fmt: skip
        if stage == "outcomes":
            for outcome, row in section["recall"].items():
                figures.append(Figure(
                    f"{run.name}.outcomes.{outcome}.recall", run.name, stage,
                    f"  recall: {outcome} (n {row['n']})", row["recall"], 1,
                ))  # fmt: skip
        if stage == "drift":
            figures.extend(_planted_figures(run, section))
    return figures


def _planted_figures(run: Run, section: dict[str, Any]) -> list[Figure]:
    """Per planted finding: whether it was flagged, and its rank in `cxminer drift`."""
    figures = []
    for planted in section["planted"]:
        where = f"{planted['sop_id']}/{planted['step']}"
        team = f" (team {planted['team']})" if planted.get("team") else ""
        rank = planted["rank"]
        shown = f"#{rank} of {section['n_printed']}" if rank is not None else "not flagged"
        key = f"{run.name}.drift.{where}.{planted['kind']}"
        figures.append(Figure(f"{key}.flagged", run.name, "drift",
                              f"planted {planted['kind']}: {where}{team}", int(rank is not None),
                              1, shown=shown))  # fmt: skip
        figures.append(Figure(f"{key}.rank", run.name, "drift", "  its rank in `cxminer drift`",
                              rank, -1, shown="-" if rank is None else str(rank)))  # fmt: skip
    return figures


def _anchor_sections(stage: str, anchors: dict[str, Any]) -> dict[str, dict[str, Any]]:
    if stage == "intents" and "intents" in anchors:
        return anchors["intents"]
    if stage in ("steps", "process") and "steps" in anchors:
        section = anchors["steps"][stage]
        return {"nearest template": section} if section.get("status") == "ok" else {}
    return {}


def format_table(
    figures: list[Figure], spread_of: dict[str, float] | None, baseline: dict | None
) -> str:
    """Render the scoreboard: one line a figure, anchors (and baseline) beside it."""
    base = (baseline or {}).get("figures", {})
    lines = []
    header = f"{'run':<14} {'stage':<12} {'figure':<58} {'value':>12}  anchors"
    if spread_of is not None:
        header += "  [seed spread]"
    lines += [header, "-" * len(header)]
    last = None
    for f in figures:
        where = (f.run, f.stage)
        run, stage = (f.run, f.stage) if where != last else ("", "")
        last = where
        anchors = " | ".join(f"{name} {_fmt(v)}" for name, v in f.anchors.items())
        line = f"{run:<14} {stage:<12} {f.label:<58} {f.shown or _fmt(f.value):>12}  {anchors}"
        if spread_of is not None and f.key in spread_of:
            line += f"  [{_fmt(spread_of[f.key])}]"
        if f.key in base and f.direction:
            line += f"  (baseline {_fmt(base[f.key]['value'])})"
        lines.append(line.rstrip())
    return "\n".join(lines)


def format_planted(planted: dict[str, Any]) -> str:
    """Say what the scoreboard planted in each run's copy of the data, one line a drift."""
    lines = []
    for run, drifts in planted.items():
        for name, about in drifts.items():
            now = f", now {about['now']}" if "now" in about else ""
            lines.append(f"{run}: {name}: {about['sop_id']}/{about['step']}{now}, in "
                         f"{about['n_changed']} of {about['n_eligible']} dialogues from "
                         f"{about['onset']}")  # fmt: skip
    return "\n".join(["", "planted:", *lines]) if lines else ""


def check(
    figures: list[Figure], baseline: dict[str, Any], *, ran: set[str]
) -> tuple[list[str], list[str]]:
    """Compare judged figures with the baseline.

    A figure of a run that did not happen this time (its dataset is absent) is not
    judged; one that is missing from a run that did happen is a problem.

    Returns
    -------
    problems, improvements
        One line each: the figure, its value, the baseline, the change and tolerance.
    """
    by_key = {f.key: f for f in figures}
    problems, better = [], []
    for key, base in baseline["figures"].items():
        direction, tolerance, expected = base["direction"], base["tolerance"], base["value"]
        if not direction or key.split(".")[0] not in ran:
            continue
        figure = by_key.get(key)
        value = None if figure is None else figure.value
        if figure is None:
            problems.append(f"{key}: missing (baseline {_fmt(expected)})")
            continue
        if expected is None or value is None:  # a rank that is absent: never printed
            if value is None and expected is not None:
                problems.append(f"{key}: none now (baseline {_fmt(expected)})")
            elif value is not None and expected is None:
                better.append(f"{key}: {_fmt(value)} (baseline none)")
            continue
        change = (value - expected) * direction
        line = (f"{key}: {_fmt(value)} vs baseline {_fmt(expected)} "
                f"({value - expected:+.4f}; tolerance {tolerance:.4f})")  # fmt: skip
        if change < -tolerance:
            problems.append(line)
        elif change > tolerance:
            better.append(line)
    return problems, better


def spread(reports: list[dict[str, Any]]) -> dict[str, float]:
    """Per figure, the largest distance from the first report's value over the others."""
    first = {f["key"]: f["value"] for f in reports[0]["figures"]}
    result: dict[str, float] = {}
    for report in reports[1:]:
        for f in report["figures"]:
            a, b = first.get(f["key"]), f["value"]
            if isinstance(a, int | float) and isinstance(b, int | float):
                result[f["key"]] = max(result.get(f["key"], 0.0), abs(b - a))
            elif a != b:
                result[f["key"]] = float("inf")  # present in one run, absent in another
    return result


def write_baseline(path: Path, report: dict[str, Any], old: dict[str, Any] | None) -> None:
    """Write the judged figures with their tolerances.

    The tolerance is the figure's seed spread (``--noise``) or, without a new
    measurement, the tolerance the old baseline had; never below :data:`RESOLUTION`.
    """
    measured = report.get("spread")
    previous = (old or {}).get("figures", {})
    figures = {}
    for f in report["figures"]:
        if not f["direction"]:
            continue
        if measured is not None:
            tolerance = measured.get(f["key"], 0.0)
        else:
            tolerance = previous.get(f["key"], {}).get("tolerance", 0.0)
        figures[f["key"]] = {"value": f["value"], "direction": f["direction"],
                             "tolerance": max(tolerance, RESOLUTION)}  # fmt: skip
    meta = {**report["meta"], "tolerance_from": "seed spread" if measured else "previous baseline"}
    if measured is not None:
        meta["seeds"] = report.get("seeds")
    path.write_text(json.dumps({"meta": meta, "figures": figures}, indent=1) + "\n")


def _seed_overrides(seed: int | None) -> dict[str, int]:
    """Every ``seed`` setting of the config set to ``seed`` (none when ``seed`` is None)."""
    if seed is None:
        return {}
    found = {}

    def walk(value: Any, prefix: str) -> None:
        if hasattr(value, "__dataclass_fields__"):
            for name in value.__dataclass_fields__:
                key = f"{prefix}{name}"
                if name == "seed":
                    found[key] = seed
                walk(getattr(value, name), f"{key}.")

    walk(Config(), "")
    return found


def _set(settings: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = settings
    for part in parents:
        node = node.setdefault(part, {})
    node[last] = value


def _parse_set(item: str) -> tuple[str, Any]:
    key, sep, value = item.partition("=")
    if not sep or not key:
        raise SystemExit(f"quality: --set {item!r}: expected KEY=VALUE, e.g. intents.seed=1")
    return key, yaml.safe_load(value)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SystemExit(f"quality: cannot read {path}: {exc}") from None


def _commit() -> str:
    done = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                          text=True, check=False)  # fmt: skip
    return done.stdout.strip()


def _progress(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", file=sys.stderr, flush=True)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="quality.py", description="Run the quality scoreboard on every labelled dataset."
    )
    add = parser.add_argument
    add("--datasets", nargs="+", choices=list(DATASETS), default=list(DATASETS),
        help="datasets to run (default: all that are available)")  # fmt: skip
    add("--check", action="store_true", help="compare with the baseline; exit 1 if a figure fell")
    add("--baseline", type=Path, default=BASELINE, help="baseline JSON")
    add("--write-baseline", action="store_true", help="write this run's figures as the baseline")
    add("--noise", type=int, default=0, metavar="N",
        help="run N times with seeds 0..N-1; each figure's spread is its tolerance")  # fmt: skip
    add("--set", action="append", default=[], metavar="KEY=VALUE",
        help="override a config setting in every run (e.g. intents.seed=1)")  # fmt: skip
    add("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    add("--results", type=Path, metavar="FILE",
        help="print (and check) a saved report instead of running")  # fmt: skip
    add("--workdir", type=Path, metavar="DIR",
        help="keep the runs' databases here (default: a temporary folder, removed)")  # fmt: skip
    return parser


if __name__ == "__main__":
    sys.exit(main())
