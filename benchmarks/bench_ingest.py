"""Ingest throughput and peak memory at stated sizes (not a test).

Generates N canonical conversations of ~20 turns (cached under benchmarks/out/), then
ingests each file into a fresh DuckDB file in a child process, the same code path as
`cxminer ingest` (parse, validate, redact, hash, write), and prints conversations/s,
turns/s and the child's peak RSS. Usage:

    python benchmarks/bench_ingest.py [--sizes 10000 100000] [--batch-size 5000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"


def generate(n: int, path: Path) -> None:
    from pipeline.sample.generate import generate_conversations

    tmp = path.with_suffix(".tmp")
    with open(tmp, "wb") as handle:
        for record in generate_conversations(n, seed=1, min_turns=20):
            handle.write(orjson.dumps(record))
            handle.write(b"\n")
    tmp.rename(path)


def child(path: str, db: str, batch_size: int) -> None:
    """Ingest one file (runs in its own process so peak RSS is the ingest's own)."""
    from flows.ingest import ingest_source
    from pipeline.config import Config, IngestConfig
    from pipeline.ingest.adapters.files import file_sha256
    from pipeline.store import open_store

    config = Config(ingest=IngestConfig(batch_size=batch_size))
    started = time.perf_counter()
    with open_store(db) as store:
        source = {"path": path, "sha256": file_sha256(Path(path)), "error": None}
        row = ingest_source.fn(
            store, source, config=config, fmt="jsonl", hash_key=b"bench", run_id="bench"
        )
        n_turns = store.count("turns")
    elapsed = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        json.dumps(
            {
                "elapsed_s": elapsed,
                "peak_rss_mb": peak_mb,
                "loaded": row["n_loaded"],
                "quarantined": row["n_quarantined"],
                "turns": n_turns,
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--batch-size", type=int, default=5000)
    parser.add_argument("--child", nargs=2, metavar=("PATH", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.batch_size)
        return
    OUT.mkdir(parents=True, exist_ok=True)
    print(f"ingest benchmark, {os.cpu_count()} cores, batch size {args.batch_size}")
    print(
        f"{'conversations':>13} {'turns':>10} {'MB':>7} {'seconds':>8} {'conv/s':>9} "
        f"{'turns/s':>10} {'peak RSS MB':>12}"
    )
    for n in args.sizes:
        path = OUT / f"conversations_{n}.jsonl"
        if not path.exists():
            print(f"generating {n:,} conversations -> {path} ...", file=sys.stderr)
            generate(n, path)
        with tempfile.TemporaryDirectory() as tmp:
            db = str(Path(tmp) / "bench.duckdb")
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--child",
                    str(path),
                    db,
                    "--batch-size",
                    str(args.batch_size),
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        size_mb = path.stat().st_size / 1e6
        print(
            f"{figures['loaded']:>13,} {figures['turns']:>10,} {size_mb:>7.0f} "
            f"{figures['elapsed_s']:>8.2f} {figures['loaded'] / figures['elapsed_s']:>9,.0f} "
            f"{figures['turns'] / figures['elapsed_s']:>10,.0f} {figures['peak_rss_mb']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
