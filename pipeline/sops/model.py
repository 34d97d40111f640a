"""Playbooks (SOPs): validate and save the YAML format of DESIGN.md.

The same schema holds documented SOPs, mined drafts and the playbook of a bundle (with
its approval and ``observed`` evidence). Validation errors are one line naming the file,
the step and the problem; reading files is :mod:`pipeline.sops.files`.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field, fields
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from pipeline.config import describe_value
from pipeline.errors import SopError
from pipeline.sops.gates import parse_condition

_STEP_ID = re.compile(r"^[A-Za-z0-9_.\-]+$")
_NO_FOLDING = 1 << 30  # YAML line width: long descriptions stay on one line


@dataclass(frozen=True)
class Risk:
    """Risk flags of a workflow."""

    moves_money: bool = False
    regulated: bool = False


#: What a step is. ``process``: work the workflow does (checked, drifts). ``management``:
#: conversation management (greeting, closing, "anything else?", hold, out of scope),
#: never required and never a deviation. ``outcome``: a decision outcome of the
#: flowchart (what happened, "query failed"), not something an agent does.
STEP_KINDS = ("process", "management", "outcome")


@dataclass(frozen=True)
class Step:
    """One step of a playbook."""

    id: str
    description: str = ""
    examples: tuple[str, ...] = ()
    action: str | None = None
    mandatory: bool = True
    after: tuple[str, ...] = ()
    when: str | None = None
    next: tuple[str, ...] = ()
    kind: str = "process"

    @property
    def is_process(self) -> bool:
        """Whether the step is work of the workflow (:data:`STEP_KINDS`)."""
        return self.kind == "process"

    @property
    def decision(self) -> str:
        """Its entry in a decision table: mandatory, discretionary, an approval gate, or its kind.

        ``approval gate when <condition>`` for a step with ``when``; a management or
        outcome step is its kind (nothing to decide).
        """
        if not self.is_process:
            return self.kind
        if self.when is not None:
            return f"approval gate when {self.when}"
        return "mandatory" if self.mandatory else "discretionary"


@dataclass(frozen=True)
class Sop:
    """A versioned playbook."""

    sop_id: str
    version: int
    intent: tuple[str, ...]
    steps: tuple[Step, ...]
    risk: Risk = field(default_factory=Risk)
    description: str = ""
    source: str = ""
    # Governance: who approved this version, and when (ISO date); empty when unapproved.
    approved_by: str = ""
    approved_at: str = ""
    # What the transcripts show about the playbook (a bundle's evidence: support per step,
    # tool calls, branch shares, proposed gates, the content hash); never checked against.
    observed: dict[str, Any] = field(default_factory=dict, hash=False)

    def step(self, step_id: str) -> Step:
        """Return the step with this id (KeyError if absent)."""
        for step in self.steps:
            if step.id == step_id:
                return step
        raise KeyError(step_id)

    @property
    def step_ids(self) -> tuple[str, ...]:
        """Step ids in document order."""
        return tuple(step.id for step in self.steps)


_TOP_KEYS = ("sop_id", "version", "intent", "description", "source", "steps", "risk",
             "approved_by", "approved_at", "observed")  # fmt: skip
_STEP_KEYS = tuple(f.name for f in fields(Step))
_RISK_KEYS = tuple(f.name for f in fields(Risk))


def parse_sop(data: Any, *, origin: str) -> Sop:
    """Validate a parsed YAML mapping into a :class:`Sop`.

    Parameters
    ----------
    data
        The parsed YAML document.
    origin
        Names the file in error messages.

    Returns
    -------
    Sop
        ``intent`` is always a tuple (YAML may give a string or a list; without it, the
        sop_id); omitted step keys take the :class:`Step` defaults.

    Raises
    ------
    SopError
        One line naming ``origin``, the step and the problem.
    """
    if not isinstance(data, dict):
        raise SopError(
            f"{origin}: expected a mapping with sop_id, version and steps, "
            f"found {describe_value(data)}"
        )
    _unknown(data, _TOP_KEYS, origin, "")
    for key in ("sop_id", "version", "steps"):
        if key not in data:
            raise SopError(f"{origin}: missing {key}; a playbook needs sop_id, version and steps")
    sop_id = _text(data["sop_id"], origin, "sop_id")
    if not sop_id or not _STEP_ID.match(sop_id):
        raise SopError(f"{origin}: sop_id {sop_id!r} must be letters, digits, '_', '.', '-'")
    version = data["version"]
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise SopError(f"{origin}: version: expected a positive integer, found {version!r}")
    intent = data.get("intent", sop_id)
    intents = _texts([intent] if isinstance(intent, str) else intent, origin, "intent")
    raw_steps = data["steps"]
    if not isinstance(raw_steps, list) or not raw_steps:
        raise SopError(f"{origin}: steps: expected a non-empty list of steps")
    steps = tuple(_parse_step(raw, origin, i) for i, raw in enumerate(raw_steps))
    _check_references(steps, origin)
    risk = data.get("risk") or {}
    if not isinstance(risk, dict):
        raise SopError(f"{origin}: risk: expected a mapping of {', '.join(_RISK_KEYS)}")
    _unknown(risk, _RISK_KEYS, origin, "risk: ")
    for key, value in risk.items():
        if not isinstance(value, bool):
            raise SopError(f"{origin}: risk.{key}: expected true or false, found {value!r}")
    return Sop(
        sop_id=sop_id,
        version=version,
        intent=intents,
        steps=steps,
        risk=Risk(**risk),
        description=_text(data.get("description", ""), origin, "description"),
        source=_text(data.get("source", ""), origin, "source"),
        approved_by=_text(data.get("approved_by", ""), origin, "approved_by"),
        approved_at=_date(data.get("approved_at", ""), origin),
        observed=_observed(data.get("observed") or {}, origin),
    )


def _date(value: Any, origin: str) -> str:
    """``approved_at``: an ISO date (YAML may give a date), as text."""
    text = value.isoformat() if isinstance(value, date) else _text(value, origin, "approved_at")
    if text and not re.fullmatch(r"\d{4}-\d{2}-\d{2}(T.*)?", text):
        raise SopError(f"{origin}: approved_at: expected an ISO date (2026-05-04), found {text!r}")
    return text


def _observed(value: Any, origin: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise SopError(f"{origin}: observed: expected a mapping, found {describe_value(value)}")
    return value


def _parse_step(raw: Any, origin: str, index: int) -> Step:
    if not isinstance(raw, dict) or "id" not in raw:
        raise SopError(f"{origin}: steps[{index}]: expected a mapping with an id")
    step_id = raw["id"]
    if not isinstance(step_id, str) or not _STEP_ID.match(step_id):
        raise SopError(
            f"{origin}: steps[{index}]: id {step_id!r} must be letters, digits, '_', '.', '-'"
        )
    where = f"step {step_id}"
    _unknown(raw, _STEP_KEYS, origin, f"{where}: ")
    mandatory = raw.get("mandatory", True)
    if not isinstance(mandatory, bool):
        raise SopError(f"{origin}: {where}: mandatory: expected true or false, found {mandatory!r}")
    kind = raw.get("kind", "process")
    if kind not in STEP_KINDS:
        raise SopError(
            f"{origin}: {where}: kind: expected one of {', '.join(STEP_KINDS)}, found {kind!r}"
        )
    action, when = raw.get("action"), raw.get("when")
    if when is not None:
        when = _condition(_text(when, origin, f"{where}: when"), origin, where)
    return Step(
        id=step_id,
        description=_text(raw.get("description", ""), origin, f"{where}: description"),
        examples=_texts(raw.get("examples", []), origin, f"{where}: examples"),
        action=None if action is None else _text(action, origin, f"{where}: action"),
        mandatory=mandatory,
        after=_texts(raw.get("after", []), origin, f"{where}: after"),
        when=when,
        next=_texts(raw.get("next", []), origin, f"{where}: next"),
        kind=kind,
    )


def _condition(when: str, origin: str, where: str) -> str:
    """Return ``when`` if it is a gate condition (:mod:`pipeline.sops.gates`), else raise."""
    try:
        parse_condition(when)
    except SopError as exc:
        raise SopError(f"{origin}: {where}: when: {exc}; put prose in the description") from None
    return when


def _check_references(steps: tuple[Step, ...], origin: str) -> None:
    ids = [s.id for s in steps]
    seen: set[str] = set()
    for step_id in ids:
        if step_id in seen:
            raise SopError(f"{origin}: step {step_id}: duplicate step id")
        seen.add(step_id)
    listing = ", ".join(ids)
    for step in steps:
        for key in ("after", "next"):
            for ref in getattr(step, key):
                if ref == step.id:
                    raise SopError(f"{origin}: step {step.id}: {key} names the step itself")
                if ref not in seen:
                    raise SopError(
                        f"{origin}: step {step.id}: {key} names unknown step {ref!r} "
                        f"(steps: {listing})"
                    )
    cycle = _find_cycle({s.id: s.after for s in steps})
    if cycle:
        raise SopError(
            f"{origin}: step {cycle[0]}: 'after' constraints form a cycle: {' -> '.join(cycle)}"
        )


def _find_cycle(after: dict[str, tuple[str, ...]]) -> list[str] | None:
    """Return one cycle of the precedence graph as a path, or None (iterative DFS)."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = done
    for root in after:
        if state.get(root):
            continue
        stack: list[tuple[str, int]] = [(root, 0)]
        path: list[str] = []
        while stack:
            node, i = stack.pop()
            if i == 0:
                state[node] = 1
                path.append(node)
            preds = after[node]
            if i < len(preds):
                stack.append((node, i + 1))
                nxt = preds[i]
                if state.get(nxt) == 1:
                    return path[path.index(nxt) :] + [nxt]
                if not state.get(nxt):
                    stack.append((nxt, 0))
            else:
                state[node] = 2
                path.pop()
    return None


def _unknown(data: dict, allowed: tuple[str, ...], origin: str, where: str) -> None:
    unknown = sorted(set(map(str, data)) - set(allowed))
    if unknown:
        raise SopError(
            f"{origin}: {where}unknown key {unknown[0]!r}; allowed: {', '.join(allowed)}"
        )


def _text(value: Any, origin: str, where: str) -> str:
    if not isinstance(value, str):
        raise SopError(f"{origin}: {where}: expected a string, found {describe_value(value)}")
    return value


def _texts(value: Any, origin: str, where: str) -> tuple[str, ...]:
    if not isinstance(value, list):
        raise SopError(
            f"{origin}: {where}: expected a list of strings, found {describe_value(value)}; "
            "write [a, b] or one '- item' a line"
        )
    for item in value:
        if not isinstance(item, str):
            raise SopError(
                f"{origin}: {where}: expected a list of strings, found {describe_value(item)}"
            )
    return tuple(value)


def sop_to_dict(sop: Sop) -> dict[str, Any]:
    """Return the YAML mapping of a playbook: DESIGN.md key order, empty defaults omitted."""
    data: dict[str, Any] = {"sop_id": sop.sop_id, "version": sop.version}
    data["intent"] = sop.intent[0] if len(sop.intent) == 1 else list(sop.intent)
    if sop.description:
        data["description"] = sop.description
    if sop.source:
        data["source"] = sop.source
    data["steps"] = []
    for step in sop.steps:
        item: dict[str, Any] = {"id": step.id}
        if step.description:
            item["description"] = step.description
        if step.examples:
            item["examples"] = list(step.examples)
        if step.action is not None:
            item["action"] = step.action
        if step.after:
            item["after"] = list(step.after)
        if step.next:
            item["next"] = list(step.next)
        if step.when is not None:
            item["when"] = step.when
        item["mandatory"] = step.mandatory
        if step.kind != "process":
            item["kind"] = step.kind
        data["steps"].append(item)
    data["risk"] = {"moves_money": sop.risk.moves_money, "regulated": sop.risk.regulated}
    for key in ("approved_by", "approved_at"):
        if getattr(sop, key):
            data[key] = getattr(sop, key)
    if sop.observed:
        data["observed"] = sop.observed
    return data


def content_hash(sop: Sop) -> str:
    """Return 16 hex digits of sha256 over what the playbook prescribes.

    The steps, their order, kinds, bindings and gates, and the risk flags: not the
    version, the approval, the description or the ``observed`` evidence, so the same
    procedure keeps its hash when only its evidence or its version number changes.
    """
    data = sop_to_dict(sop)
    prescribed = {"steps": data["steps"], "risk": data["risk"]}
    text = json.dumps(prescribed, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def sop_to_yaml(sop: Sop) -> str:
    """Render a playbook as stable, readable YAML."""
    return yaml.safe_dump(
        sop_to_dict(sop),
        sort_keys=False,
        allow_unicode=True,
        width=_NO_FOLDING,
        default_flow_style=False,
    )


def save_sop(sop: Sop, path: str | Path) -> Path:
    """Write a playbook's YAML; return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(sop_to_yaml(sop), encoding="utf-8")
    return path
