"""Approval gates of the SOPs and their outcome on each conversation's metadata.

:func:`gates_of` parses the ``when`` condition of every gated SOP step (the language of
:mod:`pipeline.sops.gates`); :func:`with_gate_outcomes` evaluates them, as polars
expressions over the ``metadata`` fields they name, into one outcome code a gated step
(:data:`HOLDS`, :data:`FAILS`, :data:`UNKNOWN`) for
:func:`pipeline.drift.conformance.check_conformance`.
"""

from __future__ import annotations

from collections.abc import Mapping

import polars as pl

from pipeline.errors import SchemaError, SopError
from pipeline.sops.gates import Condition, condition_expr, condition_fields, parse_condition
from pipeline.sops.model import Sop

#: Gate outcome codes, one character per gated step in ``_gates``.
HOLDS, FAILS, UNKNOWN = "T", "F", "U"


def gates_of(sops: Mapping[str, Sop]) -> dict[str, list[tuple[str, Condition]]]:
    """Parse every gated step of every SOP: sop_id -> [(step id, condition)] in SOP order."""
    gates: dict[str, list[tuple[str, Condition]]] = {}
    for sop_id, sop in sops.items():
        gates[sop_id] = []
        for step in sop.steps:
            if step.when is None:
                continue
            try:
                gates[sop_id].append((step.id, parse_condition(step.when)))
            except SopError as exc:
                raise SopError(
                    f"sop {sop_id} version {sop.version}: step {step.id}: when: {exc}; "
                    "fix the condition in the SOP file"
                ) from None
    return gates


def with_gate_outcomes(
    traces: pl.DataFrame,
    gates: Mapping[str, list[tuple[str, Condition]]],
    conversations: pl.DataFrame | None,
    *,
    case_col: str,
) -> pl.DataFrame:
    """Add ``_gates``: one of T/F/U per gated step of the conversation's SOP, in SOP order.

    The conditions are polars expressions over the metadata fields they name: one
    JSON path match per field and conversation, no Python per row.
    """
    gated = {sop_id: pairs for sop_id, pairs in gates.items() if pairs}
    if not gated:
        return traces.with_columns(_gates=pl.lit("", dtype=pl.String))
    fields = sorted(set().union(*(condition_fields(c) for p in gated.values() for _, c in p)))
    columns = {field: f"_field{i}" for i, field in enumerate(fields)}
    if conversations is None:
        values = [pl.lit(None, dtype=pl.String).alias(c) for c in columns.values()]
        traces = traces.with_columns(values)
    else:
        metadata = pl.col("metadata").cast(pl.String)
        values = [metadata.str.json_path_match(f"$.{f}").alias(c) for f, c in columns.items()]
        data = conversations.select(pl.col(case_col), *values)
        try:
            traces = traces.join(data, on=case_col, how="left", validate="m:1")
        except pl.exceptions.ComputeError:
            repeated = data.filter(pl.col(case_col).is_duplicated())[case_col][0]
            raise SchemaError(
                f"conversations: {case_col} {repeated!r} appears more than once; expected "
                "one row per conversation (the conversations table, not its turns)"
            ) from None
    outcome = pl.lit("", dtype=pl.String)
    for sop_id, pairs in gated.items():
        codes = [
            pl.when(expr)
            .then(pl.lit(HOLDS))
            .when(~expr)
            .then(pl.lit(FAILS))
            .otherwise(pl.lit(UNKNOWN))
            for expr in (condition_expr(c, columns) for _, c in pairs)
        ]
        outcome = pl.when(pl.col("sop_id") == sop_id).then(pl.concat_str(codes)).otherwise(outcome)
    return traces.with_columns(_gates=outcome).drop(list(columns.values()))
