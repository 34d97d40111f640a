"""Intent fitting and assignment throughput and peak memory (not a test).

The vectors are synthetic: ``--intents`` centres on the 384-d unit sphere, each
conversation its centre plus Gaussian noise, renormalised (the embedding cost is
measured by ``bench_embed.py``; this measures what the intent stage adds). For each
size: ``IntentClusterer`` with the default config (above ``fit_sample`` conversations it fits
on a hash-chosen sample and predicts the rest), then ``assign_intents`` of the same
vectors through the saved model (the scheduled, incremental path), and the size of the
pickled model. Peak RSS is the process's high-water mark so far. Usage:

    python benchmarks/bench_intents.py [--sizes 10000 100000] [--intents 60]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np

from pipeline.clustering import NOISE
from pipeline.config import IntentConfig
from pipeline.intents.fit import IntentClusterer
from pipeline.intents.lineage import match_intent_ids
from pipeline.intents.model import IntentModel, assign_intents, dump_model
from pipeline.intents.run import now_utc


def synthetic(n: int, intents: int, *, dim: int = 384, spread: float = 0.045, seed: int = 0):
    """Return ``(ids, unit vectors, true labels)`` for ``n`` conversations."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(intents, dim))
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    weights = rng.dirichlet(np.full(intents, 2.0))  # uneven intent sizes, as in real queues
    truth = rng.choice(intents, size=n, p=weights)
    vectors = centres[truth] + rng.normal(scale=spread, size=(n, dim))
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    ids = [f"c{i:07d}" for i in range(n)]
    return ids, vectors.astype(np.float32), truth


def peak_rss_mib() -> float:
    """The process's peak resident set size so far, in MiB (Linux reports KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--intents", type=int, default=60)
    args = parser.parse_args()
    from sklearn.metrics import adjusted_rand_score

    config = IntentConfig()
    print(f"intent stage, default config (fit_sample {config.fit_sample}, {config.reducer})")
    for n in args.sizes:
        ids, vectors, truth = synthetic(n, args.intents)
        started = time.perf_counter()
        fit = IntentClusterer.from_config(config).fit(vectors, conversation_ids=ids)
        fit_s = time.perf_counter() - started
        intent_ids, _ = match_intent_ids(None, fit.centroids_, threshold=config.match_threshold)
        model = IntentModel(1, intent_ids, fit.centroids_, fit.reducer_, fit.hdbscan_,
                            fit.params_, now_utc(), fit.fitted_ids_)  # fmt: skip
        started = time.perf_counter()
        assigned, _, _ = assign_intents(model, vectors, threshold=config.assign_threshold)
        assign_s = time.perf_counter() - started
        blob = dump_model(model)
        found = fit.labels_ != NOISE
        print(
            f"n={n:>7,}: fit {fit_s:6.1f} s ({n / fit_s:8,.0f} conv/s, "
            f"{len(fit.fitted_ids_):,} in the fit), {len(intent_ids)} intents "
            f"(true {args.intents}), ARI {adjusted_rand_score(truth, fit.labels_):.3f}, "
            f"unassigned {1 - found.mean():.1%}; assign {assign_s:5.1f} s "
            f"({n / assign_s:8,.0f} conv/s, {sum(a is not None for a in assigned) / n:.1%} "
            f"assigned); model {len(blob) / 2**20:.1f} MiB; peak RSS {peak_rss_mib():,.0f} MiB",
            flush=True,
        )


if __name__ == "__main__":
    main()
