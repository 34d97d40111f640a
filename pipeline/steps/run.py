"""The steps stage on a store: the step event log and its step types.

:func:`update_steps` reads ``turns``, ``intent_assignments`` and the documented SOPs,
extracts the step event log (:func:`pipeline.steps.extract.extract_steps`, with each
customer's opening request to settle which SOP a conversation follows) and writes
``sops``, ``step_types`` and ``step_events`` at once. Each event carries its workflow:
the conversation's documented SOP where one applies, else its intent (so an intent
without a SOP still gets a candidate SOP in the discovery stage,
:mod:`pipeline.process.run`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from pipeline import schema
from pipeline.config import Config
from pipeline.embed.lookup import VectorLookup
from pipeline.embed.models import Embedder
from pipeline.intents.requests import opening_requests, request_vectors
from pipeline.sops.files import load_sops
from pipeline.sops.model import Sop, content_hash, sop_to_yaml
from pipeline.steps.extract import extract_steps
from pipeline.steps.library import CLOSING, GREETING, HOLD, step_library
from pipeline.steps.slot_values import slot_heavy_phrasings
from pipeline.store import Store

#: The tables :func:`update_steps` writes (snapshots: a re-run replaces them).
STEP_TABLES = (schema.SOPS, schema.STEP_TYPES, schema.STEP_EVENTS)


def documented_sops(location: Path) -> list[Sop]:
    """Load the documented SOPs of a folder or file; none when the path does not exist."""
    return load_sops([location]) if location.exists() else []


def update_steps(
    store: Store,
    *,
    config: Config,
    embedder: Embedder | Callable[[], Embedder],
    run_id: str,
) -> dict[str, Any]:
    """Run the steps stage on everything in the store; write its tables.

    Memory grows with the agent turns and with the distinct texts among them (a vector and a
    row of phrasing scores each); clustering fits at most ``steps.clustering.fit_sample``
    turns a group.

    Reads ``turns`` (the action events' ``args`` too, where a step is worded only by
    slots), ``intent_assignments`` and the SOPs under ``config.sops``, with the
    settings of ``config.steps``; writes :data:`STEP_TABLES`: ``sops`` (the library as
    loaded), ``step_types`` and ``step_events`` (snapshots: a re-run replaces them).

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
    # The stage reads vectors through a lookup that never writes; its new ones are cached here.
    vectors = VectorLookup(store.cached_embeddings, embedder, max_chars=config.embed.max_chars)
    requests = first_requests(store, config=config, vectors=vectors) if sops else None
    results = action_results(store) if sops and slot_heavy_phrasings(step_library(sops)) else None
    events, types = extract_steps(
        turns,
        sops,
        embedder=vectors,
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
        results=results,
    )
    intents = turns.select("conversation_id", "intent_id").unique("conversation_id")
    events = events.join(intents, on="conversation_id", how="left").with_columns(
        workflow_id=pl.coalesce("sop_id", "intent_id")
    )
    tables = {
        schema.SOPS: sop_rows(sops, config.sops),
        schema.STEP_TYPES: types.with_columns(pl.col("n_events").cast(pl.Int32)),
        schema.STEP_EVENTS: events,
    }
    store.write_embeddings(vectors.new_rows(), model_id=vectors.model_id, run_id=run_id)
    counts = store.write_snapshots(tables, run_id=run_id, required=STEP_TABLES)
    per_conversation = events.group_by("conversation_id").agg(pl.col("sop_id").is_not_null().any())
    return {
        "mode": "extracted",
        "conversations": per_conversation.height,
        "events": counts[schema.STEP_EVENTS],
        "guided_share": round(float(per_conversation["sop_id"].mean() or 0.0), 4),
        "step_types": dict(sorted(types.group_by("source").len().iter_rows())),
        "workflows": events["workflow_id"].drop_nulls().n_unique(),
        "sops": len(sops),
        "encoded": vectors.encoded,
    }


def first_requests(
    store: Store, *, config: Config, vectors: VectorLookup
) -> tuple[pl.DataFrame, np.ndarray]:
    """Each conversation's first customer turn with content, with its vector from ``vectors``.

    The first request says what the customer came for; later turns mostly answer the
    agent (names, order numbers), so one turn, not the intent stage's ``opening_turns``.
    The turn is usually among the intent stage's, so already cached. Returns
    :func:`~pipeline.intents.requests.request_vectors`' pair.
    """
    turns = store.sql(  # agent turns too: intents.skip_answers reads where the agent replied
        f"select conversation_id, turn_idx, speaker, event_type, text from {schema.TURNS} "
        "where speaker in ('customer', 'agent')"
    )
    requests = opening_requests(turns, dataclasses.replace(config.intents, opening_turns=1))
    hashes, matrix = vectors.encode_hashed(requests["text"])
    return request_vectors(requests.with_columns(text_hash=hashes), matrix)


def action_results(store: Store) -> pl.DataFrame:
    """Read the action events with arguments: ``conversation_id, turn_idx, args``.

    A system's result or a tool call. Read apart from the units: a system's result is no
    step, but a reply worded only by slots reads its values from the one before it
    (:mod:`pipeline.steps.slot_values`).
    """
    return store.sql(
        f"select conversation_id, turn_idx, args from {schema.TURNS} "
        "where event_type = 'action' and args is not null order by conversation_id, turn_idx"
    )


def sop_rows(sops: list[Sop], location: Path) -> pl.DataFrame:
    """Rows of table ``sops``: the documented library as this run loaded it.

    ``content_hash`` is :func:`pipeline.sops.model.content_hash`: what each playbook
    prescribes, the hash a bundle records (view ``conformance_audit``).
    """
    texts = [sop_to_yaml(sop) for sop in sops]
    return pl.DataFrame(
        {
            "sop_id": [sop.sop_id for sop in sops],
            "version": [sop.version for sop in sops],
            "intent": [list(sop.intent) for sop in sops],
            "n_steps": [len(sop.steps) for sop in sops],
            "yaml": texts,
            "content_hash": [content_hash(sop) for sop in sops],
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
