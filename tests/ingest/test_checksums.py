"""Check digits: Luhn for cards, mod-97 for IBANs."""

import pytest

from pipeline.ingest.checksums import iban_valid, luhn_valid


@pytest.mark.parametrize(
    ("digits", "expected"),
    [
        ("4111111111111111", True),
        ("4111 1111 1111 1111", True),
        ("4111-1111-1111-1111", True),
        ("378282246310005", True),
        ("4539148803436467", True),
        ("6011111111111117", True),
        ("4111111111111112", False),
        ("411111111111", False),  # 12 digits: too short
        ("41111111111111111111", False),  # 20 digits: too long
        ("4111a11111111111", False),
        ("", False),
    ],
)
def test_luhn_valid(digits: str, expected: bool) -> None:
    assert luhn_valid(digits) is expected


@pytest.mark.parametrize(
    ("candidate", "expected"),
    [
        ("DE89370400440532013000", True),
        ("DE89 3704 0044 0532 0130 00", True),
        ("de89 3704 0044 0532 0130 00", True),
        ("GB82WEST12345698765432", True),
        ("GB82 WEST 1234 5698 7654 32", True),
        ("NO9386011117947", True),
        ("DE88370400440532013000", False),  # wrong check digits
        ("DE8937040044053201300", False),  # too short for DE
        ("XX89370400440532013000", False),  # unknown country
        ("GB82WEST1234569876543!", False),
        ("", False),
    ],
)
def test_iban_valid(candidate: str, expected: bool) -> None:
    assert iban_valid(candidate) is expected
