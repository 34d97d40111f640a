"""IETF vCon (``pipeline.ingest.adapters.vcon`` and ``vcon_bodies``).

The fixtures in ``tests/fixtures/platform/vcon/`` are the IETF examples and two
fake-vcons files, verbatim; variants (a diarized transcript, other vendor bodies, roles)
are built from them here, in ``tmp_path``.
"""

import base64
import copy
import gzip
import json
import socket

import orjson
import pytest
from ingest.adapters.vcon_cases import (
    DEEPGRAM,
    EMAIL,
    FAKE_CALL,
    FAKE_CHAT,
    RECORDING,
    REDACTED,
    VCON_DIR,
    chat,
    diarized_deepgram,
    frames,
    load,
    one,
    write,
)
from ingest.adapters_cases import ingest_file

from pipeline.ingest.adapters import registry, vcon
from pipeline.ingest.adapters.adapter import FileHead


@pytest.fixture
def vcon_format(monkeypatch):
    """Make ``vcon`` a format of ingest's registry (as it is once wired in)."""
    monkeypatch.setitem(registry._BY_NAME, "vcon", vcon.ADAPTER)


def test_every_fixture_loads_or_is_quarantined_with_its_reason(vcon_format):
    expected = {
        FAKE_CHAT.name: None,
        EMAIL.name: None,
        RECORDING.name: "no_transcript",
        DEEPGRAM.name: "undiarized_transcript",
        REDACTED.name: "undiarized_transcript",
        FAKE_CALL.name: "undiarized_transcript",
    }
    for path in sorted(VCON_DIR.glob("*.vcon*")):
        batch = ingest_file(path, fmt="vcon")
        reasons = batch.quarantine["reason"].to_list()
        assert reasons == ([] if expected[path.name] is None else [expected[path.name]]), path
        assert batch.n_records == 1
    recording = ingest_file(RECORDING, fmt="vcon").quarantine.row(0, named=True)
    assert recording["conversation_id"] == "019f155a-5131-80ec-b9a2-279e0d16bc46"
    assert recording["field"] == "dialog[0]"
    assert recording["message"].startswith("dialog[0]: recording without a transcript")
    assert "UklGR" not in recording["raw"]  # the inline audio is not kept


def test_fake_vcons_chat_maps_roles_ids_times_and_keeps_party_data_out():
    conversations, turns, rejects = frames(FAKE_CHAT)
    assert rejects.is_empty()
    row = conversations.row(0, named=True)
    assert row["conversation_id"] == "0195b780-5836-83e6-9dd8-dd37220d739c"
    assert row["channel"] == "chat"
    assert row["agent_id"] == "joe.perry@autoinsurancecompany.com"  # role agent
    assert row["customer_id"] == "+16366861771"  # role contact
    assert row["started_at"] == "2025-02-19T21:15:50+00:00"  # first dialog, not created_at
    assert row["ended_at"] == "2025-02-19T21:53:43+00:00"
    assert turns["speaker"].to_list() == ["agent", "customer"] * 4 + ["agent", "agent"]
    assert turns["text"][1] == "Hi, my name is Abigail Robinson."
    assert turns["ts"][1] == "2025-02-19T21:20:50+00:00"  # -05:00 in the file
    metadata = json.loads(row["metadata"])
    assert metadata == {
        "source_format": "vcon",
        "vcon_version": "0.0.1",
        "created_at": "2025-03-21T06:59:56.598303+00:00",
        "party_roles": ["agent", "contact"],
    }
    for secret in ("abigail.robinson@gmail.com", "joe.perry@", "+16366861771"):
        assert secret not in row["metadata"] and secret not in row["raw"]


def test_two_parties_without_roles_the_originator_is_the_customer():
    record = one(load(EMAIL))
    assert record["channel"] == "email"
    assert record["customer_id"] == "a@example.com"  # Alice sends the first message
    assert record["agent_id"] == "b@example.com"
    assert [t["speaker"] for t in record["turns"]] == ["customer", "agent", "customer"]
    # the quoted history of each reply is cut
    assert record["turns"][1]["text"] == "Hi Alice:\nAll is fine. Thanks."
    assert record["turns"][2]["text"] == "Awesome!"
    assert record["metadata"]["roles_inferred"].startswith("the originator of the first")
    assert record["metadata"]["subject"] == "Account issue followup"
    assert record["started_at"] == "2022-09-23T23:24:59+00:00"  # not created_at (2026)

    outbound = load(EMAIL)
    outbound["dialog"][0]["direction"] = "outbound"
    flipped = one(outbound)
    assert [t["speaker"] for t in flipped["turns"]] == ["agent", "customer", "agent"]
    assert flipped["agent_id"] == "a@example.com"
    assert flipped["metadata"]["roles_inferred"].startswith("outbound")

    half = load(EMAIL)
    half["parties"][1]["role"] = "customer"  # one role known: the other is the other one
    assert [t["speaker"] for t in one(half)["turns"]] == ["agent", "customer", "agent"]


def test_roles_from_cc_role_meta_role_and_type_and_unknown_roles(tmp_path):
    parties = [
        {"name": "C", "meta": {"role": "Customer"}},
        {"name": "A", "role": "agent"},
        {"name": "S", "role": "supervisor"},
        {"name": "V", "type": "Virtual Agent"},
    ]
    record = one(chat((0, "hi"), (3, "menu"), (1, "hello"), (2, "barging in"), parties=parties))
    assert [t["speaker"] for t in record["turns"]] == ["customer", "bot", "agent", "agent"]
    assert "role" not in record["turns"][2]
    assert record["turns"][3]["role"] == "supervisor"  # kept on the turn
    assert record["agent_id"] == "A" and record["customer_id"] == "C"
    assert record["metadata"]["party_roles"] == ["Customer", "agent", "supervisor", "Virtual Agent"]
    path = write(
        tmp_path, chat((0, "hi"), (3, "menu"), (1, "hello"), (2, "barging in"), parties=parties)
    )
    metadata = json.loads(frames(path)[0]["metadata"][0])
    assert metadata["turn_fields"] == {"3": {"role": "supervisor"}}  # where a turn's extras go

    parties[2] = {"name": "T", "role": "thirdparty"}
    problem = one(chat((0, "hi"), (2, "hello"), parties=parties))
    assert (problem.reason, problem.field) == ("unknown_speaker", "parties[2].role")
    assert "'thirdparty'" in problem.message
    parties[2] = {"name": "N"}
    problem = one(chat((0, "hi"), (2, "hello"), parties=parties))
    assert problem.field == "parties[2].role" and "no role" in problem.message
    assert one(chat((0, "hi"), (1, "hello"), parties=parties))["turns"]  # N never speaks


def test_text_body_encodings(tmp_path):
    doc = chat((0, "one"), (1, "two"), (0, "three"), (1, "<p>four &amp; <b>more</b></p>"))
    doc["dialog"][0]["encoding"] = "base64url"
    doc["dialog"][0]["body"] = (
        base64.urlsafe_b64encode(b"my card is [CREDIT_CARD]").decode().rstrip("=")
    )
    doc["dialog"][1]["encoding"] = "json"
    doc["dialog"][1]["body"] = json.dumps({"text": "two"})
    doc["dialog"][2]["mimetype"] = "text/plain"  # the 0.0.1 spelling
    doc["dialog"][3]["mediatype"] = "text/html"
    texts = [t["text"] for t in one(doc)["turns"]]
    assert texts[0] == "my card is <CARD>"
    assert texts[1:3] == ["two", "three"]
    assert texts[3].split() == ["four", "&", "more"]
    doc["dialog"][0]["body"] = "%%%"
    problem = one(doc)
    assert (problem.reason, problem.field) == ("bad_encoding", "dialog[0].body")


def test_a_vcon_without_uuid_gets_a_content_hash_id_and_files_may_hold_many(tmp_path):
    first, second = chat((0, "hi")), chat((1, "hello"), uuid=None)
    del first["uuid"]
    ids = {one(first)["conversation_id"], one(copy.deepcopy(first))["conversation_id"]}
    assert len(ids) == 1 and next(iter(ids)).startswith("vcon-")
    second["uuid"] = "u-2"
    array = tmp_path / "many.json"
    array.write_bytes(orjson.dumps([first, second]))
    conversations, _, _ = frames(array)
    assert conversations["locator"].to_list() == ["item 0", "item 1"]
    lines = tmp_path / "many.vcon.jsonl.gz"
    lines.write_bytes(
        gzip.compress(orjson.dumps(first) + b"\n{oops\n" + orjson.dumps(second) + b"\n")
    )
    conversations, _, rejects = frames(lines)
    assert conversations["locator"].to_list() == ["line 1", "line 3"]
    assert rejects.select("locator", "reason").rows() == [("line 2", "malformed_json")]
    bad_first = tmp_path / "bad-first.jsonl"
    bad_first.write_bytes(b"{oops\n" + orjson.dumps(first) + b"\n")
    conversations, _, rejects = frames(bad_first)
    assert conversations["locator"].to_list() == ["line 2"]
    assert rejects.select("locator", "reason").rows() == [("line 1", "malformed_json")]
    broken = tmp_path / "broken.vcon"
    broken.write_text('{\n  "parties": [\n')
    _, _, rejects = frames(broken)
    assert rejects.select("locator", "reason").rows() == [("document", "malformed_json")]


def test_nothing_is_fetched(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("the vCon reader opened a network connection")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    doc = load(DEEPGRAM)  # its dialog has a url; so does a text dialog here
    doc["dialog"].append({"type": "text", "url": "https://example.com/x.txt", "parties": [0]})
    doc["redacted"] = {"uuid": "x", "url": "https://example.com/original.vcon"}
    doc["analysis"] = []
    problem = one(doc)
    assert problem.reason == "no_transcript"
    doc["dialog"].append({"type": "text", "start": "2022-06-21T17:54:00Z", "parties": [1],
                          "body": "Hello?", "role": "x"})  # fmt: skip
    record = one(doc)
    assert record["metadata"]["untranscribed_dialogs"] == [0, 1]
    assert record["metadata"]["redacted"] == {"uuid": "x"}


def test_a_vcon_as_cxminer_export_vcon_writes_it_reads_back(vcon_format, tmp_path):
    """The shape of ``cxminer export-vcon``: cc roles, hashed ids as party uuid, one text
    dialog a turn with ``application`` (the channel), analyses of vendor cxminer with JSON
    bodies, the action events in an ``actions`` analysis."""
    doc = {
        "vcon": "0.4.0",
        "uuid": "0195b780-5836-83e6-9dd8-dd37220d7391",
        "created_at": "2026-03-01T10:00:00+00:00",
        "extensions": ["CC"],
        "parties": [{"role": "customer", "uuid": "9f2c"}, {"role": "agent", "uuid": "51aa"}],
        "dialog": [
            {"type": "text", "start": "2026-03-01T10:00:03Z", "parties": [0, 1],
             "mediatype": "text/plain", "encoding": "none", "body": "I was charged twice",
             "application": "voice", "interaction_id": "c-1001"},
            {"type": "text", "start": "2026-03-01T10:00:09Z", "parties": [1, 0],
             "mediatype": "text/plain", "encoding": "none", "body": "Sorry <NAME>, checking",
             "application": "voice", "interaction_id": "c-1001"},
        ],
        "analysis": [
            {"type": "intent", "vendor": "cxminer", "schema": "cxminer-intent/1",
             "encoding": "json", "body": {"run_id": "r1", "intent_id": "i-7"}},
            {"type": "actions", "vendor": "cxminer", "schema": "cxminer-actions/1",
             "encoding": "json", "body": {"run_id": "r1", "actions": [
                 {"turn_idx": 2, "after_dialog": 1, "party": 1, "action": "billing.lookup",
                  "args": {"n": 2}, "status": "failed", "start": "2026-03-01T10:00:10Z"},
                 {"turn_idx": 3, "after_dialog": 1, "party": 1, "action": "billing.refund",
                  "args": None, "status": "ok", "start": None},
                 {"turn_idx": 0, "after_dialog": None, "party": 1, "action": "crm.open",
                  "args": None, "status": None, "start": None},
             ]}},
        ],
    }  # fmt: skip
    batch = ingest_file(write(tmp_path, doc), fmt="vcon")
    assert batch.quarantine.is_empty()
    row = batch.conversations.row(0, named=True)
    assert row["conversation_id"] == "c-1001" and row["channel"] == "voice"  # interaction_id
    assert row["customer_hash"] and row["customer_hash"] != "9f2c"  # hashed again by ingest
    turns = batch.turns.sort("turn_idx")
    assert turns.select("speaker", "event_type", "action_name", "action_status").rows() == [
        ("agent", "action", "crm.open", None),
        ("customer", "utterance", None, None),
        ("agent", "utterance", None, None),
        ("agent", "action", "billing.lookup", "failed"),
        ("agent", "action", "billing.refund", "ok"),
    ]
    assert turns["text"][2] == "Sorry <NAME>, checking"
    metadata = json.loads(row["metadata"])
    assert metadata["analysis"] == [
        {"type": "intent", "provider": "cxminer"},
        {"type": "actions", "provider": "cxminer"},
    ]
    assert metadata["extensions"] == ["CC"]
    assert list(metadata["cc"][0]) == ["interaction_id"]  # its value is redacted as an id


def test_bad_structures_are_quarantined_not_raised(tmp_path):
    assert one([1]).reason == "bad_type"
    assert one({"parties": {}, "dialog": []}).field == "parties"
    assert one({"parties": [], "dialog": ["x"]}).field == "dialog[0]"
    doc = chat((0, "hi"))
    doc["dialog"][0]["originator"] = 5
    problem = one(doc)
    assert (problem.reason, problem.field) == ("bad_type", "dialog[0].originator")
    doc = diarized_deepgram()
    doc["dialog"][0]["parties"] = [0]  # speaker 1 has no party
    doc["parties"][0]["role"] = "customer"
    assert one(doc).reason == "unknown_speaker"
    _, _, rejects = frames(write(tmp_path, {"parties": [], "dialog": []}))
    assert rejects["reason"].to_list() == []  # no dialog: validation says empty_turns


def test_detection(tmp_path):
    def detected(name, content):
        path = tmp_path / name
        path.write_bytes(content)
        return vcon.detect(FileHead(path))

    for path in VCON_DIR.glob("*.vcon*"):
        assert vcon.detect(FileHead(path)), path
    pretty = EMAIL.read_bytes()
    assert detected("thread.json", pretty)  # pretty-printed, by its keys
    assert detected("export.jsonl", FAKE_CHAT.read_bytes())  # a vCon as the first line
    assert detected("list.json", orjson.dumps([load(FAKE_CHAT)]))
    canonical = {"conversation_id": "c", "parties": [], "dialog": [], "turns": []}
    assert not detected("c.jsonl", orjson.dumps(canonical) + b"\n")
    assert not detected("notes.json", b'{\n "parties": 3\n}')
    for adapter in registry.ADAPTERS:  # no other format claims a vCon file
        if adapter.detect is not None and adapter.name != "vcon":
            assert not any(adapter.detect(FileHead(p)) for p in VCON_DIR.glob("*.vcon*"))


def test_quarantined_raw_has_no_party_identifiers_or_media(vcon_format):
    batch = ingest_file(DEEPGRAM, fmt="vcon")
    raw = batch.quarantine["raw"][0]
    assert raw.startswith('{"parties":[{},{}],"dialog":[{"type":"recording"')
    assert "Alice" not in raw and "12345678901" not in raw and len(raw) <= 4000


def test_loaded_conversations_pass_validation_and_redaction(vcon_format, tmp_path):
    batch = ingest_file(write(tmp_path, diarized_deepgram()), fmt="vcon")
    assert batch.quarantine.is_empty() and batch.conversations.height == 1
    said = " ".join(batch.turns["text"].to_list())
    assert "1234567890" not in said  # a phone number said in the call is redacted by ingest


def test_the_contact_centres_interaction_id_is_the_conversation_id_when_one():
    from pipeline.ingest.adapters.vcon_parties import conversation_id_of

    doc = {"uuid": "u-1", "dialog": [{"interaction_id": "c-7"}, {"interaction_id": "c-7"}, {}]}
    assert conversation_id_of(doc) == "c-7"
    doc["dialog"][2]["interaction_id"] = "c-8"  # two contacts in one vCon: the vCon's own id
    assert conversation_id_of(doc) == "u-1"
