"""Golden comparison: is the bundled run's every table identical, row for row, to before?

A refactoring must not move a result. ``run`` executes ``cxminer run`` on the bundled
sample (the checkout's ``config.yaml``, the real flows and model) into a fresh DuckDB file
and writes a fingerprint beside it: per table the row count and a SHA-256 of its sorted
rows. ``compare`` checks two databases or fingerprints and exits 1 when a table differs;
given two databases it also prints example rows found in only one of them.

What is left out, because it differs between two runs of the same code: ``run_id``
columns, wall-clock stamps (``ingested_at``, ``fitted_at``), the pickled intent model
(its bytes name the modules the classes live in), the ``runs`` log and input paths.

Usage::

    python benchmarks/golden.py run --out DIR            # DIR/cxminer.duckdb, DIR/golden.json
    python benchmarks/golden.py compare BEFORE AFTER     # each a .duckdb or a golden.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import duckdb

ROOT = Path(__file__).resolve().parents[1]

SKIP_TABLES = {"runs", "schema_version"}
SKIP_COLUMNS = {"run_id", "ingested_at", "fitted_at", "model", "path"}


def run(out: Path) -> Path:
    """Run the bundled job into ``out/cxminer.duckdb``; return the fingerprint's path."""
    out.mkdir(parents=True, exist_ok=True)
    db = out / "cxminer.duckdb"
    for stale in out.glob("cxminer.duckdb*"):
        stale.unlink()
    env = {**os.environ, "PREFECT_LOGGING_LEVEL": "CRITICAL"}
    cli = Path(sys.executable).with_name("cxminer")
    subprocess.run([str(cli), "run", "--db", str(db)], cwd=ROOT, env=env, check=True)
    fingerprint = out / "golden.json"
    fingerprint.write_text(json.dumps(fingerprint_db(db), indent=1, sort_keys=True) + "\n")
    return fingerprint


def table_rows(db: Path) -> dict[str, list[str]]:
    """Every compared table of ``db`` as its sorted rows (``repr`` of each tuple)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        names = [r[0] for r in con.sql("select table_name from duckdb_tables()").fetchall()]
        tables = {}
        for name in sorted(set(names) - SKIP_TABLES):
            frame = con.sql(f'select * from "{name}"').pl()
            frame = frame.drop([c for c in frame.columns if c in SKIP_COLUMNS])
            tables[name] = sorted(repr(row) for row in frame.rows())
        return tables
    finally:
        con.close()


def fingerprint_db(db: Path) -> dict[str, dict]:
    """Row count and SHA-256 of the sorted rows, per table."""
    return {
        name: {"rows": len(rows), "sha256": hashlib.sha256("\n".join(rows).encode()).hexdigest()}
        for name, rows in table_rows(db).items()
    }


def compare(before: Path, after: Path) -> bool:
    """Print one line a table and the rows that differ; True when every table is identical."""
    prints = [_fingerprint(p) for p in (before, after)]
    same_all = True
    for name in sorted(set(prints[0]) | set(prints[1])):
        a, b = prints[0].get(name), prints[1].get(name)
        same = a == b
        same_all &= same
        rows = f"{a['rows'] if a else '-':>7} vs {b['rows'] if b else '-':>7}"
        print(f"{name:22s} rows {rows}  {'identical' if same else 'DIFFERENT'}")
    if not same_all and before.suffix == after.suffix == ".duckdb":
        _show_differences(before, after)
    print("ALL TABLES IDENTICAL" if same_all else "TABLES DIFFER")
    return same_all


def _fingerprint(path: Path) -> dict[str, dict]:
    return json.loads(path.read_text()) if path.suffix == ".json" else fingerprint_db(path)


def _show_differences(before: Path, after: Path) -> None:
    rows_a, rows_b = table_rows(before), table_rows(after)
    for name in sorted(set(rows_a) & set(rows_b)):
        only_a = sorted(set(rows_a[name]) - set(rows_b[name]))
        only_b = sorted(set(rows_b[name]) - set(rows_a[name]))
        if only_a or only_b:
            print(f"\n{name}: {len(only_a)} rows only before, {len(only_b)} only after")
            for row in only_a[:2]:
                print("  before:", row[:300])
            for row in only_b[:2]:
                print("  after: ", row[:300])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    run_p = sub.add_parser("run", help="run the bundled job and fingerprint its tables")
    run_p.add_argument("--out", type=Path, required=True, help="folder for the DB and fingerprint")
    cmp_p = sub.add_parser("compare", help="compare two runs (DuckDB files or golden.json)")
    cmp_p.add_argument("before", type=Path)
    cmp_p.add_argument("after", type=Path)
    args = parser.parse_args(argv)
    if args.command == "run":
        print(f"fingerprint: {run(args.out)}")
        return 0
    return 0 if compare(args.before, args.after) else 1


if __name__ == "__main__":
    sys.exit(main())
