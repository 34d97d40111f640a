"""Intent stage: requests, fitting, ids across refits, lineage, emerging intents.

Unit tests use synthetic vectors or a keyword embedder (the real model is covered by
the end-to-end tests and benchmarks/eval_intents.py).
"""

import hashlib
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import adjusted_rand_score

from pipeline import schema
from pipeline.config import Config, IntentConfig
from pipeline.errors import ModelError, StoreError
from pipeline.intents import (
    NOISE,
    Fit,
    IntentModel,
    assign_intents,
    describe_intents,
    dump_model,
    emerging_intents,
    fit_intents,
    format_intents,
    intent_lineage,
    load_model,
    match_intent_ids,
    opening_requests,
    read_intents,
    request_vectors,
    split_emerging,
    update_intents,
)
from pipeline.store import open_store

DIM = 16
TOPICS = ("refund", "address", "password", "cancel")


def blobs(n_per: int = 60, k: int = 4, spread: float = 0.15, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.linalg.qr(rng.normal(size=(DIM, DIM)))[0][:k]
    rows = np.concatenate([c + spread * rng.normal(size=(n_per, DIM)) for c in centres])
    rows /= np.linalg.norm(rows, axis=1, keepdims=True)
    truth = np.repeat(np.arange(k), n_per)
    ids = [f"c{i:04d}" for i in range(len(rows))]
    return ids, rows.astype(np.float32), truth


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


def turns_frame(rows):
    return pl.DataFrame(
        rows,
        schema=["conversation_id", "turn_idx", "speaker", "event_type", "text"],
        orient="row",
    )


# ---- requests ------------------------------------------------------------------------
def test_opening_requests_skip_pleasantries_and_keep_the_first_content_turns():
    turns = turns_frame(
        [
            ("a", 0, "customer", "utterance", "Hello!"),
            ("a", 1, "agent", "utterance", "Hi, how can I help you today with your refund?"),
            ("a", 2, "customer", "utterance", "hi my name is Jon"),
            ("a", 3, "customer", "utterance", "I want a refund for my order"),
            ("a", 4, "customer", "action", None),
            ("a", 5, "customer", "utterance", "it arrived broken yesterday"),
            ("a", 6, "customer", "utterance", "the box was crushed completely"),
            ("b", 0, "customer", "utterance", "thanks, bye"),
            ("c", 0, "agent", "utterance", "anyone there?"),
            ("d", 0, "customer", "utterance", "<CARD> <EMAIL> please"),
            ("d", 1, "customer", "utterance", "card stolen yesterday"),
        ]
    )
    picked = opening_requests(turns, IntentConfig(opening_turns=2))
    by_conversation = picked.group_by("conversation_id", maintain_order=True).agg("turn_idx")
    assert dict(by_conversation.iter_rows()) == {
        "a": [3, 5],  # greetings and "my name is Jon" skipped; at most 2 turns
        "b": [0],  # no content turn at all: the first customer turn stands in
        "d": [1],  # placeholders are not content
    }


def test_request_vectors_average_turns_and_hash_the_request():
    requests = pl.DataFrame(
        {
            "conversation_id": ["a", "a", "b"],
            "turn_idx": [0, 1, 0],
            "text": ["x", "y", "z"],
            "text_hash": ["h1", "h2", "h3"],
        }
    )
    matrix = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    units, vectors = request_vectors(requests, matrix)
    assert units["conversation_id"].to_list() == ["a", "b"]
    assert units["request"].to_list() == ["x / y", "z"]
    np.testing.assert_allclose(vectors[0], [2**-0.5, 2**-0.5], rtol=1e-6)
    changed, _ = request_vectors(requests.with_columns(text_hash=pl.lit("h9")), matrix)
    assert units["unit_hash"][1] != changed["unit_hash"][1]


# ---- fitting -------------------------------------------------------------------------
@pytest.mark.parametrize(("reducer", "min_ari"), [("umap", 0.95), ("pca", 0.85)])
def test_fit_finds_the_planted_clusters_without_being_told_how_many(reducer, min_ari):
    ids, vectors, truth = blobs()
    fit = fit_intents(ids, vectors, IntentConfig(reducer=reducer))
    assert fit.labels.max() + 1 == 4 or reducer == "pca"  # PCA may split one blob
    assert adjusted_rand_score(truth, fit.labels) >= min_ari
    assert fit.params["min_cluster_size"] in {
        c["min_cluster_size"] for c in fit.params["candidates"]
    }
    assert set(fit.method) <= {"cluster", "nearest", "unassigned"}


def test_fit_does_not_depend_on_input_order():
    ids, vectors, _ = blobs()
    first = fit_intents(ids, vectors, IntentConfig())
    order = np.random.default_rng(3).permutation(len(ids))
    second = fit_intents([ids[i] for i in order], vectors[order], IntentConfig())
    restored = np.empty_like(second.labels)
    restored[order] = second.labels
    np.testing.assert_array_equal(first.labels, restored)


def test_noise_joins_a_cluster_only_above_the_threshold():
    ids, vectors, _ = blobs()
    outlier = np.zeros((1, DIM), dtype=np.float32)
    outlier[0, -1] = 1.0  # orthogonal to every cluster
    ids, vectors = [*ids, "zz-outlier"], np.concatenate([vectors, outlier])
    fit = fit_intents(ids, vectors, IntentConfig(assign_threshold=0.5))
    assert fit.labels[-1] == NOISE and fit.method[-1] == "unassigned"
    loose = fit_intents(ids, vectors, IntentConfig(assign_threshold=0.0))
    assert loose.labels[-1] != NOISE and loose.method[-1] in ("cluster", "nearest")


def test_a_fit_sample_bounds_the_fit_and_the_rest_is_predicted():
    ids, vectors, truth = blobs(n_per=80)
    fit = fit_intents(ids, vectors, IntentConfig(fit_sample=200))
    assert fit.params["n_fit"] == 200 == len(fit.fitted_ids)
    assert (fit.method == "predicted").sum() + (fit.method == "nearest").sum() >= 100
    assert adjusted_rand_score(truth, fit.labels) >= 0.95


def test_too_few_conversations_is_a_clear_error():
    ids, vectors, _ = blobs(n_per=4)
    with pytest.raises(ModelError, match="at least 20"):
        fit_intents(ids, vectors, IntentConfig())


def test_assign_puts_new_conversations_in_the_right_intent():
    ids, vectors, truth = blobs(seed=1)
    fit = fit_intents(ids, vectors, IntentConfig())
    intent_ids, _ = match_intent_ids(None, fit.centroids, threshold=0.7)
    model = IntentModel(1, intent_ids, fit.centroids, fit.reducer, fit.clusterer, {}, None)
    new_ids, new_vectors, new_truth = blobs(n_per=10, seed=1)  # same centres, new points
    rng = np.random.default_rng(9)
    new_vectors = new_vectors + 0.05 * rng.normal(size=new_vectors.shape).astype(np.float32)
    new_vectors /= np.linalg.norm(new_vectors, axis=1, keepdims=True)
    assigned, probability, method = assign_intents(model, new_vectors, threshold=0.5)
    expected = {t: intent_ids[c] for t, c in zip(truth, fit.labels, strict=True) if c >= 0}
    assert [expected[t] for t in new_truth] == assigned
    assert set(method) <= {"predicted", "nearest"}
    assert (probability > 0).all()


# ---- ids and lineage -----------------------------------------------------------------
def test_match_keeps_ids_of_close_centroids_and_numbers_new_ones_after_the_highest():
    eye = np.eye(4, dtype=np.float32)
    previous = IntentModel(3, ["i001", "i002", "i007"], eye[:3], None, None, {"max_id": 9}, None)
    new = np.stack([eye[2], eye[0], eye[3]])  # i007 and i001 again, one unseen
    ids, similarity = match_intent_ids(previous, new, threshold=0.7)
    assert ids == ["i007", "i001", "i010"]
    assert similarity == {"i007": 1.0, "i001": 1.0}
    fresh, _ = match_intent_ids(None, new, threshold=0.7)
    assert fresh == ["i001", "i002", "i003"]


def test_lineage_names_kept_new_split_merged_and_retired_intents():
    previous = pl.DataFrame(
        {
            "conversation_id": [f"c{i}" for i in range(12)],
            "intent_id": ["A"] * 4 + ["B"] * 4 + ["C"] * 2 + ["D"] * 2,
        }
    )
    current = pl.DataFrame(
        {
            "conversation_id": [f"c{i}" for i in range(12)] + ["n1", "n2"],
            # A kept; B split: half stays B, half to new E; C merged into A; D retired
            # (its conversations unassigned); F is new data only
            "intent_id": ["A"] * 4 + ["B", "B", "E", "E"] + ["A", "A"] + [None, None] + ["F", "F"],
        }
    )
    lineage = intent_lineage(
        previous,
        current,
        old_ids=["A", "B", "C", "D"],
        similarity={"A": 0.95, "B": 0.9},
        share=0.2,
    )
    events = {(r["event"], r["intent_id"], r["related_intent_id"]) for r in lineage.to_dicts()}
    assert events == {
        ("kept", "A", "A"),
        ("kept", "B", "B"),
        ("split", "E", "B"),
        ("merged", "A", "C"),
        ("new", "F", None),
        ("retired", "C", None),
        ("retired", "D", None),
    }


# ---- labels and emerging ------------------------------------------------------------
def test_describe_uses_class_terms_without_placeholders_and_picks_a_typical_exemplar():
    requests = [
        "refund my order <CARD>",
        "refund for broken order",
        "I want a refund",
        "reset password please",
        "password reset link expired",
        "forgot my password",
    ]
    labels = np.array([0, 0, 0, 1, 1, 1])
    vectors = np.array([[1, 0], [0.9, 0.1], [0.8, 0.2], [0, 1], [0.1, 0.9], [0.2, 0.8]])
    vectors = vectors / np.linalg.norm(vectors, axis=1, keepdims=True)
    centroids = np.array([[1.0, 0.0], [0.0, 1.0]])
    described = describe_intents(requests, labels, vectors, centroids, n_terms=3)
    assert described[0]["terms"][0] == "refund" and described[1]["terms"][0] == "password"
    assert all("card" not in d["terms"] for d in described)
    assert described[0]["exemplar"] == "refund my order <CARD>"
    assert described[1]["label"].startswith("password")


def _dated(intent, days):
    start = datetime(2026, 1, 1, tzinfo=UTC)
    return [{"intent_id": intent, "started_at": start + timedelta(days=d)} for d in days]


def test_an_intent_seen_only_recently_is_emerging_and_old_ones_are_not():
    rows = (
        _dated("old", range(0, 84, 2))
        + _dated("new", range(70, 84))
        + _dated(None, range(0, 84, 7))
    )
    table = emerging_intents(pl.DataFrame(rows), recent_days=28, share=0.9)
    flags = dict(table.select("intent_id", "is_emerging").iter_rows())
    assert flags == {"old": False, "new": True, None: False}
    new = table.filter(pl.col("intent_id") == "new").row(0, named=True)
    assert new["first_seen"].date().isoformat() == "2026-03-12"


def test_nothing_is_emerging_without_enough_history_and_growing_noise_is_flagged():
    short = pl.DataFrame(_dated("a", range(0, 30)) + _dated("b", range(20, 30)))
    assert not emerging_intents(short, recent_days=28, share=0.9)["is_emerging"].any()
    noisy = pl.DataFrame(_dated("a", range(0, 84)) + _dated(None, range(60, 84)))
    flags = dict(emerging_intents(noisy, recent_days=28, share=0.9)
                 .select("intent_id", "is_emerging").iter_rows())  # fmt: skip
    assert flags == {"a": False, None: True}


class _Reduced:
    def __init__(self, reduced):
        self.reduced = reduced


def _fit_with_absorbed_group(recent_group: bool):
    """Two intents; intent 0 has absorbed a tight group of 30 that may all be recent."""
    ids, vectors, truth = blobs(n_per=60, k=2, spread=0.12)
    rng = np.random.default_rng(3)
    centre = vectors[truth == 0].mean(axis=0) + 0.6 * np.eye(DIM, dtype=np.float32)[7]
    group = centre + 0.03 * rng.normal(size=(30, DIM))
    group /= np.linalg.norm(group, axis=1, keepdims=True)
    vectors = np.concatenate([vectors, group.astype(np.float32)])
    ids = ids + [f"g{i:03d}" for i in range(30)]
    labels = np.concatenate([truth, np.zeros(30, dtype=np.int64)])
    start = datetime(2026, 1, 1, tzinfo=UTC)
    days = [int(d) for d in rng.integers(0, 84, size=120)]
    days += [int(d) for d in rng.integers(60, 84, size=30)] if recent_group else days[:30]
    order = np.argsort(ids, kind="stable")
    centroids = np.stack([vectors[labels == c].mean(axis=0) for c in (0, 1)])
    centroids /= np.linalg.norm(centroids, axis=1, keepdims=True)
    fit = Fit(labels, np.ones(150), np.full(150, "cluster", dtype=object), centroids,
              _Reduced(vectors[order]), None, {"min_cluster_size": 40}, frozenset(ids))  # fmt: skip
    return fit, ids, vectors, [start + timedelta(days=d) for d in days]


def test_an_all_recent_group_inside_an_old_intent_is_split_off():
    fit, ids, vectors, started = _fit_with_absorbed_group(recent_group=True)
    split = split_emerging(fit, ids, vectors, started, IntentConfig())
    assert split.params["children"] == {2: 0}
    child = np.flatnonzero(split.labels == 2)
    assert {ids[i][0] for i in child} == {"g"} and len(child) >= 25
    assert len(split.centroids) == 3 and fit.labels.max() == 1  # input not modified
    near_child = vectors[ids.index("g000")][None, :]
    labels = np.array([0])
    from pipeline.intents import _route_to_children

    _route_to_children(labels, near_child, split.centroids, split.params["children"])
    assert labels.tolist() == [2]


@pytest.mark.parametrize("case", ["group spread over time", "history too short", "disabled"])
def test_nothing_is_split_without_a_recent_group_or_enough_history(case):
    fit, ids, vectors, started = _fit_with_absorbed_group(
        recent_group=case != "group spread over time"
    )
    config = IntentConfig(emerging_split=case != "disabled")
    if case == "history too short":
        started = [datetime(2026, 1, 1, tzinfo=UTC)] * len(ids)
    assert split_emerging(fit, ids, vectors, started, config) is fit


def test_model_round_trips_and_a_bad_blob_is_a_model_error():
    ids, vectors, _ = blobs()
    fit = fit_intents(ids, vectors, IntentConfig())
    model = IntentModel(2, ["i001"] * 4, fit.centroids, fit.reducer, fit.clusterer, {}, None)
    again = load_model(dump_model(model), 2)
    np.testing.assert_array_equal(
        assign_intents(again, vectors[:5], threshold=0.5)[1],
        assign_intents(model, vectors[:5], threshold=0.5)[1],
    )
    with pytest.raises(ModelError, match="refit with `cxminer intents --refit`"):
        load_model(b"not a pickle", 7)


# ---- the stage on a store ------------------------------------------------------------
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
