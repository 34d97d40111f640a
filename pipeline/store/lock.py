"""The single-writer lock beside a DuckDB file.

One writer at a time: a writer takes an exclusive ``flock`` on ``<db>.lock`` (released
by the OS if the process dies) and records who holds it, so a second writer fails with
a message naming the holder instead of corrupting the file.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from pipeline.errors import StoreLockedError

_LOCK_POLL_S = 0.2


def lock_path(db_path: str | Path) -> Path:
    """Return the path of the writer lock file beside the database."""
    db_path = Path(db_path)
    return db_path.with_name(db_path.name + ".lock")


@contextmanager
def writer_lock(db_path: Path, *, timeout_s: float, owner: str | None) -> Iterator[None]:
    """Hold the writer lock of ``db_path`` for the enclosed block, waiting ``timeout_s``."""
    path = lock_path(db_path)
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole block
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise StoreLockedError(
                        f"{db_path}: another cxminer process is writing this database "
                        f"({describe_holder(path)}); wait for it to finish, or set "
                        "lock_timeout_s in config.yaml to wait automatically"
                    ) from None
                time.sleep(_LOCK_POLL_S)
        holder = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "command": owner
            or " ".join(Path(a).name if i == 0 else a for i, a in enumerate(sys.argv))[:200],
            "since": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        handle.seek(0)
        handle.truncate()
        handle.write(json.dumps(holder))
        handle.flush()
        try:
            yield
        finally:
            handle.seek(0)
            handle.truncate()
            handle.flush()
            fcntl.flock(handle, fcntl.LOCK_UN)
    finally:
        handle.close()


def describe_holder(path: Path) -> str:
    """Describe the writer recorded in the lock file at ``path`` (pid, host, command)."""
    try:
        holder = json.loads(path.read_text() or "{}")
    except (OSError, ValueError):
        holder = {}
    if not holder:
        return "holder unknown"
    return (
        f"pid {holder.get('pid')} on {holder.get('host')}, "
        f"`{holder.get('command')}`, since {holder.get('since')}"
    )
