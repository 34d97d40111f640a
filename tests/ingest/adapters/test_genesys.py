"""Genesys Cloud transcripts (``pipeline.ingest.adapters.genesys``).

The fixtures in ``tests/fixtures/platform/genesys/`` are hand-written from the documented
shape, not real output: the speech-and-text-analytics transcript schema behind
``GET /api/v2/speechandtextanalytics/conversations/{id}/communications/{id}/transcripturl``
(``participants[]`` with ``participantPurpose``, ``transcripts[].phrases[]`` with
``text``, ``participantPurpose``, ``startTimeMs``, ``duration.milliseconds``,
``confidence``). Malformed variants are built from them here, in ``tmp_path``.
"""

import gzip
import json

import orjson
import pytest
from ingest.adapters.test_ccai import OTHER_FORMATS
from ingest.adapters_cases import FIXTURES, ingest_file, read_all

from pipeline.ingest.adapters import registry
from pipeline.ingest.adapters.adapter import FileHead
from pipeline.ingest.adapters.genesys import (
    ADAPTER,
    DocumentProblem,
    read_genesys,
    transcript_to_record,
)

GENESYS_DIR = FIXTURES / "platform" / "genesys"
CALL = GENESYS_DIR / "call_ivr_agent.json"
CHAT = GENESYS_DIR / "chat_agent.json"
CALL_ID = "5e8a1c3d-7b9f-4d2e-8a6c-1f2e3d4c5b6a:9d7c6b5a-4e3f-4a1b-8c2d-0e1f2a3b4c5d"
CHAT_ID = "a2b3c4d5-e6f7-4a8b-9c0d-1e2f3a4b5c6d:c6d5e4f3-a2b1-4c0d-9e8f-7a6b5c4d3e2f"
AGENT = "6f1c2b7e-9a8d-4e3f-b2c1-0a9b8c7d6e5f"
CALLER = "tel:+13125550147"


def load(path):
    return json.loads(path.read_text())


def write(tmp_path, doc, name="x.json"):
    path = tmp_path / name
    path.write_bytes(doc if isinstance(doc, bytes) else orjson.dumps(doc))
    return path


def frames(path):
    return read_all(read_genesys(path))


def phrases(doc):
    return [p for t in doc["transcripts"] for p in t["phrases"]]


@pytest.fixture
def genesys_format(monkeypatch):
    """Make ``genesys`` a format of ingest's registry (as it is once wired in)."""
    monkeypatch.setitem(registry._BY_NAME, "genesys", ADAPTER)


@pytest.mark.parametrize(
    ("path", "conversation_id", "speakers"),
    [
        # IVR prompts while only the IVR was connected, the queue's announcement while
        # the call waited in ACD, then the agent: all "internal" phrases
        (CALL, CALL_ID, ["bot", "customer", "bot", "system", "agent", "customer", "agent",
                         "customer", "agent"]),
        (CHAT, CHAT_ID, ["customer", "agent", "customer", "agent"]),
    ],
)  # fmt: skip
def test_each_fixture_is_one_conversation_with_its_phrases_in_order(
    path, conversation_id, speakers
):
    conversations, turns, rejects = frames(path)
    assert rejects.is_empty()
    assert conversations.select("conversation_id", "locator").rows() == [
        (conversation_id, "document")
    ]
    turns = turns.sort("turn_idx")
    assert turns["speaker"].to_list() == speakers
    expected = [p["text"] for p in phrases(load(path))]
    assert [t for t in turns["text"] if "<" not in t] == [t for t in expected if "[" not in t]
    assert len(turns) == len(expected)


def test_the_platform_marker_becomes_a_placeholder():
    texts = frames(CALL)[1]["text"].to_list()
    assert texts[5] == "yes it's <PII>"
    assert not any("[" in t for t in texts)


def test_phrase_times_are_epoch_milliseconds():
    conversations, turns, _ = frames(CALL)
    assert turns["ts"].to_list()[:5] == [
        "2024-05-07T10:21:01+00:00",
        "2024-05-07T10:21:07.500000+00:00",
        "2024-05-07T10:21:12+00:00",
        "2024-05-07T10:21:30+00:00",
        "2024-05-07T10:22:00+00:00",
    ]
    assert conversations.select("started_at", "ended_at").row(0) == (
        "2024-05-07T10:21:00+00:00",
        "2024-05-07T10:24:12+00:00",  # + duration 192000 ms
    )


def test_phrases_of_several_transcripts_are_merged_in_time_order():
    doc = load(CHAT)
    first, second = doc["transcripts"][0]["phrases"][:2], doc["transcripts"][0]["phrases"][2:]
    doc["transcripts"] = [{"phrases": second}, {"phrases": first}]
    record = transcript_to_record(doc, "x")
    assert [t["text"] for t in record["turns"]] == [p["text"] for p in first + second]


def test_a_phrase_without_a_time_is_placed_by_its_offset():
    doc = load(CALL)
    phrase = doc["transcripts"][0]["phrases"][4]
    del phrase["startTimeMs"]  # offset 60000 ms after startTime
    record = transcript_to_record(doc, "x")
    assert record["turns"][4]["ts"] == "2024-05-07T10:22:00+00:00"
    assert record["turns"][4]["speaker"] == "agent"


def test_ids_of_people_go_to_the_id_fields_only():
    call, _, _ = frames(CALL)
    assert call.select("agent_id", "customer_id", "channel").row(0) == (AGENT, CALLER, "voice")
    assert call["queue"][0] == "7f6e5d4c-3b2a-4190-8f7e-6d5c4b3a2918"  # the ACD queue
    assert call["team"][0] == "4a5b6c7d-8e9f-4a0b-9c1d-2e3f4a5b6c7d"
    chat, _, _ = frames(CHAT)
    assert chat.select("customer_id", "channel").row(0) == ("webchat-guest-5d21", "chat")
    for conversations in (call, chat):
        for value in (AGENT, CALLER, "8005550100", "webchat-guest-5d21"):
            assert value not in conversations["metadata"][0]


def test_an_outbound_call_takes_the_dialled_number_as_the_customer():
    doc = load(CALL)
    doc["participants"][0]["initialDirection"] = "outbound"
    assert transcript_to_record(doc, "x")["customer_id"] == "tel:+18005550100"


def test_metadata_keeps_what_the_platform_knew():
    meta = json.loads(frames(CALL)[0]["metadata"][0])
    assert meta == {
        "platform": "genesys_cloud",
        "media_type": "call",
        "duration_s": 192.0,
        "languages": ["en-us"],
        "participant_purposes": ["customer", "ivr", "acd", "agent"],
        "topics": ["Card Declined", "Fraud Hold"],
        "sentiment": {"external": 0.1},
        "confidence": {"mean": 0.91, "min": 0.72, "n": 9},
        "n_agents": 1,
    }


@pytest.mark.parametrize(
    ("purpose", "speaker"),
    [("External", "customer"), ("customer", "customer"), ("agent", "agent"),
     ("user", "agent"), ("ivr", "bot"), ("botflow", "bot"), ("acd", "system")],
)  # fmt: skip
def test_explicit_purposes_map_to_speakers(purpose, speaker):
    doc = load(CHAT)
    doc["transcripts"][0]["phrases"][0]["participantPurpose"] = purpose
    assert transcript_to_record(doc, "x")["turns"][0]["speaker"] == speaker


def test_an_internal_phrase_without_participant_times_is_the_agent():
    doc = load(CALL)
    for participant in doc["participants"]:
        participant.pop("startTimeMs")
    speakers = [t["speaker"] for t in transcript_to_record(doc, "x")["turns"]]
    assert set(speakers) == {"agent", "customer"}


@pytest.mark.parametrize("path", [CALL, CHAT], ids=lambda p: p.name)
def test_detection_claims_each_fixture_plain_and_gzipped(tmp_path, path):
    assert ADAPTER.detect(FileHead(path))
    packed = write(tmp_path, gzip.compress(path.read_bytes()), name=f"{path.name}.gz")
    assert ADAPTER.detect(FileHead(packed))
    for other in (a for a in registry.ADAPTERS if a.name != "genesys"):  # no other claims it
        assert other.detect is None or not other.detect(FileHead(path)), other.name


def test_detection_of_a_document_larger_than_the_sniffed_start(tmp_path):
    doc = load(CALL)
    phrase = doc["transcripts"][0]["phrases"][0]
    phrase["words"] = [{"word": "w" * 20, "confidence": 0.9} for _ in range(4000)]
    path = write(tmp_path, json.dumps(doc, indent=2).encode())
    assert path.stat().st_size > 200_000
    assert ADAPTER.detect(FileHead(path))


OTHER_FILES = sorted(
    p
    for p in (*FIXTURES.glob("*"), *FIXTURES.glob("platform/*/*"))
    if p.is_file() and p.parent != GENESYS_DIR
)


@pytest.mark.parametrize("path", OTHER_FILES, ids=lambda p: p.name)
def test_detection_claims_no_other_fixture(path):
    assert not ADAPTER.detect(FileHead(path))


@pytest.mark.parametrize("kind", OTHER_FORMATS)
def test_detection_claims_no_other_format(tmp_path, kind):
    doc = OTHER_FORMATS[kind]
    assert not ADAPTER.detect(FileHead(write(tmp_path, doc)))
    assert not ADAPTER.detect(FileHead(write(tmp_path, json.dumps(doc, indent=2).encode())))


def _set(path, value):
    doc = load(CALL)
    *keys, last = path
    target = doc
    for key in keys:
        target = target[key]
    target[last] = value
    return doc


PHRASE = ("transcripts", 0, "phrases")
BAD_DOCUMENTS = [
    (_set(("transcripts",), {"phrases": []}), "transcripts", "bad_type"),
    (_set(("transcripts", 0), "text"), "transcripts[0]", "bad_type"),
    (_set(PHRASE, "hello"), "transcripts[0].phrases", "bad_type"),
    (_set(("participants",), "customer"), "participants", "bad_type"),
    (_set((*PHRASE, 1, "text"), ["my", "card"]), "transcripts[0].phrases[1].text", "bad_type"),
    (_set((*PHRASE, 2, "startTimeMs"), "noon"),
     "transcripts[0].phrases[2].startTimeMs", "bad_timestamp"),
    (_set(("startTime",), "2024-05-07"), "startTime", "bad_timestamp"),
    (_set((*PHRASE, 3, "participantPurpose"), "dialer"),
     "transcripts[0].phrases[3].participantPurpose", "unknown_speaker"),
    (_set((*PHRASE, 0, "participantPurpose"), None),
     "transcripts[0].phrases[0].participantPurpose", "unknown_speaker"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "field", "reason"), BAD_DOCUMENTS)
def test_a_document_that_cannot_be_read_is_a_reject_naming_the_field(tmp_path, doc, field, reason):
    conversations, turns, rejects = frames(write(tmp_path, doc))
    assert conversations.is_empty() and turns.is_empty()
    assert rejects.select("locator", "field", "reason").rows() == [("document", field, reason)]
    assert "\n" not in rejects["message"][0]
    for value in (AGENT, CALLER, "8005550100"):  # people's ids and numbers are masked
        assert value not in rejects["raw"][0]


def test_unknown_purpose_message_names_the_purpose_and_the_choices():
    with pytest.raises(DocumentProblem) as problem:
        transcript_to_record(_set((*PHRASE, 3, "participantPurpose"), "dialer"), "x")
    assert str(problem.value).startswith('unknown purpose "dialer"; expected one of customer/')


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (CALL.read_bytes()[:500], "malformed_json"),  # truncated
        (b"[]", "bad_type"),
        (CALL.read_bytes().replace(b"store", b"st\xf6re"), "bad_encoding"),
        (gzip.compress(CALL.read_bytes())[:300], "truncated_gzip"),
    ],
)
def test_an_unreadable_file_is_one_reject(tmp_path, data, reason):
    conversations, _, rejects = frames(write(tmp_path, data))
    assert conversations.is_empty()
    assert rejects.select("locator", "reason").rows() == [("document", reason)]
    assert CALLER not in rejects["raw"][0]


def test_empty_phrases_are_dropped_and_counted():
    doc = _set((*PHRASE, 7, "text"), "")
    record = transcript_to_record(doc, "x")
    assert len(record["turns"]) == 8
    assert record["metadata"]["empty_phrases"] == 1


def test_a_document_without_a_conversation_id_takes_the_file_stem(tmp_path):
    doc = load(CHAT)
    del doc["conversationId"]
    conversations, _, _ = frames(write(tmp_path, doc, name="chat-17.json"))
    assert conversations["conversation_id"].to_list() == ["chat-17"]


def test_fixtures_load_through_ingest_with_nothing_quarantined(genesys_format):
    for path, n_turns in ((CALL, 9), (CHAT, 4)):
        batch = ingest_file(path, fmt="genesys")
        assert batch.quarantine.is_empty(), batch.quarantine.to_dicts()
        assert batch.conversations["n_turns"].to_list() == [batch.turns.height] == [n_turns]
        conv = batch.conversations.row(0, named=True)
        assert conv["agent_hash"] and conv["customer_hash"]
        assert CALLER not in str(conv) and AGENT not in str(conv)
    turns = ingest_file(CALL, fmt="genesys").turns
    assert turns["speaker"].to_list()[:4] == ["bot", "customer", "bot", "system"]
    assert turns["text"][5] == "yes it's <PII>"


@pytest.mark.parametrize(
    "doc", [_set(("transcripts",), []), _set((*PHRASE,), [])], ids=["transcripts", "phrases"]
)
def test_an_empty_transcript_is_quarantined(tmp_path, genesys_format, doc):
    batch = ingest_file(write(tmp_path, doc), fmt="genesys")
    assert batch.conversations.is_empty()
    assert batch.quarantine.select("field", "reason").rows() == [("turns", "empty_turns")]
    assert CALLER not in batch.quarantine["raw"][0]


def test_a_byte_order_mark_is_read_past(tmp_path):
    path = write(tmp_path, b"\xef\xbb\xbf" + CHAT.read_bytes())
    assert ADAPTER.detect(FileHead(path))
    assert frames(path)[0]["conversation_id"].to_list() == [CHAT_ID]
