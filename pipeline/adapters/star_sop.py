"""STAR task flowcharts -> playbooks (one SOP per task).

A flowchart JSON (``tasks/<task>/<task>.json``) has ``replies`` (step id -> the canonical
wording) and ``graph`` (step -> next step). Decision outcomes (``query_success`` /
``query_failure``, ``available`` / ``unavailable``, ``yes`` / ``no``) appear in the graph
with outgoing edges but no incoming one: they answer the step before them, which is a
dead end in ``graph``. The conversion rule:

1. Edges are ``graph``'s, plus each decision outcome attached to the step it answers:
   ``query_success``/``query_failure`` to the query step (``query`` or ``query_book``),
   ``available``/``unavailable`` to the availability check (``query_check``, else the
   query step), ``yes``/``no`` to the first question reachable from ``hello`` that is a
   dead end and not a query or a closing.
2. Mandatory steps are those on every path from ``hello`` to an end (the steps that
   dominate every reachable dead end); every other step is optional. Decision outcomes
   carry their condition in ``when``.
3. ``after`` holds the nearest mandatory step that dominates the step (a transitive
   reduction of the precedence the flowchart implies); steps not reachable from
   ``hello`` (out of scope, goodbyes, recovery branches) get no ``after``.
4. Query steps are bound to the action the STAR adapter names API calls with,
   ``<task>.query`` (STAR's API name is the task folder's name).
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
_CLOSINGS = ("anything_else", "bye", "goodbye")


def star_task_files(paths: Iterable[Path]) -> list[Path]:
    """Task JSON files under the given task folders, ``tasks/`` folders or files."""
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_file():
            files.append(path)
        elif (path / f"{path.name}.json").is_file():
            files.append(path / f"{path.name}.json")
        elif path.is_dir():
            files.extend(
                sorted(
                    child / f"{child.name}.json"
                    for child in path.iterdir()
                    if (child / f"{child.name}.json").is_file()
                )
            )
        else:
            raise InputError(f"{path}: no such STAR task file or folder")
    return files


def read_star_sops(paths: Sequence[Path]) -> list[Sop]:
    """Convert STAR task flowcharts to playbooks.

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
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise InputError(f"{file}: not a STAR task flowchart ({exc})") from None
        sops.append(flowchart_to_sop(file.stem, replies, graph, title=chart.get("task", "")))
    return sops


def flowchart_to_sop(
    task: str, replies: dict[str, str], graph: dict[str, str], *, title: str = ""
) -> Sop:
    """Apply the module's conversion rule to one flowchart."""
    edges = {step: [graph[step]] if step in graph else [] for step in replies}
    for source, target in graph.items():  # graph may name steps without a reply
        edges.setdefault(source, [])
        edges.setdefault(target, [])
        if target not in edges[source]:
            edges[source] = [target]
    _attach_outcomes(edges)
    start = "hello" if "hello" in edges else next(iter(edges))
    reachable = _reachable(edges, start)
    ends = [s for s in reachable if not edges[s]]
    dominators = _dominators(edges, start, reachable)
    mandatory = set(reachable)
    for end in ends:
        mandatory &= dominators[end]
    steps = []
    for step_id in edges:
        after: tuple[str, ...] = ()
        if step_id in reachable and step_id != start:
            strict = [d for d in _dominator_chain(dominators, step_id) if d in mandatory]
            after = (strict[0],) if strict else ()
        is_query = step_id.startswith("query") and step_id not in _OUTCOMES
        steps.append(
            Step(
                id=step_id,
                description=replies.get(step_id, ""),
                examples=(replies[step_id],)
                if step_id in replies and step_id not in _OUTCOMES and not is_query
                else (),
                action=f"{task}.query" if is_query else None,
                mandatory=step_id in mandatory,
                after=after,
                when=_OUTCOMES.get(step_id),
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


def _attach_outcomes(edges: dict[str, list[str]]) -> None:
    incoming = {t for targets in edges.values() for t in targets}
    dead_ends = [s for s, targets in edges.items() if not targets]
    queries = [s for s in dead_ends if s.startswith("query")]
    check = "query_check" if "query_check" in queries else (queries[0] if queries else None)
    book = next((q for q in queries if q != "query_check"), check)
    for outcome, parent in (
        ("available", check),
        ("unavailable", check),
        ("query_success", book),
        ("query_failure", book),
    ):
        if outcome in edges and outcome not in incoming and parent:
            edges[parent].append(outcome)
    if {"yes", "no"} & set(edges) and not {"yes", "no"} & incoming:
        order = _reachable(edges, "hello" if "hello" in edges else next(iter(edges)))
        question = next(
            (
                s
                for s in order
                if not edges[s]
                and not s.startswith("query")
                and not any(c in s for c in _CLOSINGS)
                and s not in _OUTCOMES
            ),
            None,
        )
        if question:
            edges[question].extend(o for o in ("yes", "no") if o in edges)


def _reachable(edges: dict[str, list[str]], start: str) -> list[str]:
    order, seen, queue = [], {start}, deque([start])
    while queue:
        node = queue.popleft()
        order.append(node)
        for nxt in edges[node]:
            if nxt not in seen:
                seen.add(nxt)
                queue.append(nxt)
    return order


def _dominators(edges: dict[str, list[str]], start: str, nodes: list[str]) -> dict[str, set[str]]:
    """Compute dominator sets on the reachable subgraph, iteratively (flowcharts are tiny)."""
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


def _dominator_chain(dominators: dict[str, set[str]], node: str) -> list[str]:
    """Strict dominators of ``node``, nearest first."""
    strict = dominators[node] - {node}
    return sorted(strict, key=lambda d: len(dominators[d]), reverse=True)
