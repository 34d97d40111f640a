"""The readiness stage on a store, and the ranking it wrote.

:func:`update_readiness` scores every workflow and adds the run's ranking to
``readiness`` (history by run), with the conversations behind its reasons in
``readiness_examples`` (a snapshot); :func:`read_readiness` gives the latest ranking back.
It reads through :class:`pipeline.store.Store`, calls the pure stage functions and
writes through the store; nothing here computes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import polars as pl

from pipeline import schema
from pipeline.config import Config
from pipeline.drift.excerpts import excerpt_examples
from pipeline.drift.run import stored_sops
from pipeline.errors import StoreError
from pipeline.outcomes.run import CONVERSATIONS_SQL
from pipeline.process.discover import not_steps
from pipeline.progress import track
from pipeline.readiness.capacity import leaders_capacity
from pipeline.readiness.examples import find_readiness_examples
from pipeline.readiness.inputs import readiness_inputs
from pipeline.readiness.score import drop_small_workflows, score_readiness, volume_floor
from pipeline.steps.step_types import step_names
from pipeline.store import Store, open_store

#: The failed system calls, and the turns of the example conversations (a filter follows).
FAILED_SQL = (
    f"select conversation_id, turn_idx, action_name from {schema.TURNS} "
    "where event_type = 'action' and action_status = 'failed'"
)
TURNS_OF = (
    "select conversation_id, turn_idx, speaker, event_type, text, action_name, action_status "
    f"from {schema.TURNS}"
)


def update_readiness(store: Store, *, config: Config, run_id: str) -> dict[str, Any]:
    """Score every workflow's autonomy readiness; add this run's ranking to ``readiness``.

    Memory grows with the conversations and the workflows.

    Workflows under the volume floor without a documented SOP get no row
    (:func:`~pipeline.readiness.score.drop_small_workflows`).

    Returns
    -------
    dict
        ``workflows`` scored, the count per tier and ``small`` (the workflows left out:
        ``workflows``, ``conversations``, ``floor``); ``mode: skipped`` with a
        ``reason`` when the drift stage has not run.
    """
    outcomes = store.sql(f"select * from {schema.OUTCOMES}")
    if outcomes.is_empty():
        return {"mode": "skipped", "reason": "no outcomes: run the drift stage first"}
    sops = stored_sops(store)
    tables = {
        name: store.sql(f"select * from {name}")
        for name in (
            schema.CONFORMANCE,
            schema.STEP_EVENTS,
            schema.DRIFT_FINDINGS,
            schema.CANDIDATE_SOPS,
            schema.STEP_TYPES,
        )  # fmt: skip
    }
    labelled = store.sql(
        f"select c.*, i.label as intent_label from ({CONVERSATIONS_SQL}) c "
        f"left join {schema.INTENTS} i on i.intent_id = c.intent_id "
        f"and i.run_id = (select max(run_id) from {schema.INTENTS})"
    )
    inputs = readiness_inputs(
        conversations=labelled,
        outcomes=outcomes,
        conformance=tables[schema.CONFORMANCE],
        step_events=tables[schema.STEP_EVENTS],
        drift_findings=tables[schema.DRIFT_FINDINGS],
        candidate_sops=tables[schema.CANDIDATE_SOPS],
        step_types=tables[schema.STEP_TYPES],
        sops=sops,
        config=config.readiness,
    )
    inputs, small = drop_small_workflows(inputs, sops, config=config.readiness)
    with track(f"readiness: scoring {inputs.workflows.height:,} workflows"):
        readiness = score_readiness(inputs, sops, config=config.readiness)
    store.write_readiness(readiness, run_id=run_id)
    types = tables[schema.STEP_TYPES]
    picks = find_readiness_examples(
        readiness, inputs.conversations, outcomes, tables[schema.CONFORMANCE],
        tables[schema.STEP_EVENTS], sops, failed=store.sql(FAILED_SQL),
        ignore=not_steps(types, sops), variant_cover=config.readiness.variant_cover,
        undocumented_weight=config.drift.undocumented_weight,
        step_names=step_names(types),
    )  # fmt: skip
    turns = store.sql(f"{TURNS_OF} where conversation_id in (select unnest(?::varchar[]))",
                      [picks["conversation_id"].unique().to_list()])  # fmt: skip
    store.write_snapshots({schema.READINESS_EXAMPLES: excerpt_examples(picks, turns)},
                          run_id=run_id)  # fmt: skip
    return {
        "mode": "scored",
        "workflows": readiness.height,
        "tiers": dict(readiness.group_by("tier").len().sort("tier").iter_rows()),
        "small": small,
    }


def read_readiness(db_path: Path) -> pl.DataFrame:
    """Return the latest run's readiness ranking.

    Raises
    ------
    StoreError
        The database cannot be opened, or the readiness stage has not run.
    """
    with open_store(db_path, read_only=True) as store:
        ranking = store.sql(
            f"select * from {schema.READINESS} "
            f"where run_id = (select max(run_id) from {schema.READINESS}) order by rank"
        )
    if ranking.is_empty():
        raise StoreError(f"{db_path}: no readiness scores; run `cxminer run` first")
    return ranking


def read_capacity(db_path: Path, ranking: pl.DataFrame) -> pl.DataFrame:
    """Return :func:`~pipeline.readiness.capacity.leaders_capacity` of ``ranking``.

    Reads the ``outcomes`` (handle time and outcomes) and every conversation's start.
    """
    with open_store(db_path, read_only=True) as store:
        outcomes = store.sql(
            "select workflow_id, duration_s, resolved, escalated, repeat_contact "
            f"from {schema.OUTCOMES}"
        )
        starts = store.sql(f"select started_at from {schema.CONVERSATIONS}")
    return leaders_capacity(ranking, outcomes, starts)


def read_small_workflows(db_path: Path, config: Config) -> dict[str, int]:
    """Return the workflows of the latest outcomes that the latest ranking left out.

    ``workflows``, ``conversations`` (theirs) and ``floor`` (as configured now, over the
    conversations with a workflow, as :func:`~pipeline.readiness.score.drop_small_workflows`
    counts them).
    """
    with open_store(db_path, read_only=True) as store:
        row = store.sql(
            "with sizes as (select workflow_id, count(*) as n from "
            f"{schema.OUTCOMES} where workflow_id is not null group by workflow_id), "
            f"ranked as (select workflow_id from {schema.READINESS} "
            f"where run_id = (select max(run_id) from {schema.READINESS})) "
            "select count(*) as workflows, coalesce(sum(n), 0) as conversations, "
            "(select coalesce(sum(n), 0) from sizes) as total "
            "from sizes anti join ranked using (workflow_id)"
        ).row(0, named=True)
    return {
        "workflows": int(row["workflows"]),
        "conversations": int(row["conversations"]),
        "floor": volume_floor(int(row["total"]), config.readiness),
    }
