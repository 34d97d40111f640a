"""Conformance of STAR's true step sequences to the task flowcharts (not a test).

Reads ``../shared/data/star`` (``/work/shared/data/star``): the flowcharts as SOPs
(:func:`pipeline.sops.star.read_star_sops`) and each dialogue's true step
sequence and task (:func:`pipeline.evaluate.truth.labels_from_format`), builds ``step_events``
(consecutive repeats marked), runs :func:`pipeline.drift.conformance.check_conformance` and
prints: tasks ranked by mean fitness with their conforming share and commonest
deviations, then mean fitness and conforming share by ``Scenario.Happy``,
``IntroducesConflicts`` and ``CompletionLevel`` (read from the dialogue JSON).

Two traces per dialogue:

labels
    The ``ActionLabel`` of the wizard's picked replies, as ``cxminer labels`` writes
    them. The flowchart's query step is an API call, never a picked reply, so it is
    always missing here.
labels+api
    The same, with each ``query`` API call placed at its turn as the flowchart's query
    step: ``query`` where the chart has one; where it has ``query_check`` and
    ``query_book``, the call's ``RequestType`` argument (``Check`` / ``Book``) picks
    one, and a call without it is the check if it is the first call, else the booking.

The SOPs are used exactly as the importer makes them (its module docstring gives the
rule: mandatory steps dominate every end of the chart, requests are optional and
unordered within their Request box, greetings and closings are not process steps).
Usage:

    python benchmarks/eval_conformance_star.py [--star DIR]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

import orjson
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.drift.conformance import check_conformance  # noqa: E402
from pipeline.evaluate.datasets import labels_from_format  # noqa: E402
from pipeline.ingest.adapters.star import dialogue_to_record  # noqa: E402
from pipeline.sops.model import Sop  # noqa: E402
from pipeline.sops.star import read_star_sops  # noqa: E402

DEFAULT_STAR = Path("/work/shared/data/star")


def star_sops(star: Path) -> dict[str, Sop]:
    return {sop.sop_id: sop for sop in read_star_sops([star / "tasks"])}


def dialogue_facts(path: Path) -> tuple[pl.DataFrame, dict[str, list[tuple[int, str]]]]:
    """Per dialogue: Happy, IntroducesConflicts, CompletionLevel, wizard replies (all and
    labelled: free-typed replies carry no step label); and the query calls as (turn,
    RequestType or "")."""
    rows, queries = [], {}
    with gzip.open(path, "rb") as handle:
        for line in handle:
            dialogue = orjson.loads(line)
            record, turn_labels = dialogue_to_record(dialogue)
            cid = record["conversation_id"]
            queries[cid] = [
                (i, request_type(turn.get("args")))
                for i, turn in enumerate(record["turns"])
                if turn.get("event_type") == "action"
                and turn["speaker"] == "agent"  # the wizard's calls (results are the system's)
            ]
            scenario = dialogue.get("Scenario") or {}
            rows.append(
                (
                    cid,
                    scenario.get("Happy"),
                    dialogue.get("IntroducesConflicts"),
                    dialogue.get("CompletionLevel"),
                    sum(
                        t["speaker"] == "agent" and t.get("event_type") != "action"
                        for t in record["turns"]
                    ),
                    len(turn_labels),
                )
            )
    facts = pl.DataFrame(
        rows,
        schema={
            "conversation_id": pl.String,
            "happy": pl.Boolean,
            "introduces_conflicts": pl.Boolean,
            "completion_level": pl.String,
            "wizard_replies": pl.Int64,
            "labelled_replies": pl.Int64,
        },
        orient="row",
    )
    return facts, queries


def request_type(args: object) -> str:
    """The ``RequestType`` constraint of a query call (``Check``, ``Book``), else ""."""
    constraints = args.get("constraints") if isinstance(args, dict) else None
    for constraint in constraints if isinstance(constraints, list) else []:
        if isinstance(constraint, dict) and "RequestType" in constraint:
            return str(constraint["RequestType"]).strip("\"' ")
    return ""


def query_steps(sop: Sop, kinds: list[str]) -> list[str]:
    bound = [s.id for s in sop.steps if s.id in ("query", "query_check", "query_book")]
    if "query" in bound:
        return ["query"] * len(kinds)
    if set(bound) == {"query_check", "query_book"}:
        by_kind = {"check": "query_check", "book": "query_book"}
        return [
            by_kind.get(kind.lower(), "query_book" if i else "query_check")
            for i, kind in enumerate(kinds)
        ]
    return [bound[0]] * len(kinds) if bound else []


def step_events(
    labels: list[dict],
    sops: dict[str, Sop],
    queries: dict[str, list[tuple[int, str]]],
    *,
    with_api: bool,
) -> pl.DataFrame:
    rows = []
    for label in labels:
        cid, task = label["conversation_id"], label["intent"]
        placed = [(int(turn), step) for turn, step in label["turn_steps"].items()]
        if with_api and task in sops:
            calls = queries.get(cid, [])
            steps = query_steps(sops[task], [kind for _, kind in calls])
            placed += [(turn, step) for (turn, _), step in zip(calls, steps, strict=True)]
        previous = None
        for seq, (turn, step) in enumerate(sorted(placed)):
            rows.append((cid, seq, turn, step, task, step == previous))
            previous = step
    return pl.DataFrame(
        rows,
        schema={
            "conversation_id": pl.String,
            "seq": pl.Int32,
            "turn_idx": pl.Int32,
            "step_id": pl.String,
            "sop_id": pl.String,
            "is_repeat": pl.Boolean,
        },
        orient="row",
    )


def summary(frame: pl.DataFrame, by: str) -> pl.DataFrame:
    return (
        frame.group_by(by)
        .agg(
            n=pl.len(),
            mean_fitness=pl.col("fitness").mean().round(3),
            conforming=pl.col("is_conforming").mean().round(3),
            missing_any=(pl.col("missing").list.len() > 0).mean().round(3),
            order_any=(pl.col("order_violations").list.len() > 0).mean().round(3),
            undocumented_any=(pl.col("undocumented").list.len() > 0).mean().round(3),
        )
        .sort(by, nulls_last=True)
    )


def top(frame: pl.DataFrame, column: str, k: int = 2) -> pl.DataFrame:
    counts = (
        frame.select("sop_id", column)
        .explode(column)
        .drop_nulls(column)
        .group_by("sop_id", column)
        .len()
        .join(frame.group_by("sop_id").len().rename({"len": "n"}), on="sop_id")
        .with_columns(share=(pl.col("len") / pl.col("n")).round(2))
        .sort(["sop_id", "len", column], descending=[False, True, False])
    )
    return counts.group_by("sop_id", maintain_order=True).agg(
        pl.format("{} ({})", column, "share").head(k).str.join("; ").alias(f"top_{column}")
    )


def report(conformance: pl.DataFrame, facts: pl.DataFrame, title: str) -> None:
    print(f"\n=== {title}: {conformance.height} dialogues with a trace ===")
    by_task = (
        summary(conformance, "sop_id")
        .join(top(conformance, "missing"), on="sop_id", how="left")
        .join(top(conformance, "order_violations"), on="sop_id", how="left")
        .sort(["mean_fitness", "conforming"], descending=True)
        .with_row_index("rank", offset=1)
    )
    overall = conformance.select(
        n=pl.len(),
        mean_fitness=pl.col("fitness").mean().round(3),
        conforming=pl.col("is_conforming").mean().round(3),
    )
    print(f"overall: {overall.row(0, named=True)}")
    print("(a) tasks ranked by mean fitness")
    print(by_task.select(pl.exclude("top_missing", "top_order_violations")))
    print(by_task.select("sop_id", "top_missing", "top_order_violations"))
    joined = conformance.join(facts, on="conversation_id", how="left")
    for column in ("happy", "introduces_conflicts", "completion_level"):
        print(f"(b) by {column}")
        print(summary(joined, column))
    for column in ("happy", "introduces_conflicts"):
        print(f"(c) within task, {column} false minus true (tasks with both)")
        print(within_task(joined, column))


def within_task(joined: pl.DataFrame, flag: str) -> pl.DataFrame:
    """Per task: fitness and conforming share where ``flag`` is false minus where it is
    true, then their mean over tasks with Mantel-Haenszel weights ``n_false * n_true /
    n`` (a task with 1 dialogue on one side weighs little) and a normal 95% interval of
    the conforming difference. The task mix differs between the groups, so the pooled
    figures of (b) mix task and flag; these do not."""
    by = (
        joined.drop_nulls(flag)
        .group_by("sop_id", flag)
        .agg(n=pl.len(), fit=pl.col("fitness").mean(), conf=pl.col("is_conforming").mean())
        .pivot(flag, index="sop_id", values=["n", "fit", "conf"])
        .drop_nulls()
        .with_columns(
            d_fitness=pl.col("fit_false") - pl.col("fit_true"),
            d_conforming=pl.col("conf_false") - pl.col("conf_true"),
            _var=sum(
                pl.col(f"conf_{side}") * (1 - pl.col(f"conf_{side}")) / pl.col(f"n_{side}")
                for side in ("false", "true")
            ),
            _w=pl.col("n_false") * pl.col("n_true") / (pl.col("n_false") + pl.col("n_true")),
        )
        .sort("sop_id")
    )
    w = pl.col("_w") / pl.col("_w").sum()
    half = 1.96 * (w.pow(2) * pl.col("_var")).sum().sqrt()
    d = (w * pl.col("d_conforming")).sum()
    pooled = by.select(
        pl.lit("(weighted mean)").alias("sop_id"),
        pl.col("n_false").sum(),
        pl.col("n_true").sum(),
        (w * pl.col("d_fitness")).sum().alias("d_fitness"),
        d.alias("d_conforming"),
        pl.format("[{}, {}]", (d - half).round(3), (d + half).round(3)).alias("ci95_conforming"),
    )
    columns = ["sop_id", "n_false", "n_true", "d_fitness", "d_conforming"]
    rows = by.select(*columns, ci95_conforming=pl.lit(""))
    return pl.concat([rows, pooled]).with_columns(pl.col("d_fitness", "d_conforming").round(3))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--star", type=Path, default=DEFAULT_STAR)
    args = parser.parse_args()
    dialogues = args.star / "dialogues.jsonl.gz"
    if not dialogues.is_file() or not (args.star / "tasks").is_dir():
        sys.exit(
            f"eval_conformance_star: {args.star} has no dialogues.jsonl.gz and tasks/; "
            "this needs the shared STAR data (see /work/shared/data/README.md) or --star DIR"
        )
    sops = star_sops(args.star)
    labels = list(labels_from_format("star", [dialogues]))
    facts, queries = dialogue_facts(dialogues)
    no_steps = sum(1 for label in labels if not label["steps"])
    labelled = facts["labelled_replies"].sum() / max(facts["wizard_replies"].sum(), 1)
    print(
        f"dialogues {len(labels)}, SOPs {len(sops)}, dialogues without a labelled step "
        f"{no_steps}, wizard replies with a step label {labelled:.1%}"
    )
    pl.Config.set_tbl_rows(40)
    pl.Config.set_tbl_cols(20)
    pl.Config.set_tbl_width_chars(200)
    pl.Config.set_fmt_str_lengths(120)
    pl.Config.set_tbl_hide_dataframe_shape(True)
    for with_api, title in ((False, "labels"), (True, "labels+api")):
        events = step_events(labels, sops, queries, with_api=with_api)
        report(check_conformance(events, sops), facts, title)


if __name__ == "__main__":
    main()
