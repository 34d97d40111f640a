"""The outcomes stage on a store: how each stored conversation ended.

:func:`update_outcomes` reads what ingest, intents and the process stage wrote and
writes ``outcomes`` (a snapshot). It reads through :class:`pipeline.store.Store`, calls
:func:`pipeline.outcomes.derive.derive_outcomes` and writes through the store; nothing
here computes. The queries of the conversations (with their intent) and of the turns
are shared with the drift and readiness stages, which read the same rows.
"""

from __future__ import annotations

from typing import Any

import polars as pl

from pipeline import schema
from pipeline.config import Config
from pipeline.outcomes.derive import derive_outcomes
from pipeline.store import Store

#: The conversations with their intent assignment (``intent_id``, ``is_outlier``).
CONVERSATIONS_SQL = (
    "select c.conversation_id, c.started_at, c.ended_at, c.team, c.agent_hash, "
    "c.customer_hash, c.queue, c.channel, c.outcome, c.metadata, a.intent_id, a.is_outlier "
    f"from {schema.CONVERSATIONS} c left join {schema.INTENT_ASSIGNMENTS} a "
    "using (conversation_id)"
)
#: The turns, in conversation and turn order.
TURNS_SQL = (
    "select conversation_id, turn_idx, speaker, event_type, text, action_name, "
    f"action_status, ts from {schema.TURNS} order by conversation_id, turn_idx"
)


def update_outcomes(store: Store, *, config: Config, run_id: str) -> dict[str, Any]:
    """Derive every conversation's outcome; write the ``outcomes`` table.

    Memory grows with the conversations and their action events.

    Reads ``conversations``, ``turns``, ``intent_assignments`` and ``step_events`` (a
    conversation's workflow is its SOP's, else its intent), with the settings of
    ``config.outcomes``.

    Returns
    -------
    dict
        ``mode: computed`` and the ``outcomes`` row count; ``mode: skipped`` with a
        ``reason`` when the process stage has not run.
    """
    events = store.sql(f"select * from {schema.STEP_EVENTS} order by conversation_id, seq")
    if events.is_empty():
        return {"mode": "skipped", "reason": "no step events: run the process stage first"}
    conversations = store.sql(CONVERSATIONS_SQL)
    turns = store.sql(TURNS_SQL)
    workflows = (
        events.select("conversation_id", "workflow_id")
        .unique("conversation_id", keep="first", maintain_order=True)
        .join(
            conversations.select("conversation_id", "intent_id"),
            on="conversation_id",
            how="full",
            coalesce=True,
        )  # fmt: skip
        .select("conversation_id", workflow_id=pl.coalesce("workflow_id", "intent_id"))
    )
    outcomes = derive_outcomes(conversations, turns, workflows, config=config.outcomes)
    counts = store.write_snapshots({schema.OUTCOMES: outcomes}, run_id=run_id)
    return {"mode": "computed", "outcomes": counts[schema.OUTCOMES]}
