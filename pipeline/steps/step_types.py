"""The step types table: one row per step id the event log uses, with its label.

A documented or role step is labelled by its SOP's description and lists the SOP steps
it stands for; a discovered one by its cluster's terms and most typical turn.
"""

from __future__ import annotations

from collections import defaultdict

import polars as pl

from pipeline.steps.decoding import Roles
from pipeline.steps.library import StepLibrary

STEP_TYPES_SCHEMA = pl.Schema(
    {
        "step_id": pl.String,
        "label": pl.String,
        "source": pl.String,
        "sop_id": pl.String,
        "exemplar": pl.String,
        "n_events": pl.Int64,
        "sop_steps": pl.List(pl.String),
    }
)


def step_types_frame(
    events: pl.DataFrame,
    texts: pl.Series,
    library: StepLibrary,
    roles: Roles,
    described: dict[str, dict],
) -> pl.DataFrame:
    """Return one ``step_types`` row per step id used.

    The exemplar is the step's best-matching turn (the most frequent of equally good).
    """
    said = (
        events.with_columns(text=texts)
        .filter(pl.col("text").is_not_null())
        .group_by("step_id", "text")
        .agg(pl.col("confidence").max(), n=pl.len())
        .sort(["confidence", "n", "text"], descending=[True, True, False], nulls_last=True)
        .group_by("step_id", maintain_order=True)
        .agg(exemplar=pl.col("text").first())
    )
    used = (
        events.group_by("step_id")
        .agg(pl.col("source").mode().first(), n_events=pl.len())
        .join(said, on="step_id", how="left")
        .sort("step_id")
    )
    types_of: dict[str, list[int]] = defaultdict(list)
    for t, name in enumerate(roles.emit):
        types_of[name].append(t)
    rows = []
    for step_id, source, n_events, exemplar in used.iter_rows():
        label, sop_id, sop_steps = step_id, None, []
        if source == "sop":
            owned = sorted(types_of[step_id], key=lambda t: library.type_ids[t] != step_id)
            label = library.labels[owned[0]]
            sop_steps = list(dict.fromkeys(s for t in owned for s in library.sop_steps[t]))
            named = {s.split("/", 1)[0] for s in sop_steps}
            sop_id = named.pop() if len(named) == 1 else None
        elif source == "discovered":
            info = described[step_id]
            label = info["label"] if info["terms"] or info["exemplar"] else step_id
            exemplar, sop_id = info["exemplar"], info["sop_id"]
        rows.append((step_id, label, source, sop_id, exemplar, n_events, sop_steps))
    return pl.DataFrame(rows, schema=STEP_TYPES_SCHEMA, orient="row")


def step_names(step_types: pl.DataFrame) -> dict[str, str]:
    """Map each step found in the data (source ``discovered``) to its key phrase.

    Documented steps are named by their SOP id and are not in the map; nor is a step
    whose label is empty or its own id.
    """
    found = step_types.filter(
        (pl.col("source") == "discovered")
        & pl.col("label").is_not_null()
        & (pl.col("label") != pl.col("step_id"))
        & (pl.col("label").str.strip_chars() != "")
    )
    return dict(found.select("step_id", "label").iter_rows())
