"""Process discovery throughput and peak memory on a synthetic event log (not a test).

Times :func:`pipeline.process.discover.discover_process` (variants, directly-follows graph with
median gaps, candidate SOPs with precedence and branches) on the synthetic log of
``benchmarks/bench_conformance.py``: five SOPs of ``--steps`` steps, a few thousand
perturbed trace variants (skips, swaps, undocumented and ``other`` steps, consecutive
repeats), N conversations with a Zipf-like skew over them, a timestamp on every event.
With the defaults, 1,000,000 conversations give about 10 million step events. The log
is sorted by conversation and seq, as the store reads it. The log is generated in a
child process and handed over as a Parquet file in a temporary folder, so the peak RSS
printed is this process's: reading the log plus discovery, not generation. Prints wall
and CPU seconds per run: on a shared machine the CPU time is the steadier figure. Usage:

    python benchmarks/bench_process.py [--conversations 1000000] [--steps 10]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_conformance import make_log  # noqa: E402

from pipeline.config import DiscoverConfig  # noqa: E402
from pipeline.process.discover import discover_process  # noqa: E402


def _generate(path: str, n: int, seed: int, n_steps: int) -> None:
    _, events, _ = make_log(n, seed, n_steps=n_steps, timed=True)
    events.write_parquet(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--steps", type=int, default=10, help="steps per SOP (default 10)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is shown")
    args = parser.parse_args()
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="cxminer-bench-process-") as folder:
        path = str(Path(folder) / "step_events.parquet")
        child = multiprocessing.get_context("spawn").Process(
            target=_generate, args=(path, args.conversations, args.seed, args.steps)
        )
        child.start()
        child.join()
        if child.exitcode:
            sys.exit(f"generating the log failed (exit {child.exitcode})")
        generated = time.perf_counter() - started
        events = pl.read_parquet(path)
    config = DiscoverConfig()
    times, cpu = [], []
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        tables = discover_process(events, config)
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    best = min(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"generated in        {generated:.1f} s (child process, not timed)")
    print(f"conversations       {events['conversation_id'].n_unique():,}")
    print(f"step events         {events.height:,} ({events['is_repeat'].sum():,} repeats)")
    print(f"workflows           {events['workflow_id'].n_unique()}")
    for name, frame in tables.items():
        print(f"{name:<20}{frame.height:,} rows")
    print(f"seconds             {best:.2f} (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"cpu seconds         {', '.join(f'{t:.2f}' for t in cpu)} (all threads)")
    print(f"events/s            {events.height / best:,.0f}")
    print(f"load average        {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"peak RSS            {peak_mb:,.0f} MB (reading the log + discovery; target < 4,096)")


if __name__ == "__main__":
    main()
