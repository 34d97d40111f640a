"""The ``outcomes`` section of ``config.yaml``: how a conversation ended.

Loaded and validated by :func:`pipeline.config.load_config`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from pipeline.errors import ConfigError, require_choice
from pipeline.schema import OUTCOME_VALUES


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
