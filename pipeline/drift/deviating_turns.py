"""Deviating turns: the agent turns where a conversation departs from its SOP.

:func:`find_deviating_turns` collects the utterances whose step is undocumented for
the conversation's SOP and tags those standing where a missing mandatory step should
have been; :func:`pipeline.drift.exceptions.find_exception_clusters` clusters them.
:func:`match_documented_steps` says which of them are a documented step after all (the
steps stage gave the turn another id, or missed a template fill), by the steps stage's
own rule and threshold (:class:`StepMatch`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.config import StepsConfig
from pipeline.embed.models import Embedder
from pipeline.embed.vectors import normalise_text
from pipeline.frames import require_columns
from pipeline.sops.model import Sop
from pipeline.steps.decoding import Roles, find_roles
from pipeline.steps.events import OTHER
from pipeline.steps.library import ROLE_PHRASINGS, StepLibrary, step_library
from pipeline.steps.scores import EXACT, calibrate_threshold, score_phrases, score_types

DEVIATING_SCHEMA = pl.Schema(
    {
        "conversation_id": pl.String,
        "sop_id": pl.String,
        "turn_idx": pl.Int32,
        "step_id": pl.String,
        "text": pl.String,
        "missing_step": pl.String,
        "absent_steps": pl.List(pl.String),
    }
)


@dataclass(frozen=True)
class StepMatch:
    """Which documented step each deviating turn is after all, by the steps stage's rule.

    Attributes
    ----------
    vectors
        ``(n_turns, dim)`` unit rows of the deviating turns, in their order.
    step
        Per turn: the documented step it is (a template fill scores 1.0, a paraphrase its
        cosine), at least ``threshold``: a step of its SOP or a conversation-management
        step of any SOP; None where it is none.
    role
        Per turn: ``greeting``, ``closing`` or ``hold`` when ``step`` plays that role.
    own
        Per turn: whether ``step`` is a step of the turn's own SOP.
    threshold
        The similarity a turn needs to count as a step.
    """

    vectors: np.ndarray
    step: list[str | None]
    role: list[str | None]
    own: np.ndarray
    threshold: float


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
        at (the first in document order), or null; ``absent_steps`` every documented step
        absent from the conversation (mandatory or not) it stands at, in document order.

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
    mandatory = (
        conf.select("conversation_id", "sop_id", "_ver", step_id="missing")
        .explode("step_id")
        .drop_nulls("step_id")
        .with_columns(is_missing=pl.lit(True))
    )
    said_steps = events.filter(pl.col("pos").is_not_null()).select(
        "conversation_id", "step_id"
    )  # the documented steps each conversation has
    absent = (
        conf.select("conversation_id", "sop_id", "_ver")
        .join(docs, on=["sop_id", "_ver"])
        .join(said_steps.unique(), on=["conversation_id", "step_id"], how="anti")
        .join(mandatory, on=["conversation_id", "sop_id", "_ver", "step_id"], how="left")
        .select(
            "conversation_id",
            "sop_id",
            missing_step="step_id",
            m_pos="pos",
            is_missing=pl.col("is_missing").fill_null(False),
        )  # fmt: skip
    )
    keys = ["conversation_id", "sop_id", "missing_step"]
    gaps = (
        absent.join(present, on=["conversation_id", "sop_id"], how="left")
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
        .select(*keys, "m_pos", "is_missing", "lo", "hi")
    )
    at = (
        off.join(gaps, on=["conversation_id", "sop_id"], how="left")
        .filter((pl.col("seq") > pl.col("lo")) & (pl.col("seq") < pl.col("hi")))
        .group_by("conversation_id", "sop_id", "seq")
        .agg(
            missing_step=pl.col("missing_step")
            .filter("is_missing")
            .sort_by(pl.col("m_pos").filter("is_missing"))
            .first(),
            absent_steps=pl.col("missing_step").sort_by("m_pos"),
        )
    )
    said = turns.filter(
        pl.col("speaker").is_in(list(speakers)) & (pl.col("event_type") == "utterance")
    ).select("conversation_id", pl.col("turn_idx").cast(pl.Int64), "text")
    said = said.with_columns(text=normalise_text(said["text"])).filter(pl.col("text") != "")
    return (
        off.join(said, on=["conversation_id", "turn_idx"])
        .join(at, on=["conversation_id", "sop_id", "seq"], how="left")
        .with_columns(pl.col("absent_steps").fill_null([]))
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


def match_documented_steps(
    off: pl.DataFrame,
    turns: pl.DataFrame,
    sops: Sequence[Sop],
    *,
    embedder: Embedder,
    threshold: float | None = None,
    roles: Mapping[str, Sequence[str]] = ROLE_PHRASINGS,
    speakers: Sequence[str] = StepsConfig.speakers,
) -> StepMatch:
    """Say which deviating turns are a documented step after all, as the steps stage would.

    The SOPs become the steps stage's library (:func:`~pipeline.steps.library.step_library`,
    with the generic ``roles`` phrasings); a turn scores each step by its best cosine to
    the step's phrasings, 1.0 when it fills a template
    (:func:`~pipeline.steps.scores.score_phrases`). It is the step it scores best among
    those of its SOP and the steps playing greeting, closing or hold in any SOP
    (:func:`~pipeline.steps.decoding.find_roles`), when that score is at least
    ``threshold``: as given, else Otsu's split of all agent turns' best scores
    (:func:`~pipeline.steps.scores.calibrate_threshold`), the steps stage's calibration
    on the same turns; with no documented phrasing to calibrate on, only a template fill
    (or the phrasing itself) counts. The deviating texts, every agent utterance and the phrasings go
    to ``embedder`` in one call; memory O(agent texts x phrasings).

    Parameters
    ----------
    off
        :func:`find_deviating_turns`' frame.
    turns, sops, speakers
        As for :func:`find_deviating_turns`.
    embedder
        Encodes the texts (a read-only lookup over the cache in a run).
    threshold
        The similarity to count as a step (``steps.threshold``); None calibrates it.
    roles
        Generic phrasings per conversation-management role (``steps.*_phrasings``).
    """
    library = step_library(sops, roles=roles)
    said = turns.filter(
        pl.col("speaker").is_in(list(speakers)) & (pl.col("event_type") == "utterance")
    )
    agent = normalise_text(said["text"]).drop_nulls()
    agent = agent.filter(agent != "")
    texts = list(dict.fromkeys([*off["text"], *agent, *library.proto_texts]))
    matrix = np.asarray(embedder.encode(texts), dtype=np.float32)
    row_of = {t: i for i, t in enumerate(texts)}
    protos = matrix[[row_of[t] for t in library.proto_texts]] if library.proto_texts else None
    proto_vectors = protos if protos is not None else np.zeros((0, matrix.shape[1]), np.float32)
    spoken = list(dict.fromkeys([*off["text"], *agent]))
    rows = np.array([row_of[t] for t in spoken], dtype=np.int64)
    scores = score_types(score_phrases(spoken, matrix[rows], proto_vectors, library), library)
    index = {t: i for i, t in enumerate(spoken)}
    worded = np.isin(np.flatnonzero(~np.array(library.generic, dtype=bool)), library.proto_type)
    if threshold is None and not worded.any():
        threshold = EXACT  # no documented wording to calibrate on: template fills only
    elif threshold is None:
        threshold = calibrate_threshold(scores[[index[t] for t in agent]], library)
    found = find_roles(library, proto_vectors, threshold)
    step, role, own = _best_steps(off, scores[[index[t] for t in off["text"]]], library,
                                  found, threshold)  # fmt: skip
    vectors = matrix[[row_of[t] for t in off["text"]]] if off.height else matrix[:0]
    return StepMatch(vectors, step, role, own, float(threshold))


def _best_steps(
    off: pl.DataFrame, scores: np.ndarray, library: StepLibrary, roles: Roles, threshold: float
) -> tuple[list[str | None], list[str | None], np.ndarray]:
    """Per turn: its best allowed step at the threshold, that step's role, and if own."""
    best = np.full(off.height, -1, dtype=np.int64)
    own = np.zeros(off.height, dtype=bool)
    sop_of = off["sop_id"].to_numpy()
    for sop_id in np.unique(sop_of):
        rows = np.flatnonzero(sop_of == sop_id)
        mine = library.members.get(str(sop_id), np.zeros(0, np.int64))
        allowed = np.concatenate([mine, np.setdiff1d(roles.shared, mine)]).astype(np.int64)
        if not allowed.size:
            continue  # below: ties go to the SOP's own step (listed first)
        top = allowed[np.argmax(scores[np.ix_(rows, allowed)], axis=1)]
        hit = scores[rows, top] >= threshold
        best[rows[hit]] = top[hit]
        own[rows[hit]] = np.isin(top[hit], mine)
    step = [library.type_ids[t] if t >= 0 else None for t in best.tolist()]
    return step, [roles.role.get(t) if t >= 0 else None for t in best.tolist()], own


def documented_step(
    match: StepMatch, rows: np.ndarray, absent: Sequence[Sequence[str]]
) -> dict | None:
    """Return the documented step a group of deviating turns is, when most are one; else None.

    A majority of the turns (``rows`` of ``match``) must be the same step of their SOP, or
    steps of one conversation-management role (greeting, closing, hold) of any SOP
    (:func:`match_documented_steps`: a template filled in, or a paraphrase at the steps
    stage's threshold); ``step`` is the most common of them. ``at_its_place`` is the share
    of those turns standing where that step, absent from their conversation, belongs
    (``absent``: each deviating turn's ``absent_steps``; evidence reported, not required:
    a SOP's document order is not always the order of its calls).
    """
    hits = [i for i in rows.tolist() if match.step[i] is not None]
    keys = [match.role[i] or match.step[i] for i in hits]  # conversation management: one role
    if not keys:
        return None
    key = max(set(keys), key=lambda k: (keys.count(k), k))
    at = [i for i, k in zip(hits, keys, strict=True) if k == key]
    if 2 * len(at) <= rows.size:
        return None
    named = [match.step[i] for i in at]
    top = max(set(named), key=lambda s: (named.count(s), s))
    first = at[named.index(top)]
    return {
        "step": top, "role": match.role[first], "of_sop": bool(match.own[first]),
        "share_of_turns": round(len(at) / rows.size, 4),
        "at_its_place": round(float(np.mean([top in absent[i] for i in at])), 4),
        "threshold": round(match.threshold, 4),
    }  # fmt: skip
