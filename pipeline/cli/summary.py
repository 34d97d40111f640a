"""The run summary as text: what ``cxminer run`` and each stage command print.

Each function prints the summary dict that a flow returns (see ``flows/``): one line a
stage, with ingest problems on stderr so that stdout stays the summary.
"""

from __future__ import annotations

import sys
from typing import Any

SHOWN_PROBLEMS = 10  # quarantined records listed on stderr; the rest are counted
SHOWN_SOURCES = 20  # files listed one a line; past that, only those with something to say


def print_run_summary(result: dict[str, Any]) -> None:
    """Print the summary of a whole run (``flows.nightly.nightly_flow``'s result).

    Parameters
    ----------
    result
        The nightly flow's result: one summary per stage under ``ingest``,
        ``intents``, ``process``, ``drift``, ``readiness``, and the report's paths
        under ``report``.
    """
    print_ingest_summary(result["ingest"])
    print_intents_summary(result["intents"])
    print_process_summary(result["process"])
    print_drift_summary(result["drift"])
    print_readiness_summary(result["readiness"])
    print(f"report: {result['report']['html']} (summary: {result['report']['markdown']})")


def print_ingest_summary(result: dict[str, Any]) -> None:
    """Print one line per source and the totals; the first quarantined records to stderr.

    Past :data:`SHOWN_SOURCES` files (a platform's export, one file a call), only the
    files with something to say (not read, skipped, partial, quarantined records) get a
    line, up to that many, and one line counts the rest.
    """
    counts = result["counts"]
    print(f"run {result['run_id']} -> {result['database']}")
    sources = result["sources"]
    if len(sources) > SHOWN_SOURCES:
        sources = [s for s in sources if s["status"] != "ok" or s["n_quarantined"]]
    for source in sources[:SHOWN_SOURCES]:
        line = f"  {source['path']}  [{source['format']}] {source['status']}"
        if source["status"] == "skipped":
            line += ": already ingested (same content); --force re-reads it"
        elif source["status"] == "unreadable":
            line += f": {source['error']}"
        else:
            line += (
                f": {source['n_records']} records, {source['n_loaded']} new, "
                f"{source['n_replaced']} replaced, {source['n_unchanged']} unchanged, "
                f"{source['n_quarantined']} quarantined"
            )
        print(line)
    if len(result["sources"]) > len(sources[:SHOWN_SOURCES]):
        rest = len(result["sources"]) - len(sources[:SHOWN_SOURCES])
        print(f"  ... {rest} more files (table `sources` has a row for each)")
    print(
        f"total: {counts['records']} records, {counts['loaded']} new, "
        f"{counts['replaced']} replaced, {counts['unchanged']} unchanged, "
        f"{counts['quarantined']} quarantined"
    )
    problems = [p for s in result["sources"] for p in s["problems"]]
    for problem in problems[:SHOWN_PROBLEMS]:
        print(f"  quarantined: {problem}", file=sys.stderr)
    if counts["quarantined"] > len(problems[:SHOWN_PROBLEMS]):
        print(
            f"  ... {counts['quarantined'] - len(problems[:SHOWN_PROBLEMS])} more; "
            "`cxminer status` counts them by reason, table `quarantine` holds them all",
            file=sys.stderr,
        )


def print_intents_summary(summary: dict[str, Any]) -> None:
    """Print the intent stage's line: mode, model version, sizes, emerging intents."""
    if _unchanged("intents", summary):
        return
    line = (
        f"intents: {summary['mode']} (model v{summary['model_version']}): "
        f"{summary['intents']} intents, {summary['conversations']} conversations "
        f"({summary['new']} new), {summary['unassigned']} unassigned "
        f"({summary['unassigned_share']:.1%}), {summary['encoded']} texts encoded"
    )
    if summary["emerging"]:
        line += f"; emerging: {', '.join(summary['emerging'])}"
    if summary["unassigned_growing"]:
        line += "; the unassigned share is growing (consider --refit)"
    print(line)


def print_process_summary(summary: dict[str, Any]) -> None:
    """Print the step stage's line: events, guided share, step types, workflows."""
    if _unchanged("steps", summary):
        return
    types = ", ".join(f"{n} {source}" for source, n in summary["step_types"].items())
    print(
        f"steps: {summary['events']} events in {summary['conversations']} conversations "
        f"({summary['guided_share']:.1%} guided by {summary['sops']} documented SOPs); "
        f"step types: {types}; {summary['workflows']} workflows; "
        f"{summary['encoded']} texts encoded"
    )


def print_drift_summary(summary: dict[str, Any]) -> None:
    """Print the drift stage's line: conformance checked, findings, flagged by kind."""
    if _unchanged("drift", summary):
        return
    flagged = ", ".join(f"{n} {kind}" for kind, n in summary["flagged"].items()) or "none"
    print(
        f"drift: {summary['conformance']} conversations checked against their SOP "
        f"({summary['conforming_share']:.1%} conforming); {summary['findings']} findings, "
        f"flagged: {flagged}"
    )


def print_readiness_summary(summary: dict[str, Any]) -> None:
    """Print the readiness stage's line: workflows scored, by tier."""
    if _unchanged("readiness", summary):
        return
    tiers = ", ".join(f"{n} {tier}" for tier, n in summary["tiers"].items())
    small = summary.get("small") or {}
    rest = (
        f"; {small['workflows']} small intents ({small['conversations']} conversations, "
        f"fewer than {small['floor']} each) not scored: too little evidence"
        if small.get("workflows")
        else ""
    )
    tiers = f": {tiers}" if tiers else ""
    print(f"readiness: {summary['workflows']} workflows scored{tiers}{rest}")


def _unchanged(stage: str, summary: dict[str, Any]) -> bool:
    """Print why a stage did no work and return true, or return false if it did."""
    if summary["mode"] == "unchanged":
        print(f"{stage}: unchanged since run {summary['reused']} (same data, config and code)")
        return True
    if summary["mode"] == "skipped":
        print(f"{stage}: skipped: {summary['reason']}")
        return True
    return False
