"""Playbook bundles on a store: export one workflow's bundle, replay a bundle's tests.

:func:`export_bundle` reads what the stages wrote for one workflow (its documented SOP,
else its mined draft; step events with the tool calls; outcomes; the directly-follows
graph; readiness; drift findings) and writes a bundle folder:

- ``playbook.yaml``: the playbook in the SOP schema (``cxminer sop validate`` loads it)
  with its ``observed`` evidence (:func:`pipeline.playbook.bundle.observed`);
- ``tests/golden.yaml`` and ``tests/deviations.yaml``: cases mined from the workflow's
  conversations (:func:`pipeline.playbook.cases.mine_cases`);
- ``monitors.yaml`` (:func:`pipeline.playbook.bundle.monitors`) and ``EVIDENCE.md``.

:func:`replay_bundle` replays a bundle's tests against its ``playbook.yaml``
(:func:`pipeline.playbook.cases.replay`), and with a database, the workflow's latest
conversations too: each trace that conforms to the playbook the run checked it against
must conform to the bundle's, each deviating trace must still deviate. Bundles hold
step ids, tool names, counts and the stored (redacted) finding sentences: never a
conversation, agent or customer id.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pipeline import schema
from pipeline.config import Config
from pipeline.drift.conformance import not_process
from pipeline.drift.run import stored_sops
from pipeline.errors import SopError, StoreError
from pipeline.playbook.bundle import evidence_markdown, monitors, observed
from pipeline.playbook.cases import (
    DEVIATION,
    GOLDEN,
    Case,
    Outcome,
    case_from_dict,
    case_to_dict,
    mine_cases,
    replay,
)
from pipeline.process.discover import not_steps
from pipeline.process.run import read_candidate
from pipeline.sops.files import load_sop
from pipeline.sops.model import Sop, sop_to_yaml
from pipeline.store import Store, open_store

PLAYBOOK, MONITORS, EVIDENCE = "playbook.yaml", "monitors.yaml", "EVIDENCE.md"
TEST_FILES = {GOLDEN: "tests/golden.yaml", DEVIATION: "tests/deviations.yaml"}
_DUMP = {"sort_keys": False, "allow_unicode": True, "default_flow_style": False, "width": 1 << 30}


def export_bundle(
    db_path: Path, workflow: str, out_dir: Path, *, config: Config, min_share: float = 0.01
) -> dict[str, Any]:
    """Write the bundle of ``workflow`` (a documented SOP id, else an intent id) to ``out_dir``.

    Returns
    -------
    dict
        ``playbook`` (its source: documented or draft), ``version``, ``content_hash``,
        ``conversations`` and the number of ``golden`` and ``deviation`` cases.

    Raises
    ------
    StoreError
        The database has no step events (run ``cxminer run`` first).
    SopError
        The workflow has neither a documented SOP nor a candidate SOP.
    """
    with open_store(db_path, read_only=True) as store:
        documented = {sop.sop_id: sop for sop in stored_sops(store)}
        data = _workflow_data(store, workflow, documented)
    sop = documented.get(workflow) or read_candidate(db_path, workflow)
    cases = mine_cases(_traces(data, [*documented.values(), sop]), sop, min_share=min_share,
                       off_script=data["off_script"])  # fmt: skip
    seen = observed(sop, data["events"], data["edges"], tier=(data["readiness"] or {}).get("tier"),
                    branch_share=config.discover.branch_share)  # fmt: skip
    playbook = dataclasses.replace(sop, observed=seen)
    weeks = max(data["days"] / 7.0, 1.0)
    out_dir = Path(out_dir)
    (out_dir / "tests").mkdir(parents=True, exist_ok=True)
    (out_dir / PLAYBOOK).write_text(sop_to_yaml(playbook), encoding="utf-8")
    for kind, name in TEST_FILES.items():
        chosen = [case_to_dict(c) for c in cases if c.kind == kind]
        (out_dir / name).write_text(yaml.safe_dump({"cases": chosen}, **_DUMP), encoding="utf-8")
    watch = monitors(sop, data["events"], data["outcomes"], weeks=weeks,
                     min_effect=config.drift.min_effect)  # fmt: skip
    (out_dir / MONITORS).write_text(yaml.safe_dump(watch, **_DUMP), encoding="utf-8")
    counts = {kind: sum(c.kind == kind for c in cases) for kind in TEST_FILES}
    shares = {k: float(data["outcomes"][k].cast(pl.Float64).mean() or 0.0)
              for k in ("resolved", "escalated", "repeat_contact")
              if data["outcomes"].height}  # fmt: skip
    text = evidence_markdown(playbook, seen, outcome_shares=shares, readiness=data["readiness"],
                             variants=data["variants"], findings=data["findings"],
                             n_cases=counts)  # fmt: skip
    (out_dir / EVIDENCE).write_text(text, encoding="utf-8")
    return {"playbook": "documented" if workflow in documented else "draft",
            "version": sop.version, "content_hash": seen["content_hash"],
            "conversations": seen["conversations"], **counts}  # fmt: skip


def _workflow_data(store: Store, workflow: str, documented: dict[str, Sop]) -> dict[str, Any]:
    """Read the frames of one workflow's bundle."""
    if not store.count(schema.STEP_EVENTS):
        raise StoreError("no step events in the database; run `cxminer run` first")
    events = store.sql(
        f"select e.conversation_id, e.seq, e.step_id, e.source, e.is_repeat, t.action_name, "
        f"t.action_status from {schema.STEP_EVENTS} e left join {schema.TURNS} t "
        "on t.conversation_id = e.conversation_id and t.turn_idx = e.turn_idx "
        "where e.workflow_id = ? order by e.conversation_id, e.seq",
        [workflow],
    )
    if events.is_empty():
        known = store.sql(
            f"select distinct workflow_id from {schema.STEP_EVENTS} "
            "where workflow_id is not null order by 1"
        )["workflow_id"].to_list()
        raise SopError(f"no conversations of workflow {workflow!r}; workflows: "
                       f"{', '.join(known) or 'none'}")  # fmt: skip
    types = store.sql(f"select * from {schema.STEP_TYPES}")
    readiness = store.sql(
        f"select score, low, high, tier, reasons from {schema.READINESS} where workflow_id = ? "
        f"and run_id = (select max(run_id) from {schema.READINESS})", [workflow]
    )  # fmt: skip
    ids = events.select("conversation_id").unique()
    return {
        "events": events,
        "skip": not_steps(types, list(documented.values())),
        "off_script": types.filter(pl.col("source") == "discovered")["step_id"].to_list(),
        "edges": store.sql(
            f"select src, dst, n from {schema.DFG_EDGES} where workflow_id = ?", [workflow]
        ),  # fmt: skip
        "outcomes": store.sql(
            f"select conversation_id, resolved, escalated, repeat_contact from {schema.OUTCOMES}"
        ).join(ids, on="conversation_id"),
        "readiness": readiness.row(0, named=True) if readiness.height else None,
        "variants": store.sql(
            f"select sequence, share from {schema.VARIANTS} where workflow_id = ? "
            "order by rank limit 5",
            [workflow],
        ).rows(),  # fmt: skip
        "findings": store.sql(
            f"select sentence from {schema.DRIFT_FINDINGS} where flagged and "
            "(sop_id = ? or workflow_id = ?) order by severity, q_value limit 10",
            [workflow, workflow],
        )["sentence"].to_list(),  # fmt: skip
        "days": store.scalar(
            f"select coalesce(date_diff('day', min(started_at), max(started_at)), 0) "
            f"from {schema.CONVERSATIONS} where conversation_id in "
            f"(select distinct conversation_id from {schema.STEP_EVENTS} where workflow_id = ?)",
            [workflow],
        )
        or 0,  # fmt: skip
    }


def _traces(data: dict[str, Any], sops: list[Sop]) -> dict[str, list[str]]:
    """Conversation -> its steps in order: repeats, ``other`` and management left out.

    Management: the generic role types, and every step some of ``sops`` documents as
    management or an outcome.
    """
    skip = set(data["skip"]) | not_process(sops)
    events = data["events"]
    traces: dict[str, list[str]] = defaultdict(list)
    kept = events.filter(~pl.col("is_repeat").fill_null(False))
    for conversation, step in kept.select("conversation_id", "step_id").iter_rows():
        if step not in skip:
            traces[conversation].append(step)
    for conversation in events["conversation_id"].unique().to_list():
        traces.setdefault(conversation, [])
    return dict(traces)


def read_bundle(folder: Path) -> tuple[Sop, list[Case]]:
    """Load a bundle's playbook and its test cases.

    Raises
    ------
    SopError
        The playbook is invalid, or a test file is missing or holds no valid case list.
    """
    folder = Path(folder)
    sop = load_sop(folder / PLAYBOOK)
    cases: list[Case] = []
    for name in TEST_FILES.values():
        path = folder / name
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
            cases += [case_from_dict(c, origin=f"{path}: case {i}")
                      for i, c in enumerate(data.get("cases") or [])]  # fmt: skip
        except (OSError, yaml.YAMLError, ValueError, AttributeError) as exc:
            raise SopError(f"{path}: cannot read the bundle's tests ({exc})") from None
    return sop, cases


def replay_bundle(sop: Sop, cases: list[Case], *, db_path: Path | None = None) -> list[Outcome]:
    """Replay a bundle's tests (and, with ``db_path``, the workflow's latest traces).

    ``sop`` and ``cases`` are :func:`read_bundle`'s. The database's traces become cases
    the same way the export mines them (every trace, however rare), judged against the
    playbook the run checked them against, then replayed against the bundle's.
    """
    outcomes = replay(sop, cases)
    if db_path is not None:
        with open_store(db_path, read_only=True) as store:
            documented = {s.sop_id: s for s in stored_sops(store)}
            data = _workflow_data(store, sop.sop_id, documented)
        checked_against = documented.get(sop.sop_id) or sop
        latest = mine_cases(_traces(data, [*documented.values(), sop]), checked_against,
                            min_share=0.0, off_script=data["off_script"])  # fmt: skip
        outcomes += [
            Outcome(dataclasses.replace(o.case, name=f"db-{o.case.name}"), o.passed, o.reason)
            for o in replay(sop, latest)
        ]  # fmt: skip
    return outcomes
