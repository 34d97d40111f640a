"""The step library: documented SOPs as step types with phrasings, bindings and order.

SOPs become step types (:func:`step_library`); one id in several SOPs is one type. A
step is matched by its example phrasings and its description; a step given only a
button label while its SOP words other steps (a decision outcome, a tool call) is
matched through its ``action`` binding alone. A phrasing with slots (``{balance:d}``)
is also a pattern: a reply that fills it scores 1.0; for embedding, the slot is
replaced by its name.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from pipeline.config import (
    DEFAULT_CLOSING_PHRASINGS,
    DEFAULT_GREETING_PHRASINGS,
    DEFAULT_HOLD_PHRASINGS,
)
from pipeline.sops.model import Sop

GREETING, CLOSING, HOLD = "greeting", "closing", "hold"
#: Generic phrasings of the conversation-management steps, per role (``steps.*_phrasings``
#: in config.yaml). A hold (asking the customer to wait, thanking them for it) can come
#: anywhere in a call.
ROLE_PHRASINGS: dict[str, tuple[str, ...]] = {
    GREETING: DEFAULT_GREETING_PHRASINGS,
    CLOSING: DEFAULT_CLOSING_PHRASINGS,
    HOLD: DEFAULT_HOLD_PHRASINGS,
}
_SLOT = re.compile(r"\{(\w+)(?::(\w*))?\}")
_TOKEN = re.compile(r"\w+|[^\w\s]")  # a word, or one punctuation mark
_NUMBER = r"(?:[-+]?\d[\d,.]*|<[A-Z_]+>)"  # a number, or a redaction placeholder


@dataclass(frozen=True)
class StepLibrary:
    """The step types of a SOP library, ready to score turns against.

    Attributes
    ----------
    type_ids, labels, sop_steps
        Per type: its id, a readable label, the ``sop_id/step_id`` it stands for.
    generic
        Per type: whether it is a built-in role type (greeting, closing, hold).
    proto_type, proto_texts, proto_patterns, proto_anchors, proto_sops, proto_templates
        Per phrasing: its type, its text with slots named, its template pattern, the
        pattern's longest literal word (lowercase: a cheap test before the pattern), the
        SOPs that word the step so, and the phrasing as documented (slots kept).
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
    proto_templates: tuple[str, ...]
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
    other slot one or more characters. The template's words must all be there, in
    order; case, whitespace and its punctuation are not held to (agents drop the quotes
    around ``'{hotel_name:s}'`` and the closing full stop). A text without slots, or of
    slots only, gives None.
    """
    text = " ".join(text.split())
    if not _SLOT.search(text) or not re.search(r"\w", _SLOT.sub("", text)):
        return None  # no slot, or nothing but slots: no pattern to recognise
    parts, last = [], 0
    for match in _SLOT.finditer(text):
        parts += _literal(text[last : match.start()])
        parts.append(_NUMBER if match.group(2) == "d" else ".+?")
        last = match.end()
    parts += _literal(text[last:])
    return re.compile(r"\s*".join(parts), re.IGNORECASE | re.DOTALL)


def _literal(text: str) -> list[str]:
    """Return a literal part's tokens as patterns: words required, punctuation optional."""
    tokens = _TOKEN.findall(text)
    return [re.escape(t) if re.match(r"\w", t) else f"{re.escape(t)}?" for t in tokens]


def template_parts(text: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """Return the slot names of ``text`` and its literal words (runs of word characters)."""
    slots = tuple(match.group(1) for match in _SLOT.finditer(text))
    return slots, tuple(re.findall(r"\w+", _SLOT.sub(" ", text)))


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
        type, used only where no SOP step plays the role. A role without phrasings is
        left out.

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
        if not phrases:
            continue
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
            max(re.findall(r"\w+", _SLOT.sub(" ", p)) or [""], key=len).lower()
            for _, p, _ in phrasings
        ),
        proto_sops=tuple(s for _, _, s in phrasings),
        proto_templates=tuple(p for _, p, _ in phrasings),
        members=members,
        bindings=bindings,
        expected=expected,
        starts=starts,
    )


def _expected_next(
    sop: Sop, type_of: dict[str, int], observable: set[str]
) -> dict[int, frozenset[int]]:
    """Map each type to the types the SOP expects next (``next`` and ``after``).

    Steps never observed (decision outcomes) are looked through. A SOP that gives no
    ``next`` is a partial order (:func:`_may_follow`): its ``after`` lists say what comes
    before what, not what comes straight after.
    """
    if not any(step.next for step in sop.steps):
        return _may_follow(sop, type_of, observable)
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


def _may_follow(
    sop: Sop, type_of: dict[str, int], observable: set[str]
) -> dict[int, frozenset[int]]:
    """Map each type to the types that may come straight after it in the partial order.

    ``t`` may follow ``s`` in some order the ``after`` lists allow when ``t`` is not
    required before ``s`` and nothing required before ``t`` is required after ``s``:
    two steps that are both ``after: [verify_identity]`` may come in either order, and
    a step of no ``after`` may come anywhere. Unobserved steps drop out of the order,
    their constraints kept (the closure is taken first). Cost O(steps^3), per SOP.
    """
    ids = [step.id for step in sop.steps]
    before: dict[str, set[str]] = {step.id: set(step.after) for step in sop.steps}
    for k in ids:  # transitive closure (Warshall): before[x] = everything required before x
        for x in ids:
            if k in before[x]:
                before[x] |= before[k]
    seen = [s for s in ids if s in observable]
    later = {s: {t for t in seen if s in before[t]} for s in seen}  # unsaid steps: silent
    return {
        type_of[s]: frozenset(
            type_of[t] for t in seen if t != s and t not in before[s] and not before[t] & later[s]
        )
        for s in seen
    }
