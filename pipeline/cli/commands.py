"""The ``cxminer`` subcommands: each takes the parsed arguments and config, returns an exit code.

A command that runs a stage calls its Prefect flow (imported lazily: importing prefect
costs seconds); a command that reads results calls the stage's boundary module.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from pipeline.cli.summary import print_ingest_summary, print_intents_summary, print_run_summary
from pipeline.config import Config, hash_key_from_env
from pipeline.errors import SopError
from pipeline.ingest import list_inputs

EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_QUARANTINE = 0, 1, 2, 3


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


def cmd_run(args: argparse.Namespace, config: Config) -> int:
    """`cxminer run`: the nightly flow once (ingest, then every stage, then the report)."""
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


def cmd_intents(args: argparse.Namespace, config: Config) -> int:
    """`cxminer intents`: print the intent table; with --update/--refit run the stage first."""
    from pipeline.intents.run import read_intents
    from pipeline.intents.show import format_intent_tree, format_intents

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
        print(format_intent_tree(report) if args.tree else format_intents(report))
    return EXIT_OK


def cmd_ingest(args: argparse.Namespace, config: Config) -> int:
    """`cxminer ingest`: validate, redact and load the given files."""
    return _run_ingest(args, config, args.paths)


def cmd_status(args: argparse.Namespace, config: Config) -> int:
    """`cxminer status`: what the database holds."""
    from pipeline.cli.status import collect_status, format_status

    db = Path(args.db) if args.db else config.database
    report = collect_status(db)
    if args.json:
        print(json.dumps(report, default=str, indent=2))
    else:
        print(format_status(report))
    return EXIT_OK


def cmd_sop_import(args: argparse.Namespace, config: Config) -> int:
    """`cxminer sop import`: convert a public procedure library into playbook YAML."""
    from pipeline.sops.importers import import_sops

    written = import_sops(args.format, [Path(p) for p in args.inputs], Path(args.out))
    print(f"wrote {len(written)} SOPs to {args.out}")
    return EXIT_OK


def cmd_sop_validate(args: argparse.Namespace, config: Config) -> int:
    """`cxminer sop validate`: check playbook YAML files against the SOP format."""
    from pipeline.sops.files import validate_sop_files

    files = [
        f for p in map(Path, args.files) for f in (sorted(p.glob("*.y*ml")) if p.is_dir() else [p])
    ]
    errors = validate_sop_files(files)
    for error in errors:
        print(f"cxminer: invalid SOP: {error}", file=sys.stderr)
    print(f"{len(files) - len(errors)} of {len(files)} SOP files valid")
    return EXIT_ERROR if errors else EXIT_OK


def cmd_sop_draft(args: argparse.Namespace, config: Config) -> int:
    """`cxminer sop draft`: print or save the candidate SOP of one workflow."""
    from pipeline.process.run import read_candidate
    from pipeline.sops.model import save_sop, sop_to_yaml

    draft = read_candidate(Path(args.db) if args.db else config.database, args.workflow)
    if args.out:
        save_sop(draft, args.out)
        print(f"wrote the draft of {args.workflow} ({len(draft.steps)} steps) to {args.out}")
    else:
        print(sop_to_yaml(draft), end="")
    return EXIT_OK


def cmd_export_log(args: argparse.Namespace, config: Config) -> int:
    """`cxminer export-log`: write the step event log as XES."""
    from pipeline.process.run import export_log

    counts = export_log(Path(args.db) if args.db else config.database, args.out)
    print(f"wrote {counts.traces} traces, {counts.events} events to {args.out}")
    return EXIT_OK


def cmd_export_vcon(args: argparse.Namespace, config: Config) -> int:
    """`cxminer export-vcon`: write one vCon file per conversation."""
    from pipeline.export.run import export_vcons

    db = Path(args.db) if args.db else config.database
    counts = export_vcons(db, args.out, since=args.since)
    since = f" started on or after {args.since}" if args.since else ""
    print(
        f"wrote {counts.files} vCon files to {args.out}, one per conversation{since} "
        f"({counts.dialog} text turns, {counts.analyses} analyses)"
    )
    return EXIT_OK


def cmd_sample(args: argparse.Namespace, config: Config) -> int:
    """`cxminer sample`: generate the sample corpus with its truth and SOPs."""
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


def cmd_labels(args: argparse.Namespace, config: Config) -> int:
    """`cxminer labels`: build ground-truth label rows from a public dataset."""
    from pipeline.evaluate.datasets import labels_from_format
    from pipeline.evaluate.truth import write_labels

    unlabelled: list[str] = []
    rows = labels_from_format(args.format, [Path(p) for p in args.inputs], unlabelled=unlabelled)
    n = write_labels(rows, Path(args.out))
    print(f"wrote {n} label rows to {args.out}")
    if unlabelled:
        noun = "conversation has" if len(unlabelled) == 1 else "conversations have"
        print(f"{len(unlabelled)} {noun} no task intent and got no label row")
    return EXIT_OK


def cmd_drift(args: argparse.Namespace, config: Config) -> int:
    """`cxminer drift`: print the drift findings, flagged first."""
    from pipeline.drift.run import format_findings, read_examples, read_findings

    db = Path(args.db) if args.db else config.database
    findings = read_findings(db, flagged_only=not args.all, limit=args.limit)
    if args.examples:
        findings = read_examples(db, findings)
    _print_frame(findings, as_json=args.json, text=format_findings)
    return EXIT_OK


def cmd_readiness(args: argparse.Namespace, config: Config) -> int:
    """`cxminer readiness`: print the readiness ranking, then each workflow's capacity."""
    from pipeline.readiness.capacity import format_capacity
    from pipeline.readiness.run import read_capacity, read_readiness, read_small_workflows
    from pipeline.readiness.score import format_readiness

    db = Path(args.db) if args.db else config.database
    ranking = read_readiness(db)
    small = read_small_workflows(db, config)
    _print_frame(ranking, as_json=args.json, text=lambda f: format_readiness(f, small))
    if not args.json:  # JSON lines stay one ranking row each
        print("\n" + format_capacity(read_capacity(db, ranking)), end="")
    return EXIT_OK


def _print_frame(frame: Any, *, as_json: bool, text: Any) -> None:
    if as_json:
        for row in frame.to_dicts():
            print(json.dumps(row, default=str))
    else:
        print(text(frame), end="")


def cmd_report(args: argparse.Namespace, config: Config) -> int:
    """`cxminer report`: write the HTML report and Markdown summary."""
    _prepare_prefect(verbose=args.verbose)
    from flows.report import report_flow

    result = report_flow(config_path=_config_arg(config), db_path=args.db, out_dir=args.out)
    print(f"report: {result['html']} (summary: {result['markdown']})")
    return EXIT_OK


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    """`cxminer serve`: the nightly and refit deployments on their schedules."""
    _prepare_prefect(verbose=True)
    from flows.serve import serve_flows

    return serve_flows(config_path=_config_arg(config), db_path=args.db, port=args.port)


def cmd_evaluate(args: argparse.Namespace, config: Config) -> int:
    """`cxminer evaluate`: score the database against ground-truth labels."""
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
