"""The discovery stage on a store: variants, graph, candidate SOPs, drafts, XES export.

:func:`update_discovery` reads the step event log the steps stage wrote
(``step_events``, ``step_types``), summarises each workflow's process
(:func:`pipeline.process.discover.discover_process`) and writes ``variants``,
``dfg_edges`` and ``candidate_sops`` at once (the process flow runs it after the steps
stage). :func:`read_candidate` drafts a playbook from the latest run; :func:`export_log`
writes the event log as XES.
"""

from __future__ import annotations

from pathlib import Path
from typing import IO

from pipeline import schema
from pipeline.config import Config
from pipeline.errors import SopError, StoreError
from pipeline.process.discover import discover_process, not_steps
from pipeline.process.draft import draft_sop
from pipeline.process.xes import XesCounts, write_xes
from pipeline.progress import track
from pipeline.sops.model import Sop
from pipeline.store import Store, open_store

#: The tables :func:`update_discovery` writes (snapshots: a re-run replaces them).
DISCOVERY_TABLES = (schema.VARIANTS, schema.DFG_EDGES, schema.CANDIDATE_SOPS)


def update_discovery(store: Store, *, config: Config, run_id: str) -> dict[str, int]:
    """Run the discovery stage on the step event log in the store; write its tables.

    Memory grows with the step events and the variants.

    Reads ``step_events`` (in case order, so that discovery does not sort it again) and
    ``step_types`` (for :func:`~pipeline.process.discover.not_steps`), with the settings
    of ``config.discover``; writes :data:`DISCOVERY_TABLES`.

    Returns
    -------
    dict
        Rows written, by table.
    """
    events = store.sql(
        f"select conversation_id, seq, step_id, ts, workflow_id, is_repeat "
        f"from {schema.STEP_EVENTS} order by conversation_id, seq"
    )
    types = store.sql(f"select step_id, source, sop_steps from {schema.STEP_TYPES}")
    with track(f"process: discovering variants and graphs from {events.height:,} events"):
        tables = discover_process(events, config.discover, not_steps=not_steps(types))
    return store.write_snapshots(tables, run_id=run_id, required=DISCOVERY_TABLES)


def read_candidate(db_path: Path, workflow: str) -> Sop:
    """Return the playbook draft of one workflow from the latest steps run.

    Raises
    ------
    SopError
        The workflow has no candidate SOP (the message lists the ones that do).
    """
    with open_store(db_path, read_only=True) as store:
        candidate = store.sql(f"select * from {schema.CANDIDATE_SOPS}")
        types = store.sql(f"select step_id, label, exemplar from {schema.STEP_TYPES}")
        actions = store.sql(
            f"select step_id, min(t.action_name) as action from {schema.STEP_EVENTS} e "
            f"join {schema.TURNS} t using (conversation_id) "
            "where e.source = 'action' and t.turn_idx = e.turn_idx group by step_id"
        )
    known = sorted(candidate["workflow_id"].drop_nulls().unique().to_list())
    if workflow not in known:
        raise SopError(
            f"no candidate SOP for workflow {workflow!r}; run `cxminer run` first. "
            f"Workflows: {', '.join(known) or 'none'}"
        )
    return draft_sop(
        candidate,
        intent_id=workflow,
        labels=dict(types.select("step_id", "label").iter_rows()),
        examples={s: [e] for s, e in types.select("step_id", "exemplar").iter_rows() if e},
        actions=dict(actions.iter_rows()),
        intent_col="workflow_id",
    )


def export_log(db_path: Path, out: str | Path | IO[str]) -> XesCounts:
    """Write the step event log (repeats collapsed) as IEEE XES; return what was written."""
    with open_store(db_path, read_only=True) as store:
        if not store.count(schema.STEP_EVENTS):
            raise StoreError(f"{db_path}: step_events is empty; run `cxminer run` first")
        events = store.sql(
            f"select conversation_id, seq, step_id, ts, workflow_id from {schema.STEP_EVENTS} "
            "where not is_repeat order by conversation_id, seq"
        )
    return write_xes(
        events,
        out,
        case_col="conversation_id",
        activity_col="step_id",
        case_attributes=("workflow_id",),
    )
