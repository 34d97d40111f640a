"""Stage 4, intents: group conversations by what the customer asked for.

:func:`update_intents` runs the stage on everything in the store: it picks each
conversation's opening request (:mod:`pipeline.intents.requests`), fits intents with
data-chosen HDBSCAN sizes (:mod:`pipeline.intents.fit`) or assigns new conversations
with the saved model (:mod:`pipeline.intents.model`), splits off and flags emerging
intents (:mod:`pipeline.intents.emerging`), keeps ids across refits and records their lineage
(:mod:`pipeline.intents.lineage`), and labels each intent by class-based TF-IDF terms
plus its most typical request (:mod:`pipeline.intents.names`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import polars as pl

from pipeline import schema
from pipeline.clustering import MIN_FIT, NO_REQUEST, NOISE
from pipeline.config import Config, IntentConfig
from pipeline.embed.cache import embed_with_cache
from pipeline.embed.models import Embedder
from pipeline.embed.vectors import normalise_text, text_hash
from pipeline.errors import StoreError
from pipeline.intents.emerging import emerging_intents, split_emerging
from pipeline.intents.families import name_families
from pipeline.intents.fit import IntentClusterer
from pipeline.intents.lineage import LINEAGE_SCHEMA, intent_lineage, lineage_row, match_intent_ids
from pipeline.intents.model import Assign, IntentModel, assign_intents, dump_model, load_model
from pipeline.intents.names import describe_intents
from pipeline.intents.requests import (
    mark_answers,
    opening_requests,
    request_hashes,
    request_text,
    request_vectors,
)

if TYPE_CHECKING:
    from pipeline.store import Store


def now_utc() -> datetime:
    """Return the current time, timezone-aware (a seam for tests)."""
    return datetime.now(UTC)


def update_intents(
    store: Store,
    *,
    config: Config,
    embedder: Embedder | Callable[[], Embedder],
    run_id: str,
    refit: bool | None = None,
    assign: Assign | None = None,
) -> dict[str, Any]:
    """Run the intent stage on everything in the store; write its tables.

    Memory grows with the conversations (one request vector each); the fit reads at most
    ``intents.fit_sample`` of them and predicts the rest.

    Parameters
    ----------
    store
        An open, writable store.
    config
        ``intents`` and ``embed.max_chars`` are used.
    embedder
        Encodes request turns not yet in the embedding cache; or a function returning
        one, called only when the stage has work (a skipped run loads no model).
    run_id
        Stamped on every row written.
    refit
        ``True`` fits a new model, ``False`` only assigns new conversations with the
        saved one, ``None`` follows ``intents.refit`` in config (``auto``: refit when
        there is no model, the model is older than ``refit_after_days``, or at least
        ``refit_new_share`` of the conversations were added since its fit).
    assign
        Assigns new conversations with the saved model (``assign`` mode only); called
        as :func:`assign_intents` is, which it defaults to. The flows pass one that runs
        it in chunks on their task runner (a Dask cluster when configured).

    Returns
    -------
    dict
        A summary: ``mode`` (fit/refit/assign/skipped), ``model_version``,
        ``conversations``, ``new``, ``intents``, ``unassigned``, ``encoded``,
        ``emerging`` (ids), ``unassigned_growing`` and, when skipped, ``reason``.
    """
    settings = config.intents
    # numba (under UMAP) compiles for seconds per process unless it may cache its code
    os.environ.setdefault("NUMBA_CACHE_DIR", str(config.embed.cache_dir / "numba"))
    conversations = store.sql(
        f"select conversation_id, started_at from {schema.CONVERSATIONS} order by conversation_id"
    )
    said = store.sql(
        f"select conversation_id, turn_idx, speaker, event_type, text from {schema.TURNS} "
        "where speaker in ('customer', 'agent') and event_type = 'utterance'"
    )
    # which turns are answers: read by skip_answers and, at a fit, by the labels
    marked = mark_answers(said, settings) if settings.skip_answers else None
    requests = opening_requests(said, settings, marked=marked)
    requests = requests.with_columns(
        text_hash=text_hash(normalise_text(requests["text"], max_chars=config.embed.max_chars))
    )
    unit_hashes = request_hashes(requests)
    previous = store.sql(
        f"select conversation_id, intent_id, probability, method, unit_hash, model_version "
        f"from {schema.INTENT_ASSIGNMENTS}"
    )
    stored = store.latest_intent_model()
    model = load_model(stored[1], stored[0]) if stored else None
    current = conversations.join(unit_hashes, on="conversation_id", how="left")
    unchanged = current.join(
        previous.select("conversation_id", "unit_hash"),
        on=["conversation_id", "unit_hash"],
        nulls_equal=True,  # a conversation without a request stays without one
    )
    n_new = current.height - unchanged.height
    mode = _choose_mode(model, refit, settings, current)
    summary: dict[str, Any] = {"mode": mode, "conversations": current.height, "new": n_new,
                               "encoded": 0}  # fmt: skip
    n_requests = unit_hashes.height
    if mode in ("fit", "refit") and n_requests < MIN_FIT:
        return {**summary, "mode": "skipped", "model_version": None,
                "reason": f"{n_requests} conversations with a customer request; intents need "
                f"at least {MIN_FIT}"}  # fmt: skip
    if callable(embedder) and not hasattr(embedder, "encode"):
        embedder = embedder()
    if mode == "assign":
        todo = requests.join(
            current.join(
                unchanged.select("conversation_id"), on="conversation_id", how="anti"
            ).select("conversation_id"),
            on="conversation_id",
        )
    else:
        todo = requests
    hashes, matrix, summary["encoded"] = embed_with_cache(
        store, todo["text"], embedder=embedder, run_id=run_id, max_chars=config.embed.max_chars
    )
    units, vectors = request_vectors(todo.with_columns(text_hash=hashes), matrix)
    if mode == "assign":
        assert model is not None
        ids, probability, method = (assign or assign_intents)(
            model, vectors, threshold=settings.assign_threshold
        )
        fresh = units.select("conversation_id", "unit_hash").with_columns(
            intent_id=pl.Series(ids, dtype=pl.String),
            probability=pl.Series(probability, dtype=pl.Float64),
            method=pl.Series(method.tolist(), dtype=pl.String),
        )
        kept = previous.join(unchanged.select("conversation_id"), on="conversation_id")
        assignments = pl.concat([kept.drop("model_version"), fresh], how="diagonal_relaxed")
        lineage = pl.DataFrame(schema=LINEAGE_SCHEMA)
        new_model = None
    else:
        fit = IntentClusterer.from_config(settings).fit(
            vectors, conversation_ids=units["conversation_id"].to_list()
        )
        started = units.select("conversation_id").join(
            conversations, on="conversation_id", how="left", maintain_order="left"
        )["started_at"]
        fit = split_emerging(
            fit, units["conversation_id"].to_list(), vectors, started.to_list(), settings
        )
        intent_ids, similarity = match_intent_ids(
            model, fit.centroids_, threshold=settings.match_threshold
        )
        answers = mark_answers(said, settings) if marked is None else marked
        asked = units.join(
            request_text(requests, answers), on="conversation_id", how="left",
            maintain_order="left",
        )["asked"].to_list()  # fmt: skip
        descriptions = describe_intents(
            asked, fit.labels_, vectors, fit.centroids_,
            n_terms=settings.n_terms, stop_words=settings.pleasantries,
        )  # fmt: skip
        descriptions = name_families(
            descriptions, asked, fit.labels_, vectors, intent_ids, settings
        )
        version = (model.version if model else 0) + 1
        max_id = max(int(i[1:]) for i in intent_ids)
        new_model = IntentModel(
            version=version,
            intent_ids=intent_ids,
            centroids=fit.centroids_,
            reducer=fit.reducer_,
            clusterer=fit.hdbscan_,
            params={**fit.params_, "max_id": max(max_id, model.params.get("max_id", 0) if model
                                                else 0)},
            fitted_at=now_utc(),
            fitted_ids=fit.fitted_ids_,
            n_at_fit=current.height,
            descriptions=descriptions,
        )  # fmt: skip
        assignments = units.select("conversation_id", "unit_hash").with_columns(
            intent_id=pl.Series(
                [intent_ids[c] if c != NOISE else None for c in fit.labels_], dtype=pl.String
            ),
            probability=pl.Series(fit.probabilities_, dtype=pl.Float64),
            method=pl.Series(fit.methods_.tolist(), dtype=pl.String),
        )
        lineage = (
            intent_lineage(
                previous.select("conversation_id", "intent_id"),
                assignments.select("conversation_id", "intent_id"),
                old_ids=model.intent_ids,
                similarity=similarity,
                share=settings.lineage_share,
            )
            if model
            else pl.DataFrame(
                [lineage_row("new", i, None, 0, None) for i in intent_ids],
                schema=LINEAGE_SCHEMA,
            )
        )
        model = new_model
    assignments = (
        conversations.select("conversation_id")
        .join(assignments, on="conversation_id", how="left", maintain_order="left")
        .with_columns(
            method=pl.col("method").fill_null(NO_REQUEST),
            is_outlier=pl.col("intent_id").is_null(),
            model_version=pl.lit(model.version, dtype=pl.Int32),
        )
        .select(schema.batch_columns(schema.INTENT_ASSIGNMENTS))
    )
    times = emerging_intents(
        assignments.select("conversation_id", "intent_id").join(
            conversations, on="conversation_id"
        ),
        recent_days=settings.emerging_days,
        share=settings.emerging_share,
    )
    intents = _intent_rows(model, assignments, times.drop_nulls("intent_id"))
    emerging = intents.filter(pl.col("is_emerging"))["intent_id"].to_list()
    growth = times.filter(pl.col("intent_id").is_null())
    store.write_intents(
        intents=intents.select(schema.batch_columns(schema.INTENTS)),
        assignments=assignments,
        lineage=lineage.with_columns(model_version=pl.lit(model.version, dtype=pl.Int32)),
        model=None
        if new_model is None
        else {
            "model_version": new_model.version,
            "fitted_at": new_model.fitted_at,
            "n_fit": len(new_model.fitted_ids),
            "params": new_model.params,
            "model": dump_model(new_model),
        },
        run_id=run_id,
    )
    n_unassigned = int(assignments["is_outlier"].sum())
    return {
        **summary,
        "model_version": model.version,
        "intents": len(model.intent_ids),
        "unassigned": n_unassigned,
        "unassigned_share": round(n_unassigned / max(assignments.height, 1), 4),
        "emerging": emerging,
        "unassigned_growing": bool(growth["is_emerging"].any()) if growth.height else False,
        "lineage": dict(lineage.group_by("event").len().iter_rows()),
    }


def _choose_mode(
    model: IntentModel | None, refit: bool | None, settings: IntentConfig, current: pl.DataFrame
) -> str:
    if model is None:
        return "fit"
    if refit is not None:
        return "refit" if refit else "assign"
    if settings.refit == "always":
        return "refit"
    if settings.refit == "never":
        return "assign"
    age = now_utc() - model.fitted_at
    if model.n_at_fit:  # added since the fit; not "outside its sample" (past fit_sample,
        # that share would be most conversations, and every run would refit)
        unseen = max(0.0, 1 - model.n_at_fit / max(current.height, 1))
    else:  # a model saved before the conversations at its fit were counted
        unseen = 1 - current["conversation_id"].is_in(list(model.fitted_ids)).mean()
    too_old = age >= timedelta(days=settings.refit_after_days)
    return "refit" if too_old or unseen >= settings.refit_new_share else "assign"


def _intent_rows(
    model: IntentModel, assignments: pl.DataFrame, times: pl.DataFrame
) -> pl.DataFrame:
    """One ``intents`` row per model intent: description, size, share and dates."""
    sizes = assignments.group_by("intent_id").len("size").drop_nulls()
    total = max(assignments.height, 1)
    frame = pl.DataFrame(
        {
            "intent_id": model.intent_ids,
            "model_version": [model.version] * len(model.intent_ids),
            "label": [d["label"] for d in model.descriptions],
            "terms": [d["terms"] for d in model.descriptions],
            "exemplar": [d["exemplar"] for d in model.descriptions],
            # a model saved before families existed: each intent is its own family
            "family_id": [
                d.get("family_id", "F" + i[1:])
                for d, i in zip(model.descriptions, model.intent_ids, strict=True)
            ],
            "family_label": [d.get("family_label", d["label"]) for d in model.descriptions],
            "centroid": [row.tolist() for row in model.centroids],
        },
        schema_overrides={
            "terms": pl.List(pl.String),
            "centroid": pl.List(pl.Float32),
            "model_version": pl.Int32,
        },  # fmt: skip
    )
    return (
        frame.join(sizes, on="intent_id", how="left")
        .join(times, on="intent_id", how="left")
        .with_columns(
            size=pl.col("size").fill_null(0).cast(pl.Int32),
            share=pl.col("size").fill_null(0) / total,
            is_emerging=pl.col("is_emerging").fill_null(False),
        )
        .sort("size", descending=True)
    )


def read_intents(db_path: Path) -> dict[str, Any]:
    """Read the intents of the latest run, largest first, for printing.

    Raises
    ------
    StoreError
        The database has no intents yet.
    """
    from pipeline.store import open_store

    with open_store(db_path, read_only=True) as store:
        if store.schema_version() < 3 or not store.count(schema.INTENTS):
            raise StoreError(
                f"{db_path}: no intents yet; run `cxminer run` or `cxminer intents --update`"
            )
        run_id = store.scalar(f"select max(run_id) from {schema.INTENTS}")
        # before schema v7 (or a row written before it), each intent is its own family
        family, family_label = "'F' || substr(intent_id, 2)", "label"
        if store.schema_version() >= 7:
            family = f"coalesce(family_id, {family})"
            family_label = "coalesce(family_label, label)"
        intents = store.sql(
            "select intent_id, label, size, share, exemplar, first_seen, is_emerging, terms, "
            f"{family} as family_id, {family_label} as family_label, "
            f"model_version from {schema.INTENTS} where run_id = ? "
            "order by size desc, intent_id",
            [run_id],
        )
        counts = store.sql(
            "select count(*) as conversations, count(*) filter (where is_outlier) as unassigned "
            f"from {schema.INTENT_ASSIGNMENTS}"
        ).row(0, named=True)
    return {
        "run_id": run_id,
        "model_version": intents["model_version"].max(),
        **counts,
        "intents": intents.drop("model_version").to_dicts(),
    }
