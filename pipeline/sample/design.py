"""The design of the bundled sample corpus, as data.

Workflows, their documented SOPs, volumes, how chaotic each is, the planted drift and
outcome effects, and the intended readiness.

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


def _verify(logged: float = 0.6) -> FlowStep:
    return FlowStep("verify_identity", action="crm.verify_identity", logged=logged)


WORKFLOWS: tuple[Workflow, ...] = (
    Workflow(
        "order_status",
        0.16,
        (
            _verify(0.9),
            FlowStep(
                "lookup_order", after=("verify_identity",), action="orders.lookup", logged=0.95
            ),
            FlowStep("inform_status", after=("lookup_order",)),
            FlowStep(
                "offer_tracking_link",
                mandatory=False,
                rate=0.45,
                after=("inform_status",),
                action="notify.send_tracking",
                logged=0.9,
            ),
        ),
        chaos=0.03,
        escalation=0.01,
        abandon=0.01,
    ),
    Workflow(
        "password_reset",
        0.11,
        (
            _verify(0.9),
            FlowStep(
                "send_reset_link",
                after=("verify_identity",),
                action="auth.send_reset_link",
                logged=0.95,
            ),
            FlowStep("confirm_login", after=("send_reset_link",)),
        ),
        chaos=0.04,
        escalation=0.02,
        abandon=0.02,
    ),
    Workflow(
        "address_change",
        0.11,
        (
            _verify(0.8),
            FlowStep("collect_new_address", after=("verify_identity",)),
            FlowStep(
                "update_address",
                after=("collect_new_address",),
                action="crm.update_address",
                logged=0.9,
            ),
            FlowStep(
                "send_confirmation",
                after=("update_address",),
                action="notify.send_email",
                logged=0.5,
            ),
        ),
        chaos=0.06,
        escalation=0.02,
        abandon=0.02,
    ),
    Workflow(
        "promo_code_issue",
        0.08,
        (
            _verify(0.7),
            FlowStep("ask_promo_code", after=("verify_identity",)),
            FlowStep(
                "check_promo_validity",
                after=("ask_promo_code",),
                action="promos.validate",
                logged=0.8,
            ),
            FlowStep(
                "apply_discount",
                mandatory=False,
                rate=0.7,
                after=("check_promo_validity",),
                action="billing.apply_discount",
                logged=0.9,
            ),
        ),
        chaos=0.08,
        escalation=0.03,
        abandon=0.02,
    ),
    Workflow(
        "shipping_delay",
        0.08,
        (
            _verify(0.6),
            FlowStep(
                "lookup_order", after=("verify_identity",), action="orders.lookup", logged=0.8
            ),
            FlowStep("explain_delay", after=("lookup_order",)),
            FlowStep(
                "offer_compensation",
                mandatory=False,
                rate=0.4,
                after=("explain_delay",),
                action="billing.issue_credit",
                logged=0.8,
            ),
        ),
        chaos=0.12,
        escalation=0.05,
        abandon=0.03,
    ),
    Workflow(
        "refund_request",
        0.13,
        (
            _verify(0.7),
            FlowStep(
                "lookup_order", after=("verify_identity",), action="orders.lookup", logged=0.8
            ),
            FlowStep(
                "check_eligibility",
                after=("lookup_order",),
                action="orders.check_refund_eligibility",
                logged=0.6,
            ),
            FlowStep(
                "supervisor_approval",
                mandatory=False,
                when="amount > 200",
                after=("check_eligibility",),
                action="approvals.request",
                logged=0.9,
            ),
            FlowStep(
                "issue_refund", after=("check_eligibility",), action="billing.refund", logged=0.95
            ),
            FlowStep(
                "send_confirmation",
                mandatory=False,
                rate=0.6,
                after=("issue_refund",),
                action="notify.send_email",
                logged=0.5,
            ),
        ),
        chaos=0.1,
        escalation=0.05,
        abandon=0.02,
        moves_money=True,
        amount=(4.3, 0.7),
    ),
    Workflow(
        "subscription_cancel",
        0.07,
        (
            _verify(0.6),
            FlowStep("ask_cancel_reason", after=("verify_identity",)),
            FlowStep("offer_retention", after=("ask_cancel_reason",)),
            FlowStep(
                "process_cancellation",
                after=("offer_retention",),
                action="subscriptions.cancel",
                logged=0.9,
            ),
            FlowStep(
                "send_confirmation", mandatory=False, rate=0.7, after=("process_cancellation",)
            ),
        ),
        chaos=0.15,
        escalation=0.06,
        abandon=0.04,
    ),
    Workflow(
        "change_payment_method",
        0.06,
        (
            _verify(0.6),
            FlowStep("verify_security_question", after=("verify_identity",)),
            FlowStep("collect_card_details", after=("verify_security_question",)),
            FlowStep(
                "update_payment_method",
                after=("collect_card_details",),
                action="billing.update_payment_method",
                logged=0.9,
            ),
            FlowStep(
                "send_confirmation", mandatory=False, rate=0.5, after=("update_payment_method",)
            ),
        ),
        chaos=0.18,
        escalation=0.08,
        abandon=0.04,
        regulated=True,
    ),
    Workflow(
        "damaged_item_return",
        0.06,
        (
            _verify(0.5),
            FlowStep(
                "lookup_order", after=("verify_identity",), action="orders.lookup", logged=0.7
            ),
            FlowStep("collect_damage_details", after=("lookup_order",)),
            FlowStep(
                "create_return_label",
                after=("collect_damage_details",),
                action="returns.create_label",
                logged=0.85,
            ),
            FlowStep(
                "offer_replacement_or_refund",
                mandatory=False,
                rate=0.6,
                after=("collect_damage_details",),
            ),
        ),
        chaos=0.2,
        escalation=0.08,
        abandon=0.05,
        moves_money=True,
        amount=(4.0, 0.6),
    ),
    Workflow(
        "payment_dispute",
        0.04,
        (
            _verify(0.4),
            FlowStep(
                "lookup_charges",
                after=("verify_identity",),
                action="billing.lookup_charges",
                logged=0.6,
            ),
            FlowStep("collect_dispute_details", after=("lookup_charges",)),
            FlowStep(
                "open_dispute_case",
                after=("collect_dispute_details",),
                action="disputes.open_case",
                logged=0.7,
            ),
            FlowStep(
                "supervisor_approval",
                mandatory=False,
                when="amount > 100",
                after=("collect_dispute_details",),
                action="approvals.request",
                logged=0.5,
            ),
            FlowStep(
                "explain_dispute_timeline", mandatory=False, rate=0.5, after=("open_dispute_case",)
            ),
        ),
        chaos=0.4,
        escalation=0.2,
        abandon=0.08,
        moves_money=True,
        regulated=True,
        amount=(4.6, 0.8),
        undocumented=("lookup_order", "offer_compensation"),
        undocumented_rate=0.3,
    ),
    Workflow(
        "account_closure",
        0.03,
        (
            _verify(0.4),
            FlowStep("verify_security_question", after=("verify_identity",)),
            FlowStep("ask_closure_reason", after=("verify_security_question",)),
            FlowStep("offer_retention", mandatory=False, rate=0.5, after=("ask_closure_reason",)),
            FlowStep(
                "check_outstanding_balance",
                after=("ask_closure_reason",),
                action="billing.check_balance",
                logged=0.5,
            ),
            FlowStep(
                "close_account",
                after=("check_outstanding_balance",),
                action="crm.close_account",
                logged=0.8,
            ),
            FlowStep("send_confirmation", mandatory=False, rate=0.4, after=("close_account",)),
        ),
        chaos=0.45,
        escalation=0.22,
        abandon=0.1,
        regulated=True,
        undocumented=("lookup_charges",),
        undocumented_rate=0.3,
    ),
    Workflow(
        "fraud_report",
        0.02,
        (
            _verify(0.5),
            FlowStep("verify_security_question", after=("verify_identity",)),
            FlowStep("block_card", after=("verify_identity",), action="cards.block", logged=0.9),
            FlowStep(
                "review_recent_transactions",
                after=("block_card",),
                action="billing.lookup_charges",
                logged=0.5,
            ),
            FlowStep(
                "open_fraud_case",
                after=("review_recent_transactions",),
                action="fraud.open_case",
                logged=0.7,
            ),
            FlowStep(
                "order_replacement_card",
                mandatory=False,
                rate=0.6,
                after=("block_card",),
                action="cards.reissue",
                logged=0.8,
            ),
            FlowStep("transfer_to_fraud_team", mandatory=False, rate=0.4),
        ),
        chaos=0.5,
        escalation=0.3,
        abandon=0.08,
        moves_money=True,
        regulated=True,
        amount=(5.0, 1.0),
        undocumented=("lookup_order",),
        undocumented_rate=0.25,
    ),
    # The emerging intent: only in the last three weeks, no documented SOP yet.
    Workflow(
        "loyalty_points_missing",
        0.08,
        (
            _verify(0.5),
            FlowStep(
                "lookup_loyalty_account",
                after=("verify_identity",),
                action="loyalty.lookup",
                logged=0.8,
            ),
            FlowStep(
                "add_missing_points",
                after=("lookup_loyalty_account",),
                action="loyalty.adjust_points",
                logged=0.8,
            ),
        ),
        chaos=0.1,
        escalation=0.04,
        abandon=0.02,
        documented=False,
        weeks=(10, 12),
    ),
)


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
