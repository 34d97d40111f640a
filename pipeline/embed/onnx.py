"""The ONNX Runtime embedding backend: a one-time export, int8 quantisation, fast encoding.

An export is a folder ``<cache_dir>/<model-id-slug>/`` holding ``model.onnx`` (the
transformer, token embeddings out), ``tokenizer.json`` (the model's fast tokenizer),
``export.json`` (pooling, maximum length, inputs) and, once asked for, ``model.int8.onnx``.
The folder is built under a temporary name and renamed into place, so a reader sees a
complete export or none, and a second process finding it reuses it.

Encoding needs only onnxruntime, tokenizers and numpy: no torch, no sentence-transformers
(whose import alone costs ~5.5 s). Exporting needs torch; the model is loaded by
:mod:`pipeline.embed.cache` and handed over.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import time
import uuid
import warnings
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.errors import ModelError
from pipeline.progress import track

MODEL_FILE = "model.onnx"
INT8_FILE = "model.int8.onnx"
TOKENIZER_FILE = "tokenizer.json"
META_FILE = "export.json"
OPSET = 17
POOLINGS = ("mean", "cls", "max")
# Texts tokenised at once: enough to sort into batches of one length, bounded memory.
TOKENISE_CHUNK = 4096


@dataclass(frozen=True)
class OnnxExport:
    """A complete export folder and what encoding with it needs to know."""

    folder: Path
    model_id: str
    dim: int
    pooling: str
    max_seq_length: int
    input_names: tuple[str, ...]
    pad_id: int
    lowercase: bool
    export_s: float


def read_export(folder: Path) -> OnnxExport | None:
    """Return the export in ``folder``, or ``None`` when there is none yet.

    Raises
    ------
    ModelError
        The folder exists but its ``export.json`` is unreadable (delete the folder to
        export again).
    """
    meta_path = folder / META_FILE
    if not meta_path.exists():
        return None
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        return OnnxExport(
            folder=folder,
            model_id=meta["model_id"],
            dim=int(meta["dim"]),
            pooling=meta["pooling"],
            max_seq_length=int(meta["max_seq_length"]),
            input_names=tuple(meta["input_names"]),
            pad_id=int(meta["pad_id"]),
            lowercase=bool(meta["lowercase"]),
            export_s=float(meta["export_s"]),
        )
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelError(
            f"{meta_path}: unreadable ONNX export ({exc}); delete {folder} to export again"
        ) from None


def write_export(
    folder: Path,
    *,
    transformer: Any,
    tokenizer_json: str,
    model_id: str,
    dim: int,
    pooling: str,
    max_seq_length: int,
    pad_id: int,
    lowercase: bool,
) -> OnnxExport:
    """Export a Hugging Face transformer to ``folder`` (atomically) and return the export.

    Parameters
    ----------
    folder
        The export folder; if another process completes it first, that export is kept.
    transformer
        The ``torch.nn.Module`` (a Hugging Face model) whose first output is the token
        embeddings.
    tokenizer_json
        Its fast tokenizer, serialised (saved beside the graph).
    model_id, dim, pooling, max_seq_length, pad_id, lowercase
        Recorded in ``export.json`` for :class:`OnnxEmbedder`.

    Returns
    -------
    OnnxExport
        The export now in ``folder``.

    Raises
    ------
    ModelError
        The pooling is not supported, or ``folder`` holds something that is not an export.
    """
    import torch

    if pooling not in POOLINGS:
        raise ModelError(
            f"{model_id}: the onnx backends support {'/'.join(POOLINGS)} pooling, "
            f"the model uses {pooling!r}; set embed.backend: torch"
        )
    started = time.perf_counter()
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        input_names = _input_names(transformer)
        tokenizer = runtime_tokenizer(tokenizer_json, max_seq_length=max_seq_length)
        # A padded pair, so the traced graph keeps the attention-mask path.
        sample = _pad(tokenizer.encode_batch(["a", "a longer sample text"]), pad_id)
        args = tuple(torch.from_numpy(sample[name]) for name in input_names)
        axes = {name: {0: "batch", 1: "sequence"} for name in (*input_names, "token_embeddings")}
        with torch.no_grad(), warnings.catch_warnings():
            # The tracer's notes on Python-bool shape checks and index ops: the traced
            # graph is checked against torch on padded batches in tests/test_embed.py.
            warnings.simplefilter("ignore", torch.jit.TracerWarning)
            warnings.simplefilter("ignore", UserWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                _keyword_module(transformer.eval(), input_names),
                args,
                str(staging / MODEL_FILE),
                dynamo=False,
                opset_version=OPSET,
                input_names=list(input_names),
                output_names=["token_embeddings"],
                dynamic_axes=axes,
            )
        (staging / TOKENIZER_FILE).write_text(tokenizer_json, encoding="utf-8")
        export = OnnxExport(
            folder=folder,
            model_id=model_id,
            dim=dim,
            pooling=pooling,
            max_seq_length=max_seq_length,
            input_names=input_names,
            pad_id=pad_id,
            lowercase=lowercase,
            export_s=round(time.perf_counter() - started, 2),
        )
        meta = {**asdict(export), "opset": OPSET, "torch": torch.__version__}
        del meta["folder"]
        (staging / META_FILE).write_text(json.dumps(meta, indent=2), encoding="utf-8")
        try:
            staging.rename(folder)
        except OSError:
            # Another process finished the same export first: keep its folder.
            if read_export(folder) is None:
                raise ModelError(
                    f"{folder}: exists but holds no ONNX export; delete it to export again"
                ) from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return read_export(folder) or export


def ensure_int8(export: OnnxExport) -> Path:
    """Return the int8 model of ``export``, quantising it once (~2 s for MiniLM).

    Dynamic quantisation of the weight MatMuls, per output channel: per-tensor weights
    lose too much (cosine to torch ~0.91 instead of ~0.99).
    """
    target = export.folder / INT8_FILE
    if target.exists():
        return target
    from onnxruntime.quantization import QuantType, quantize_dynamic

    staging = export.folder / f".{INT8_FILE}.{uuid.uuid4().hex}"
    # quantize_dynamic logs a hint to pre-process the model first; that pre-processing
    # (symbolic shape inference) fails on these graphs and is not needed.
    hint = _DropLogRecords("pre-processing before quantization")
    logging.getLogger().addFilter(hint)
    try:
        quantize_dynamic(
            export.folder / MODEL_FILE,
            staging,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            weight_type=QuantType.QInt8,
        )
        os.replace(staging, target)
    finally:
        logging.getLogger().removeFilter(hint)
        staging.unlink(missing_ok=True)
    return target


class OnnxEmbedder:
    """Encode texts with an exported model in ONNX Runtime (CPU).

    Parameters
    ----------
    export
        The export to run.
    model_file
        ``model.onnx`` or the int8 model in the export folder.
    model_id
        The cache key its vectors are stored under.
    batch_size
        Texts per forward pass.
    threads
        Intra-op threads (the cores this process may use).
    """

    def __init__(
        self, export: OnnxExport, *, model_file: Path, model_id: str, batch_size: int, threads: int
    ) -> None:
        import onnxruntime as ort

        self.model_id = model_id
        self.dim = export.dim
        self.batch_size = batch_size
        self._export = export
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        try:
            self._session = ort.InferenceSession(
                str(model_file), options, providers=["CPUExecutionProvider"]
            )
            self._tokenizer = runtime_tokenizer(
                (export.folder / TOKENIZER_FILE).read_text(encoding="utf-8"),
                max_seq_length=export.max_seq_length,
            )
        # onnxruntime and tokenizers raise subclasses of plain Exception only.
        except Exception as exc:
            raise ModelError(
                f"{model_file}: cannot load the ONNX export ({str(exc).splitlines()[0]}); "
                f"delete {export.folder} to export again"
            ) from None

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Return one L2-normalised float32 row per text, in the order given.

        Texts are tokenised :data:`TOKENISE_CHUNK` at a time and each chunk is encoded
        in order of token count, so a batch holds sequences of (nearly) one length and
        almost no padding is computed; rows are put back in input order. Sorting by
        token count rather than characters is ~1.35x faster on short utterances
        (characters left 30% of computed tokens as padding).
        """
        texts = [t.lower() for t in texts] if self._export.lowercase else list(texts)
        vectors = np.empty((len(texts), self.dim), dtype=np.float32)
        names = self._export.input_names
        with track("encoding", total=len(texts), unit=" texts") as bar:
            for offset in range(0, len(texts), TOKENISE_CHUNK):
                encodings = self._tokenizer.encode_batch(texts[offset : offset + TOKENISE_CHUNK])
                order = np.argsort([len(e.ids) for e in encodings], kind="stable")
                for start in range(0, len(order), self.batch_size):
                    rows = order[start : start + self.batch_size]
                    feed = _pad([encodings[i] for i in rows], self._export.pad_id)
                    inputs = {n: feed[n] for n in names}
                    (hidden,) = self._session.run(["token_embeddings"], inputs)
                    pooled = pool(hidden, feed["attention_mask"], mode=self._export.pooling)
                    vectors[offset + rows] = pooled
                    bar.update(len(rows))
        return l2_normalise(vectors)


def runtime_tokenizer(tokenizer_json: str, *, max_seq_length: int) -> Any:
    """Return a ``tokenizers.Tokenizer`` that truncates like sentence-transformers, unpadded.

    A saved tokenizer may carry fixed padding (MiniLM's pads every text to 128 tokens):
    batches are padded to their own longest text instead (:func:`_pad`).
    """
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_str(tokenizer_json)
    tokenizer.no_padding()
    tokenizer.enable_truncation(max_length=max_seq_length)
    return tokenizer


def pool(hidden: np.ndarray, mask: np.ndarray, *, mode: str) -> np.ndarray:
    """Pool token embeddings ``(batch, tokens, dim)`` into sentence embeddings.

    Parameters
    ----------
    hidden
        Token embeddings.
    mask
        Attention mask ``(batch, tokens)``: 1 for real tokens, 0 for padding.
    mode
        ``mean`` (over real tokens), ``cls`` (the first token) or ``max``.

    Returns
    -------
    numpy.ndarray
        ``(batch, dim)`` float32, not normalised.
    """
    if mode == "cls":
        return hidden[:, 0].astype(np.float32)
    weights = mask[:, :, None].astype(np.float32)
    if mode == "max":
        return np.where(weights > 0, hidden, -1e9).max(axis=1).astype(np.float32)
    return (hidden * weights).sum(axis=1) / np.maximum(weights.sum(axis=1), 1e-9)


def l2_normalise(vectors: np.ndarray) -> np.ndarray:
    """Return ``vectors`` scaled to unit L2 norm per row (zero rows stay zero)."""
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return (vectors / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)


def _pad(encodings: Sequence[Any], pad_id: int) -> dict[str, np.ndarray]:
    """Stack unpadded token encodings into int64 arrays padded to the longest one."""
    length = max(len(e.ids) for e in encodings)
    shape = (len(encodings), length)
    arrays = {
        "input_ids": np.full(shape, pad_id, dtype=np.int64),
        "attention_mask": np.zeros(shape, dtype=np.int64),
        "token_type_ids": np.zeros(shape, dtype=np.int64),
    }
    for row, encoding in enumerate(encodings):
        n = len(encoding.ids)
        arrays["input_ids"][row, :n] = encoding.ids
        arrays["attention_mask"][row, :n] = encoding.attention_mask
        arrays["token_type_ids"][row, :n] = encoding.type_ids
    return arrays


def _input_names(transformer: Any) -> tuple[str, ...]:
    import inspect

    accepted = inspect.signature(transformer.forward).parameters
    names = ("input_ids", "attention_mask", "token_type_ids")
    return tuple(name for name in names if name in accepted)


class _DropLogRecords(logging.Filter):
    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text

    def filter(self, record: logging.LogRecord) -> bool:
        return self.text not in record.getMessage()


def _keyword_module(model: Any, input_names: tuple[str, ...]) -> Any:
    """Wrap ``model`` so the exporter's positional inputs reach it as keyword arguments.

    transformers 5.x models misread positional tensors; torch is imported lazily, so the
    wrapper class is built here.
    """
    import torch

    class KeywordCall(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
            return self.model(**dict(zip(input_names, inputs, strict=True)))[0]

    return KeywordCall()
