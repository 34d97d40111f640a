"""STAR task flowcharts -> playbooks (one SOP per task).

A flowchart JSON (``tasks/<task>/<task>.json``) has ``replies`` (step id -> the canonical
wording) and ``graph`` (step -> its one next step). Decision outcomes (``query_success``
/ ``query_failure``, ``available`` / ``unavailable``, ``yes`` / ``no``, ``info_missing*``)
are the yellow boxes of the flowchart pictures: not something the agent says, but what
happened. ``graph`` gives them outgoing edges and no incoming one, because it can hold
only one successor per step. The conversion rule:

1. Edges are ``graph``'s, plus each decision outcome without an incoming edge attached
   to the step it answers: ``available``/``unavailable`` to ``query_check``;
   ``query_success``/``query_failure`` to the one query step (``query``,
   ``query_check``, ``query_book``) that is a dead end in ``graph`` and not already
   answered by ``available``/``unavailable``; ``yes``/``no`` to the one dead end
   reachable from the start without passing a negative outcome (``unavailable``,
   ``query_failure``) that is neither a query, a closing (``anything_else``, ``*bye*``)
   nor an outcome. Where that is not exactly one step, the outcomes stay unattached.
   ``info_missing*`` stay unattached: the charts do not say which request they answer.
2. The start is ``hello`` (else the first step without a predecessor). Mandatory steps
   are the steps, other than decision outcomes, on every path from the start to an end
   (they dominate every reachable dead end). Everything else is optional; decision
   outcomes carry their condition in ``when``.
3. ``after`` is the nearest mandatory step that dominates the step, for every step
   reachable from the start (the transitive reduction of the precedence the chart
   implies); unreachable steps (out of scope, goodbyes outside the graph, recovery
   branches) get none.
4. Query steps are bound to ``<task>.query``: the STAR adapter names API calls
   ``<APIName>.query`` and STAR's API name is the task folder's name. ``query_check``
   and ``query_book`` share that binding (the call's ``RequestType`` tells them apart).
5. ``description`` is the canonical wording, slots (``{balance:d}``) kept verbatim;
   ``examples`` holds it too, except for query steps and decision outcomes, whose
   wording is a button label ("Query", "Failed") no agent says.
6. Steps are listed in flow order (breadth first from the start), then the unreachable
   ones in ``replies`` order.

The SOP id and intent are the task folder's name, which is what STAR's scenarios and
``cxminer labels`` call the task (the JSON's own ``task`` field differs for some).
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline.errors import InputError
from pipeline.sop import Sop, Step

_OUTCOMES = {
    "query_success": "query succeeded",
    "query_failure": "query failed",
    "available": "the check found availability",
    "unavailable": "the check found no availability",
    "yes": "the customer says yes",
    "no": "the customer says no",
}
_MISSING_INFO = "the customer cannot give the requested details"
_NEGATIVE = ("unavailable", "query_failure")
_QUERIES = ("query", "query_check", "query_book")
_CLOSINGS = ("anything_else", "bye", "goodbye")


def star_task_files(paths: Iterable[Path]) -> list[Path]:
    """Task JSON files under the given task folders, ``tasks/`` folders, STAR root or files.

    Raises
    ------
    InputError
        A path is missing, or a folder holds no task flowchart.
    """
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            found = [path]
        elif (path / f"{path.name}.json").is_file():
            found = [path / f"{path.name}.json"]
        elif path.is_dir():
            folder = path / "tasks" if (path / "tasks").is_dir() else path
            found = sorted(
                child / f"{child.name}.json"
                for child in folder.iterdir()
                if (child / f"{child.name}.json").is_file()
            )
            if not found:
                raise InputError(
                    f"{path}: no STAR task flowchart (<task>/<task>.json) in this folder; "
                    "pass STAR's tasks/ folder or task folders"
                )
        else:
            raise InputError(f"{path}: no such STAR task file or folder")
        files.extend(f for f in found if f not in files)
    return files


def read_star_sops(paths: Sequence[Path]) -> list[Sop]:
    """Convert STAR task flowcharts to playbooks.

    Parameters
    ----------
    paths
        Task folders, task JSON files, the ``tasks/`` folder or STAR's root folder.

    Returns
    -------
    list of Sop
        One per task, sorted by folder within each given path.

    Raises
    ------
    InputError
        A path is missing or is not a STAR flowchart.
    """
    sops = []
    for file in star_task_files(paths):
        try:
            chart = json.loads(file.read_text(encoding="utf-8"))
            replies, graph = chart["replies"], chart["graph"]
            if not isinstance(replies, dict) or not isinstance(graph, dict) or not replies:
                raise TypeError("replies and graph must be mappings")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{file}: not a STAR task flowchart ({exc})") from None
        sops.append(flowchart_to_sop(file.stem, replies, graph, title=chart.get("task", "")))
    return sops


def flowchart_to_sop(
    task: str, replies: dict[str, str], graph: dict[str, str], *, title: str = ""
) -> Sop:
    """Apply the module's conversion rule to one flowchart."""
    edges: dict[str, list[str]] = {step: [] for step in replies}
    for source, target in graph.items():  # graph may name steps without a reply
        edges.setdefault(source, []).append(target)
        edges.setdefault(target, [])
    start = "hello" if "hello" in edges else _first_source(edges)
    _attach_outcomes(edges, start)
    reachable = _reachable(edges, start)
    dominators = _dominators(edges, start, reachable)
    ends = [s for s in reachable if not edges[s]]
    mandatory = set(reachable) - set(_OUTCOMES)
    for end in ends:
        mandatory &= dominators[end]
    order = reachable + [s for s in edges if s not in dominators]
    steps = []
    for step_id in order:
        after: tuple[str, ...] = ()
        if step_id in dominators and step_id != start:
            nearest = [d for d in _strict_dominators(dominators, step_id) if d in mandatory]
            after = tuple(nearest[:1])
        is_label = step_id in _OUTCOMES or step_id in _QUERIES or _is_missing_info(step_id)
        wording = replies.get(step_id, "")
        steps.append(
            Step(
                id=step_id,
                description=wording,
                examples=(wording,) if wording and not is_label else (),
                action=f"{task}.query" if step_id in _QUERIES else None,
                mandatory=step_id in mandatory,
                after=after,
                when=_MISSING_INFO if _is_missing_info(step_id) else _OUTCOMES.get(step_id),
                next=tuple(edges[step_id]),
            )
        )
    return Sop(
        sop_id=task,
        version=1,
        intent=(task,),
        steps=tuple(steps),
        description=f"STAR task flowchart {title or task}",
        source=f"star:{task}",
    )


def _attach_outcomes(edges: dict[str, list[str]], start: str) -> None:
    incoming = {t for targets in edges.values() for t in targets}
    dead_queries = [q for q in _QUERIES if q in edges and not edges[q]]
    loose = [o for o in _OUTCOMES if o in edges and o not in incoming]
    check = [o for o in ("available", "unavailable") if o in loose]
    if check and "query_check" in edges:
        edges["query_check"].extend(check)
    answered = {"query_check"} if check else set()
    results = [o for o in ("query_success", "query_failure") if o in loose]
    parents = [q for q in dead_queries if q not in answered]
    if results and len(parents) == 1:
        edges[parents[0]].extend(results)
    answers = [o for o in ("yes", "no") if o in loose]
    if answers:
        positive = _reachable(edges, start, avoid=_NEGATIVE)
        questions = [
            s
            for s in positive
            if not edges[s]
            and s not in _OUTCOMES
            and s not in _QUERIES
            and not any(c in s for c in _CLOSINGS)
        ]
        if len(questions) == 1:
            edges[questions[0]].extend(answers)


def _is_missing_info(step_id: str) -> bool:
    return step_id.startswith("info_missing")


def _first_source(edges: dict[str, list[str]]) -> str:
    incoming = {t for targets in edges.values() for t in targets}
    return next((s for s in edges if s not in incoming and edges[s]), next(iter(edges)))


def _reachable(
    edges: dict[str, list[str]], start: str, *, avoid: tuple[str, ...] = ()
) -> list[str]:
    """Return the steps reachable from ``start``, breadth first, not passing ``avoid``."""
    order, seen, queue = [], {start}, deque([start])
    while queue:
        node = queue.popleft()
        order.append(node)
        for nxt in edges[node]:
            if nxt not in seen and nxt not in avoid:
                seen.add(nxt)
                queue.append(nxt)
    return order


def _dominators(edges: dict[str, list[str]], start: str, nodes: list[str]) -> dict[str, set[str]]:
    """Compute dominator sets on the reachable subgraph by fixed-point iteration."""
    preds: dict[str, list[str]] = {n: [] for n in nodes}
    for n in nodes:
        for m in edges[n]:
            if m in preds:
                preds[m].append(n)
    dom = {n: set(nodes) for n in nodes}
    dom[start] = {start}
    changed = True
    while changed:
        changed = False
        for n in nodes:
            if n == start:
                continue
            new = {n} | set.intersection(*(dom[p] for p in preds[n])) if preds[n] else {n}
            if new != dom[n]:
                dom[n], changed = new, True
    return dom


def _strict_dominators(dominators: dict[str, set[str]], node: str) -> list[str]:
    """Return the strict dominators of ``node``, nearest (most dominated) first."""
    strict = dominators[node] - {node}
    return sorted(strict, key=lambda d: len(dominators[d]), reverse=True)
