"""Deviating turns: the agent turns where a conversation departs from its SOP.

:func:`find_deviating_turns` collects the utterances whose step is undocumented for
the conversation's SOP and tags those standing where a missing mandatory step should
have been; :func:`pipeline.drift.exceptions.find_exception_clusters` clusters them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from pipeline.config import StepsConfig
from pipeline.embed.vectors import normalise_text
from pipeline.frames import require_columns
from pipeline.sops.model import Sop
from pipeline.steps.events import OTHER

DEVIATING_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "sop_id": pl.String,
        "turn_idx": pl.Int32,
        "step_id": pl.String,
        "text": pl.String,
        "missing_step": pl.String,
    }
)


def find_deviating_turns(
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    turns: pl.DataFrame,
    sops: Sequence[Sop],
    *,
    not_steps: Sequence[str] = (OTHER,),
    speakers: Sequence[str] = StepsConfig.speakers,
) -> pl.DataFrame:
    """Return the agent turns where a conversation departs from its SOP.

    Reads ``conformance`` (the latest version per conversation and SOP), ``step_events``
    and ``turns``. A turn deviates when its step is undocumented for the conversation's
    SOP: not one of the SOP's steps and not a generic conversation-management type
    (``not_steps`` other than ``other``; ``other``, the off-script talk, counts). Such a
    turn lying where a missing mandatory step should have been, after the last present
    SOP step before it in document order and before the next present one after it, is
    tagged with that step. (Only undocumented steps can lie there, so the turns "at a
    missing step" are a subset of the undocumented ones.) Conversations whose SOP is not
    in ``sops`` are left out; the SOP version checked is used where ``sops`` holds it,
    else the latest.

    Returns
    -------
    polars.DataFrame
        :data:`DEVIATING_SCHEMA`, one row per deviating utterance with text (normalised),
        sorted by conversation and turn; ``missing_step`` is the missing step it stands
        at (the first in document order), or null.

    Raises
    ------
    SchemaError
        A required column is missing.
    """
    for frame, columns, table in (
        (conformance, ("conversation_id", "sop_id", "missing"), "conformance"),
        (step_events, ("conversation_id", "seq", "turn_idx", "step_id"), "step_events"),
        (turns, ("conversation_id", "turn_idx", "speaker", "event_type", "text"), "turns"),
    ):
        require_columns(frame, columns, table=table, what="exception clusters")
    docs = pl.DataFrame(
        [(s.sop_id, s.version, step.id, pos) for s in sops for pos, step in enumerate(s.steps)],
        schema={"sop_id": pl.String, "_ver": pl.Int64, "step_id": pl.String, "pos": pl.Int64},
        orient="row",
    )
    conf = _latest(conformance, docs)
    events = (
        step_events.select("conversation_id", "seq", pl.col("turn_idx").cast(pl.Int64), "step_id")
        .join(conf.select("conversation_id", "sop_id", "_ver"), on="conversation_id")
        .join(docs, on=["sop_id", "_ver", "step_id"], how="left")
    )
    generic = sorted(set(not_steps) - {OTHER})
    off = events.filter(
        pl.col("pos").is_null()
        & ~pl.col("step_id").is_in(generic)
        & pl.col("turn_idx").is_not_null()
    )
    present = events.filter(pl.col("pos").is_not_null()).select(
        "conversation_id", "sop_id", "seq", "pos"
    )
    missing = (
        conf.select("conversation_id", "sop_id", "_ver", step_id="missing")
        .explode("step_id")
        .join(docs, on=["sop_id", "_ver", "step_id"])
        .select("conversation_id", "sop_id", missing_step="step_id", m_pos="pos")
    )
    keys = ["conversation_id", "sop_id", "missing_step"]
    gaps = (
        missing.join(present, on=["conversation_id", "sop_id"], how="left")
        .with_columns(lo=pl.when(pl.col("pos") < pl.col("m_pos")).then("seq"))
        .with_columns(lo=pl.col("lo").max().over(keys).fill_null(-1))
        .with_columns(
            hi=pl.when((pl.col("pos") > pl.col("m_pos")) & (pl.col("seq") > pl.col("lo")))
            .then("seq")
            .min()
            .over(keys)
            .fill_null(np.iinfo(np.int32).max)
        )
        .unique(keys)
        .select(*keys, "m_pos", "lo", "hi")
    )
    at = (
        off.join(gaps, on=["conversation_id", "sop_id"], how="left")
        .filter((pl.col("seq") > pl.col("lo")) & (pl.col("seq") < pl.col("hi")))
        .group_by("conversation_id", "sop_id", "seq")
        .agg(missing_step=pl.col("missing_step").sort_by("m_pos").first())
    )
    said = turns.filter(
        pl.col("speaker").is_in(list(speakers)) & (pl.col("event_type") == "utterance")
    ).select("conversation_id", pl.col("turn_idx").cast(pl.Int64), "text")
    said = said.with_columns(text=normalise_text(said["text"])).filter(pl.col("text") != "")
    return (
        off.join(said, on=["conversation_id", "turn_idx"])
        .join(at, on=["conversation_id", "sop_id", "seq"], how="left")
        .sort("conversation_id", "turn_idx", "sop_id")
        .select(list(DEVIATING_SCHEMA))
        .cast(DEVIATING_SCHEMA)
    )


def _latest(conformance: pl.DataFrame, docs: pl.DataFrame) -> pl.DataFrame:
    """One conformance row per (conversation, SOP): its latest version, resolved in ``docs``.

    ``_ver`` is the SOP version to compare with: the one checked when ``docs`` has it,
    else the latest in ``docs``; SOPs absent from ``docs`` are dropped.
    """
    version = (
        pl.col("version").cast(pl.Int64)
        if "version" in conformance.columns
        else pl.lit(None, pl.Int64)
    )
    versions = docs.select("sop_id", "_ver").unique()
    newest = versions.group_by("sop_id").agg(_newest=pl.col("_ver").max())
    return (
        conformance.select("conversation_id", "sop_id", "missing", _checked=version)
        .sort("conversation_id", "sop_id", "_checked", nulls_last=False)
        .unique(["conversation_id", "sop_id"], keep="last", maintain_order=True)
        .join(newest, on="sop_id")
        .join(
            versions.with_columns(_known=pl.col("_ver")),
            left_on=["sop_id", "_checked"],
            right_on=["sop_id", "_ver"],
            how="left",
        )  # fmt: skip
        .with_columns(_ver=pl.coalesce("_known", "_newest"))
        .drop("_checked", "_newest", "_known")
    )
