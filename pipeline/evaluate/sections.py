"""A scored section of the evaluation: the table it reads, its absence, its truth file.

Every section of :func:`pipeline.evaluate.scores.evaluate` is ``{"status": "ok", ...}``
or, when a table or truth file it needs is missing, ``{"status": "absent", "reason":
...}``, never zeros.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any

import polars as pl

from pipeline.errors import LabelsError


class Absent(Exception):
    """A section cannot be scored; the message is the reason shown to the user."""


@dataclass(frozen=True)
class Table:
    """A table as read for scoring: the latest run's rows and that run's id."""

    frame: pl.DataFrame
    run_id: str | None


def attempt(fn: Any, *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; return the :class:`Absent` it raises instead of raising it."""
    try:
        return fn(*args, **kwargs)
    except Absent as absent:
        return absent


def section(fn: Any, *inputs: Any) -> dict[str, Any]:
    """Score a section, or report the first absent input's reason."""
    try:
        for value in inputs:
            if isinstance(value, Absent):
                raise value
        return {"status": "ok", **fn(*inputs)}
    except Absent as absent:
        return {"status": "absent", "reason": str(absent)}


def read_truth(truth_dir: Path | None, name: str) -> dict[str, Any]:
    """Read a truth file of ``truth_dir``; :class:`Absent` when there is none."""
    if truth_dir is None:
        raise Absent(f"no truth folder given: pass truth_dir holding {name}")
    path = Path(truth_dir) / name
    if not path.exists():
        raise Absent(f"{path} not found: no ground truth for this section")
    try:
        truth = json.loads(path.read_text())
    except (ValueError, UnicodeDecodeError) as exc:
        raise LabelsError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(truth, dict):
        raise LabelsError(f"{path}: expected a JSON object, found {type(truth).__name__}")
    return truth


def json_safe(value: Any) -> Any:
    """NaN -> None, dates -> ISO strings, numpy scalars -> Python; recursively."""
    if isinstance(value, dict):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if hasattr(value, "item") and not isinstance(value, str | bytes):
        value = value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value
