"""Step slots: recurring off-script wordings that stand where a documented step is missing.

Similarity to a SOP's phrasings misses paraphrases far from them ("Could you spell out
the new street name?" for *collect the new address*). The process shows them: such a
turn stands where its step should be, in calls that lack that step. One occurrence is
weak evidence (decoding already weighs it: :func:`pipeline.steps.decoding.decode_steps`);
a wording that does so again and again, far more often than off-script talk in general,
is in complementary distribution with the step, the linguist's test for two forms of
one unit.

:func:`slot_votes` asks of each off-script turn of a guided call which slot it stands
in. Between its neighbouring documented steps (said, or done through a bound action):
a documented step missing from the call that the SOP graph expects there (after the
previous step and before the next one; from the start, or to the end). At the call's
first (last) agent utterance, with no greeting (closing) decoded: the greeting
(closing). A turn with exactly one such step votes for it.

:func:`fill_slots` then tests each wording (the same normalised text within one SOP's
calls, said off-script at least ``min_said`` times, twice by default). When more than
``majority`` (half) of its occurrences vote for one step, and that many votes are
unlikely at the rate at which the SOP's off-script turns vote for that step (binomial
test at ``alpha``: the chance of relabelling at least one wording that only happens to
stand in slots, Bonferroni-corrected over the wordings tested), the wording is that
step wherever it is off-script. The three are ``steps.slot_*`` in config.yaml. The test
needs contrast: where every off-script turn of a SOP stands in one step's slot, none
is relabelled.
"""

from __future__ import annotations

from collections import Counter, defaultdict

import numpy as np
import polars as pl
from scipy.stats import binom

from pipeline.config import StepsConfig
from pipeline.steps.decoding import OTHER_CODE, Roles, conversation_codes
from pipeline.steps.library import CLOSING, GREETING, StepLibrary

NO_VOTE = -1
_START = -1  # the slot before a call's first documented step


def slot_votes(
    units: pl.DataFrame,
    state: np.ndarray,
    rows: np.ndarray,
    library: StepLibrary,
    roles: Roles,
    chosen: list[str | None],
) -> np.ndarray:
    """Return, per unit, the type whose empty slot it stands in, else :data:`NO_VOTE`.

    Only off-script turns (``state`` is ``OTHER_CODE``, with text: ``rows`` >= 0) of
    guided conversations vote. ``state`` is per unit a type or a negative code;
    ``chosen`` each conversation's SOP. Cost O(units x SOP steps).
    """
    code = conversation_codes(units)
    votes = np.full(units.height, NO_VOTE, dtype=np.int64)
    if not code.size:
        return votes
    bounds = np.flatnonzero(np.r_[True, np.diff(code) != 0, True])
    shared = set(roles.shared.tolist())
    said = set(library.proto_type.tolist())
    edge_role = {}  # role -> (the type that carries it, the types that play it)
    for role in (GREETING, CLOSING):
        playing = sorted(t for t, r in roles.role.items() if r == role)
        if playing:
            edge_role[role] = (playing[0], set(playing))
    for c, sop_id in enumerate(chosen):
        if sop_id is None:
            continue
        lo, hi = bounds[c], bounds[c + 1]
        off = [i for i in range(lo, hi) if rows[i] >= 0 and state[i] == OTHER_CODE]
        if not off:
            continue
        bound = {t for types in library.bindings.get(sop_id, {}).values() for t in types}
        documented = [
            int(t) for t in library.members[sop_id] if t not in shared and (t in said or t in bound)
        ]
        expected = library.expected.get(sop_id, {})
        preceded = {n for following in expected.values() for n in following}
        opening = {t for t in documented if t not in preceded} | (
            {library.starts[sop_id]} if sop_id in library.starts else set()
        )
        present = set(state[lo:hi].tolist())
        missing = [t for t in documented if t not in present]
        spoken = [i for i in range(lo, hi) if rows[i] >= 0]
        steps = [(i, int(state[i])) for i in range(lo, hi) if int(state[i]) in documented]
        for i in off:
            prev = next((t for j, t in reversed(steps) if j < i), _START)
            following = next((t for j, t in steps if j > i), None)
            fits = [
                t for t in missing
                if (t in opening if prev == _START else t in expected.get(prev, ()))
                and (not expected.get(t) if following is None else following in expected.get(t, ()))
            ]  # fmt: skip
            for role, at in ((GREETING, spoken[0]), (CLOSING, spoken[-1])):
                if i == at and role in edge_role and not present & edge_role[role][1]:
                    fits.append(edge_role[role][0])
            if len(fits) == 1:
                votes[i] = fits[0]
    return votes


def fill_slots(
    units: pl.DataFrame,
    state: np.ndarray,
    rows: np.ndarray,
    votes: np.ndarray,
    chosen: list[str | None],
    *,
    alpha: float = StepsConfig.slot_alpha,
    min_said: int = StepsConfig.slot_min_said,
    majority: float = StepsConfig.slot_majority,
) -> np.ndarray:
    """Return ``state`` with each wording that fills one step's slot set to that step.

    ``votes`` is :func:`slot_votes`' answer for the same units. A wording is a text row
    within one SOP's conversations; one said at least ``min_said`` times off-script is
    tested, and taken when more than ``majority`` of its occurrences vote for one step
    and the binomial test at ``alpha`` holds (see the module docstring). Cost O(units).
    """
    sop_of = [chosen[c] for c in conversation_codes(units)]
    guided = np.array([s is not None for s in sop_of], dtype=bool)
    off = np.flatnonzero((state == OTHER_CODE) & (rows >= 0) & guided)
    said: Counter[tuple[int, str]] = Counter()
    tally: dict[tuple[int, str], Counter[int]] = defaultdict(Counter)
    base: Counter[tuple[str, int]] = Counter()
    per_sop: Counter[str] = Counter()
    for i in off:
        key = (int(rows[i]), sop_of[i])
        said[key] += 1
        per_sop[sop_of[i]] += 1
        if votes[i] != NO_VOTE:
            tally[key][int(votes[i])] += 1
            base[(sop_of[i], int(votes[i]))] += 1
    tested = sum(1 for n in said.values() if n >= min_said)
    take: dict[tuple[int, str], int] = {}
    for key, counts in tally.items():
        t, k = counts.most_common(1)[0]
        n = said[key]
        if n < min_said or k <= majority * n:
            continue
        p = base[(key[1], t)] / per_sop[key[1]]
        if binom.sf(k - 1, n, p) < alpha / tested:
            take[key] = t
    filled = state.copy()
    for i in off:
        t = take.get((int(rows[i]), sop_of[i]))
        if t is not None:
            filled[i] = t
    return filled
