"""Google CCAI Insights conversations (``pipeline.ingest.adapters.ccai``).

The fixtures in ``tests/fixtures/platform/ccai/`` are hand-written from the documented
shape, not real output: the upload form from Google's "conversation data format" page
(``entries`` of ``text``, ``role``, ``user_id``, ``start_timestamp_usec``), the API form
from the v1 ``Conversation`` resource reference (``transcript.transcriptSegments``,
``segmentParticipant``, ``words``, ``messageTime``, ``qualityMetadata``). Malformed
variants are built from them here, in ``tmp_path``.
"""

import copy
import gzip
import json

import orjson
import pytest
from ingest.adapters_cases import FIXTURES, ingest_file, read_all

from pipeline.ingest.adapters import registry
from pipeline.ingest.adapters.adapter import FileHead
from pipeline.ingest.adapters.ccai import ADAPTER, conversation_to_record, read_ccai
from pipeline.ingest.adapters.documents import DocumentProblem

CCAI_DIR = FIXTURES / "platform" / "ccai"
UPLOAD = CCAI_DIR / "upload_billing.json"
VIRTUAL = CCAI_DIR / "upload_virtual_agent.json"
API = CCAI_DIR / "api_conversation.json"
# Documents of the other formats, in their documented shapes: none is a CCAI file.
OTHER_FORMATS = {
    "canonical": {"conversation_id": "c1", "turns": [{"speaker": "agent", "text": "hi"}]},
    "star": {"DialogueID": 1, "Events": []},
    "abcd": [{"convo_id": 1, "original": [["agent", "hi"]]}],
    "transcribe": {"jobName": "j1", "results": {"transcripts": [{"transcript": "hi"}]}},
    "contact_lens": {
        "Channel": "VOICE",
        "Participants": [{"ParticipantId": "A", "ParticipantRole": "AGENT"}],
        "Transcript": [{"ParticipantId": "A", "Content": "hi", "BeginOffsetMillis": 0}],
    },
    "aws_pca": {"ConversationAnalytics": {"Agent": "a"}, "SpeechSegments": []},
    "vcon": {"vcon": "0.0.2", "uuid": "u1", "parties": [], "dialog": []},
}


def load(path):
    return json.loads(path.read_text())


def write(tmp_path, doc, name="x.json"):
    path = tmp_path / name
    path.write_bytes(doc if isinstance(doc, bytes) else orjson.dumps(doc))
    return path


def frames(path):
    return read_all(read_ccai(path))


@pytest.fixture
def ccai_format(monkeypatch):
    """Make ``ccai`` a format of ingest's registry (as it is once wired in)."""
    monkeypatch.setitem(registry._BY_NAME, "ccai", ADAPTER)


@pytest.mark.parametrize(
    ("path", "conversation_id", "speakers"),
    [
        (UPLOAD, "upload_billing", ["customer", "agent"] * 3),
        (VIRTUAL, "upload_virtual_agent", ["bot", "customer", "bot", "agent", "customer", "agent"]),
        (API, "8812004417", ["agent", "customer"] * 3),
    ],
)
def test_each_fixture_is_one_conversation_with_its_turns_in_file_order(
    path, conversation_id, speakers
):
    conversations, turns, rejects = frames(path)
    assert rejects.is_empty()
    assert conversations.select("conversation_id", "locator").rows() == [
        (conversation_id, "document")
    ]
    assert turns.sort("turn_idx")["speaker"].to_list() == speakers
    doc = load(path)
    items = doc["entries"] if "entries" in doc else doc["transcript"]["transcriptSegments"]
    texts = turns.sort("turn_idx")["text"].to_list()
    assert len(texts) == len(items)
    for text, item in zip(texts, items, strict=True):  # a marker is the only change
        if "[" not in item["text"]:
            assert text == item["text"]


def test_platform_markers_become_placeholders_and_nothing_is_put_back():
    texts = {p.name: frames(p)[1]["text"].to_list() for p in (UPLOAD, API)}
    assert texts["upload_billing.json"][2] == "Sure, it's <NAME>."
    assert texts["api_conversation.json"][3] == "it's <PHONE>"
    assert not any("[" in t for ts in texts.values() for t in ts)


def test_upload_form_times_are_microseconds_since_the_epoch():
    conversations, turns, _ = frames(UPLOAD)
    assert turns["ts"].to_list() == [
        "2024-05-02T09:15:02+00:00",
        "2024-05-02T09:15:09.500000+00:00",
        "2024-05-02T09:15:15+00:00",
        "2024-05-02T09:15:21.250000+00:00",
        "2024-05-02T09:15:30+00:00",
        "2024-05-02T09:15:33+00:00",
    ]
    # no conversation-level times: validation takes the first and last turn's
    assert conversations.select("started_at", "ended_at").row(0) == (None, None)


def test_api_form_times_are_message_times_or_start_plus_word_offsets():
    conversations, turns, _ = frames(API)
    assert turns["ts"].to_list() == [
        "2024-05-06T13:02:00.400000+00:00",  # startTime + first word's 0.400s
        "2024-05-06T13:02:04.100000+00:00",
        "2024-05-06T13:02:08+00:00",
        "2024-05-06T13:02:11.200000+00:00",
        "2024-05-06T13:02:15.500000+00:00",  # its messageTime
        "2024-05-06T13:02:21+00:00",
    ]
    assert conversations.select("started_at", "ended_at").row(0) == (
        "2024-05-06T13:02:00+00:00",
        "2024-05-06T13:02:24.800000+00:00",  # + duration "24.800s"
    )


def test_people_ids_go_to_the_id_fields_only():
    upload, _, _ = frames(UPLOAD)
    assert upload.select("agent_id", "customer_id").row(0) == ("2215", "90417")
    virtual, _, _ = frames(VIRTUAL)  # the virtual agent's user_id is no agent's
    assert virtual.select("agent_id", "customer_id").row(0) == ("3307", "5521")
    api, _, _ = frames(API)
    assert api.select("agent_id", "customer_id", "team", "channel").row(0) == (
        "agent-1043",
        "c7f3a9e1",
        "north-2",
        "voice",
    )
    for conversations in (upload, virtual, api):
        metadata = conversations["metadata"][0]
        for value in ("2215", "90417", "3307", "5521", "agent-1043", "c7f3a9e1", "Dana Ruiz"):
            assert value not in metadata
    assert "Dana Ruiz" not in api["raw"][0]  # an agent's display name is not kept at all


def test_metadata_keeps_what_the_platform_knew():
    upload = json.loads(frames(UPLOAD)[0]["metadata"][0])
    assert upload == {
        "platform": "ccai_insights",
        "form": "upload",
        "categories": ["Billing", "Duplicate charge"],
        "n_agents": 1,
    }
    api = json.loads(frames(API)[0]["metadata"][0])
    assert api["language"] == "en-US"
    assert api["labels"] == {"queue": "billing", "region": "emea"}
    assert (api["medium"], api["duration_s"], api["turn_count"]) == ("PHONE_CALL", 24.8, 6)
    assert api["quality"] == {
        "customer_satisfaction_rating": 4,
        "wait_duration_s": 35.0,
        "menu_path": "billing/disputes",
        "disposition_codes": ["REFUND_ISSUED"],
    }
    assert api["confidence"] == {"mean": 0.9, "min": 0.81, "n": 6}
    assert "conversation_name" not in api  # the path is the id; redaction would mangle it
    assert api["sentiment"] == {"agent": 0.3, "customer": -0.05}


@pytest.mark.parametrize("path", [UPLOAD, VIRTUAL, API], ids=lambda p: p.name)
def test_detection_claims_each_fixture_plain_and_gzipped(tmp_path, path):
    assert ADAPTER.detect(FileHead(path))
    packed = write(tmp_path, gzip.compress(path.read_bytes()), name=f"{path.name}.gz")
    assert ADAPTER.detect(FileHead(packed))
    for other in (a for a in registry.ADAPTERS if a.name != "ccai"):  # no other claims it
        assert other.detect is None or not other.detect(FileHead(path)), other.name


def test_detection_of_a_document_larger_than_the_sniffed_start(tmp_path):
    doc = load(API)
    words = [{"startOffset": f"{i}s", "word": "w" * 20, "confidence": 0.9} for i in range(4000)]
    doc["transcript"]["transcriptSegments"][0]["words"] = words
    path = write(tmp_path, json.dumps(doc, indent=2).encode())
    assert path.stat().st_size > 200_000
    assert ADAPTER.detect(FileHead(path))


OTHER_FILES = sorted(
    p
    for p in (*FIXTURES.glob("*"), *FIXTURES.glob("platform/*/*"))
    if p.is_file() and p.parent != CCAI_DIR
)


@pytest.mark.parametrize("path", OTHER_FILES, ids=lambda p: p.name)
def test_detection_claims_no_other_fixture(path):
    assert not ADAPTER.detect(FileHead(path))


@pytest.mark.parametrize("kind", OTHER_FORMATS)
def test_detection_claims_no_other_format(tmp_path, kind):
    doc = OTHER_FORMATS[kind]
    assert not ADAPTER.detect(FileHead(write(tmp_path, doc)))
    assert not ADAPTER.detect(FileHead(write(tmp_path, json.dumps(doc, indent=2).encode())))


def test_an_empty_upload_with_conversation_info_is_still_claimed(tmp_path):
    assert ADAPTER.detect(FileHead(write(tmp_path, {"conversation_info": {}, "entries": []})))
    assert not ADAPTER.detect(FileHead(write(tmp_path, {"entries": []})))


def _upload():
    return load(UPLOAD)


def _api():
    return load(API)


def _set(doc, path, value):
    *keys, last = path
    target = doc
    for key in keys:
        target = target[key]
    target[last] = value
    return doc


SEGMENTS = ("transcript", "transcriptSegments")
BAD_DOCUMENTS = [
    (_set(_upload(), ("entries",), {"a": 1}), "entries", "bad_type"),
    (_set(_upload(), ("entries", 2), "hello"), "entries[2]", "bad_type"),
    (_set(_upload(), ("entries", 1, "text"), 42), "entries[1].text", "bad_type"),
    (_set(_upload(), ("entries", 1, "role"), "SUPERVISOR"), "entries[1].role", "unknown_speaker"),
    (_set(_upload(), ("entries", 3, "role"), None), "entries[3].role", "unknown_speaker"),
    (_set(_upload(), ("entries", 0, "start_timestamp_usec"), "soon"),
     "entries[0].start_timestamp_usec", "bad_timestamp"),
    (_set(_api(), ("startTime",), "yesterday"), "startTime", "bad_timestamp"),
    (_set(_api(), ("transcript",), ["a"]), "transcript", "bad_type"),
    (_set(_api(), SEGMENTS, {"text": "hi"}), "transcript.transcriptSegments", "bad_type"),
    (_set(_api(), (*SEGMENTS, 4, "messageTime"), 17),
     "transcript.transcriptSegments[4].messageTime", "bad_timestamp"),
    (_set(_api(), (*SEGMENTS, 1, "segmentParticipant", "role"), "SUPERVISOR"),
     "transcript.transcriptSegments[1].segmentParticipant.role", "unknown_speaker"),
    (_set(_api(), ("callMetadata",), {}),  # a segment with no role and no channel map
     "transcript.transcriptSegments[2].segmentParticipant.role", "unknown_speaker"),
]  # fmt: skip


@pytest.mark.parametrize(("doc", "field", "reason"), BAD_DOCUMENTS)
def test_a_document_that_cannot_be_read_is_a_reject_naming_the_field(tmp_path, doc, field, reason):
    conversations, turns, rejects = frames(write(tmp_path, doc))
    assert conversations.is_empty() and turns.is_empty()
    assert rejects.select("locator", "field", "reason").rows() == [("document", field, reason)]
    assert "\n" not in rejects["message"][0]
    for value in ("90417", "2215", "agent-1043", "c7f3a9e1"):  # people's ids are masked
        assert value not in rejects["raw"][0]


def test_unknown_role_message_names_the_role_and_the_choices():
    doc = _set(_upload(), ("entries", 1, "role"), "SUPERVISOR")
    with pytest.raises(DocumentProblem) as problem:
        conversation_to_record(doc, "x")
    assert str(problem.value) == (
        'unknown role "SUPERVISOR"; expected one of '
        "AGENT/HUMAN_AGENT/ANY_AGENT/AUTOMATED_AGENT/CUSTOMER/END_USER"
    )


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (UPLOAD.read_bytes()[:300], "malformed_json"),  # truncated
        (b"", "malformed_json"),
        (b'[{"entries": []}]', "bad_type"),
        (UPLOAD.read_bytes().replace(b"March", b"M\xe4rz"), "bad_encoding"),
        (gzip.compress(UPLOAD.read_bytes())[:200], "truncated_gzip"),
    ],
)
def test_an_unreadable_file_is_one_reject(tmp_path, data, reason):
    conversations, _, rejects = frames(write(tmp_path, data))
    assert conversations.is_empty()
    assert rejects.select("locator", "reason").rows() == [("document", reason)]
    assert "90417" not in rejects["raw"][0]


def test_role_less_segments_follow_call_metadata_channels():
    doc = _api()
    for segment in doc["transcript"]["transcriptSegments"]:
        segment.pop("segmentParticipant", None)
    record = conversation_to_record(doc, "x")
    assert [t["speaker"] for t in record["turns"]] == ["agent", "customer"] * 3


def test_int64_times_written_as_strings_are_read():
    doc = _upload()
    for entry in doc["entries"]:
        entry["start_timestamp_usec"] = str(entry["start_timestamp_usec"])
    record = conversation_to_record(doc, "x")
    assert record["turns"][0]["ts"] == "2024-05-02T09:15:02+00:00"


def test_empty_segments_are_dropped_and_counted():
    doc = _api()
    doc["transcript"]["transcriptSegments"][2]["text"] = "  "
    record = conversation_to_record(doc, "x")
    assert len(record["turns"]) == 5
    assert record["metadata"]["empty_segments"] == 1


def test_fixtures_load_through_ingest_with_nothing_quarantined(ccai_format):
    for path, n_turns in ((UPLOAD, 6), (VIRTUAL, 6), (API, 6)):
        batch = ingest_file(path, fmt="ccai")
        assert batch.quarantine.is_empty(), batch.quarantine.to_dicts()
        assert batch.conversations.height == 1
        assert batch.conversations["n_turns"][0] == batch.turns.height == n_turns
        conv = batch.conversations.row(0, named=True)
        assert conv["agent_hash"] and conv["customer_hash"]
        assert "90417" not in str(conv) and "c7f3a9e1" not in str(conv)
    texts = ingest_file(UPLOAD, fmt="ccai").turns["text"].to_list()
    assert texts[2] == "Sure, it's <NAME>."
    assert texts[3].startswith("Thanks. I can see two charges of 42.50 on March 3rd")


@pytest.mark.parametrize(
    "doc",
    [{"conversation_info": {}, "entries": []}, _set(_api(), SEGMENTS, [])],
    ids=["upload", "api"],
)
def test_an_empty_transcript_is_quarantined(tmp_path, ccai_format, doc):
    batch = ingest_file(write(tmp_path, doc), fmt="ccai")
    assert batch.conversations.is_empty()
    assert batch.quarantine.select("field", "reason").rows() == [("turns", "empty_turns")]


def test_a_bad_file_beside_good_ones_does_not_stop_the_others(tmp_path, ccai_format):
    bad = write(tmp_path, UPLOAD.read_bytes()[:300], name="cut.json")
    good = write(tmp_path, copy.deepcopy(load(VIRTUAL)), name="good.json")
    assert ingest_file(bad, fmt="ccai").quarantine["reason"].to_list() == ["malformed_json"]
    assert ingest_file(good, fmt="ccai").conversations["conversation_id"].to_list() == ["good"]
