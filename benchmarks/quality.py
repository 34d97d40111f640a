"""The quality scoreboard: the real pipeline on every labelled dataset, one table.

For each dataset available (the bundled sample always; STAR, MultiDoGO dev and Banking77
test when ``../shared/data`` is beside the checkout; see ``quality_datasets.py``) this
runs ``cxminer run`` (real flows, real default embedding model, a fresh DuckDB file),
scores the database with ``cxminer evaluate``'s scorer (:func:`pipeline.evaluate.scores.evaluate`,
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
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
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
from quality_report import (  # noqa: E402
    FIGURES,
    Figure,
    check,
    format_planted,
    format_table,
    spread,
    write_baseline,
)

from pipeline import schema  # noqa: E402
from pipeline.config import Config, load_config  # noqa: E402
from pipeline.evaluate.scores import evaluate  # noqa: E402
from pipeline.evaluate.truth import read_labels  # noqa: E402
from pipeline.ingest.adapters.multidogo import (  # noqa: E402
    GENERIC_ACTS,
    iter_conversations,
    split_intents,
)
from pipeline.intents.requests import mark_answers  # noqa: E402
from pipeline.sops.files import load_sops  # noqa: E402
from pipeline.store import open_store  # noqa: E402

BASELINE = ROOT / "benchmarks" / "quality_baseline.json"
# The intent figures are medians over this many seeds (the run's own and the next ones):
# a single seed's cut moves Banking77's accuracy by up to 0.38.
INTENT_SEEDS = 3
#: MultiDoGO acts a request rule should skip, as issue 21 names them.
REQUEST_SKIP_ACTS = frozenset(("contentonly", "confirmation", "openinggreeting", "thankyou"))


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
    # each board fits intents with INTENT_SEEDS seeds from its own: disjoint sets
    seeds = [INTENT_SEEDS * k for k in range(args.noise)] if args.noise else [None]
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
            seeds = [(seed or 0) + k for k in range(INTENT_SEEDS)]
            if "intents" in run.stages:
                result["intents"] = intents_over_seeds(run, work, db, overrides, seeds,
                                                       result["intents"])  # fmt: skip
            anchors = {}
            if "intents" in run.anchors:
                each = [intent_anchors(db, config, labels, seed=s) for s in seeds]
                anchors["intents"] = {name: median_section([a[name] for a in each], seeds)
                                      for name in each[0]}  # fmt: skip
            if "requests" in run.stages:
                result["requests"] = request_rule_section(db, config, run.inputs)
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
    path = write_config(run, folder, db, {**overrides, **_seed_overrides(seed)})
    cxminer("run", "--config", str(path), "--input", *map(str, run.inputs), "--format", run.fmt)
    return db, load_config(path)


def write_config(run: Run, folder: Path, db: Path, overrides: dict[str, Any]) -> Path:
    """Write ``folder/config.yaml`` for ``run`` on database ``db``; return its path."""
    sops = run.sops or folder / "no-sops"
    sops.mkdir(parents=True, exist_ok=True)
    settings: dict[str, Any] = {
        "database": str(db),
        "landing": str(run.inputs[0]),
        "sops": str(sops),
        "ingest": {"format": run.fmt},
        "embed": {"cache_dir": str(ROOT / ".cache" / "cxminer")},
        "flows": {"report_dir": str(folder / "report")},
    }
    for key, value in {**run.settings, **overrides}.items():
        _set(settings, key, value)
    path = folder / "config.yaml"
    path.write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    return path


def intents_over_seeds(
    run: Run,
    work: Path,
    db: Path,
    overrides: dict[str, Any],
    seeds: list[int],
    first: dict[str, Any],
) -> dict[str, Any]:
    """The intents section as the median over ``seeds`` (the first is the run's own).

    One seed's cut can differ from another's by more than any change worth judging, so
    each further seed refits the intent model (``cxminer intents --refit`` on a copy of
    the run's database, the run's settings with that seed) and is scored alike.
    """
    sections = [first]
    for seed in seeds[1:]:
        folder = work / run.name / f"intents-seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        copy = folder / "cxminer.duckdb"
        shutil.copy(db, copy)
        path = write_config(run, folder, copy, {**overrides, "intents.seed": seed})
        cxminer("intents", "--refit", "--config", str(path))
        sections.append(evaluate(copy, run.labels)["intents"])
        copy.unlink()
    return median_section(sections, seeds)


def median_section(sections: list[dict[str, Any]], seeds: list[int]) -> dict[str, Any]:
    """Each figure of an intents section as its median over seeds, with the values."""
    absent = [s for s in sections if s.get("status", "ok") != "ok"]
    if absent:
        return absent[0]
    keys = [key for key, _, _ in FIGURES["intents"]]
    values = {key: [s[key] for s in sections] for key in keys if all(key in s for s in sections)}
    return {
        **sections[0],
        **{key: statistics.median(v) for key, v in values.items()},
        "seeds": seeds,
        "per_seed": values,
    }


def request_rule_section(db: Path, config: Config, inputs: list[Path]) -> dict[str, Any]:
    """Score the request rule (:func:`~pipeline.intents.requests.mark_answers`) on MultiDoGO.

    Each stored customer turn is called an answer or not, whatever ``intents.skip_answers``
    says, and compared with its MultiDoGO acts: a turn is truly skipped when all its acts
    are ``contentonly``, ``confirmation``, ``openinggreeting`` or ``thankyou`` (the
    issue's four); the ``_all_acts`` figures add ``rejection`` ("no thanks"),
    ``closinggreeting`` ("bye") and ``outofdomain``, which are answers and small talk
    too.
    """
    acts = {}
    for path in inputs:
        for conversation in iter_conversations(path):
            if conversation.problem is None:
                for position, fields in enumerate(conversation.turn_rows()):
                    acts[conversation.conversation_id, position] = split_intents(fields[5])
    with open_store(db, read_only=True) as store:
        turns = store.sql(
            f"select conversation_id, turn_idx, speaker, event_type, text from {schema.TURNS}"
        )
    marked = mark_answers(turns, config.intents)
    said, truth, truth_all = [], [], []
    for conversation, turn_idx, is_answer in marked.select(
        "conversation_id", "turn_idx", "is_answer"
    ).iter_rows():
        found = acts.get((conversation, turn_idx))
        if found is None:
            continue
        said.append(is_answer)
        truth.append(all(a in REQUEST_SKIP_ACTS for a in found))
        truth_all.append(all(a in GENERIC_ACTS for a in found))
    return {
        "status": "ok",
        **_precision_recall(said, truth, ""),
        **_precision_recall(said, truth_all, "_all_acts"),
        "n_turns": len(said),
    }


def _precision_recall(said: list[bool], truth: list[bool], suffix: str) -> dict[str, float]:
    hits = sum(s and t for s, t in zip(said, truth, strict=True))
    return {
        f"precision{suffix}": hits / max(sum(said), 1),
        f"recall{suffix}": hits / max(sum(truth), 1),
    }


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
            if key == "accuracy" and "per_seed" in section:
                each = " ".join(f"{v:.3f}" for v in section["per_seed"]["accuracy"])
                figures.append(Figure(
                    f"{run.name}.{stage}.accuracy_per_seed", run.name, stage,
                    f"  accuracy, seeds {section['seeds'][0]}-{section['seeds'][-1]}", None, 0,
                    {name: " ".join(f"{v:.3f}" for v in values["per_seed"]["accuracy"])
                     for name, values in beside.items() if "per_seed" in values},
                    each,
                ))  # fmt: skip
        if stage == "conformance":
            for path, row in sorted((section.get("happy_path") or {}).items()):
                figures.append(Figure(
                    f"{run.name}.conformance.{path}_path", run.name, stage,
                    f"  conforming share: {path} path scenarios (n {row['n']})",
                    row["conforming_share"], 0,
                ))  # fmt: skip
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
            templates = section.get("exception_templates")
            if templates is not None:
                figures.append(Figure(
                    f"{run.name}.drift.exception_template_exemplars", run.name, stage,
                    f"  flagged exception clusters that fill a documented template (of "
                    f"{templates['n_flagged_clusters']})", templates["n_template_exemplars"], -1,
                ))  # fmt: skip
            figures.extend(_planted_figures(run, section))
            for effect in section.get("outcome_effects") or []:
                shown = "not found"
                if effect["found_skipped"] is not None:
                    shown = (
                        f"{effect['found_skipped']:.2f} vs {effect['found_done']:.2f} "
                        f"(true {effect['true_skipped']:.2f} vs {effect['true_done']:.2f})"
                    )
                figures.append(Figure(
                    f"{run.name}.drift.{effect['step']}.{effect['metric']}.effect", run.name, stage,
                    f"  planted effect, skip {effect['step']}: {effect['metric']} (found/true)",
                    effect["delta_ratio"], 0, shown=shown,
                ))  # fmt: skip
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
