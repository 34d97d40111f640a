"""A bundle's tests: golden cases and known deviations mined from real conversations.

A *case* is a trace: the steps of one kind of conversation of the workflow, in order,
with the conversation management, the off-script talk and consecutive repeats left out
(what the playbook speaks about), and the tool each step calls. :func:`mine_cases` groups
the workflow's conversations by trace and keeps every trace at least ``min_share`` of
them follow, not only the commonest:

- a *golden* case is a trace that conforms to the playbook: replayed, it must still
  conform;
- a *known deviation* is a trace that does not, with the deviations it raises (missing
  steps, order violations, approval gates skipped, undocumented process steps):
  replayed, it must still raise each of them.

:func:`replay` checks cases against a playbook with the conformance check of the drift
stage (:func:`pipeline.drift.conformance.check_trace`), so an edited playbook that would
flag last month's good conversations, or stop catching a known bad one, fails. Cases
hold step ids and counts only: no text, no conversation or customer id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from pipeline.drift.conformance import check_trace
from pipeline.process.variants import variant_id
from pipeline.sops.model import Sop

GOLDEN, DEVIATION = "golden", "deviation"
#: Deviation lists a known deviation case can expect (``TraceCheck`` attributes).
EXPECTABLE = ("missing", "order_violations", "skipped_gates", "undocumented")


@dataclass(frozen=True)
class Case:
    """One test of a bundle: a trace, what it must give, and how common it is."""

    name: str
    kind: str
    steps: tuple[str, ...]
    n: int
    share: float
    tools: tuple[str, ...] = ()
    expect: Mapping[str, tuple[str, ...]] = field(default_factory=dict, hash=False)
    gates: Mapping[str, bool] = field(default_factory=dict, hash=False)


@dataclass(frozen=True)
class Outcome:
    """A replayed case: passed or not, and why in words."""

    case: Case
    passed: bool
    reason: str


def mine_cases(
    traces: Mapping[str, Sequence[str]],
    sop: Sop,
    *,
    min_share: float,
    off_script: Collection[str] = (),
    gates: Mapping[str, Mapping[str, bool]] | None = None,
) -> list[Case]:
    """Group conversations by trace; one case per trace at least ``min_share`` follow.

    Parameters
    ----------
    traces
        Conversation -> its steps in order (repeats, management and ``other`` already
        left out by the caller, or left to ``off_script``).
    sop
        The playbook the cases are checked against now.
    min_share
        A trace followed by fewer than this share of the conversations gets no case.
    off_script
        Step ids of off-script talk (discovered clusters): left out of the traces.
    gates
        Conversation -> gated step -> whether its condition held (the gate outcomes of
        the conversation's data); a case keeps those of its first conversation.

    Returns
    -------
    list of Case
        Golden cases first, then known deviations, each by falling share.
    """
    dropped = set(off_script)
    counted: Counter[tuple[str, ...]] = Counter()
    first: dict[tuple[str, ...], str] = {}
    for conversation, steps in traces.items():
        trace = tuple(s for s in steps if s not in dropped)
        counted[trace] += 1
        first.setdefault(trace, conversation)
    total = sum(counted.values())
    cases = []
    for trace, n in counted.items():
        share = n / total if total else 0.0
        if not trace or share < min_share:
            continue
        held = dict((gates or {}).get(first[trace], {}))
        check = check_trace(sop, trace, gates=held)
        tools = tuple(sop.step(s).action for s in trace if s in sop.step_ids and sop.step(s).action)
        if check.is_conforming:
            cases.append(Case(f"golden-{variant_id(list(trace))}", GOLDEN, trace, n, share, tools))
            continue
        expect = {k: tuple(getattr(check, k)) for k in EXPECTABLE if getattr(check, k)}
        if not check.process_undocumented:
            expect.pop("undocumented", None)  # off-script talk is no finding to keep raising
        if expect:
            cases.append(Case(f"deviation-{variant_id(list(trace))}", DEVIATION, trace, n, share,
                              tools, expect, held))  # fmt: skip
    return sorted(cases, key=lambda c: (c.kind != GOLDEN, -c.share, c.name))


def replay(sop: Sop, cases: Sequence[Case]) -> list[Outcome]:
    """Check each case against ``sop``: golden cases must conform, deviations be raised."""
    outcomes = []
    for case in cases:
        check = check_trace(sop, case.steps, gates=dict(case.gates))
        if case.kind == GOLDEN:
            if check.is_conforming:
                outcomes.append(Outcome(case, True, "conforms"))
                continue
            found = [f"{k.replace('_', ' ')}: {', '.join(getattr(check, k))}"
                     for k in EXPECTABLE if getattr(check, k)]  # fmt: skip
            outcomes.append(Outcome(case, False, "now deviates (" + "; ".join(found) + ")"))
            continue
        lost = [f"{k.replace('_', ' ')}: {s}" for k, steps in case.expect.items()
                for s in steps if s not in getattr(check, k)]  # fmt: skip
        reason = "no longer raises " + "; ".join(lost) if lost else "still raises it"
        outcomes.append(Outcome(case, not lost, reason))
    return outcomes


def case_to_dict(case: Case) -> dict:
    """Return the YAML mapping of a case (empty parts left out)."""
    data = {"name": case.name, "kind": case.kind, "conversations": case.n,
            "share": round(case.share, 4), "steps": list(case.steps)}  # fmt: skip
    if case.tools:
        data["tools"] = list(case.tools)
    if case.expect:
        data["expect"] = {k: list(v) for k, v in case.expect.items()}
    if case.gates:
        data["gates"] = dict(case.gates)
    return data


def case_from_dict(data: Mapping, *, origin: str) -> Case:
    """Read a case written by :func:`case_to_dict`.

    Raises
    ------
    ValueError
        A field is missing or of the wrong type (the message names ``origin``).
    """
    try:
        kind = str(data["kind"])
        if kind not in (GOLDEN, DEVIATION):
            raise ValueError(f"kind {kind!r} is neither {GOLDEN} nor {DEVIATION}")
        expect = {str(k): tuple(map(str, v)) for k, v in (data.get("expect") or {}).items()}
        unknown = set(expect) - set(EXPECTABLE)
        if unknown:
            raise ValueError(f"expect: unknown deviation kind(s) {sorted(unknown)}")
        if kind == DEVIATION and not expect:
            raise ValueError("a known deviation needs expect")
        return Case(
            name=str(data["name"]),
            kind=kind,
            steps=tuple(map(str, data["steps"])),
            n=int(data.get("conversations", 0)),
            share=float(data.get("share", 0.0)),
            tools=tuple(map(str, data.get("tools") or ())),
            expect=expect,
            gates={str(k): bool(v) for k, v in (data.get("gates") or {}).items()},
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"{origin}: not a test case ({exc})") from None
