"""Processes the test suite starts: find the ones still running, stop a whole tree.

Every process the suite starts inherits ``CXMINER_TEST_SESSION`` (set by ``conftest.py``),
so a survivor (an orphaned Prefect server, a ``cxminer`` child) is found by that mark in
its environment, even after its parent died and it was re-parented to init.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

SESSION_MARK = "CXMINER_TEST_SESSION"
# Helpers that end with the interpreter that started them (they read a pipe from it), so
# they cannot outlive the suite: Python's multiprocessing resource tracker.
ENDS_WITH_PARENT = ("multiprocessing.resource_tracker",)


def marked_processes(mark: str) -> list[tuple[int, str]]:
    """Return ``(pid, command line)`` of each live process whose environment holds ``mark``.

    Reads ``/proc`` (Linux); elsewhere returns an empty list. The calling process and its
    ancestors are left out: a nested test session runs under a marked parent.
    """
    proc = Path("/proc")
    if not proc.is_dir():
        return []
    needle = f"{SESSION_MARK}={mark}".encode()
    skip = _self_and_ancestors()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) in skip:
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            status = (entry / "stat").read_text()
            if status.rsplit(")", 1)[1].split()[0] == "Z":  # a zombie holds no resources
                continue
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        found.append((int(entry.name), command.strip()))
    return sorted(found)


def wait_for_none(mark: str, *, timeout_s: float) -> list[tuple[int, str]]:
    """Wait until no process carries ``mark`` (servers stop asynchronously); return survivors.

    Processes of :data:`ENDS_WITH_PARENT` are not counted: they exit with this interpreter.
    """

    def survivors() -> list[tuple[int, str]]:
        return [
            (pid, command)
            for pid, command in marked_processes(mark)
            if not any(helper in command for helper in ENDS_WITH_PARENT)
        ]

    deadline = time.monotonic() + timeout_s
    found = survivors()
    while found and time.monotonic() < deadline:
        time.sleep(0.2)
        found = survivors()
    return found


def kill_group(process: subprocess.Popen, sig: int = signal.SIGKILL) -> None:
    """Send ``sig`` to the process group of ``process`` (started with ``start_new_session=True``).

    Killing only the parent orphans its children (``cxminer run`` starts a local Prefect
    server); the group takes them all, as a machine that stops a job would.
    """
    try:
        os.killpg(process.pid, sig)
    except ProcessLookupError:
        pass
    process.wait()


def _self_and_ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 1:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids
