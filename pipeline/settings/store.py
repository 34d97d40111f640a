"""The ``store`` section of ``config.yaml``: DuckDB's own memory and threads.

Loaded and validated by :func:`pipeline.config.load_config`; applied on every connection
:func:`pipeline.store.open_store` opens. Resources, not analytics: left out of the config
hash, so changing them recomputes nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pipeline.errors import ConfigError

_SIZE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|TB|KiB|MiB|GiB|TiB)\s*$", re.IGNORECASE)
_UNITS = {"b": 1, "kb": 10**3, "mb": 10**6, "gb": 10**9, "tb": 10**12,
          "kib": 2**10, "mib": 2**20, "gib": 2**30, "tib": 2**40}  # fmt: skip


def size_bytes(size: str) -> int:
    """Bytes in a size as DuckDB writes and reads it (``1GB`` = 10^9, ``953.6 MiB``)."""
    match = _SIZE.match(size)
    if not match:
        raise ValueError(f"not a size: {size!r}")
    return int(float(match[1]) * _UNITS[match[2].lower()])


@dataclass(frozen=True)
class StoreConfig:
    """How much memory and how many threads DuckDB may use.

    DuckDB's default memory limit is 80% of the machine's RAM, which leaves nothing for
    the embedding model and clustering that run in the same process. Beyond
    ``memory_limit`` DuckDB spills to a temporary folder beside the database file
    (``<database>.tmp``) instead of growing; the limit covers DuckDB's buffers, not the
    frames a stage reads out of it.
    """

    memory_limit: str = "1GB"  # DuckDB's buffers, joins and sorts: "512MB", "2GB", ...
    threads: int | None = None  # DuckDB's worker threads; None: one a core

    def __post_init__(self) -> None:
        if not _SIZE.match(self.memory_limit):
            raise ConfigError(
                "store.memory_limit: expected a size such as '1GB' or '512MB', "
                f"found {self.memory_limit!r}"
            )
        if self.threads is not None and self.threads < 1:
            raise ConfigError(f"store.threads: expected an integer >= 1, found {self.threads}")
