"""vCon transcripts: Deepgram shapes, segment lists, labelled strings, unknown bodies.

Built from the IETF example's real Deepgram output (``tests/fixtures/platform/vcon/``) and
variants of it made in the tests (``ingest/adapters/vcon_cases.py``).
"""

import json

import pytest
from ingest.adapters.vcon_cases import (
    DEEPGRAM,
    FAKE_CALL,
    REDACTED,
    diarized_deepgram,
    frames,
    load,
    one,
    write,
)

from pipeline.ingest.adapters.vcon_bodies import transcript_segments


def test_a_diarized_deepgram_transcript_maps_speakers_to_the_dialog_parties(tmp_path):
    conversations, turns, rejects = frames(write(tmp_path, diarized_deepgram()))
    assert rejects.is_empty()
    row = conversations.row(0, named=True)
    assert row["channel"] == "voice"
    assert (row["customer_id"], row["agent_id"]) == ("+12345678901", "+19876543210")
    assert turns["speaker"].to_list() == ["agent", "customer"] * 4 + ["agent"]
    assert turns["text"][:3].to_list() == [
        "Hello. This is example.com. My name is Bob. How can I help you?",
        "Hi. I'd like to add Fu to my service.",
        "Okay. Can you give me your name and phone number so I can look up your account?",
    ]
    assert turns["ts"][0] == "2022-06-21T17:53:27.200000+00:00"  # dialog start + 1.1999999 s
    assert row["ended_at"] == "2022-06-21T17:53:59.120000+00:00"  # start + duration 33.12
    metadata = json.loads(row["metadata"])
    assert metadata["transcripts"] == [
        {"dialog": 0, "analysis": 0, "type": "transcript", "provider": "deepgram"}
    ]
    assert "analysis" not in metadata  # the transcript is not repeated as an analysis


def test_the_ietf_deepgram_example_names_one_speaker_only():
    problem = one(load(DEEPGRAM))
    assert (problem.reason, problem.field) == ("undiarized_transcript", "analysis[0].body")
    assert "2 parties" in problem.message and "one speaker only" in problem.message


@pytest.mark.parametrize("shape", ["conserver", "words", "utterances", "multichannel"])
def test_other_deepgram_shapes_read_the_same_turns(shape):
    doc = diarized_deepgram()
    body = doc["analysis"][0]["body"]
    alt = body["results"]["channels"][0]["alternatives"][0]
    paragraphs = alt["paragraphs"]["paragraphs"]
    if shape == "conserver":  # what vcon-server's deepgram link stores
        doc["analysis"][0]["body"] = {"transcript": alt["transcript"], "sentences": paragraphs}
    elif shape == "words":
        words = [
            {
                "punctuated_word": s["text"],
                "start": s["start"],
                "end": s["end"],
                "speaker": p["speaker"],
            }
            for p in paragraphs
            for s in p["sentences"]
        ]
        doc["analysis"][0]["body"] = {
            "results": {"channels": [{"alternatives": [{"words": words}]}]}
        }
    elif shape == "utterances":
        utterances = [
            {"speaker": p["speaker"], "start": p["start"], "end": p["end"],
             "transcript": " ".join(s["text"] for s in p["sentences"])}
            for p in paragraphs
        ]  # fmt: skip
        body["results"]["utterances"] = utterances
    else:  # one channel a party: the channel number says who speaks
        channels = [
            {"alternatives": [{"transcript": "", "paragraphs": {"paragraphs": [
                {**p, "speaker": 0} for p in paragraphs if p["speaker"] == number]}}]}
            for number in (0, 1)
        ]  # fmt: skip
        body["results"]["channels"] = channels
    record = one(doc)
    assert [t["speaker"] for t in record["turns"]] == ["agent", "customer"] * 4 + ["agent"]
    assert record["turns"][1]["text"] == "Hi. I'd like to add Fu to my service."
    assert record["turns"][0]["ts"] == "2022-06-21T17:53:27.200000+00:00"


def test_a_segment_list_with_party_indexes_and_redaction_markers():
    doc = load(REDACTED)
    for i, segment in enumerate(doc["analysis"][0]["body"]):
        segment["parties"] = 1 if i < 4 or i in (7, 9, 11, 12, 15, 17) else 0
    doc["parties"][0]["role"], doc["parties"][1]["role"] = "customer", "agent"
    record = one(doc)
    texts = [t["text"] for t in record["turns"]]
    assert texts[0] == "Hello. This is <PII>. My name is Bob. How can I help you?"  # {{URL}}
    assert "My name is Alice, and my number is <IBAN>." in texts  # {{BAN}}
    assert "<ADDRESS>." in " ".join(texts)  # {{US_STATE}}
    assert record["turns"][0]["ts"] == "2022-06-21T17:53:27.200000+00:00"  # ISO start kept
    assert record["metadata"]["redacted"] == {
        "uuid": "019f15a6-a752-826f-b9a2-279e0d16bc46",
        "type": "PII Redaction",
    }
    assert record["metadata"]["transcripts"][0]["type"] == "transcript-redacted"


def test_a_transcript_without_dialog_index_belongs_to_the_only_dialog():
    doc = diarized_deepgram()
    del doc["analysis"][0]["dialog"]
    assert len(one(doc)["turns"]) == 9
    doc["dialog"].append({"type": "recording", "parties": [0, 1]})
    assert one(doc).reason == "no_transcript"  # two dialogs: it points at neither


def test_a_transcript_in_an_unknown_form_names_its_vendor_and_schema():
    doc = diarized_deepgram()
    doc["analysis"][0]["body"] = {"hypotheses": [{"utt": "hello"}]}
    doc["analysis"][0]["vendor"], doc["analysis"][0]["schema"] = "acme", "acme_v2"
    problem = one(doc)
    assert problem.reason == "unknown_transcript_body"
    assert "vendor acme, schema acme_v2" in problem.message
    assert "an object with keys hypotheses" in problem.message
    doc["analysis"][0]["body"] = None
    doc["analysis"][0]["url"] = "https://example.com/transcript.json"
    assert "no inline body (a url is never fetched)" in one(doc).message
    with pytest.raises(ValueError, match="a int body"):
        transcript_segments(3)


def test_labelled_string_transcripts_are_diarized_and_plain_ones_are_not():
    doc = load(FAKE_CALL)
    plain = one(doc)
    assert plain.reason == "undiarized_transcript" and "names no speaker" in plain.message
    doc["analysis"][0]["body"] = {
        "transcript": "Agent: Thanks for calling, this is Kyle.\n\nCatherine Long: Hi, my bill.\n\n"
        "Kyle James: Let me look."
    }
    record = one(doc)
    assert [(t["speaker"], t["text"]) for t in record["turns"]] == [
        ("agent", "Thanks for calling, this is Kyle."),
        ("customer", "Hi, my bill."),  # a party's name
        ("agent", "Let me look."),
    ]
    assert record["channel"] == "chat"  # a text dialog without a body
    metadata = record["metadata"]
    assert metadata["attachments"] == ["bria_call_ended"]  # the type only
    assert "West Barnstable" not in json.dumps(metadata["attachments"])
    assert [(a["type"], a["provider"]) for a in metadata["analysis"]] == [
        ("summary", "openai"),
        ("diarized", "openai"),
    ]
    assert metadata["analysis"][0]["body"].startswith("In this conversation, Kyle James")
    assert len(metadata["analysis"][1]["body"]) == 303  # a short body only
    assert record["customer_id"] == "+18490743143_catherine.long@gmail.com_1100"  # id, then tel
