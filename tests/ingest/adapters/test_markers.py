"""Platform redaction markers read as cxminer's placeholders, never un-redacted."""

from __future__ import annotations

import pytest

from pipeline.ingest.adapters.markers import UNTYPED, map_markers


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is [NAME]", "my name is <NAME>"),
        ("call me on [PHONE_NUMBER]", "call me on <PHONE>"),
        ("[Person Name] here", "<NAME> here"),
        ("card [CREDIT_DEBIT_NUMBER], pin [PIN]", "card <CARD>, pin <ID>"),
        ("it is [PII] and [REDACTED]", f"it is {UNTYPED} and {UNTYPED}"),
        ("ending ****1234", f"ending {UNTYPED}1234"),
    ],
)
def test_markers_become_typed_placeholders(text, expected):
    assert map_markers(text) == expected


def test_other_brackets_and_text_are_kept():
    text = "[laughs] yes [inaudible] 2 * 3, no [PII"
    assert map_markers(text) == text
