"""Stage 7, evidence: the conversations behind each flagged drift finding.

:func:`find_drift_examples` picks up to ``per_finding`` conversations per flagged
``drift_findings`` row, each with the turn that matters and a ``why`` in words;
:func:`excerpt_examples` cuts that turn and its neighbours out of ``turns.text``
(redacted at ingest): the rows of ``drift_examples``. Examples are typical, never the
worst (:func:`typical`). Candidates, and the turn, per kind:

- ``missing``, ``skipped``, ``gate_skipped``: conversations of the finding's SOP, group
  and windows whose conformance row lists the step; the turn where it was due: the first
  step done of those documented after it (:func:`pipeline.drift.reach.later_steps`, else
  document order), else the last step (the conversation ended without it);
- ``order_violation``: the step done too early; ``undocumented``: the step's first turn;
- ``outcome_impact``: conversations with the deviation (each SOP of a pooled row; a
  skipped step only where it was reached) and the outcome the deviation makes more
  common (escalated, re-contacted, resolved or not); its turn as above;
- ``conformance_change``: non-conforming conversations (fitness below 1 for ``fitness``)
  of the segment after the change (before it, for a rise) with the deviation whose share
  rose most across the change (fell most); its turn as above;
- ``intent_mix``: conversations of the intent that grew most (else moved most) in the
  windows; the opening request, filled in by :func:`excerpt_examples`;
- ``variant_mix``: conversations of the variant that grew most (``other variants``: any
  below ``variant_rare_share``) in the windows; where their path departs from the variant
  that shrank most, else the workflow's most common one (:func:`departures`);
- ``exception_cluster``: the SOP's deviating turns whose step is one of the cluster's,
  the half of them nearest (cosine) its exemplar; that turn.

Cost: joins over the deviations and events of candidate conversations; Python per finding
and per example, never per conversation.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from datetime import date

import numpy as np
import polars as pl

from pipeline.config import DriftConfig
from pipeline.drift.deviations import DEVIATIONS, REACH_KINDS, explode_deviations
from pipeline.drift.excerpts import departures, mark_deviations, named, typical
from pipeline.drift.mix import OTHER_VARIANTS, UNASSIGNED
from pipeline.drift.reach import reached_steps
from pipeline.embed.models import Embedder
from pipeline.sops.model import Sop

EXAMPLES_SCHEMA = pl.Schema(
    {"finding_id": pl.String, "kind": pl.String, "workflow_id": pl.String, "step": pl.String,
     "rank": pl.Int32, "conversation_id": pl.String, "turn_idx": pl.Int32, "why": pl.String,
     "excerpt": pl.String}
)  # fmt: skip
_PICKS = {c: t for c, t in EXAMPLES_SCHEMA.items() if c != "excerpt"}
_PLACEHOLDERS = (UNASSIGNED, OTHER_VARIANTS, "other")
_OUTCOMES = {
    "escalated": ("escalated", "not escalated"),
    "resolved": ("resolved", "not resolved"),
    "repeat_contact": ("the customer came back (repeat contact)", "no repeat contact"),
}
_MARKED = ["conversation_id", "sop_id", "_dev", "step", "before"]
_ROWS = ["finding_id", "conversation_id", "turn_idx", "why"]


def find_drift_examples(
    findings: pl.DataFrame,
    conformance: pl.DataFrame,
    step_events: pl.DataFrame,
    conversations: pl.DataFrame,
    outcomes: pl.DataFrame,
    sops: Mapping[str, Sop],
    *,
    config: DriftConfig,
    variants: pl.DataFrame | None = None,
    deviating: pl.DataFrame | None = None,
    embedder: Embedder | None = None,
    ignore: Collection[str] = ("other",),
    off_script: Collection[str] = (),
    step_names: Mapping[str, str] | None = None,
    per_finding: int = 3,
) -> pl.DataFrame:
    """Pick the example conversations of every flagged finding (rules: module docstring).

    Parameters
    ----------
    findings, conformance, step_events, outcomes, variants
        The tables ``drift_findings``, ``conformance``, ``step_events``, ``outcomes`` and
        ``variants`` (its sequences; without it a variant's path is not compared).
    conversations
        ``conversation_id, started_at, team, agent_hash, intent_id, is_outlier`` (and
        ``queue``, ``channel`` where a finding's group is one of them).
    sops
        sop_id -> documented SOP (its order and gate conditions).
    config
        ``variant_rare_share``: the variants pooled into ``other variants``.
    deviating, embedder
        :func:`~pipeline.drift.deviating_turns.find_deviating_turns`' frame and an
        embedder, for the exception clusters (which get no examples without them).
    ignore
        Steps that are no process step (``other``, greetings, closings, holds): never the
        turn shown for a path or a conversation's end.
    off_script, step_names
        The discovered step ids (never what breaks conformance), and their phrases.

    Returns
    -------
    polars.DataFrame
        ``finding_id, kind, workflow_id, step, rank, conversation_id, turn_idx, why``;
        ``turn_idx`` null stands for the opening request (``intent_mix``).
    """
    json_field = pl.col("details").cast(pl.String).str.json_path_match
    flagged = findings.filter(pl.col("flagged")).with_columns(
        _group=json_field("$.group"), _value=json_field("$.group_value")
    )
    cases = conformance.sort("version").unique(["conversation_id", "sop_id"], keep="last")
    if flagged.is_empty() or cases.is_empty():
        return pl.DataFrame(schema=_PICKS)
    devs = explode_deviations(cases).rename({"kind": "_dev"})
    extra = [c for c in ("queue", "channel") if c in conversations.columns]
    dated = conversations.unique("conversation_id").select(
        "conversation_id", _day=pl.col("started_at").dt.date(), _team="team", _agent="agent_hash",
        **{f"_c_{c}": pl.col(c).cast(pl.String) for c in extra})  # fmt: skip
    kind = pl.col("kind")
    steps = (flagged.filter(kind.is_in(list(DEVIATIONS))).rename({"kind": "_dev"})
             .join(devs, on=["sop_id", "_dev", "step"]).join(dated, on="conversation_id")
             .filter(_in_scope(extra)).select("finding_id", *_MARKED))  # fmt: skip
    changed = _change_rows(flagged.filter(kind == "conformance_change"), devs, cases, dated,
                           off_script=set(off_script))  # fmt: skip
    impact = _impact_rows(flagged.filter(kind == "outcome_impact"), devs, outcomes, step_events,
                          sops)  # fmt: skip
    marked = mark_deviations(pl.concat([steps, changed, impact], how="diagonal_relaxed"),
                             step_events, sops, ignore=ignore, step_names=step_names)  # fmt: skip
    parts = [
        marked.with_columns(why=pl.concat_str("why", "_said", separator="; ", ignore_nulls=True)),
        _mix_rows(flagged.filter(kind == "intent_mix"), dated, conversations, extra),
        _variant_rows(
            flagged.filter(kind == "variant_mix"),
            cases,
            dated,
            step_events,
            variants,
            rare=config.variant_rare_share,
            ignore=ignore,
            names=step_names,
        ),
    ]
    if deviating is not None and embedder is not None:
        parts.append(_exception_rows(flagged.filter(kind == "exception_cluster"), deviating,
                                     embedder))  # fmt: skip
    parts = [p.select(_ROWS) for p in parts if p.height]
    if not parts:
        return pl.DataFrame(schema=_PICKS)
    picked = typical(pl.concat(parts, how="vertical_relaxed"), outcomes, key="finding_id",
                     n=per_finding)  # fmt: skip
    about = flagged.select("finding_id", "kind", "workflow_id", "step")
    return (
        picked.join(about, on="finding_id")
        .select(list(_PICKS))
        .cast(_PICKS)
        .sort("finding_id", "rank")
    )


def _in_scope(extra: list[str]) -> pl.Expr:
    """Return whether a candidate started in the finding's windows and is of its group."""
    ok = pl.col("window_start").is_null() | (pl.col("_day") >= pl.col("window_start"))
    ok &= pl.col("window_end").is_null() | (pl.col("_day") <= pl.col("window_end"))
    ok &= pl.col("team").is_null() | (pl.col("_team") == pl.col("team"))
    ok &= pl.col("agent_hash").is_null() | (pl.col("_agent") == pl.col("agent_hash"))
    for column in extra:  # a queue's or channel's finding names its group in details
        ok &= pl.col("_group").ne_missing(column) | (pl.col(f"_c_{column}") == pl.col("_value"))
    return ok.fill_null(False)


def _impact_rows(found: pl.DataFrame, devs: pl.DataFrame, outcomes: pl.DataFrame,
                 step_events: pl.DataFrame, sops: Mapping[str, Sop]) -> pl.DataFrame:  # fmt: skip
    """Deviating conversations with the outcome an ``outcome_impact`` finding compares."""
    details = pl.col("details").cast(pl.String)
    pooled = details.str.json_path_match("$.sops").str.json_decode(pl.List(pl.String))
    rows = found.select(
        "finding_id", "step", "metric", _dev=details.str.json_path_match("$.deviation"),
        sop_id=pl.when(pl.col("sop_id").is_null()).then(pooled).otherwise(pl.concat_list("sop_id")),
        _side=pl.col("outcome_delta") > 0,
    ).explode("sop_id").join(devs, on=["sop_id", "_dev", "step"])  # fmt: skip
    if rows.filter(pl.col("_dev").is_in(REACH_KINDS)).height:  # compared where reached
        events = step_events.join(rows.select("conversation_id").unique(), on="conversation_id",
                                  how="semi")  # fmt: skip
        reached = reached_steps(events, sops).with_columns(_reached=pl.lit(True))
        rows = rows.join(reached, on=["conversation_id", "sop_id", "step"], how="left").filter(
            ~pl.col("_dev").is_in(REACH_KINDS) | pl.col("_reached").fill_null(False))  # fmt: skip
    metric = {m: pl.col("metric") == m for m in _OUTCOMES}
    value = pl.coalesce([pl.when(is_m).then(pl.col(m)) for m, is_m in metric.items()])
    said = [pl.when(is_m & (pl.col("_side") == side)).then(pl.lit(_OUTCOMES[m][1 - side]))
            for m, is_m in metric.items() for side in (True, False)]  # fmt: skip
    return (rows.join(outcomes.select("conversation_id", *_OUTCOMES), on="conversation_id")
            .filter(value == pl.col("_side"))
            .select("finding_id", *_MARKED, _said=pl.coalesce(said)))  # fmt: skip


def _change_rows(found: pl.DataFrame, devs: pl.DataFrame, cases: pl.DataFrame,
                 dated: pl.DataFrame, *, off_script: set[str]) -> pl.DataFrame:  # fmt: skip
    """Per ``conformance_change`` finding: its segment's conversations with the risen deviation."""
    out = [pl.DataFrame(schema={"finding_id": pl.String})]
    for row in found.iter_rows(named=True):  # per finding: few
        seg = json.loads(row["details"])["after" if row["rate"] < row["baseline"] else "before"]
        own = cases.filter(pl.col("sop_id") == row["sop_id"]).join(dated, on="conversation_id")
        inside = pl.col("_day").is_between(date.fromisoformat(seg["from"]),
                                           date.fromisoformat(seg["to"]))  # fmt: skip
        n = dict(own.group_by(_in=inside).len().iter_rows())
        bad = pl.col("fitness") < 1 if row["metric"] == "fitness" else ~pl.col("is_conforming")
        breaks = (pl.col("_dev") != "skipped") & ~(
            (pl.col("_dev") == "undocumented") & pl.col("step").is_in(list(off_script))
        )
        cand = own.filter(bad).select("conversation_id", _in=inside).join(
            devs.filter(breaks), on="conversation_id")  # fmt: skip
        if cand.is_empty() or not n.get(True):
            continue
        share = pl.col("conversation_id").filter(pl.col("_in")).n_unique() / n[True]
        share_out = pl.col("conversation_id").filter(~pl.col("_in")).n_unique() / max(
            n.get(False, 0), 1
        )
        rises = cand.group_by("_dev", "step").agg(_rise=share - share_out)
        dev, step, _ = rises.sort("_rise", "_dev", "step", descending=[True, False, False]).row(0)
        chosen = cand.filter(pl.col("_in") & (pl.col("_dev") == dev) & (pl.col("step") == step))
        out.append(chosen.select(*_MARKED).with_columns(finding_id=pl.lit(row["finding_id"])))
    return pl.concat(out, how="diagonal_relaxed")


def _moved(details: str) -> tuple[dict | None, dict | None]:
    """Return the category that grew most (else moved most), and the one that shrank most."""
    moved = json.loads(details).get("moved") or []
    delta = [m["share_after"] - m["share_before"] for m in moved]
    order = sorted(range(len(moved)), key=lambda i: -delta[i])
    real = [i for i in order if moved[i]["category"] not in _PLACEHOLDERS]
    grown = [i for i in order if delta[i] > 0]
    pick = next((i for i in grown if i in real), grown[0] if grown else (real or [None])[0])
    shrunk = [i for i in reversed(real) if delta[i] < 0 and i != pick]
    return (None if pick is None else moved[pick]), (moved[shrunk[0]] if shrunk else None)


def _moved_words(m: dict, noun: str) -> str:
    """Say how a category moved: ``the intent 'points' (i013) grew from 0% to 5%``."""
    cat = m["category"]
    name = f"'{cat}'" if cat in _PLACEHOLDERS else f"{noun} {cat}"
    if m.get("label") and noun == "intent" and cat not in _PLACEHOLDERS:
        name = f"the intent '{m['label']}' ({cat})"
    verb = "grew" if m["share_after"] >= m["share_before"] else "shrank"
    return f"{name} {verb} from {m['share_before']:.0%} to {m['share_after']:.0%}"


def _mix_rows(found: pl.DataFrame, dated: pl.DataFrame, conversations: pl.DataFrame,
              extra: list[str]) -> pl.DataFrame:  # fmt: skip
    """Conversations of the intent that moved, in the finding's windows (the opening request)."""
    unassigned = pl.col("is_outlier").fill_null(False) | pl.col("intent_id").is_null()
    intents = conversations.unique("conversation_id").select(
        "conversation_id", _cat=pl.when(unassigned).then(pl.lit(UNASSIGNED)).otherwise("intent_id")
    )
    out = [pl.DataFrame(schema={c: _PICKS[c] for c in _ROWS})]
    for row in found.iter_rows(named=True):  # per finding: few
        pick, _ = _moved(row["details"])
        if pick is None:
            continue
        why = f"{_moved_words(pick, 'intent')} of conversations; this one opened with its request"
        scope = found.filter(pl.col("finding_id") == row["finding_id"]).join(dated, how="cross")
        out.append(scope.filter(_in_scope(extra))
                   .join(intents.filter(pl.col("_cat") == pick["category"]), on="conversation_id")
                   .select("finding_id", "conversation_id", turn_idx=pl.lit(None, pl.Int32),
                           why=pl.lit(why)))  # fmt: skip
    return pl.concat(out)


def _variant_rows(
    found: pl.DataFrame,
    cases: pl.DataFrame,
    dated: pl.DataFrame,
    step_events: pl.DataFrame,
    variants: pl.DataFrame | None,
    *,
    rare: float,
    ignore: Collection[str],
    names: Mapping[str, str] | None,
) -> pl.DataFrame:
    """Return conversations of the variant that moved, shown where their path departs."""
    out = [pl.DataFrame(schema={"conversation_id": pl.String, "finding_id": pl.String,
                                "_said": pl.String, "_ref": pl.String})]  # fmt: skip
    for row in found.iter_rows(named=True):  # per finding: few
        pick, shrunk = _moved(row["details"])
        if pick is None:
            continue
        own = cases.filter(pl.col("sop_id") == row["workflow_id"])
        own = own.with_columns(_rare=pl.len().over("variant_id") / pl.len() < rare)
        chosen = (pl.col("_rare") if pick["category"] == OTHER_VARIANTS
                  else pl.col("variant_id") == pick["category"])  # fmt: skip
        scope = own.filter(chosen).join(dated, on="conversation_id").filter(
            pl.col("_day").is_between(row["window_start"], row["window_end"]))  # fmt: skip
        ref = shrunk["category"] if shrunk else None
        if ref is None and variants is not None:
            usual = variants.filter(
                (pl.col("workflow_id") == row["workflow_id"])
                & (pl.col("variant_id") != pick["category"])
            ).sort("rank")
            ref = usual["variant_id"][0] if usual.height else None
        said = f"{_moved_words(pick, 'variant')} of {row['workflow_id']} conversations"
        out.append(scope.select("conversation_id", finding_id=pl.lit(row["finding_id"]),
                                _said=pl.lit(said), _ref=pl.lit(ref, pl.String)))  # fmt: skip
    rows = pl.concat(out)
    sequences = pl.DataFrame(schema={"_ref": pl.String, "_path": pl.List(pl.String)})
    if variants is not None:
        sequences = variants.select(_ref="variant_id", _path="sequence").unique("_ref")
    reference = rows.select("finding_id", "_ref").unique().join(sequences, on="_ref")
    found = departures(rows, step_events, reference, key="finding_id", ignore=ignore, names=names)
    return found.filter(pl.col("_hit") | ~pl.col("_hit").any().over("finding_id")).select(
        "finding_id",
        "conversation_id",
        "turn_idx",
        why=pl.concat_str("_said", "_how", separator="; "),
    )


def _exception_rows(
    found: pl.DataFrame, deviating: pl.DataFrame, embedder: Embedder
) -> pl.DataFrame:
    """Return the turns of each exception cluster: its steps' turns nearest its exemplar."""
    out = [pl.DataFrame(schema={c: _PICKS[c] for c in _ROWS})]
    for row in found.iter_rows(named=True):  # per finding: one encode of its texts
        details = json.loads(row["details"])
        own = deviating.filter(
            (pl.col("sop_id") == row["sop_id"])
            & pl.col("step_id").is_in(list(details.get("steps") or {}))
        )
        if own.is_empty() or not details.get("exemplar"):
            continue
        vectors = np.asarray(embedder.encode([details["exemplar"], *own["text"]]), np.float32)
        half = max(3, -(-int(details.get("n_turns") or own.height) // 2))
        near = (
            own.with_columns(_sim=pl.Series(vectors[1:] @ vectors[0], dtype=pl.Float64))
            .sort("_sim", "conversation_id", "turn_idx", descending=[True, False, False])
            .head(half)
        )
        where = pl.when(pl.col("missing_step").is_not_null()).then(
            pl.format(
                ", standing where the mandatory step {} is missing", named(pl.col("missing_step"))
            )
        )
        said = f"an off-script turn of the sub-flow '{details.get('label') or row['step']}'"
        out.append(near.select("conversation_id", "turn_idx", finding_id=pl.lit(row["finding_id"]),
                               why=pl.concat_str(pl.lit(said), where.otherwise(pl.lit(""))))
                   .select(_ROWS))  # fmt: skip
    return pl.concat(out, how="vertical_relaxed")
