import pytest
from conftest import SHARED_DATA

from pipeline.adapters.abcd_sop import subflow_to_sop
from pipeline.adapters.sops import import_sops, read_sops
from pipeline.adapters.star_sop import flowchart_to_sop
from pipeline.errors import InputError
from pipeline.sop import load_sops, sop_to_yaml

STAR_TASKS = SHARED_DATA / "star" / "tasks"
ABCD = SHARED_DATA / "abcd"


def test_flowchart_rule_on_a_tiny_chart():
    replies = {
        "hello": "Hi",
        "ask_name": "Name?",
        "query": "Query",
        "query_success": "ok",
        "query_failure": "failed",
        "inform": "Here it is",
        "sorry": "Sorry",
        "anything_else": "Anything else?",
        "out_of_scope": "I can't",
    }
    graph = {
        "hello": "ask_name",
        "ask_name": "query",
        "query_success": "inform",
        "query_failure": "sorry",
        "inform": "anything_else",
    }
    sop = flowchart_to_sop("t", replies, graph)
    mandatory = [s.id for s in sop.steps if s.mandatory]
    assert mandatory == ["hello", "ask_name", "query"]
    assert sop.step("query").next == ("query_success", "query_failure")
    assert sop.step("query").action == "t.query"
    assert sop.step("query_success").when == "query succeeded"
    assert sop.step("inform").after == ("query",)
    assert sop.step("out_of_scope").after == () and not sop.step("out_of_scope").mandatory
    assert sop.step("ask_name").examples == ("Name?",)


def test_abcd_rule_on_a_tiny_subflow():
    subflow = {
        "actions": [
            {
                "type": "interaction",
                "button": "Pull up Account",
                "text": "Ask for the name",
                "subtext": [],
            },
            {
                "type": "communication",
                "button": "N/A",
                "text": "Explain the policy",
                "subtext": ["point one"],
            },
            {
                "type": "kb query",
                "button": "Verify Identity",
                "text": "Verify",
                "subtext": ["Full name", "Zip"],
            },
        ]
    }
    sop = subflow_to_sop(
        "recover_x",
        "Recover X",
        "Account Access",
        subflow,
        ["pull-up-account", "verify-identity", "send-link"],
    )
    assert [(s.id, s.mandatory) for s in sop.steps] == [
        ("pull-up-account", True),
        ("communication", False),
        ("verify-identity", True),
        ("send-link", True),
    ]
    assert sop.step("verify-identity").after == ("pull-up-account",)
    assert sop.step("send-link").after == ("verify-identity",)
    assert sop.step("verify-identity").description == "Verify - Full name - Zip"
    assert sop.step("communication").action is None


@pytest.mark.shared_data
def test_all_12_star_tasks_convert_and_round_trip(tmp_path):
    paths = import_sops("star", [STAR_TASKS], tmp_path)
    assert len(paths) == 12
    sops = load_sops([tmp_path])
    assert sops == read_sops("star", [STAR_TASKS])
    bank = next(s for s in sops if s.sop_id == "bank_balance")
    chain = [s.id for s in bank.steps if s.mandatory]
    assert chain == ["hello", "ask_name", "bank_ask_account_number", "bank_ask_pin", "query"]
    assert bank.step("query").action == "bank_balance.query"
    assert not bank.step("query_success").mandatory and not bank.step("query_failure").mandatory
    assert bank.step("bank_inform_balance").after == ("query",)
    for sop in sops:
        assert sop.steps[0].id == "hello" and sop.steps[0].mandatory
        assert sop_to_yaml(sop) == (tmp_path / f"{sop.sop_id}.yaml").read_text()


@pytest.mark.shared_data
def test_all_55_abcd_subflows_convert_and_match_the_committed_library(tmp_path):
    from pathlib import Path

    paths = import_sops("abcd", [ABCD / "kb.json", ABCD / "guidelines.json"], tmp_path)
    assert len(paths) == 55
    committed = Path(__file__).resolve().parents[1] / "data" / "sops" / "abcd"
    for path in paths:
        assert path.read_text() == (committed / path.name).read_text(), path.name
    recover = next(s for s in load_sops([tmp_path]) if s.sop_id == "recover_username")
    assert [(s.id, s.mandatory, s.action) for s in recover.steps if s.mandatory] == [
        ("pull-up-account", True, "pull-up-account"),
        ("verify-identity", True, "verify-identity"),
    ]
    assert recover.step("verify-identity").after == ("pull-up-account",)


@pytest.mark.shared_data
def test_abcd_needs_guidelines_and_kb(tmp_path):
    with pytest.raises(InputError, match="needs guidelines.json"):
        read_sops("abcd", [ABCD / "kb.json"])


def test_unknown_format_and_missing_input(tmp_path):
    with pytest.raises(InputError, match="unknown SOP format"):
        read_sops("pdf", [tmp_path])
    with pytest.raises(InputError, match="no such STAR task"):
        read_sops("star", [tmp_path / "nope"])
