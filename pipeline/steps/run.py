"""The steps and discovery stages on a store: event log, process tables, drafts, XES.

:func:`update_process` reads ``turns``, ``intent_assignments`` and the documented SOPs,
extracts the step event log (:func:`pipeline.steps.extract.extract_steps`, with each customer's
opening request to settle which SOP a conversation follows), summarises each
workflow's process (:func:`pipeline.process.discover.discover_process`) and writes the five
snapshot tables at once. A workflow is the conversation's documented SOP where one
applies, else its intent (so an intent without a SOP still gets a candidate SOP).
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import polars as pl

from pipeline import schema
from pipeline.config import Config
from pipeline.embed.cache import CachedEmbedder, Embedder
from pipeline.errors import SopError, StoreError
from pipeline.intents.requests import opening_requests, request_vectors
from pipeline.process.discover import discover_process, draft_sop, not_steps
from pipeline.process.xes import XesCounts, write_xes
from pipeline.sops.model import Sop, load_sops, sop_to_yaml
from pipeline.steps.extract import extract_steps
from pipeline.steps.library import CLOSING, GREETING, HOLD
from pipeline.store import Store, open_store


def documented_sops(location: Path) -> list[Sop]:
    """Load the documented SOPs of a folder or file; none when the path does not exist."""
    return load_sops([location]) if location.exists() else []


def update_process(
    store: Store,
    *,
    config: Config,
    embedder: Embedder | Callable[[], Embedder],
    run_id: str,
) -> dict[str, Any]:
    """Run the steps and discovery stages on everything in the store; write their tables.

    Reads ``turns``, ``intent_assignments`` and the SOPs under ``config.sops``, with the
    settings of ``config.steps`` and ``config.discover``; writes
    ``sops`` (the library as loaded), ``step_types``, ``step_events``, ``variants``,
    ``dfg_edges``, ``candidate_sops`` (snapshots: a re-run replaces them).

    Returns
    -------
    dict
        ``conversations``, ``events``, ``guided_share`` (conversations a documented SOP
        applies to), ``step_types`` by source, ``workflows``, ``sops``, ``encoded``; or
        ``mode: skipped`` with a ``reason`` when there are no agent turns.
    """
    sops = documented_sops(config.sops)
    steps = config.steps
    turns = store.sql(
        f"select t.conversation_id, t.turn_idx, t.speaker, t.event_type, t.text, "
        f"t.action_name, t.ts, a.intent_id from {schema.TURNS} t "
        f"left join {schema.INTENT_ASSIGNMENTS} a using (conversation_id) "
        f"where t.speaker in ({', '.join('?' * len(steps.speakers))}) "
        "order by t.conversation_id, t.turn_idx",
        list(steps.speakers),
    )
    if turns.is_empty():
        return {"mode": "skipped", "reason": "no agent turns in the database", "sops": len(sops)}
    if callable(embedder) and not hasattr(embedder, "encode"):
        embedder = embedder()
    cached = CachedEmbedder(store, embedder, run_id=run_id, max_chars=config.embed.max_chars)
    requests = first_requests(store, config=config, embedder=cached) if sops else None
    events, types = extract_steps(
        turns,
        sops,
        embedder=cached,
        requests=requests,
        min_explained=steps.min_explained,
        discover=steps.discover,
        speakers=steps.speakers,
        roles={
            GREETING: steps.greeting_phrasings,
            CLOSING: steps.closing_phrasings,
            HOLD: steps.hold_phrasings,
        },
        cluster_config=steps.clustering,
        threshold=steps.threshold,
        neighbours=steps.neighbours,
        edge_role_share=steps.edge_role_share,
        slot_alpha=steps.slot_alpha,
        slot_min_said=steps.slot_min_said,
        slot_majority=steps.slot_majority,
    )
    intents = turns.select("conversation_id", "intent_id").unique("conversation_id")
    events = events.join(intents, on="conversation_id", how="left").with_columns(
        workflow_id=pl.coalesce("sop_id", "intent_id")
    )
    tables = {
        schema.SOPS: sop_rows(sops, config.sops),
        schema.STEP_TYPES: types.with_columns(pl.col("n_events").cast(pl.Int32)),
        schema.STEP_EVENTS: events,
        **discover_process(events, config.discover, not_steps=not_steps(types)),
    }
    counts = store.write_steps(tables, run_id=run_id)
    per_conversation = events.group_by("conversation_id").agg(pl.col("sop_id").is_not_null().any())
    return {
        "mode": "extracted",
        "conversations": per_conversation.height,
        "events": counts[schema.STEP_EVENTS],
        "guided_share": round(float(per_conversation["sop_id"].mean() or 0.0), 4),
        "step_types": dict(sorted(types.group_by("source").len().iter_rows())),
        "workflows": events["workflow_id"].drop_nulls().n_unique(),
        "sops": len(sops),
        "encoded": cached.encoded,
    }


def first_requests(
    store: Store, *, config: Config, embedder: CachedEmbedder
) -> tuple[pl.DataFrame, np.ndarray]:
    """Each conversation's first customer turn with content, embedded through the cache.

    The first request says what the customer came for; later turns mostly answer the
    agent (names, order numbers), so one turn, not the intent stage's ``opening_turns``.
    The turn is usually among the intent stage's, so already cached. Returns
    :func:`~pipeline.intents.requests.request_vectors`' pair.
    """
    turns = store.sql(
        f"select conversation_id, turn_idx, speaker, event_type, text from {schema.TURNS} "
        "where speaker = 'customer'"
    )
    requests = opening_requests(turns, dataclasses.replace(config.intents, opening_turns=1))
    hashes, matrix = embedder.encode_hashed(requests["text"])
    return request_vectors(requests.with_columns(text_hash=hashes), matrix)


def sop_rows(sops: list[Sop], location: Path) -> pl.DataFrame:
    """Rows of table ``sops``: the documented library as this run loaded it."""
    texts = [sop_to_yaml(sop) for sop in sops]
    return pl.DataFrame(
        {
            "sop_id": [sop.sop_id for sop in sops],
            "version": [sop.version for sop in sops],
            "intent": [list(sop.intent) for sop in sops],
            "n_steps": [len(sop.steps) for sop in sops],
            "yaml": texts,
            "content_hash": [hashlib.sha256(t.encode()).hexdigest()[:16] for t in texts],
            "path": [str(location)] * len(sops),
        },
        schema={
            "sop_id": pl.String,
            "version": pl.Int32,
            "intent": pl.List(pl.String),
            "n_steps": pl.Int32,
            "yaml": pl.String,
            "content_hash": pl.String,
            "path": pl.String,
        },
    )


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
