"""The design of the bundled sample corpus, as data.

What a workflow is (its steps, volume and chaos; the workflows themselves are in
:mod:`pipeline.sample.workflows`), the planted drift and outcome effects, and the
intended readiness.

Everything the generator plants is declared here, as data, so that the truth files can
state it and tests can check it. The wording lives in ``content.yaml``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

START = date(2026, 3, 2)  # a Monday; the corpus spans 12 weeks
WEEKS = 12
TEAMS = ("north", "south", "east", "west")
AGENTS_PER_TEAM = 8
TEAM_ADHERENCE = {"north": 0.985, "south": 0.97, "east": 0.955, "west": 0.94}


@dataclass(frozen=True)
class FlowStep:
    """One step of a workflow's documented SOP, with how agents really perform it."""

    step: str
    mandatory: bool = True
    after: tuple[str, ...] = ()
    when: str | None = None  # approval gate, kept as data in the SOP
    rate: float = 1.0  # how often an optional step is performed
    action: str | None = None  # CRM/tool action bound to the step
    logged: float = 0.0  # share of performances the CRM logs as an action event


@dataclass(frozen=True)
class Workflow:
    """A customer intent and the process agents follow for it."""

    intent: str
    share: float  # share of baseline volume
    flow: tuple[FlowStep, ...]
    chaos: float  # 0 (scripted) .. 1 (improvised): skips, swaps, off-script turns
    escalation: float  # base escalation probability
    abandon: float  # base abandonment probability
    moves_money: bool = False
    regulated: bool = False
    amount: tuple[float, float] | None = None  # lognormal (mu, sigma) of the amount at stake
    undocumented: tuple[str, ...] = ()  # steps agents often add that the SOP lacks
    undocumented_rate: float = 0.0
    documented: bool = True  # has a documented SOP
    weeks: tuple[int, int] = (1, WEEKS)  # first and last week it occurs (1-based)


@dataclass(frozen=True)
class PlantedDrift:
    """A change in agent behaviour planted from ``onset_week`` on."""

    sop_id: str
    step: str
    kind: str  # "missing" (a mandatory step skipped) or "order_violation"
    onset_week: int
    share: float  # share of the affected calls that deviate from the onset on
    team: str | None = None  # None: every team
    before: str | None = None  # order_violation: the step it is moved in front of

    @property
    def onset(self) -> date:
        """First day of the onset week."""
        return START.fromordinal(START.toordinal() + 7 * (self.onset_week - 1))


PLANTED_DRIFT: tuple[PlantedDrift, ...] = (
    PlantedDrift(
        "refund_request", "verify_identity", "missing", onset_week=7, share=0.5, team="south"
    ),
    PlantedDrift(
        "address_change",
        "send_confirmation",
        "order_violation",
        onset_week=8,
        share=0.55,
        before="update_address",
    ),
)


@dataclass(frozen=True)
class OutcomeEffects:
    """How skipping steps changes outcomes (the effect drift analysis must recover)."""

    repeat_base: float = 0.05  # repeat contact within 7 days, conforming call
    repeat_if_unverified: float = 0.30  # verify_identity skipped
    repeat_if_ineligible: float = 0.20  # check_eligibility skipped
    escalate_if_ineligible: float = 0.15  # added escalation when check_eligibility skipped
    repeat_window_days: int = 7
    repeat_steps: tuple[str, ...] = field(default=("verify_identity", "check_eligibility"))


OUTCOME_EFFECTS = OutcomeEffects()

# Intended readiness, best first, with the tier each workflow is designed for: volume and
# standardisation fall and chaos, escalation and risk rise down the list.
INTENDED_READINESS: tuple[tuple[str, str], ...] = (
    ("order_status", "autonomous"),
    ("password_reset", "autonomous"),
    ("address_change", "autonomous"),
    ("promo_code_issue", "autonomous"),
    ("shipping_delay", "agent with human approval"),
    ("refund_request", "agent with human approval"),
    ("subscription_cancel", "agent with human approval"),
    ("change_payment_method", "agent with human approval"),
    ("damaged_item_return", "agent with human approval"),
    ("payment_dispute", "human-led"),
    ("account_closure", "human-led"),
    ("fraud_report", "human-led"),
)
MULTI_INTENT_RATE = 0.03
REPEAT_OPENING_RATE = 0.7  # repeat contacts that say they called before
