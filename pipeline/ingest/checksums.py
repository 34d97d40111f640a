"""Check digits of payment identifiers: Luhn for cards, ISO 13616 mod-97 for IBANs."""

from __future__ import annotations

import re
from types import MappingProxyType

#: IBAN length per country (ISO 13616 registry).
IBAN_LENGTHS: MappingProxyType[str, int] = MappingProxyType(
    {
        entry[:2]: int(entry[2:])
        for entry in (
            "AD24 AE23 AL28 AT20 AZ28 BA20 BE16 BG22 BH22 BR29 BY28 CH21 CR22 CY28 CZ24 DE22 "
            "DK18 DO28 EE20 EG29 ES24 FI18 FO18 FR27 GB22 GE22 GI23 GL18 GR27 GT28 HR21 HU28 "
            "IE22 IL23 IQ23 IS26 IT27 JO30 KW30 KZ20 LB28 LC32 LI21 LT20 LU20 LV21 MC27 MD24 "
            "ME22 MK19 MR27 MT31 MU30 NL18 NO15 PK24 PL28 PS29 PT25 QA29 RO24 RS22 SA24 SC31 "
            "SE24 SI19 SK24 SM27 ST25 SV28 TL23 TN24 TR26 UA29 VA22 VG24 XK20"
        ).split()
    }
)


def luhn_valid(digits: str) -> bool:
    """Check a card number with the Luhn algorithm.

    Parameters
    ----------
    digits : str
        Card number; spaces and dashes are ignored, any other non-digit fails.

    Returns
    -------
    bool
        True when the number has 13-19 digits and its Luhn checksum is 0.
    """
    clean = digits.replace(" ", "").replace("-", "")
    if not (13 <= len(clean) <= 19) or not clean.isascii() or not clean.isdigit():
        return False
    total = 0
    for i, ch in enumerate(reversed(clean)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    """Check an IBAN with the ISO 13616 mod-97 rule.

    Parameters
    ----------
    candidate : str
        IBAN, upper or lower case, optionally with single spaces between groups.

    Returns
    -------
    bool
        True when the shape and the country's length are right and the number
        modulo 97 equals 1.
    """
    clean = candidate.replace(" ", "").upper()
    if not re.fullmatch(r"[A-Z]{2}\d{2}[A-Z0-9]{11,30}", clean):
        return False
    if IBAN_LENGTHS.get(clean[:2]) != len(clean):
        return False
    rearranged = clean[4:] + clean[:4]
    return int("".join(str(int(ch, 36)) for ch in rearranged)) % 97 == 1
