"""`cxminer playbook`: export a workflow's bundle, replay its tests, diff two versions."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pipeline.cli.commands import EXIT_ERROR, EXIT_OK
from pipeline.config import Config


def cmd_playbook_export(args: argparse.Namespace, config: Config) -> int:
    """`cxminer playbook export`: write one workflow's bundle folder."""
    from pipeline.playbook.run import export_bundle

    db = Path(args.db) if args.db else config.database
    done = export_bundle(db, args.workflow, Path(args.out), config=config, min_share=args.min_share)
    print(
        f"wrote the bundle of {args.workflow} to {args.out}: {done['playbook']} playbook "
        f"version {done['version']} (content hash {done['content_hash']}), "
        f"{done['conversations']} conversations, {done['golden']} golden cases, "
        f"{done['deviation']} known deviations"
    )
    return EXIT_OK


def cmd_playbook_test(args: argparse.Namespace, config: Config) -> int:
    """`cxminer playbook test`: replay a bundle's tests; exit 1 when one fails."""
    from pipeline.playbook.govern import bundle_version_problem
    from pipeline.playbook.run import read_bundle, replay_bundle

    sop, cases = read_bundle(Path(args.bundle))
    problem = bundle_version_problem(sop)
    outcomes = replay_bundle(sop, cases, db_path=Path(args.db) if args.db else None)
    failed = [o for o in outcomes if not o.passed]
    for outcome in outcomes if args.all else failed:
        mark = "pass" if outcome.passed else "FAIL"
        case = outcome.case
        print(f"{mark}  {case.kind:<9} {case.name}  ({case.n} conversations): {outcome.reason}")
    if problem:
        print(f"FAIL  version   {problem}")
    print(f"{len(outcomes) - len(failed)} of {len(outcomes)} cases pass")
    return EXIT_ERROR if failed or problem else EXIT_OK


def cmd_playbook_diff(args: argparse.Namespace, config: Config) -> int:
    """`cxminer playbook diff`: what changed between two playbooks; exit 1 on a version error."""
    from pipeline.playbook.govern import diff_playbooks, version_problem
    from pipeline.sops.files import load_sop

    old, new = (load_sop(_playbook_file(Path(p))) for p in (args.old, args.new))
    changes = diff_playbooks(old, new)
    print("\n".join(changes) if changes else "no change")
    problem = version_problem(old, new)
    if problem:
        print(f"cxminer: invalid playbook version: {problem}", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _playbook_file(path: Path) -> Path:
    """Return a bundle folder's playbook.yaml, or the file itself."""
    return path / "playbook.yaml" if path.is_dir() else path
