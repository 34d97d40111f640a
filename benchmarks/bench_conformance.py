"""Conformance throughput and peak memory on a synthetic event log (not a test).

Builds five SOPs of eight steps (precedence chains, one optional step, one approval
gate ``amount > 200``), a few thousand trace variants of them (skipped, swapped,
undocumented, ``other`` and consecutively repeated steps), assigns N conversations to
the variants with a Zipf-like skew, and times :func:`pipeline.drift.conformance.check_conformance`
on the resulting ``step_events`` (about 8 events a conversation) with conversation
metadata for the gate. The log is sorted by conversation and seq, as the store reads
it; ``--shuffle`` measures the slower path for an unsorted log. Generation is not
timed. Prints wall and CPU seconds: on a shared machine the CPU time is the steadier
figure. Usage:

    python benchmarks/bench_conformance.py [--conversations 1000000] [--shuffle]
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline import schema  # noqa: E402
from pipeline.drift.conformance import check_conformance  # noqa: E402
from pipeline.sops.model import Sop, Step  # noqa: E402

N_SOPS, N_STEPS = 5, 8
VARIANTS_PER_SOP = 900
UNDOCUMENTED = [f"extra_{i}" for i in range(20)]


def make_sops(n_steps: int = N_STEPS) -> dict[str, Sop]:
    sops = {}
    for s in range(N_SOPS):
        ids = [f"w{s}_step{i}" for i in range(n_steps)]
        steps = []
        for i, step_id in enumerate(ids):
            steps.append(
                Step(
                    id=step_id,
                    mandatory=i not in (5, 6),
                    after=(ids[i - 1],) if i else (),
                    when="amount > 200" if i == 5 else None,
                )
            )
        sops[f"sop{s}"] = Sop(sop_id=f"sop{s}", version=2, intent=(f"sop{s}",), steps=tuple(steps))
    return sops


def make_variants(sops: dict[str, Sop], rng: np.random.Generator) -> pl.DataFrame:
    """Distinct perturbed traces: one row per (variant, position) with is_repeat."""
    rows: list[tuple[int, str, int, str, bool]] = []
    n = 0
    for sop_id, sop in sops.items():
        seen: set[tuple[str, ...]] = set()
        tries = 0
        while len(seen) < VARIANTS_PER_SOP and tries < 50 * VARIANTS_PER_SOP:
            tries += 1
            trace = [s for s in sop.step_ids if rng.random() > 0.08]
            for _ in range(rng.poisson(0.6)):
                if len(trace) > 1:
                    i = int(rng.integers(len(trace) - 1))
                    trace[i], trace[i + 1] = trace[i + 1], trace[i]
            for _ in range(rng.poisson(0.5)):
                trace.insert(int(rng.integers(len(trace) + 1)), str(rng.choice(UNDOCUMENTED)))
            for _ in range(rng.poisson(0.4)):
                trace.insert(int(rng.integers(len(trace) + 1)), "other")
            key = tuple(trace)
            if key in seen:
                continue
            seen.add(key)
            pos = 0
            for step in trace:
                rows.append((n, sop_id, pos, step, False))
                pos += 1
                if rng.random() < 0.05:  # a consecutive repeat, collapsed by the stage
                    rows.append((n, sop_id, pos, step, True))
                    pos += 1
            n += 1
    return pl.DataFrame(
        rows,
        schema={
            "variant": pl.Int64,
            "sop_id": pl.String,
            "seq": pl.Int32,
            "step_id": pl.String,
            "is_repeat": pl.Boolean,
        },
        orient="row",
    )


def make_log(
    n: int, seed: int, *, shuffle: bool = False, n_steps: int = N_STEPS, timed: bool = False
) -> tuple[dict[str, Sop], pl.DataFrame, pl.DataFrame]:
    """SOPs, ``step_events`` (``ts`` null unless ``timed``) and conversation metadata."""
    rng = np.random.default_rng(seed)
    sops = make_sops(n_steps)
    variants = make_variants(sops, rng)
    n_variants = variants["variant"].n_unique()
    weights = 1.0 / np.arange(1, n_variants + 1) ** 1.1
    chosen = rng.choice(n_variants, size=n, p=weights / weights.sum())
    ids = pl.Series("conversation_id", np.arange(n)).cast(pl.String).str.zfill(8)
    cases = pl.DataFrame({"conversation_id": "c" + ids, "variant": chosen})
    events = (
        cases.join(variants, on="variant")
        .with_columns(
            turn_idx=pl.col("seq") * 2 + 1,
            source=pl.lit("sop"),
            confidence=pl.lit(0.9),
            ts=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
            workflow_id=pl.col("sop_id"),
        )
        .select(schema.batch_columns(schema.STEP_EVENTS))
    )
    if timed:  # a turn every 20-60 s from a start spread over 90 days
        start = pl.Series(rng.integers(0, 90 * 86_400, size=n)).alias("_start")
        events = (
            events.join(cases.select("conversation_id", _start=start), on="conversation_id")
            .with_columns(
                ts=(
                    pl.datetime(2026, 1, 1, time_zone="UTC")
                    + pl.duration(
                        seconds=pl.col("_start") + pl.col("seq") * 40 + pl.col("seq") % 7 * 3
                    )
                ).cast(pl.Datetime("us", "UTC"))
            )
            .drop("_start")
        )
    if shuffle:  # no help from a log sorted by conversation and seq
        events = events.sample(fraction=1.0, shuffle=True, seed=seed)
    else:  # as the store reads it: order by conversation_id, seq
        events = events.sort("conversation_id", "seq")
    amount = rng.lognormal(4.5, 1.0, size=n).round(2)
    metadata = pl.when(pl.Series(rng.random(n) < 0.9)).then(
        pl.format('{{"amount": {}, "channel": "chat"}}', pl.Series(amount))
    )
    conversations = cases.select("conversation_id", metadata=metadata)
    return sops, events, conversations


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--repeat", type=int, default=3, help="timed runs; the best is shown")
    parser.add_argument(
        "--shuffle", action="store_true", help="shuffle the events (default: sorted by case, seq)"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    sops, events, conversations = make_log(args.conversations, args.seed, shuffle=args.shuffle)
    generated = time.perf_counter() - started
    times, cpu = [], []
    for _ in range(args.repeat):
        started, cpu_started = time.perf_counter(), time.process_time()
        conformance = check_conformance(
            events, sops, conversations=conversations, ignore=("other",)
        )
        times.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    best = min(times)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    n_variants = conformance.select("sop_id", "variant_id").n_unique()
    print(f"generated in        {generated:.1f} s (not timed)")
    print(f"conversations       {conformance.height:,}")
    print(f"events              {events.height:,}")
    print(f"distinct variants   {n_variants:,}")
    print(f"seconds             {best:.2f} (runs: {', '.join(f'{t:.2f}' for t in times)})")
    print(f"cpu seconds         {', '.join(f'{t:.2f}' for t in cpu)} (all threads)")
    print(f"conversations/s     {conformance.height / best:,.0f}")
    print(f"load average        {', '.join(f'{x:.1f}' for x in os.getloadavg())}")
    print(f"peak RSS            {peak_mb:,.0f} MB (generation included)")
    print(f"conforming share    {conformance['is_conforming'].mean():.3f}")
    print(f"mean fitness        {conformance['fitness'].mean():.3f}")


if __name__ == "__main__":
    main()
