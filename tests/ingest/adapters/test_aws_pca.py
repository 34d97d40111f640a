"""AWS Post Call Analytics results (``pipeline.ingest.adapters.aws_pca``).

``post-call-analytics-testfile.json`` is REAL output of PCA on a staged demo call
(aws-samples/amazon-transcribe-post-call-analytics, Apache-2.0). Its labels name
``spk_0`` the agent and ``spk_1`` the customer, though ``spk_1`` is the one who says
"Thank you for calling Networks abc technical Support": the labels are what PCA wrote,
and the reader follows them, never the words.
"""

import json
from datetime import UTC, datetime, timedelta

import pytest
from ingest.adapters.test_amazon import (
    AMAZON,
    FIXTURES,
    PCA,
    ingest,
    load,
    turn_fields,
    write,
    wrong,
)
from ingest.adapters_cases import read_all

from pipeline.ingest.adapters.adapter import FileHead
from pipeline.ingest.adapters.amazon import detect as detect_amazon
from pipeline.ingest.adapters.aws_pca import detect, read_pca
from pipeline.ingest.adapters.markers import map_markers
from pipeline.ingest.adapters.registry import ADAPTERS


def read(path):
    conversations, turns, rejects = read_all(read_pca(path, batch_size=10))
    return conversations, turns.sort("rec", "turn_idx"), rejects


def segments():
    return load(PCA)["SpeechSegments"]


def test_the_real_pca_file_loads_segment_for_segment():
    conversations, turns, rejects = read(PCA)
    assert rejects.is_empty() and conversations.height == 1 and turns.height == 12
    labels = {"spk_0": "agent", "spk_1": "customer"}  # SpeakerLabels: Agent, Customer
    assert turns["speaker"].to_list() == [labels[s["SegmentSpeaker"]] for s in segments()]
    assert turns["text"].to_list() == [map_markers(s["DisplayText"]) for s in segments()]
    assert turns["text"][3] == "This is <PII> speaking. Am I speaking to <PII>?"
    row = conversations.row(0, named=True)
    # GUID and Agent are PCA's "None": the job name is the id, and there is no agent id
    assert (row["conversation_id"], row["channel"], row["agent_id"], row["customer_id"]) == (
        "stereo_std_1.mp3", "voice", None, None)  # fmt: skip
    # ConversationTime is ProcessTime: PCA's stand-in, not when the call happened
    assert row["started_at"] is None and turns["ts"].null_count() == 12


def test_pca_per_turn_analytics_and_header_are_kept():
    conversations, _, _ = read(PCA)
    fields, meta = turn_fields(conversations), json.loads(conversations["metadata"][0])
    assert [fields[str(j)]["offset_s"] for j in range(12)] == [
        [s["SegmentStartTime"], s["SegmentEndTime"]] for s in segments()]  # fmt: skip
    assert [fields[str(j)]["sentiment_score"] for j in range(12)] == [
        s["SentimentScore"] for s in segments()]  # fmt: skip
    assert fields["1"]["sentiment"] == "POSITIVE" and fields["0"]["sentiment"] == "NEUTRAL"
    assert fields["0"]["categories"] == ["Dummy_Missing"]
    assert fields["1"]["entities"] == ["ORGANIZATION"] and fields["2"]["interruption"] is True
    assert meta["speakers"] == {"spk_0": "agent", "spk_1": "customer"}
    assert meta["ConversationLocation"] == "America/New_York"
    assert meta["CustomEntities"][0] == {
        "Name": "ORGANIZATION",
        "Instances": 1,
        "Values": ["Networks abc"],
    }
    assert meta["transcribe_job"]["TranscriptionJobName"] == "stereo_std_1.mp3"
    assert not any(k.endswith("Uri") for k in meta["transcribe_job"])  # no media locations
    assert not {"Agent", "Agents", "Cust", "GUID", "SpeakerLabels"} & set(meta)


def header(**changes):
    document = load(PCA)
    document["ConversationAnalytics"].update(changes)
    return document


def test_a_conversation_time_is_read_in_its_location(tmp_path):
    path = write(tmp_path / "call.json", header(ConversationTime="2021-11-25 08:02:03.500000"))
    conversations, turns, _ = read(path)
    start = datetime(2021, 11, 25, 13, 2, 3, 500000, tzinfo=UTC)  # New York is UTC-5 in November
    assert datetime.fromisoformat(conversations["started_at"][0]) == start
    assert datetime.fromisoformat(conversations["ended_at"][0]) == start + timedelta(seconds=28.67)
    assert [datetime.fromisoformat(ts) for ts in turns["ts"]] == [
        start + timedelta(seconds=s["SegmentStartTime"]) for s in segments()]  # fmt: skip


def test_a_sidecar_start_and_ids_override_the_header(tmp_path):
    document = header(ConversationTime="2021-11-25 08:02:03", Agent="jdoe", Cust="cust-881",
                      GUID="0b6f5e1c-guid")  # fmt: skip
    sidecar = {"started_at": "2021-11-25T09:00:00Z", "customer_id": "crm-42", "outcome": "resolved"}
    conversations, turns, _ = read(write(tmp_path / "call.json", document, sidecar))
    row = conversations.row(0, named=True)
    assert (row["conversation_id"], row["agent_id"], row["customer_id"], row["outcome"]) == (
        "0b6f5e1c-guid", "jdoe", "crm-42", "resolved")  # fmt: skip
    assert turns["ts"][1] == "2021-11-25T09:00:00.640000+00:00"
    assert "jdoe" not in conversations["metadata"][0] and "cust-881" not in conversations["raw"][0]


def test_identifiers_are_hashed_and_stay_out_of_metadata_and_quarantine(tmp_path):
    document = header(Agent="jdoe", Agents=["jdoe", "asmith"], Cust="cust-881")
    document["ConversationAnalytics"]["SpeakerLabels"][0]["UserId"] = "u-777"
    good = write(tmp_path / "good.json", document)
    batch = ingest(read_pca(good, batch_size=10))
    row = batch.conversations.row(0, named=True)
    assert row["agent_hash"] and row["agent_hash"] != "jdoe" and row["customer_hash"]
    assert not any(v in row["metadata"] for v in ("jdoe", "asmith", "cust-881", "u-777"))
    document["SpeechSegments"][2]["SegmentStartTime"] = "0.74"
    batch = ingest(read_pca(write(tmp_path / "bad.json", document), batch_size=10))
    assert batch.quarantine.select("field", "reason").rows() == [
        ("SpeechSegments[2].SegmentStartTime", "bad_type")]  # fmt: skip
    assert not any(v in batch.quarantine["raw"][0] for v in ("jdoe", "asmith", "cust-881", "u-777"))


def test_ivr_segments_are_the_bot_and_other_labels_need_an_alias(tmp_path):
    document = load(PCA)
    document["SpeechSegments"][0]["IVRSegment"] = True
    document["ConversationAnalytics"]["SpeakerLabels"].append(
        {"Speaker": "spk_2", "DisplayText": "Supervisor"}
    )
    document["SpeechSegments"][4]["SegmentSpeaker"] = "spk_2"
    path = write(tmp_path / "call.json", document)
    _, turns, _ = read(path)
    assert turns["speaker"][:5].to_list() == ["bot", "customer", "agent", "customer", "supervisor"]
    assert ingest(read_pca(path, batch_size=10)).quarantine.select("field", "reason").rows() == [
        ("turns[4].speaker", "unknown_speaker")]  # fmt: skip
    assert ingest(read_pca(path, batch_size=10), supervisor="agent").quarantine.is_empty()


def test_a_redacted_original_is_never_traded_for_a_less_redacted_display_text(tmp_path):
    document = load(PCA)
    document["SpeechSegments"][3]["DisplayText"] = "This is Dana speaking. Am I speaking to Lee?"
    document["SpeechSegments"][5]["DisplayText"] = "Hey, how are you doing today?"  # an edit
    _, turns, _ = read(write(tmp_path / "call.json", document))
    assert turns["text"][3] == "This is <PII> speaking. Am I speaking to <PII>?"
    assert turns["text"][5] == "Hey, how are you doing today?"


def test_personal_entity_values_are_not_kept(tmp_path):
    document = load(PCA)
    document["ConversationAnalytics"]["CustomEntities"].append(
        {"Name": "PERSON", "Instances": 1, "Values": ["Dana Lee"]})  # fmt: skip
    document["SpeechSegments"][3]["EntitiesDetected"] = [{"Type": "PERSON", "Text": "Dana Lee"}]
    conversations, _, _ = read(write(tmp_path / "call.json", document))
    assert "Dana" not in conversations["metadata"][0]
    assert turn_fields(conversations)["3"]["entities"] == ["PERSON"]


@pytest.mark.parametrize(
    ("change", "field", "reason"),
    [
        (lambda d: d["SpeechSegments"][2].update(SegmentStartTime="0.74"),
         "SpeechSegments[2].SegmentStartTime", "bad_type"),
        (lambda d: d["SpeechSegments"][1].update(DisplayText=["Thank you"]),
         "SpeechSegments[1].DisplayText", "bad_type"),
        (lambda d: d["SpeechSegments"].insert(0, None), "SpeechSegments[0]", "bad_type"),
        (lambda d: d.update(SpeechSegments={"0": {}}), "SpeechSegments", "bad_type"),
        (lambda d: d["ConversationAnalytics"].update(Duration="about half a minute"),
         "ConversationAnalytics.Duration", "bad_type"),
        (lambda d: d["ConversationAnalytics"].update(ConversationTime="25/11/2021 08:02"),
         "ConversationAnalytics.ConversationTime", "bad_timestamp"),
        (lambda d: d["ConversationAnalytics"].update(ConversationTime="2021-11-25 08:02:03",
                                                     ConversationLocation="Mars/Olympus"),
         "ConversationAnalytics.ConversationLocation", "bad_timestamp"),
    ],
)  # fmt: skip
def test_malformed_documents_are_rejects_naming_the_field(tmp_path, change, field, reason):
    conversations, _, rejects = read(write(tmp_path / "bad.json", wrong(load(PCA), change)))
    assert conversations.is_empty()
    assert rejects.select("locator", "field", "reason").rows() == [("document", field, reason)]
    assert "\n" not in rejects["message"][0]


def test_truncated_files_and_empty_segments(tmp_path):
    (tmp_path / "cut.json").write_text(PCA.read_text()[:3000])
    assert read(tmp_path / "cut.json")[2].select("locator", "reason").rows() == [
        ("document", "malformed_json")]  # fmt: skip
    empty = write(tmp_path / "empty.json", wrong(load(PCA), lambda d: d.update(SpeechSegments=[])))
    assert ingest(read_pca(empty, batch_size=10)).quarantine.select("field", "reason").rows() == [
        ("turns", "empty_turns")]  # fmt: skip


def test_the_fixture_loads_through_validation_and_redaction():
    batch = ingest(read_pca(PCA, batch_size=10))
    assert batch.quarantine.is_empty() and batch.conversations["n_turns"].to_list() == [12]
    assert "<PII>" in batch.turns["text"][3]
    fields = json.loads(batch.conversations["metadata"][0])["turn_fields"]
    assert fields["0"]["offset_s"] == [0.04, 0.25]  # offsets survive the metadata redaction


def test_pca_is_detected_and_nothing_else_is_claimed():
    assert detect(FileHead(PCA)) and not detect_amazon(FileHead(PCA))
    claims = [a.name for a in ADAPTERS if a.detect is not None and a.detect(FileHead(PCA))]
    assert claims == ["aws-pca"]
    others = [p for p in [*FIXTURES.glob("*"), *FIXTURES.glob("platform/*/*")]
              if p.is_file() and p != PCA]  # fmt: skip
    assert len(others) > 15 and any(p.parent == AMAZON for p in others)
    assert [p.name for p in others if detect(FileHead(p))] == []


def test_a_compact_copy_and_a_jsonl_of_results_are_read(tmp_path):
    compact = tmp_path / "compact.json"
    compact.write_text(json.dumps(load(PCA)))
    assert detect(FileHead(compact)) and read(compact)[1].height == 12
    lines = tmp_path / "results.jsonl"
    lines.write_text(json.dumps(load(PCA)) + "\n" + json.dumps(header(GUID="second")) + "\n")
    conversations, _, _ = read(lines)
    assert conversations.select("locator", "conversation_id").rows() == [
        ("line 1", "stereo_std_1.mp3"), ("line 2", "second")]  # fmt: skip
