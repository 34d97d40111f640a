"""Progress of the long stages: a bar on a terminal, plain periodic log lines elsewhere.

Every long stage reports through :func:`track`, around a loop or an opaque call::

    with track("embedding", total=len(texts), unit=" texts") as bar:
        for batch in batches:
            ...
            bar.update(len(batch))

    with track(f"intents: UMAP on {n:,} conversations"):  # no total: elapsed time only
        projection = reduce_vectors(...)

The environment variable ``CXMINER_PROGRESS`` picks how progress shows (read as each
block opens; the one setting library code reads from the environment: it changes how a
command shows its work, never what it computes, and a flag would be one more parameter of
every stage function):

- ``auto`` (default): ``bar`` when stderr is a terminal, else ``log`` (tqdm's
  ``disable=None``: no bar in a pipe, a file or a test's captured output);
- ``bar``: a tqdm bar on stderr, redrawn at least every second by a ticker thread, so the
  elapsed time moves during a call that reports nothing (a nested block's bar goes once
  it ends, an outermost one stays);
- ``log``: plain lines on stderr through the logger ``cxminer.progress``: when a block
  starts, every :data:`LOG_EVERY_S` seconds (done/total, rate, elapsed time) and when it
  ends;
- ``off``: nothing.

In ``bar`` mode the same lines are still written to ``cxminer.progress`` but skip stderr
(the bar is there): they reach the logger's other handlers, such as the Prefect run log
(:mod:`flows.progress`). The logger writes to stderr with its own handler and does not
propagate (Prefect's console handler on the root logger would print each line again, and
in bar mode over the bar); add a handler to it to send the lines elsewhere.

Blocks nest (a stage, its loop, an encoder's batches inside): a block opened while
another is open logs its start and end at DEBUG, and the periodic line, at most one every
:data:`LOG_EVERY_S` seconds over all blocks, is the innermost open block's.
"""

from __future__ import annotations

import contextvars
import logging
import os
import sys
import threading
import time
from types import TracebackType
from typing import Any

from tqdm import tqdm

from pipeline.errors import require_choice

MODE_ENV = "CXMINER_PROGRESS"
MODES = ("auto", "bar", "log", "off")
LOG_EVERY_S = 10.0  # seconds between periodic log lines
TICK_S = 0.5  # seconds between the ticker's bar redraws and log checks

logger = logging.getLogger("cxminer.progress")


def progress_mode() -> str:
    """Return ``bar``, ``log`` or ``off``: ``CXMINER_PROGRESS``, ``auto`` resolved on stderr.

    Raises
    ------
    ConfigError
        ``CXMINER_PROGRESS`` is not one of :data:`MODES`.
    """
    mode = os.environ.get(MODE_ENV, "").strip().lower() or "auto"
    require_choice(MODE_ENV, mode, MODES)
    if mode != "auto":
        return mode
    isatty = getattr(sys.stderr, "isatty", None)
    return "bar" if isatty is not None and isatty() else "log"


class Progress:
    """One block of work: counts what is done and shows it (see the module docstring).

    Use it through :func:`track`, as a context manager; :meth:`update` counts.

    Attributes
    ----------
    what, total, unit
        As given to :func:`track`.
    done : int
        Units counted so far.
    """

    def __init__(
        self, what: str, *, total: int | None, unit: str, leave: bool | None, mode: str
    ) -> None:
        self.what, self.total, self.unit = what, total, unit
        self.done = 0
        self._leave, self._mode = leave, mode
        self._level = logging.INFO
        self._started = time.monotonic()
        self._bar: Any = None
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None

    def update(self, n: int = 1) -> None:
        """Count ``n`` more units done."""
        self.done += n
        if self._bar is not None:
            self._bar.update(n)

    def __enter__(self) -> Progress:
        if self._mode == "off":
            return self
        _attach_stderr()
        with _OPEN.lock:
            self._level = logging.DEBUG if _OPEN.blocks else logging.INFO
            _OPEN.blocks.append(self)
        self._started = time.monotonic()
        if self._mode == "bar":
            opaque = self.total is None and not self.unit
            self._bar = tqdm(
                total=self.total,
                desc=self.what,
                unit=self.unit or "it",
                bar_format="{desc} [{elapsed}]" if opaque else None,
                file=sys.stderr,
                leave=self._leave,
                disable=False,
                dynamic_ncols=True,
            )
        total = f", {self.total:,}{self.unit} to do" if self.total is not None else ""
        self._log(self._level, f"{self.what}: started{total}")
        # The ticker runs in a copy of this thread's context, so a handler that reads
        # context variables (the Prefect run of flows.progress) sees the same run.
        context = contextvars.copy_context()
        self._ticker = threading.Thread(
            target=context.run, args=(self._tick,), name=f"cxminer-progress: {self.what}",
            daemon=True,
        )  # fmt: skip
        self._ticker.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._mode == "off":
            return
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join()
        if self._bar is not None:
            self._bar.close()
        with _OPEN.lock:
            _OPEN.blocks.remove(self)
        elapsed = _duration(time.monotonic() - self._started)
        if exc_type is not None:
            self._log(self._level, f"{self.what}: stopped after {elapsed} ({exc_type.__name__})")
        elif self.total is None and not self.unit:
            self._log(self._level, f"{self.what}: done in {elapsed}")
        else:
            self._log(self._level, f"{self.what}: done in {elapsed}, {self._counted()}")

    def status(self) -> str:
        """Return the periodic line: done/total, rate and elapsed time (or elapsed only)."""
        elapsed = _duration(time.monotonic() - self._started)
        if self.total is None and not self.unit:
            return f"{self.what}: running, {elapsed}"
        return f"{self.what}: {self._counted()}, {elapsed}"

    def _counted(self) -> str:
        seconds = max(time.monotonic() - self._started, 1e-9)
        rate = f"{self.done / seconds:,.0f}{self.unit}/s"
        if not self.total:
            return f"{self.done:,}{self.unit}, {rate}"
        share = self.done / self.total
        return f"{self.done:,}/{self.total:,}{self.unit} ({share:.0%}), {rate}"

    def _tick(self) -> None:
        """Redraw the bar; write the periodic line when this is the innermost block and due."""
        while not self._stop.wait(TICK_S):
            if self._bar is not None:
                self._bar.refresh()
            with _OPEN.lock:
                due = _OPEN.blocks[-1] is self and time.monotonic() - _OPEN.last_line >= LOG_EVERY_S
            if due:
                self._log(logging.INFO, self.status())

    def _log(self, level: int, message: str) -> None:
        if level >= logging.INFO:
            with _OPEN.lock:
                _OPEN.last_line = time.monotonic()
        logger.log(level, message, extra={"progress_bar": self._mode == "bar"})


def track(
    what: str, *, total: int | None = None, unit: str = "", leave: bool | None = None
) -> Progress:
    """Return a block that shows the progress of ``what`` while it is open.

    Parameters
    ----------
    what
        What runs, as the user should read it: ``"embedding"``, ``"intents: UMAP on
        10,000 conversations"``.
    total
        Units to do; None when unknown.
    unit
        The unit counted, with its leading space (``" texts"``). With neither ``total``
        nor ``unit`` the block is an opaque call: only its elapsed time shows.
    leave
        Keep the bar on screen once the block ends; None: only an outermost block's
        (tqdm's ``leave``).

    Raises
    ------
    ConfigError
        ``CXMINER_PROGRESS`` is not one of :data:`MODES`.
    """
    return Progress(what, total=total, unit=unit, leave=leave, mode=progress_mode())


class _OpenBlocks:
    """The blocks open now, oldest first (in any thread), and when the last line was written."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.blocks: list[Progress] = []
        self.last_line = 0.0


_OPEN = _OpenBlocks()


class _Stderr(logging.Handler):
    """Write log-mode lines to the current ``sys.stderr``; bar-mode lines are left out."""

    def __init__(self) -> None:
        super().__init__()
        self.setFormatter(logging.Formatter("%(asctime)s | %(message)s", "%H:%M:%S"))

    def filter(self, record: logging.LogRecord) -> bool:
        return not getattr(record, "progress_bar", False) and bool(super().filter(record))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            sys.stderr.write(self.format(record) + "\n")
            sys.stderr.flush()
        except Exception:  # logging's contract: a handler never raises
            self.handleError(record)


def _attach_stderr() -> None:
    """Give ``cxminer.progress`` its stderr handler and level INFO, once."""
    with _OPEN.lock:
        if any(isinstance(h, _Stderr) for h in logger.handlers):
            return
        logger.addHandler(_Stderr())
        logger.propagate = False
        if logger.level == logging.NOTSET:
            logger.setLevel(logging.INFO)


def _duration(seconds: float) -> str:
    """``4.2 s``, or ``3 min 05 s`` from a minute on."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"
