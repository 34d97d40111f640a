"""Builders shared by the readiness tests (they were in ``test_score.py``)."""

from datetime import UTC, datetime

from pipeline.config import (
    ReadinessConfig,
)
from pipeline.sops.model import parse_sop

T0 = datetime(2026, 3, 2, 9, tzinfo=UTC)


FAST = ReadinessConfig(bootstrap=50, perturbations=50)


def sop(sop_id, *, moves_money=False, regulated=False, approval=False, description=""):
    steps = [
        {"id": "verify", "action": "crm.verify"},
        {"id": "check", "after": ["verify"]},
        {"id": "pay", "action": "billing.pay", "after": ["check"]},
    ]
    if approval:
        steps.append({"id": "sign_off", "when": "amount > 100", "mandatory": False})
    data = {
        "sop_id": sop_id,
        "version": 1,
        "description": description,
        "steps": steps,
        "risk": {"moves_money": moves_money, "regulated": regulated},
    }
    return parse_sop(data, origin="test")


# ---- per-conversation rows for score_readiness ------------------------------------------
PERFECT = {
    "intent_id": None,
    "variant_id": "v1",
    "fitness": 1.0,
    "has_exception": False,
    "failed_actions": 0,
    "resolved": True,
    "escalated": False,
    "repeat_contact": False,
    "n_agent_turns": 4,
    "duration_s": 60.0,
    "n_steps": 2,
    "n_action_steps": 2,
    "started_at": T0,
}


def rows(workflow, n, start=0, **fields):
    return [
        {"conversation_id": f"{workflow}-{start + i:05d}", "workflow_id": workflow, **PERFECT}
        | {"intent_id": workflow}
        | fields
        for i in range(n)
    ]
