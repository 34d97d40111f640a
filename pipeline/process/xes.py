"""Export a step event log as IEEE XES (1849-2016), for ProM, Disco, PM4Py and the like.

The document is streamed: events are sorted by case and order once, then written a
batch of rows at a time, so memory holds the sorted columns and one batch of text,
never the whole document. Text is escaped with :func:`xml.sax.saxutils.quoteattr`;
characters XML 1.0 cannot carry at all (most control characters) become U+FFFD.
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import NamedTuple, TextIO
from xml.sax.saxutils import quoteattr

import polars as pl

from pipeline.errors import SchemaError

XES_NAMESPACE = "http://www.xes-standard.org/"
_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S%.3f%:z"  # ISO 8601, milliseconds, UTC offset
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_HEADER = f"""<?xml version="1.0" encoding="UTF-8"?>
<log xes.version="1849-2016" xmlns="{XES_NAMESPACE}">
  <extension name="Concept" prefix="concept" uri="{XES_NAMESPACE}concept.xesext"/>
  <extension name="Time" prefix="time" uri="{XES_NAMESPACE}time.xesext"/>
  <global scope="trace">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <global scope="event">
    <string key="concept:name" value="__INVALID__"/>
  </global>
  <classifier name="Activity" keys="concept:name"/>
"""
_FOOTER = "</log>\n"


class XesCounts(NamedTuple):
    """What :func:`write_xes` wrote."""

    traces: int
    events: int


def _attr(value: object) -> str:
    """Return ``value`` as a quoted, escaped XML attribute value."""
    return quoteattr(_NOT_XML.sub("\ufffd", str(value)))


def write_xes(
    events: pl.DataFrame,
    out: str | os.PathLike[str] | TextIO,
    *,
    case_col: str = "conversation_id",
    activity_col: str = "step_id",
    ts_col: str | None = "ts",
    order_col: str | None = "seq",
    case_attributes: Sequence[str] = ("intent_id",),
    batch_rows: int = 50_000,
) -> XesCounts:
    """Write an event log as an XES document: one trace per case, one event per row.

    Traces come in case order, events in ``order_col`` order (row order on ties or
    without it). A trace carries ``concept:name`` (the case id) and each of
    ``case_attributes`` as a string attribute, taken from its first event (omitted
    where null). An event carries ``concept:name`` (the step) and ``time:timestamp``
    (ISO 8601 with UTC offset; naive timestamps are taken as UTC); either is omitted
    where null.

    Parameters
    ----------
    events
        The event log; not modified.
    out
        A path (written as UTF-8) or an open text stream.
    case_col, activity_col, ts_col, order_col
        Column roles in ``events``; ``ts_col=None`` or ``order_col=None`` when absent.
    case_attributes
        Further columns to write on each trace, such as the intent.
    batch_rows
        Rows rendered per write: bounds the text held in memory.

    Returns
    -------
    XesCounts
        ``(traces, events)`` written.

    Raises
    ------
    SchemaError
        A named column is missing, or ``ts_col`` is not a date or datetime column.
    """
    attributes = list(case_attributes)
    needed = [case_col, activity_col, *attributes]
    needed += [c for c in (ts_col, order_col) if c]
    missing = [c for c in needed if c not in events.columns]
    if missing:
        raise SchemaError(
            f"write_xes: expected columns {', '.join(needed)}, missing {', '.join(missing)}; "
            "pass the right case_col, activity_col, ts_col, order_col and case_attributes"
        )
    frame = (
        events.lazy()
        .select(
            pl.col(case_col).alias("_case"),
            pl.col(activity_col).alias("_activity"),
            _timestamps(events, ts_col).alias("_ts"),
            *(pl.col(c).alias(f"_attr{i}") for i, c in enumerate(attributes)),
            *([pl.col(order_col).alias("_order")] if order_col else []),
        )
        .sort(["_case", "_order"] if order_col else "_case", nulls_last=True, maintain_order=True)
        .collect()
    )
    if isinstance(out, str | os.PathLike):
        with open(out, "w", encoding="utf-8", newline="\n") as handle:
            return _write(frame, handle, attributes, batch_rows)
    return _write(frame, out, attributes, batch_rows)


def _timestamps(events: pl.DataFrame, ts_col: str | None) -> pl.Expr:
    """Return an expression rendering ``ts_col`` as XES date strings (null stays null)."""
    if ts_col is None:
        return pl.lit(None, dtype=pl.String)
    dtype = events.schema[ts_col]
    if dtype == pl.Date:
        return (
            pl.col(ts_col).cast(pl.Datetime).dt.replace_time_zone("UTC").dt.to_string(_TIME_FORMAT)
        )
    if not isinstance(dtype, pl.Datetime):
        raise SchemaError(
            f"write_xes: column {ts_col}: expected a date or datetime column, found {dtype}; "
            "parse it first (str.to_datetime) or pass ts_col=None"
        )
    ts = pl.col(ts_col)
    if dtype.time_zone is None:
        ts = ts.dt.replace_time_zone("UTC")
    return ts.dt.to_string(_TIME_FORMAT)


def _write(frame: pl.DataFrame, out: TextIO, attributes: list[str], batch_rows: int) -> XesCounts:
    out.write(_HEADER)
    keys = [_attr(a) for a in attributes]
    names: dict[str, str] = {}  # escaped step names: few distinct, escaped once each
    n_traces = n_events = 0
    current: object = object()  # no case id equals it: the first row opens a trace
    for batch in frame.iter_slices(n_rows=max(1, batch_rows)):
        lines: list[str] = []
        columns = [batch["_case"].to_list(), batch["_activity"].to_list(), batch["_ts"].to_list()]
        columns += [batch[f"_attr{i}"].to_list() for i in range(len(attributes))]
        # Writing XML is per event by nature; the per-row work is string joins only.
        for case, activity, ts, *values in zip(*columns, strict=True):
            if n_traces == 0 or case != current:
                if n_traces:
                    lines.append("  </trace>\n")
                lines.append("  <trace>\n")
                if case is not None:
                    lines.append(f'    <string key="concept:name" value={_attr(case)}/>\n')
                for key, value in zip(keys, values, strict=True):
                    if value is not None:
                        lines.append(f"    <string key={key} value={_attr(value)}/>\n")
                current = case
                n_traces += 1
            lines.append("    <event>\n")
            if activity is not None:
                name = names.get(activity)
                if name is None:
                    name = names[activity] = _attr(activity)
                lines.append(f'      <string key="concept:name" value={name}/>\n')
            if ts is not None:
                lines.append(f'      <date key="time:timestamp" value="{ts}"/>\n')
            lines.append("    </event>\n")
            n_events += 1
        out.write("".join(lines))
    if n_traces:
        out.write("  </trace>\n")
    out.write(_FOOTER)
    return XesCounts(traces=n_traces, events=n_events)
