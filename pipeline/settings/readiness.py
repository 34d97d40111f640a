"""The ``readiness`` section of ``config.yaml``: autonomy readiness components and tiers.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.errors import ConfigError
from pipeline.schema import DRIFT_KINDS

READINESS_COMPONENTS = (
    "volume",
    "standardisation",
    "conformance",
    "resolution",
    "repeat_contact",
    "escalation",
    "exceptions",
    "handle_time_spread",
    "stability",
    "system_actions",
    "risk",
)
DEFAULT_READINESS_WEIGHTS = {
    "volume": 5.0,
    "standardisation": 15.0,
    "conformance": 15.0,
    "resolution": 10.0,
    "repeat_contact": 10.0,
    "escalation": 10.0,
    "exceptions": 10.0,
    "handle_time_spread": 5.0,
    "stability": 5.0,
    "system_actions": 5.0,
    "risk": 10.0,
}
# The level at which a rate-like component reaches 0 (linear from 1 at the ideal).
DEFAULT_READINESS_ZERO_AT = {
    "resolution": 0.5,  # share of calls not resolved
    "repeat_contact": 0.25,
    "escalation": 0.25,
    "exceptions": 1.0,
    "handle_time_spread": 1.0,  # coefficient of variation
}


@dataclass(frozen=True)
class ReadinessConfig:
    """How workflows are scored, tiered and explained for autonomy (stage 9)."""

    weights: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_READINESS_WEIGHTS))
    zero_at: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_READINESS_ZERO_AT))
    # The tier compares the interval's low end (tier_on: low) or the score with these.
    autonomous_score: float = 80.0  # >= this: autonomous (unless a gate applies)
    approval_score: float = 60.0  # >= this: agent with human approval; below: human-led
    tier_on: Literal["low", "score"] = "low"
    min_conversations: int = 50  # fewer: too little evidence, human-led
    # A workflow without a documented SOP and with fewer conversations than both of these
    # (an absolute count and a share of all) gets no row of its own: the ranking sums
    # such small intents up in one line ("N small intents, M conversations").
    min_volume: int = 10
    min_volume_share: float = 0.002
    require_sop: bool = True  # no documented SOP: gated
    risky_needs_approval_gate: bool = True  # moves money / regulated, no approval step: gated
    risky_autonomous_score: float = 90.0  # moves money / regulated: autonomous only from here
    volume_full: int = 1000  # conversations that make the volume component 1.0
    handle_time: Literal["turns", "duration"] = "turns"
    variant_cover: float = 0.8  # "N variants cover 80% of calls"
    stability_kinds: tuple[str, ...] = (
        "missing",
        "order_violation",
        "undocumented",
        "gate_skipped",
        "conformance_change",
        "variant_mix",
    )
    risk_moves_money: float = 0.4
    risk_regulated: float = 0.4
    approval_credit: float = 0.1
    approval_words: tuple[str, ...] = ("approv", "supervisor", "sign-off", "authoris", "authoriz")
    bootstrap: int = 200
    interval: float = 0.9
    weight_jitter: float = 0.25
    perturbations: int = 200
    n_reasons: int = 3

    def __post_init__(self) -> None:
        unknown = sorted(set(self.weights) - set(READINESS_COMPONENTS))
        if unknown:
            raise ConfigError(
                f"readiness.weights.{unknown[0]}: unknown component; expected "
                f"{', '.join(READINESS_COMPONENTS)}"
            )
        absent = [c for c in READINESS_COMPONENTS if c not in self.weights]
        if absent:
            raise ConfigError(
                f"readiness.weights.{absent[0]}: missing; give every component a weight "
                "(0 leaves one out)"
            )
        for name, weight in self.weights.items():
            if not 0.0 <= weight < float("inf"):
                raise ConfigError(
                    f"readiness.weights.{name}: expected a number >= 0, found {weight}"
                )
        if not any(self.weights.values()):
            raise ConfigError(
                "readiness.weights: every weight is 0; give at least one component a "
                "positive weight"
            )
        unknown = sorted(set(self.zero_at) - set(DEFAULT_READINESS_ZERO_AT))
        if unknown:
            raise ConfigError(
                f"readiness.zero_at.{unknown[0]}: unknown component; expected "
                f"{', '.join(DEFAULT_READINESS_ZERO_AT)}"
            )
        for name in DEFAULT_READINESS_ZERO_AT:
            value = self.zero_at.get(name)
            if value is None or not 0.0 < value < float("inf"):
                found = "nothing (missing)" if value is None else value
                raise ConfigError(f"readiness.zero_at.{name}: expected a number > 0, found {found}")
        if not 0.0 <= self.approval_score <= self.autonomous_score <= 100.0:
            raise ConfigError(
                "readiness.approval_score, readiness.autonomous_score: expected "
                f"0 <= approval_score <= autonomous_score <= 100, found {self.approval_score} "
                f"and {self.autonomous_score}"
            )
        if not 0.0 <= self.risky_autonomous_score <= 100.0:
            raise ConfigError(
                "readiness.risky_autonomous_score: expected a score in [0, 100], "
                f"found {self.risky_autonomous_score}"
            )
        if self.min_volume < 0 or not 0.0 <= self.min_volume_share < 1.0:
            raise ConfigError(
                "readiness.min_volume, readiness.min_volume_share: expected an integer >= 0 "
                f"and a share in [0, 1), found {self.min_volume} and {self.min_volume_share}"
            )
        positive = ("min_conversations", "bootstrap", "perturbations", "n_reasons")
        for name in positive:
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"readiness.{name}: expected an integer >= 1, found {getattr(self, name)}"
                )
        if self.volume_full < 2:
            raise ConfigError(
                f"readiness.volume_full: expected an integer >= 2, found {self.volume_full}"
            )
        for name in ("risk_moves_money", "risk_regulated", "approval_credit", "weight_jitter"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"readiness.{name}: expected a number in [0, 1], found {getattr(self, name)}"
                )
        for name in ("variant_cover", "interval"):
            if not 0.0 < getattr(self, name) < 1.0:
                raise ConfigError(
                    f"readiness.{name}: expected a number in (0, 1), found {getattr(self, name)}"
                )
        wrong = sorted(set(self.stability_kinds) - set(DRIFT_KINDS))
        if wrong:
            raise ConfigError(
                f"readiness.stability_kinds: expected drift kinds among {', '.join(DRIFT_KINDS)}, "
                f"found {wrong[0]!r}"
            )
