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
   replaced by its name.
2. A turn scores a type by its best cosine to the type's phrasings. The threshold is
   calibrated on the data: Otsu's split of the turns' best scores (template fills left
   out), i.e. the paraphrases of steps against the off-script rest.
3. Greetings and closings: a step as close to the generic greeting or closing phrasings
   as a turn must be to a step plays that role. Role steps are shared by every SOP's
   conversations, and role steps with a phrasing or id in common are one step (a
   library repeats "Thank you and goodbye." under per-SOP ids). With no role step in
   the library, generic ``greeting``/``closing`` types stand in.
4. Each conversation takes the SOP whose own phrasings and bindings explain most of its
   units (ties: higher total score, then the SOP more conversations took). Below
   ``min_explained`` of its units no SOP applies and the conversation is unguided. With
   an ``intent_id`` column, an intent at least ``min_explained`` of whose conversations
   fit one SOP follows it: its conversations take that SOP unless another explains more.
5. Each conversation is decoded by Viterbi: a step scores its similarity minus the
   threshold, ``other`` scores 0 and keeps the context, and a transition the SOP graph
   expects (``next``, ``after``, through steps never said; start, end, roles) earns a
   weight calibrated from the first pass (noise of the wording times the log-odds of
   following the graph). Context can lift a turn at most that weight below the
   threshold; an action event takes one of the steps bound to it (in its SOP, else in
   any SOP).
6. The ``other`` residue of each SOP is clustered (:func:`cluster_turns`); recurring
   clusters become discovered types ``d_<sop>_<n>``, labelled by class-based TF-IDF
   terms and their most typical turn.

Unguided mode (no SOP applies): turns matching a shared role step take it; the rest is
clustered the same way into ``u_<n>`` types (with no SOP at all, the clusters nearest
the generic greeting and closing phrasings take those names). An action event without a
binding keeps its action name as the step (source ``action``).

Nothing here reads files or the database: vectors come from the ``embedder`` the caller
passes (wrap the DuckDB cache in it). Ground-truth labels are never read.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.config import IntentConfig
from pipeline.embed import Embedder, normalise_text
from pipeline.errors import ModelError, SchemaError
from pipeline.intents import describe_intents, fit_intents
from pipeline.sop import Sop

OTHER = "other"
GREETING, CLOSING = "greeting", "closing"
SOURCES = ("sop", "discovered", "action", "other")

#: Generic phrasings of the conversation-management steps (no data set's wording).
ROLE_PHRASINGS: dict[str, tuple[str, ...]] = {
    GREETING: (
        "Hello, how can I help you?",
        "Hi, thank you for contacting us.",
        "Good morning, how may I assist you today?",
    ),
    CLOSING: (
        "Is there anything else I can help you with?",
        "Thank you for contacting us, goodbye.",
        "Have a nice day, bye!",
    ),
}

#: Clustering settings: PCA is ~5x faster than UMAP on turns and keeps templated
#: wording apart at least as well.
CLUSTERING = IntentConfig(reducer="pca")

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

_SLOT = re.compile(r"\{(\w+)(?::(\w*))?\}")
_NUMBER = r"(?:[-+]?\d[\d,.]*|<[A-Z_]+>)"  # a number, or a redaction placeholder
_EXACT = 1.0 - 1e-6
_TIE = 1e-6  # the context weight when the data give none: it only breaks exact ties
_MIN_CLUSTER = 20  # fewer turns than this cannot hold two recurring steps
_SILHOUETTE_SAMPLE = 3000  # distinct turns scored per candidate cut: O(sample^2)
OTHER_CODE, ACTION_CODE = -1, -2


# ---- the library -----------------------------------------------------------------------
@dataclass(frozen=True)
class StepLibrary:
    """The step types of a SOP library, ready to score turns against.

    Attributes
    ----------
    type_ids, labels, sop_steps
        Per type: its id, a readable label, the ``sop_id/step_id`` it stands for.
    generic
        Per type: whether it is a built-in role type (greeting, closing).
    proto_type, proto_texts, proto_patterns, proto_anchors, proto_sops
        Per phrasing: its type, its text with slots named, its template pattern, the
        pattern's longest literal part (lowercase: a cheap test before the pattern) and
        the SOPs that word the step so.
    members
        SOP id -> indices of the types of its steps.
    bindings
        SOP id -> action name -> indices of the types bound to it.
    expected
        SOP id -> type index -> indices of the types the SOP expects next.
    starts
        SOP id -> the type of its first observable step (said or bound), if any.
    """

    type_ids: tuple[str, ...]
    labels: tuple[str, ...]
    sop_steps: tuple[tuple[str, ...], ...]
    generic: tuple[bool, ...]
    proto_type: np.ndarray
    proto_texts: tuple[str, ...]
    proto_patterns: tuple[re.Pattern[str] | None, ...]
    proto_anchors: tuple[str, ...]
    proto_sops: tuple[frozenset[str], ...]
    members: dict[str, np.ndarray]
    bindings: dict[str, dict[str, tuple[int, ...]]]
    expected: dict[str, dict[int, frozenset[int]]]
    starts: dict[str, int]

    @property
    def sop_ids(self) -> tuple[str, ...]:
        """SOP ids in library order."""
        return tuple(self.members)


def template_pattern(text: str) -> re.Pattern[str] | None:
    """Return a pattern matching ``text`` with its ``{slot}``s filled, or None.

    ``{name:d}`` matches a number (or a redaction placeholder such as ``<PHONE>``), any
    other slot one or more characters. Case and runs of whitespace are ignored. A text
    without slots, or of slots only, gives None.
    """
    text = " ".join(text.split())
    if not _SLOT.search(text) or not re.search(r"\w", _SLOT.sub("", text)):
        return None  # no slot, or nothing but slots: no pattern to recognise
    parts, last = [], 0
    for match in _SLOT.finditer(text):
        parts.append(_literal(text[last : match.start()]))
        parts.append(_NUMBER if match.group(2) == "d" else ".+?")
        last = match.end()
    parts.append(_literal(text[last:]))
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)


def _literal(text: str) -> str:
    return r"\s+".join(re.escape(word) for word in text.split(" ")) if text else ""


def slots_named(text: str) -> str:
    """Return ``text`` with each ``{slot:x}`` replaced by the slot's name in words."""
    return _SLOT.sub(lambda m: m.group(1).replace("_", " "), text)


def step_library(
    sops: Sequence[Sop], *, roles: Mapping[str, Sequence[str]] = ROLE_PHRASINGS
) -> StepLibrary:
    """Turn documented SOPs into step types with their phrasings, bindings and order.

    Parameters
    ----------
    sops
        The documented SOPs (of a SOP with several versions, pass the one in force).
    roles
        Generic phrasings per conversation-management role; each becomes a generic
        type, used only where no SOP step plays the role.

    Returns
    -------
    StepLibrary
        One type per step id (in SOP order), then one generic type per role.
    """
    spoken: dict[tuple[str, str], tuple[str, ...]] = {}
    groups: dict[str, list[tuple[str, str]]] = defaultdict(list)
    described: dict[str, str] = {}
    for sop in sops:
        worded = any(step.examples for step in sop.steps)
        for step in sop.steps:
            phrases = list(step.examples)
            if step.description and (step.examples or not (worded or step.action)):
                phrases.append(step.description)
            phrases = list(dict.fromkeys(" ".join(p.split()) for p in phrases if p.strip()))
            spoken[(sop.sop_id, step.id)] = tuple(phrases)
            groups[step.id].append((sop.sop_id, step.id))
            described.setdefault(step.id, " ".join(step.description.split()))
    type_ids: list[str] = []
    labels: list[str] = []
    sop_steps: list[tuple[str, ...]] = []
    phrasings: list[tuple[int, str, frozenset[str]]] = []
    for name, steps in groups.items():
        phrases = list(dict.fromkeys(p for key in steps for p in spoken[key]))
        labels.append(described[name] or (phrases[0] if phrases else name.replace("_", " ")))
        sop_steps.append(tuple(f"{sop_id}/{step_id}" for sop_id, step_id in steps))
        phrasings.extend(
            (len(type_ids), p, frozenset(s for s, k in steps if p in spoken[(s, k)]))
            for p in phrases
        )
        type_ids.append(name)
    n_documented = len(type_ids)
    for role, phrases in roles.items():
        phrasings.extend((len(type_ids), p, frozenset()) for p in phrases)
        type_ids.append(role if role not in groups else f"generic_{role}")
        labels.append(role)
        sop_steps.append(())
    type_of = {name: i for i, name in enumerate(type_ids[:n_documented])}
    members, bindings, expected, starts = {}, {}, {}, {}
    for sop in sops:
        members[sop.sop_id] = np.array(sorted({type_of[s.id] for s in sop.steps}), np.int64)
        bound: dict[str, list[int]] = defaultdict(list)
        for step in sop.steps:
            if step.action and type_of[step.id] not in bound[step.action]:
                bound[step.action].append(type_of[step.id])
        bindings[sop.sop_id] = {action: tuple(types) for action, types in bound.items()}
        observable = {s.id for s in sop.steps if spoken[(sop.sop_id, s.id)] or s.action}
        expected[sop.sop_id] = _expected_next(sop, type_of, observable)
        first = next((s.id for s in sop.steps if s.id in observable), None)
        if first is not None:
            starts[sop.sop_id] = type_of[first]
    return StepLibrary(
        type_ids=tuple(type_ids),
        labels=tuple(labels),
        sop_steps=tuple(sop_steps),
        generic=tuple(i >= n_documented for i in range(len(type_ids))),
        proto_type=np.array([t for t, _, _ in phrasings], dtype=np.int64),
        proto_texts=tuple(slots_named(p) for _, p, _ in phrasings),
        proto_patterns=tuple(template_pattern(p) for _, p, _ in phrasings),
        proto_anchors=tuple(
            max(_SLOT.split(p)[::3], key=len).strip().lower() for _, p, _ in phrasings
        ),
        proto_sops=tuple(s for _, _, s in phrasings),
        members=members,
        bindings=bindings,
        expected=expected,
        starts=starts,
    )


def _expected_next(
    sop: Sop, type_of: dict[str, int], observable: set[str]
) -> dict[int, frozenset[int]]:
    """Map each type to the types the SOP expects next (``next`` and ``after``).

    Steps never observed (decision outcomes) are looked through.
    """
    successors: dict[str, set[str]] = {step.id: set(step.next) for step in sop.steps}
    for step in sop.steps:
        for before in step.after:
            successors[before].add(step.id)
    expected: dict[int, set[int]] = defaultdict(set)
    for step in sop.steps:
        seen, stack = set(), list(successors[step.id])
        while stack:
            nxt = stack.pop()
            if nxt in seen:
                continue
            seen.add(nxt)
            if nxt in observable:
                expected[type_of[step.id]].add(type_of[nxt])
            else:
                stack.extend(successors[nxt])
    return {k: frozenset(v) for k, v in expected.items()}


# ---- units and scores ------------------------------------------------------------------
def agent_units(turns: pl.DataFrame, *, speakers: Sequence[str] = ("agent", "bot")) -> pl.DataFrame:
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


def _phrase_scores(
    texts: Sequence[str], vectors: np.ndarray, proto_vectors: np.ndarray, library: StepLibrary
) -> np.ndarray:
    """``(n_texts, n_phrasings)`` cosines; a text that fills a template scores 1.0.

    Memory O(texts x phrasings): chunk the texts for runs of millions of distinct texts.
    """
    sims = vectors @ proto_vectors.T if len(proto_vectors) else np.zeros((len(texts), 0))
    lowered = pl.Series(texts, dtype=pl.String).str.to_lowercase()
    for p, pattern in enumerate(library.proto_patterns):
        if pattern is None:
            continue
        hits = np.flatnonzero(lowered.str.contains(library.proto_anchors[p], literal=True))
        filled = [i for i in hits if pattern.fullmatch(texts[i])]
        sims[filled, p] = 1.0
    return sims


def _type_scores(phrase_scores: np.ndarray, library: StepLibrary) -> np.ndarray:
    """``(n_texts, n_types)``: each type's best phrasing; -1 for a type without one."""
    scores = np.full((len(phrase_scores), len(library.type_ids)), -1.0)
    for t in range(len(library.type_ids)):
        cols = np.flatnonzero(library.proto_type == t)
        if cols.size:
            scores[:, t] = phrase_scores[:, cols].max(axis=1)
    return scores


def otsu_threshold(values: np.ndarray) -> float:
    """Return the split of ``values`` that maximises the between-class variance (Otsu).

    Exact on the sorted values (no histogram bins): the midpoint of the two values the
    best split falls between. With fewer than two distinct values, their maximum (1.0
    for none).
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size < 2 or v[0] == v[-1]:
        return float(v[-1]) if v.size else 1.0
    k = np.arange(1, v.size)
    left = np.cumsum(v)[:-1]
    between = k * (v.size - k) * (left / k - (v.sum() - left) / (v.size - k)) ** 2
    between[v[1:] == v[:-1]] = -1.0  # split only between distinct values
    i = int(np.argmax(between))
    return float((v[i] + v[i + 1]) / 2)


def calibrate_threshold(unit_scores: np.ndarray, library: StepLibrary) -> float:
    """Return the similarity a turn needs to count as a step, calibrated on the data.

    Otsu's split of each turn's best score against the documented types (the generic
    ones when there are none), template fills left out: they are certain, and their
    mass at 1.0 would pull the split up to them.

    Parameters
    ----------
    unit_scores
        ``(n_turns, n_types)`` type scores, one row per turn (repeats count).
    library
        The types of the columns.
    """
    has_phrasing = np.isin(np.arange(len(library.type_ids)), library.proto_type)
    columns = np.flatnonzero(has_phrasing & ~np.array(library.generic, dtype=bool))
    if not columns.size:
        columns = np.flatnonzero(has_phrasing)
    if not len(unit_scores) or not columns.size:
        return 1.0
    best = unit_scores[:, columns].max(axis=1)
    return otsu_threshold(best[best < _EXACT])


# ---- roles and SOP choice --------------------------------------------------------------
@dataclass(frozen=True)
class _Roles:
    """Conversation management: the types shared by all SOPs and the ids types carry."""

    emit: tuple[str, ...]  # per type: the step id its events carry
    shared: np.ndarray  # the role types, offered in every conversation
    role: dict[int, str]  # shared type -> greeting / closing


def _roles(library: StepLibrary, proto_vectors: np.ndarray, threshold: float) -> _Roles:
    """Recognise greeting/closing steps; one id for those with a phrasing in common."""
    generic = np.flatnonzero(library.generic)
    role_phrasings = [np.flatnonzero(library.proto_type == t) for t in generic]
    played: dict[int, list[int]] = defaultdict(list)  # generic type -> the steps playing it
    for t in range(len(library.type_ids)):
        own = np.flatnonzero(library.proto_type == t)
        if library.generic[t] or not own.size or not role_phrasings:
            continue
        closeness = [float((proto_vectors[own] @ proto_vectors[p].T).max()) for p in role_phrasings]
        if max(closeness) >= threshold:
            played[int(generic[int(np.argmax(closeness))])].append(t)
    emit = list(library.type_ids)
    role: dict[int, str] = {}
    for generic_type in generic:
        steps = played.get(int(generic_type)) or [int(generic_type)]
        role.update({t: library.labels[generic_type] for t in steps})
        keys: dict[str, int] = {}  # union-find over shared phrasings
        parent = {t: t for t in steps}
        for t in steps:
            for p in np.flatnonzero(library.proto_type == t):
                other = keys.setdefault(library.proto_texts[p].casefold(), t)
                parent[_root(parent, t)] = _root(parent, other)
        groups: dict[int, list[int]] = defaultdict(list)
        for t in steps:
            groups[_root(parent, t)].append(t)
        for group in groups.values():
            counts = Counter(s.split("/", 1)[1] for t in group for s in library.sop_steps[t])
            name = min(counts, key=lambda s: (-counts[s], s)) if counts else emit[group[0]]
            for t in group:
                emit[t] = name  # the id most SOPs give it
    return _Roles(tuple(emit), np.array(sorted(role), dtype=np.int64), role)


def _root(parent: dict[int, int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def _conversation_codes(units: pl.DataFrame) -> np.ndarray:
    """0, 1, ... per conversation of units sorted by conversation."""
    cid = units["conversation_id"]
    return (cid != cid.shift(1)).fill_null(True).cum_sum().to_numpy().astype(np.int64) - 1


def _choose_sops(
    units: pl.DataFrame,
    scores: np.ndarray,
    phrase_scores: np.ndarray,
    rows: np.ndarray,
    library: StepLibrary,
    shared: np.ndarray,
    *,
    threshold: float,
    min_explained: float,
) -> list[str | None]:
    """Pick for each conversation (in order) the SOP that explains most of its units.

    A unit is explained by a SOP when it scores at least ``threshold`` against one of the
    SOP's own phrasings (one step id may be worded per SOP) or is an action bound in it;
    units best explained by conversation management count for none. Ties go to the
    higher total score, then to the SOP most conversations took. With ``intent_id``, an
    intent at least ``min_explained`` of whose conversations fit one SOP follows it:
    each of its conversations that this SOP explains at all takes it, unless another
    explains more of it. Cost O(units x SOPs).
    """
    code = _conversation_codes(units)
    n_conv = int(code[-1]) + 1 if code.size else 0
    sop_ids = library.sop_ids
    if not sop_ids or not n_conv:
        return [None] * n_conv
    has_text = rows >= 0
    is_action = units["is_action"].to_numpy()
    actions = units["action_name"].to_list()
    unit_scores, unit_phrases = scores[rows[has_text]], phrase_scores[rows[has_text]]
    neutral = np.zeros(units.height, dtype=bool)
    if shared.size:
        offered = np.union1d(np.concatenate(list(library.members.values())), shared)
        best_shared = unit_scores[:, shared].max(axis=1)
        best = unit_scores[:, offered].max(axis=1)
        neutral[has_text] = (best_shared >= threshold) & (best_shared >= best)
    content = (has_text | is_action) & ~neutral
    shared_phrases = np.flatnonzero(np.isin(library.proto_type, shared))
    count = np.zeros((n_conv, len(sop_ids)))
    strength = np.zeros((n_conv, len(sop_ids)))
    for s, sop_id in enumerate(sop_ids):
        own = [p for p, users in enumerate(library.proto_sops) if sop_id in users]
        columns = np.union1d(own, shared_phrases).astype(np.int64)
        best = np.full(units.height, -1.0)
        best[has_text] = unit_phrases[:, columns].max(axis=1, initial=-1.0)
        bound = is_action & np.array([a in library.bindings[sop_id] for a in actions], bool)
        np.add.at(count[:, s], code, content & ((best >= threshold) | bound))
        np.add.at(strength[:, s], code, np.where(content & has_text, best, 0.0))
    n_content = np.bincount(code, weights=content, minlength=n_conv)
    key = count + strength / (n_content[:, None] + 1)  # count first, then total score
    tied = key >= key.max(axis=1, keepdims=True) - 1e-12
    prior = np.bincount(key[tied.sum(axis=1) == 1].argmax(axis=1), minlength=len(sop_ids))
    pick = np.where(tied, prior[None, :], -1).argmax(axis=1)
    chosen = count[np.arange(n_conv), pick]
    fits = (chosen > 0) & (chosen >= min_explained * n_content)
    if "intent_id" in units.columns:
        first = np.flatnonzero(np.r_[True, np.diff(code) != 0])
        intent = units["intent_id"].gather(first).to_list()
        size = Counter(intent)
        votes: dict[object, Counter[int]] = defaultdict(Counter)
        for c in np.flatnonzero(fits):
            votes[intent[c]][int(pick[c])] += 1
        for c in range(n_conv):
            tally = votes.get(intent[c])
            if intent[c] is None or not tally:
                continue
            majority = min(tally, key=lambda s: (-tally[s], sop_ids[s]))
            if tally[majority] < min_explained * size[intent[c]]:
                continue  # the intent as a whole follows no one SOP
            if count[c, majority] >= count[c, pick[c]]:
                pick[c] = majority
            fits[c] = count[c, pick[c]] > 0
    return [sop_ids[p] if ok else None for p, ok in zip(pick, fits, strict=True)]


# ---- guided decoding -------------------------------------------------------------------
def _context_weight(first_scores: list[tuple[int, float]], transitions: list[bool]) -> float:
    """Return what an expected transition is worth, in units of similarity.

    From the first pass (each unit's best type at the threshold): ``sigma``, the pooled
    within-type standard deviation of the scores of matches that fill no template (the
    noise of the wording), and ``eps``, the share of its transitions the SOP graphs do
    not expect. An expected transition is worth its log-odds in noise units,
    ``sigma * ln((1 - eps) / eps)``. Without noise (every match exact) or with an
    uninformative graph (``eps >= 0.5``) only exact ties are broken by the graph.
    """
    n_types = len({k for k, _ in first_scores})
    if not transitions or len(first_scores) <= n_types:
        return _TIE
    frame = pl.DataFrame(first_scores, schema=["k", "v"], orient="row")
    within = frame.select((pl.col("v") - pl.col("v").mean().over("k")).pow(2).sum()).item()
    sigma = math.sqrt(within / (frame.height - n_types))
    eps = min(max(transitions.count(False), 1) / (len(transitions) + 1), 0.5)
    return max(sigma * math.log((1 - eps) / eps), _TIE)


def _transition_matrix(
    sop_id: str, cand: np.ndarray, library: StepLibrary, roles: _Roles
) -> tuple[np.ndarray, np.ndarray]:
    """Return the expected-transition indicator ``(K + 1, K)`` and the end flags ``(K,)``.

    Row K is the start. Expected: the SOP's successors and staying on a step; from the
    start, the first step and greetings; after a greeting, what the start expects;
    closings after a step with no successor. A closing, or a step without successor, is
    an expected end.
    """
    local = {int(t): i for i, t in enumerate(cand)}
    expected = library.expected.get(sop_id, {})
    k = len(cand)
    matrix = np.zeros((k + 1, k))
    greet = [i for i, t in enumerate(cand) if roles.role.get(int(t)) == GREETING]
    close = [i for i, t in enumerate(cand) if roles.role.get(int(t)) == CLOSING]
    start = library.starts.get(sop_id)
    firsts = ([local[start]] if start in local else []) + greet
    matrix[k, firsts] = 1.0
    ends = np.zeros(k)
    for i, t in enumerate(cand):
        following = [local[n] for n in expected.get(int(t), ()) if n in local]
        matrix[i, [i, *following]] = 1.0
        if i in greet:
            matrix[i, firsts] = 1.0
        elif i not in close and not following:
            matrix[i, close] = 1.0
        ends[i] = float(i in close or not following)
    return matrix, ends


def _viterbi(
    emission: np.ndarray, other_ok: np.ndarray, matrix: np.ndarray, ends: np.ndarray, weight: float
) -> np.ndarray:
    """Return the best path of one conversation: per unit a local type or ``OTHER_CODE``.

    Maximises the emissions plus ``weight`` per expected transition (and for ending where
    the SOP ends). ``other`` scores 0 and keeps the previous step as the context.
    Cost O(units x K^2).
    """
    m, k = emission.shape
    best = np.full(k + 1, -np.inf)
    best[k] = 0.0
    back = np.full((m, k + 1), -1, dtype=np.int64)
    bonus = weight * matrix
    for i in range(m):
        stay = best if other_ok[i] else np.full(k + 1, -np.inf)
        into = best[:, None] + bonus
        prev = into.argmax(axis=0)
        step = into[prev, np.arange(k)] + emission[i]
        take = step >= stay[:k]
        best = np.r_[np.where(take, step, stay[:k]), stay[k]]
        back[i, :k] = np.where(take, prev, -1)
    state = int(np.argmax(best + weight * np.r_[ends, 0.0]))
    path = np.full(m, OTHER_CODE, dtype=np.int64)
    for i in range(m - 1, -1, -1):
        if state < k and back[i, state] >= 0:
            path[i], state = state, int(back[i, state])
    return path


def _decode(
    units: pl.DataFrame,
    scores: np.ndarray,
    rows: np.ndarray,
    library: StepLibrary,
    roles: _Roles,
    chosen: list[str | None],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each unit's type (or ``OTHER_CODE``/``ACTION_CODE``) and confidence.

    In unguided conversations only action events are decided (through bindings).
    """
    code = _conversation_codes(units)
    anywhere: dict[str, list[int]] = defaultdict(list)  # an API call means one step anywhere
    for bound in library.bindings.values():
        for action, types in bound.items():
            anywhere[action].extend(t for t in types if t not in anywhere[action])
    state = np.full(units.height, OTHER_CODE, dtype=np.int64)
    confidence = np.full(units.height, np.nan)
    actions = units["action_name"].to_list()
    is_action = units["is_action"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, np.diff(code) != 0, True])
    cases, first_scores, transitions = [], [], []
    for c, sop_id in enumerate(chosen):
        lo, hi = bounds[c], bounds[c + 1]
        own = library.bindings.get(sop_id, {}) if sop_id is not None else {}
        bound_to = {i: own.get(actions[i]) or tuple(anywhere.get(actions[i], ()))
                    for i in range(lo, hi) if is_action[i]}  # fmt: skip
        for i, types in bound_to.items():
            state[i], confidence[i] = (types[0] if types else ACTION_CODE), 1.0
        if sop_id is None:
            continue
        cand = np.union1d(library.members[sop_id], roles.shared)
        observable = np.isin(cand, library.proto_type) | np.isin(cand, sum(own.values(), ()))
        extra = [t for types in bound_to.values() for t in types]
        cand = np.union1d(cand[observable], np.array(extra, dtype=np.int64))
        inside = [i for i in range(lo, hi) if rows[i] >= 0 or bound_to.get(i)]
        if not inside:
            continue
        sims = np.array([
            np.where(np.isin(cand, bound_to[i]), 1.0, -np.inf) if is_action[i]
            else scores[rows[i], cand]
            for i in inside
        ])  # fmt: skip
        matrix, ends = _transition_matrix(sop_id, cand, library, roles)
        cases.append((inside, cand, sims, matrix, ends))
        previous = len(cand)  # the start
        for row in sims:  # the first pass: each unit's best type at the threshold
            k = int(np.argmax(row))
            if row[k] >= threshold:
                if row[k] < _EXACT:
                    first_scores.append((int(cand[k]), float(row[k])))
                transitions.append(bool(matrix[previous, k]))
                previous = k
    weight = _context_weight(first_scores, transitions)
    for inside, cand, sims, matrix, ends in cases:
        emission = np.where(sims >= threshold - weight, sims - threshold, -np.inf)
        path = _viterbi(emission, ~is_action[inside], matrix, ends, weight)
        for i, p, row in zip(inside, path, sims, strict=True):
            if p == OTHER_CODE:
                state[i], confidence[i] = OTHER_CODE, np.nan
            else:
                state[i], confidence[i] = cand[p], float(row[p])
    return state, confidence


# ---- step types found in the data ------------------------------------------------------
@dataclass(frozen=True)
class TurnClusters:
    """Recurring groups of turns: step types found in the data.

    Attributes
    ----------
    labels
        Cluster of each turn, numbered by size (largest first); -1 for none.
    centroids
        ``(k, dim)`` unit rows.
    radius
        Per cluster: the lowest cosine to its centroid of a turn HDBSCAN placed in it.
    descriptions
        Per cluster: ``label`` (top class-based TF-IDF terms), ``terms``, ``exemplar``.
    """

    labels: np.ndarray
    centroids: np.ndarray
    radius: np.ndarray
    descriptions: list[dict]


def cluster_turns(
    ids: Sequence[str],
    texts: Sequence[str],
    vectors: np.ndarray,
    conversations: Sequence[str],
    *,
    config: IntentConfig = CLUSTERING,
) -> TurnClusters:
    """Cluster turns into recurring step types, every size chosen from the data.

    1. HDBSCAN through :func:`pipeline.intents.fit_intents` (reduction, then the
       smallest-cluster size with the best density-based validity): dense groups;
    2. groups whose centroids are close merge (average linkage, cut at the best
       silhouette over distinct wordings): one step said with different slot values,
       or worded per SOP, forms several dense groups;
    3. a turn HDBSCAN left as noise joins its nearest group only within the group's
       radius; a group must recur in two conversations. The rest is -1.

    Parameters
    ----------
    ids
        A unique id per turn (fixes the canonical order and the fitted sample).
    texts, vectors
        Each turn's text and unit vector.
    conversations
        Each turn's conversation.
    config
        Reduction and HDBSCAN settings.
    """
    n = len(ids)
    none = TurnClusters(np.full(n, -1, dtype=np.int64), np.empty((0, vectors.shape[1])),
                        np.empty(0), [])  # fmt: skip
    if n < _MIN_CLUSTER:
        return none
    try:
        fit = fit_intents(list(ids), vectors, dataclasses.replace(config, assign_threshold=0.0))
    except ModelError:  # too few turns, or not two recurring groups: nothing found
        return none
    placed = np.isin(fit.method, ("cluster", "predicted")) & (fit.labels >= 0)
    order = np.argsort(np.asarray(ids, dtype=object), kind="stable")
    _, first = np.unique(np.asarray(texts, dtype=object)[order], return_index=True)
    sample = np.sort(order[first])  # one turn per wording: repeats would weigh too much
    sample = sample[placed[sample]]
    sample = sample[np.linspace(0, sample.size - 1, min(sample.size, _SILHOUETTE_SAMPLE),
                                dtype=np.int64)] if sample.size else sample  # fmt: skip
    groups = _merge_groups(vectors[sample], fit.labels[sample], fit.centroids)
    merged = np.where(fit.labels >= 0, groups[np.maximum(fit.labels, 0)], -1)
    k = int(groups.max()) + 1
    sums = np.zeros((k, vectors.shape[1]))
    np.add.at(sums, merged[placed], vectors[placed])
    centroids = _unit_rows(sums)
    sims = vectors @ centroids.T
    radius = np.full(k, np.inf)
    np.minimum.at(radius, merged[placed], sims[placed, merged[placed]])
    nearest = sims.argmax(axis=1)
    joins = ~placed & (sims[np.arange(n), nearest] >= radius[nearest])
    merged = np.where(placed, merged, np.where(joins, nearest, -1))
    conv = np.asarray(conversations, dtype=object)
    kept = [c for c in range(k) if len(set(conv[merged == c])) >= 2]
    kept.sort(key=lambda c: (-int((merged == c).sum()), c))
    labels = np.full(n, -1, dtype=np.int64)
    for new, c in enumerate(kept):
        labels[merged == c] = new
    centroids, radius = centroids[kept], radius[kept]
    described = describe_intents(list(texts), labels, vectors, centroids, n_terms=config.n_terms)
    return TurnClusters(labels, centroids, radius, described)


def _merge_groups(vectors: np.ndarray, labels: np.ndarray, centroids: np.ndarray) -> np.ndarray:
    """Map each cluster to a merged group: the average-linkage cut with best silhouette.

    The silhouette is that of the sample turns (``vectors``, ``labels``).
    Cost O(sample^2 + cuts x sample x k).
    """
    from scipy.cluster.hierarchy import fcluster, linkage

    k = len(centroids)
    if k < 3 or len(labels) < 3:
        return np.arange(k)
    tree = linkage(centroids.astype(np.float64), method="average", metric="cosine")
    distance = 1.0 - vectors @ vectors.T
    best, best_groups = -np.inf, np.arange(k)
    for height in np.unique(np.r_[0.0, tree[:, 2]]):
        groups = fcluster(tree, t=height + 1e-9, criterion="distance") - 1
        score = _silhouette(distance, groups[labels])
        if score > best + 1e-12:
            best, best_groups = score, groups
    return best_groups


def _silhouette(distance: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette from a precomputed distance matrix; -1 for fewer than two groups."""
    k = int(labels.max()) + 1
    if len(np.unique(labels)) < 2:
        return -1.0
    n = len(labels)
    onehot = np.zeros((n, k))
    onehot[np.arange(n), labels] = 1.0
    size = onehot.sum(axis=0)
    totals = distance @ onehot
    a = totals[np.arange(n), labels] / np.maximum(size[labels] - 1, 1)
    mean = totals / np.maximum(size, 1)
    mean[np.arange(n), labels] = np.inf
    mean[:, size == 0] = np.inf
    b = mean.min(axis=1)
    score = np.where(size[labels] > 1, (b - a) / np.maximum(np.maximum(a, b), 1e-12), 0.0)
    return float(score.mean())


def _unit_rows(matrix: np.ndarray) -> np.ndarray:
    return matrix / np.maximum(np.linalg.norm(matrix, axis=1, keepdims=True), 1e-12)


# ---- the stage -------------------------------------------------------------------------
def extract_steps(
    turns: pl.DataFrame,
    sops: Sequence[Sop],
    *,
    embedder: Embedder,
    min_explained: float = 0.5,
    discover: bool = True,
    speakers: Sequence[str] = ("agent", "bot"),
    roles: Mapping[str, Sequence[str]] = ROLE_PHRASINGS,
    cluster_config: IntentConfig = CLUSTERING,
    threshold: float | None = None,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn agent turns and action events into the step event log.

    Reads table ``turns`` (joined with ``intent_assignments.intent_id`` for the intent
    prior); produces ``step_events`` and ``step_types``.

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
        Generic greeting/closing phrasings.
    cluster_config
        Reduction and HDBSCAN settings for clustering turns.
    threshold
        The similarity a turn needs to count as a step; None calibrates it on the data
        (:func:`calibrate_threshold`), which needs both on-script paraphrases and
        off-script turns among the turns that fill no template: pass a value for a few
        turns only.

    Returns
    -------
    step_events : polars.DataFrame
        :data:`STEP_EVENTS_SCHEMA`: one row per agent turn and action event, sorted by
        ``conversation_id, seq``. ``source`` is ``sop`` (a documented or role step),
        ``discovered``, ``action`` (an action bound to no step: its name is the step) or
        ``other``; ``confidence`` is the similarity to the step (1.0 for a template fill
        or a bound action; null for other); ``sop_id`` is null when unguided;
        ``is_repeat`` marks the same step as the conversation's previous event.
    step_types : polars.DataFrame
        :data:`STEP_TYPES_SCHEMA`: one row per step id used, with the SOP when only one
        SOP has it and ``sop_steps``, the ``sop_id/step_id`` it stands for.

    Raises
    ------
    SchemaError
        ``turns`` lacks a required column.
    ValueError
        ``min_explained`` or ``threshold`` is outside [0, 1].
    """
    for name, value in (("min_explained", min_explained), ("threshold", threshold)):
        if value is not None and not 0.0 <= value <= 1.0:
            raise ValueError(f"steps: {name}: expected a number in [0, 1], found {value}")
    units = agent_units(turns, speakers=speakers)
    library = step_library(sops, roles=roles)
    texts = units["text"].drop_nulls().unique(maintain_order=True).to_list()
    index_of, matrix = _encode(texts + list(library.proto_texts), embedder)
    vectors = matrix[np.array([index_of[t] for t in texts], dtype=np.int64)]
    proto_vectors = matrix[np.array([index_of[t] for t in library.proto_texts], dtype=np.int64)]
    phrase_scores = _phrase_scores(texts, vectors, proto_vectors, library)
    scores = _type_scores(phrase_scores, library)
    row_of = {t: i for i, t in enumerate(texts)}
    rows = np.array([row_of.get(t, -1) for t in units["text"].fill_null("")], dtype=np.int64)
    if threshold is None:
        threshold = calibrate_threshold(scores[rows[rows >= 0]], library)
    roles_found = _roles(library, proto_vectors, threshold)
    chosen = _choose_sops(
        units, scores, phrase_scores, rows, library, roles_found.shared,
        threshold=threshold, min_explained=min_explained,
    )  # fmt: skip
    state, confidence = _decode(units, scores, rows, library, roles_found, chosen, threshold)
    sop_of = np.array([chosen[c] for c in _conversation_codes(units)], dtype=object)
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
    for prefix, sop_id, mask in groups:
        members = np.flatnonzero(mask)
        found = _cluster_units(units, members, vectors[rows[members]], cluster_config)
        names = [f"{prefix}{c}" for c in range(len(found.centroids))]
        if sop_id is None and not library.sop_ids:
            names = _role_names(names, found, library, proto_vectors)
        for c, name in enumerate(names):
            in_c = members[found.labels == c]
            step_id[in_c], source[in_c] = name, "discovered"
            confidence[in_c] = vectors[rows[in_c]] @ found.centroids[c]
            described[name] = {**found.descriptions[c], "sop_id": sop_id}
    events = units.select("conversation_id", "seq", "turn_idx", "ts").with_columns(
        step_id=pl.Series(step_id.tolist(), dtype=pl.String),
        source=pl.Series(source.tolist(), dtype=pl.String),
        confidence=pl.Series(confidence, dtype=pl.Float64).fill_nan(None),
        sop_id=pl.Series(sop_of.tolist(), dtype=pl.String),
        is_repeat=pl.Series(_repeats(units["conversation_id"], step_id), dtype=pl.Boolean),
    )
    events = events.select(list(STEP_EVENTS_SCHEMA)).cast(STEP_EVENTS_SCHEMA)
    return events, _types_frame(events, units["text"], library, roles_found, described)


def _repeats(conversations: pl.Series, step_id: np.ndarray) -> np.ndarray:
    """Whether each event repeats the step of its conversation's previous event."""
    same_case = (conversations == conversations.shift(1)).fill_null(False).to_numpy()
    same_step = np.r_[False, step_id[1:] == step_id[:-1]]
    return same_case & same_step


def _cluster_units(
    units: pl.DataFrame, members: np.ndarray, vectors: np.ndarray, config: IntentConfig
) -> TurnClusters:
    """Cluster the text units ``members`` (rows of ``units``) with their ``vectors``."""
    chosen = units[members]
    ids = chosen["conversation_id"] + "#" + chosen["turn_idx"].cast(pl.String)
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


def _types_frame(
    events: pl.DataFrame,
    texts: pl.Series,
    library: StepLibrary,
    roles: _Roles,
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
            label = info["label"] if info["terms"] else (info["exemplar"] or step_id)
            exemplar, sop_id = info["exemplar"], info["sop_id"]
        rows.append((step_id, label, source, sop_id, exemplar, n_events, sop_steps))
    return pl.DataFrame(rows, schema=STEP_TYPES_SCHEMA, orient="row")
