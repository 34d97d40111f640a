"""A small deterministic generator of canonical transcripts (benchmarks and the bundled sample).

Conversations follow a handful of contact-center workflows with several phrasings
per step, slot values, action events and some PII in the text, so that ingest,
redaction and the store are exercised on realistic shapes. (The richer evaluation
corpus with planted ground truth is built on top of this in a later stage.)
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

_WORKFLOWS: dict[str, dict[str, Any]] = {
    "refund": {
        "openings": [
            "I want a refund for order {order}",
            "can I get my money back for {order}",
            "the item from order {order} arrived broken, I need a refund",
            "please refund my last purchase, order {order}",
        ],
        "steps": [
            (
                "verify_identity",
                [
                    "can I have your full name and the email on the account?",
                    "to start, could you confirm your name and email?",
                ],
            ),
            ("lookup_order", ["let me pull up order {order}", "I'm checking order {order} now"]),
            (
                "check_eligibility",
                [
                    "that order is within the 30 day window",
                    "good news, it is eligible for a refund",
                ],
            ),
            (
                "issue_refund",
                ["I've issued a refund of ${amount}", "your refund of ${amount} is on its way"],
            ),
        ],
        "actions": {"lookup_order": "orders.lookup", "issue_refund": "billing.refund"},
    },
    "address_change": {
        "openings": [
            "I moved and need to update my address",
            "please change my shipping address",
            "my address is wrong on the account",
            "can you update where you ship to",
        ],
        "steps": [
            (
                "verify_identity",
                [
                    "may I have your name and date of birth?",
                    "could you confirm your full name first?",
                ],
            ),
            (
                "collect_address",
                ["what is the new address?", "please tell me the new street address"],
            ),
            (
                "update_address",
                ["done, the address is updated", "I've changed the address for you"],
            ),
        ],
        "actions": {"update_address": "crm.update_address"},
    },
    "card_block": {
        "openings": [
            "I lost my card",
            "someone stole my wallet, block my card please",
            "I see charges I did not make",
            "my card is missing",
        ],
        "steps": [
            (
                "verify_identity",
                [
                    "for security, what is your name and phone number?",
                    "can you verify your identity for me?",
                ],
            ),
            ("block_card", ["I've blocked the card ending {last4}", "the card is now frozen"]),
            (
                "order_replacement",
                ["a new card will arrive in 5 days", "I've ordered a replacement card"],
            ),
        ],
        "actions": {"block_card": "cards.block", "order_replacement": "cards.reissue"},
    },
}
_NAMES = ["Alex Kim", "Maria Lopez", "Sam Patel", "Jordan Lee", "Chris Novak", "Dana Wright"]
_PII_LINES = [
    "my email is {user}@example.com",
    "you can call me at (415) 555-{four}",
    "my date of birth is 0{m}/1{d}/198{y}",
    "the card number is 4111 1111 1111 1111",
]
_SMALL_TALK = [
    "thanks",
    "ok",
    "sure, one moment please while I look at that",
    "great, thank you so much for your help with this today",
    "hmm okay, let me think about it",
    "sorry, the line is a bit noisy, could you repeat that last part for me?",
    "no problem at all, take your time, I am not in a hurry",
    "I have been a customer for years and this never happened before",
    "alright, and how long will that usually take to show up on my side?",
]


def generate_conversations(
    n: int, *, seed: int = 0, turns: int = 20, start: datetime | None = None
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` canonical conversation records of about ``turns`` turns each."""
    rng = random.Random(seed)
    start = start or datetime(2026, 3, 2, 8, 0, tzinfo=UTC)
    names = list(_WORKFLOWS)
    for i in range(n):
        intent = names[i % len(names)] if i < len(names) else rng.choice(names)
        workflow = _WORKFLOWS[intent]
        slots = {
            "order": f"{rng.randint(10**7, 10**8 - 1)}",
            "amount": f"{rng.randint(5, 400)}.{rng.randint(10, 99)}",
            "last4": f"{rng.randint(1000, 9999)}",
            "user": f"user{rng.randint(1, 99999)}",
            "four": f"{rng.randint(1000, 9999)}",
            "m": rng.randint(1, 9),
            "d": rng.randint(0, 9),
            "y": rng.randint(0, 9),
        }
        t0 = start + timedelta(minutes=7 * i + rng.randint(0, 6))
        body: list[dict[str, Any]] = [
            {"speaker": "agent", "text": "thanks for calling, how can I help?"},
            {"speaker": "customer", "text": rng.choice(workflow["openings"]).format(**slots)},
        ]
        for step, phrasings in workflow["steps"]:
            if rng.random() < 0.08:
                continue  # agents skip steps now and then
            body.append({"speaker": "agent", "text": rng.choice(phrasings).format(**slots)})
            if step in workflow["actions"] and rng.random() < 0.7:
                body.append(
                    {
                        "speaker": "agent",
                        "event_type": "action",
                        "action": workflow["actions"][step],
                        "args": {"step": step},
                    }
                )
            reply = (
                rng.choice(_PII_LINES).format(**slots)
                if rng.random() < 0.3
                else rng.choice(_SMALL_TALK + [rng.choice(_NAMES)])
            )
            body.append({"speaker": "customer", "text": reply})
        while len(body) < turns - 1:
            body.append(
                {"speaker": rng.choice(["agent", "customer"]), "text": rng.choice(_SMALL_TALK)}
            )
        body.append({"speaker": "agent", "text": "is there anything else? have a good day"})
        for j, turn in enumerate(body[:turns]):
            turn["ts"] = (t0 + timedelta(seconds=15 * j)).strftime("%Y-%m-%dT%H:%M:%SZ")
        yield {
            "conversation_id": f"c-{seed}-{i:07d}",
            "channel": rng.choice(["chat", "voice"]),
            "queue": intent.split("_")[0],
            "team": rng.choice(["north", "south", "east"]),
            "agent_id": f"agent-{rng.randint(1, 40)}",
            "customer_id": f"cust-{rng.randint(1, max(2, n // 2))}",
            "started_at": t0.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "outcome": rng.choices(["resolved", "escalated", "abandoned"], [0.8, 0.15, 0.05])[0],
            "turns": body[:turns],
        }
