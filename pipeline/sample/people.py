"""Invented customers and the slot values that fill the sample corpus's templates.

All names, addresses and numbers are made up; card numbers are Luhn-valid test numbers
so that redaction has real work to do.
"""

from __future__ import annotations

import calendar
import random
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from pipeline.sample.design import START, Workflow

_FIRST = (
    "Alex",
    "Maria",
    "Sam",
    "Jordan",
    "Chris",
    "Dana",
    "Priya",
    "Tomasz",
    "Aisha",
    "Lucas",
    "Mei",
    "Olivia",
    "Noah",
    "Fatima",
    "Diego",
    "Hannah",
    "Kwame",
    "Sofia",
    "Ivan",
    "Leila",
    "Ethan",
    "Grace",
    "Yusuf",
    "Chloe",
    "Mateo",
    "Nina",
    "Omar",
    "Ruth",
    "Kenji",
    "Zara",
)
_LAST = (
    "Kim",
    "Lopez",
    "Patel",
    "Lee",
    "Novak",
    "Wright",
    "Okafor",
    "Schmidt",
    "Haddad",
    "Silva",
    "Chen",
    "Murphy",
    "Kowalski",
    "Nguyen",
    "Rossi",
    "Fischer",
    "Mensah",
    "Ivanova",
    "Garcia",
    "Brown",
    "Tanaka",
    "Dubois",
    "Andersen",
    "Costa",
    "Khan",
    "Walsh",
)
_STREETS = (
    "Oak Street",
    "Maple Avenue",
    "Cedar Lane",
    "Harbor Road",
    "Elm Drive",
    "Park Way",
    "Mill Road",
    "Lakeview Terrace",
    "King Street",
    "Orchard Close",
)
_CITIES = (
    "Springfield",
    "Riverton",
    "Lakewood",
    "Fairview",
    "Greenville",
    "Oakridge",
    "Bridgeport",
    "Milton",
    "Ashford",
    "Kingsbury",
)
_DOMAINS = ("example.com", "mail.example.org", "inbox.example.net", "post.example.co.uk")
_PRODUCTS = (
    "wireless headphones",
    "running shoes",
    "coffee grinder",
    "winter jacket",
    "desk lamp",
    "blender",
    "yoga mat",
    "backpack",
    "smart watch",
    "bed sheets",
    "phone case",
    "air fryer",
)
_PLANS = ("premium plan", "family plan", "basic membership", "annual subscription", "monthly box")
_PROMOS = ("SPRING20", "WELCOME10", "FREESHIP", "SAVE15NOW", "VIP25", "SUMMER5")
_MONTHS = tuple(calendar.month_name)[1:]


@dataclass(frozen=True)
class Person:
    """A customer with stable identity details (all invented)."""

    customer_id: str
    first_name: str
    name: str
    email: str
    phone: str
    dob: date
    address: str
    city: str
    zip: str
    card: str


def luhn_card(rng: random.Random, prefix: str = "4") -> str:
    """Return a 16-digit Luhn-valid card number in groups of four."""
    digits = [int(c) for c in prefix] + [rng.randint(0, 9) for _ in range(15 - len(prefix))]
    total = 0
    for i, d in enumerate(reversed(digits)):
        d = d * 2 if i % 2 == 0 else d
        total += d - 9 if d > 9 else d
    digits.append((10 - total % 10) % 10)
    text = "".join(map(str, digits))
    return " ".join(text[i : i + 4] for i in range(0, 16, 4))


def make_people(rng: random.Random, n: int) -> list[Person]:
    """``n`` invented customers."""
    people = []
    for i in range(n):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        handle = rng.choice(
            (f"{first}.{last}", f"{first[0]}{last}", f"{first}{rng.randint(1, 99)}")
        )
        people.append(
            Person(
                customer_id=f"cust-{i + 1:06d}",
                first_name=first,
                name=f"{first} {last}",
                email=f"{handle.lower()}@{rng.choice(_DOMAINS)}",
                phone=rng.choice(("({a}) {b}-{c}", "{a}-{b}-{c}", "+1 {a} {b} {c}")).format(
                    a=rng.randint(201, 989),
                    b=rng.randint(200, 999),
                    c=f"{rng.randint(0, 9999):04d}",
                ),
                dob=date(rng.randint(1950, 2004), rng.randint(1, 12), rng.randint(1, 28)),
                address=f"{rng.randint(1, 999)} {rng.choice(_STREETS)}",
                city=rng.choice(_CITIES),
                zip=f"{rng.randint(10000, 99999)}",
                card=luhn_card(rng, rng.choice(("4", "51", "37"))),
            )
        )
    return people


def slot_values(rng: random.Random, person: Person, workflow: Workflow) -> dict[str, Any]:
    """Values for every template slot of one conversation."""
    amount = None
    if workflow.amount:
        amount = round(min(5000.0, rng.lognormvariate(*workflow.amount)), 2)
    else:
        amount = round(rng.uniform(5, 150), 2)
    dob = person.dob
    recent = START + timedelta(days=rng.randint(-20, 80))
    return {
        "first_name": person.first_name,
        "name": person.name,
        "email": person.email,
        "phone": person.phone,
        "dob": rng.choice(
            (
                f"{dob:%m/%d/%Y}",
                f"{_MONTHS[dob.month - 1]} {dob.day}, {dob.year}",
                f"{dob:%Y-%m-%d}",
            )
        ),
        "address": person.address,
        "city": person.city,
        "zip": person.zip,
        "card": person.card,
        "last4": person.card[-4:],
        "order_id": f"{rng.randint(1_000_000, 9_999_999)}",
        "amount": f"${amount:,.2f}",
        "amount_value": amount,
        "date": f"{_MONTHS[recent.month - 1]} {recent.day}",
        "product": rng.choice(_PRODUCTS),
        "plan": rng.choice(_PLANS),
        "tracking": f"1Z{rng.randint(10**9, 10**10 - 1)}{rng.choice('ABCDEFGH')}",
        "promo": rng.choice(_PROMOS),
        "points": rng.choice((150, 200, 250, 400, 500, 750, 1000)),
        "case_id": f"CASE-{rng.randint(10000, 99999)}",
        "days": rng.choice((3, 5, 7, 10, 14)),
    }
