"""ABCD conversations (``pipeline.ingest.adapters.abcd``)."""

import json

import polars as pl
import pytest
from ingest.adapters_cases import ABCD, ABCD_ITEMS, read_all, write_lines

from pipeline.errors import InputError
from pipeline.ingest.adapters.abcd import read_abcd


def test_abcd_sample_conversations_and_actions():
    batches = list(read_abcd(ABCD, batch_size=2))
    assert [b.conversations.height for b in batches] == [2, 1]
    conversations, turns, rejects = read_all(batches[:1])
    assert conversations.select("conversation_id", "locator").rows() == [
        ("abcd-3592", "item 0"),
        ("abcd-9489", "item 1"),
    ]
    assert batches[1].conversations.row(0)[:3] == (0, "item 2", "abcd-3695")
    assert rejects.is_empty()
    assert turns.height == sum(len(item["original"]) for item in ABCD_ITEMS[:2])
    assert set(turns["speaker"]) == {"agent", "customer"}
    first = turns.filter(pl.col("rec") == 0, pl.col("event_type") == "action")
    assert first["action"].to_list() == [
        "pull-up-account",
        "validate-purchase",
        "enter-details",
        "notify-team",
    ]
    assert json.loads(first["args"][0]) == {"values": ["crystal minh"]}
    assert first["text"][0] == "Account has been pulled up for Crystal Minh."
    assert set(first["speaker"]) == {"agent"}


def test_abcd_scenario_is_not_stored():
    conversations, _, _ = read_all(read_abcd(ABCD, batch_size=10))
    for row, item in zip(conversations.iter_rows(named=True), ABCD_ITEMS, strict=True):
        assert json.loads(row["metadata"]) == {"dataset": "abcd"}
        assert set(json.loads(row["raw"])) == {"convo_id", "original"}
        scenario = item["scenario"]
        secrets = [
            *scenario["personal"].values(),
            *scenario["order"].values(),
            scenario["flow"],
            scenario["subflow"],
        ]
        spoken = " ".join(text for _, text in item["original"]).lower()
        unspoken = [v for v in map(str, secrets) if v.lower() not in spoken]
        assert len(unspoken) >= 5  # what the customer typed is transcript text, kept in raw
        for value in map(str, secrets):
            assert value not in row["metadata"]
        for value in unspoken:
            assert value.lower() not in row["raw"].lower(), value


def test_abcd_split_document_and_bad_items(tmp_path):
    path = write_lines(
        tmp_path / "splits.json",
        [{"train": ABCD_ITEMS[:2], "dev": [ABCD_ITEMS[2], {"convo_id": 7}]}],
    )
    conversations, _, rejects = read_all(read_abcd(path, batch_size=10))
    assert conversations["locator"].to_list() == ["train[0]", "train[1]", "dev[0]"]
    assert rejects.select("locator", "reason").rows() == [("dev[1]", "bad_type")]


def test_abcd_non_json_file_is_an_input_error(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("conversation_id,speaker\nc1,agent\n")
    with pytest.raises(InputError, match="not valid JSON"):
        list(read_abcd(path, batch_size=10))
