"""Stage 5, steps: agent turns and action events -> an event log of SOP steps.

The unit is an agent turn or an action event: :func:`extract_steps` gives each one
``step_events`` row (case = conversation, activity = step, order = ``seq``, with the
turn's ``turn_idx``) and describes every step id it used in ``step_types``.

Guided mode, where a documented SOP applies:

1. SOPs become step types (:func:`step_library`); one id in several SOPs is one type. A
   step is matched by its example phrasings and its description; a step given only a
   button label while its SOP words other steps (a decision outcome, a tool call) is
   matched through its ``action`` binding alone. A phrasing with slots (``{balance:d}``)
   is also a pattern: a reply that fills it scores 1.0; for embedding, the slot is
   replaced by its name. A step worded only (or mostly) by slots is recognised where a
   turn reads the values of the system result before it (:mod:`pipeline.steps.slot_values`).
2. A turn scores a type by its best cosine to the type's phrasings. The threshold is
   calibrated on the data: Otsu's split of the turns' best scores (template fills left
   out), i.e. the paraphrases of steps against the off-script rest.
3. Greetings and closings: a step as close to the generic greeting or closing phrasings
   as a turn must be to a step plays that role. Role steps are shared by every SOP's
   conversations, and role steps with a phrasing or id in common are one step (a
   library repeats "Thank you and goodbye." under per-SOP ids). With no role step in
   the library, generic ``greeting``/``closing`` types stand in. A generic ``hold``
   ("please wait while I check") can come anywhere: a turn whose best type it is, at
   the threshold, takes it, and decoding goes through it as through ``other``.
4. Each conversation takes the SOP whose own phrasings and bindings explain most of its
   units (ties: higher total score, then the SOP more conversations took). Below
   ``min_explained`` of its units no SOP applies and the conversation is unguided. With
   ``requests`` (the customers' first requests), the request is one more unit of
   evidence: the SOP most of the ``neighbours`` most similar requests took wins when it
   explains at most one unit less. Without them but with an ``intent_id`` column, an
   intent at least ``min_explained`` of whose conversations fit one SOP follows it: its
   conversations take that SOP unless another explains more.
5. Each conversation is decoded by Viterbi: a step scores its similarity minus the
   threshold, ``other`` scores 0 and keeps the context, and a transition the SOP graph
   expects (``next``, ``after``, through steps never said; start, end, roles) earns a
   weight calibrated from the first pass (noise of the wording times the log-odds of
   following the graph; a SOP without ``next`` is a partial order: any order its
   ``after`` lists allow is expected). Context can lift a turn at most that weight below the
   threshold; an action event takes one of the steps bound to it (in its SOP, else in
   any SOP).
6. A recurring off-script wording that stands where a documented step is missing, far
   more often than off-script talk does, is that step (:mod:`pipeline.steps.slots`).
7. The ``other`` residue of each SOP is clustered (:func:`cluster_turns`); recurring
   clusters become discovered types ``d_<sop>_<n>``, labelled by class-based TF-IDF
   terms and their most typical turn. A cluster more than ``edge_role_share`` (half) of
   whose turns are a call's first (last) agent utterance is the greeting (closing) role
   instead: a team's own sign-off that no generic phrasing is near.

Unguided mode (no SOP applies): turns matching a shared role step take it; the rest is
clustered the same way into ``u_<n>`` types (with no SOP at all, the clusters nearest
the generic greeting and closing phrasings take those names). An action event without a
binding keeps its action name as the step (source ``action``).

Nothing here reads files or the database: vectors come from the ``embedder`` the caller
passes (wrap the DuckDB cache in it). Ground-truth labels are never read.

Modules: the units (:mod:`pipeline.steps.units`), the library
(:mod:`pipeline.steps.library`), scores and the threshold (:mod:`pipeline.steps.scores`),
the tagger that learns the threshold and tags (:mod:`pipeline.steps.tagger`), roles, SOP
choice and decoding (:mod:`pipeline.steps.decoding`), wordings in empty slots
(:mod:`pipeline.steps.slots`), replies read from results
(:mod:`pipeline.steps.slot_values`), clusters of turns (:mod:`pipeline.steps.clusters`),
the output tables (:mod:`pipeline.steps.events`, :mod:`pipeline.steps.step_types`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import polars as pl

from pipeline.config import StepsConfig, TurnClusterConfig
from pipeline.embed.models import Embedder
from pipeline.progress import track
from pipeline.sops.model import Sop
from pipeline.steps.clusters import CLUSTERING, TurnClusters, cluster_turns
from pipeline.steps.decoding import ACTION_CODE, Roles, conversation_codes
from pipeline.steps.events import OTHER, STEP_EVENTS_SCHEMA, repeats
from pipeline.steps.library import CLOSING, GREETING, ROLE_PHRASINGS, StepLibrary, step_library
from pipeline.steps.scores import score_phrases, score_types
from pipeline.steps.slot_values import read_result_values
from pipeline.steps.step_types import step_types_frame
from pipeline.steps.tagger import ScoredUnits, StepTagger
from pipeline.steps.units import agent_units, aligned_requests


def extract_steps(
    turns: pl.DataFrame,
    sops: Sequence[Sop],
    *,
    embedder: Embedder,
    min_explained: float = StepsConfig.min_explained,
    discover: bool = StepsConfig.discover,
    speakers: Sequence[str] = StepsConfig.speakers,
    roles: Mapping[str, Sequence[str]] = ROLE_PHRASINGS,
    cluster_config: TurnClusterConfig = CLUSTERING,
    threshold: float | None = StepsConfig.threshold,
    requests: tuple[pl.DataFrame, np.ndarray] | None = None,
    neighbours: int = StepsConfig.neighbours,
    edge_role_share: float = StepsConfig.edge_role_share,
    slot_alpha: float = StepsConfig.slot_alpha,
    slot_min_said: int = StepsConfig.slot_min_said,
    slot_majority: float = StepsConfig.slot_majority,
    results: pl.DataFrame | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn agent turns and action events into the step event log.

    Reads table ``turns`` (joined with ``intent_assignments.intent_id`` for the intent
    prior); produces ``step_events`` and ``step_types``. The settings' defaults are those
    of :class:`~pipeline.config.StepsConfig` (``steps`` in config.yaml).

    Parameters
    ----------
    turns
        ``conversation_id, turn_idx, speaker, event_type, text, action_name, ts``;
        optional ``intent_id``.
    sops
        Documented SOPs; none for fully unguided extraction.
    embedder
        Encodes distinct normalised texts (wrap the DuckDB cache in it).
    min_explained
        A SOP applies to a conversation when it explains at least this share of the
        units that conversation management does not.
    discover
        Cluster the ``other`` residue of guided conversations into discovered types.
    speakers
        Speakers whose utterances are steps.
    roles
        Generic greeting/closing/hold phrasings (a role without phrasings is left out).
    cluster_config
        Reduction and HDBSCAN settings for clustering turns.
    threshold
        The similarity a turn needs to count as a step; None calibrates it on the data
        (:meth:`~pipeline.steps.tagger.StepTagger.fit`), which needs both on-script
        paraphrases and off-script turns among the turns that fill no template: pass a
        value for a few turns only.
    requests
        The customers' opening requests as :func:`~pipeline.intents.requests.request_vectors`
        returns them (``conversation_id`` rows and their unit vectors): a request counts
        as one more explained unit for the SOP that most of the ``neighbours`` most
        similar requests took (:func:`choose_sops`). Without them, the intent prior
        (``intent_id``) settles ties.
    neighbours
        How many similar requests vote (0: requests are not used).
    edge_role_share
        A discovered cluster more than this share of whose turns are a call's first
        (last) agent utterance is the greeting (closing) role.
    slot_alpha, slot_min_said, slot_majority
        How a recurring off-script wording fills a missing step's slot
        (:func:`~pipeline.steps.slots.fill_slots`' ``alpha``, ``min_said``, ``majority``).
    results
        Action events with arguments (``conversation_id, turn_idx, args``, JSON text):
        a turn made of the values of the latest one before it fills a step worded only
        by slots (:func:`~pipeline.steps.slot_values.read_result_values`). None: none.

    Returns
    -------
    step_events : polars.DataFrame
        :data:`STEP_EVENTS_SCHEMA`: one row per agent turn and action event, sorted by
        ``conversation_id, seq``. ``source`` is ``sop`` (a documented or role step),
        ``discovered``, ``action`` (an action bound to no step: its name is the step) or
        ``other``; ``confidence`` is the similarity to the step (1.0 for a template fill
        or a bound action, at least 0 for a wording that fills an empty slot; null for
        other); ``sop_id`` is null when unguided;
        ``is_repeat`` marks the same step as the conversation's previous event.
    step_types : polars.DataFrame
        :data:`STEP_TYPES_SCHEMA`: one row per step id used, with the SOP when only one
        SOP has it and ``sop_steps``, the ``sop_id/step_id`` it stands for.

    Raises
    ------
    SchemaError
        ``turns`` lacks a required column.
    ValueError
        ``min_explained``, ``threshold`` or ``edge_role_share`` is outside [0, 1]
        (the first two checked by :meth:`StepTagger.fit`, naming the setting).
    """
    if not 0.0 <= edge_role_share <= 1.0:
        raise ValueError(
            f"steps: edge_role_share: expected a number in [0, 1], found {edge_role_share}"
        )
    units = agent_units(turns, speakers=speakers)
    library = step_library(sops, roles=roles)
    texts = units["text"].drop_nulls().unique(maintain_order=True).to_list()
    index_of, matrix = _encode(texts + list(library.proto_texts), embedder)
    vectors = matrix[np.array([index_of[t] for t in texts], dtype=np.int64)]
    proto_vectors = matrix[np.array([index_of[t] for t in library.proto_texts], dtype=np.int64)]
    phrase_scores = score_phrases(texts, vectors, proto_vectors, library)
    row_of = {t: i for i, t in enumerate(texts)}
    rows = np.array([row_of.get(t, -1) for t in units["text"].fill_null("")], dtype=np.int64)
    # A turn that reads its result's values gets its own row: a copy of its text's, filled.
    rows, origin, phrase_scores = read_result_values(units, rows, phrase_scores, library, results)
    vectors = vectors[origin]
    scores = score_types(phrase_scores, library)
    scored = ScoredUnits(units, rows, scores, phrase_scores, proto_vectors, library,
                         requests=aligned_requests(units, requests))  # fmt: skip
    with track(f"steps: tagging {units.height:,} turns"):
        tagger = StepTagger(threshold=threshold, min_explained=min_explained,
                            neighbours=neighbours, slot_alpha=slot_alpha,
                            slot_min_said=slot_min_said,
                            slot_majority=slot_majority).fit(scored)  # fmt: skip
        tags = tagger.tag(scored)  # fit and tag on the same units
    threshold, roles_found = tagger.threshold_, tagger.roles_
    state, confidence, chosen = tags.state, tags.confidence, tags.chosen
    sop_of = np.array([chosen[c] for c in conversation_codes(units)], dtype=object)
    step_id = np.full(units.height, OTHER, dtype=object)
    source = np.full(units.height, OTHER, dtype=object)
    known = state >= 0
    step_id[known], source[known] = [roles_found.emit[t] for t in state[known]], "sop"
    unbound = state == ACTION_CODE
    step_id[unbound], source[unbound] = units["action_name"].to_numpy()[unbound], "action"
    unguided = np.array([s is None for s in sop_of], dtype=bool) & (rows >= 0)
    if library.sop_ids and roles_found.shared.size:  # documented conversation management
        shared = roles_found.shared
        for i in np.flatnonzero(unguided):
            k = int(np.argmax(scores[rows[i], shared]))
            if scores[rows[i], shared[k]] >= threshold:
                step_id[i], source[i] = roles_found.emit[shared[k]], "sop"
                confidence[i] = scores[rows[i], shared[k]]
    pending = (step_id == OTHER) & (rows >= 0)
    groups = [(f"d_{s}_", s, pending & (sop_of == s)) for s in library.sop_ids if discover]
    groups.append(("u_", None, pending & unguided))
    described: dict[str, dict] = {}
    at_ends = _said_at_ends(units, rows >= 0, library, roles_found)
    for prefix, sop_id, mask in groups:
        members = np.flatnonzero(mask)
        found = _cluster_units(units, members, vectors[rows[members]], cluster_config)
        names = [f"{prefix}{c}" for c in range(len(found.centroids))]
        if not library.sop_ids:  # no documented management steps to read roles by
            names, at_ends = _role_names(names, found, library, proto_vectors), []
        for c, name in enumerate(names):
            in_c = members[found.labels == c]
            confidence[in_c] = vectors[rows[in_c]] @ found.centroids[c]
            role = next((r for r, at in at_ends if at[in_c].mean() > edge_role_share), None)
            if role is not None:  # mostly said where calls open or close: management
                step_id[in_c], source[in_c] = role, "sop"
                continue
            step_id[in_c], source[in_c] = name, "discovered"
            described[name] = {**found.descriptions[c], "sop_id": sop_id}
    events = units.select("conversation_id", "seq", "turn_idx", "ts").with_columns(
        step_id=pl.Series(step_id.tolist(), dtype=pl.String),
        source=pl.Series(source.tolist(), dtype=pl.String),
        confidence=pl.Series(confidence, dtype=pl.Float64).fill_nan(None),
        sop_id=pl.Series(sop_of.tolist(), dtype=pl.String),
        is_repeat=pl.Series(repeats(units["conversation_id"], step_id), dtype=pl.Boolean),
    )
    events = events.select(list(STEP_EVENTS_SCHEMA)).cast(STEP_EVENTS_SCHEMA)
    return events, step_types_frame(events, units["text"], library, roles_found, described)


def _said_at_ends(
    units: pl.DataFrame, said: np.ndarray, library: StepLibrary, roles: Roles
) -> list[tuple[str, np.ndarray]]:
    """Per role said at a call's edge, the id it carries and where units are at that edge.

    Greeting: the conversation's first agent utterance; closing: its last. The id is the
    one the role's generic type carries.
    """
    code = conversation_codes(units)
    at = np.flatnonzero(said)
    first, last = np.zeros(code.size, dtype=bool), np.zeros(code.size, dtype=bool)
    if at.size:
        new = np.r_[True, code[at][1:] != code[at][:-1]]
        first[at[new]] = True
        last[at[np.r_[new[1:], True]]] = True
    generic = {library.labels[t]: t for t in np.flatnonzero(library.generic)}
    edges = ((GREETING, first), (CLOSING, last))
    return [(roles.emit[generic[r]], edge) for r, edge in edges if r in generic]


def _cluster_units(
    units: pl.DataFrame, members: np.ndarray, vectors: np.ndarray, config: TurnClusterConfig
) -> TurnClusters:
    """Cluster the text units ``members`` (rows of ``units``) with their ``vectors``."""
    chosen = units[members]
    ids = chosen["conversation_id"] + "#" + chosen["turn_idx"].cast(pl.String)
    with track(f"steps: clustering {len(members):,} off-script turns"):
        return cluster_turns(
            ids.to_list(), chosen["text"].to_list(), vectors, chosen["conversation_id"].to_list(),
            config=config,
        )  # fmt: skip


def _encode(texts: Sequence[str], embedder: Embedder) -> tuple[dict[str, int], np.ndarray]:
    """Encode each distinct text once; return text -> row and the matrix."""
    distinct = list(dict.fromkeys(texts))
    if not distinct:
        return {}, np.empty((0, embedder.dim), dtype=np.float32)
    matrix = np.asarray(embedder.encode(distinct), dtype=np.float32)
    return {t: i for i, t in enumerate(distinct)}, matrix


def _role_names(
    names: list[str], found: TurnClusters, library: StepLibrary, proto_vectors: np.ndarray
) -> list[str]:
    """Give a role's name to the cluster nearest its generic phrasings, if inside it.

    Used with no SOP at all: there is no calibrated threshold to match turns with.
    """
    names = list(names)
    for t in np.flatnonzero(library.generic):
        phrasings = proto_vectors[library.proto_type == t]
        if not len(found.centroids) or not len(phrasings):
            continue
        sims = (phrasings @ found.centroids.T).max(axis=0)
        c = int(np.argmax(sims))
        if sims[c] >= found.radius[c] and names[c].startswith("u_"):
            names[c] = library.type_ids[t]
    return names
