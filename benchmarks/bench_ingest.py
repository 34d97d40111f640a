"""Ingest throughput and peak memory at stated sizes (not a test).

Generates N canonical conversations of ~20 turns (cached under benchmarks/out/), then
ingests them into a fresh DuckDB file in a child process, the same code path as
`cxminer ingest` (parse, validate, redact, hash, write), and prints conversations/s,
turns/s and the child's peak RSS. ``--format`` picks what is ingested: the canonical JSONL
file (default), or the same conversations as platform exports, one file a call as the
platforms write them (``vcon``: vCon documents; ``amazon``: Amazon Transcribe Call
Analytics results with a pronunciation item a word, as the real output has; see
``benchmarks/platform_docs.py``), read as a folder (small files are read many together);
``--layout folder`` also gives canonical JSONL as one file a call. Usage:

    python benchmarks/bench_ingest.py [--sizes 10000 100000] [--batch-size 5000]
        [--format jsonl|vcon|amazon] [--layout file|folder]
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


def generate_folder(n: int, folder: Path, fmt: str) -> None:
    """Write N conversations as one file a call in ``fmt`` (jsonl, vcon or amazon)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from platform_docs import to_transcribe, to_vcon

    from pipeline.sample.generate import generate_conversations

    tmp = folder.with_suffix(".tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    convert = {"jsonl": lambda r: r, "vcon": to_vcon, "amazon": to_transcribe}[fmt]
    suffix = {"jsonl": ".jsonl", "vcon": ".vcon", "amazon": ".json"}[fmt]
    for i, record in enumerate(generate_conversations(n, seed=1, min_turns=20)):
        (tmp / f"{i:07d}{suffix}").write_bytes(orjson.dumps(convert(record)) + b"\n")
    tmp.rename(folder)


def child(path: str, db: str, batch_size: int, fmt: str) -> None:
    """Ingest one file or folder (in its own process, so peak RSS is the ingest's own)."""
    from flows.ingest import hash_inputs, ingest_small_sources, ingest_source
    from pipeline.config import Config, IngestConfig
    from pipeline.ingest.read import list_inputs
    from pipeline.store import open_store

    config = Config(ingest=IngestConfig(batch_size=batch_size))
    started = time.perf_counter()
    common = {"config": config, "fmt": fmt, "hash_key": b"bench", "run_id": "bench"}
    with open_store(db) as store:
        sources = hash_inputs.fn(list_inputs([path], patterns=("*",)))
        if Path(path).is_dir():
            rows = [row for start in range(0, len(sources), batch_size)
                    for row in ingest_small_sources.fn(
                        store, sources[start : start + batch_size], **common)]  # fmt: skip
        else:
            rows = [ingest_source.fn(store, sources[0], **common)]
        row = {k: sum(r[k] for r in rows) for k in ("n_loaded", "n_quarantined")}
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
    parser.add_argument("--format", choices=("jsonl", "vcon", "amazon"), default="jsonl")
    parser.add_argument("--layout", choices=("file", "folder"), default=None,
                        help="one file of all calls, or one file a call (the platforms' way; "
                        "default: file for jsonl, folder for the platforms)")  # fmt: skip
    parser.add_argument("--child", nargs=2, metavar=("PATH", "DB"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child, args.batch_size, args.format)
        return
    layout = args.layout or ("file" if args.format == "jsonl" else "folder")
    if layout == "file" and args.format != "jsonl":
        parser.error("a platform format is one file a call: use --layout folder")
    OUT.mkdir(parents=True, exist_ok=True)
    files = "one file" if layout == "file" else "one file a call"
    print(f"ingest benchmark, {os.cpu_count()} cores, batch size {args.batch_size}, "
          f"format {args.format}, {files}")  # fmt: skip
    print(
        f"{'conversations':>13} {'turns':>10} {'MB':>7} {'seconds':>8} {'conv/s':>9} "
        f"{'turns/s':>10} {'peak RSS MB':>12}"
    )
    for n in args.sizes:
        if layout == "file":
            path = OUT / f"conversations_{n}.jsonl"
            if not path.exists():
                print(f"generating {n:,} conversations -> {path} ...", file=sys.stderr)
                generate(n, path)
        else:
            path = OUT / f"calls_{args.format}_{n}"
            if not path.exists():
                print(f"generating {n:,} {args.format} files -> {path} ...", file=sys.stderr)
                generate_folder(n, path, args.format)
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
                    "--format",
                    args.format,
                ],
                capture_output=True,
                text=True,
                check=True,
                cwd=ROOT,
            )
        figures = json.loads(result.stdout.strip().splitlines()[-1])
        files = list(path.iterdir()) if path.is_dir() else [path]
        size_mb = sum(f.stat().st_size for f in files) / 1e6
        print(
            f"{figures['loaded']:>13,} {figures['turns']:>10,} {size_mb:>7.0f} "
            f"{figures['elapsed_s']:>8.2f} {figures['loaded'] / figures['elapsed_s']:>9,.0f} "
            f"{figures['turns'] / figures['elapsed_s']:>10,.0f} {figures['peak_rss_mb']:>12,.0f}"
        )


if __name__ == "__main__":
    main()
