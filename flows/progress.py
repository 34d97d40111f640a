"""Progress lines in the Prefect run log: each stage flow sends ``cxminer.progress`` there.

:func:`stage_progress` wraps a stage flow's body: a ``with`` block inside the flow, not a
decorator (a flow's function goes to Dask workers inside the run context, and a context
manager used as a decorator holds a generator, which cannot be pickled).
While it runs, the stage is one block of :mod:`pipeline.progress` (its bar shows the
stage's elapsed time between inner blocks; its log starts and ends with a line), and every
line a block writes, from any thread, in ``bar`` mode as in ``log`` mode, is also a log of
the Prefect run it was written in.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager

from prefect import get_run_logger
from prefect.exceptions import MissingContextError
from prefect.logging.handlers import APILogHandler

from pipeline.progress import logger as progress_logger
from pipeline.progress import track


class RunLogHandler(APILogHandler):
    """Send a record to the Prefect API as a log of the flow or task run it was written in.

    The run is read from the context the record was written in (a block's ticker thread
    runs in a copy of its opener's context). A record written outside a run, or below the
    level Prefect's run loggers let through (``PREFECT_LOGGING_LEVEL``; the CLI without
    ``-v`` keeps them out), is dropped. Only the API: the terminal has the bar or the line
    already, and Prefect's console handler would print it again.
    """

    def emit(self, record: logging.LogRecord) -> None:
        """Send ``record`` to the current run's log (see the class docstring)."""
        try:
            run_logger = get_run_logger()
        except MissingContextError:
            return
        if run_logger.isEnabledFor(record.levelno):
            super().emit(record)


@contextmanager
def stage_progress(stage: str) -> Iterator[None]:
    """Show ``stage`` as one progress block and send progress lines to the run log.

    Call inside a flow run. Nested stages share one handler: a line goes to the run it
    was written in.
    """
    handler = next((h for h in progress_logger.handlers if isinstance(h, RunLogHandler)), None)
    added = handler is None
    if added:
        handler = RunLogHandler()
        progress_logger.addHandler(handler)
    try:
        with track(stage):
            yield
    finally:
        if added:
            progress_logger.removeHandler(handler)
