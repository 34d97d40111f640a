"""Opening input files: gzip detection, line and delimited-row streaming, file hashing."""

from __future__ import annotations

import csv
import gzip
import hashlib
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO

from pipeline.errors import InputError

GZIP_MAGIC = b"\x1f\x8b"
#: ``(field, reason, message)`` of a row that cannot be read.
RowProblem = tuple[str, str, str]


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


def iter_delimited(
    path: Path, *, header: Sequence[str], delimiter: str, expected: str
) -> Iterator[tuple[int, list[str], RowProblem | None]]:
    """Yield ``(row number, fields, problem)`` for each data row of a delimited text file.

    The file (gzip allowed) must start with exactly ``header`` (a byte order mark
    allowed). Row numbers count data rows from 1 (a quoted multi-line value is one row;
    blank lines are skipped). ``problem`` is ``(field, reason, message)`` for a row that
    is not valid UTF-8 (``bad_encoding``, naming the column) or not parseable
    (``bad_type``; its fields are then empty), else ``None``; a truncated gzip stream
    ends the rows with one final item whose fields are empty (``truncated_gzip``).
    Column counts are not checked here.

    Parameters
    ----------
    expected
        What the file should be, for the header error ("a Banking77 CSV with header
        'text,category'").

    Raises
    ------
    InputError
        The file cannot be opened or read, or its header is not ``header``.
    """
    kind = "TSV" if delimiter == "\t" else "CSV"
    with open_binary(path) as handle:
        lines = (line.decode("utf-8", "surrogateescape") for line in handle)
        reader = csv.reader(lines, delimiter=delimiter)
        try:
            found = next(reader, [])
        except (EOFError, gzip.BadGzipFile, zlib.error, csv.Error) as exc:
            raise InputError(f"{path}: cannot read the header ({exc})") from None
        if found:
            found[0] = found[0].removeprefix("\ufeff")
        if tuple(found) != tuple(header):
            shown = repr(delimiter.join(found)[:100]) if found else "no header line"
            raise InputError(f"{path}: expected {expected}, found {shown}")
        number = 0
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                yield number, [], ("", "bad_type", f"not a {kind} row ({exc})")
                continue
            except (EOFError, gzip.BadGzipFile, zlib.error) as exc:
                message = (
                    f"gzip stream is truncated or corrupt after row {number} ({exc}); "
                    "the rows before it were read; re-copy the file"
                )
                yield number + 1, [], ("", "truncated_gzip", message)
                return
            if fields:
                number += 1
                yield number, fields, _encoding_problem(header, fields)


def _encoding_problem(header: Sequence[str], fields: Sequence[str]) -> RowProblem | None:
    for name, value in zip(header, fields, strict=False):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError as exc:
            message = f"not valid UTF-8 at character {exc.start}; re-export the file as UTF-8"
            return name, "bad_encoding", message
    return None
