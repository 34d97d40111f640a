"""Step decoding: roles, the SOP each conversation follows, and its Viterbi path.

Greetings and closings shared by every SOP are recognised (:func:`find_roles`); each
conversation takes the SOP that explains most of its units (:func:`choose_sops`); each
guided conversation is then decoded by Viterbi over its SOP's graph
(:func:`decode_steps`).
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from dataclasses import dataclass

import numpy as np
import polars as pl

from pipeline.steps.library import CLOSING, GREETING, HOLD, StepLibrary
from pipeline.steps.scores import EXACT

_TIE = 1e-6  # the context weight when the data give none: it only breaks exact ties
OTHER_CODE, ACTION_CODE = -1, -2
#: Conversations whose requests are compared with each query (an even spread beyond it).
MAX_REFERENCES = 20_000
_QUERY_BATCH = 1024  # queries per similarity block: 1024 x MAX_REFERENCES floats = 80 MB


@dataclass(frozen=True)
class Roles:
    """Conversation management: the types shared by all SOPs and the ids types carry."""

    emit: tuple[str, ...]  # per type: the step id its events carry
    shared: np.ndarray  # the role types, offered in every conversation
    role: dict[int, str]  # shared type -> greeting / closing / hold

    def aside(self, library: StepLibrary) -> np.ndarray:
        """Return the generic hold types: said anywhere, they keep the context like other."""
        return np.array(
            [t for t, r in self.role.items() if r == HOLD and library.generic[t]], dtype=np.int64
        )


def find_roles(library: StepLibrary, proto_vectors: np.ndarray, threshold: float) -> Roles:
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
    return Roles(tuple(emit), np.array(sorted(role), dtype=np.int64), role)


def _root(parent: dict[int, int], x: int) -> int:
    while parent[x] != x:
        parent[x] = parent[parent[x]]
        x = parent[x]
    return x


def conversation_codes(units: pl.DataFrame) -> np.ndarray:
    """0, 1, ... per conversation of units sorted by conversation."""
    cid = units["conversation_id"]
    return (cid != cid.shift(1)).fill_null(True).cum_sum().to_numpy().astype(np.int64) - 1


def choose_sops(
    units: pl.DataFrame,
    scores: np.ndarray,
    phrase_scores: np.ndarray,
    rows: np.ndarray,
    library: StepLibrary,
    shared: np.ndarray,
    *,
    threshold: float,
    min_explained: float,
    requests: np.ndarray | None = None,
    neighbours: int = 10,
) -> list[str | None]:
    """Pick for each conversation (in order) the SOP that explains most of its units.

    A unit is explained by a SOP when it scores at least ``threshold`` against one of the
    SOP's own phrasings (one step id may be worded per SOP) or is an action bound in it;
    units best explained by conversation management count for none. Ties go to the
    higher total score, then to the SOP most conversations took.

    Then the customer's side: conversations whose customers ask alike follow one
    process. With ``requests`` (one unit row per conversation, in order; a zero row for
    none), a conversation's peers are the ``neighbours`` conversations with the most
    similar opening requests, and the request counts as one more explained unit: when at
    least ``min_explained`` of the peers took one SOP, the conversation takes it too if
    that SOP explains part of it and at most one unit less than its own pick
    (:func:`_follow_requests`). Without ``requests``, an intent (``intent_id``) at least
    ``min_explained`` of whose conversations fit one SOP settles its conversations'
    ties of the agent's evidence. Either way, a conversation that takes its peers' SOP
    is guided by it even when the SOP explains less than ``min_explained`` of it. Cost
    O(units x SOPs), plus O(queries x references x dim) for the requests, where queries
    are the conversations the peers could change and references at most
    :data:`MAX_REFERENCES`.
    """
    code = conversation_codes(units)
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
    if requests is not None and neighbours > 0:
        _follow_requests(pick, fits, count, requests, neighbours, min_explained)
    elif "intent_id" in units.columns:
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


def _follow_requests(
    pick: np.ndarray,
    fits: np.ndarray,
    count: np.ndarray,
    requests: np.ndarray,
    neighbours: int,
    min_share: float,
) -> None:
    """Let each conversation follow the SOP its nearest requests took (in place).

    References are the conversations with a request (an even spread of at most
    :data:`MAX_REFERENCES`); each votes for its first pick, or for none when no SOP fits
    it, so that a group of calls no SOP covers (a new intent) stays unguided. A
    conversation is never its own peer. A majority needs ``min_share`` of the
    ``neighbours`` votes; ties go to the lower SOP index. The majority SOP is taken when
    it explains at least one unit and at most one fewer than the pick (the request is
    worth one unit). Only conversations whose pick that could change are queried: the
    runner-up SOP within one unit of the pick, or no SOP fitting.
    """
    n_conv, n_sops = count.shape
    has_request = np.abs(requests).sum(axis=1) > 0
    references = np.flatnonzero(has_request)
    if references.size > MAX_REFERENCES:
        spread = np.linspace(0, references.size - 1, MAX_REFERENCES).astype(np.int64)
        references = references[spread]
    top = count.max(axis=1)
    runner_up = np.sort(count, axis=1)[:, -2] if n_sops > 1 else np.zeros(n_conv)
    queries = np.flatnonzero(has_request & (top > 0) & ((runner_up + 1 >= top) | ~fits))
    k = min(neighbours, references.size - 1)
    if k < 1 or not queries.size:
        return
    ref_vectors = requests[references]
    ref_picks = np.where(fits[references], pick[references], n_sops)  # n_sops: none
    for lo in range(0, queries.size, _QUERY_BATCH):
        batch = queries[lo : lo + _QUERY_BATCH]
        sims = requests[batch] @ ref_vectors.T
        sims[batch[:, None] == references[None, :]] = -np.inf  # never one's own peer
        nearest = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        votes = np.zeros((batch.size, n_sops + 1), dtype=np.int64)
        np.add.at(votes, (np.repeat(np.arange(batch.size), k), ref_picks[nearest].ravel()), 1)
        majority = votes[:, :n_sops].argmax(axis=1)
        agreed = votes[np.arange(batch.size), majority] >= min_share * k
        for c, m in zip(batch[agreed], majority[agreed], strict=True):
            if count[c, m] > 0 and count[c, m] + 1 >= count[c, pick[c]]:
                pick[c] = m
            fits[c] = count[c, pick[c]] > 0


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
    sop_id: str, cand: np.ndarray, library: StepLibrary, roles: Roles
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


def decode_steps(
    units: pl.DataFrame,
    scores: np.ndarray,
    rows: np.ndarray,
    library: StepLibrary,
    roles: Roles,
    chosen: list[str | None],
    threshold: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Return each unit's type (or ``OTHER_CODE``/``ACTION_CODE``) and confidence.

    In unguided conversations only action events are decided (through bindings). A turn
    whose best type is a generic hold, at the threshold, is a hold: the SOP graph has no
    place for it, so the path goes through it as through ``other``.
    """
    code = conversation_codes(units)
    anywhere: dict[str, list[int]] = defaultdict(list)  # an API call means one step anywhere
    for bound in library.bindings.values():
        for action, types in bound.items():
            anywhere[action].extend(t for t in types if t not in anywhere[action])
    state = np.full(units.height, OTHER_CODE, dtype=np.int64)
    confidence = np.full(units.height, np.nan)
    actions = units["action_name"].to_list()
    is_action = units["is_action"].to_numpy()
    bounds = np.flatnonzero(np.r_[True, np.diff(code) != 0, True])
    aside = roles.aside(library)
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
        best = sims.argmax(axis=1)
        held = np.isin(cand[best], aside) & (sims.max(axis=1) >= threshold)
        for j in np.flatnonzero(held):
            state[inside[j]], confidence[inside[j]] = cand[best[j]], float(sims[j, best[j]])
        path_types = ~np.isin(cand, aside)  # the path never enters a hold
        inside = [i for i, h in zip(inside, held, strict=True) if not h]
        cand, sims = cand[path_types], sims[~held][:, path_types]
        if not inside:
            continue
        matrix, ends = _transition_matrix(sop_id, cand, library, roles)
        cases.append((inside, cand, sims, matrix, ends))
        previous = len(cand)  # the start
        for row in sims:  # the first pass: each unit's best type at the threshold
            k = int(np.argmax(row))
            if row[k] >= threshold:
                if row[k] < EXACT:
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
