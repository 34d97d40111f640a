"""Conversations and results as vCon documents (``pipeline.export.vcon``)."""

import json
import uuid

import pytest
from conftest import SHARED_DATA
from export.vcon_cases import C1_VCON, T0, frames
from polars.testing import assert_frame_equal

from pipeline.errors import SchemaError
from pipeline.export.vcon import ANALYSIS_SCHEMAS, build_vcons, dump_vcon, vcon_uuid


def test_a_conversation_becomes_one_vcon_with_its_turns_parties_and_results():
    vcons = build_vcons(**frames())
    assert [v["dialog"][0]["interaction_id"] for v in vcons] == ["c1", "c2"]  # c9 left out
    assert vcons[0] == {**C1_VCON, "uuid": vcon_uuid("c1")}


def test_a_conversation_without_ids_times_or_results_has_text_dialog_only():
    c2 = build_vcons(**frames())[1]
    assert c2 == {
        "vcon": "0.4.0",
        "uuid": vcon_uuid("c2"),
        "created_at": "2026-03-02T10:00:00Z",  # when it was ingested
        "extensions": ["CC"],
        "parties": [{"role": "customer"}, {"role": "bot"}],
        "dialog": [
            {"type": "text", "parties": [1, 0], "mediatype": "text/plain", "encoding": "none",
             "body": "Hi", "interaction_id": "c2"},
            {"type": "text", "parties": [0, 1], "mediatype": "text/plain", "encoding": "none",
             "body": "hello", "interaction_id": "c2"},
        ],
        "analysis": [],
    }  # fmt: skip


def test_created_at_is_the_ingest_time_when_the_start_is_unknown():
    given = frames()
    given["conversations"] = given["conversations"].with_columns(
        started_at=given["conversations"]["started_at"].clear(2)
    )
    c1 = build_vcons(**given)[0]
    assert c1["created_at"] == "2026-03-02T09:00:00Z"
    assert [d.get("start") for d in c1["dialog"]] == [
        "2026-03-02T08:00:10Z",
        None,
        "2026-03-02T08:00:40Z",
    ]  # a turn's own time or none: never the conversation's, never made up


def test_parties_carry_the_stored_hashes_and_roles_only():
    for vcon in build_vcons(**frames()):
        for party in vcon["parties"]:
            assert set(party) <= {"role", "uuid"}
    assert [p.get("uuid") for p in build_vcons(**frames())[0]["parties"]] == ["hc1", "ha1"]


def test_action_events_are_an_analysis_never_dialog_text():
    c1 = build_vcons(**frames())[0]
    assert [d["body"] for d in c1["dialog"]] == [
        "Hello, how can I help?", "I was charged twice, mail <EMAIL>", "I refunded one charge"
    ]  # fmt: skip
    assert [a["type"] for a in c1["analysis"]] == list(ANALYSIS_SCHEMAS)


@pytest.mark.parametrize("conversation_id", ["c1", "s7-000001", "ü/∅ 1", ""])
def test_the_uuid_is_a_stable_version_8_uuid_of_the_id(conversation_id):
    value = uuid.UUID(vcon_uuid(conversation_id))
    assert value.version == 8 and value.variant == uuid.RFC_4122
    assert vcon_uuid(conversation_id) == str(value)
    assert vcon_uuid(conversation_id) != vcon_uuid(conversation_id + "x")


def test_every_analysis_body_is_a_json_object_that_survives_serialisation():
    for vcon in build_vcons(**frames()):
        data = dump_vcon(vcon)
        assert json.loads(data) == vcon
        for entry in vcon["analysis"]:
            assert entry["vendor"] == "cxminer" and entry["encoding"] == "json"
            assert entry["schema"] == ANALYSIS_SCHEMAS[entry["type"]]
            assert isinstance(entry["body"], dict) and entry["body"]["run_id"]
            assert json.loads(json.dumps(entry["body"], allow_nan=False)) == entry["body"]


def test_the_same_input_gives_the_same_bytes():
    first = [dump_vcon(v) for v in build_vcons(**frames())]
    again = [dump_vcon(v) for v in build_vcons(**frames())]
    assert first == again
    assert all(data.endswith(b"}\n") for data in first)


def test_build_vcons_does_not_modify_its_inputs():
    given = frames()
    build_vcons(**given)
    for name, frame in frames().items():
        assert_frame_equal(given[name], frame)


def test_a_frame_without_a_needed_column_is_a_schema_error():
    given = frames()
    given["turns"] = given["turns"].drop("speaker")
    with pytest.raises(SchemaError, match=r"turns: missing column\(s\) speaker; expected"):
        build_vcons(**given)


def test_empty_result_tables_give_vcons_without_analysis():
    given = {name: frame.head(0) if name != "conversations" and name != "turns" else frame
             for name, frame in frames().items()}  # fmt: skip
    c1 = build_vcons(**given)[0]
    assert [a["type"] for a in c1["analysis"]] == ["actions"]  # from the turns themselves
    assert len(c1["dialog"]) == 3


@pytest.mark.shared_data
@pytest.mark.parametrize("name", ["vcon_json_schema.json", "vcon_cc_extension_schema.json"])
def test_the_documents_keep_the_informational_vcon_schemas(name):
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads((SHARED_DATA / "platform-formats" / "schemas" / name).read_text())
    validator = jsonschema.Draft7Validator(schema, format_checker=jsonschema.FormatChecker())
    given = frames()
    given["turns"] = given["turns"].with_columns(ts=given["turns"]["ts"].fill_null(T0))
    for vcon in build_vcons(**given):
        assert [error.message for error in validator.iter_errors(vcon)] == []
    # where a turn has no time, its missing `start` is the only departure
    errors = [e.message for v in build_vcons(**frames()) for e in validator.iter_errors(v)]
    assert errors == ["'start' is a required property"] * (3 if "cc" not in name else 0)
