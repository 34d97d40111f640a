"""Opening input files: gzip detection, line streaming and whole-file hashing."""

from __future__ import annotations

import gzip
import hashlib
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import IO

from pipeline.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"


def open_binary(path: Path) -> IO[bytes]:
    """Open a file for reading bytes, decompressing gzip transparently (by magic bytes)."""
    try:
        handle = open(path, "rb")  # noqa: SIM115 - returned to the caller
    except OSError as exc:
        raise InputError(f"{path}: cannot open ({exc.strerror or exc})") from None
    if handle.peek(2)[:2] == GZIP_MAGIC:
        return gzip.GzipFile(fileobj=handle, mode="rb")
    return handle


def iter_lines(path: Path) -> Iterator[tuple[int, bytes, tuple[str, str] | None]]:
    """Yield ``(line number, line, error)`` for each non-blank line of a (gzipped) file.

    A truncated or corrupt gzip stream ends the iteration with one final item whose
    error is ``("truncated_gzip", message)``; the lines before it are yielded normally.
    """
    line_no = 0
    with open_binary(path) as handle:
        try:
            for line_no, line in enumerate(handle, start=1):  # noqa: B007 - used after the loop
                line = line.strip()
                if line:
                    yield line_no, line, None
        except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
            yield (
                line_no + 1,
                b"",
                (
                    "truncated_gzip",
                    f"gzip stream is truncated or corrupt after line {line_no} ({exc}); "
                    "the lines before it were read; re-copy the file",
                ),
            )


def file_sha256(path: Path) -> str:
    """Return the SHA-256 of a file's bytes (as stored, compressed or not)."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(1 << 20):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(f"{path}: cannot read ({exc.strerror or exc})") from None
    return digest.hexdigest()
