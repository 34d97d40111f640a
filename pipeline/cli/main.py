"""The ``cxminer`` command line: parses arguments, calls flows or pipeline functions.

Exit codes: 0 success; 1 an operational error (one line on stderr: what, where, the
fix); 2 bad usage; 3 with ``--fail-on-quarantine`` when records were quarantined.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pipeline import __version__
from pipeline.cli.summary import print_ingest_summary, print_intents_summary, print_run_summary
from pipeline.config import FORMATS, Config, hash_key_from_env, load_config
from pipeline.errors import CxminerError, SopError
from pipeline.evaluate.truth import LABEL_FORMATS
from pipeline.ingest.run import list_inputs

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUARANTINE = 0, 1, 2, 3


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the process exit code."""
    parser = _parser()
    args = parser.parse_args(argv)
    if not getattr(args, "command", None):
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        config = load_config(_config_path(args.config))
        return args.handler(args, config)
    except CxminerError as exc:
        print(f"cxminer: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("cxminer: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`cxminer drift | head`): not an error
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK


def _config_path(given: str | None) -> Path | None:
    if given:
        return Path(given)
    default = Path("config.yaml")
    return default if default.exists() else None


def _parser() -> argparse.ArgumentParser:
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
    run.set_defaults(handler=_cmd_run)

    ingest = sub.add_parser(
        "ingest",
        parents=[common],
        help="ingest transcript files",
        description="Validate, redact and load transcript files.",
    )
    ingest.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    _ingest_options(ingest)
    ingest.set_defaults(handler=_cmd_ingest)

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
    intents.add_argument("--json", action="store_true", help="print one JSON object")
    intents.set_defaults(handler=_cmd_intents)

    status = sub.add_parser(
        "status",
        parents=[common],
        help="what the database holds",
        description="Runs, sources, row counts and quarantine by reason.",
    )
    status.add_argument("--json", action="store_true", help="print one JSON object")
    status.set_defaults(handler=_cmd_status)

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
    sop_import.set_defaults(handler=_cmd_sop_import)
    sop_validate = sop_sub.add_parser(
        "validate",
        parents=[common],
        help="check playbook YAML files",
        description="Validate playbook files; prints one line per invalid file, exit 1 if any.",
    )
    sop_validate.add_argument("files", nargs="+", metavar="FILE", help="files or folders")
    sop_validate.set_defaults(handler=_cmd_sop_validate)
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
    sop_draft.set_defaults(handler=_cmd_sop_draft)

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
    sample.set_defaults(handler=_cmd_sample)

    labels = sub.add_parser(
        "labels",
        parents=[common],
        help="write ground-truth labels from a labelled public dataset",
        description="Convert a labelled public dataset's annotations to the labels JSONL format.",
    )
    labels.add_argument("--format", required=True, choices=LABEL_FORMATS)
    labels.add_argument("inputs", nargs="+", metavar="IN", help="dataset files")
    labels.add_argument("-o", "--out", required=True, metavar="OUT", help="labels file to write")
    labels.set_defaults(handler=_cmd_labels)

    export_log = sub.add_parser(
        "export-log",
        parents=[common],
        help="write the step event log as XES for process-mining tools",
        description="Write the step event log of the latest run (repeats collapsed) as an "
        "IEEE XES file: one trace per conversation (with its workflow), one event per step.",
    )
    export_log.add_argument("-o", "--out", required=True, metavar="FILE", help="XES file")
    export_log.set_defaults(handler=_cmd_export_log)

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
    drift.set_defaults(handler=_cmd_drift)

    readiness = sub.add_parser(
        "readiness",
        parents=[common],
        help="the autonomy-readiness ranking",
        description="Print the latest readiness ranking: score 0-100 with its bootstrap "
        "interval, tier, how often the rank holds when weights move, gates and reasons.",
    )
    readiness.add_argument("--json", action="store_true", help="print JSON lines")
    readiness.set_defaults(handler=_cmd_readiness)

    report = sub.add_parser(
        "report",
        parents=[common],
        help="create the SQL views and write the HTML report",
        description="Create (or replace) the report views in the database and write "
        "index.html and summary.md to the report folder (flows.report_dir in config).",
    )
    report.add_argument("--out", metavar="DIR", help="report folder (default: flows.report_dir)")
    report.set_defaults(handler=_cmd_report)

    serve = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the scheduled flows (nightly run, weekly intent refit)",
        description="Register the nightly and refit deployments with the cron schedules of "
        "config.yaml (flows.nightly_cron, flows.refit_cron) and run them when due, until "
        "Ctrl-C. Uses the Prefect server at PREFECT_API_URL, or starts a local one.",
    )
    serve.add_argument("--port", type=int, default=4200, help="port of a local Prefect server")
    serve.set_defaults(handler=_cmd_serve)

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
    evaluate.set_defaults(handler=_cmd_evaluate)
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


def _precheck_ingest(config: Config, inputs: list[str] | None) -> None:
    """Fail fast on a missing input path, before Prefect starts; warn on the dev hash key."""
    list_inputs(
        inputs or [config.landing],
        patterns=config.ingest.patterns,
        recursive=config.ingest.recursive,
    )
    _, default_key = hash_key_from_env(config.redact.hash_key_env, os.environ)
    if default_key:
        print(
            f"cxminer: warning: {config.redact.hash_key_env} is not set; customer and agent ids "
            "are hashed with the development key (set it for production data)",
            file=sys.stderr,
        )


def _run_ingest(args: argparse.Namespace, config: Config, inputs: list[str] | None) -> int:
    _precheck_ingest(config, inputs)
    _prepare_prefect(verbose=args.verbose)
    from flows.ingest import ingest_flow  # lazy: importing prefect costs seconds

    result = ingest_flow(
        inputs=inputs,
        config_path=_config_arg(config),
        db_path=args.db,
        fmt=args.format,
        force=args.force,
    )
    print_ingest_summary(result)
    return _ingest_exit(args, result)


def _ingest_exit(args: argparse.Namespace, result: dict[str, Any]) -> int:
    quarantined = result["counts"]["quarantined"]
    return EXIT_QUARANTINE if args.fail_on_quarantine and quarantined else EXIT_OK


def _config_arg(config: Config) -> str | None:
    return str(config.source) if config.source else None


def _cmd_run(args: argparse.Namespace, config: Config) -> int:
    if args.sops and not Path(args.sops).exists():
        raise SopError(f"{args.sops}: SOP folder not found; pass a folder of playbook YAML files")
    _precheck_ingest(config, args.input)
    _prepare_prefect(verbose=args.verbose)
    from flows.nightly import nightly_flow

    result = nightly_flow(
        config_path=_config_arg(config),
        db_path=args.db,
        inputs=args.input,
        fmt=args.format,
        sops=args.sops,
        force=args.force,
    )
    print_run_summary(result)
    return _ingest_exit(args, result["ingest"])


def _cmd_intents(args: argparse.Namespace, config: Config) -> int:
    from pipeline.intents.run import format_intents, read_intents

    if args.update or args.refit:
        _prepare_prefect(verbose=args.verbose)
        from flows.intents import run_intents_flow

        summary = run_intents_flow(
            config_path=_config_arg(config),
            db_path=args.db,
            refit=True if args.refit else None,
        )
        if not args.json:
            print_intents_summary(summary)
    db = Path(args.db) if args.db else config.database
    report = read_intents(db)
    if args.json:
        print(json.dumps(report, default=str))
    else:
        print(format_intents(report))
    return EXIT_OK


def _cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    return _run_ingest(args, config, args.paths)


def _cmd_status(args: argparse.Namespace, config: Config) -> int:
    from pipeline.cli.status import collect_status, format_status

    db = Path(args.db) if args.db else config.database
    report = collect_status(db)
    if args.json:
        print(json.dumps(report, default=str, indent=2))
    else:
        print(format_status(report))
    return EXIT_OK


def _cmd_sop_import(args: argparse.Namespace, config: Config) -> int:
    from pipeline.sops.importers import import_sops

    written = import_sops(args.format, [Path(p) for p in args.inputs], Path(args.out))
    print(f"wrote {len(written)} SOPs to {args.out}")
    return EXIT_OK


def _cmd_sop_validate(args: argparse.Namespace, config: Config) -> int:
    from pipeline.sops.model import validate_sop_files

    files = [
        f for p in map(Path, args.files) for f in (sorted(p.glob("*.y*ml")) if p.is_dir() else [p])
    ]
    errors = validate_sop_files(files)
    for error in errors:
        print(f"cxminer: invalid SOP: {error}", file=sys.stderr)
    print(f"{len(files) - len(errors)} of {len(files)} SOP files valid")
    return EXIT_ERROR if errors else EXIT_OK


def _cmd_sop_draft(args: argparse.Namespace, config: Config) -> int:
    from pipeline.sops.model import save_sop, sop_to_yaml
    from pipeline.steps.run import read_candidate

    draft = read_candidate(Path(args.db) if args.db else config.database, args.workflow)
    if args.out:
        save_sop(draft, args.out)
        print(f"wrote the draft of {args.workflow} ({len(draft.steps)} steps) to {args.out}")
    else:
        print(sop_to_yaml(draft), end="")
    return EXIT_OK


def _cmd_export_log(args: argparse.Namespace, config: Config) -> int:
    from pipeline.steps.run import export_log

    counts = export_log(Path(args.db) if args.db else config.database, args.out)
    print(f"wrote {counts.traces} traces, {counts.events} events to {args.out}")
    return EXIT_OK


def _cmd_sample(args: argparse.Namespace, config: Config) -> int:
    from pipeline.sample.generate import generate_sample
    from pipeline.sample.truth import write_sample

    corpus = generate_sample(args.n, seed=args.seed)
    written = write_sample(corpus, Path(args.out), sops_out=args.sops_out and Path(args.sops_out))
    print(
        f"wrote {len(corpus.conversations)} conversations ({corpus.n_base} base + "
        f"{corpus.n_repeats} repeat contacts) and {len(written)} files under {args.out}"
        + (f" and {args.sops_out}" if args.sops_out else "")
    )
    return EXIT_OK


def _cmd_labels(args: argparse.Namespace, config: Config) -> int:
    from pipeline.evaluate.truth import labels_from_format, write_labels

    unlabelled: list[str] = []
    rows = labels_from_format(args.format, [Path(p) for p in args.inputs], unlabelled=unlabelled)
    n = write_labels(rows, Path(args.out))
    print(f"wrote {n} label rows to {args.out}")
    if unlabelled:
        noun = "conversation has" if len(unlabelled) == 1 else "conversations have"
        print(f"{len(unlabelled)} {noun} no task intent and got no label row")
    return EXIT_OK


def _cmd_drift(args: argparse.Namespace, config: Config) -> int:
    from pipeline.drift.run import format_findings, read_findings

    findings = read_findings(
        Path(args.db) if args.db else config.database,
        flagged_only=not args.all,
        limit=args.limit,
    )
    _print_frame(findings, as_json=args.json, text=format_findings)
    return EXIT_OK


def _cmd_readiness(args: argparse.Namespace, config: Config) -> int:
    from pipeline.drift.run import read_readiness
    from pipeline.readiness.score import format_readiness

    ranking = read_readiness(Path(args.db) if args.db else config.database)
    _print_frame(ranking, as_json=args.json, text=format_readiness)
    return EXIT_OK


def _print_frame(frame: Any, *, as_json: bool, text: Any) -> None:
    if as_json:
        for row in frame.to_dicts():
            print(json.dumps(row, default=str))
    else:
        print(text(frame), end="")


def _cmd_report(args: argparse.Namespace, config: Config) -> int:
    _prepare_prefect(verbose=args.verbose)
    from flows.report import report_flow

    result = report_flow(config_path=_config_arg(config), db_path=args.db, out_dir=args.out)
    print(f"report: {result['html']} (summary: {result['markdown']})")
    return EXIT_OK


def _cmd_serve(args: argparse.Namespace, config: Config) -> int:
    _prepare_prefect(verbose=True)
    from flows.serve import serve_flows

    return serve_flows(config_path=_config_arg(config), db_path=args.db, port=args.port)


def _cmd_evaluate(args: argparse.Namespace, config: Config) -> int:
    from pipeline.evaluate.scores import evaluate

    labels = Path(args.labels)
    truth = Path(args.truth) if args.truth else None
    if truth is None and any(
        (labels.parent / f).exists() for f in ("drift.json", "readiness.json")
    ):
        truth = labels.parent
    db = Path(args.db) if args.db else config.database
    report = evaluate(db, labels, truth_dir=truth)
    if args.json:
        print(json.dumps(report, allow_nan=False))
        return EXIT_OK
    for section, body in report.items():
        if body.get("status") == "absent":
            print(f"{section}: absent ({body['reason']})")
            continue
        figures = {k: v for k, v in body.items() if isinstance(v, int | float) and k != "status"}
        shown = ", ".join(
            f"{k} {v:.3f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
        )
        print(f"{section}: {shown}")
    return EXIT_OK


def _prepare_prefect(*, verbose: bool) -> None:
    """Quiet, offline Prefect defaults; a user's own PREFECT_* settings win."""
    os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "90")
    if not verbose:
        # The CLI prints its own summary and errors; -v shows Prefect's run logs too.
        os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")


if __name__ == "__main__":
    raise SystemExit(main())
