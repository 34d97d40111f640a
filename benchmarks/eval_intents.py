"""Intent quality and stability on labelled data (needs ../shared/data; prints figures).

For each dataset: ingest it into a fresh database through the real flows, run the
intent stage (real embedding model, default config, no number of intents given), score
it with ``cxminer evaluate``'s scorer; then the stability checks:

- shuffled: fit twice on the same conversations in different input orders (ARI);
- seeds: fit with two random seeds (ARI: how much the UMAP layout itself moves);
- incremental: fit on 80%, assign the other 20% with the saved model (old ids kept),
  then refit on all and count old conversations that keep their id.

Usage: ``python benchmarks/eval_intents.py [star|banking77 ...]``
"""

from __future__ import annotations

import dataclasses
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import polars as pl
from sklearn.metrics import adjusted_rand_score

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("PREFECT_LOGGING_LEVEL", "CRITICAL")
os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")

from pipeline.config import load_config  # noqa: E402
from pipeline.embed.cache import embed_with_cache  # noqa: E402
from pipeline.embed.models import make_embedder  # noqa: E402
from pipeline.evaluate.datasets import labels_from_format  # noqa: E402
from pipeline.evaluate.metrics import score_clustering  # noqa: E402
from pipeline.intents.fit import IntentClusterer  # noqa: E402
from pipeline.intents.requests import opening_requests, request_vectors  # noqa: E402
from pipeline.intents.run import update_intents  # noqa: E402
from pipeline.store import open_store  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
DATASETS = {
    "star": ("star", SHARED / "star" / "dialogues.jsonl.gz"),
    "banking77": ("banking77", SHARED / "banking77" / "test.csv"),
}


def main(names: list[str]) -> None:
    config = load_config(ROOT / "config.yaml")
    embedder = make_embedder(config.embed)
    from flows.ingest import ingest_flow

    for name in names:
        fmt, path = DATASETS[name]
        with tempfile.TemporaryDirectory() as tmp:
            db = Path(tmp) / "eval.duckdb"
            ingest_flow(inputs=[str(path)], config_path=str(config.source), db_path=str(db),
                        fmt=fmt)  # fmt: skip
            truth = {r["conversation_id"]: r["intent"] for r in labels_from_format(fmt, [path])}
            with open_store(db) as store:
                started = time.perf_counter()
                summary = update_intents(store, config=config, embedder=embedder, run_id="r-eval")
                elapsed = time.perf_counter() - started
                found = store.sql("select conversation_id, intent_id from intent_assignments")
                turns = store.sql(
                    "select conversation_id, turn_idx, speaker, event_type, text from turns "
                    "where speaker in ('customer', 'agent')"
                )
                requests = opening_requests(turns, config.intents)
                hashes, matrix, _ = embed_with_cache(
                    store, requests["text"], embedder=embedder, run_id="r-eval"
                )
            units, vectors = request_vectors(requests.with_columns(text_hash=hashes), matrix)
            pairs = found.filter(pl.col("conversation_id").is_in(list(truth)))
            scores = score_clustering(
                [truth[c] for c in pairs["conversation_id"]], pairs["intent_id"].to_list()
            )
            print(
                f"{name}: {pairs.height} conversations, {len(set(truth.values()))} true intents; "
                f"found {summary['intents']} intents in {elapsed:.1f} s "
                f"(incl. encoding {summary['encoded']} texts); accuracy {scores['accuracy']:.3f}, "
                f"NMI {scores['nmi']:.3f}, ARI {scores['ari']:.3f}, "
                f"unassigned {scores['noise_share']:.3f}",
                flush=True,
            )
            stability(name, units["conversation_id"].to_list(), vectors, config.intents)


def stability(name: str, ids: list[str], vectors: np.ndarray, settings) -> None:
    rng = np.random.default_rng(1)
    base = IntentClusterer.from_config(settings).fit(vectors, conversation_ids=ids)
    order = rng.permutation(len(ids))
    shuffled = IntentClusterer.from_config(settings).fit(
        vectors[order], conversation_ids=[ids[i] for i in order]
    )
    back = np.empty_like(shuffled.labels_)
    back[order] = shuffled.labels_
    other_seed = IntentClusterer.from_config(dataclasses.replace(settings, seed=1)).fit(
        vectors, conversation_ids=ids
    )
    print(
        f"  stability: shuffled input ARI {adjusted_rand_score(base.labels_, back):.3f}; "
        f"seed 0 vs 1 ARI {adjusted_rand_score(base.labels_, other_seed.labels_):.3f}",
        flush=True,
    )
    with tempfile.TemporaryDirectory() as tmp:
        old = np.sort(rng.permutation(len(ids))[: int(0.8 * len(ids))])
        incremental(name, Path(tmp), ids, vectors, old, settings)


def incremental(name, tmp, ids, vectors, old, settings) -> None:
    from pipeline.intents.lineage import match_intent_ids
    from pipeline.intents.model import IntentModel, assign_intents

    first = IntentClusterer.from_config(settings).fit(
        vectors[old], conversation_ids=[ids[i] for i in old]
    )
    first_ids, _ = match_intent_ids(None, first.centroids_, threshold=settings.match_threshold)
    model = IntentModel(1, first_ids, first.centroids_, first.reducer_, first.hdbscan_,
                        {"max_id": len(first_ids)}, None)  # fmt: skip
    new = np.setdiff1d(np.arange(len(ids)), old)
    assigned, _, _ = assign_intents(model, vectors[new], threshold=settings.assign_threshold)
    before = {
        ids[i]: (first_ids[c] if c >= 0 else None) for i, c in zip(old, first.labels_, strict=True)
    }
    refit = IntentClusterer.from_config(settings).fit(vectors, conversation_ids=ids)
    refit_ids, _ = match_intent_ids(model, refit.centroids_, threshold=settings.match_threshold)
    after = {ids[i]: (refit_ids[c] if c >= 0 else None) for i, c in enumerate(refit.labels_)}
    kept = np.mean([after[c] == before[c] for c in before if before[c] is not None])
    print(
        f"  incremental: fit on {len(old)}, assigned {len(new)} new "
        f"({sum(a is not None for a in assigned) / len(new):.1%} to an intent; old ids kept "
        f"100% by construction); refit on all: {kept:.1%} of old conversations keep their id",
        flush=True,
    )


if __name__ == "__main__":
    main(sys.argv[1:] or list(DATASETS))
