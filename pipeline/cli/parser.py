"""The ``cxminer`` argument parser: every subcommand, its options and their help text."""

from __future__ import annotations

import argparse
import datetime

from pipeline import __version__
from pipeline.cli import commands
from pipeline.cli import playbook as playbook_commands
from pipeline.config import FORMATS
from pipeline.evaluate.datasets import LABEL_FORMATS


def build_parser() -> argparse.ArgumentParser:
    """Return the parser of every subcommand; each sets ``handler`` to its command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help="config file (default: ./config.yaml if present, else built-in defaults)",
    )
    common.add_argument("--db", metavar="PATH", help="DuckDB file (default: `database` in config)")
    common.add_argument("-v", "--verbose", action="store_true", help="show Prefect's run logs")
    parser = argparse.ArgumentParser(
        prog="cxminer",
        description="Mine contact-center transcripts into intents, SOPs, drift and readiness.",
    )
    parser.add_argument("--version", action="version", version=f"cxminer {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    run = sub.add_parser(
        "run",
        parents=[common],
        help="run the whole flow once",
        description="Run the whole flow once on the landing folder (or --input).",
    )
    run.add_argument(
        "--input",
        nargs="+",
        metavar="PATH",
        help="files or folders to ingest instead of the configured landing folder",
    )
    run.add_argument(
        "--sops",
        metavar="DIR",
        help="documented SOP folder (playbook YAML) instead of `sops` in config",
    )
    _ingest_options(run)
    run.set_defaults(handler=commands.cmd_run)

    ingest = sub.add_parser(
        "ingest",
        parents=[common],
        help="ingest transcript files",
        description="Validate, redact and load transcript files.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    _ingest_options(ingest)
    ingest.set_defaults(handler=commands.cmd_ingest)

    intents = sub.add_parser(
        "intents",
        parents=[common],
        help="the intent table (id, label, size, share, exemplar)",
        description="Print the intents of the latest run, largest first. With --update or "
        "--refit, run the intent stage first (needs a writable database).",
    )
    mode = intents.add_mutually_exclusive_group()
    mode.add_argument(
        "--update",
        action="store_true",
        help="run the intent stage first as config says (intents.refit, normally auto)",
    )
    mode.add_argument(
        "--refit", action="store_true", help="fit a new model first (ids kept where they match)"
    )
    intents.add_argument(
        "--tree",
        action="store_true",
        help="print the families (intents whose requests are alike, intents.family_similarity) "
        "with their intents folded inside, largest first",
    )
    intents.add_argument("--json", action="store_true", help="print one JSON object")
    intents.set_defaults(handler=commands.cmd_intents)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="what the database holds",
        description="Runs, sources, row counts and quarantine by reason.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=commands.cmd_status)

    sop = sub.add_parser(
        "sop",
        help="playbook (SOP) library: import, validate",
        description="Work with playbook YAML files (documented SOPs and mined drafts).",
    )
    sop_sub = sop.add_subparsers(dest="sop_command", metavar="SOP_COMMAND", required=True)
    sop_import = sop_sub.add_parser(
        "import",
        parents=[common],
        help="convert a public procedure library to playbook YAML",
        description="Convert STAR task flowcharts (task folders or tasks/) or ABCD guidelines "
        "(guidelines.json + kb.json [+ ontology.json]) into one YAML file per SOP.",
    )
    sop_import.add_argument("--format", required=True, choices=("star", "abcd"))
    sop_import.add_argument("inputs", nargs="+", metavar="IN", help="input files or folders")
    sop_import.add_argument("--out", required=True, metavar="DIR", help="output folder")
    sop_import.set_defaults(handler=commands.cmd_sop_import)
    sop_validate = sop_sub.add_parser(
        "validate",
        parents=[common],
        help="check playbook YAML files",
        description="Validate playbook files; prints one line per invalid file, exit 1 if any.",
    )
    sop_validate.add_argument("files", nargs="+", metavar="FILE", help="files or folders")
    sop_validate.set_defaults(handler=commands.cmd_sop_validate)
    sop_draft = sop_sub.add_parser(
        "draft",
        parents=[common],
        help="write a workflow's mined candidate SOP as a playbook draft",
        description="Write the candidate SOP that the latest run mined for WORKFLOW (a "
        "documented SOP id, or an intent id where no SOP applies) as playbook YAML: steps "
        "in their typical order, mandatory/optional by support, rare steps left out. "
        "Review it, then put it in the SOP folder to check later runs against it.",
    )
    sop_draft.add_argument("workflow", metavar="WORKFLOW", help="sop id or intent id")
    sop_draft.add_argument("-o", "--out", metavar="FILE", help="YAML file (default: stdout)")
    sop_draft.set_defaults(handler=commands.cmd_sop_draft)

    playbook = sub.add_parser(
        "playbook",
        help="playbook bundles: export, test, diff",
        description="A workflow's playbook as a bundle an agent can run and a compliance "
        "team can review: playbook.yaml, tests mined from real conversations, monitors, "
        "EVIDENCE.md.",
    )
    book_sub = playbook.add_subparsers(dest="playbook_command", metavar="PLAYBOOK_COMMAND",
                                       required=True)  # fmt: skip
    book_export = book_sub.add_parser(
        "export",
        parents=[common],
        help="write a workflow's bundle folder",
        description="Write WORKFLOW's bundle (a documented SOP id, else an intent id with a "
        "mined draft) to DIR: playbook.yaml with the evidence of what agents do at each "
        "step, tests/golden.yaml and tests/deviations.yaml (one case per trace at least "
        "--min-share of its conversations follow), monitors.yaml and EVIDENCE.md.",
    )
    book_export.add_argument("workflow", metavar="WORKFLOW", help="sop id or intent id")
    book_export.add_argument("--out", required=True, metavar="DIR", help="bundle folder")
    book_export.add_argument(
        "--min-share", type=float, default=0.01, metavar="X",
        help="a trace needs this share of the workflow's conversations to become a test "
        "case (default 0.01)",
    )  # fmt: skip
    book_export.set_defaults(handler=playbook_commands.cmd_playbook_export)
    book_test = book_sub.add_parser(
        "test",
        parents=[common],
        help="replay a bundle's tests against its playbook",
        description="Replay DIR's golden cases (they must conform to playbook.yaml) and known "
        "deviations (each must still be raised); with --db, the workflow's latest "
        "conversations too. Prints the failures and exits 1 when any case fails, or when "
        "what the playbook prescribes changed since export without a higher version.",
    )
    book_test.add_argument("bundle", metavar="DIR", help="bundle folder")
    book_test.add_argument("--all", action="store_true", help="print passing cases too")
    book_test.set_defaults(handler=playbook_commands.cmd_playbook_test)
    book_diff = book_sub.add_parser(
        "diff",
        parents=[common],
        help="say what changed between two playbooks",
        description="Print, in words, what changed from OLD to NEW (bundle folders or "
        "playbook files): steps added or removed, decisions, tool bindings, order, approval "
        "gates, risk, approval. Exits 1 when what NEW prescribes changed but its version is "
        "not above OLD's.",
    )
    book_diff.add_argument("old", metavar="OLD", help="bundle folder or playbook file")
    book_diff.add_argument("new", metavar="NEW", help="bundle folder or playbook file")
    book_diff.set_defaults(handler=playbook_commands.cmd_playbook_diff)

    sample = sub.add_parser(
        "sample",
        parents=[common],
        help="generate the synthetic sample corpus with ground truth",
        description="Generate a deterministic synthetic corpus (conversations, documented SOPs, "
        "and ground truth under OUT/truth/).",
    )
    sample.add_argument("--out", required=True, metavar="DIR", help="output folder")
    sample.add_argument("--seed", type=int, default=7, help="random seed (default 7)")
    sample.add_argument(
        "--n",
        type=int,
        default=6000,
        metavar="N",
        help="base conversations, before repeat contacts (default 6000)",
    )
    sample.add_argument(
        "--sops-out", metavar="DIR", help="where the documented SOPs go (default: OUT/sops)"
    )
    sample.set_defaults(handler=commands.cmd_sample)

    labels = sub.add_parser(
        "labels",
        parents=[common],
        help="write ground-truth labels from a labelled public dataset",
        description="Convert a labelled public dataset's annotations to the labels JSONL format.",
    )
    labels.add_argument("--format", required=True, choices=LABEL_FORMATS)
    labels.add_argument("inputs", nargs="+", metavar="IN", help="dataset files")
    labels.add_argument("-o", "--out", required=True, metavar="OUT", help="labels file to write")
    labels.set_defaults(handler=commands.cmd_labels)

    export_log = sub.add_parser(
        "export-log",
        parents=[common],
        help="write the step event log as XES for process-mining tools",
        description="Write the step event log of the latest run (repeats collapsed) as an "
        "IEEE XES file: one trace per conversation (with its workflow), one event per step.",
    )
    export_log.add_argument("-o", "--out", required=True, metavar="FILE", help="XES file")
    export_log.set_defaults(handler=commands.cmd_export_log)

    export_vcon = sub.add_parser(
        "export-vcon",
        parents=[common],
        help="write each conversation with its results as a vCon file",
        description="Write one IETF vCon JSON file per conversation into DIR "
        "(<uuid>.vcon.json): the redacted turns as text dialog, the parties by role with "
        "their hashed ids only, and cxminer's results as analysis entries (intent, steps "
        "with their SOP, conformance, the drift findings it is an example of, tool calls). "
        "Exporting again rewrites the same files with the same bytes.",
    )
    export_vcon.add_argument("-o", "--out", required=True, metavar="DIR", help="output folder")
    export_vcon.add_argument(
        "--since",
        type=_since,
        metavar="DATE",
        help="only conversations started on or after DATE (YYYY-MM-DD, UTC; default: all)",
    )
    export_vcon.set_defaults(handler=commands.cmd_export_vcon)

    drift = sub.add_parser(
        "drift",
        parents=[common],
        help="the top drift findings, in plain words",
        description="Print the flagged drift findings of the latest run, most severe first: "
        "skipped or reordered SOP steps against their baseline, outcome impact, intent and "
        "variant mix changes, conformance change points, recurring off-script sub-flows.",
    )
    drift.add_argument("--limit", type=int, default=20, metavar="N", help="show N (default 20)")
    drift.add_argument("--all", action="store_true", help="include findings not flagged")
    drift.add_argument("--json", action="store_true", help="print JSON lines")
    drift.add_argument(
        "--examples",
        action="store_true",
        help="show 2-3 example conversations under each flagged finding: the turns around "
        "the one that shows it (marked >), redacted; with --json, an examples list in each line",
    )
    drift.set_defaults(handler=commands.cmd_drift)

    readiness = sub.add_parser(
        "readiness",
        parents=[common],
        help="the autonomy-readiness ranking, and what an AI agent could take",
        description="Print the latest readiness ranking: score 0-100 with its bootstrap "
        "interval, tier, how often the rank holds when weights move, gates and reasons; "
        "then per workflow and per month its conversations, agent hours and outcomes and "
        "what an AI agent could take at its tier, with a totals line (--json: the ranking "
        "rows only).",
    )
    readiness.add_argument("--json", action="store_true", help="print JSON lines")
    readiness.set_defaults(handler=commands.cmd_readiness)

    report = sub.add_parser(
        "report",
        parents=[common],
        help="create the SQL views and write the HTML report",
        description="Create (or replace) the report views in the database and write "
        "index.html and summary.md to the report folder (flows.report_dir in config).",
    )
    report.add_argument("--out", metavar="DIR", help="report folder (default: flows.report_dir)")
    report.set_defaults(handler=commands.cmd_report)

    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the scheduled flows (nightly run, weekly intent refit)",
        description="Register the nightly and refit deployments with the cron schedules of "
        "config.yaml (flows.nightly_cron, flows.refit_cron) and run them when due, until "
        "Ctrl-C. Uses the Prefect server at PREFECT_API_URL, or starts a local one.",
    )
    serve.add_argument("--port", type=int, default=4200, help="port of a local Prefect server")
    serve.set_defaults(handler=commands.cmd_serve)

    evaluate = sub.add_parser(
        "evaluate",
        parents=[common],
        help="score the database against labels",
        description="Score intents, steps, process, conformance, drift and readiness against "
        "ground truth; sections whose stage has not run are reported as absent.",
    )
    evaluate.add_argument("--labels", required=True, metavar="FILE", help="labels JSONL")
    evaluate.add_argument(
        "--truth",
        metavar="DIR",
        help="folder with drift.json / readiness.json "
        "(default: the labels file's folder, if it holds them)",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(handler=commands.cmd_evaluate)
    return parser


def _ingest_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="input format (default: ingest.format in config, normally auto)",
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="re-read files already ingested (conversations still dedupe by content)",
    )
    parser.add_argument(
        "--fail-on-quarantine",
        action="store_true",
        help="exit with code 3 if any record was quarantined",
    )


def _since(value: str) -> datetime.date:
    """Parse ``--since``: a date as YYYY-MM-DD."""
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a date as YYYY-MM-DD, found {value!r}"
        ) from None
