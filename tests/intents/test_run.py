"""Intent stage on a store: fit, assign, refit with ids kept, emerging, reading.

Unit tests use a keyword embedder (the real model is covered by the end-to-end tests and
benchmarks/eval_intents.py).
"""

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from intent_vectors import DIM

from pipeline import schema
from pipeline.config import Config, IntentConfig
from pipeline.errors import StoreError
from pipeline.intents.run import read_intents, update_intents
from pipeline.intents.show import format_intent_tree, format_intents
from pipeline.store import open_store

TOPICS = ("refund", "address", "password", "cancel")


class KeywordEmbedder:
    """Texts about one topic land near that topic's axis; everything else near a 5th."""

    model_id = "keyword-test"
    dim = DIM

    def __init__(self):
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        rows = []
        for text in texts:
            topic = next((i for i, t in enumerate(TOPICS) if t in text), len(TOPICS))
            seed = int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)
            row = np.zeros(DIM)
            row[topic] = 1.0
            row += 0.12 * np.random.default_rng(seed).normal(size=DIM)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32)


def _seed_store(store, conversations, *, start=datetime(2026, 1, 1, tzinfo=UTC)):
    """Insert conversations (id, day, customer texts) directly (ingest is tested elsewhere)."""
    convs, turns = [], []
    for cid, day, texts in conversations:
        digest = hashlib.sha256(repr(texts).encode()).hexdigest()
        convs.append(
            {
                "conversation_id": cid,
                "source_id": "s",
                "locator": cid,
                "started_at": start + timedelta(days=day),
                "n_turns": len(texts),
                "content_hash": digest,
            }
        )
        for i, text in enumerate(texts):
            turns.append({"conversation_id": cid, "turn_idx": i, "speaker": "customer",
                          "event_type": "utterance", "text": text})  # fmt: skip
    store.write_conversations(
        conversations=pl.DataFrame(convs).with_columns(
            *(
                pl.lit(None, dtype=pl.String).alias(c)
                for c in (
                    "channel",
                    "queue",
                    "team",
                    "agent_hash",
                    "customer_hash",
                    "outcome",
                    "metadata",
                )
            ),  # fmt: skip
            ended_at=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        ),
        turns=pl.DataFrame(turns).with_columns(
            action_name=pl.lit(None, dtype=pl.String),
            args=pl.lit(None, dtype=pl.String),
            ts=pl.lit(None, dtype=pl.Datetime("us", "UTC")),
        ),
        redactions=pl.DataFrame(
            schema={
                "conversation_id": pl.String,
                "turn_idx": pl.Int32,
                "pii_type": pl.String,
                "n": pl.Int32,
            }  # fmt: skip
        ),
        run_id="r-seed",
    )


def _corpus(n_per, topics, days, tag=""):
    rows = []
    for topic in topics:
        for i in range(n_per):
            cid = f"{tag}{topic}-{i:03d}"
            rows.append((cid, days[i % len(days)], ["hello", f"I need help with {topic} {i}{tag}"]))
    return rows


def test_stage_fits_then_assigns_new_data_then_refits_keeping_ids(db_path):
    config = Config(intents=IntentConfig(refit="auto"))
    embedder = KeywordEmbedder()
    with open_store(db_path) as store:
        _seed_store(store, _corpus(30, TOPICS[:3], range(0, 84)) + [("silent", 1, [])])
        first = update_intents(store, config=config, embedder=embedder, run_id="r1")
        assert first["mode"] == "fit" and first["intents"] == 3
        snapshot = store.sql(
            f"select conversation_id, intent_id, method from {schema.INTENT_ASSIGNMENTS}"
        )
        assert snapshot.height == 91  # every conversation, even the one without a request
        assert snapshot.filter(pl.col("conversation_id") == "silent")["method"][0] == "no_request"

        again = update_intents(store, config=config, embedder=embedder, run_id="r2")
        assert again["mode"] == "assign" and again["new"] == 0 and again["encoded"] == 0
        assert (
            store.sql(f"select conversation_id, intent_id, method from {schema.INTENT_ASSIGNMENTS}")
            .sort("conversation_id")
            .equals(snapshot.sort("conversation_id"))
        )

        _seed_store(store, _corpus(6, TOPICS[:3], range(80, 84), tag="n"))
        incremental = update_intents(store, config=config, embedder=embedder, run_id="r3")
        assert incremental["mode"] == "assign" and incremental["new"] == 18
        latest = store.sql(f"select * from {schema.INTENT_ASSIGNMENTS}")
        topic_of = dict(snapshot.drop_nulls("intent_id").select("conversation_id", "intent_id")
                        .iter_rows())  # fmt: skip
        by_topic = {cid.split("-")[0]: iid for cid, iid in topic_of.items()}
        fresh = latest.filter(pl.col("conversation_id").str.starts_with("n"))
        for cid, iid in fresh.select("conversation_id", "intent_id").iter_rows():
            assert iid == by_topic[cid[1:].split("-")[0]]

        refit = update_intents(store, config=config, embedder=embedder, run_id="r4", refit=True)
        assert refit["mode"] == "refit" and refit["model_version"] == 2
        assert refit["lineage"] == {"kept": 3}
        after = dict(store.sql(f"select conversation_id, intent_id from "
                               f"{schema.INTENT_ASSIGNMENTS}").iter_rows())  # fmt: skip
        assert all(after[c] == i for c, i in topic_of.items())
        assert store.count(schema.INTENT_MODELS) == 2


def test_stage_assigns_new_conversations_with_the_injected_function_only(db_path):
    calls = []

    def assign(model, vectors, *, threshold):
        calls.append((model.version, vectors.shape, threshold))
        return ["i002", None], np.array([0.25, 0.0]), np.array(["predicted", "unassigned"])

    config = Config(intents=IntentConfig(assign_threshold=0.4))
    with open_store(db_path) as store:
        _seed_store(store, _corpus(30, TOPICS[:3], range(0, 84)))
        fitted = update_intents(
            store, config=config, embedder=KeywordEmbedder(), run_id="r1", assign=assign
        )
        assert fitted["mode"] == "fit" and calls == []  # the fit path does not assign
        _seed_store(store, [("new-a", 83, ["my refund please"]), ("new-b", 83, ["refund now"])])
        summary = update_intents(
            store,
            config=config,
            embedder=KeywordEmbedder(),
            run_id="r2",
            refit=False,
            assign=assign,
        )
        fresh = store.sql(
            f"select conversation_id, intent_id, probability, method, is_outlier "
            f"from {schema.INTENT_ASSIGNMENTS} where conversation_id like 'new-%' "
            "order by conversation_id"
        )
    assert summary["mode"] == "assign" and summary["new"] == 2
    assert calls == [(1, (2, DIM), 0.4)]
    assert fresh.rows() == [
        ("new-a", "i002", 0.25, "predicted", False),
        ("new-b", None, 0.0, "unassigned", True),
    ]


def test_stage_flags_a_recent_new_topic_as_emerging(db_path):
    config = Config(intents=IntentConfig())
    with open_store(db_path) as store:
        _seed_store(
            store,
            _corpus(40, TOPICS[:3], range(0, 84)) + _corpus(25, TOPICS[3:], range(70, 84)),
        )
        summary = update_intents(store, config=config, embedder=KeywordEmbedder(), run_id="r1")
        intents = store.sql(f"select intent_id, label, is_emerging from {schema.INTENTS}")
    emerging = intents.filter(pl.col("is_emerging"))
    assert summary["emerging"] == emerging["intent_id"].to_list()
    assert emerging.height == 1 and "cancel" in emerging["label"][0]


def test_stage_skips_with_a_reason_when_there_is_too_little_data(db_path):
    loaded = []
    with open_store(db_path) as store:
        _seed_store(store, _corpus(3, TOPICS[:2], [0]))
        summary = update_intents(
            store,
            config=Config(),
            embedder=lambda: loaded.append(1) or KeywordEmbedder(),
            run_id="r1",
        )
    assert summary["mode"] == "skipped" and "at least 20" in summary["reason"]
    assert loaded == []  # no model was loaded for nothing


def test_read_and_format_intents(db_path):
    with open_store(db_path) as store:
        _seed_store(store, _corpus(30, TOPICS[:3], range(0, 84)))
    with pytest.raises(StoreError, match="no intents yet"):
        read_intents(db_path)
    with open_store(db_path) as store:
        update_intents(store, config=Config(), embedder=KeywordEmbedder(), run_id="r1")
    report = read_intents(db_path)
    assert [r["size"] for r in report["intents"]] == [30, 30, 30]
    text = format_intents(report)
    assert "3 intents, 90 conversations, 0 unassigned" in text
    assert "I need help with" in text


def test_intents_carry_their_family_and_the_tree_folds_intents_into_families(db_path):
    with open_store(db_path) as store:
        _seed_store(store, _corpus(30, TOPICS[:3], range(0, 84)))
        update_intents(store, config=Config(), embedder=KeywordEmbedder(), run_id="r1")
        rows = store.sql(f"select intent_id, label, family_id, family_label from {schema.INTENTS}")
    # the topics' requests are unlike each other: each intent is a family of its own
    assert rows["family_id"].to_list() == ["F" + i[1:] for i in rows["intent_id"]]
    assert set(rows["family_label"]) == {"refund", "address", "password"}
    text = format_intent_tree(read_intents(db_path))
    assert "3 families, 3 intents, 90 conversations" in text
    family_lines = [line for line in text.splitlines()[1:] if not line.startswith("  ")]
    assert len(family_lines) == 3 and all(line.startswith("F") for line in family_lines)
    assert sum(line.startswith("  I") or line.startswith("  i") for line in text.splitlines()) == 3


def test_auto_refits_on_conversations_added_since_the_fit_not_on_those_outside_its_sample(db_path):
    config = Config(intents=IntentConfig(refit="auto", fit_sample=40))
    embedder = KeywordEmbedder()
    with open_store(db_path) as store:
        _seed_store(store, _corpus(30, TOPICS[:3], range(0, 84)))
        assert update_intents(store, config=config, embedder=embedder, run_id="r1")["mode"] == "fit"
        # 90 conversations at the fit, 40 of them in its sample: 18 more are 17% new
        _seed_store(store, _corpus(6, TOPICS[:3], range(80, 84), tag="n"))
        assert update_intents(store, config=config, embedder=embedder, run_id="r2")["mode"] == (
            "assign"
        )
        # ...and 120 more make 58% of 228 added since the fit
        _seed_store(store, _corpus(40, TOPICS[:3], range(80, 84), tag="m"))
        assert update_intents(store, config=config, embedder=embedder, run_id="r3")["mode"] == (
            "refit"
        )
