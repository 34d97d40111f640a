"""Builders shared by the readiness score tests."""

import json

import polars as pl

from pipeline.config import (
    READINESS_COMPONENTS,
)
from pipeline.readiness.inputs import CONVERSATION_SCHEMA, ReadinessInputs


def only(**weights):
    """Weights: the given components, every other 0."""
    return {c: float(weights.get(c, 0.0)) for c in READINESS_COMPONENTS}


def inputs(conversation_rows, stability=None):
    conversations = pl.DataFrame(conversation_rows, schema=CONVERSATION_SCHEMA)
    ids = sorted(set(conversations["workflow_id"]))
    stability = stability or {}
    workflows = pl.DataFrame(
        {
            "workflow_id": ids,
            "intent_id": ids,
            "intent_label": [None] * len(ids),
            "n_windows": [4 if w in stability else None for w in ids],
            "n_unstable_windows": [
                round(4 * (1 - stability[w])) if w in stability else None for w in ids
            ],  # fmt: skip
            "stability": [stability.get(w) for w in ids],
            "candidate_playbook": [None] * len(ids),
        },
        schema_overrides={
            "intent_label": pl.String,
            "candidate_playbook": pl.String,
            "n_windows": pl.Int64,
            "n_unstable_windows": pl.Int64,
            "stability": pl.Float64,
        },  # fmt: skip
    )
    return ReadinessInputs(conversations=conversations, workflows=workflows)


def components(frame, workflow):
    row = frame.filter(pl.col("workflow_id") == workflow)
    return json.loads(row["components"][0])
