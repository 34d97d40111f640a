"""The step event log: its table contract, the sources of a step, and repeats.

One ``step_events`` row per agent turn and action event (case = conversation,
activity = step, order = ``seq``); ``source`` says where the step came from
(:data:`SOURCES`), :data:`OTHER` is the residue no step explains.
"""

from __future__ import annotations

import numpy as np
import polars as pl

OTHER = "other"
SOURCES = ("sop", "discovered", "action", "other")


STEP_EVENTS_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "seq": pl.Int32,
        "turn_idx": pl.Int32,
        "step_id": pl.String,
        "source": pl.String,
        "confidence": pl.Float64,
        "ts": pl.Datetime("us", "UTC"),
        "sop_id": pl.String,
        "is_repeat": pl.Boolean,
    }
)


def repeats(conversations: pl.Series, step_id: np.ndarray) -> np.ndarray:
    """Whether each event repeats the step of its conversation's previous event."""
    same_case = (conversations == conversations.shift(1)).fill_null(False).to_numpy()
    same_step = np.r_[False, step_id[1:] == step_id[:-1]]
    return same_case & same_step
