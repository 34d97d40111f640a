"""ABCD agent guidelines -> playbooks (one SOP per subflow, 55 in all).

Inputs: ``guidelines.json`` (flow display name -> subflow display name -> ordered
actions with ``button``, ``text`` and ``subtext``) and ``kb.json`` (subflow key -> the
required action sequence, e.g. ``["pull-up-account", "verify-identity"]``). The rule:

- Subflow display names are matched to kb keys through ``ontology.json``'s flow ->
  subflows lists, position by position within a flow (both list a flow's subflows in
  the same order); without the ontology, by the same order in ``kb.json``. A subflow
  that cannot be matched raises.
- A guideline action whose button (``Pull up Account`` -> ``pull-up-account``; a few
  buttons are named differently, see ``_ALIASES``) is in the kb sequence is a mandatory
  step, bound to that action (the name ABCD logs, which the ABCD adapter gives action
  turns); each is ``after`` the previous one of the kb sequence. Required actions missing
  from the guidelines are added as mandatory steps. Other guideline actions
  (communication, FAQ lookups, optional buttons) are optional steps.
- Descriptions are the guideline text with its sub-points; ABCD gives no example
  phrasings, so ``examples`` is empty.
- Risk: ``moves_money`` when the kb sequence offers a refund or charges, or the subflow
  is about a bill, a refund, a price adjustment or a disputed charge; ``regulated`` when
  it changes payment details. These keyword lists are the whole rule.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pipeline.errors import InputError
from pipeline.sop import Risk, Sop, Step

_MONEY_ACTIONS = ("offer-refund", "make-purchase")
# Guideline button names that differ from the kb action they stand for.
_ALIASES = {
    "membership-privileges": "membership",
    "notify-internal-team": "notify-team",
    "enter-detail": "enter-details",
    "select-answer": "select-faq",
}
_MONEY_SUBFLOWS = ("refund", "bill", "bad_price", "mistimed_billing", "promo_code", "fee")
_REGULATED_SUBFLOWS = ("payment_method", "credit_card", "pay_bill")


def read_abcd_sops(guidelines: Path, kb: Path, ontology: Path | None = None) -> list[Sop]:
    """Convert ABCD guidelines and required action sequences to playbooks.

    Raises
    ------
    InputError
        An input is unreadable, or a guideline subflow has no kb entry.
    """
    guide, sequences = _load(guidelines), _load(kb)
    flows = _load(ontology)["intents"] if ontology else None
    sops = []
    for flow_name, flow in guide.items():
        keys = _subflow_keys(flow_name, list(flow["subflows"]), flows, sequences)
        for (display, subflow), key in zip(flow["subflows"].items(), keys, strict=True):
            sops.append(subflow_to_sop(key, display, flow_name, subflow, sequences[key]))
    missing = sorted(set(sequences) - {s.sop_id for s in sops})
    if missing:
        raise InputError(f"{kb}: subflows with no guideline: {', '.join(missing)}")
    return sops


def subflow_to_sop(
    key: str, display: str, flow_name: str, subflow: dict[str, Any], required: list[str]
) -> Sop:
    """Apply the module's rule to one subflow."""
    steps: list[Step] = []
    used: set[str] = set()
    previous: str | None = None
    pending = list(required)
    for action in subflow.get("actions", []):
        name = _slug(action.get("button") or "")
        name = _ALIASES.get(name, name)
        if name not in pending and f"search-{name}" in pending:  # FAQ topic buttons
            name = f"search-{name}"
        text = " ".join(
            [
                action.get("text", "").strip(),
                *(f"- {point.strip()}" for point in action.get("subtext", [])),
            ]
        ).strip()
        if name in pending and name not in used:
            pending.remove(name)
            steps.append(
                Step(
                    id=name,
                    description=text,
                    action=name,
                    mandatory=True,
                    after=(previous,) if previous else (),
                )
            )
            previous = name
        else:
            base = (
                name
                if name and name != "n-a"
                else action.get("type", "step").replace("/", "-").replace(" ", "-")
            )
            step_id = _unique(base, used | {s.id for s in steps})
            is_button = bool(name) and name != "n-a" and action.get("type") != "communication"
            steps.append(
                Step(
                    id=step_id,
                    description=text,
                    mandatory=False,
                    action=name if is_button else None,
                )
            )
        used.add(steps[-1].id)
    for name in pending:  # required but not described in the guidelines
        steps.append(
            Step(
                id=_unique(name, used),
                description=f"Use [{name}]",
                action=name,
                mandatory=True,
                after=(previous,) if previous else (),
            )
        )
        used.add(steps[-1].id)
        previous = steps[-1].id
    moves_money = any(a in required for a in _MONEY_ACTIONS) or any(
        k in key for k in _MONEY_SUBFLOWS
    )
    return Sop(
        sop_id=key,
        version=1,
        intent=(key,),
        steps=tuple(steps),
        risk=Risk(moves_money=moves_money, regulated=any(k in key for k in _REGULATED_SUBFLOWS)),
        description=f"ABCD {flow_name}: {display}",
        source=f"abcd:{key}",
    )


def _subflow_keys(
    flow_name: str, displays: list[str], flows: dict[str, Any] | None, sequences: dict[str, Any]
) -> list[str]:
    if flows is not None:
        flow_key = _slug(flow_name).replace("-", "_")
        keys = flows["subflows"].get(flow_key)
        if keys is None or len(keys) != len(displays):
            raise InputError(f"guidelines flow {flow_name!r} has no matching ontology flow")
        return list(keys)
    # Without the ontology: kb.json lists subflows flow by flow in guideline order.
    raise InputError("ontology.json is needed to match guideline subflows to kb.json keys")


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
