"""The labelled datasets of the quality scoreboard and how each is made ready for a run.

Each dataset becomes one or more :class:`Run`: the input files and format, the documented
SOP folder, the labels file (written by ``cxminer labels``) and the truth folder that
``cxminer evaluate`` reads. SOPs of public libraries are imported with ``cxminer sop
import``; nothing here scores anything.

The clean STAR run derives every outcome from the transcript (``outcomes.derive:
always``) and scores it against ``CompletionLevel``. STAR also gets a copy with drift
planted by this script (:func:`plant_star_drift`): the
dialogues are spread over :data:`WEEKS` weeks in the order of their timestamps, and from
week :data:`ONSET_WEEK` on, in :data:`SHARE` of one task's dialogues each: (a) a mandatory
documented step is dropped (truth kind ``missing``), (b) an optional documented step that
most of its task's dialogues perform is dropped (kind ``skipped``: agents do it less), (c)
two documented steps in a documented order swap places (kind ``order_violation``).
Tasks and steps are chosen from the data by fixed rules, never by name.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from pipeline.evaluate.truth import read_labels
from pipeline.ingest.adapters.star import call_name
from pipeline.sops.files import load_sops
from pipeline.sops.model import Sop

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WEEKS = 8  # the STAR copy spans this many weeks...
ONSET_WEEK = 5  # ...drift starts in this one (0-based; the first 4 are the drift baseline)
SHARE = 0.7  # share of a chosen task's dialogues from the onset on that drift
START = datetime(2020, 5, 11, tzinfo=UTC)  # a Monday: weeks align with ISO windows
MULTIDOGO_DOMAINS = ("airline", "fastfood", "insurance")


@dataclass(frozen=True)
class Run:
    """One ``cxminer run`` of the scoreboard and what to score it against.

    Attributes
    ----------
    name
        Row label of the scoreboard (``star``, ``star-unguided``...).
    inputs, fmt
        Files given to ``cxminer run --input`` and their format.
    sops
        Documented SOP folder; None for none (an empty folder).
    labels, truth
        Labels JSONL and the folder with ``drift.json`` / ``readiness.json`` (or None).
    stages
        The evaluate sections reported for this run.
    anchors
        ``intents`` (KMeans-k, BERTopic) and/or ``steps`` (nearest template).
    reuse
        Name of an earlier run whose database is copied first: only the stages whose
        inputs changed (here: the SOP folder) run again.
    settings
        Config settings of this run (dotted keys), besides the scoreboard's own.
    """

    name: str
    inputs: list[Path]
    fmt: str
    sops: Path | None
    labels: Path
    truth: Path | None = None
    stages: tuple[str, ...] = ("intents",)
    anchors: tuple[str, ...] = ()
    reuse: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    notes: dict[str, Any] = field(default_factory=dict)


def cxminer(*args: str, cwd: Path = ROOT) -> str:
    """Run one ``cxminer`` command of this interpreter's environment; return its stdout.

    Raises
    ------
    SystemExit
        The command failed (its stderr is shown).
    """
    script = Path(sys.executable).with_name("cxminer")
    command = [str(script)] if script.is_file() else [sys.executable, "-m", "pipeline.cli.main"]
    done = subprocess.run([*command, *args], cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.exit(f"quality: cxminer {' '.join(args)} failed (exit {done.returncode}):\n"
                 f"{done.stderr.strip()}")  # fmt: skip
    return done.stdout


def sample_runs(work: Path) -> list[Run]:
    """The bundled sample: its documented SOPs and its truth folder."""
    truth = ROOT / "data" / "sample" / "truth"
    return [
        Run(
            name="sample",
            inputs=[ROOT / "data" / "sample" / "conversations.jsonl.gz"],
            fmt="jsonl",
            sops=ROOT / "data" / "sops" / "sample",
            labels=truth / "labels.jsonl",
            truth=truth,
            stages=("intents", "steps", "process", "conformance", "drift", "readiness"),
            anchors=("intents", "steps"),
        )
    ]


def star_runs(work: Path) -> list[Run]:
    """STAR: guided (task flowcharts imported as SOPs), unguided, and with planted drift."""
    star = SHARED / "star"
    dialogues = star / "dialogues.jsonl.gz"
    sops = work / "star-sops"
    cxminer("sop", "import", "--format", "star", str(star / "tasks"), "--out", str(sops))
    labels = work / "star-labels.jsonl"
    cxminer("labels", "--format", "star", str(dialogues), "-o", str(labels))
    planted = work / "star-planted.jsonl.gz"
    truth = work / "star-truth"
    notes = plant_star_drift(dialogues, load_sops([sops]), read_labels(labels), planted, truth)
    planted_labels = work / "star-planted-labels.jsonl"
    cxminer("labels", "--format", "star", str(planted), "-o", str(planted_labels))
    steps = ("intents", "steps", "process", "conformance", "outcomes")
    # STAR records each dialogue's completion (the labels' outcome): the clean run derives
    # every outcome from the transcript instead, to check the outcome rules against it.
    return [
        Run("star", [dialogues], "star", sops, labels, stages=steps, anchors=("intents", "steps"),
            settings={"outcomes.derive": "always"}),
        Run("star-unguided", [dialogues], "star", None, labels, stages=("steps", "process"),
            reuse="star"),
        Run("star-drift", [planted], "star", sops, planted_labels, truth=truth,
            stages=("conformance", "drift"), notes=notes),
    ]  # fmt: skip


def multidogo_runs(work: Path) -> list[Run]:
    """MultiDoGO dev: the three domains as one contact centre (customer turns only)."""
    inputs = [SHARED / "multidogo" / domain / "dev.tsv" for domain in MULTIDOGO_DOMAINS]
    labels = work / "multidogo-labels.jsonl"
    cxminer("labels", "--format", "multidogo", *map(str, inputs), "-o", str(labels))
    return [Run("multidogo", inputs, "multidogo", None, labels,
                stages=("intents", "redaction", "requests"), anchors=("intents",))]  # fmt: skip


def banking77_runs(work: Path) -> list[Run]:
    """Banking77 test: one query a conversation."""
    inputs = [SHARED / "banking77" / "test.csv"]
    labels = work / "banking77-labels.jsonl"
    cxminer("labels", "--format", "banking77", *map(str, inputs), "-o", str(labels))
    return [Run("banking77", inputs, "banking77", None, labels, anchors=("intents",))]


#: Dataset -> (what it needs on disk, how its runs are prepared).
DATASETS: dict[str, tuple[Path, Callable[[Path], list[Run]]]] = {
    "sample": (ROOT / "data" / "sample", sample_runs),
    "star": (SHARED / "star", star_runs),
    "multidogo": (SHARED / "multidogo", multidogo_runs),
    "banking77": (SHARED / "banking77", banking77_runs),
}


def plant_star_drift(
    dialogues: Path, sops: list[Sop], labels: Any, out: Path, truth_dir: Path, *, seed: int = 0
) -> dict[str, Any]:
    """Write a STAR copy spread over weeks with three planted drifts, and their truth.

    Parameters
    ----------
    dialogues
        STAR ``dialogues.jsonl.gz``.
    sops
        The task flowcharts as imported SOPs (which steps are mandatory, their order).
    labels
        The labels frame of the original dialogues (which steps each one performs).
    out, truth_dir
        The copy (gzipped JSONL) and the folder for ``drift.json``.
    seed
        Chooses which dialogues drift.

    Returns
    -------
    dict
        What was planted: per drift, the task, step(s), onset and dialogues changed.
    """
    rows = [orjson.loads(line) for line in gzip.open(dialogues)]
    starts = [(_start(d), d["DialogueID"], i) for i, d in enumerate(rows)]
    timed = sorted(start for start in starts if start[0] is not None)
    span = WEEKS * 7 * 86400
    week_of: dict[int, int] = {}
    for rank, (start, _, i) in enumerate(timed):
        new_start = START.timestamp() + rank * span // len(timed)
        _shift(rows[i], new_start - start)
        week_of[i] = int((new_start - START.timestamp()) // (7 * 86400))
    task_of = {i: d["Scenario"]["WizardCapabilities"][0]["Task"] for i, d in enumerate(rows)}
    said = dict(labels.select("conversation_id", "steps").iter_rows())
    steps_of = {i: said.get(f"star-{d['DialogueID']}") or [] for i, d in enumerate(rows)}
    calls_of = {i: {call_name(e) for e in d["Events"] if _is_call(e)}
                for i, d in enumerate(rows)}  # fmt: skip
    chosen = _choose(sops, task_of, steps_of, calls_of, week_of)
    rng = np.random.default_rng(seed)
    onset = (START + timedelta(weeks=ONSET_WEEK)).date().isoformat()
    findings, notes = [], {}
    for plant in chosen:
        late = [i for i in sorted(week_of) if week_of[i] >= ONSET_WEEK
                and task_of[i] == plant["sop_id"]
                and plant["applies"](steps_of[i], calls_of[i])]  # fmt: skip
        picked = sorted(rng.choice(late, size=round(SHARE * len(late)), replace=False).tolist())
        for i in picked:
            plant["change"](rows[i])
        finding = {"sop_id": plant["sop_id"], "step": plant["step"], "kind": plant["kind"],
                   "team": None, "onset": onset, "planted": plant["name"]}  # fmt: skip
        findings.append(finding)
        notes[plant["name"]] = {**finding, **plant["about"], "n_eligible": len(late),
                                "n_changed": len(picked)}  # fmt: skip
    out.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(out, "wb") as handle:
        for dialogue in rows:
            handle.write(orjson.dumps(dialogue) + b"\n")
    truth_dir.mkdir(parents=True, exist_ok=True)
    (truth_dir / "drift.json").write_bytes(
        orjson.dumps({"window": "week", "findings": findings}, option=orjson.OPT_INDENT_2)
    )
    return notes


def _choose(
    sops: list[Sop],
    task_of: dict[int, str],
    steps_of: dict[int, list[str]],
    calls_of: dict[int, set[str]],
    week_of: dict[int, int],
) -> list[dict[str, Any]]:
    """Pick one task for each planted drift, three different tasks, by fixed rules.

    A task is eligible with at least 20 timed dialogues a week (``drift.min_count``). A
    dialogue performs a step when a picked reply carries its label or, for a step
    bound to an action no other step of its SOP is bound to, when the wizard made that
    call. (a) the mandatory step performed in the most dialogues; (b) in another task,
    the optional step with a documented predecessor (``after``: a process step, not a
    greeting or closing) performed in most of its task's dialogues, the most dialogues;
    (c) in a third task, the documented pair ``A`` before ``B`` (``A`` in ``B.after``,
    both said) seen in that order in most dialogues, the most dialogues; swapped,
    conformance reports "B before A": a finding on ``B``. Ties: task, then step name.
    """
    by_id = {sop.sop_id: sop for sop in sops}
    volume = Counter(task_of[i] for i in week_of)
    eligible = sorted(t for t, n in volume.items() if n / WEEKS >= 20 and t in by_id)
    members = defaultdict(list)
    for i, task in task_of.items():
        members[task].append(i)
    used: set[str] = set()

    def unique_call(sop: Sop, step: Any) -> str | None:
        bound = [s for s in sop.steps if s.action == step.action]
        return step.action if step.action and len(bound) == 1 else None

    def performs(sop: Sop, step: Any) -> Callable[[list[str], set[str]], bool]:
        call = unique_call(sop, step)
        if call is not None:
            return lambda steps, calls: call in calls
        return lambda steps, calls: step.id in steps

    def count(task: str, test: Callable[[list[str], set[str]], bool]) -> int:
        return sum(test(steps_of[i], calls_of[i]) for i in members[task])

    def best(candidates: list[tuple[int, str, Any]]) -> tuple[str, Any, int]:
        if not candidates:
            raise SystemExit("quality: no STAR task and step fit a planted drift's rule")
        n, task, item = max(candidates, key=lambda c: (c[0], c[1], str(c[2])))
        used.add(task)
        return task, item, n

    def candidates(pick: Callable[[Sop, Any], bool]) -> list[tuple[int, str, Any]]:
        found = []
        for task in (t for t in eligible if t not in used):
            sop = by_id[task]
            for step in sop.steps:
                if pick(sop, step) and (step.action is None or unique_call(sop, step)):
                    n = count(task, performs(sop, step))
                    if n > len(members[task]) / 2:
                        found.append((n, task, step))
        return found

    task_a, step_a, n_a = best(candidates(lambda sop, step: step.mandatory))
    task_b, step_b, n_b = best(
        candidates(lambda sop, step: not step.mandatory and not step.action and step.after)
    )
    pairs = []
    for task in (t for t in eligible if t not in used):
        for step in by_id[task].steps:
            for first in step.after:
                n = count(task, lambda steps, calls, a=first, b=step.id: _in_order(steps, a, b))
                if n > len(members[task]) / 2:
                    pairs.append((n, task, (first, step.id)))
    task_c, (first, second), n_c = best(pairs)
    return [
        {"name": "mandatory step dropped", "sop_id": task_a, "step": step_a.id, "kind": "missing",
         "applies": performs(by_id[task_a], step_a), "change": _dropper(step_a),
         "about": {"documented": "mandatory", "action": step_a.action,
                   "dialogues_performing": n_a}},
        {"name": "optional step dropped", "sop_id": task_b, "step": step_b.id, "kind": "skipped",
         "applies": performs(by_id[task_b], step_b), "change": _dropper(step_b),
         "about": {"documented": "optional", "dialogues_performing": n_b}},
        {"name": "order swap", "sop_id": task_c, "step": second, "kind": "order_violation",
         "applies": lambda steps, calls, a=first, b=second: _in_order(steps, a, b),
         "change": _swapper(first, second),
         "about": {"documented": f"{first} before {second}", "now": f"{second} before {first}",
                   "dialogues_in_order": n_c}},
    ]  # fmt: skip


def _in_order(steps: list[str], first: str, second: str) -> bool:
    return first in steps and second in steps and steps.index(first) < steps.index(second)


def _dropper(step: Any) -> Callable[[dict], None]:
    """Remove a step from a dialogue: its picked replies, or its calls and their results."""

    def drop(dialogue: dict) -> None:
        kept, dropping = [], False
        for event in dialogue["Events"]:
            if step.action and _is_call(event):
                dropping = call_name(event) == step.action
            elif event.get("Agent") != "KnowledgeBase":
                dropping = False
            if dropping or (not step.action and event.get("ActionLabel") == step.id):
                continue
            kept.append(event)
        dialogue["Events"] = kept

    return drop


def _is_call(event: dict) -> bool:
    return event.get("Agent") == "Wizard" and event.get("Action") == "query"


def _swapper(first: str, second: str) -> Callable[[dict], None]:
    """Swap the first events labelled ``first`` and ``second``; times stay in place."""

    def swap(dialogue: dict) -> None:
        events = dialogue["Events"]
        a = next(i for i, e in enumerate(events) if e.get("ActionLabel") == first)
        b = next(i for i, e in enumerate(events) if e.get("ActionLabel") == second)
        times = events[a].get("UnixTime"), events[b].get("UnixTime")
        events[a], events[b] = events[b], events[a]
        for i, t in zip((a, b), times, strict=True):
            if t is not None:
                events[i]["UnixTime"] = t

    return swap


def _start(dialogue: dict) -> float | None:
    times = [e["UnixTime"] for e in dialogue["Events"] if _is_time(e.get("UnixTime"))]
    return min(times) if times else None


def _is_time(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _shift(dialogue: dict, seconds: float) -> None:
    for event in dialogue["Events"]:
        if _is_time(event.get("UnixTime")):
            event["UnixTime"] = event["UnixTime"] + seconds
