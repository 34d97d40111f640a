"""STAR readiness ranking beside STAR's own fields (issue 7 closing note; not a test).

Runs the real nightly flow on STAR and asks whether the readiness ranking it prints
can be explained from what STAR itself records per dialogue:

1. ``cxminer sop import --format star <star>/tasks --out <work>/sops`` (the 12 task
   flowcharts as documented SOPs);
2. writes ``<work>/config.yaml`` (database and report in ``<work>``, the imported SOP
   folder, the repository's ``.cache/cxminer`` so the ONNX export is reused);
3. ``cxminer run --config <work>/config.yaml --input <star>/dialogues.jsonl.gz --format
   star`` as a subprocess (ingest, embed, intents, steps, drift, readiness, report),
   timed;
4. prints the latest ``readiness`` ranking: score, interval, tier, rank stability and
   every component (value 0-1 and score points, from ``components``);
5. per workflow, STAR's fields over the dialogues the run put in it (``outcomes``
   gives conversation -> workflow): its majority task (and that task's share: a
   documented workflow's id is its task's SOP id; an intent-only workflow ``i0xx``
   gets the task most of its dialogues have), the ``Complete`` share of
   ``CompletionLevel``, the ``Scenario.Happy`` share, the ``IntroducesConflicts``
   share, the query failure share and the unavailable share of the ``query`` calls
   (from the ``KnowledgeBase`` result that follows each call, see
   :func:`query_results`), and the mean fitness and conforming share of the *true* step
   sequences (``ActionLabel`` plus API calls) against the flowcharts, with the functions
   of ``benchmarks/eval_conformance_star.py``;
6. Spearman correlations of the score (and of each component) with those fields, over
   all workflows and over the 12 documented ones, with ``n``.

Usage:

    python benchmarks/eval_readiness_star.py [--star DIR] [--workdir DIR] [--skip-run]

``--workdir`` keeps the run's folder (default: a temporary folder, removed at the end);
``--skip-run`` reuses the database already in ``--workdir``.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson
import polars as pl
import yaml
from scipy.stats import spearmanr

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from eval_conformance_star import dialogue_facts, star_sops, step_events  # noqa: E402

from pipeline import schema  # noqa: E402
from pipeline.drift.conformance import check_conformance  # noqa: E402
from pipeline.evaluate.datasets import labels_from_format  # noqa: E402
from pipeline.ingest.adapters.star import result_kind  # noqa: E402
from pipeline.readiness.run import read_readiness  # noqa: E402
from pipeline.readiness.score import COMPONENTS  # noqa: E402
from pipeline.store import open_store  # noqa: E402

DEFAULT_STAR = Path("/work/shared/data/star")
STAR_FIELDS = (
    "complete",
    "happy",
    "conflicts",
    "query_failure",
    "unavailable",
    "true_fitness",
    "true_conforming",
)


def cxminer() -> list[str]:
    """The ``cxminer`` entry point of this interpreter's environment."""
    script = Path(sys.executable).with_name("cxminer")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline.cli.main"]


def run_cli(args: list[str], *, cwd: Path) -> float:
    """Run one ``cxminer`` command; echo its output; exit on failure; return seconds."""
    env = {**os.environ, "CXMINER_HASH_KEY": "eval-readiness-star"}
    start = time.perf_counter()
    done = subprocess.run(
        [*cxminer(), *args], cwd=cwd, env=env, capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - start
    print(f"$ cxminer {' '.join(args)}  ({seconds:.1f} s, exit {done.returncode})")
    print(done.stdout.rstrip())
    if done.returncode != 0:
        sys.exit(f"eval_readiness_star: cxminer {args[0]} failed:\n{done.stderr.strip()}")
    return seconds


def write_config(work: Path, sops: Path, dialogues: Path) -> Path:
    """Write the run's config.yaml (absolute paths) and return its path."""
    config = {
        "database": str(work / "star.duckdb"),
        "landing": str(dialogues),
        "sops": str(sops),
        "ingest": {"format": "star"},
        "embed": {"cache_dir": str(ROOT / ".cache" / "cxminer")},
        "flows": {"report_dir": str(work / "report")},
    }
    path = work / "config.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
    return path


def read_run(db: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """The latest readiness ranking and the conversation -> workflow map of ``outcomes``."""
    ranking = read_readiness(db)
    with open_store(db, read_only=True) as store:
        workflows = store.sql(
            f"select conversation_id, workflow_id from {schema.OUTCOMES} "
            "where workflow_id is not null"
        )
        # repeat contact and stability rest on these: who the customers are, how long
        # the data spans
        span = store.sql(
            "select count(*) as conversations, count(distinct customer_hash) as customers, "
            "min(started_at)::date as first, max(started_at)::date as last "
            f"from {schema.CONVERSATIONS}"
        ).row(0, named=True)
        # what ingest stored of the adapter's result statuses (null: unknown)
        statuses = store.sql(
            f"select coalesce(action_status, 'unknown') as status, count(*) as n "
            f"from {schema.TURNS} where event_type = 'action' group by all order by all"
        ).rows()
    print(
        f"database: {span['conversations']} conversations, {span['customers']} distinct "
        f"customer hashes, started {span['first']} to {span['last']}; action statuses: "
        + ", ".join(f"{status} {n}" for status, n in statuses)
    )
    return ranking, workflows


def components_table(ranking: pl.DataFrame, field: str) -> pl.DataFrame:
    """Per workflow, one column per component: its ``value`` (0-1) or ``contribution``."""
    parsed = [json.loads(text) for text in ranking["components"]]
    return ranking.select("rank", "workflow_id").with_columns(
        pl.Series(name, [c[name][field] for c in parsed], dtype=pl.Float64) for name in COMPONENTS
    )


def query_results(path: Path) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Read STAR's own fields from the raw dialogues file.

    Returns
    -------
    dialogues
        Per dialogue: ``conversation_id`` (as the STAR adapter names it), ``task``
        (``Scenario.WizardCapabilities[0].Task``), ``completion_level``, ``happy``,
        ``conflicts``.
    results
        Per ``KnowledgeBase`` result (one follows every ``query`` call):
        ``conversation_id``, ``api``, ``outcome``: the STAR adapter's
        :func:`~pipeline.ingest.adapters.star.result_kind` (``empty`` and ``error`` are the
        failed calls, which the adapter stores as ``action_status`` "failed"), so the
        benchmark and the pipeline read a result by one rule.
    """
    rows, results = [], []
    with gzip.open(path, "rb") as handle:
        for line in handle:
            dialogue = orjson.loads(line)
            cid = f"star-{dialogue['DialogueID']}"
            scenario = dialogue.get("Scenario") or {}
            capabilities = scenario.get("WizardCapabilities") or [{}]
            rows.append(
                (
                    cid,
                    capabilities[0].get("Task"),
                    dialogue.get("CompletionLevel"),
                    scenario.get("Happy"),
                    dialogue.get("IntroducesConflicts"),
                )
            )
            for event in dialogue["Events"]:
                if event.get("Agent") == "KnowledgeBase":
                    results.append((cid, event.get("APIName"), result_kind(event)))
    dialogues = pl.DataFrame(
        rows,
        schema={
            "conversation_id": pl.String,
            "task": pl.String,
            "completion_level": pl.String,
            "happy": pl.Boolean,
            "conflicts": pl.Boolean,
        },
        orient="row",
    )
    results = pl.DataFrame(
        results,
        schema={"conversation_id": pl.String, "api": pl.String, "outcome": pl.String},
        orient="row",
    )
    return dialogues, results


def true_conformance(star: Path) -> pl.DataFrame:
    """Fitness of each dialogue's true step sequence (labels+api) against its flowchart."""
    dialogues = star / "dialogues.jsonl.gz"
    sops = star_sops(star)
    labels = list(labels_from_format("star", [dialogues]))
    _, queries = dialogue_facts(dialogues)
    events = step_events(labels, sops, queries, with_api=True)
    return check_conformance(events, sops).select(
        "conversation_id",
        true_fitness="fitness",
        true_conforming=pl.col("is_conforming").cast(pl.Float64),
    )


def per_conversation(
    dialogues: pl.DataFrame, results: pl.DataFrame, conformance: pl.DataFrame
) -> pl.DataFrame:
    """One row per dialogue: task, the 0/1 fields, query counts, true fitness."""
    calls = results.group_by("conversation_id").agg(
        queries=pl.len(),
        failed=pl.col("outcome").is_in(["empty", "error"]).sum(),
        unavailable_calls=(pl.col("outcome") == "unavailable").sum(),
    )
    return (
        dialogues.join(calls, on="conversation_id", how="left")
        .join(conformance, on="conversation_id", how="left")
        .with_columns(
            pl.col("queries", "failed", "unavailable_calls").fill_null(0),
            complete=(pl.col("completion_level") == "Complete").cast(pl.Float64),
            happy=pl.col("happy").cast(pl.Float64),
            conflicts=pl.col("conflicts").cast(pl.Float64),
        )
    )


def fields_by(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    """STAR's fields aggregated per ``by``: shares of dialogues, of queries, means."""
    return frame.group_by(by).agg(
        n=pl.len(),
        complete=pl.col("complete").mean(),
        happy=pl.col("happy").mean(),
        conflicts=pl.col("conflicts").mean(),
        # null, not NaN, where the dialogues made no query (0 / 0)
        query_failure=pl.col("failed").sum() / pl.col("queries").sum().replace(0, None),
        unavailable=pl.col("unavailable_calls").sum() / pl.col("queries").sum().replace(0, None),
        true_fitness=pl.col("true_fitness").mean(),
        true_conforming=pl.col("true_conforming").mean(),
    )


def majority_task(frame: pl.DataFrame) -> pl.DataFrame:
    """Per workflow: the task most of its dialogues have, and that task's share."""
    counts = frame.group_by("workflow_id", "task").len()
    return (
        counts.sort(["workflow_id", "len", "task"], descending=[False, True, False])
        .group_by("workflow_id", maintain_order=True)
        .agg(task=pl.col("task").first(), task_share=pl.col("len").first() / pl.col("len").sum())
    )


def spearman(frame: pl.DataFrame, xs: tuple[str, ...], ys: tuple[str, ...]) -> pl.DataFrame:
    """Spearman's rho (with its p-value and n, pairs with a null dropped) of each x with each y."""
    rows = []
    for x in xs:
        for y in ys:
            pair = frame.select(x, y).drop_nulls().drop_nans()
            n = pair.height
            if n < 3 or pair[x].n_unique() < 2 or pair[y].n_unique() < 2:
                rows.append((x, y, n, None, None))
                continue
            rho, p = spearmanr(pair[x].to_numpy(), pair[y].to_numpy())
            rows.append((x, y, n, round(float(rho), 3), round(float(p), 4)))
    return pl.DataFrame(
        rows,
        schema={"x": pl.String, "y": pl.String, "n": pl.Int64, "rho": pl.Float64, "p": pl.Float64},
        orient="row",
    )


def rho_matrix(frame: pl.DataFrame, xs: tuple[str, ...]) -> pl.DataFrame:
    """Spearman's rho of each x (rows) with each STAR field (columns)."""
    return (
        spearman(frame, xs, STAR_FIELDS)
        .pivot("y", index="x", values="rho")
        .select("x", *STAR_FIELDS)
        .rename({"x": "vs"})
    )


def report(ranking: pl.DataFrame, workflows: pl.DataFrame, facts: pl.DataFrame) -> None:
    """Print the ranking, its components, the joined STAR fields and the correlations."""
    values = components_table(ranking, "value")
    points = components_table(ranking, "contribution")
    weights = json.loads(ranking["components"][0])
    print("\n=== (1) readiness ranking (latest run) ===")
    print(
        ranking.select(
            "rank",
            "workflow_id",
            "sop_id",
            n="n_conversations",
            score=pl.col("score").round(1),
            low=pl.col("low").round(1),
            high=pl.col("high").round(1),
            tier="tier",
            rank_held=pl.col("rank_stability").round(2),
            gates=pl.col("gates").list.len(),
        )
    )
    print("weights: " + ", ".join(f"{c} {weights[c]['weight']:g}" for c in COMPONENTS))
    print("(2) component values (0-1, 1 = readier; null = not measured, weight shared out)")
    print(values.with_columns(pl.col(COMPONENTS).round(2)))
    print("(3) component contributions (score points; a row adds up to the score)")
    print(points.with_columns(pl.col(COMPONENTS).round(1)))
    print("(4) reasons")
    for row in ranking.iter_rows(named=True):
        print(f"  {row['rank']:>2} {row['workflow_id']}: " + "; ".join(row["reasons"]))
        for gate in row["gates"]:
            print(f"       gate: {gate}")

    joined = workflows.join(facts, on="conversation_id", how="inner")
    per_workflow = (
        fields_by(joined, "workflow_id")
        .join(majority_task(joined), on="workflow_id")
        .join(
            ranking.select("workflow_id", "rank", "sop_id", "score", "tier").join(
                values.drop("rank"), on="workflow_id"
            ),
            on="workflow_id",
        )
        .sort("rank")
    )
    shown = [
        "rank",
        "workflow_id",
        "task",
        "task_share",
        "n",
        "score",
        "tier",
        *STAR_FIELDS,
    ]
    print("\n=== (5) ranking joined with STAR's own fields (over each workflow's dialogues) ===")
    print(
        "complete = CompletionLevel 'Complete' share; happy = Scenario.Happy share; conflicts ="
        " IntroducesConflicts share;\nquery_failure = share of query calls whose result was empty"
        " or an error; unavailable = share found nothing free;\ntrue_fitness / true_conforming ="
        " true step sequence (ActionLabel + API calls) against the task flowchart"
    )
    print(
        per_workflow.select(shown).with_columns(
            pl.col("task_share", *STAR_FIELDS).round(3), pl.col("score").round(1)
        )
    )
    scored = facts.join(workflows, on="conversation_id", how="left")
    left_out = scored.filter(pl.col("workflow_id").is_null())
    print(
        f"dialogues in the file {facts.height}, in a scored workflow {joined.height}, "
        f"in none {left_out.height} (CompletionLevel of those: "
        + ", ".join(
            f"{k} {v}"
            for k, v in left_out.group_by("completion_level").len().sort("completion_level").rows()
        )
        + ")"
    )
    print("(6) per task, all its dialogues in the file (task = STAR scenario)")
    print(
        fields_by(facts, "task")
        .sort("task")
        .with_columns(pl.col(*STAR_FIELDS).round(3))
        .join(
            ranking.select(task="sop_id", documented_rank="rank", score=pl.col("score").round(1)),
            on="task",
            how="left",
        )
    )
    documented = per_workflow.filter(pl.col("sop_id").is_not_null())
    print("\n=== (7) Spearman rho of the readiness score with each STAR field ===")
    both = pl.concat(
        [
            spearman(per_workflow, ("score",), STAR_FIELDS).with_columns(over=pl.lit("all")),
            spearman(documented, ("score",), STAR_FIELDS).with_columns(over=pl.lit("documented")),
        ]
    )
    print(both.select("over", field="y", n="n", rho="rho", p="p"))
    print(
        f"(8) Spearman rho of each component with each STAR field, documented workflows "
        f"(n = {documented.height}; null: the component is constant)"
    )
    print(rho_matrix(documented, ("score", *COMPONENTS)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--star", type=Path, default=DEFAULT_STAR)
    parser.add_argument("--workdir", type=Path, help="keep the run here (default: a temp folder)")
    parser.add_argument(
        "--skip-run", action="store_true", help="reuse the database already in --workdir"
    )
    args = parser.parse_args()
    star = args.star.resolve()
    dialogues = star / "dialogues.jsonl.gz"
    if not dialogues.is_file() or not (star / "tasks").is_dir():
        sys.exit(
            f"eval_readiness_star: {star} has no dialogues.jsonl.gz and tasks/; this needs "
            "the shared STAR data (see /work/shared/data/README.md) or --star DIR"
        )
    if args.skip_run and not args.workdir:
        sys.exit("eval_readiness_star: --skip-run needs --workdir (the folder of an earlier run)")
    work = args.workdir.resolve() if args.workdir else Path(tempfile.mkdtemp(prefix="star-ready-"))
    work.mkdir(parents=True, exist_ok=True)
    pl.Config.set_tbl_rows(60)
    pl.Config.set_tbl_cols(30)
    pl.Config.set_tbl_width_chars(250)
    pl.Config.set_fmt_str_lengths(60)
    pl.Config.set_tbl_hide_dataframe_shape(True)
    pl.Config.set_tbl_hide_column_data_types(True)
    try:
        if not args.skip_run:
            sops = work / "sops"
            imported = [
                "sop",
                "import",
                "--format",
                "star",
                str(star / "tasks"),
                "--out",
                str(sops),
            ]
            run_cli(imported, cwd=work)
            config = write_config(work, sops, dialogues)
            seconds = run_cli(
                ["run", "--config", str(config), "--input", str(dialogues), "--format", "star"],
                cwd=work,
            )
            print(f"nightly flow wall time: {seconds:.0f} s")
        ranking, workflows = read_run(work / "star.duckdb")
        started = time.perf_counter()
        dialogue_rows, results = query_results(dialogues)
        facts = per_conversation(dialogue_rows, results, true_conformance(star))
        print(f"STAR fields read in {time.perf_counter() - started:.1f} s")
        counts = results.group_by("outcome").len().sort("outcome").rows()
        print("query results: " + ", ".join(f"{k} {v}" for k, v in counts))
        report(ranking, workflows, facts)
        mismatch = ranking.join(
            workflows.group_by("workflow_id").len(), on="workflow_id", how="left"
        ).filter(pl.col("len").fill_null(0) != pl.col("n_conversations"))
        if not mismatch.is_empty():
            print(f"note: {mismatch.height} workflows whose n differs from outcomes' count")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
