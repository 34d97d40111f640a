"""The stateful engine behind :func:`pipeline.sample.generate.generate_sample`.

It schedules conversations, plans each one's steps (with the planted drift and chaos),
says them in the wording of ``content.yaml`` and derives outcomes.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from pipeline.sample.conversation import CLOSING, GREETING, OTHER, Agent, Conversation, make_agents
from pipeline.sample.design import (
    MULTI_INTENT_RATE,
    OUTCOME_EFFECTS,
    PLANTED_DRIFT,
    REPEAT_OPENING_RATE,
    START,
    WEEKS,
    Workflow,
)
from pipeline.sample.people import Person, make_people, slot_values
from pipeline.sample.workflows import WORKFLOWS

CONTENT_PATH = Path(__file__).with_name("content.yaml")
_WEEKDAY_WEIGHT = (1.0, 1.0, 1.0, 1.0, 0.9, 0.5, 0.3)
_QUEUES = {
    "order_status": "orders",
    "shipping_delay": "orders",
    "damaged_item_return": "orders",
    "refund_request": "billing",
    "payment_dispute": "billing",
    "promo_code_issue": "billing",
    "change_payment_method": "billing",
    "password_reset": "account",
    "address_change": "account",
    "account_closure": "account",
    "subscription_cancel": "account",
    "fraud_report": "cards",
    "loyalty_points_missing": "billing",
}


@cache
def load_content(path: Path = CONTENT_PATH) -> dict[str, Any]:
    """Load the corpus wording (greetings, step phrasings, intent openings, ...)."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))


class Generator:
    """Stateful generator; use :func:`generate_sample`."""

    def __init__(self, *, seed: int, n: int) -> None:
        self.rng = random.Random(seed)
        self.content = load_content()
        self.agents = make_agents(self.rng)
        self.people = make_people(self.rng, max(50, int(n * 0.6)))
        self.workflows = {w.intent: w for w in WORKFLOWS}

    # ---- schedule -----------------------------------------------------------------
    def schedule(self, n: int) -> list[tuple[datetime, str]]:
        """When each base conversation happens and its intent, in time order."""
        days = [START + timedelta(days=d) for d in range(7 * WEEKS)]
        weights = [_WEEKDAY_WEIGHT[day.weekday()] for day in days]
        picks = self.rng.choices(range(len(days)), weights=weights, k=n)
        slots = []
        for index in sorted(picks):
            day = days[index]
            week = index // 7 + 1
            active = [w for w in WORKFLOWS if w.weeks[0] <= week <= w.weeks[1]]
            intent = self.rng.choices([w.intent for w in active], [w.share for w in active])[0]
            if not self.workflows[intent].documented:
                # the emerging intent grows over its weeks
                if self.rng.random() > (week - active[0].weeks[0] + 9) / 12:
                    intent = self.rng.choices(
                        [w.intent for w in active[:-1]], [w.share for w in active[:-1]]
                    )[0]
            seconds = int(self.rng.triangular(8 * 3600, 20 * 3600, 11 * 3600))
            start = datetime(day.year, day.month, day.day, tzinfo=UTC) + timedelta(seconds=seconds)
            slots.append((start, intent))
        return slots

    # ---- one conversation ---------------------------------------------------------
    def conversation(
        self,
        started: datetime,
        intent: str,
        person: Person,
        *,
        repeat_of: str | None = None,
        min_turns: int = 0,
    ) -> Conversation:
        """Generate one conversation (and its labels)."""
        rng = self.rng
        workflow = self.workflows[intent]
        agent = rng.choice(self.agents)
        week = (started.date() - START).days // 7 + 1
        slots = slot_values(rng, person, workflow)
        plan, skipped, deviations = self.plan_steps(workflow, agent, week, slots)
        turns: list[dict[str, Any]] = []
        labels: dict[int, str] = {}
        clock = [started]

        def say(speaker: str, text: str, label: str | None = None, **extra: Any) -> None:
            gap = rng.uniform(4, 25) * (1.6 if channel == "voice" else 1.0)
            if extra.get("event_type") == "action":
                gap = rng.uniform(0.5, 3)
            clock[0] += timedelta(seconds=gap)
            if label is not None:
                labels[len(turns)] = label
            turn = {
                "speaker": speaker,
                **({"text": text} if text else {}),
                **extra,
                "ts": clock[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
            }
            turns.append(turn)

        channel = "voice" if rng.random() < 0.4 else "chat"
        content = self.content
        say("agent", self.fill(rng.choice(content["greeting"]), slots), GREETING)
        opening = self.fill(rng.choice(content["intents"][intent]["openings"]), slots)
        if repeat_of and rng.random() < REPEAT_OPENING_RATE:
            opening = rng.choice(_REPEAT_PREFIXES) + opening
        if rng.random() < 0.12:
            opening = rng.choice(content["customer_smalltalk"]) + " " + opening
        say("customer", self.typos(opening))
        outcome = self.outcome(workflow, skipped)
        cut = len(plan) if outcome != "abandoned" else rng.randint(0, max(0, len(plan) - 1))
        escalate_at = rng.randint(1, max(1, len(plan))) if outcome == "escalated" else None
        for position, step in enumerate(plan[:cut]):
            if escalate_at is not None and position == escalate_at:
                break
            self.perform(step, workflow, slots, say)
            if rng.random() < workflow.chaos * 0.35:
                say("agent", self.fill(rng.choice(content["agent_off_script"]), slots), OTHER)
            if rng.random() < 0.06:
                say("customer", self.typos(rng.choice(content["customer_smalltalk"])))
        while len(turns) < min_turns - 2:  # benchmarks ask for longer calls: small talk
            say("customer", self.typos(rng.choice(content["customer_smalltalk"])))
            say("agent", self.fill(rng.choice(content["agent_off_script"]), slots), OTHER)
        second = None
        if outcome == "resolved" and rng.random() < MULTI_INTENT_RATE:
            second = self.second_request(intent, slots, say)
        if outcome == "abandoned":
            say("customer", self.typos(rng.choice(content["customer_abandon"])))
        else:
            if outcome == "escalated":
                say("agent", self.fill(rng.choice(content["escalation"]), slots), OTHER)
            say("agent", self.fill(rng.choice(content["closing"]), slots), CLOSING)
            say("customer", self.typos(rng.choice(content["customer_goodbye"])))
        record = {
            "conversation_id": "",  # assigned in time order by generate_sample
            "channel": channel,
            "queue": _QUEUES[intent]
            if rng.random() > 0.1
            else rng.choice(sorted(set(_QUEUES.values()))),
            "team": agent.team,
            "agent_id": agent.agent_id,
            "customer_id": person.customer_id,
            "started_at": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "ended_at": clock[0].strftime("%Y-%m-%dT%H:%M:%SZ"),
            **({"outcome": outcome} if rng.random() < 0.8 else {}),
            **({"metadata": {"amount": slots["amount_value"]}} if workflow.amount else {}),
            "turns": turns,
        }
        return Conversation(record, intent, labels, skipped, deviations, second)

    def plan_steps(
        self, workflow: Workflow, agent: Agent, week: int, slots: dict[str, Any]
    ) -> tuple[list[str], list[str], list[str]]:
        """Plan the steps the agent performs, in order; return them, the skipped ones, drift."""
        rng = self.rng
        plan: list[str] = []
        skipped: list[str] = []
        deviations: list[str] = []
        skip_p = (1 - agent.adherence) * (1 + 4 * workflow.chaos)
        for fs in workflow.flow:
            if fs.mandatory:
                drifted = self.drift(workflow.intent, fs.step, "missing", agent.team, week)
                if drifted or rng.random() < skip_p:
                    skipped.append(fs.step)
                    if drifted:
                        deviations.append(f"missing:{fs.step}")
                    continue
                plan.append(fs.step)
            elif fs.when:
                threshold = float(fs.when.split(">")[1])
                holds = slots.get("amount_value", 0) > threshold
                if rng.random() < (0.92 if holds else 0.02):
                    plan.append(fs.step)
            elif rng.random() < fs.rate:
                plan.append(fs.step)
        if workflow.undocumented and rng.random() < workflow.undocumented_rate:
            at = rng.randint(1, len(plan)) if plan else 0  # every step may have been skipped
            plan.insert(at, rng.choice(workflow.undocumented))
        if len(plan) > 2 and rng.random() < workflow.chaos * 0.6:
            i = rng.randint(1, len(plan) - 2)  # the opening step stays first
            plan[i], plan[i + 1] = plan[i + 1], plan[i]
        for drift in PLANTED_DRIFT:
            if (
                drift.kind == "order_violation"
                and drift.sop_id == workflow.intent
                and self.drift(workflow.intent, drift.step, drift.kind, agent.team, week)
                and drift.step in plan
                and drift.before in plan
            ):
                plan.remove(drift.step)
                plan.insert(plan.index(drift.before), drift.step)
                deviations.append(f"order_violation:{drift.step}")
        if plan and rng.random() < 0.04 + workflow.chaos * 0.1:
            i = rng.randrange(len(plan))
            plan.insert(i, plan[i])  # the agent asks again
        return plan, skipped, deviations

    def drift(self, sop_id: str, step: str, kind: str, team: str, week: int) -> bool:
        """Whether a planted drift fires for this call (draws only when it applies)."""
        for d in PLANTED_DRIFT:
            if (
                (d.sop_id, d.step, d.kind) == (sop_id, step, kind)
                and week >= d.onset_week
                and d.team in (None, team)
            ):
                return self.rng.random() < d.share
        return False

    def outcome(self, workflow: Workflow, skipped: list[str]) -> str:
        """Draw resolved, escalated or abandoned; skipping eligibility raises escalation."""
        escalate = workflow.escalation
        if "check_eligibility" in skipped:
            escalate += OUTCOME_EFFECTS.escalate_if_ineligible
        roll = self.rng.random()
        if roll < workflow.abandon:
            return "abandoned"
        if roll < workflow.abandon + escalate:
            return "escalated"
        return "resolved"

    def repeat_probability(self, conversation: Conversation) -> float:
        """Chance the customer contacts again within the window (the planted effect)."""
        effects = OUTCOME_EFFECTS
        p = effects.repeat_base
        if "verify_identity" in conversation.skipped:
            p = max(p, effects.repeat_if_unverified)
        if "check_eligibility" in conversation.skipped:
            p = max(p, effects.repeat_if_ineligible)
        if conversation.record.get("outcome") == "abandoned":
            p += 0.1
        return min(p, 0.9)

    def perform(self, step: str, workflow: Workflow, slots: dict[str, Any], say) -> None:
        """Say a step: the agent's turn, its logged action (sometimes), the customer's reply."""
        rng = self.rng
        spec = self.content["steps"][step]
        if rng.random() < 0.08:
            say("agent", self.fill(rng.choice(self.content["agent_hold"]), slots), OTHER)
        say("agent", self.fill(rng.choice(spec["agent"]), slots), step)
        binding = next((fs for fs in workflow.flow if fs.step == step and fs.action), None)
        if binding is not None and rng.random() < binding.logged:
            say(
                "agent",
                "",
                step,
                event_type="action",
                action=binding.action,
                args=_action_args(step, slots),
            )
        if rng.random() < 0.8:
            say("customer", self.typos(self.fill(rng.choice(spec["customer"]), slots)))

    def second_request(self, intent: str, slots: dict[str, Any], say) -> str:
        """Add a second, unrelated request late in the call, handled briefly."""
        rng = self.rng
        others = [w for w in WORKFLOWS if w.intent != intent and w.documented]
        other = rng.choices(others, [w.share for w in others])[0]
        lead = rng.choice(self.content["second_request"])
        opening = self.fill(rng.choice(self.content["intents"][other.intent]["openings"]), slots)
        say("customer", self.typos(f"{lead} {opening}"))
        for fs in other.flow:
            if fs.mandatory and fs.step != "verify_identity":
                self.perform(fs.step, other, slots, say)
        return other.intent

    # ---- text ---------------------------------------------------------------------
    @staticmethod
    def fill(template: str, slots: dict[str, Any]) -> str:
        """Fill ``{slot}`` placeholders."""
        return template.format_map(slots)

    def typos(self, text: str) -> str:
        """Chat-style noise on customer text: typos (never inside PII or numbers), casing."""
        rng = self.rng
        if rng.random() < 0.3:
            text = text[:1].lower() + text[1:]
            text = text.rstrip(".!")
        if rng.random() >= 0.18:
            return text
        words = text.split(" ")
        candidates = [i for i, w in enumerate(words) if len(w) > 3 and w.isalpha()]
        for i in rng.sample(candidates, k=min(len(candidates), rng.randint(1, 2))):
            w = words[i]
            j = rng.randrange(len(w) - 1)
            op = rng.random()
            if op < 0.4:
                w = w[:j] + w[j + 1] + w[j] + w[j + 2 :]
            elif op < 0.7:
                w = w[:j] + w[j + 1 :]
            else:
                w = w[:j] + w[j] + w[j:]
            words[i] = w
        return " ".join(words)


_REPEAT_PREFIXES = (
    "hi again, I called a few days ago about this. ",
    "this is my second time contacting you. ",
    "I already spoke to someone about this last week but ",
    "still not sorted from my last call: ",
)


def _action_args(step: str, slots: dict[str, Any]) -> dict[str, Any]:
    keys = {
        "lookup_order": ("order_id",),
        "issue_refund": ("order_id", "amount_value"),
        "update_address": ("city", "zip"),
        "block_card": ("last4",),
        "open_dispute_case": ("case_id",),
        "open_fraud_case": ("case_id",),
        "add_missing_points": ("points",),
        "apply_discount": ("promo",),
    }.get(step, ())
    return {k: slots[k] for k in keys}
