"""The conformance and drift stage on a store, and the findings it wrote.

:func:`update_drift` reads what ingest, intents, the process stage and the outcomes
stage wrote and writes ``conformance`` and ``drift_findings`` (snapshots);
:func:`read_findings` and :func:`format_findings` give the findings back to the CLI.
It reads through :class:`pipeline.store.Store`, calls the pure stage functions and
writes through the store; nothing here computes.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import yaml

from pipeline import schema
from pipeline.config import Config
from pipeline.drift.change_points import find_conformance_changes
from pipeline.drift.conformance import check_conformance, not_process
from pipeline.drift.exceptions import find_exception_clusters
from pipeline.drift.findings import print_order
from pipeline.drift.mix import find_mix_drift, find_variant_mix_drift
from pipeline.drift.step_rates import find_drift
from pipeline.embed.lookup import VectorLookup
from pipeline.embed.models import Embedder
from pipeline.errors import StoreError
from pipeline.outcomes.run import CONVERSATIONS_SQL, TURNS_SQL
from pipeline.process.discover import not_steps
from pipeline.sops.model import Sop, parse_sop
from pipeline.steps.library import CLOSING, GREETING, HOLD
from pipeline.store import Store, open_store


def stored_sops(store: Store) -> list[Sop]:
    """Return the documented SOPs the latest process run loaded (table ``sops``)."""
    return [
        parse_sop(yaml.safe_load(text), origin=f"table sops: {sop_id}")
        for sop_id, text in store.sql(
            f"select sop_id, yaml from {schema.SOPS} order by sop_id"
        ).iter_rows()
    ]


def update_drift(
    store: Store,
    *,
    config: Config,
    embedder: Embedder | Callable[[], Embedder],
    run_id: str,
) -> dict[str, Any]:
    """Compute conformance and drift findings; write the two tables.

    Reads ``conversations``, ``turns``, ``intent_assignments``, ``intents``, the
    process tables (``step_events``, ``step_types``, ``variants``), ``sops`` and the
    ``outcomes`` the outcomes stage wrote (:func:`pipeline.outcomes.run.update_outcomes`
    runs first), with the settings of ``config.drift`` (the exception clusters also
    ``config.steps``' speakers and clustering, as for the steps they cluster). The
    embedder (or a factory for it) is used only for the exception clusters' text, and
    only when there are deviating turns not yet in the embedding cache.

    Returns
    -------
    dict
        Row counts and the number of flagged findings by kind; ``mode: skipped`` with a
        ``reason`` when the process stage has not run.
    """
    events = store.sql(f"select * from {schema.STEP_EVENTS} order by conversation_id, seq")
    if events.is_empty():
        return {"mode": "skipped", "reason": "no step events: run the process stage first"}
    sops = stored_sops(store)
    by_id = {sop.sop_id: sop for sop in sops}
    conversations = store.sql(CONVERSATIONS_SQL)
    turns = store.sql(TURNS_SQL)
    types = store.sql(f"select * from {schema.STEP_TYPES}")
    skip = not_steps(types)
    outcomes = store.sql(f"select * from {schema.OUTCOMES}")
    drift = config.drift
    off_script = types.filter(pl.col("source") == "discovered")["step_id"].to_list()
    conformance = check_conformance(events, by_id, conversations=conversations, ignore=skip,
                                    off_script=off_script,
                                    undocumented_weight=drift.undocumented_weight)  # fmt: skip
    if callable(embedder) and not hasattr(embedder, "encode"):
        embedder = embedder()
    # The stage reads vectors through a lookup that never writes; its new ones are cached here.
    vectors = VectorLookup(store.cached_embeddings, embedder, max_chars=config.embed.max_chars)
    labels = dict(store.sql(f"select intent_id, label from {schema.INTENTS} "
                            f"where run_id = (select max(run_id) from {schema.INTENTS})"
                            ).iter_rows())  # fmt: skip
    variants = store.sql(f"select * from {schema.VARIANTS}")
    findings = pl.concat(
        [
            find_drift(
                conformance, outcomes, conversations, by_id, config=drift, step_events=events
            ),
            find_mix_drift(
                conversations.select("conversation_id", "intent_id", "is_outlier"),
                conversations,
                config=drift,
                labels=labels,
            ),
            find_variant_mix_drift(conformance, conversations, config=drift, variants=variants),
            find_conformance_changes(conformance, conversations, config=drift),
            find_exception_clusters(
                conformance,
                events,
                turns,
                sops,
                embedder=vectors,
                not_steps=[*skip, *sorted(not_process(sops))],
                config=drift,
                speakers=config.steps.speakers,
                cluster_config=config.steps.clustering,
                outcomes=outcomes,
                threshold=config.steps.threshold,
                roles={
                    GREETING: config.steps.greeting_phrasings,
                    CLOSING: config.steps.closing_phrasings,
                    HOLD: config.steps.hold_phrasings,
                },
            ),
        ],
        how="vertical_relaxed",
    ).unique("finding_id", keep="first", maintain_order=True)
    store.write_embeddings(vectors.new_rows(), model_id=vectors.model_id, run_id=run_id)
    counts = store.write_snapshots(
        {schema.CONFORMANCE: conformance, schema.DRIFT_FINDINGS: findings}, run_id=run_id
    )
    flagged = findings.filter(pl.col("flagged")).group_by("kind").len().sort("kind")
    return {
        "mode": "computed",
        "conformance": counts[schema.CONFORMANCE],
        "findings": counts[schema.DRIFT_FINDINGS],
        "flagged": dict(flagged.iter_rows()),
        "conforming_share": round(float(conformance["is_conforming"].mean() or 0.0), 4),
        "encoded": vectors.encoded,
    }


def read_findings(
    db_path: Path, *, flagged_only: bool = True, limit: int | None = 20
) -> pl.DataFrame:
    """Return drift findings: flagged first, step deviations first, then most severe.

    Raises
    ------
    StoreError
        The database cannot be opened, or the drift stage has not run.
    """
    with open_store(db_path, read_only=True) as store:
        if not store.count(schema.DRIFT_FINDINGS):
            raise StoreError(f"{db_path}: no drift findings; run `cxminer run` first")
        findings = store.sql(
            "select finding_id, severity, kind, sop_id, workflow_id, step, team, window_start, "
            f"rate, baseline, q_value, flagged, sentence, details from {schema.DRIFT_FINDINGS} "
            f"{'where flagged' if flagged_only else ''}"
        )
    return first_findings(print_order(findings), limit)


def first_findings(ordered: pl.DataFrame, limit: int | None) -> pl.DataFrame:
    """Return the first ``limit`` findings of :func:`print_order`'s frame, nested ones kept.

    Only the findings not nested under another count; each keeps the rows nested
    under it. None keeps them all.
    """
    if limit is None:
        return ordered
    top = (~ordered["nested"]).cum_sum()
    return ordered.filter(top <= int(limit)) if int(limit) > 0 else ordered.head(0)


def format_findings(findings: pl.DataFrame) -> str:
    """Render findings as text: severity, kind, where, then the sentence on its own line.

    A finding nested under the one before it (a team's part of a workflow's deviation,
    :func:`pipeline.drift.findings.print_order`) is indented beneath it.
    """
    if findings.is_empty():
        return "no flagged findings\n"
    lines = []
    nested = findings["nested"] if "nested" in findings.columns else [False] * findings.height
    for row, inner in zip(findings.iter_rows(named=True), nested, strict=True):
        where = " / ".join(str(row[k]) for k in ("sop_id", "step", "team") if row[k])
        mark = "" if row["flagged"] else " (not flagged)"
        pad = "    " if inner else ""
        lines.append(f"{pad}[{row['severity']}] {row['kind']}: {where or row['workflow_id']}{mark}")
        lines.append(f"{pad}    {row['sentence']}")
    return "\n".join(lines) + "\n"
