import json
from pathlib import Path

import pytest
from conftest import SHARED_DATA

from pipeline.errors import InputError
from pipeline.sops.abcd import match_subflow, read_abcd_sops, subflow_to_sop
from pipeline.sops.files import load_sops
from pipeline.sops.importers import import_sops, read_sops
from pipeline.sops.model import sop_to_yaml
from pipeline.sops.star import flowchart_to_sop

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
    before = (dict(replies), dict(graph))
    sop = flowchart_to_sop("t", replies, graph)
    assert (replies, graph) == before  # inputs untouched
    mandatory = [s.id for s in sop.steps if s.mandatory]
    assert mandatory == ["query"]  # hello greets, ask_name requests: neither is mandatory
    assert sop.step("query").next == ("query_success", "query_failure")
    assert sop.step("query").action == "t.query"
    assert sop.step("query").after == ("ask_name",)
    assert sop.step("query_success").when is None
    assert sop.step("query_success").description == "Decision outcome: query succeeded (ok)"
    assert sop.step("inform").after == ("query",)
    assert sop.step("out_of_scope").after == () and not sop.step("out_of_scope").mandatory
    assert sop.step("ask_name").examples == ("Name?",)
    kinds = {s.id: s.kind for s in sop.steps}
    assert kinds == {"hello": "management", "ask_name": "process", "query": "process",
                     "query_success": "outcome", "query_failure": "outcome",
                     "inform": "process", "sorry": "process", "anything_else": "management",
                     "out_of_scope": "management"}  # fmt: skip


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


def test_decision_outcomes_attach_to_the_question_on_the_positive_path():
    # A booking chart: the check answers available/unavailable, the booking succeeds or
    # fails, and yes/no answer the confirmation question, not the "sorry" dead end.
    replies = {
        k: k
        for k in (
            "hello query_check sorry confirm query_book done anything_else available "
            "unavailable yes no query_success query_failure failed"
        ).split()
    }
    graph = {
        "hello": "query_check",
        "unavailable": "sorry",
        "available": "confirm",
        "yes": "query_book",
        "no": "hello",
        "query_success": "done",
        "query_failure": "failed",
        "done": "anything_else",
    }
    sop = flowchart_to_sop("t", replies, graph)
    assert sop.step("query_check").next == ("available", "unavailable")
    assert sop.step("confirm").next == ("yes", "no")
    assert sop.step("query_book").next == ("query_success", "query_failure")
    assert sop.step("sorry").next == ()
    assert [s.id for s in sop.steps if s.mandatory] == ["query_check"]
    assert sop.step_ids[:4] == ("hello", "query_check", "available", "unavailable")
    assert (sop.step("query_check").action, sop.step("query_book").action) == ("t.check", "t.book")
    assert sop.step("yes").examples == () and sop.step("yes").when is None
    assert sop.step("yes").description == "Decision outcome: the customer says yes (yes)"
    # after looks through the optional confirm up to the mandatory check
    assert sop.step("query_book").after == ("query_check", "confirm")


def test_a_decision_outcome_is_never_mandatory():
    # hotel_search's shape: the only end is reached through "no".
    replies = {k: k for k in ("hello", "query", "ask_more", "yes", "no", "goodbye_1")}
    graph = {"hello": "query", "query": "ask_more", "yes": "hello", "no": "goodbye_1"}
    sop = flowchart_to_sop("t", replies, graph)
    assert [s.id for s in sop.steps if s.mandatory] == ["query", "ask_more"]
    assert sop.step("ask_more").after == ("query",)
    assert not sop.step("goodbye_1").mandatory and sop.step("goodbye_1").after == ()
    assert not sop.step("no").mandatory and sop.step("no").after == ()


def chart(names: str) -> dict[str, str]:
    return {k: k for k in names.split()}


def test_a_request_box_is_optional_and_fixes_no_order_among_its_details():
    # hotel_book's shape: "no" loops back into the box, which does not split it.
    replies = chart(
        "hello ask_name ask_hotel ask_date query_check available unavailable confirm yes no "
        "query_book booked sorry anything_else"
    )
    graph = {
        "hello": "ask_name",
        "ask_name": "ask_hotel",
        "ask_hotel": "ask_date",
        "ask_date": "query_check",
        "available": "confirm",
        "unavailable": "sorry",
        "yes": "query_book",
        "no": "ask_hotel",
        "query_book": "booked",
        "booked": "anything_else",
    }
    sop = flowchart_to_sop("t", replies, graph)
    assert [s.id for s in sop.steps if s.mandatory] == ["query_check"]
    assert [sop.step(s).after for s in ("ask_name", "ask_hotel", "ask_date")] == [(), (), ()]
    assert sop.step("query_check").after == ("ask_name", "ask_hotel", "ask_date")
    assert sop.step("confirm").after == ("query_check",)
    assert sop.step("booked").after == ("query_check", "confirm", "query_book")
    assert sop.step("hello").after == () and sop.step("anything_else").after == ()
    assert sop.step("ask_date").next == ("query_check",)  # next keeps the chart's edges


def test_info_missing_leaves_each_request_box_and_makes_the_query_optional():
    # bank_fraud_report's shape: the alternative box rejoins at ask_details, which ends
    # the first box there; info_missing2 leaves the alternative box for the refusal.
    replies = chart(
        "hello ask_name ask_pin ask_details ask_dob ask_pet query query_success "
        "query_failure done denied info_missing info_missing2"
    )
    graph = {
        "hello": "ask_name",
        "ask_name": "ask_pin",
        "ask_pin": "ask_details",
        "ask_details": "query",
        "info_missing": "ask_dob",
        "ask_dob": "ask_pet",
        "ask_pet": "ask_details",
        "info_missing2": "denied",
        "query_failure": "denied",
        "query_success": "done",
    }
    sop = flowchart_to_sop("t", replies, graph)
    assert sop.step("ask_pin").next == ("ask_details", "info_missing")
    assert sop.step("ask_pet").next == ("ask_details", "info_missing2")
    assert [s.id for s in sop.steps if s.mandatory] == []  # denied is reached without query
    assert sop.step("ask_details").after == ("ask_name", "ask_pin")
    assert sop.step("ask_pet").after == ("ask_name", "ask_pin")
    assert sop.step("query").after == ("ask_name", "ask_pin", "ask_details")
    assert sop.step("done").after == ("ask_name", "ask_pin", "ask_details", "query")
    assert sop.step("info_missing").description == (
        "Decision outcome: the customer cannot give the requested details (info_missing)"
    )


def test_info_missing_without_a_request_box_stays_unattached():
    replies = chart("hello query inform info_missing")
    graph = {"hello": "query", "query": "inform", "info_missing": "inform"}
    sop = flowchart_to_sop("t", replies, graph)
    assert [s.id for s in sop.steps if "info_missing" in s.next] == []
    assert [s.id for s in sop.steps if s.mandatory] == ["query", "inform"]
    assert sop.step("info_missing").after == ()


def test_a_folder_without_star_tasks_is_an_input_error(tmp_path):
    (tmp_path / "notes").mkdir()
    with pytest.raises(InputError, match="no STAR task flowchart"):
        read_sops("star", [tmp_path])


def test_abcd_mandatory_steps_follow_the_kb_order():
    subflow = {
        "actions": [
            {"type": "interaction", "button": "Log Out/In", "text": "one", "subtext": []},
            {"type": "communication", "button": "N/A", "text": "say", "subtext": []},
            {"type": "interaction", "button": "Try Again", "text": "two", "subtext": []},
        ]
    }
    sop = subflow_to_sop("slow", "Slow", "Site", subflow, ["try-again", "log-out-in"])
    assert sop.step_ids == ("try-again", "log-out-in", "communication")
    assert sop.step("log-out-in").after == ("try-again",)
    assert sop.step("log-out-in").description == "one"
    assert sop.step("communication").after == () and not sop.step("communication").mandatory


@pytest.mark.parametrize(
    ("display", "key"),
    [
        ("Status Active", "status_active"),
        ("Shipping Status", "status"),
        ("Out-of-Stock General", "out_of_stock_general"),
        ("Reset Two-Factor Auth", "reset_2fa"),
        ("Membership FAQ", "membership"),
    ],
)
def test_abcd_subflow_names_match_kb_keys(display, key):
    candidates = ["status", "status_active", "out_of_stock_general", "reset_2fa", "membership"]
    assert match_subflow(display, candidates) == key


@pytest.mark.parametrize(
    ("display", "candidates", "message"),
    [
        ("Order Lost", ["status", "refund_initiate"], "no kb key fits"),
        ("Status Refund", ["status_x", "status", "refund"], "candidates status, refund fits"),
    ],
)
def test_abcd_subflow_names_that_do_not_match_raise(display, candidates, message):
    with pytest.raises(InputError, match=message):
        match_subflow(display, candidates)


def test_abcd_kb_subflow_without_guideline_raises(tmp_path):
    action = {"type": "interaction", "button": "Pull up Account", "text": "t", "subtext": []}
    guide = {"Account Access": {"subflows": {"Recover Username": {"actions": [action]}}}}
    kb = {"recover_username": ["pull-up-account"], "recover_password": ["pull-up-account"]}
    (tmp_path / "g.json").write_text(json.dumps(guide))
    (tmp_path / "k.json").write_text(json.dumps(kb))
    with pytest.raises(InputError, match="subflows with no guideline: recover_password"):
        read_abcd_sops(tmp_path / "g.json", tmp_path / "k.json")
    (tmp_path / "other.json").write_text("[1, 2]")
    with pytest.raises(InputError, match="other.json: not one of ABCD's"):
        read_sops("abcd", [tmp_path / "g.json", tmp_path / "k.json", tmp_path / "other.json"])


@pytest.mark.shared_data
def test_all_12_star_tasks_convert_and_round_trip(tmp_path):
    paths = import_sops("star", [STAR_TASKS], tmp_path)
    assert len(paths) == 12
    sops = load_sops([tmp_path])
    assert sops == read_sops("star", [STAR_TASKS])
    bank = next(s for s in sops if s.sop_id == "bank_balance")
    # info_missing leaves the first Request box and info_missing2 the second, so an end
    # (cannot authenticate) is reached without the query: nothing is on every path.
    assert [s.id for s in bank.steps if s.mandatory] == []
    assert bank.step("bank_ask_pin").next == ("query", "info_missing")
    assert bank.step("bank_ask_childhood_pets_name").next == ("query", "info_missing2")
    assert bank.step("query").action == "bank_balance.query"
    first_box = ("ask_name", "bank_ask_account_number", "bank_ask_pin")
    assert bank.step("query").after == first_box
    assert bank.step("bank_inform_balance").after == (*first_box, "query")
    assert bank.step("bank_ask_mothers_maiden_name").after == first_box
    for sop in sops:
        assert sop.steps[0].id == "hello" and not sop.steps[0].mandatory
        assert sop_to_yaml(sop) == (tmp_path / f"{sop.sop_id}.yaml").read_text()
        assert all(s.when is None for s in sop.steps)  # outcomes are no gates


@pytest.mark.shared_data
def test_star_branches_attach_where_the_flowcharts_draw_them():
    sops = {s.sop_id: s for s in read_sops("star", [STAR_TASKS.parent])}  # the STAR root
    assert sorted(sops) == sorted(p.name for p in STAR_TASKS.iterdir())
    hotel = sops["hotel_book"]
    assert hotel.step("query_check").next == ("available", "unavailable")
    assert hotel.step("query_book").next == ("query_success", "query_failure")
    assert hotel.step("hotel_ask_confirm_booking").next == ("yes", "no")
    ride = sops["ride_book"]
    assert ride.step("query_check").next == ("query_success", "query_failure")
    assert ride.step("ride_ask_confirm_booking").next == ("yes", "no")
    search = sops["hotel_search"]
    assert [s.id for s in search.steps if s.mandatory] == [
        "query",
        "hotel_provide_search_result",
        "hotel_ask_search_more",
    ]
    for name, sop in sops.items():
        calls = {"query": "query", "query_check": "check", "query_book": "book"}
        queries = [s for s in sop.steps if s.id in calls]
        assert queries and all(s.action == f"{name}.{calls[s.id]}" for s in queries)


@pytest.mark.shared_data
def test_all_55_abcd_subflows_convert_and_match_the_committed_library(tmp_path):
    paths = import_sops("abcd", [ABCD / "kb.json", ABCD / "guidelines.json"], tmp_path)
    assert len(paths) == 55
    assert sorted(p.stem for p in paths) == sorted(json.loads((ABCD / "kb.json").read_text()))
    committed = Path(__file__).resolve().parents[2] / "data" / "sops" / "abcd"
    for path in paths:
        assert path.read_text() == (committed / path.name).read_text(), path.name
    recover = next(s for s in load_sops([tmp_path]) if s.sop_id == "recover_username")
    assert [(s.id, s.mandatory, s.action) for s in recover.steps if s.mandatory] == [
        ("pull-up-account", True, "pull-up-account"),
        ("verify-identity", True, "verify-identity"),
    ]
    assert recover.step("verify-identity").after == ("pull-up-account",)


@pytest.mark.shared_data
def test_abcd_ontology_is_optional_and_agrees():
    with_ontology = read_abcd_sops(
        ABCD / "guidelines.json", ABCD / "kb.json", ABCD / "ontology.json"
    )
    assert read_abcd_sops(ABCD / "guidelines.json", ABCD / "kb.json") == with_ontology
    money = {s.sop_id for s in with_ontology if s.risk.moves_money}
    assert {"refund_initiate", "manage_dispute_bill", "status_credit_missing"} <= money
    assert not {"recover_username", "boots", "manage_change_address"} & money


@pytest.mark.shared_data
def test_abcd_needs_guidelines_and_kb(tmp_path):
    with pytest.raises(InputError, match="needs guidelines.json"):
        read_sops("abcd", [ABCD / "kb.json"])


def test_unknown_format_and_missing_input(tmp_path):
    with pytest.raises(InputError, match="unknown SOP format"):
        read_sops("pdf", [tmp_path])
    with pytest.raises(InputError, match="no such STAR task"):
        read_sops("star", [tmp_path / "nope"])
