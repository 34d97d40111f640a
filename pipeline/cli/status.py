"""What the database holds: runs, sources, row counts, quarantine by reason (``cxminer status``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pipeline import schema
from pipeline.store import open_store

_RECENT_RUNS = 5


def collect_status(db_path: Path) -> dict[str, Any]:
    """Read a summary of the database (read-only).

    Raises
    ------
    StoreError
        No database at ``db_path``, or a writer holds it.
    """
    with open_store(db_path, read_only=True) as store:
        counts = {
            table: store.count(table)
            for table in (
                schema.CONVERSATIONS,
                schema.TURNS,
                schema.SOURCES,
                schema.QUARANTINE,
                schema.RUNS,
            )
        }
        runs = store.sql(
            f"select run_id, flow, status, started_at, finished_at, row_counts, error "
            f"from {schema.RUNS} order by started_at desc limit {_RECENT_RUNS}"
        )
        sources = store.sql(
            f"select path, format, status, n_records, n_loaded, n_replaced, n_unchanged, "
            f"n_quarantined, error from {schema.SOURCES} order by ingested_at"
        )
        reasons = store.sql(
            f"select reason, count(*) as n from {schema.QUARANTINE} "
            "group by reason order by n desc, reason"
        )
        redactions = store.sql(
            f"select pii_type, sum(n)::bigint as n from {schema.REDACTIONS} "
            "group by pii_type order by n desc, pii_type"
        )
        return {
            "database": str(db_path),
            "schema_version": store.schema_version(),
            "counts": counts,
            "runs": runs.to_dicts(),
            "sources": sources.to_dicts(),
            "quarantine_by_reason": dict(reasons.iter_rows()),
            "redactions_by_type": dict(redactions.iter_rows()),
        }


def format_status(report: dict[str, Any]) -> str:
    """Render :func:`collect_status` output as plain text."""
    c = report["counts"]
    lines = [
        f"database {report['database']} (schema v{report['schema_version']})",
        f"  {c['conversations']:,} conversations, {c['turns']:,} turns, {c['sources']:,} sources, "
        f"{c['quarantine']:,} quarantined records, {c['runs']:,} runs",
        "recent runs:",
    ]
    for run in report["runs"]:
        took = ""
        if run["finished_at"] is not None:
            took = f" {(run['finished_at'] - run['started_at']).total_seconds():.1f}s"
        error = f"  error: {run['error']}" if run["error"] else ""
        lines.append(
            f"  {run['run_id']}  {run['flow']:<8} {run['status']:<8} "
            f"{run['started_at']:%Y-%m-%d %H:%M:%S}{took}{error}"
        )
    lines.append("sources:")
    for s in report["sources"]:
        detail = (
            s["error"]
            if s["status"] == "unreadable"
            else (
                f"{s['n_records']} records, {s['n_loaded']} new, {s['n_replaced']} replaced, "
                f"{s['n_unchanged']} unchanged, {s['n_quarantined']} quarantined"
            )
        )
        lines.append(f"  {s['path']}  [{s['format']}] {s['status']}: {detail}")
    lines.append("quarantine by reason:" if report["quarantine_by_reason"] else "quarantine: empty")
    lines.extend(f"  {reason:<16} {n:,}" for reason, n in report["quarantine_by_reason"].items())
    if report["redactions_by_type"]:
        lines.append("redacted PII by type:")
        lines.extend(f"  {kind:<16} {n:,}" for kind, n in report["redactions_by_type"].items())
    return "\n".join(lines)
