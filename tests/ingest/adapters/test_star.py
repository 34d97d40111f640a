"""STAR dialogues (``pipeline.ingest.adapters.star``)."""

import json
from datetime import UTC, datetime

import polars as pl
import pytest
from ingest.adapters_cases import STAR, STAR_LINES, read_all, write_lines

from pipeline.ingest.adapters import canonical_hash
from pipeline.ingest.adapters.star import dialogue_to_record, read_star, result_kind

STAR_TURN_EVENTS = {
    ("User", "utter"),
    ("Wizard", "utter"),
    ("Wizard", "pick_suggestion"),
    ("Wizard", "query"),
    ("KnowledgeBase", "return_item"),
}


@pytest.fixture(scope="module")
def star_frames():
    return read_all(read_star(STAR, batch_size=100))  # one batch: rec is the line index


def test_star_every_line_is_a_record_or_a_reject(star_frames):
    conversations, turns, rejects = star_frames
    assert conversations.height + rejects.height == len(STAR_LINES) == 26
    assert conversations["conversation_id"].to_list() == [
        f"star-{d['DialogueID']}" for d in STAR_LINES
    ]
    assert conversations["locator"].to_list() == [f"line {i}" for i in range(1, 27)]
    empty = conversations.filter(pl.col("conversation_id") == "star-45")["rec"][0]
    assert turns.filter(pl.col("rec") == empty).is_empty()  # only a UserGuide instruction


def test_star_bad_lines_are_rejects(tmp_path):
    path = write_lines(tmp_path / "s.jsonl", [STAR_LINES[0], {"DialogueID": 9}, b"{oops"])
    conversations, _, rejects = read_all(read_star(path, batch_size=10))
    assert conversations["conversation_id"].to_list() == ["star-1"]
    assert rejects.select("locator", "field", "reason").rows() == [
        ("line 2", "Events", "bad_type"),
        ("line 3", None, "malformed_json"),
    ]


def test_star_turns_follow_the_event_mapping(star_frames):
    conversations, turns, _ = star_frames
    for rec, dialogue in enumerate(STAR_LINES):
        events = [e for e in dialogue["Events"] if (e["Agent"], e["Action"]) in STAR_TURN_EVENTS]
        mine = turns.filter(pl.col("rec") == rec).sort("turn_idx")
        assert mine.height == len(events)
        for turn, event in zip(mine.iter_rows(named=True), events, strict=True):
            if event["Agent"] == "User":
                assert (turn["speaker"], turn["text"]) == ("customer", event["Text"])
            elif event["Action"] in ("utter", "pick_suggestion"):
                assert (turn["speaker"], turn["text"]) == ("agent", event["Text"])
            elif event["Action"] == "query":
                assert (turn["speaker"], turn["event_type"]) == ("agent", "action")
                kinds = [c["RequestType"].strip('"').lower() for c in event["Constraints"]
                         if "RequestType" in c]  # fmt: skip
                assert turn["action"] == f"{event['APIName']}.{(kinds or ['query'])[0]}"
                assert json.loads(turn["args"]) == {"constraints": event["Constraints"]}
            else:
                assert (turn["speaker"], turn["event_type"]) == ("system", "action")
                assert turn["action"] == f"{event['APIName']}.result"
            unix = event.get("UnixTime")
            assert turn["ts"] == (
                None if unix is None else datetime.fromtimestamp(unix, tz=UTC).isoformat()
            )


def test_star_instructions_and_drafts_are_not_turns(star_frames):
    texts = star_frames[1]["text"].drop_nulls().to_list()
    assert texts
    assert not any("[instruction " in t for t in texts)  # every UserGuide text ends so
    assert not any(t.startswith("In this dialogue, either act confused") for t in texts)
    assert "What is your name? " not in texts  # a request_suggestions draft of line 1


def test_star_conversation_fields(star_frames):
    conversations = star_frames[0]
    first = conversations.row(0, named=True)
    assert first["started_at"] == "2020-05-13T13:14:24+00:00"  # the earliest UnixTime
    assert first["channel"] == "chat"
    assert first["agent_id"] == STAR_LINES[0]["AnonymizedWizardWorkerID"]
    for row, dialogue in zip(conversations.iter_rows(named=True), STAR_LINES, strict=True):
        level = dialogue["CompletionLevel"]
        assert row["outcome"] == ("resolved" if level == "Complete" else "abandoned")
        meta = json.loads(row["metadata"])
        assert meta["completion_level"] == level
        assert meta["happy"] is dialogue["Scenario"]["Happy"]
    assert set(conversations["outcome"]) == {"resolved", "abandoned"}


def _ground_truth():
    labels = {e["ActionLabel"] for d in STAR_LINES for e in d["Events"] if e.get("ActionLabel")}
    tasks = {c["Task"] for d in STAR_LINES for c in d["Scenario"]["WizardCapabilities"]}
    user_tasks = {d["Scenario"]["UserTask"] for d in STAR_LINES}
    return labels, tasks, user_tasks


def test_star_ground_truth_stays_out_of_turns_and_metadata(star_frames):
    conversations, turns, rejects = star_frames
    labels, tasks, user_tasks = _ground_truth()
    assert len(labels) > 10 and tasks
    cells = (
        conversations.drop("raw").cast(pl.String).fill_null("").rows()
        + turns.cast(pl.String).fill_null("").rows()
        + rejects.fill_null("").rows()
    )
    blob = "\n".join("\t".join(row) for row in cells)
    named = {label for label in labels if "_" in label}  # "hello" is a label and a greeting
    for word in ("ActionLabel", "Scenario", "UserTask", "WizardTask", *named, *user_tasks):
        assert word not in blob
    metadata = "\n".join(conversations["metadata"])
    assert not any(task in metadata for task in tasks)
    assert not any(task in text for task in tasks for text in turns["text"].drop_nulls())


def test_star_raw_holds_no_ground_truth(star_frames):
    labels, _, user_tasks = _ground_truth()
    named = {label for label in labels if "_" in label}  # "hello" is a label and a greeting
    for raw in star_frames[0]["raw"]:
        assert "ActionLabel" not in raw and "Scenario" not in raw
        assert not any(t in raw for t in (*named, *user_tasks))


def test_star_labels_point_at_picked_agent_turns():
    n_labels = 0
    for dialogue in STAR_LINES:
        record, labels = dialogue_to_record(dialogue)
        picks = [
            e
            for e in dialogue["Events"]
            if e["Agent"] == "Wizard" and e["Action"] == "pick_suggestion" and e.get("ActionLabel")
        ]
        assert list(labels.values()) == [e["ActionLabel"] for e in picks]
        assert sorted(labels) == list(labels)
        for position, event in zip(labels, picks, strict=True):
            turn = record["turns"][position]
            assert (turn["speaker"], turn["text"]) == ("agent", event["Text"])
        assert "ActionLabel" not in json.dumps(record)
        n_labels += len(labels)
    assert n_labels > 50


def kb_result(item=None, total=-1):
    """A STAR KnowledgeBase result event (no ``Item`` when ``item`` is None)."""
    event = {"Agent": "KnowledgeBase", "Action": "return_item", "APIName": "bank_fraud_report"}
    return event | ({"TotalItems": 0} if item is None else {"Item": item, "TotalItems": total})


REFUSED = (
    "You must provide either AccountNumber/FullName/PIN or FullName/DateOfBirth/SecurityAnswer"
)


@pytest.mark.parametrize(
    ("event", "kind", "status"),
    [
        (kb_result(), "empty", "failed"),  # nothing found for a search
        (kb_result({"Name": "x"}, total=0), "empty", "failed"),
        (kb_result({"Message": REFUSED}), "error", "failed"),  # authentication refused
        (kb_result({"Message": "Reservation Failed"}), "error", "failed"),
        (kb_result({"RequestStatus": "Request Failed"}), "error", "failed"),
        (kb_result({"ChangeStatus": "We are unable to change your trip."}), "error", "failed"),
        # the call worked; the flowchart has a branch for what it found
        (kb_result({"Message": "Unavailable"}), "unavailable", "ok"),
        (kb_result({"Message": "The doctor has a conflicting appointment at that time."}),
         "unavailable", "ok"),
        (kb_result({"Message": "The venue is too small for your party. Try another venue."}),
         "unavailable", "ok"),
        (kb_result({"Message": "The venue is booked at that time. Try another meeting time."}),
         "unavailable", "ok"),
        (kb_result({"Confirmation": "Fraud report submitted successfully."}), "success", "ok"),
        (kb_result({"Message": "Available"}), "success", "ok"),
        (kb_result({"Name": "Hotel Ritz", "Price": 120}, total=3), "success", "ok"),  # a search
        # the first status key counts: Message before RequestStatus
        (kb_result({"Message": "Request received", "RequestStatus": "Request Failed"}),
         "success", "ok"),
    ],
)  # fmt: skip
def test_star_a_knowledge_base_result_says_whether_the_call_failed(event, kind, status):
    assert result_kind(event) == kind
    record, _ = dialogue_to_record({"DialogueID": 7, "Events": [event]})
    (turn,) = record["turns"]
    assert (turn["action"], turn["status"]) == ("bank_fraud_report.result", status)


def test_star_only_knowledge_base_results_carry_a_status():
    query = {"Agent": "Wizard", "Action": "query", "APIName": "bank_fraud_report",
             "Constraints": [{"FullName": "x"}]}  # fmt: skip
    user = {"Agent": "User", "Action": "utter", "Text": "hi"}
    record, _ = dialogue_to_record({"DialogueID": 7, "Events": [user, query, kb_result()]})
    assert [turn.get("status") for turn in record["turns"]] == [None, None, "failed"]


def test_star_the_content_hash_covers_the_result_status(tmp_path):
    dialogue = {"DialogueID": 7, "Events": [kb_result({"Message": "Reservation Failed"})]}
    path = write_lines(tmp_path / "s.jsonl", [dialogue])
    conversations, _, _ = read_all(read_star(path, batch_size=10))
    record, _ = dialogue_to_record(dialogue)
    assert conversations["content_hash"][0] == canonical_hash(record)
    record["turns"][0]["status"] = "ok"
    assert canonical_hash(record) != conversations["content_hash"][0]


def test_star_excerpt_statuses_follow_result_kind():
    kinds = [
        result_kind(e) for d in STAR_LINES for e in d["Events"] if e["Agent"] == "KnowledgeBase"
    ]
    statuses = [
        t["status"]
        for d in STAR_LINES
        for t in dialogue_to_record(d)[0]["turns"]
        if t.get("status")
    ]
    assert statuses == ["failed" if k in ("empty", "error") else "ok" for k in kinds]
    assert "failed" in statuses and "ok" in statuses
