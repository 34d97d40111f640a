"""JSON texts keep their shape: values are redacted against their keys, keys stay."""

import json

import polars as pl

from pipeline.ingest.json_values import redact_json_texts
from pipeline.ingest.redact import PII_TYPES


def redact(*texts: str | None) -> list[str | None]:
    return redact_json_texts(
        pl.Series("j", list(texts), dtype=pl.String), types=PII_TYPES
    ).to_list()


def test_values_are_read_against_their_keys_and_the_document_stays_valid() -> None:
    text = json.dumps(
        {
            "customer_name": "Priya Raman",
            "order": 3348917502,
            "amount": 45.99,
            "region": "emea",
            "item": {"APIName": "ride_book", "contact": ["jane@example.com"]},
        }
    )
    out = json.loads(redact(text)[0])
    assert out == {
        "customer_name": "<NAME>",
        "order": "<ID>",
        "amount": 45.99,
        "region": "emea",
        "item": {"APIName": "ride_book", "contact": ["<EMAIL>"]},
    }


def test_untouched_documents_keep_their_text_and_nulls_stay() -> None:
    text = '{"n": 2,  "note": "all good"}'
    assert redact(text, None) == [text, None]


def test_a_text_that_is_not_json_is_redacted_as_text() -> None:
    assert redact("my name is Priya Raman") == ["my name is <NAME>"]
