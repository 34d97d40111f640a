"""What an input adapter declares: its format name, its reader and how to recognise a file.

Each adapter module holds one :class:`Adapter` a format it reads; the ordered list in
:mod:`pipeline.ingest.adapters.registry` is the one place the formats meet. A detection
test looks at a :class:`FileHead`, which reads the file only when a test asks for it, so
a test that rules a file out by its name costs no I/O.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from pipeline.config import IngestConfig
from pipeline.ingest.adapters import RawBatch
from pipeline.ingest.adapters.files import open_binary

_FIRST_LINE_MAX = 16 * 1024 * 1024  # a first record longer than this is not sniffed
_SNIFF_BYTES = 64 * 1024

#: Reads one input file as a stream of raw batches, with ingest's settings.
Reader = Callable[[Path, IngestConfig], Iterator[RawBatch]]


class FileHead:
    """The parts of an input file a detection test may look at, each read on first use.

    Parameters
    ----------
    path
        The input file (gzipped or not).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.name = path.name.lower().removesuffix(".gz")

    def first_line(self, *, limit: int) -> bytes:
        """Return the first line of the file, at most ``limit`` bytes; empty if unreadable.

        Raises
        ------
        InputError
            The file cannot be opened.
        """
        with open_binary(self.path) as handle:
            try:
                return handle.readline(limit)
            except (EOFError, OSError):
                return b""  # the reader reports what is wrong with the file

    @cached_property
    def _document(self) -> tuple[Any, bytes]:
        with open_binary(self.path) as handle:
            try:
                first_line = handle.readline(_FIRST_LINE_MAX)
                start = first_line + handle.read(_SNIFF_BYTES)  # for pretty-printed documents
            except (EOFError, OSError):
                return None, b""  # the reader reports what is wrong with the file
        try:
            first = orjson.loads(first_line)
        except orjson.JSONDecodeError:
            first = None  # a pretty-printed document, or a bad first line
        return first, start

    @property
    def first_record(self) -> Any:
        """The first line parsed as JSON; ``None`` if it is not JSON or cannot be read.

        Raises
        ------
        InputError
            The file cannot be opened.
        """
        return self._document[0]

    @property
    def start(self) -> bytes:
        """The first line plus the next 64 KiB; empty if the file cannot be read.

        Raises
        ------
        InputError
            The file cannot be opened.
        """
        return self._document[1]


@dataclass(frozen=True)
class Adapter:
    """One input format: its name (a value of ``ingest.format``), reader and detection test.

    ``detect`` is ``None`` for a format that is only read when named.
    """

    name: str
    read: Reader
    detect: Callable[[FileHead], bool] | None = None
