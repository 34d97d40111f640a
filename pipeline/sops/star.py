"""STAR task flowcharts -> playbooks (one SOP per task).

A flowchart JSON (``tasks/<task>/<task>.json``) has ``replies`` (step id -> the canonical
wording) and ``graph`` (step -> its one next step). Decision outcomes (``query_success``
/ ``query_failure``, ``available`` / ``unavailable``, ``yes`` / ``no``, ``info_missing*``)
are the yellow boxes of the flowchart pictures: not something the agent says, but what
happened. ``graph`` gives them outgoing edges and no incoming one, because it can hold
only one successor per step. For the same reason a Request box of the pictures (a
bullet list of details to collect: name, hotel, dates) is a chain of steps in ``graph``,
in the order of the list. The conversion rule:

1. Edges are ``graph``'s, plus each decision outcome without an incoming edge attached
   to the step it answers: ``available``/``unavailable`` to ``query_check``;
   ``query_success``/``query_failure`` to the one query step (``query``,
   ``query_check``, ``query_book``) that is a dead end in ``graph`` and not already
   answered by ``available``/``unavailable``; ``yes``/``no`` to the one dead end
   reachable from the start without passing a negative outcome (``unavailable``,
   ``query_failure``) that is neither a query, a closing (``anything_else``, ``*bye*``)
   nor an outcome. Where that is not exactly one step, the outcomes stay unattached.
2. A *request* is a process step (rule 4) other than a query with one successor
   (``info_missing*`` aside) from which that one-successor line leads to a query: it
   collects an input of the query. A *request block* is a maximal line of requests in
   which each step after the first has no other predecessor (a loop back into the line,
   ``no -> hotel_ask_hotel``, does not count): one Request box.
3. ``info_missing`` (the customer cannot give what was asked) answers the first request
   block from the start, ``info_missing<k>`` the block that ``info_missing<k-1>`` leads
   to; each attaches to the last step of its block (the box's exit, beside its
   successor). Where a block is not found, the outcome stays unattached.
4. Conversation management is not process: the greeting ``hello``, the closings
   (``anything_else``, ``*bye*``, ``goodbye*``) and ``out_of_scope``. Decision
   outcomes are not process either. Such steps carry ``kind: management`` and
   ``kind: outcome`` (:data:`pipeline.sops.model.STEP_KINDS`): conformance and drift
   never count them.
5. The start is ``hello`` (else the first step without a predecessor). A process step
   is mandatory when it is on every path from the start to an end (it dominates every
   reachable dead end) and it is not a request: a request box lists details the query
   needs, not questions that must be said (the customer often gives a detail unasked,
   and the bank charts draw "user provides information" as the way out of the box), so
   a request is optional, and so is an API query that an end can be reached without
   (the bank charts' failed authentication). Everything else is optional.
6. ``after``, for every reachable process step, lists the process steps that dominate
   it, nearest first up to and including the nearest mandatory one (a chain through an
   optional step says nothing where that step is absent), leaving out the steps of its
   own request block (a box fixes no order among its details); in SOP order.
   Management steps, outcomes and unreachable steps (out of scope, goodbyes outside
   the graph) get none.
7. Query steps are bound to the calls the STAR adapter names (STAR's API name is the
   task folder's name): ``query`` to ``<task>.query``, ``query_check`` to
   ``<task>.check`` and ``query_book`` to ``<task>.book``, the call's ``RequestType``
   (:func:`pipeline.ingest.adapters.star.call_name`).
8. ``description`` is the canonical wording, slots (``{balance:d}``) kept verbatim, and
   for a decision outcome what it means ("Decision outcome: query failed (Failed)");
   ``examples`` holds the wording, except for query steps and decision outcomes, whose
   wording is a button label ("Query", "Failed") no agent says. No step has a ``when``:
   outcomes are what happened, not conditions on a conversation's metadata.
9. Steps are listed in flow order (breadth first from the start), then the unreachable
   ones in ``replies`` order.

The SOP id and intent are the task folder's name, which is what STAR's scenarios and
``cxminer labels`` call the task (the JSON's own ``task`` field differs for some).
"""

from __future__ import annotations

import json
import re
from collections import deque
from collections.abc import Iterable, Sequence
from pathlib import Path

from pipeline.errors import InputError
from pipeline.sops.model import Sop, Step

_OUTCOMES = {
    "query_success": "query succeeded",
    "query_failure": "query failed",
    "available": "the check found availability",
    "unavailable": "the check found no availability",
    "yes": "the customer says yes",
    "no": "the customer says no",
}
_MISSING_INFO = "the customer cannot give the requested details"
_MISSING_NAME = re.compile(r"^info_missing(\d*)$")
_NEGATIVE = ("unavailable", "query_failure")
#: Query steps -> the call they make (the adapter's ``<task>.<call>`` action names).
_QUERY_CALLS = {"query": "query", "query_check": "check", "query_book": "book"}
_QUERIES = tuple(_QUERY_CALLS)
_CLOSINGS = ("anything_else", "bye", "goodbye")
_MANAGEMENT = ("hello", "out_of_scope")


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
    blocks = _attach_missing_info(edges, start)
    block_of = {step: i for i, block in enumerate(blocks) for step in block}
    reachable = _reachable(edges, start)
    dominators = _dominators(edges, start, reachable)
    ends = [s for s in reachable if not edges[s]]
    process = [s for s in reachable if _is_process(s)]
    mandatory = {s for s in process if s not in block_of and all(s in dominators[e] for e in ends)}
    order = reachable + [s for s in edges if s not in dominators]
    position = {step_id: i for i, step_id in enumerate(order)}
    steps = []
    for step_id in order:
        after: tuple[str, ...] = ()
        if step_id in process:
            after = _after(step_id, dominators, mandatory, block_of, position)
        outcome = _outcome_meaning(step_id)
        wording = replies.get(step_id, "")
        is_label = outcome is not None or step_id in _QUERIES
        if outcome is not None:
            description = f"Decision outcome: {outcome}" + (f" ({wording})" if wording else "")
        else:
            description = wording
        steps.append(
            Step(
                id=step_id,
                description=description,
                examples=(wording,) if wording and not is_label else (),
                action=f"{task}.{_QUERY_CALLS[step_id]}" if step_id in _QUERIES else None,
                mandatory=step_id in mandatory,
                after=after,
                next=tuple(edges[step_id]),
                kind="outcome"
                if outcome is not None
                else "process"
                if _is_process(step_id)
                else "management",
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


def _after(
    step_id: str,
    dominators: dict[str, set[str]],
    mandatory: set[str],
    block_of: dict[str, int],
    position: dict[str, int],
) -> tuple[str, ...]:
    """Rule 6: the process steps dominating ``step_id`` up to the nearest mandatory one."""
    found = []
    for dominator in _strict_dominators(dominators, step_id):
        if not _is_process(dominator):
            continue
        if step_id in block_of and block_of.get(dominator) == block_of[step_id]:
            continue
        found.append(dominator)
        if dominator in mandatory:
            break
    return tuple(sorted(found, key=position.__getitem__))


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


def _attach_missing_info(edges: dict[str, list[str]], start: str) -> list[list[str]]:
    """Attach ``info_missing*`` to the blocks they answer (rule 3); return the blocks."""
    numbered = {}
    for step in edges:
        match = _MISSING_NAME.match(step)
        if match:
            numbered[int(match.group(1) or 1)] = step
    incoming = {t for targets in edges.values() for t in targets}
    blocks = _request_blocks(edges, start)
    block = blocks[0] if blocks else None
    for k in range(1, len(numbered) + 1):
        name = numbered.get(k)
        if name is None or name in incoming or block is None:
            break
        edges[block[-1]].append(name)
        blocks = _request_blocks(edges, start)  # what the outcome leads to is reachable now
        target = edges[name][0] if len(edges[name]) == 1 else None
        block = next((b for b in blocks if b[0] == target), None)
    return blocks


def _request_blocks(edges: dict[str, list[str]], start: str) -> list[list[str]]:
    """Return the request blocks of rule 2 among the reachable steps, in flow order."""
    reachable = _reachable(edges, start)
    dominators = _dominators(edges, start, reachable)
    # Predecessors in the whole chart, unreachable ones too (an unattached outcome's line
    # rejoining the flow ends a block there), less loops back into a step passed before.
    forward: dict[str, list[str]] = {s: [] for s in edges}
    for source, targets in edges.items():
        for target in targets:
            if target not in dominators.get(source, ()):
                forward[target].append(source)

    def line(step: str) -> list[str]:
        flow = [t for t in edges[step] if not _is_missing_info(t)]
        return flow if _is_process(step) and step not in _QUERIES else []

    requests = set()
    for step in reachable:
        seen, current = set(), step
        while len(line(current)) == 1 and current not in seen:
            seen.add(current)
            current = line(current)[0]
        if current in _QUERIES and step not in _QUERIES:
            requests.add(step)
    blocks: list[list[str]] = []
    placed: set[str] = set()
    for step in reachable:  # breadth first: a block's first step comes first
        if step not in requests or step in placed:
            continue
        block = [step]
        while True:
            (nxt,) = line(block[-1])
            if nxt not in requests or nxt in placed or forward[nxt] != [block[-1]]:
                break
            block.append(nxt)
        placed.update(block)
        blocks.append(block)
    return blocks


def _is_process(step_id: str) -> bool:
    """Rule 4: not conversation management and not a decision outcome."""
    return (
        step_id not in _MANAGEMENT
        and not any(c in step_id for c in _CLOSINGS)
        and _outcome_meaning(step_id) is None
    )


def _outcome_meaning(step_id: str) -> str | None:
    return _MISSING_INFO if _is_missing_info(step_id) else _OUTCOMES.get(step_id)


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
