"""Generate the bundled sample corpus: realistic synthetic transcripts with planted truth.

Deterministic for a seed. What is planted (workflows, drift, outcome effects, the
emerging intent, the intended readiness) is declared in :mod:`pipeline.sample.design`;
the wording is in ``content.yaml``. :func:`generate_sample` returns conversations
in the canonical format plus their labels; :mod:`pipeline.sample.truth` writes the files.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.sample.conversation import Conversation
from pipeline.sample.design import OUTCOME_EFFECTS, START, WEEKS
from pipeline.sample.generator import Generator


@dataclass
class SampleCorpus:
    """What :func:`generate_sample` returns."""

    conversations: list[Conversation]
    seed: int
    n_base: int
    n_repeats: int


def generate_sample(n: int = 6000, *, seed: int = 0, min_turns: int = 0) -> SampleCorpus:
    """Generate ``n`` base conversations over 12 weeks plus their repeat contacts.

    Conversation ids follow time order (``s<seed>-000001``...).
    """
    gen = Generator(seed=seed, n=n)
    window = timedelta(days=OUTCOME_EFFECTS.repeat_window_days)
    end = datetime(START.year, START.month, START.day, tzinfo=UTC) + timedelta(weeks=WEEKS)
    conversations: list[Conversation] = []
    n_repeats = 0
    for started, intent in gen.schedule(n):
        person = gen.rng.choice(gen.people)
        conversation = gen.conversation(started, intent, person, min_turns=min_turns)
        conversations.append(conversation)
        if gen.rng.random() < gen.repeat_probability(conversation):
            again = started + timedelta(
                seconds=gen.rng.uniform(3600 * 20, window.total_seconds() - 3600)
            )
            if again < end:
                conversations.append(
                    gen.conversation(again, intent, person, repeat_of=intent, min_turns=min_turns)
                )
                n_repeats += 1
    conversations.sort(key=lambda c: c.record["started_at"])
    for i, conversation in enumerate(conversations, start=1):
        conversation.record["conversation_id"] = f"s{seed}-{i:06d}"
    return SampleCorpus(conversations, seed, n, n_repeats)


def generate_conversations(
    n: int, *, seed: int = 0, min_turns: int = 0
) -> Iterator[dict[str, Any]]:
    """Yield ``n`` canonical records (benchmarks), each at least ``min_turns`` long."""
    corpus = generate_sample(n, seed=seed, min_turns=min_turns)
    for conversation in corpus.conversations[:n]:
        yield conversation.record
