"""Write the sample corpus, its documented SOPs and its ground truth to disk.

Layout written by :func:`write_sample` (``cxminer sample``):
``<out>/conversations.jsonl.gz`` (the corpus, with a handful of planted bad records),
``<out>/truth/labels.jsonl`` (intent and step labels per conversation),
``<out>/truth/drift.json`` (planted drift findings and outcome effects, with measured rates),
``<out>/truth/readiness.json`` (intended ranking and tiers),
``<out>/truth/planted.json`` (emerging intent, multi-intent calls, planted bad records),
``<out>/truth/README.md`` (all of it in words), and one SOP YAML per documented workflow.
The pipeline never reads ``truth/``; evaluation and tests do.
"""

from __future__ import annotations

import gzip
import json
import random
from collections import defaultdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from pipeline.sample.conversation import Conversation
from pipeline.sample.design import (
    INTENDED_READINESS,
    OUTCOME_EFFECTS,
    PLANTED_DRIFT,
    START,
    WEEKS,
)
from pipeline.sample.generate import SampleCorpus
from pipeline.sample.generator import load_content
from pipeline.sample.workflows import WORKFLOWS
from pipeline.sops.model import Risk, Sop, Step, save_sop

_FAULTS = (
    "malformed_json",
    "unknown_speaker",
    "missing_id",
    "bad_timestamp",
    "empty_turns",
    "duplicate_id",
)


def sample_sops() -> list[Sop]:
    """Build the documented SOP of every documented workflow of the sample."""
    steps_text = load_content()["steps"]
    sops = []
    for workflow in WORKFLOWS:
        if not workflow.documented:
            continue
        steps = tuple(
            Step(
                id=fs.step,
                description=steps_text[fs.step]["description"],
                examples=tuple(steps_text[fs.step]["script"]),
                action=fs.action,
                mandatory=fs.mandatory,
                after=fs.after,
                when=fs.when,
            )
            for fs in workflow.flow
        )
        sops.append(
            Sop(
                sop_id=workflow.intent,
                version=1,
                intent=(workflow.intent,),
                steps=steps,
                risk=Risk(moves_money=workflow.moves_money, regulated=workflow.regulated),
                description=load_content()["intents"][workflow.intent]["label"],
                source="cxminer sample",
            )
        )
    return sops


def write_sample(corpus: SampleCorpus, out: Path, *, sops_out: Path | None = None) -> list[Path]:
    """Write corpus, truth and SOPs; return the files written (deterministic bytes)."""
    out = Path(out)
    truth = out / "truth"
    truth.mkdir(parents=True, exist_ok=True)
    sops_out = Path(sops_out) if sops_out else out / "sops"
    sops_out.mkdir(parents=True, exist_ok=True)
    lines, faults = _with_faults(corpus)
    written = [out / "conversations.jsonl.gz"]
    with open(written[0], "wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) as handle:
        for line in lines:
            handle.write(line + b"\n")
    labels = [conversation_label(c) for c in corpus.conversations]
    written.append(_write_lines(truth / "labels.jsonl", labels))
    drift = drift_truth(corpus)
    planted = planted_truth(corpus, faults)
    readiness = {
        "order": [intent for intent, _ in INTENDED_READINESS],
        "tiers": dict(INTENDED_READINESS),
        "note": "best first; the emerging intent (no documented SOP) is not ranked",
    }
    for name, data in (
        ("drift.json", drift),
        ("planted.json", planted),
        ("readiness.json", readiness),
    ):
        path = truth / name
        path.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
        written.append(path)
    readme = truth / "README.md"
    readme.write_text(_readme(corpus, drift, planted), encoding="utf-8")
    written.append(readme)
    written.extend(save_sop(sop, sops_out / f"{sop.sop_id}.yaml") for sop in sample_sops())
    return written


def drift_truth(corpus: SampleCorpus) -> dict[str, Any]:
    """Planted drift findings with the rates measured in the generated data."""
    findings = []
    for drift in PLANTED_DRIFT:
        before, after = defaultdict(int), defaultdict(int)
        for c in corpus.conversations:
            if c.intent != drift.sop_id or (drift.team and c.record["team"] != drift.team):
                continue
            period = after if c.record["started_at"] >= drift.onset.isoformat() else before
            period["n"] += 1
            if drift.kind == "missing":
                period["deviating"] += drift.step in c.skipped
            else:
                period["deviating"] += f"order_violation:{drift.step}" in c.deviations
        findings.append(
            {
                "sop_id": drift.sop_id,
                "step": drift.step,
                "kind": drift.kind,
                "team": drift.team,
                "onset": drift.onset.isoformat(),
                "designed_share": drift.share,
                **({"moved_before": drift.before} if drift.before else {}),
                "measured_rate_before": round(before["deviating"] / max(1, before["n"]), 4),
                "measured_rate_after": round(after["deviating"] / max(1, after["n"]), 4),
                "n_before": before["n"],
                "n_after": after["n"],
            }
        )
    return {"window": "week", "findings": findings, "outcome_effects": _outcome_effects(corpus)}


def _outcome_effects(corpus: SampleCorpus) -> list[dict[str, Any]]:
    repeats = _repeat_flags(corpus.conversations)
    effects = []
    for step in OUTCOME_EFFECTS.repeat_steps:
        groups = {True: [0, 0], False: [0, 0]}
        for c in corpus.conversations:
            if step not in {fs.step for w in WORKFLOWS if w.intent == c.intent for fs in w.flow}:
                continue
            group = groups[step in c.skipped]
            group[0] += 1
            group[1] += repeats[c.record["conversation_id"]]
        skipped_rate = groups[True][1] / max(1, groups[True][0])
        done_rate = groups[False][1] / max(1, groups[False][0])
        effects.append(
            {
                "step": step,
                "metric": f"repeat_contact_{OUTCOME_EFFECTS.repeat_window_days}d",
                "designed_rate_when_skipped": getattr(
                    OUTCOME_EFFECTS,
                    "repeat_if_unverified" if step == "verify_identity" else "repeat_if_ineligible",
                ),
                "designed_rate_when_done": OUTCOME_EFFECTS.repeat_base,
                "measured_rate_when_skipped": round(skipped_rate, 4),
                "measured_rate_when_done": round(done_rate, 4),
                "n_skipped": groups[True][0],
                "n_done": groups[False][0],
            }
        )
    return effects


def _repeat_flags(conversations: list[Conversation]) -> dict[str, bool]:
    """Repeat contact as DESIGN.md defines it: same customer, same intent, within N days."""
    window = timedelta(days=OUTCOME_EFFECTS.repeat_window_days)
    by_key: dict[tuple[str, str], list[tuple[datetime, str]]] = defaultdict(list)
    for c in conversations:
        started = datetime.fromisoformat(c.record["started_at"].replace("Z", "+00:00"))
        by_key[(c.record["customer_id"], c.intent)].append((started, c.record["conversation_id"]))
    flags = {}
    for contacts in by_key.values():
        contacts.sort()
        for i, (started, cid) in enumerate(contacts):
            flags[cid] = i + 1 < len(contacts) and contacts[i + 1][0] - started <= window
    return flags


def planted_truth(corpus: SampleCorpus, faults: list[dict[str, Any]]) -> dict[str, Any]:
    """Emerging intents, multi-intent conversations and planted bad records."""
    first_seen: dict[str, str] = {}
    for c in corpus.conversations:
        first_seen.setdefault(c.intent, c.record["started_at"][:10])
    emerging = [w.intent for w in WORKFLOWS if not w.documented]
    counts: dict[str, int] = defaultdict(int)
    for c in corpus.conversations:
        counts[c.intent] += 1
    return {
        "seed": corpus.seed,
        "n_base": corpus.n_base,
        "n_repeat_contacts": corpus.n_repeats,
        "n_conversations": len(corpus.conversations),
        "period": {
            "start": START.isoformat(),
            "end": (START + timedelta(weeks=WEEKS, days=-1)).isoformat(),
        },
        "intents": dict(sorted(counts.items())),
        "emerging_intents": [{"intent": i, "first_seen": first_seen.get(i)} for i in emerging],
        "multi_intent": [
            {
                "conversation_id": c.record["conversation_id"],
                "intent": c.intent,
                "second_intent": c.second_intent,
            }
            for c in corpus.conversations
            if c.second_intent
        ],
        "quarantine_expected": faults,
    }


def conversation_label(c: Conversation) -> dict[str, Any]:
    """Return a conversation's truth in the labels format (:mod:`pipeline.evaluate.truth`)."""
    return {
        "conversation_id": c.record["conversation_id"],
        "intent": c.intent,
        "steps": c.steps,
        "turn_steps": {str(k): v for k, v in sorted(c.turn_steps.items())},
    }


def _with_faults(corpus: SampleCorpus) -> tuple[list[bytes], list[dict[str, Any]]]:
    """Corpus lines with a few bad records planted among them, as real exports have."""
    rng = random.Random(corpus.seed + 1)
    lines = [orjson.dumps(c.record) for c in corpus.conversations]
    positions = sorted(rng.sample(range(10, len(lines)), k=2 * len(_FAULTS)))
    faults = []
    out: list[bytes] = []
    kinds = iter(_FAULTS * 2)
    for i, line in enumerate(lines):
        out.append(line)
        if positions and i == positions[0]:
            positions.pop(0)
            kind = next(kinds)
            bad = _fault(kind, corpus.conversations[i].record, rng)
            out.append(bad)
            faults.append({"locator": f"line {len(out)}", "reason": kind})
    return out, faults


def _fault(kind: str, record: dict[str, Any], rng: random.Random) -> bytes:
    broken = json.loads(json.dumps(record))
    broken["conversation_id"] = f"{record['conversation_id']}-x{rng.randint(100, 999)}"
    if kind == "malformed_json":
        text = orjson.dumps(broken)
        return text[: len(text) // 2]
    if kind == "unknown_speaker":
        broken["turns"][1]["speaker"] = "supervisor"
    elif kind == "missing_id":
        del broken["conversation_id"]
    elif kind == "bad_timestamp":
        broken["turns"][2]["ts"] = "yesterday afternoon"
    elif kind == "empty_turns":
        broken["turns"] = []
    elif kind == "duplicate_id":
        broken["conversation_id"] = record["conversation_id"]  # exported twice
        broken["turns"][-1]["text"] = "ok bye"
    return orjson.dumps(broken)


def _write_lines(path: Path, rows: list[dict[str, Any]]) -> Path:
    with open(path, "wb") as handle:
        for row in rows:
            handle.write(orjson.dumps(row) + b"\n")
    return path


def _readme(corpus: SampleCorpus, drift: dict[str, Any], planted: dict[str, Any]) -> str:
    lines = [
        "# Ground truth of the bundled sample (generated; do not edit)",
        "",
        f"Generated by `cxminer sample --seed {corpus.seed}` with {corpus.n_base} base "
        f"conversations plus {corpus.n_repeats} repeat contacts "
        f"({planted['n_conversations']} in all), {planted['period']['start']} to "
        f"{planted['period']['end']} (12 weeks). The pipeline never reads this folder.",
        "",
        "## Planted drift (drift.json)",
    ]
    for f in drift["findings"]:
        who = f"team {f['team']}" if f["team"] else "all teams"
        if f["kind"] == "missing":
            what = f"skip{'s' if f['team'] else ''} mandatory step `{f['step']}` of `{f['sop_id']}`"
        else:
            what = (
                f"do{'es' if f['team'] else ''} `{f['step']}` of `{f['sop_id']}` before "
                f"`{f.get('moved_before')}` (an order violation)"
            )
        lines.append(
            f"- From {f['onset']}, {who} {what} in {f['designed_share']:.0%} of calls "
            f"(measured: {f['measured_rate_before']:.1%} before, "
            f"{f['measured_rate_after']:.1%} after; n = {f['n_before']} / {f['n_after']})."
        )
    lines += ["", "## Outcome effects"]
    for e in drift["outcome_effects"]:
        lines.append(
            f"- Skipping `{e['step']}` raises {e['metric']} from "
            f"{e['designed_rate_when_done']:.0%} to {e['designed_rate_when_skipped']:.0%} "
            f"by design (measured {e['measured_rate_when_done']:.1%} vs "
            f"{e['measured_rate_when_skipped']:.1%}; n = {e['n_done']} / {e['n_skipped']})."
        )
    lines.append(
        f"- Skipping `check_eligibility` adds {OUTCOME_EFFECTS.escalate_if_ineligible:.0%}"
        " to the escalation probability."
    )
    lines += ["", "## Emerging intent"]
    for e in planted["emerging_intents"]:
        lines.append(
            f"- `{e['intent']}` appears only from {e['first_seen']} (last 3 weeks), "
            "with no documented SOP."
        )
    lines += [
        "",
        "## Other planted effects",
        f"- {len(planted['multi_intent'])} multi-intent calls (a second request late in the "
        "call): planted.json lists them.",
        f"- {len(planted['quarantine_expected'])} bad records among the good ones "
        "(planted.json lists line and expected quarantine reason).",
        "- Teams differ in adherence (north > south > east > west); chaotic workflows skip, "
        "swap and add undocumented steps more often and escalate more.",
        "",
        "## Intended readiness (readiness.json), best first",
    ]
    lines += [
        f"{i}. `{intent}`: {tier}" for i, (intent, tier) in enumerate(INTENDED_READINESS, start=1)
    ]
    lines += ["", "## Volumes", ""]
    lines += [f"- `{k}`: {v}" for k, v in planted["intents"].items()]
    return "\n".join(lines) + "\n"
