"""Amazon Transcribe Call Analytics and Contact Lens files (``pipeline.ingest.adapters.amazon``).

Fixtures (``tests/fixtures/platform/amazon/README.md``):
``transcribe-call-analytics-example-call.json`` is REAL Transcribe output of a staged call;
``contact-lens-voice-example.json`` is WRITTEN for these tests from that call (no Contact
Lens voice file is published), reshaped as the admin guide describes the format;
``contact-lens-chat-raw.json`` and ``-redacted.json`` are the vendor's HAND-WRITTEN
documentation examples (their redaction offsets are off by a few characters, and the raw
one gives a customer's line to the agent: the reader is checked against the files as
they are).
"""

import gzip
import json
from datetime import UTC, datetime, timedelta

import polars as pl
import pytest
from conftest import HASH_KEY
from ingest.adapters_cases import FIXTURES, read_all

from pipeline.config import OutcomeConfig
from pipeline.ingest.adapters import RawBatch
from pipeline.ingest.adapters.adapter import FileHead
from pipeline.ingest.adapters.amazon import detect, read_amazon
from pipeline.ingest.adapters.aws_pca import detect as detect_pca
from pipeline.ingest.adapters.markers import map_markers
from pipeline.ingest.adapters.registry import ADAPTERS
from pipeline.ingest.batch import IngestBatch, prepare_batch
from pipeline.ingest.redact import PII_TYPES
from pipeline.ingest.validate import SeenIds, validate_batch
from pipeline.outcomes import derive_outcomes

AMAZON = FIXTURES / "platform" / "amazon"
TCA = AMAZON / "transcribe-call-analytics-example-call.json"
VOICE = AMAZON / "contact-lens-voice-example.json"
CHAT_RAW = AMAZON / "contact-lens-chat-raw.json"
CHAT_REDACTED = AMAZON / "contact-lens-chat-redacted.json"
PCA = AMAZON / "post-call-analytics-testfile.json"
EVENT = "application/vnd.amazonaws.connect.event."


def load(path):
    return json.loads(path.read_text())


def read(path):
    conversations, turns, rejects = read_all(read_amazon(path, batch_size=10))
    return conversations, turns.sort("rec", "turn_idx"), rejects


def turn_fields(conversations, rec=0):
    return json.loads(conversations["metadata"][rec]).get("turn_fields", {})


def ingest(batches, **aliases) -> IngestBatch:
    """Validate and redact raw batches as ``pipeline.ingest.read.read_source`` does."""
    seen = SeenIds()
    parts = []
    for raw in batches:
        valid, seen = validate_batch(
            raw, source_id="src", max_text_chars=10_000, speaker_aliases=aliases, seen_ids=seen
        )
        frames = (valid.conversations, valid.turns, valid.quarantine)
        parts.append(
            prepare_batch(*frames, source_id="src", hash_key=HASH_KEY, redact_types=PII_TYPES)
        )
    names = ("conversations", "turns", "redactions", "quarantine")
    return IngestBatch(*(pl.concat([getattr(p, n) for p in parts]) for n in names))


def write(path, document, sidecar=None):
    path.write_text(json.dumps(document))
    if sidecar is not None:
        path.with_name(path.name + ".meta.json").write_text(json.dumps(sidecar))
    return path


def test_the_real_transcribe_call_loads_turn_for_turn():
    """Real output: 37 turns, the file's roles, order, text (markers mapped) and offsets."""
    items = load(TCA)["Transcript"]
    conversations, turns, rejects = read(TCA)
    assert rejects.is_empty() and conversations.height == 1
    row = conversations.row(0, named=True)
    assert (row["conversation_id"], row["channel"], row["started_at"]) == (
        "example-call.wav", "voice", None)  # fmt: skip
    assert turns.height == len(items) == 37
    assert turns["speaker"].to_list() == [i["ParticipantRole"].lower() for i in items]
    assert turns["text"].to_list() == [map_markers(i["Content"]) for i in items]
    assert turns["text"][5] == "Alright <PII>"  # "[PII]" as cxminer writes it, never the value
    assert turns["ts"].null_count() == 37  # no start time in the file: offsets kept instead
    fields = turn_fields(conversations)
    assert [fields[str(j)]["offset_s"] for j in range(37)] == [
        [round(i["BeginOffsetMillis"] / 1000, 2), round(i["EndOffsetMillis"] / 1000, 2)]
        for i in items
    ]
    assert [fields[str(j)]["sentiment"] for j in range(37)] == [i["Sentiment"] for i in items]


def test_transcribe_detected_items_categories_and_characteristics_are_kept():
    conversations, _, _ = read(TCA)
    fields, meta = turn_fields(conversations), json.loads(conversations["metadata"][0])
    content = load(TCA)["Transcript"][3]["Content"]
    assert fields["3"]["detected"] == [{"type": "issue", "text": content[:95]}]
    assert fields["26"]["detected"] == [
        {"type": "action_item", "text": "I will email you a confirmation is <PII>."}]  # fmt: skip
    assert fields["28"]["detected"][0]["type"] == "outcome"
    assert meta["categories"] == ["No_Closing_Remark"]
    assert meta["characteristics"]["TotalConversationDurationMillis"] == 182890
    assert meta["characteristics"]["Interruptions"]["TotalCount"] == 2
    assert (meta["dialect"], meta["output"]) == ("transcribe-call-analytics", "Redacted")


def test_a_sidecar_start_turns_offsets_into_timestamps(tmp_path):
    sidecar = {"started_at": "2024-05-02T09:30:00+02:00", "queue": "cards", "agent_id": "a-17"}
    conversations, turns, _ = read(write(tmp_path / "call.json", load(TCA), sidecar))
    start = datetime(2024, 5, 2, 7, 30, tzinfo=UTC)
    offsets = [i["BeginOffsetMillis"] for i in load(TCA)["Transcript"]]
    assert [datetime.fromisoformat(ts) for ts in turns["ts"]] == [
        start + timedelta(milliseconds=ms) for ms in offsets
    ]
    row = conversations.row(0, named=True)
    assert datetime.fromisoformat(row["started_at"]) == start
    assert datetime.fromisoformat(row["ended_at"]) == start + timedelta(milliseconds=182890)
    assert (row["queue"], row["agent_id"]) == ("cards", "a-17")
    assert turns["ts"][0] == "2024-05-02T09:30:00.040000+02:00"


@pytest.mark.parametrize(
    ("sidecar", "field", "reason"),
    [
        ({"started_at": "yesterday"}, "call.json.meta.json:started_at", "bad_timestamp"),
        ({"start": "2024-05-02T09:30:00Z"}, "call.json.meta.json", "bad_type"),
        ({"started_at": 1714638600}, "call.json.meta.json:started_at", "bad_type"),
    ],
)
def test_a_bad_sidecar_quarantines_its_conversation_naming_the_field(
    tmp_path, sidecar, field, reason
):
    path = write(tmp_path / "call.json", load(TCA), sidecar)
    conversations, _, rejects = read(path)
    assert conversations.is_empty()
    assert rejects.select("locator", "field", "reason").rows() == [("document", field, reason)]
    assert "\n" not in rejects["message"][0]


def test_contact_lens_voice_maps_participant_ids_to_roles():
    """Written fixture (from the real call): ids in Participants; the last turn says AGENT."""
    items = load(VOICE)["Transcript"]
    conversations, turns, rejects = read(VOICE)
    assert rejects.is_empty() and turns.height == 37
    assert turns["speaker"].to_list() == [
        i["ParticipantRole"].lower() for i in load(TCA)["Transcript"]
    ]
    assert turns["text"].to_list() == [map_markers(i["Content"]) for i in items]
    row = conversations.row(0, named=True)
    assert row["conversation_id"] == "0f4c8a2e-5b1d-4c3e-9a7f-EXAMPLE00001"
    meta, fields = json.loads(row["metadata"]), turn_fields(conversations)
    assert (meta["dialect"], meta["instance_id"]) == (
        "contact-lens-voice",
        "f23fc323-3d6d-48aa-95dc-EXAMPLE012",
    )
    assert meta["summary"].startswith("The customer's card fell into the water")
    assert meta["categories"] == ["card-replacement", "No_Closing_Remark"]
    # the category's point of interest (11040-20860 ms) lies over turns 2-4
    assert [j for j in range(37) if "categories" in fields[str(j)]] == [2, 3, 4]
    assert fields["3"]["detected"] == [{"type": "issue", "text": items[3]["Content"][:95]}]


def test_contact_lens_chat_messages_and_events_in_file_order():
    """Vendor's hand-written example: 31 messages, 4 events (joined x2, left, ended)."""
    items = load(CHAT_REDACTED)["Transcript"]
    conversations, turns, rejects = read(CHAT_REDACTED)
    assert rejects.is_empty() and turns.height == len(items) == 35
    assert conversations.select("conversation_id", "channel").row(0) == (
        "b49644f6-672f-445c-b209-f76b36482830", "chat")  # fmt: skip
    assert turns["ts"].to_list() == [i["AbsoluteTime"] for i in items]
    events = turns.filter(pl.col("event_type") == "action")
    assert events.select("turn_idx", "speaker", "action").rows() == [
        (0, "system", "participant.joined"), (4, "system", "participant.joined"),
        (33, "system", "participant.left"), (34, "system", "chat.ended")]  # fmt: skip
    assert [json.loads(a) if a else None for a in events["args"]] == [
        {"participant_role": "customer"}, {"participant_role": "agent"},
        {"participant_role": "customer"}, None]  # fmt: skip
    messages = turns.filter(pl.col("event_type").is_null())
    said = [i for i in items if i["Type"] == "MESSAGE"]
    assert messages["speaker"].to_list() == [i["ParticipantRole"].lower() for i in said]
    assert messages["text"].to_list() == [map_markers(i["Content"]) for i in said]
    assert messages["speaker"][:3].to_list() == ["system"] * 3  # the flow's own messages


def test_contact_lens_chat_notes_are_kept_per_turn_by_id():
    conversations, _, _ = read(CHAT_RAW)
    fields, meta = turn_fields(conversations), json.loads(conversations["metadata"][0])
    assert fields["5"]["categories"] == ["agent-intro"] and fields["5"]["sentiment"] == "NEUTRAL"
    assert fields["26"]["detected"][0]["type"] == "outcome"
    assert fields["26"]["detected"][0]["text"].startswith("We are not only refunding the cost")
    line = load(CHAT_RAW)["Transcript"][19]["Content"]  # the summary's offsets: 72-244
    assert fields["19"]["detected"] == [{"type": "issue", "text": line[72:]}]
    assert "DetailsByTranscriptItemGroup" not in json.dumps(meta["characteristics"])
    assert "ContactSummary" not in meta["characteristics"]
    assert "John" not in conversations["metadata"][0] and "Jane" not in conversations["metadata"][0]


def test_a_raw_chat_masks_what_the_platform_marked_and_keeps_the_rest():
    """Each ``Redaction`` span is masked, never part of a word; other messages are verbatim.

    The example's offsets miss by a few characters ("care" for the card's "9008", "?" for
    a name the redacted twin adds): the spans are masked as written, and cxminer's own
    redaction runs on every text afterwards.
    """
    items = load(CHAT_RAW)["Transcript"]
    _, turns, _ = read(CHAT_RAW)
    texts = turns["text"].to_list()
    assert {j: texts[j] for j, item in enumerate(items) if "Redaction" in item} == {
        5: "Hello, thanks for reaching Example Corp. This <PII>. How may I help you?",
        10: "Yeah. My first name <PII> and last name is <PII>",
        15: "alright, perfect. And could you also just confirm the shipping address for me<PII>",
        16: "<PII> the zip code is <PII>",
        18: "Ok. Last four for my debit <PII> are 9008",
        20: "I apologize for the experience you had Mr<PII>, its very uncommon that our "
        "customer will have this issue. We will look into this and get this sorted out for you "
        "right away.",
        24: "Alright are you still there Mr <PII>",
        30: "Is there anything else I can help you out with <PII>",
    }
    unmarked = [j for j, item in enumerate(items) if "Redaction" not in item and "Content" in item]
    assert [texts[j] for j in unmarked] == [items[j]["Content"] for j in unmarked]


def test_a_transfer_event_reads_as_a_transfer(tmp_path):
    document = load(CHAT_REDACTED)
    end = document["Transcript"].pop()
    document["Transcript"][-2:] = [
        {"Type": "EVENT", "ContentType": EVENT + "typing", "ParticipantRole": "AGENT",
         "AbsoluteTime": "2022-10-27T03:34:40.000Z"},
        {"Type": "EVENT", "ContentType": EVENT + "transfer.failed", "ParticipantRole": "AGENT",
         "AbsoluteTime": "2022-10-27T03:34:41.000Z"},
        {"Type": "EVENT", "ContentType": EVENT + "transfer.succeeded", "ParticipantRole": "AGENT",
         "AbsoluteTime": "2022-10-27T03:34:42.000Z"}, end]  # fmt: skip
    path = write(tmp_path / "transfer.json", document)
    _, turns, _ = read(path)
    assert turns.filter(pl.col("action").str.contains("transfer|typing")).select(
        "speaker", "action", "status").rows() == [
        ("system", "contact.transfer", "failed"), ("system", "contact.transfer", "ok")]  # fmt: skip
    batch = ingest(read_amazon(path, batch_size=10))
    workflows = pl.DataFrame(schema={"conversation_id": pl.String, "workflow_id": pl.String})
    outcomes = derive_outcomes(batch.conversations, batch.turns, workflows, config=OutcomeConfig())
    assert outcomes["outcome"].to_list() == ["transferred"]


@pytest.mark.parametrize("path", [TCA, VOICE, CHAT_RAW, CHAT_REDACTED], ids=lambda p: p.stem)
def test_every_fixture_loads_through_validation_and_redaction(path):
    batch = ingest(read_amazon(path, batch_size=10))
    assert batch.quarantine.is_empty()
    assert batch.conversations["n_turns"].to_list() == [len(load(path)["Transcript"])]
    texts = " ".join(batch.turns["text"].drop_nulls())
    assert "<PII>" in texts and "[PII]" not in texts
    assert "John" not in batch.conversations["metadata"][0]
    if path in (TCA, VOICE):  # offsets survive the metadata redaction
        fields = json.loads(batch.conversations["metadata"][0])["turn_fields"]
        assert fields["36"]["offset_s"] == [181.94, 182.89]


@pytest.mark.parametrize("path", [TCA, VOICE, CHAT_RAW, CHAT_REDACTED], ids=lambda p: p.stem)
def test_each_amazon_fixture_is_detected_as_amazon_only(path):
    head = FileHead(path)
    assert detect(head) and not detect_pca(head)
    claims = [a.name for a in ADAPTERS if a.detect is not None and a.detect(FileHead(path))]
    assert claims == ["amazon"]


OTHERS = sorted(p for p in [*FIXTURES.glob("*"), *FIXTURES.glob("platform/*/*")]
                if p.is_file() and p.parent != AMAZON)  # fmt: skip


@pytest.mark.parametrize("path", [*OTHERS, PCA], ids=lambda p: p.name)
def test_other_formats_are_not_claimed(path):
    assert not detect(FileHead(path))


def test_gzip_jsonl_and_arrays_of_documents(tmp_path):
    lines = [json.dumps(load(TCA)), json.dumps(load(CHAT_REDACTED)), '{"Transcript": [', ""]
    path = tmp_path / "calls.jsonl.gz"
    path.write_bytes(gzip.compress("\n".join(lines).encode()))
    assert detect(FileHead(path))
    conversations, turns, rejects = read(path)
    assert conversations.select("locator", "conversation_id").rows() == [
        ("line 1", "example-call.wav"),
        ("line 2", "b49644f6-672f-445c-b209-f76b36482830"),
    ]
    assert rejects.select("locator", "reason").rows() == [("line 3", "malformed_json")]
    array = tmp_path / "calls.json"
    array.write_text(json.dumps([load(CHAT_RAW), 7]))
    conversations, _, rejects = read(array)
    assert conversations["locator"].to_list() == ["item 0"]
    assert rejects.select("locator", "reason").rows() == [("item 1", "bad_type")]


def wrong(document, change):
    document = json.loads(json.dumps(document))
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["Transcript"][3].update(BeginOffsetMillis="11s"),
         "Transcript[3].BeginOffsetMillis"),
        (lambda d: d["Transcript"][4].update(Content=42), "Transcript[4].Content"),
        (lambda d: d["Transcript"].insert(2, "Bye."), "Transcript[2]"),
        (lambda d: d.update(Transcript={"0": "x"}), "Transcript"),
        (lambda d: d["Transcript"][3]["IssuesDetected"][0].update(CharacterOffsets={"Begin": "0"}),
         "Transcript[3].IssuesDetected[0].CharacterOffsets"),
        (lambda d: d.update(Participants="AGENT"), "Participants"),
    ],
)  # fmt: skip
def test_wrong_types_are_rejects_naming_the_field(tmp_path, change, field):
    path = write(tmp_path / "bad.json", wrong(load(TCA), change))
    conversations, _, rejects = read(path)
    assert conversations.is_empty()
    assert rejects.select("locator", "field", "reason").rows() == [("document", field, "bad_type")]
    assert "Items" not in rejects["raw"][0]  # the words stay out of quarantine


def test_a_truncated_document_or_an_empty_file_is_malformed_json(tmp_path):
    (tmp_path / "cut.json").write_text(CHAT_RAW.read_text()[:5000])
    (tmp_path / "empty.json").write_text("")
    for name, detail in (("cut.json", "not valid JSON (unexpected end"), ("empty.json", "empty")):
        _, _, rejects = read(tmp_path / name)
        assert rejects.select("locator", "reason").rows() == [("document", "malformed_json")]
        assert detail in rejects["message"][0]
    path = tmp_path / "cut.json.gz"
    path.write_bytes(gzip.compress(TCA.read_bytes())[:3000])
    assert read(path)[2]["reason"].to_list() == ["truncated_gzip"]


def test_unknown_roles_and_an_empty_transcript_are_quarantined_by_validation(tmp_path):
    supervisor = wrong(load(TCA), lambda d: d["Transcript"][2].update(ParticipantRole="MANAGER"))
    empty = wrong(load(CHAT_REDACTED), lambda d: d.update(Transcript=[]))
    empty["CustomerMetadata"]["ContactId"] = "empty-chat"
    path = tmp_path / "calls.jsonl"
    path.write_text(
        "\n".join(json.dumps(d) for d in (supervisor, empty, load(TCA) | {"JobName": "ok"}))
    )
    batch = ingest(read_amazon(path, batch_size=2))
    assert batch.quarantine.select("locator", "field", "reason").rows() == [
        ("line 1", "turns[2].speaker", "unknown_speaker"),
        ("line 2", "turns", "empty_turns"),
    ]
    assert batch.conversations["conversation_id"].to_list() == ["ok"]
    aliased = ingest(read_amazon(path, batch_size=2), manager="agent")
    assert sorted(aliased.conversations["conversation_id"]) == ["example-call.wav", "ok"]


def test_a_supervisor_speaks_as_the_agent_with_its_role_kept(tmp_path):
    document = wrong(load(TCA), lambda d: d["Transcript"][2].update(ParticipantRole="SUPERVISOR"))
    conversations, turns, _ = read(write(tmp_path / "s.json", document))
    assert turns["speaker"][2] == "agent"
    assert turn_fields(conversations)["2"]["participant_role"] == "supervisor"


def test_a_batch_holds_at_most_batch_size_conversations(tmp_path):
    path = tmp_path / "calls.jsonl"
    path.write_text("\n".join(json.dumps(load(TCA) | {"JobName": f"c{i}"}) for i in range(5)))
    batches = list(read_amazon(path, batch_size=2))
    assert [b.conversations.height for b in batches] == [2, 2, 1]
    assert all(isinstance(b, RawBatch) for b in batches)
