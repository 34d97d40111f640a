"""A generated conversation with its truth, and the agents who hold them."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

from pipeline.sample.design import AGENTS_PER_TEAM, TEAM_ADHERENCE, TEAMS

GREETING, CLOSING, OTHER = "greeting", "closing", "other"


@dataclass(frozen=True)
class Agent:
    """An agent: a stable id, a team and how closely they follow SOPs."""

    agent_id: str
    team: str
    adherence: float


@dataclass
class Conversation:
    """One generated conversation and its ground truth."""

    record: dict[str, Any]
    intent: str
    turn_steps: dict[int, str]
    skipped: list[str] = field(default_factory=list)
    deviations: list[str] = field(default_factory=list)
    second_intent: str | None = None

    @property
    def steps(self) -> list[str]:
        """The performed SOP-level steps in order, consecutive repeats collapsed."""
        out: list[str] = []
        for _, step in sorted(self.turn_steps.items()):
            if step not in (GREETING, CLOSING, OTHER) and (not out or out[-1] != step):
                out.append(step)
        return out


def make_agents(rng: random.Random) -> list[Agent]:
    """Agents of every team, with adherence spread around their team's mean."""
    agents = []
    for team in TEAMS:
        for i in range(AGENTS_PER_TEAM):
            adherence = min(0.999, max(0.85, rng.gauss(TEAM_ADHERENCE[team], 0.015)))
            agents.append(Agent(f"agent-{team}-{i + 1:02d}", team, adherence))
    return agents
