"""The units of step extraction: agent utterances and action events, in call order.

:func:`agent_units` selects them from table ``turns``; :func:`aligned_requests` lines
the customers' opening requests up with the units' conversations.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from pipeline.config import StepsConfig
from pipeline.embed.vectors import normalise_text
from pipeline.errors import SchemaError


def agent_units(
    turns: pl.DataFrame, *, speakers: Sequence[str] = StepsConfig.speakers
) -> pl.DataFrame:
    """Select the units of step extraction: agent utterances and every action event.

    Parameters
    ----------
    turns
        ``conversation_id, turn_idx, speaker, event_type, text, action_name, ts`` (any
        order; ``intent_id`` kept when present).
    speakers
        The speakers whose utterances are steps.

    Returns
    -------
    polars.DataFrame
        The unit rows sorted by conversation and turn, with ``seq`` (0, 1, ... per
        conversation), ``is_action`` and ``text`` normalised (null for action events
        and empty turns).

    Raises
    ------
    SchemaError
        A required column is missing.
    """
    needed = ["conversation_id", "turn_idx", "speaker", "event_type", "text", "action_name", "ts"]
    missing = [c for c in needed if c not in turns.columns]
    if missing:
        raise SchemaError(
            f"steps: the turns frame lacks column(s) {', '.join(missing)}; expected "
            f"{', '.join(needed)} (table turns), plus intent_id optionally"
        )
    keep = needed + (["intent_id"] if "intent_id" in turns.columns else [])
    units = (
        turns.lazy()
        .select(keep)
        .filter(
            (pl.col("event_type") == "action")
            | (pl.col("speaker").is_in(list(speakers)) & (pl.col("event_type") == "utterance"))
        )
        .sort("conversation_id", "turn_idx")
        .with_columns(
            seq=pl.int_range(pl.len()).over("conversation_id").cast(pl.Int32),
            turn_idx=pl.col("turn_idx").cast(pl.Int32),
            is_action=pl.col("event_type") == "action",
        )
        .collect()
    )
    text = normalise_text(units["text"]).replace("", None)
    return units.with_columns(text=pl.when(pl.col("is_action")).then(None).otherwise(text))


def aligned_requests(
    units: pl.DataFrame, requests: tuple[pl.DataFrame, np.ndarray] | None
) -> np.ndarray | None:
    """One request vector per conversation of ``units``, in order (zeros where none)."""
    if requests is None:
        return None
    frame, vectors = requests
    conversations = units["conversation_id"].unique(maintain_order=True)
    row_of = dict(zip(frame["conversation_id"].to_list(), range(frame.height), strict=True))
    rows = np.array([row_of.get(c, -1) for c in conversations.to_list()], dtype=np.int64)
    aligned = np.zeros((rows.size, vectors.shape[1] if vectors.ndim == 2 else 0), np.float32)
    aligned[rows >= 0] = vectors[rows[rows >= 0]]
    return aligned
