import json
import subprocess
import sys
from collections import Counter
from pathlib import Path

import polars as pl
import pytest

from pipeline.ingest.checksums import iban_valid, luhn_valid
from pipeline.ingest.redact import (
    PII_TYPES,
    PLACEHOLDERS,
    SHAPE_TYPES,
    hash_identifiers,
    redact_text,
    redact_texts,
)

FIXTURE = Path(__file__).parents[1] / "fixtures" / "redaction_cases.jsonl"
CASES = [json.loads(line) for line in FIXTURE.read_text(encoding="utf-8").splitlines()]
CASE_IDS = [f"case{i:03d}" for i in range(len(CASES))]


@pytest.fixture(scope="module")
def redacted_cases() -> tuple[list[str], pl.DataFrame]:
    """The fixture through the shape types only: the cases plant shapes and their look-alikes."""
    series = pl.Series("text", [case["text"] for case in CASES])
    out, counts = redact_texts(series, types=SHAPE_TYPES)
    return out.to_list(), counts


@pytest.fixture(scope="module")
def fully_redacted_cases() -> list[str]:
    """The fixture through every type (the word rules run after the shapes)."""
    series = pl.Series("text", [case["text"] for case in CASES])
    return redact_texts(series)[0].to_list()


# --- the committed test set ------------------------------------------------------------


def test_fixture_size_and_coverage() -> None:
    planted = Counter(item["type"] for case in CASES for item in case["pii"])
    assert sum(planted.values()) >= 200
    assert set(planted) == set(SHAPE_TYPES)
    assert min(planted.values()) >= 20
    assert sum(len(case["keep"]) for case in CASES) >= 50


def test_fixture_is_reproduced_by_generator() -> None:
    script = FIXTURE.with_name("make_redaction_cases.py")
    result = subprocess.run([sys.executable, str(script), "--check"], check=False)
    assert result.returncode == 0


def test_fixture_card_and_iban_values_are_checksum_valid() -> None:
    values = [(item["type"], item["value"]) for case in CASES for item in case["pii"]]
    assert all(luhn_valid(v) for t, v in values if t == "card")
    assert all(iban_valid(v) for t, v in values if t == "iban")


@pytest.mark.parametrize("index", range(len(CASES)), ids=CASE_IDS)
def test_planted_pii_is_removed_and_labelled(
    index: int, redacted_cases, fully_redacted_cases
) -> None:
    for out in (redacted_cases[0][index], fully_redacted_cases[index]):
        for item in CASES[index]["pii"]:
            assert item["value"] not in out
            assert PLACEHOLDERS[item["type"]] in out


@pytest.mark.parametrize("index", range(len(CASES)), ids=CASE_IDS)
def test_lookalikes_survive_verbatim(index: int, redacted_cases) -> None:
    out = redacted_cases[0][index]
    assert all(keep in out for keep in CASES[index]["keep"])
    if not CASES[index]["pii"]:
        assert out == CASES[index]["text"]


@pytest.mark.parametrize("index", range(len(CASES)), ids=CASE_IDS)
def test_counts_equal_planted_counts(index: int, redacted_cases) -> None:
    planted = Counter(item["type"] for item in CASES[index]["pii"])
    row = redacted_cases[1].row(index, named=True)
    assert row == {t: planted.get(t, 0) for t in SHAPE_TYPES}


def test_vectorised_equals_one_by_one(fully_redacted_cases) -> None:
    assert [redact_text(case["text"]) for case in CASES] == fully_redacted_cases


# --- tiny exact examples ---------------------------------------------------------------

EXACT = [
    (
        "sure, my card is 4539 1488 0343 6467 and the email is jane.doe+shop@example.co.uk",
        "sure, my card is <CARD> and the email is <EMAIL>",
    ),
    ("card 4111-1111-1111-1111 or amex 378282246310005", "card <CARD> or amex <CARD>"),
    ("card 4111 1111 1111 1111 12 items", "card <CARD> 12 items"),
    ("call (977) 625-2661 or 977.625.2661", "call <PHONE> or <PHONE>"),
    ("977-625-2661, 977 625 2661, +1 977 625 2661", "<PHONE>, <PHONE>, <PHONE>"),
    ("toll free 1-800-555-0199.", "toll free <PHONE>."),
    ("+44 20 7946 0958 / +49 30 1234567", "<PHONE> / <PHONE>"),
    ("+33 1 23 45 67 89 or +91 98765 43210", "<PHONE> or <PHONE>"),
    ("call me at 9776252661 please", "call me at <PHONE> please"),
    ("my cell number is 9776252661", "my cell number is <PHONE>"),
    ("IBAN DE89 3704 0044 0532 0130 00 thanks", "IBAN <IBAN> thanks"),
    ("GB82WEST12345698765432", "<IBAN>"),
    ("lower de89 3704 0044 0532 0130 00 too", "lower <IBAN> too"),
    ("ssn 123-45-6789 and 123 45 6789", "ssn <SSN> and <SSN>"),
    ("my social security number is 123456789", "my social security number is <SSN>"),
    ("from 192.168.0.1 and 255.255.255.255", "from <IP> and <IP>"),
    ("v6 2001:0db8:85a3:0000:0000:8a2e:0370:7334 or fe80::1", "v6 <IP> or <IP>"),
    ("my date of birth is 03/15/1985", "my date of birth is <DOB>"),
    ("DOB: 3/5/85, D.O.B. 15.03.1985", "DOB: <DOB>, D.O.B. <DOB>"),
    ("born on March 15, 1985", "born on <DOB>"),
    ("I was born 15 March 1985", "I was born <DOB>"),
    ("birthday Mar 15 1985, birth date 1985-03-15", "birthday <DOB>, birth date <DOB>"),
    ("date of birth, it's 03/15/1985", "date of birth, it's <DOB>"),
    ("my DOB is the 15th of March, 1985", "my DOB is the <DOB>"),
    ("mail 977.625.2661@example.com", "mail <EMAIL>"),
    ("IBAN BE68 5390 0754 7034 from my bank", "IBAN <IBAN> from my bank"),
]


@pytest.mark.parametrize(("text", "expected"), EXACT)
def test_exact_redaction(text: str, expected: str) -> None:
    assert redact_text(text, types=SHAPE_TYPES) == expected


LOOKALIKES = [
    "order #A12-99812",
    "order 3348917502",
    "ORD-2026-000123",
    "$1,234.56",
    "USD 250",
    "1,299.00 EUR",
    "delivered on 2026-03-01 at 10:30 am",
    "delivered on 03/15/2026",
    "since March 2",
    "tracking 1Z999AA10123456784",
    "TBA123456789000",
    "ticket 4521",
    "ref 88-123-44",
    "upgrade to v2.3.1",
    "card 4111 1111 1111 1112",
    "4111111111111112",
    "IBAN DE88 3704 0044 0532 0130 00",
    "GB83WEST12345698765432",
    "12.5% off",
    "3 x 250 ml",
    "256.1.1.1",
    "10:30:45",
    "born in 1985",
    "the birthday gift arrived 03/15/2026",
    "phone order 12 items",
    "",
]


@pytest.mark.parametrize("text", LOOKALIKES)
def test_lookalike_unchanged(text: str) -> None:
    assert redact_text(text, types=SHAPE_TYPES) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Identifiers a customer gives are ids: never a card, a phone or a name.
        ("order #A12-99812", "order #<ID>"),
        ("order 3348917502", "order <ID>"),
        ("card 4111 1111 1111 1112", "card <CARD>"),
        ("ticket 4521", "ticket <ID>"),
        ("ref 88-123-44", "ref <ID>"),
        ("tracking 1Z999AA10123456784", "tracking <ID>"),
        # Amounts, dates, times, versions, quantities and years stay.
        ("$1,234.56", "$1,234.56"),
        ("USD 250", "USD 250"),
        ("1,299.00 EUR", "1,299.00 EUR"),
        ("delivered on 2026-03-01 at 10:30 am", "delivered on 2026-03-01 at 10:30 am"),
        ("delivered on 03/15/2026", "delivered on 03/15/2026"),
        ("upgrade to v2.3.1", "upgrade to v2.3.1"),
        ("12.5% off", "12.5% off"),
        ("3 x 250 ml", "3 x 250 ml"),
        ("10:30:45", "10:30:45"),
        ("born in 1985", "born in 1985"),
        ("phone order 12 items", "phone order 12 items"),
    ],
)
def test_lookalikes_with_every_type(text: str, expected: str) -> None:
    assert redact_text(text) == expected


def test_non_ascii_text() -> None:
    text = "café “ok” — e-mail: josé.p@example.com, tél 977-625-2661 😀"
    assert redact_text(text) == "café “ok” — e-mail: <EMAIL>, tél <PHONE> 😀"


# --- series behaviour ------------------------------------------------------------------


def test_nulls_stay_null_with_zero_counts() -> None:
    series = pl.Series("utterance", [None, "call 977-625-2661", None, "hello"])
    out, counts = redact_texts(series)
    assert out.to_list() == [None, "call <PHONE>", None, "hello"]
    assert counts["phone"].to_list() == [0, 1, 0, 0]
    assert counts.null_count().row(0) == (0,) * len(PII_TYPES)


def test_output_shape_name_and_dtypes() -> None:
    series = pl.Series("utterance", ["a@b.io", "no pii", "x@y.org and z@w.net"])
    out, counts = redact_texts(series)
    assert out.name == "utterance"
    assert out.len() == 3
    assert counts.columns == list(PII_TYPES)
    assert counts.height == 3
    assert all(dtype == pl.Int32 for dtype in counts.dtypes)
    assert counts["email"].to_list() == [1, 0, 2]


def test_input_series_not_modified() -> None:
    values = ["my card is 4111 1111 1111 1111", None, "mail a@b.io"]
    series = pl.Series("t", values)
    redact_texts(series)
    assert series.to_list() == values


def test_empty_series() -> None:
    out, counts = redact_texts(pl.Series("t", [], dtype=pl.String))
    assert out.len() == 0
    assert counts.shape == (0, len(PII_TYPES))


def test_existing_placeholders_are_not_counted() -> None:
    out, counts = redact_texts(pl.Series(["already <EMAIL> and new a@b.io"]))
    assert out[0] == "already <EMAIL> and new <EMAIL>"
    assert counts["email"][0] == 1


def test_types_subset() -> None:
    text = "mail a@b.io, call 977-625-2661, card 4111 1111 1111 1111"
    out, counts = redact_texts(pl.Series([text]), types=["phone", "email"])
    assert out[0] == "mail <EMAIL>, call <PHONE>, card 4111 1111 1111 1111"
    assert counts.columns == ["phone", "email"]
    assert counts.row(0) == (1, 1)


def test_card_without_iban_and_iban_without_card() -> None:
    text = "card 4111 1111 1111 1111 iban GB82WEST12345698765432"
    assert redact_text(text, types=["card"]) == "card <CARD> iban GB82WEST12345698765432"
    assert redact_text(text, types=["iban"]) == "card 4111 1111 1111 1111 iban <IBAN>"


def test_single_type_name_as_string() -> None:
    assert redact_text("a@b.io 977-625-2661", types="email") == "<EMAIL> 977-625-2661"


@pytest.mark.parametrize("types", [["email", "passport"], ["Email"]])
def test_unknown_type_raises(types: list[str]) -> None:
    with pytest.raises(ValueError, match="unknown PII type") as excinfo:
        redact_texts(pl.Series(["x"]), types=types)
    assert "accepted types are email, phone" in str(excinfo.value)


def test_empty_types_redacts_nothing() -> None:
    series = pl.Series("t", ["a@b.io", None])
    out, counts = redact_texts(series, types=[])
    assert out.to_list() == ["a@b.io", None]
    assert counts.shape == (2, 0)


def test_all_null_series_of_null_dtype() -> None:
    out, counts = redact_texts(pl.Series("t", [None, None]))
    assert out.dtype == pl.String
    assert out.to_list() == [None, None]
    assert counts.sum().row(0) == (0,) * len(PII_TYPES)


def test_non_string_series_raises() -> None:
    with pytest.raises(TypeError, match="String"):
        redact_texts(pl.Series([1, 2]))


# --- checksums -------------------------------------------------------------------------


# --- hashing ---------------------------------------------------------------------------


def test_hash_identifiers_deterministic_and_hex() -> None:
    ids = pl.Series("customer_id", ["C-1001", "C-1002", "C-1001"])
    first = hash_identifiers(ids, key=b"k1")
    second = hash_identifiers(ids, key=b"k1")
    assert first.to_list() == second.to_list()
    assert first.name == "customer_id"
    assert first[0] == first[2] != first[1]
    assert all(len(h) == 16 and int(h, 16) >= 0 for h in first)


def test_hash_identifiers_known_value() -> None:
    import hashlib
    import hmac

    expected = hmac.new(b"secret", b"C-1001", hashlib.sha256).hexdigest()[:16]
    assert hash_identifiers(pl.Series(["C-1001"]), key=b"secret").to_list() == [expected]


def test_hash_identifiers_is_keyed() -> None:
    ids = pl.Series(["C-1001", "C-1002"])
    a = hash_identifiers(ids, key=b"k1").to_list()
    b = hash_identifiers(ids, key=b"k2").to_list()
    assert all(x != y for x, y in zip(a, b, strict=True))


def test_hash_identifiers_nulls_and_no_raw_id() -> None:
    ids = pl.Series(["1001", None, "agent-7"])
    out = hash_identifiers(ids, key=b"k")
    assert out[1] is None
    assert out.null_count() == 1
    assert all(raw not in h for raw, h in zip(["1001", "agent-7"], [out[0], out[2]], strict=True))
    assert ids.to_list() == ["1001", None, "agent-7"]


def test_hash_identifiers_integer_ids() -> None:
    as_int = hash_identifiers(pl.Series([7, None]), key=b"k")
    as_str = hash_identifiers(pl.Series(["7", None]), key=b"k")
    assert as_int.to_list() == as_str.to_list()
