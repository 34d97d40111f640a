"""A synthetic store at scale for ``benchmarks/bench_report.py`` (not a test, not the package).

:func:`generate` builds, from a seed, what the stages would store for N conversations over
13 weeks with K intents; :func:`write_store` writes it through the store API, each stage
under a run of its own. :data:`GENERATORS` holds one function a stage, returning
``{table: frame}``: a table added to ``schema.COLUMNS`` later is one more small function
(until then it stays empty), and a column no generator knows is written null.
Ingest, intents and the event log are drawn (numpy, polars; drift planted in the log);
discovery, conformance, drift findings and readiness are the stages' own pure functions
run on them, so their rows, sentences and JSON are the real ones. The evidence examples
(``drift_examples``, ``readiness_examples``) are drawn, with templated excerpts.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from pipeline import schema
from pipeline.config import DiscoverConfig, DriftConfig, ReadinessConfig
from pipeline.drift.change_points import find_conformance_changes
from pipeline.drift.conformance import check_conformance
from pipeline.drift.mix import find_mix_drift, find_variant_mix_drift
from pipeline.drift.step_rates import find_drift
from pipeline.errors import StoreError
from pipeline.process.discover import discover_process, not_steps
from pipeline.readiness.inputs import readiness_inputs
from pipeline.readiness.score import drop_small_workflows, score_readiness
from pipeline.sops.model import Sop, content_hash, parse_sop, sop_to_yaml
from pipeline.steps.step_types import step_names
from pipeline.store import Store, open_store
from pipeline.store.database import registered

START = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday: 13 ISO weeks of data
WEEKS, BASELINE, MIN_COUNT = 13, 4, 20  # the drift defaults: weekly windows, 4 baseline, 20
TEAMS = ("north", "south", "east", "west", "central", "night")
NOUNS = """account address app balance basket bill booking charge contract coupon credit
debit delivery device discount email fee gift installment invoice item limit login loyalty
member package parcel payment phone plan points premium price profile purchase receipt reward
router sim statement stock store tariff ticket tracking transfer upgrade voucher wallet""".split()
MODS = """late missing wrong blocked failed double expired locked cancelled pending damaged
declined frozen lost changed unknown slow broken stolen duplicate overdue refused reversed
partial new old extra hidden incorrect stuck""".split()
OPENINGS = (
    "hi, my {n} is {m}",
    "I need help with a {m} {n}",
    "why is my {n} still {m}?",
    "can you check the {n} on my account, it says {m}",
    "{m} {n} again, third time this month",
)
# After verify_identity, each SOP's process steps: "?" optional, "!" an approval gate.
SOPS = {
    "refund_request": "lookup_order check_eligibility get_approval! issue_refund send_receipt?",
    "order_status": "lookup_order explain_status send_tracking_link?",
    "address_change": "collect_new_address update_address send_confirmation?",
    "password_reset": "send_reset_link confirm_login offer_two_factor?",
    "promo_code": "ask_promo_code check_promo_validity apply_discount explain_terms?",
    "shipping_delay": "lookup_order explain_delay offer_compensation?",
    "subscription_cancel": "ask_cancel_reason offer_retention? get_approval! cancel_plan",
    "card_update": "security_question collect_card_details update_card send_confirmation?",
    "return_damaged_item": "lookup_order collect_damage_details create_label offer_refund?",
    "payment_dispute": "collect_details check_transaction get_approval! open_dispute notify?",
    "account_closure": "security_question ask_closure_reason offer_retention? close_account",
    "fraud_report": "block_card review_transactions get_approval! issue_new_card file_report",
}
MONEY = {"refund_request", "subscription_cancel", "return_damaged_item", "payment_dispute"}
REGULATED = {"card_update", "payment_dispute", "account_closure", "fraud_report"}
ACTIONS = ("crm.lookup", "orders.lookup", "billing.adjust", "notify.send_sms", "loyalty.adjust")


@dataclass
class World:
    """What every table is drawn from: intents, conversations, SOPs and trace templates."""

    rng: np.random.Generator
    intents: pl.DataFrame  # intent_id, label, terms, exemplar, family_id/label, sop, weight
    conversations: pl.DataFrame  # the table's columns, intent_id, sop_id, workflow_id, week, tid
    sops: dict[str, Sop]
    templates: pl.DataFrame  # tid, seq, step_id, is_repeat: the trace variants
    firsts: pl.DataFrame  # key (workflow, "" for none), t0 (its first tid), nt (its templates)
    step_types: pl.DataFrame


def _hex(values: np.ndarray | pl.Series) -> pl.Series:
    """16 hex digits a value (hashes, identifiers)."""
    return pl.Series(np.char.mod("%016x", np.asarray(values, dtype=np.uint64)))


def _sop(sop_id: str) -> Sop:
    """A valid SOP: a chain of ``after`` (a gate is stepped past), examples, tool bindings."""
    steps, chain, noun = [], [], sop_id.split("_")[0]
    for token in ["verify_identity", *SOPS[sop_id].split()]:
        sid = token.rstrip("?!")
        words = sid.replace("_", " ")
        steps.append({"id": sid, "description": f"{words.capitalize()} and note it on the case.",
                      "examples": [f"let me {words} for you", f"ok, I'll {words} now"],
                      "action": f"{noun}.{sid}", "after": chain[-1:],
                      "mandatory": token == sid})  # fmt: skip
        if token.endswith("!"):
            steps[-1]["when"] = "amount > 200"
        chain += [] if token.endswith("!") else [sid]
    risk = {"moves_money": sop_id in MONEY, "regulated": sop_id in REGULATED}
    data = {"sop_id": sop_id, "version": 1, "intent": sop_id, "source": "cxminer benchmark",
            "description": sop_id.replace("_", " "), "steps": steps, "risk": risk}  # fmt: skip
    return parse_sop(data, origin=f"benchmark SOP {sop_id}")


def _intents(rng: np.random.Generator, k: int) -> pl.DataFrame:
    """K intents by size rank (1/rank^0.9); the largest 15% are SOPs', the rest in families."""
    sop_ids = list(SOPS)
    n_guided = min(k, max(len(sop_ids), round(0.15 * k)))
    sop = [sop_ids[r % len(sop_ids)] for r in range(n_guided)] + [None] * (k - n_guided)
    others = np.repeat(np.arange(k), rng.integers(1, 10, k))[: k - n_guided]  # families of 1-9
    family = [sop_ids.index(s) for s in sop[:n_guided]] + (len(sop_ids) + others).tolist()
    noun = [
        s.split("_")[0] if s else NOUNS[f * 7 % len(NOUNS)]
        for s, f in zip(sop, family, strict=True)
    ]
    mod = [MODS[(r * 5 + f) % len(MODS)] for r, f in enumerate(family)]
    frame = pl.DataFrame({
        "rank": range(k), "intent_id": [f"i{i:03d}" for i in rng.permutation(k) + 1],
        "family": family, "noun": noun, "mod": mod, "sop": sop, "late": rng.random(k) < 0.03,
        "exemplar": [OPENINGS[r % len(OPENINGS)].format(n=noun[r], m=mod[r]) for r in range(k)],
        "weight": 1 / np.arange(1, k + 1) ** 0.9,
    })  # fmt: skip
    return frame.with_columns(
        label=pl.format("{} {}", "noun", "mod"),
        terms=pl.concat_list("noun", "mod", pl.format("{} {}", "mod", "noun"), pl.lit("help")),
        family_id="F" + pl.col("intent_id").min().over("family").str.slice(1),
        family_label="noun",
        emerging=pl.col("late") & (pl.col("rank") > k // 2),  # starts in the last 3 weeks
    )


def _conversations(rng: np.random.Generator, n: int, intents: pl.DataFrame) -> pl.DataFrame:
    """N conversations over 13 weeks: intent by weight, team by agent, outcome by intent."""
    weight = intents["weight"].to_numpy()
    pick = rng.choice(intents.height, size=n, p=weight / weight.sum())
    chosen, n_agents = intents[pick], max(24, n // 350)
    agent, customers = rng.integers(0, n_agents, n), _hex(rng.integers(0, 2**63, n // 2 + 1))
    unresolved = rng.choice(["escalated", "abandoned", "transferred"], n, p=[0.55, 0.3, 0.15])
    resolved = rng.random(n) < rng.beta(18, 1.5, intents.height)[pick]
    frame = pl.DataFrame({
        "row": np.arange(1, n + 1), "hour": np.clip(rng.normal(13.5, 3, n), 7, 22),
        "day": np.where(chosen["emerging"], rng.integers(70, 91, n), rng.integers(0, 91, n)),
        "channel": rng.choice(["chat", "voice", "email"], n, p=[0.6, 0.35, 0.05]),
        "queue": np.array(["orders", "billing", "account", "cards"])[chosen["family"] % 4],
        "team": np.array(TEAMS)[agent % len(TEAMS)],
        "agent_hash": _hex(rng.integers(0, 2**63, n_agents))[agent],
        "customer_hash": customers[rng.integers(0, customers.len(), n)],
        "duration": np.where(rng.random(n) < 0.03, np.nan, rng.lognormal(np.log(330), 0.55, n)),
        "outcome": np.where(resolved, "resolved", unresolved), "_r": rng.random((n, 3)),
        "amount": rng.lognormal(4.8, 0.9, n).round(2), "n_turns": rng.poisson(14, n) + 4,
        "content_hash": _hex(rng.integers(0, 2**63, n)),
        "intent_id": chosen["intent_id"], "sop_id": chosen["sop"],
    })  # fmt: skip
    r, gated = pl.col("_r").arr, [s for s, steps in SOPS.items() if "!" in steps]
    amount = pl.concat_str(pl.lit('{"amount": '), "amount", pl.lit("}"))
    return (
        frame.with_columns(
            conversation_id="c" + pl.col("row").cast(pl.String).str.zfill(8),
            locator=pl.format("line {}", "row"),
            started_at=pl.lit(START) + pl.duration(days="day", seconds=pl.col("hour") * 3600),
            outcome=pl.when(r.get(0) > 0.2).then("outcome"),  # a fifth have none: derived
            metadata=pl.when(pl.col("sop_id").is_in(gated) | (r.get(1) < 0.1)).then(amount),
            intent_id=pl.when(r.get(2) > 0.012).then("intent_id"),  # outliers: no intent
        )
        .with_columns(
            sop_id=pl.when(pl.col("intent_id").is_not_null()).then("sop_id"),
            ended_at=pl.col("started_at") + pl.duration(seconds=pl.col("duration").round()),
            started_at=pl.col("started_at").dt.truncate("1s"),
            week=pl.col("day") // 7,
            source_id=pl.format("src{}", pl.col("started_at").dt.month()),
        )
        .with_columns(workflow_id=pl.coalesce("sop_id", "intent_id"))
    )


def _world(n: int, n_intents: int, seed: int) -> World:
    rng = np.random.default_rng(seed)
    intents = _intents(rng, n_intents)
    conversations = _conversations(rng, n, intents)
    sops = {s: _sop(s) for s in SOPS}
    templates, firsts, step_types = _templates(rng, conversations, intents, sops)
    key = pl.col("workflow_id").fill_null("").alias("key")
    conversations = conversations.with_columns(key).join(firsts, on="key", maintain_order="left")
    rank = np.minimum(rng.zipf(1.4, n), conversations["nt"].to_numpy()) - 1  # a few dominate
    conversations = conversations.with_columns(tid=pl.col("t0") + rank)
    return World(rng, intents, conversations, sops, templates, firsts, step_types)


def _trace(rng: np.random.Generator, steps: list[str], extra: list[str], drop: float) -> list[str]:
    """One variant: steps dropped, neighbours swapped, off-script and unplaced turns added."""
    trace = [s for s in steps if rng.random() > drop]
    for _ in range(rng.poisson(0.3)):
        if len(trace) > 1:
            i = int(rng.integers(len(trace) - 1))
            trace[i], trace[i + 1] = trace[i + 1], trace[i]
    for step in [*rng.choice(extra, rng.poisson(0.5)), *["other"] * rng.poisson(0.4)]:
        trace.insert(int(rng.integers(len(trace) + 1)), str(step))
    return ["greeting", *trace] + ["closing"] * (rng.random() < 0.9)


def _templates(rng, conversations, intents, sops) -> tuple[pl.DataFrame, ...]:
    """Trace templates per workflow (one per 8 conversations, 5-300), and the step types."""
    sizes = conversations.group_by("workflow_id").len().sort("workflow_id", nulls_last=True)
    found = {s: [f"d_{s}_{i}" for i in range(8)] for s in sops}  # a SOP's off-script clusters
    pools = {f: [f"u_{(f * 5 + i) % 400}" for i in range(6)] for f in intents["family"]}
    family = dict(intents.select("intent_id", "family").iter_rows())
    rows, firsts = [], []
    for wf, size in sizes.iter_rows():
        t0 = firsts[-1][1] + firsts[-1][2] if firsts else 0
        firsts.append((wf or "", t0, min(300, max(5, size // 8))))
        for tid in range(t0, t0 + firsts[-1][2]):
            if wf in sops:  # an approval gate is due about half the time
                chance = [1.0 if s.mandatory else 0.5 if s.when else 0.7 for s in sops[wf].steps]
                due = [
                    s.id for s, p in zip(sops[wf].steps, chance, strict=True) if rng.random() < p
                ]
                trace = _trace(rng, due, found[wf], 0.06)
            elif wf is None:  # unassigned: small talk only
                trace = ["greeting", "other", "closing"]
            else:  # a mined workflow: its family's steps, maybe a check and a tool call
                pool, i = pools[family[wf]], int(wf[1:])
                steps = ["verify_identity"] * (rng.random() < 0.5) + pool[: 3 + i % 3]
                trace = _trace(rng, steps + [ACTIONS[i % 5]] * (rng.random() < 0.3), pool, 0.15)
            for step in trace:
                rows += [(tid, step, False)] + [(tid, step, True)] * (rng.random() < 0.04)
    templates = pl.DataFrame(rows, schema=["tid", "step_id", "is_repeat"], orient="row")
    templates = templates.with_columns(seq=pl.int_range(pl.len()).over("tid").cast(pl.Int32))
    documented: dict[str, tuple] = {}
    for sop in sops.values():
        for step in sop.steps:
            documented.setdefault(step.id, (step.description, sop.sop_id, step.examples[0], []))
            documented[step.id][3].append(f"{sop.sop_id}/{step.id}")
    types = [(s, d, "sop", sop_id, ex, paths) for s, (d, sop_id, ex, paths) in documented.items()]
    types += [(s, s, "sop", None, f"thanks for calling, {s}", []) for s in ("greeting", "closing")]
    types += [("other", "other", "other", None, "that makes sense", [])]
    types += [(a, a, "action", None, None, []) for a in ACTIONS]
    used = {s for d in found.values() for s in d} | {s for p in pools.values() for s in p}
    for i, step in enumerate(sorted(used)):
        noun, mod = NOUNS[i * 7 % len(NOUNS)], MODS[i % len(MODS)]
        sop_id = step[2:].rsplit("_", 1)[0] if step.startswith("d_") else None
        types.append(
            (step, f"{mod} {noun}", "discovered", sop_id, f"I see the {noun} is {mod}", [])
        )
    columns = ["step_id", "label", "source", "sop_id", "exemplar", "sop_steps"]
    step_types = pl.DataFrame(types, schema=columns, orient="row")
    return templates, pl.DataFrame(firsts, schema=["key", "t0", "nt"], orient="row"), step_types


def _ingest(w: World, built: dict) -> dict[str, pl.DataFrame]:
    """conversations, redactions (~2.5 a conversation), sources (a file a month), quarantine."""
    c, rng = w.conversations, w.rng
    per = rng.poisson(2.5, c.height)
    types = ["name", "email", "phone", "address", "card", "order_id"]
    redactions = pl.DataFrame({
        "conversation_id": np.repeat(c["conversation_id"].to_numpy(), per), "n": 1,
        "turn_idx": rng.integers(0, 12, per.sum()), "pii_type": rng.choice(types, per.sum()),
    }).unique(["conversation_id", "turn_idx", "pii_type"], maintain_order=True)  # fmt: skip
    sources = c.group_by("source_id").agg(pl.len().alias("n_loaded"), pl.col("started_at").min())
    n_bad = rng.poisson(c.height * 0.002 / sources.height + 1, sources.height)
    sources = sources.sort("source_id").with_columns(
        path=pl.format("/data/exports/conversations-{}.jsonl.gz", pl.col("started_at").dt.date()),
        sha256=_hex(rng.integers(0, 2**63, sources.height)) + "0" * 48, format=pl.lit("jsonl"),
        status=pl.lit("ok"), n_quarantined=pl.Series(n_bad), n_unchanged=0, n_replaced=0,
        n_records=pl.col("n_loaded") + pl.Series(n_bad),
    )  # fmt: skip
    reasons = ["unknown_speaker", "missing_id", "bad_timestamp", "empty_turns"]
    quarantine = pl.DataFrame({
        "source_id": np.repeat(sources["source_id"].to_numpy(), n_bad),
        "line": rng.integers(1, c.height, n_bad.sum()),
        "reason": rng.choice(reasons, n_bad.sum(), p=[0.4, 0.3, 0.2, 0.1]),
        "raw": '{"conversation_id":"<ID>","turns":[{"speaker":"supervisor","text":"<NAME> here"}]}',
    }).with_columns(
        locator=pl.format("line {}", "line"), field=pl.col("reason").str.split("_").list.last(),
        message=pl.format("{}: unexpected value; see the README's input formats", "reason"),
    ).unique(["source_id", "locator"], maintain_order=True)  # fmt: skip
    return dict(sources=sources, conversations=c, redactions=redactions, quarantine=quarantine)


def _intent_tables(w: World, built: dict) -> dict[str, pl.DataFrame]:
    """intents (sizes, first/last seen, recent share, emerging), assignments, lineage."""
    assigned = w.conversations.filter(pl.col("intent_id").is_not_null())
    recent = assigned["started_at"].max() - timedelta(days=28)
    stats = assigned.group_by("intent_id").agg(
        size=pl.len().cast(pl.Int32), first_seen=pl.col("started_at").min(),
        last_seen=pl.col("started_at").max(), recent_share=(pl.col("started_at") > recent).mean(),
    )  # fmt: skip
    vectors = w.rng.normal(0, 0.05, (stats.height, 384)).astype(np.float32)
    intents = w.intents.join(stats, on="intent_id", maintain_order="left").with_columns(
        model_version=1, share=pl.col("size") / assigned.height, centroid=pl.Series(list(vectors)),
        is_emerging=pl.col("recent_share") > 0.6,
    )  # fmt: skip
    outlier = w.conversations["intent_id"].is_null()
    assignments = w.conversations.select("conversation_id", "intent_id").with_columns(
        probability=pl.Series(w.rng.uniform(0.4, 1.0, outlier.len())), is_outlier=outlier,
        method=pl.when(outlier).then(pl.lit("unassigned")).otherwise(pl.lit("cluster")),
        unit_hash=pl.col("conversation_id"), model_version=1,
    )  # fmt: skip
    lineage = intents.select("intent_id", model_version=1, event=pl.lit("new"), n_conversations=0)
    return {"intents": intents, "intent_assignments": assignments, "intent_lineage": lineage}


def _process(w: World, built: dict) -> dict[str, pl.DataFrame]:
    """sops, step_events (templates joined to conversations), step_types, and discovery."""
    cases = w.conversations.select("conversation_id", "tid", "started_at", "sop_id", "workflow_id")
    events = cases.join(w.templates, on="tid").join(w.step_types["step_id", "source"], on="step_id")
    events = _plant_drift(w, events.sort("conversation_id", "seq"))
    gap = pl.col("seq") * 38 + pl.Series(w.rng.integers(0, 25, events.height))
    events = events.with_columns(
        turn_idx=pl.col("seq") * 2 + 1, ts=pl.col("started_at") + pl.duration(seconds=gap),
        confidence=pl.Series(w.rng.uniform(0.45, 1.0, events.height)),
    )  # fmt: skip
    counts = events.group_by("step_id").agg(n_events=pl.len().cast(pl.Int32))
    step_types = w.step_types.join(counts, on="step_id", how="left").fill_null(0)
    tables = discover_process(events, DiscoverConfig(), not_steps=not_steps(step_types))
    sops = pl.DataFrame([
        {"sop_id": s.sop_id, "version": s.version, "intent": list(s.intent), "yaml": sop_to_yaml(s),
         "n_steps": len(s.steps), "content_hash": content_hash(s), "path": "benchmarks/sops"}
        for s in w.sops.values()
    ])  # fmt: skip
    return {"sops": sops, "step_types": step_types, "step_events": events, **tables}


def _plant_drift(w: World, events: pl.DataFrame) -> pl.DataFrame:
    """Drift to find: from a week on, 30% of the documented steps are skipped in 20-60%
    of their SOP's conversations (a third by one team only), and in a third of the SOPs
    off-script talk turns into a recurring undocumented step."""
    rng = w.rng
    steps = [(s, step.id, None) for s, sop in w.sops.items() for step in sop.steps]
    steps = [steps[i] for i in np.flatnonzero(rng.random(len(steps)) < 0.3)]
    steps += [(s, "other", f"d_{s}_1") for s in w.sops if rng.random() < 0.35]
    k = len(steps)
    planted = pl.DataFrame(steps, schema=["sop_id", "step_id", "into"], orient="row").with_columns(
        onset=pl.Series(rng.integers(BASELINE + 1, WEEKS - 1, k)),
        share=pl.Series(rng.uniform(0.2, 0.6, k)),
        only=pl.Series([t if rng.random() < 0.35 else None for t in rng.choice(TEAMS, k)]),
    )
    cases = w.conversations.select("conversation_id", "week", "team")
    marked = events.join(cases, on="conversation_id", maintain_order="left").join(
        planted, on=["sop_id", "step_id"], how="left", maintain_order="left"
    )
    who = pl.col("only").is_null() | (pl.col("only") == pl.col("team"))
    chance = pl.Series(rng.random(marked.height)) < pl.col("share")
    marked = marked.with_columns(
        _hit=((pl.col("week") >= pl.col("onset")) & who & chance).fill_null(False)
    )
    hit = pl.col("_hit")
    return marked.filter(~hit | pl.col("into").is_not_null()).with_columns(
        step_id=pl.when(hit).then(pl.col("into")).otherwise(pl.col("step_id")),
        source=pl.when(hit).then(pl.lit("discovered")).otherwise("source"),
        seq=pl.int_range(pl.len()).over("conversation_id").cast(pl.Int32),
    ).select(events.columns)  # fmt: skip


def _outcomes(w: World, conformance: pl.DataFrame) -> pl.DataFrame:
    """Outcome per conversation (the data's, else derived); a repeat contact within 7 days.

    A conversation that skipped a mandatory step ends worse: escalated 12% more often,
    and its customer back 6% more often (the outcome impact drift measures).
    """
    c, rng = w.conversations, w.rng
    skipped = conformance.filter(pl.col("missing").list.len() > 0)["conversation_id"]
    worse = c["conversation_id"].is_in(skipped.implode()) & pl.Series(rng.random(c.height) < 0.12)
    derived = rng.choice(["resolved", "abandoned", "unknown"], c.height, p=[0.85, 0.1, 0.05])
    after = (
        pl.col("started_at").shift(-1).over("customer_hash", "workflow_id", order_by="started_at")
    )
    gap = (after - pl.col("started_at")).dt.total_seconds() / 86400
    back = (gap.fill_null(99) <= 7) | (worse & pl.Series(rng.random(c.height) < 0.5))
    source = pl.when(pl.col("outcome").is_null()).then(pl.lit("derived")).otherwise(pl.lit("data"))
    outcome = pl.coalesce("outcome", pl.Series(derived))
    return c.with_columns(
        outcome_source=source, outcome=pl.when(worse).then(pl.lit("escalated")).otherwise(outcome),
        repeat_contact=back, repeat_gap_days=pl.when(back).then(gap.fill_null(3.0)),
        n_agent_turns=pl.col("n_turns") // 2, duration_s="duration",
        failed_actions=pl.Series(rng.poisson(0.05, c.height)),
    ).with_columns(
        escalated=pl.col("outcome").is_in(["escalated", "transferred"]),
        resolved=pl.col("outcome") == "resolved",
    )  # fmt: skip


def _examples(w: World, picks: pl.DataFrame) -> pl.DataFrame:
    """Three example conversations a row of ``picks`` (of its workflow), each an excerpt."""
    rng, said = w.rng, ["customer", "agent", "agent", "customer", "agent"]
    by_wf = w.conversations.group_by("workflow_id").agg(pl.col("conversation_id").head(200))
    rows = (
        picks.join(by_wf, on="workflow_id", how="left")
        .with_columns(rank=pl.lit([1, 2, 3]))
        .explode("rank")
    )
    ids = pl.col("conversation_id")
    which = pl.Series(rng.integers(0, 200, rows.height)) % ids.list.len()
    rows = rows.with_columns(
        conversation_id=pl.coalesce(ids.list.get(which, null_on_oob=True), pl.lit("c00000001")),
        turn_idx=pl.Series(rng.integers(2, 14, rows.height), dtype=pl.Int32),
    )
    asks = [OPENINGS[i % 5].format(n=NOUNS[i % 40], m=MODS[i % 30]) for i in range(97)]
    excerpts = [
        json.dumps([{"turn_idx": int(t + d), "speaker": said[d + 2], "highlight": d == 0,
                     "text": asks[(t * 7 + d) % 97] if said[d + 2] == "customer"
                     else f"let me check the {NOUNS[t % 40]} for you, one moment"}
                    for d in range(-2, 3)])
        for t in rows["turn_idx"]
    ]  # fmt: skip
    return rows.with_columns(excerpt=pl.Series(excerpts))


def _drift_stage(w: World, built: dict) -> dict[str, pl.DataFrame]:
    """outcomes, conformance and drift_findings (the stage's own functions), and examples."""
    events, types, config = built["step_events"], built["step_types"], DriftConfig()
    off_script = types.filter(pl.col("source") == "discovered")["step_id"].to_list()
    conformance = check_conformance(
        events,
        w.sops,
        conversations=w.conversations.select("conversation_id", "metadata"),
        ignore=not_steps(types),
        off_script=off_script,
    )
    outcomes, names = _outcomes(w, conformance), step_names(types)
    cases = w.conversations.with_columns(is_outlier=pl.col("intent_id").is_null())
    labels = dict(w.intents.select("intent_id", "label").iter_rows())
    findings = pl.concat(
        [
            find_drift(conformance, outcomes, cases, w.sops, config=config, step_events=events,
                       step_names=names),
            find_mix_drift(cases.select("conversation_id", "intent_id", "is_outlier"), cases,
                           config=config, labels=labels),
            find_variant_mix_drift(conformance, cases, config=config, variants=built["variants"],
                                   step_names=names),
            find_conformance_changes(conformance, cases, config=config),
        ],
        how="vertical_relaxed",
    ).unique("finding_id", keep="first", maintain_order=True)  # fmt: skip
    flagged = findings.filter("flagged").select("finding_id", "kind", "workflow_id", "step")
    why = pl.format("{} in this conversation", pl.col("kind").str.replace_all("_", " "))
    return {"outcomes": outcomes, "conformance": conformance, "drift_findings": findings,
            "drift_examples": _examples(w, flagged).with_columns(why=why)}  # fmt: skip


def _readiness(w: World, built: dict) -> dict[str, pl.DataFrame]:
    """The readiness stage's own scoring of the synthetic tables, and examples a reason."""
    config, sops = ReadinessConfig(), list(w.sops.values())
    labels = w.intents.select("intent_id", intent_label="label")
    conversations = w.conversations.select("conversation_id", "started_at", "intent_id")
    tables = "outcomes conformance step_events drift_findings candidate_sops step_types".split()
    inputs = readiness_inputs(conversations.join(labels, on="intent_id", how="left"),
                              *(built[t] for t in tables), sops=sops, config=config)  # fmt: skip
    inputs, _ = drop_small_workflows(inputs, sops, config=config)
    readiness = score_readiness(inputs, sops, config=config)
    reasons = readiness.select(
        "workflow_id", component=pl.lit(["exceptions", "escalation", "standardisation"])
    )
    examples = _examples(w, reasons.explode("component")).with_columns(
        why=pl.format("an example of the {} behind the score", "component")
    )
    return {"readiness": readiness, "readiness_examples": examples}


# One stage a line, in pipeline order: its flow (the run its tables are written under)
# and the function returning its tables from the world and the tables built before.
GENERATORS: list[tuple[str, Callable[[World, dict], dict[str, pl.DataFrame]]]] = [
    ("ingest", _ingest),
    ("intents", _intent_tables),
    ("process", _process),
    ("drift", _drift_stage),
    ("readiness", _readiness),
]


def generate(n: int, n_intents: int, seed: int) -> list[tuple[str, dict[str, pl.DataFrame]]]:
    """Every stage's tables that the schema has, in pipeline order: ``(flow, {table: frame})``."""
    w, built, staged = _world(n, n_intents, seed), {}, []
    for flow, make in GENERATORS:
        tables = make(w, built)
        built.update(tables)
        staged.append((flow, {t: f for t, f in tables.items() if t in schema.COLUMNS}))
    return staged


def conform(table: str, frame: pl.DataFrame) -> pl.DataFrame:
    """The table's batch columns, in order; one the generator does not fill is null."""
    columns = schema.batch_columns(table)
    missing = [pl.Series(c, [None] * frame.height) for c in columns if c not in frame.columns]
    return frame.with_columns(missing).select(columns)


def write_store(path: str, staged: list[tuple[str, dict[str, pl.DataFrame]]]) -> dict[str, int]:
    """Write every table through the store API, each stage under its own run; row counts."""
    run_ids = {flow: f"r20260601-{i:02d}0000-bench{i}" for i, (flow, _) in enumerate(staged)}
    written: dict[str, int] = {}
    with open_store(path) as store:
        for flow, tables in staged:
            run, tables = run_ids[flow], {t: conform(t, f) for t, f in tables.items()}
            written |= {t: f.height for t, f in tables.items()}
            if "conversations" in tables:
                store.write_conversations(
                    conversations=tables.pop("conversations"),
                    turns=tables.pop("turns", conform(schema.TURNS, pl.DataFrame())),
                    redactions=tables.pop("redactions"),
                    run_id=run,
                )
            for source in tables.pop("sources", pl.DataFrame()).iter_rows(named=True):
                store.write_source(source, run_id=run)
            if "quarantine" in tables:
                store.write_quarantine(tables.pop("quarantine"), run_id=run)
            if "intents" in tables:
                store.write_intents(
                    intents=tables.pop("intents"),
                    assignments=tables.pop("intent_assignments"),
                    lineage=tables.pop("intent_lineage"),
                    model=None,
                    run_id=run,
                )
            if "readiness" in tables:
                store.write_readiness(tables.pop("readiness"), run_id=run)
            for table, frame in tables.items():
                try:
                    store.write_snapshots({table: frame}, run_id=run)
                except StoreError:  # not a snapshot table: inserted as it is
                    _insert(store, table, frame.with_columns(run_id=pl.lit(run)))
        finished, written[schema.RUNS] = START + timedelta(weeks=WEEKS), len(run_ids)
        runs = pl.DataFrame({"run_id": list(run_ids.values()), "flow": list(run_ids)})
        _insert(store, schema.RUNS, runs.with_columns(
            status=pl.lit("ok"), config_hash=pl.lit("bench"), code_version=pl.lit("bench"),
            started_at=pl.lit(finished) + pl.duration(hours=pl.int_range(pl.len())),
            row_counts=pl.lit(json.dumps(written)),
        ).with_columns(finished_at="started_at"))  # fmt: skip
    return written


def _insert(store: Store, table: str, frame: pl.DataFrame) -> None:
    columns = ", ".join(c for c in schema.COLUMNS[table] if c in frame.columns)
    with store.transaction() as con, registered(con, _rows=frame):
        con.execute(f"insert into {table} ({columns}) select {columns} from _rows")
