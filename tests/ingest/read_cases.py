"""Builders shared by the ingest tests (they were in ``test_read.py``)."""

from conftest import conversation


def action_record(cid: str, status) -> dict:
    record = conversation(cid, ("customer", "my card was charged twice"))
    action = {"speaker": "agent", "event_type": "action", "action": "billing.lookup"}
    record["turns"].append(action if status is None else action | {"status": status})
    return record
