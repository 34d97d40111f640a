"""Format detection and dispatch (``pipeline.ingest.adapters.registry``)."""

import gzip
from pathlib import Path

import polars as pl
import pytest
from ingest.adapters.test_table import CSV
from ingest.adapters_cases import ABCD, BANKING77, MULTIDOGO, STAR

from pipeline.config import FORMATS, IngestConfig
from pipeline.errors import InputError
from pipeline.ingest import detect_format, read_raw
from pipeline.ingest.adapters.registry import ADAPTERS, FALLBACK


def _write_input(path, kind):
    if kind == "parquet":
        pl.read_csv(CSV.encode()).write_parquet(path)
        return path
    data = {
        "canonical": b'{"conversation_id": "c1", "turns": []}\n',
        "csv": CSV.encode(),
        "star": STAR.read_bytes(),
        "abcd": ABCD.read_bytes(),
        "banking77": BANKING77.read_bytes(),
        "text_category_extra": b"text,category,extra\nhi,card_arrival,x\n",
        "multidogo": MULTIDOGO.read_bytes(),
        "multidogo_bom": b"\xef\xbb\xbf" + MULTIDOGO.read_bytes(),
        "multidogo_extra": MULTIDOGO.read_bytes().replace(b"intent\n", b"intent\tnote\n", 1),
    }[kind]
    path.write_bytes(gzip.compress(data) if path.suffix == ".gz" else data)
    return path


@pytest.mark.parametrize(
    ("name", "kind", "expected"),
    [
        ("a.jsonl", "canonical", "jsonl"),
        ("a.jsonl.gz", "canonical", "jsonl"),
        ("dialogues.jsonl", "star", "star"),
        ("abcd.json", "abcd", "abcd"),
        ("t.csv", "csv", "csv"),
        ("t.csv.gz", "csv", "csv"),
        ("t.parquet", "parquet", "parquet"),
        ("test.csv", "banking77", "banking77"),
        ("train.CSV.gz", "banking77", "banking77"),
        ("t.csv", "text_category_extra", "csv"),
        ("t.tsv", "banking77", "csv"),
        ("dev.tsv", "multidogo", "multidogo"),
        ("dev.TSV.gz", "multidogo", "multidogo"),
        ("dev.tsv", "multidogo_bom", "multidogo"),
        ("dev.tsv", "multidogo_extra", "csv"),
        ("dev.csv", "multidogo", "csv"),
        ("t.tsv", "csv", "csv"),
    ],
)
def test_detect_format(tmp_path, name, kind, expected):
    assert detect_format(_write_input(tmp_path / name, kind)) == expected


def test_the_registry_names_exactly_the_configurable_formats():
    names = [adapter.name for adapter in ADAPTERS]
    assert sorted(names) == sorted(f for f in FORMATS if f != "auto")
    assert FALLBACK in names


@pytest.mark.parametrize(
    ("name", "data", "expected"),
    [
        # a canonical record wins over ABCD keys later in the file
        ("a.jsonl", b'{"conversation_id": "c1", "convo_id": 1, "original": []}\n', "jsonl"),
        # a pretty-printed ABCD document: its first line is not a record
        ("a.json", b'{\n  "train": [{"convo_id": 1, "original": []}]\n}\n', "abcd"),
        ("a.json", b"", "jsonl"),
        ("a.json", b'[{"id": 1}]\n', "jsonl"),
        ("a.txt", b"not json at all\n", "jsonl"),
        # a truncated gzip cannot be sniffed: the JSONL reader reports it
        ("a.jsonl.gz", gzip.compress(STAR.read_bytes())[:40], "jsonl"),
    ],
)
def test_detect_format_of_documents(tmp_path, name, data, expected):
    path = tmp_path / name
    path.write_bytes(data)
    assert detect_format(path) == expected


@pytest.mark.parametrize("name", ["t.csv", "t.tsv", "a.jsonl"])
def test_detecting_a_missing_file_is_an_input_error(tmp_path, name):
    with pytest.raises(InputError, match=rf"{name}: cannot open"):
        detect_format(tmp_path / name)


def test_parquet_is_told_by_its_name_alone(tmp_path):
    path = tmp_path / "missing.parquet"  # no I/O: a missing file is still parquet
    assert detect_format(path) == "parquet"


def test_read_raw_rejects_an_unknown_format(tmp_path):
    expected = f"{tmp_path / 'a.x'}: unknown format 'xml'; expected {'/'.join(FORMATS)}"
    with pytest.raises(InputError) as exc:
        read_raw(tmp_path / "a.x", fmt="xml", config=IngestConfig())
    assert str(exc.value) == expected


@pytest.mark.parametrize(("kind", "fmt"), [("canonical", "jsonl"), ("csv", "csv")])
def test_read_raw_auto_reads_what_detection_names(tmp_path, kind, fmt):
    path = _write_input(tmp_path / f"a.{'csv' if kind == 'csv' else 'jsonl'}", kind)
    auto = list(read_raw(path, fmt="auto", config=IngestConfig()))
    named = list(read_raw(path, fmt=fmt, config=IngestConfig()))
    assert len(auto) == len(named) == 1
    assert auto[0].conversations.equals(named[0].conversations)
    assert auto[0].turns.equals(named[0].turns)
    assert auto[0].conversations.height > 0


PLATFORM = Path(__file__).resolve().parents[2] / "fixtures" / "platform"
PLATFORM_FILES = {  # every platform fixture, and the format --format auto must pick
    **{f"vcon/{p.name}": "vcon" for p in sorted((PLATFORM / "vcon").glob("*.vcon*"))},
    "amazon/transcribe-call-analytics-example-call.json": "amazon",
    "amazon/contact-lens-voice-example.json": "amazon",
    "amazon/contact-lens-chat-raw.json": "amazon",
    "amazon/contact-lens-chat-redacted.json": "amazon",
    "amazon/post-call-analytics-testfile.json": "aws-pca",
    **{f"ccai/{p.name}": "ccai" for p in sorted((PLATFORM / "ccai").glob("*.json"))},
    **{f"genesys/{p.name}": "genesys" for p in sorted((PLATFORM / "genesys").glob("*.json"))},
}


@pytest.mark.parametrize(("name", "fmt"), sorted(PLATFORM_FILES.items()))
def test_auto_detection_picks_each_platform_fixtures_format(name, fmt):
    assert detect_format(PLATFORM / name) == fmt


def test_every_platform_fixture_is_listed():
    found = {str(p.relative_to(PLATFORM)) for p in PLATFORM.glob("*/*")
             if p.suffix in (".json", ".vcon") and not p.name.startswith("make_")}  # fmt: skip
    assert found == set(PLATFORM_FILES)
    assert len(found) == 16
