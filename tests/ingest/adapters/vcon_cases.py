"""Builders the vCon adapter's tests share: the fixtures, small vCons, a diarized transcript."""

import copy
import json

import orjson
from ingest.adapters_cases import FIXTURES, read_all

from pipeline.ingest.adapters.vcon import read_vcon, vcon_to_record
from pipeline.ingest.adapters.vcon_bodies import Problem

VCON_DIR = FIXTURES / "platform" / "vcon"
DEEPGRAM = VCON_DIR / "ab_call_ext_rec_analysis.vcon"
REDACTED = VCON_DIR / "ab_call_ext_rec_redacted.vcon"
RECORDING = VCON_DIR / "ab_call_int_rec.vcon"
EMAIL = VCON_DIR / "ab_email_prob_followup_text_thread.vcon"
FAKE_CHAT = VCON_DIR / "fake-vcons-645bb6b6.vcon.json"
FAKE_CALL = VCON_DIR / "fake-vcons-02105744.vcon.json"
# Sentences of the IETF call that Alice (party 0, the caller) says; Bob answers the rest.
ALICE_SENTENCES = {4, 5, 8, 13, 14, 16}


def load(path):
    return json.loads(path.read_text())


def frames(path):
    return read_all(read_vcon(path, batch_size=100))


def one(doc):
    """The record of one vCon, or the Problem it raises."""
    try:
        return vcon_to_record(copy.deepcopy(doc))
    except Problem as problem:
        return problem


def write(tmp_path, doc, name="x.vcon"):
    path = tmp_path / name
    path.write_bytes(orjson.dumps(doc))
    return path


def diarized_deepgram():
    """The IETF Deepgram example with its sentences given to the right speakers."""
    doc = load(DEEPGRAM)
    alt = doc["analysis"][0]["body"]["results"]["channels"][0]["alternatives"][0]
    sentences = [s for p in alt["paragraphs"]["paragraphs"] for s in p["sentences"]]
    paragraphs = []
    for i, sentence in enumerate(sentences):
        speaker = 0 if i in ALICE_SENTENCES else 1
        if paragraphs and paragraphs[-1]["speaker"] == speaker:
            paragraphs[-1]["sentences"].append(sentence)
            paragraphs[-1]["end"] = sentence["end"]
        else:
            paragraphs.append(
                {
                    "sentences": [sentence],
                    "speaker": speaker,
                    "start": sentence["start"],
                    "end": sentence["end"],
                }
            )
    alt["paragraphs"]["paragraphs"] = paragraphs
    return doc


def chat(*messages, parties=None, **fields):
    """A vCon of text dialogs; each message is ``(party index, text)``."""
    parties = parties or [
        {"tel": "+15550100", "role": "customer"},
        {"mailto": "a17@example.com", "role": "agent"},
    ]
    dialog = [
        {
            "type": "text",
            "start": f"2026-03-01T10:00:{i:02d}Z",
            "parties": [p, 1 - p if p < 2 else 0],
            "originator": p,
            "mediatype": "text/plain",
            "encoding": "none",
            "body": text,
        }
        for i, (p, text) in enumerate(messages)
    ]
    return {"uuid": "u-1", "vcon": "0.3.0", "parties": parties, "dialog": dialog, **fields}


# --- the fixtures as they are -------------------------------------------------------
