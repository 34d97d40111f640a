"""Frame contracts on entry to a stage: the columns a stage reads must be there.

Stages check their input frames once, before any work, so that a frame missing a
column fails with a message naming the stage, the table, what is missing, what was
expected and the fix, not with a polars ``ColumnNotFoundError`` deep in a join.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from pipeline.errors import SchemaError


def require_columns(
    frame: pl.DataFrame, columns: Sequence[str], *, table: str, what: str, fix: str | None = None
) -> None:
    """Raise unless ``frame`` has every one of ``columns``.

    Parameters
    ----------
    frame
        The input frame; only its column names are read.
    columns
        The columns the stage reads, in the order the message lists them.
    table
        The table the frame stands for (``conformance``, ``conversations``).
    what
        The stage, first in the message (``drift``, ``drift (intent_mix)``).
    fix
        What the caller should do; without it the message ends naming the table.

    Raises
    ------
    SchemaError
        ``{what}: the {table} frame lacks column(s) ...; expected ...`` and the fix.
    """
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise SchemaError(
            f"{what}: the {table} frame lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(columns)}" + (f"; {fix}" if fix else f" (table {table})")
        )
