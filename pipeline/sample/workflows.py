"""The sample corpus's workflows: their steps, volumes and how chaotic each is."""

from __future__ import annotations

from pipeline.sample.design import FlowStep, Workflow


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
