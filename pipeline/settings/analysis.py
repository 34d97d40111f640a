"""Settings of the analyses: outcomes, drift and autonomy readiness.

The ``outcomes``, ``drift`` and ``readiness`` sections of ``config.yaml``; loaded and
validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.errors import ConfigError, require_choice, require_positive
from pipeline.schema import DRIFT_KINDS, OUTCOME_VALUES


@dataclass(frozen=True)
class OutcomeConfig:
    """How a conversation's outcome and repeat contacts are found (stage 8).

    Words and phrases match as case-insensitive substrings. The defaults are generic
    contact-centre wording; extend them with your own scripts' wording.
    """

    repeat_days: int = 7  # the same customer again within N days on the same workflow
    # auto: derive the outcome where the data has none (the data's outcome wins); always:
    # derive every outcome, the data's field ignored (unreliable, or to check the rules).
    derive: Literal["auto", "always"] = "auto"
    # Derived outcomes, where the data has none: an action event whose name contains one
    # of these words, or an agent/bot utterance containing one of these phrases. An
    # approval request is not an escalation (the agent keeps the customer), so no
    # "approval" word here.
    escalation_actions: tuple[str, ...] = ("escalat",)
    transfer_actions: tuple[str, ...] = ("transfer", "handoff", "hand_off", "handover")
    escalation_phrases: tuple[str, ...] = (
        "escalat",
        "to a supervisor",
        "to my supervisor",
        "to a manager",
        "to my manager",
        "supervisor on the line",
        "manager on the line",
        "to a team lead",
        "specialist team",
    )
    transfer_phrases: tuple[str, ...] = (
        "transfer you",
        "transferring you",
        "put you through",
        "connect you to",
        "connecting you to",
        "hand you over",
        "pass you over",
        "another department",
    )
    # Resolved: one of the last closing_turns agent/bot utterances after the customer's
    # first utterance holds a closing phrase (after it, so a greeting never counts).
    closing_phrases: tuple[str, ...] = (
        "anything else",
        "anything further",
        "all set",
        "have a good",
        "have a great",
        "have a nice",
        "have a lovely",
        "have a wonderful",
        "take care",
        "thanks for contacting",
        "thank you for contacting",
        "thanks for calling",
        "thank you for calling",
        "goodbye",
        "bye",
    )
    closing_turns: int = 2
    min_customer_turns: int = 1  # fewer customer utterances than this: abandoned
    # Extra spellings of the data's outcome field (normalised: lower case, runs of other
    # characters as "_"), e.g. {callback_booked: resolved}; added to the built-in ones.
    outcome_aliases: dict[str, str] = field(default_factory=dict)
    # Values of the data's outcome field that say it has none (normalised the same way):
    # treated as absent, so the outcome is derived from the transcript.
    no_outcome_values: tuple[str, ...] = ("unknown", "none", "null", "na", "n_a", "nan")

    def __post_init__(self) -> None:
        require_choice("outcomes.derive", self.derive, ("auto", "always"))
        for name in ("repeat_days", "closing_turns"):
            if getattr(self, name) < 1:
                raise ConfigError(
                    f"outcomes.{name}: expected an integer >= 1, found {getattr(self, name)}"
                )
        if self.min_customer_turns < 0:
            raise ConfigError(
                "outcomes.min_customer_turns: expected an integer >= 0, "
                f"found {self.min_customer_turns}"
            )
        words = ("escalation_actions", "transfer_actions", "escalation_phrases",
                 "transfer_phrases", "closing_phrases")  # fmt: skip
        for name in words:
            if any(not w.strip() for w in getattr(self, name)):
                raise ConfigError(
                    f"outcomes.{name}: expected non-empty words or phrases, found an empty "
                    "one (it would match every turn); remove it"
                )
        if any(not v.strip() for v in self.no_outcome_values):
            raise ConfigError(
                "outcomes.no_outcome_values: expected non-empty values, found an empty one "
                "(a blank outcome is absent anyway); remove it"
            )
        for alias, outcome in self.outcome_aliases.items():
            require_choice(f"outcomes.outcome_aliases.{alias}", outcome, OUTCOME_VALUES)


@dataclass(frozen=True)
class DriftConfig:
    """How drift between documented and actual practice is tested (stage 7)."""

    window: Literal["day", "week", "month"] = "week"
    baseline_windows: int = 4  # the first N windows of a workflow's history are its baseline
    # Fewer conversations in a window, its baseline, or either side of an outcome
    # comparison: not tested (the tests are exact; this keeps rates off tiny denominators).
    min_count: int = 20
    alpha: float = 0.05  # false discovery rate (Benjamini-Hochberg) for flagging
    # A step-rate finding also needs the deviation rate to rise by this much (absolute);
    # outcome severity calls a harm of this size high.
    min_effect: float = 0.1
    # Severity of a flagged step-rate row: "large" is a rise of at least large_rise_factor
    # times min_effect, "strong" a q_value below alpha / strong_alpha_divisor.
    large_rise_factor: float = 2.0
    strong_alpha_divisor: float = 10.0
    breakdown: tuple[str, ...] = ("team", "agent_hash")  # groups tested besides "all"
    js_threshold: float = 0.1  # Jensen-Shannon divergence that flags a mix change
    js_high_factor: float = 2.0  # a mix change of this times js_threshold is high
    variant_rare_share: float = 0.01  # rarer variants of a workflow pool into "other variants"
    permutations: int = 999  # draws per permutation test (mix drift, change points)
    seed: int = 0  # of the permutation draws
    # Conformance change points: a shift smaller than change_min_shift is not flagged; a
    # fall of change_high_factor (change_medium_factor) times it is high (medium).
    change_min_shift: float = 0.05
    change_min_segment: int = 2  # windows on each side of a change point
    change_medium_factor: float = 2.0
    change_high_factor: float = 3.0
    # Exception clusters: flagged when at least exception_min_lift times as common in
    # their SOP as in the others; high from this share of the SOP's conversations, medium...
    exception_min_lift: float = 2.0
    exception_high_share: float = 0.2
    exception_medium_share: float = 0.1  # ...from this one, else low
    # The weight of an undocumented step in conformance fitness (a missing step weighs 1).
    undocumented_weight: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise ConfigError(f"drift.alpha: expected a number in (0, 1), found {self.alpha}")
        if self.baseline_windows < 1 or self.min_count < 1:
            raise ConfigError("drift.baseline_windows and drift.min_count: expected integers >= 1")
        if self.window not in ("day", "week", "month"):
            raise ConfigError(f"drift.window: expected day/week/month, found {self.window!r}")
        if not 0.0 <= self.min_effect <= 1.0:
            raise ConfigError(
                f"drift.min_effect: expected a share in [0, 1], found {self.min_effect}"
            )
        if len(set(self.breakdown)) != len(self.breakdown):
            raise ConfigError(
                f"drift.breakdown: expected distinct columns, found {list(self.breakdown)}"
            )
        unknown = set(self.breakdown) - {"team", "agent_hash", "queue", "channel"}
        if unknown:
            raise ConfigError(
                "drift.breakdown: expected columns among team, agent_hash, queue, channel, "
                f"found {sorted(unknown)}"
            )
        require_positive("drift", self, ("permutations", "change_min_segment"))
        at_least_one = ("large_rise_factor", "strong_alpha_divisor", "js_high_factor",
                        "change_medium_factor", "exception_min_lift")  # fmt: skip
        for name in at_least_one:
            if not 1.0 <= getattr(self, name) < float("inf"):
                raise ConfigError(
                    f"drift.{name}: expected a number >= 1, found {getattr(self, name)}"
                )
        if self.change_high_factor < self.change_medium_factor:
            raise ConfigError(
                f"drift.change_high_factor ({self.change_high_factor}) must not be below "
                f"drift.change_medium_factor ({self.change_medium_factor})"
            )
        shares = ("variant_rare_share", "change_min_shift", "exception_high_share",
                  "exception_medium_share")  # fmt: skip
        for name in shares:
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ConfigError(
                    f"drift.{name}: expected a share in [0, 1], found {getattr(self, name)}"
                )
        if self.exception_medium_share > self.exception_high_share:
            raise ConfigError(
                f"drift.exception_medium_share ({self.exception_medium_share}) must not "
                f"exceed drift.exception_high_share ({self.exception_high_share})"
            )
        if self.seed < 0:
            raise ConfigError(f"drift.seed: expected an integer >= 0, found {self.seed}")
        if not 0.0 <= self.undocumented_weight < float("inf"):
            raise ConfigError(
                f"drift.undocumented_weight: expected a number >= 0, found "
                f"{self.undocumented_weight}"
            )


# Autonomy-readiness components, each a value in [0, 1] where 1 is readier; defined in
# pipeline/readiness/score.py. Why each default weight is what it is: config.yaml.
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
