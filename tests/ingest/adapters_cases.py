"""Builders shared by the ingest tests (they were in ``test_adapters.py``)."""

import csv
import json
from pathlib import Path

import orjson
import polars as pl
from conftest import HASH_KEY

from pipeline.config import IngestConfig
from pipeline.ingest import IngestBatch, read_source

FIXTURES = Path(__file__).parents[1] / "fixtures"
STAR = FIXTURES / "star_excerpt.jsonl"
ABCD = FIXTURES / "abcd_sample.json"
BANKING77 = FIXTURES / "banking77_excerpt.csv"
MULTIDOGO = FIXTURES / "multidogo_sample.tsv"
STAR_LINES = [json.loads(line) for line in STAR.read_text().splitlines()]
ABCD_ITEMS = json.loads(ABCD.read_text())
BANKING77_ROWS = list(csv.reader(BANKING77.read_text(encoding="utf-8").splitlines(True)))[1:]
MULTIDOGO_ROWS = list(
    csv.reader(MULTIDOGO.read_text(encoding="utf-8").splitlines(True), delimiter="\t")
)[1:]


def read_all(batches):
    batches = list(batches)
    assert batches, "the reader yielded no batch"
    return tuple(
        pl.concat([getattr(b, n) for b in batches]) for n in ("conversations", "turns", "rejects")
    )


def ingest_file(path, *, fmt, **config) -> IngestBatch:
    """Read, validate and redact one file as ingest does (quarantine included)."""
    batches = list(
        read_source(
            path, source_id="src", fmt=fmt, config=IngestConfig(**config), hash_key=HASH_KEY
        )
    )
    return IngestBatch(
        *(
            pl.concat([getattr(b, name) for b in batches])
            for name in ("conversations", "turns", "redactions", "quarantine")
        )
    )


def conv(cid, *texts, **fields):
    speakers = ("customer", "agent")
    turns = [{"speaker": speakers[i % 2], "text": t} for i, t in enumerate(texts)]
    return {"conversation_id": cid, **fields, "turns": turns}


def write_lines(path, lines):
    path.write_bytes(
        b"".join((x if isinstance(x, bytes) else orjson.dumps(x)) + b"\n" for x in lines)
    )
    return path


def texts_by_conv(conversations, turns):
    """{conversation_id: [turn texts in turn_idx order]} for one batch's frames."""
    joined = turns.join(conversations.select("rec", "conversation_id"), on="rec")
    grouped = joined.sort("rec", "turn_idx").group_by("conversation_id", maintain_order=True)
    return {row["conversation_id"]: row["text"] for row in grouped.agg("text").to_dicts()}
