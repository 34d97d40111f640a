"""The conformance and drift stage on a store, and the findings it wrote.

:func:`update_drift` reads what ingest, intents, the process stage and the outcomes
stage wrote and writes ``conformance``, ``drift_findings`` and ``drift_examples``
(snapshots: the conversations behind each flagged finding);
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
from pipeline.drift.deviating_turns import find_deviating_turns
from pipeline.drift.examples import find_drift_examples
from pipeline.drift.exceptions import find_exception_clusters
from pipeline.drift.excerpts import excerpt_examples
from pipeline.drift.findings import print_order
from pipeline.drift.mix import find_mix_drift, find_variant_mix_drift
from pipeline.drift.step_rates import find_drift
from pipeline.embed.lookup import VectorLookup
from pipeline.embed.models import Embedder
from pipeline.errors import StoreError
from pipeline.outcomes.run import CONVERSATIONS_SQL, TURNS_SQL
from pipeline.process.discover import not_steps
from pipeline.progress import track
from pipeline.sops.model import Sop, parse_sop
from pipeline.steps.library import CLOSING, GREETING, HOLD
from pipeline.steps.step_types import step_names
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

    Memory grows with the step events and conversations (conformance), the off-script turns
    of documented workflows (exception clusters) and the findings.

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
    names = step_names(types)
    with track(f"drift: conformance of {conversations.height:,} conversations"):
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
    kinds = {  # each kind of finding, found in turn
        "step rates": lambda: find_drift(
            conformance,
            outcomes,
            conversations,
            by_id,
            config=drift,
            step_events=events,
            step_names=names,
        ),
        "intent mix": lambda: find_mix_drift(
            conversations.select("conversation_id", "intent_id", "is_outlier"),
            conversations,
            config=drift,
            labels=labels,
        ),
        "variant mix": lambda: find_variant_mix_drift(
            conformance, conversations, config=drift, variants=variants, step_names=names
        ),
        "conformance changes": lambda: find_conformance_changes(
            conformance, conversations, config=drift
        ),
        "exception clusters": lambda: find_exception_clusters(
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
    }
    found = []
    with track("drift: findings", total=len(kinds), unit=" kinds") as bar:
        for kind, find in kinds.items():
            with track(f"drift: {kind}"):
                found.append(find())
            bar.update()
    findings = pl.concat(found, how="vertical_relaxed").unique(
        "finding_id", keep="first", maintain_order=True
    )
    # the conversations behind each flagged finding (the clusters' turns only when flagged)
    no_step = [*skip, *sorted(not_process(sops))]
    clusters = findings.filter(pl.col("flagged") & (pl.col("kind") == "exception_cluster"))
    deviating = None
    if clusters.height:
        deviating = find_deviating_turns(conformance, events, turns, sops, not_steps=no_step,
                                         speakers=config.steps.speakers)  # fmt: skip
    with track("drift: example conversations of the flagged findings"):
        picks = find_drift_examples(findings, conformance, events, conversations, outcomes,
                                    by_id, config=drift, variants=variants, deviating=deviating,
                                    embedder=vectors, ignore=no_step, off_script=off_script,
                                    step_names=names)  # fmt: skip
    store.write_embeddings(vectors.new_rows(), model_id=vectors.model_id, run_id=run_id)
    counts = store.write_snapshots(
        {schema.CONFORMANCE: conformance, schema.DRIFT_FINDINGS: findings,
         schema.DRIFT_EXAMPLES: excerpt_examples(picks, turns)}, run_id=run_id
    )  # fmt: skip
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
        names = step_names(store.sql(f"select step_id, label, source from {schema.STEP_TYPES}"))
    return first_findings(print_order(name_steps(findings, names)), limit)


def read_examples(db_path: Path, findings: pl.DataFrame) -> pl.DataFrame:
    """Add ``examples`` to ``findings``: the conversations behind each, rank 1 first.

    Each a ``{conversation_id, turn_idx, why, excerpt}`` (the excerpt a list of
    ``{turn_idx, speaker, text, highlight}``, table ``drift_examples``); an empty list for a
    finding without examples (not flagged) and for a drift run older than the table.
    """
    with open_store(db_path, read_only=True) as store:
        kept = store.scalar("select count(*) from information_schema.tables where table_name = ?",
                            [schema.DRIFT_EXAMPLES])  # fmt: skip
        examples = store.sql(
            "select finding_id, conversation_id, turn_idx, why, excerpt::varchar as excerpt "
            f"from {schema.DRIFT_EXAMPLES} order by finding_id, rank"
        ) if kept else pl.DataFrame(schema=dict.fromkeys(["finding_id", "conversation_id", "why",
                                                          "excerpt"], pl.String))  # fmt: skip
    turn = pl.Struct({"turn_idx": pl.Int64, "speaker": pl.String, "text": pl.String,
                      "highlight": pl.Boolean})  # fmt: skip
    grouped = (
        examples.with_columns(pl.col("excerpt").str.json_decode(pl.List(turn)))
        .group_by("finding_id", maintain_order=True)
        .agg(examples=pl.struct(pl.all().exclude("finding_id")))
    )
    found = findings.join(grouped, on="finding_id", how="left", maintain_order="left")
    return found.with_columns(pl.col("examples").fill_null(pl.lit([], found["examples"].dtype)))


def name_steps(findings: pl.DataFrame, names: dict[str, str]) -> pl.DataFrame:
    """Add ``step_label``: the key phrase of a step found in the data or an exception cluster.

    Null for a documented step (its id is its name). ``names`` maps step ids to phrases
    (:func:`pipeline.steps.step_types.step_names`); an exception cluster's phrase is its
    details' ``label``.
    """
    cluster = pl.col("details").str.json_path_match("$.label")
    return findings.with_columns(
        step_label=pl.when(pl.col("kind") == "exception_cluster")
        .then(cluster)
        .otherwise(pl.col("step").replace_strict(names, default=None, return_dtype=pl.String))
    )


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

    A step found in the data or an exception cluster is named by its key phrase
    (``step_label``, :func:`name_steps`), its id in brackets.

    A finding nested under the one before it (a team's part of a workflow's deviation,
    :func:`pipeline.drift.findings.print_order`) is indented beneath it. With ``examples``
    (:func:`read_examples`), each example follows: its conversation and why, then its
    excerpt one turn a line, the turn that matters marked ``>``.
    """
    if findings.is_empty():
        return "no flagged findings\n"
    lines = []
    nested = findings["nested"] if "nested" in findings.columns else [False] * findings.height
    for row, inner in zip(findings.iter_rows(named=True), nested, strict=True):
        step = row["step"]
        if step and row.get("step_label"):
            step = f'"{row["step_label"]}" ({step})'  # the phrase first, the id in brackets
        where = " / ".join(str(v) for v in (row["sop_id"], step, row["team"]) if v)
        mark = "" if row["flagged"] else " (not flagged)"
        pad = "    " if inner else ""
        lines.append(f"{pad}[{row['severity']}] {row['kind']}: {where or row['workflow_id']}{mark}")
        lines.append(f"{pad}    {row['sentence']}")
        for example in row.get("examples") or ():  # read_examples: a few per finding
            lines.append(f"{pad}    e.g. {example['conversation_id']}: {example['why']}")
            lines += [f"{pad}      {'>' if t['highlight'] else ' '} {t['turn_idx']:>3} "
                      f"{t['speaker']}: {t['text']}" for t in example["excerpt"]]  # fmt: skip
    return "\n".join(lines) + "\n"
