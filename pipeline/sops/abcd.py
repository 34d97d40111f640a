"""ABCD agent guidelines -> playbooks (one SOP per subflow, 55 in all).

Inputs: ``guidelines.json`` (flow display name -> subflow display name -> ordered
actions with ``button``, ``text`` and ``subtext``), ``kb.json`` (subflow key -> the
required action sequence, e.g. ``["pull-up-account", "verify-identity"]``) and,
optionally, ``ontology.json`` (flow key -> its subflow keys). The rule:

- Subflow names. A guideline subflow matches the kb key whose words (split at ``_``)
  all occur in its display name, the key with the most words winning ("Status Active"
  -> ``status_active``, not ``status``); four names share no word with their key and
  are listed in ``_SUBFLOW_ALIASES``. With the ontology, only the keys of the same flow
  ("Product Defect" -> ``product_defect``) are candidates. No match, two matches, two
  names on one key, or a kb key left over raises: nothing is skipped silently.
- Mandatory steps are the kb sequence, in kb order, each ``after`` the one before it,
  bound to the action name ABCD logs (which the ABCD adapter gives action turns).
  Guideline buttons name those actions: ``Pull up Account`` -> ``pull-up-account``;
  ``_BUTTON_ALIASES`` lists the few named differently, and an FAQ topic button
  (``Boots``) stands for ``search-<topic>``. A required action the guidelines never
  describe still becomes a mandatory step.
- Every other guideline action (``N/A`` communication, ``End Conversation``) is an
  optional step named after its button or its type, placed after the mandatory step it
  follows in the guidelines, with no ``after`` (the guidelines give no precedence).
- Descriptions are the guideline text with its sub-points; ABCD gives no example
  phrasings, so ``examples`` stays empty.
- Risk. ``moves_money``: the subflow's display name has one of ``_MONEY_WORDS`` (whole
  words), or its kb sequence has one of ``_MONEY_ACTIONS`` (refunds, promo-code credits,
  purchases). ``regulated``: the display name has one of ``_REGULATED_WORDS`` (card and
  payment details). These lists are the whole rule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.sops.model import Risk, Sop, Step

# Guideline subflow names that share no word with their kb key.
_SUBFLOW_ALIASES = {
    "Reset Two-Factor Auth": "reset_2fa",
    "Cart Not Updating": "shopping_cart",
    "Search Not Working": "search_results",
    "Website Too Slow": "slow_speed",
}
# Guideline button names (slugged) that differ from the kb action they stand for.
_BUTTON_ALIASES = {
    "membership-privileges": "membership",
    "notify-internal-team": "notify-team",
    "enter-detail": "enter-details",
    "select-answer": "select-faq",
}
_MONEY_ACTIONS = ("offer-refund", "promo-code", "make-purchase")
_MONEY_WORDS = ("refund", "credit", "bill", "billing", "fee", "price", "cost", "pay")
_REGULATED_WORDS = ("payment method", "credit card", "pay bill")


def read_abcd_sops(guidelines: Path, kb: Path, ontology: Path | None = None) -> list[Sop]:
    """Convert ABCD guidelines and required action sequences to playbooks.

    Parameters
    ----------
    guidelines, kb, ontology
        ABCD's ``guidelines.json``, ``kb.json`` and (optional) ``ontology.json``.

    Returns
    -------
    list of Sop
        One per subflow, in guideline order.

    Raises
    ------
    InputError
        An input is unreadable, or a subflow cannot be matched one to one.
    """
    guide, sequences = _load(guidelines), _load(kb)
    flows = None
    if ontology is not None:
        try:
            flows = dict(_load(ontology)["intents"]["subflows"])
        except (KeyError, TypeError, ValueError):
            raise InputError(
                f"{ontology}: expected ABCD's ontology.json (intents.subflows)"
            ) from None
    if not isinstance(guide, dict) or not isinstance(sequences, dict):
        raise InputError(f"{guidelines}, {kb}: expected ABCD's guidelines.json and kb.json")
    sops: list[Sop] = []
    matched: dict[str, str] = {}
    for flow_name, flow in guide.items():
        candidates = list(sequences)
        if flows is not None:
            flow_key = _slug(flow_name).replace("-", "_")
            if flow_key not in flows:
                raise InputError(
                    f"{ontology}: no flow {flow_key!r} for guideline flow {flow_name!r}; "
                    f"ontology flows: {', '.join(flows)}"
                )
            candidates = [k for k in flows[flow_key] if k in sequences]
        for display, subflow in flow["subflows"].items():
            key = match_subflow(display, candidates)
            if key in matched:
                raise InputError(
                    f"{guidelines}: subflows {matched[key]!r} and {display!r} both match "
                    f"kb key {key!r}; add one to _SUBFLOW_ALIASES"
                )
            matched[key] = display
            sops.append(subflow_to_sop(key, display, flow_name, subflow, sequences[key]))
    missing = [key for key in sequences if key not in matched]
    if missing:
        raise InputError(f"{kb}: subflows with no guideline: {', '.join(missing)}")
    return sops


def match_subflow(display: str, candidates: list[str]) -> str:
    """Return the kb key of a guideline subflow name (the module's matching rule).

    Raises
    ------
    InputError
        No candidate, or more than one equally good candidate, matches.
    """
    if display in _SUBFLOW_ALIASES:
        key = _SUBFLOW_ALIASES[display]
        if key not in candidates:
            raise InputError(f"guideline subflow {display!r}: alias {key!r} is not in kb.json")
        return key
    words = set(re.findall(r"[a-z0-9]+", display.lower()))
    fits = [k for k in candidates if set(k.split("_")) <= words]
    best = max((len(k.split("_")) for k in fits), default=0)
    fits = [k for k in fits if len(k.split("_")) == best]
    if len(fits) != 1:
        found = f"candidates {', '.join(fits)}" if fits else "no kb key"
        raise InputError(
            f"guideline subflow {display!r}: {found} fits; expected exactly one of "
            f"{', '.join(candidates)}; add it to _SUBFLOW_ALIASES"
        )
    return fits[0]


def subflow_to_sop(
    key: str, display: str, flow_name: str, subflow: dict[str, Any], required: list[str]
) -> Sop:
    """Apply the module's rule to one subflow (``required``: its kb.json sequence)."""
    pending = list(enumerate(required))  # kb positions not yet described
    described: dict[int, str] = {}  # kb position -> guideline text
    optional: dict[int, list[dict[str, Any]]] = {}  # kb position it follows (-1: none)
    last = -1
    for action in subflow.get("actions", []):
        name = _action_name(action.get("button") or "", required)
        text = _describe(action)
        slot = next((i for i, n in pending if n == name), None)
        if slot is None:
            optional.setdefault(last, []).append({"name": name, "action": action, "text": text})
            continue
        pending.remove((slot, name))
        described[slot] = text
        last = slot
    steps: list[Step] = []
    taken: set[str] = set()

    def add_optional(position: int) -> None:
        for item in optional.get(position, []):
            name = item["name"]
            base = name if name and name != "n-a" else _slug(item["action"].get("type", "step"))
            step_id = _unique(base or "step", taken)
            is_button = base == name and item["action"].get("type") != "communication"
            steps.append(
                Step(
                    id=step_id,
                    description=item["text"],
                    action=name if is_button else None,
                    mandatory=False,
                )
            )
            taken.add(step_id)

    add_optional(-1)
    previous: str | None = None
    for position, name in enumerate(required):
        step_id = _unique(name, taken)
        steps.append(
            Step(
                id=step_id,
                description=described.get(position, f"Use [{name}]"),
                action=name,
                mandatory=True,
                after=(previous,) if previous else (),
            )
        )
        taken.add(step_id)
        previous = step_id
        add_optional(position)
    return Sop(
        sop_id=key,
        version=1,
        intent=(key,),
        steps=tuple(steps),
        risk=_risk(display, required),
        description=f"ABCD {flow_name}: {display}",
        source=f"abcd:{key}",
    )


def _action_name(button: str, required: list[str]) -> str:
    name = _BUTTON_ALIASES.get(_slug(button), _slug(button))
    if name not in required and f"search-{name}" in required:  # FAQ topic buttons
        return f"search-{name}"
    return name


def _describe(action: dict[str, Any]) -> str:
    points = (f"- {point.strip()}" for point in action.get("subtext", []))
    return " ".join([action.get("text", "").strip(), *points]).strip()


def _risk(display: str, required: list[str]) -> Risk:
    name = " ".join(re.findall(r"[a-z0-9]+", display.lower()))
    words = set(name.split())
    return Risk(
        moves_money=bool(words & set(_MONEY_WORDS)) or any(a in required for a in _MONEY_ACTIONS),
        regulated=any(re.search(rf"\b{phrase}\b", name) for phrase in _REGULATED_WORDS),
    )


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _unique(base: str, taken: set[str]) -> str:
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _load(path: Path) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: cannot read as JSON ({exc})") from None
