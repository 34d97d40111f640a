"""Step extraction quality on labelled data (needs ../shared/data; prints figures).

For STAR (the 12 task flowcharts imported as SOPs, labels as ``cxminer labels --format
star`` writes them) and the bundled sample corpus (its documented SOPs and truth):

- guided: :func:`pipeline.steps.extract.extract_steps` with the SOPs; conversations carry no
  task, the SOP is chosen per conversation;
- guided, intent prior: the same with ``intent_id`` from the intent stage's own fit
  (default settings) on the same corpus;
- unguided: the same with no SOP at all;
- baseline (STAR): each agent utterance -> the reply of its true task's flowchart with
  the highest cosine, no threshold, no context.

Everything is scored with ``pipeline.evaluate.scores``'s own scorer (mapping, per-turn
accuracy over labelled turns, edit similarity, per-task edge F1, macro mean). Sequence
figures are printed as ``cxminer evaluate`` scores them (the extracted sequence in the
labels' vocabulary), for the full event log, and for views of the full log that leave
out what the true sequences never contain: action events, ``other``;
the events at labelled turns; the events at turns whose true step is one the label
sequences hold (STAR labels only the wizard's picked replies, and the sample's
sequences leave out greetings, closings and off-script turns). Per-turn accuracy in the
views is over the turns the view keeps (coverage).
Vectors come from the default embedding model through a cache file in the temporary
folder (the first run encodes, later runs do not); timings say which.

Usage: ``python benchmarks/eval_steps.py [star|sample ...]``
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import numpy as np
import polars as pl

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pipeline.clustering import NOISE  # noqa: E402
from pipeline.config import EmbedConfig, IngestConfig, IntentConfig  # noqa: E402
from pipeline.embed.models import make_embedder  # noqa: E402
from pipeline.embed.vectors import normalise_text  # noqa: E402
from pipeline.evaluate.datasets import labels_from_format  # noqa: E402
from pipeline.evaluate.sections import Table as _Table  # noqa: E402
from pipeline.evaluate.steps import match_steps as _step_data  # noqa: E402
from pipeline.evaluate.steps import score_process as _score_process  # noqa: E402
from pipeline.evaluate.steps import score_steps as _score_steps  # noqa: E402
from pipeline.evaluate.truth import read_labels, write_labels  # noqa: E402
from pipeline.ingest import read_source  # noqa: E402
from pipeline.intents.fit import IntentClusterer  # noqa: E402
from pipeline.intents.requests import opening_requests, request_vectors  # noqa: E402
from pipeline.sops.files import load_sops  # noqa: E402
from pipeline.sops.star import read_star_sops  # noqa: E402
from pipeline.steps.extract import extract_steps  # noqa: E402

SHARED = ROOT.parent / "shared" / "data"
STAR = SHARED / "star"
CACHE = Path(tempfile.gettempdir()) / "cxminer-eval-steps"


class CachedEmbedder:
    """The real embedder behind a vector cache file (the benchmark's stand-in for DuckDB)."""

    def __init__(self, path: Path) -> None:
        self.inner = make_embedder(EmbedConfig())
        self.model_id, self.dim = self.inner.model_id, self.inner.dim
        tag = hashlib.sha256(self.model_id.encode()).hexdigest()[:12]
        self.path = path.with_name(f"{path.stem}-{tag}.npz")
        self.vectors: dict[str, np.ndarray] = {}
        if self.path.exists():
            data = np.load(self.path, allow_pickle=True)
            self.vectors = dict(zip(data["texts"].tolist(), data["vectors"], strict=True))
        self.n_encoded = 0

    def encode(self, texts):
        """Return cached vectors, encoding (and saving) the texts not cached yet."""
        missing = [t for t in dict.fromkeys(texts) if t not in self.vectors]
        if missing:
            self.vectors.update(zip(missing, self.inner.encode(missing), strict=True))
            self.n_encoded += len(missing)
            self.path.parent.mkdir(parents=True, exist_ok=True)
            np.savez(self.path, texts=np.array(list(self.vectors), dtype=object),
                     vectors=np.stack(list(self.vectors.values())))  # fmt: skip
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        return np.stack([self.vectors[t] for t in texts]).astype(np.float32)


def read_turns(path: Path, fmt: str) -> pl.DataFrame:
    """Read a corpus as ingest stores it (validated, redacted), without a database."""
    batches = read_source(path, source_id="eval", fmt=fmt, config=IngestConfig(),
                          hash_key=b"eval-steps")  # fmt: skip
    return pl.concat([batch.turns for batch in batches])


def score(events: pl.DataFrame, labels: pl.DataFrame, *, full: bool = False) -> dict[str, float]:
    """Per-turn accuracy, edit similarity and macro edge F1, as ``cxminer evaluate``.

    ``full``: the sequence figures on the full log instead of the labels' vocabulary.
    """
    data = _step_data(_Table(events, None), labels)
    steps, process = _score_steps(data), _score_process(data)
    suffix = "_full_log" if full else ""
    return {
        "acc": steps["per_turn_accuracy"],
        "edit": steps[f"edit_similarity{suffix}"],
        "edge_f1": process[f"f1{suffix}"],
        "coverage": steps["turn_coverage"],
    }


def views(events: pl.DataFrame, turns: pl.DataFrame, labels: pl.DataFrame) -> dict[str, dict]:
    """Score the full log and the views without what the labels never hold."""
    kinds = turns.select("conversation_id", pl.col("turn_idx").cast(pl.Int32), "event_type")
    log = events.join(kinds, on=["conversation_id", "turn_idx"], how="left")
    said = log.filter(pl.col("event_type") == "utterance")
    labelled = (
        labels.select("conversation_id", "turn_steps").explode("turn_steps").drop_nulls()
        .unnest("turn_steps")
    )  # fmt: skip
    process = set(labels["steps"].explode().drop_nulls())
    at_steps = labelled.filter(pl.col("step").is_in(list(process)))
    keys = ["conversation_id", "turn_idx"]
    return {
        "as evaluate (labels' vocabulary)": score(events, labels),
        "full log": score(events, labels, full=True),
        "without actions": score(said, labels, full=True),
        "without actions, other": score(
            said.filter(pl.col("step_id") != "other"), labels, full=True
        ),
        "labelled turns only": score(log.join(labelled.select(keys), on=keys), labels),
        "turns of sequence steps": score(log.join(at_steps.select(keys), on=keys), labels),
    }


def print_views(title: str, figures: dict[str, dict]) -> None:
    """Print one line of figures per view under a title."""
    print(f"  {title}")
    for view, f in figures.items():
        print(f"    {view:<26} per-turn acc {f['acc']:.3f}  edit sim {f['edit']:.3f}  "
              f"edge F1 {f['edge_f1']:.3f}  (coverage {f['coverage']:.3f})")  # fmt: skip


def with_intents(turns: pl.DataFrame, embedder: CachedEmbedder) -> pl.DataFrame:
    """Add ``intent_id`` as the intent stage finds it (default settings, real model)."""
    config = IntentConfig()
    requests = opening_requests(turns, config)
    matrix = embedder.encode(normalise_text(requests["text"]).to_list())
    units, vectors = request_vectors(requests.with_columns(text_hash=pl.lit("")), matrix)
    fit = IntentClusterer.from_config(config).fit(
        vectors, conversation_ids=units["conversation_id"].to_list()
    )
    intents = units.select("conversation_id").with_columns(
        intent_id=pl.Series([f"i{c}" if c != NOISE else None for c in fit.labels_])
    )
    return turns.join(intents, on="conversation_id", how="left")


def run(name: str, turns: pl.DataFrame, labels: pl.DataFrame, sops: list) -> None:
    """Extract steps in each mode; print the figures, the SOP choice and the timing."""
    embedder = CachedEmbedder(CACHE / f"{name}.npz")
    started = time.perf_counter()
    turns_with_intents = with_intents(turns, embedder)
    print(f"  (intent stage for the intent prior: {time.perf_counter() - started:.1f} s)")
    modes = (("guided", sops, turns), ("guided, intent prior", sops, turns_with_intents),
             ("unguided", [], turns))  # fmt: skip
    for mode, library, frame in modes:
        embedder.n_encoded = 0
        started = time.perf_counter()
        events, types = extract_steps(frame, library, embedder=embedder)
        elapsed = time.perf_counter() - started
        n_units = events.height
        figures = views(events, turns, labels)
        print_views(
            f"{mode}: {n_units} units in {elapsed:.1f} s ({n_units / elapsed:,.0f} units/s, "
            f"{embedder.n_encoded} texts encoded), {types.height} step types, "
            f"sources {dict(Counter(events['source']))}",
            figures,
        )
        if library:
            truth = dict(labels.select("conversation_id", "intent").iter_rows())
            chosen = events.group_by("conversation_id").agg(pl.col("sop_id").first())
            pairs = [(truth.get(c), s) for c, s in chosen.iter_rows() if c in truth]
            known = {s.sop_id for s in sops}
            right = sum(t == s for t, s in pairs if t in known)
            n_known = sum(t in known for t, _ in pairs)
            unguided = sum(s is None for t, s in pairs if t not in known)
            print(f"    SOP choice: {right}/{n_known} conversations of documented intents "
                  f"got their own SOP; {unguided}/{len(pairs) - n_known} of undocumented "
                  "ones were left unguided")  # fmt: skip


def star_baseline(turns: pl.DataFrame, labels: pl.DataFrame) -> dict[str, dict]:
    """Each agent utterance -> its true task's flowchart reply with the highest cosine."""
    embedder = CachedEmbedder(CACHE / "star.npz")
    task = dict(labels.select("conversation_id", "intent").iter_rows())
    said = turns.filter((pl.col("speaker") == "agent") & (pl.col("event_type") == "utterance"))
    said = said.with_columns(task=pl.col("conversation_id").replace_strict(task, default=None))
    parts = []
    for (name,), group in said.group_by("task"):
        chart = json.loads((STAR / "tasks" / name / f"{name}.json").read_text())
        ids, replies = zip(*chart["replies"].items(), strict=True)
        best = embedder.encode(group["text"].to_list()) @ embedder.encode(list(replies)).T
        picked = pl.Series([ids[i] for i in best.argmax(axis=1)])
        parts.append(
            group.select("conversation_id", pl.col("turn_idx").cast(pl.Int32), "ts").with_columns(
                step_id=picked
            )
        )
    events = pl.concat(parts).sort("conversation_id", "turn_idx")
    events = events.with_columns(seq=pl.int_range(pl.len()).over("conversation_id"))
    return views(events, turns, labels)


def main(names: list[str]) -> None:
    if not SHARED.is_dir():
        print(f"eval_steps: {SHARED} not found; the shared datasets are needed. Nothing to do.")
        return
    for name in names:
        print(f"== {name}")
        if name == "star":
            path = STAR / "dialogues.jsonl.gz"
            with tempfile.TemporaryDirectory() as tmp:
                labels_path = Path(tmp) / "labels.jsonl"
                write_labels(labels_from_format("star", [path]), labels_path)
                labels = read_labels(labels_path)
            turns = read_turns(path, "star")
            sops = read_star_sops([STAR / "tasks"])
        else:
            turns = read_turns(ROOT / "data" / "sample" / "conversations.jsonl.gz", "jsonl")
            labels = read_labels(ROOT / "data" / "sample" / "truth" / "labels.jsonl")
            sops = load_sops([ROOT / "data" / "sops" / "sample"])
        run(name, turns, labels, sops)
        if name == "star":
            print_views("baseline (true task's chart, nearest reply)", star_baseline(turns, labels))


if __name__ == "__main__":
    main(sys.argv[1:] or ["star", "sample"])
