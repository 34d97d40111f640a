"""Platform redaction markers mapped onto cxminer's typed placeholders.

Contact-centre platforms redact personal data before export and leave a marker in the
text: Amazon Transcribe and Contact Lens write ``[PII]`` (or the entity type, such as
``[NAME]``), Google CCAI Insights ``[PERSON_NAME]``, others ``[REDACTED]`` or ``****``.
:func:`map_markers` rewrites each marker as the placeholder cxminer's own redaction writes
(``<NAME>``, ``<EMAIL>``, ... of :data:`pipeline.ingest.redact.PLACEHOLDERS`), so every
stage reads a platform's redaction like ours; a marker that says no type becomes
:data:`UNTYPED` (``<PII>``). What a platform hid is never put back: the marker is kept as a
placeholder, and cxminer's own redaction still runs on the whole text afterwards.
"""

from __future__ import annotations

import re

#: The placeholder for a platform marker that names no type (``[PII]``, ``[REDACTED]``).
UNTYPED = "<PII>"

# marker name (upper case, spaces and dashes as underscores) -> cxminer's placeholder
_TYPED = {
    **dict.fromkeys(("NAME", "PERSON", "PERSON_NAME", "FIRST_NAME", "LAST_NAME", "FULL_NAME",
                     "CUSTOMER_NAME", "AGENT_NAME"), "<NAME>"),
    **dict.fromkeys(("EMAIL", "EMAIL_ADDRESS"), "<EMAIL>"),
    **dict.fromkeys(("PHONE", "PHONE_NUMBER", "TELEPHONE_NUMBER"), "<PHONE>"),
    **dict.fromkeys(("ADDRESS", "STREET_ADDRESS", "LOCATION"), "<ADDRESS>"),
    **dict.fromkeys(("CREDIT_DEBIT_NUMBER", "CREDIT_CARD_NUMBER", "CREDIT_CARD",
                     "CARD_NUMBER", "CREDIT_DEBIT_CVV", "CREDIT_DEBIT_EXPIRY"), "<CARD>"),
    **dict.fromkeys(("SSN", "US_SOCIAL_SECURITY_NUMBER", "SOCIAL_SECURITY_NUMBER"), "<SSN>"),
    **dict.fromkeys(("BANK_ACCOUNT_NUMBER", "IBAN", "IBAN_CODE", "BANK_ROUTING"), "<IBAN>"),
    **dict.fromkeys(("DATE_OF_BIRTH", "DOB"), "<DOB>"),
    **dict.fromkeys(("IP_ADDRESS", "IP"), "<IP>"),
    **dict.fromkeys(("PIN", "PASSWORD", "ACCOUNT_NUMBER", "ID", "ID_NUMBER",
                     "DRIVER_ID", "PASSPORT_NUMBER", "US_PASSPORT_NUMBER"), "<ID>"),
    **dict.fromkeys(("PII", "REDACTED", "REDACTION", "SENSITIVE"), UNTYPED),
}  # fmt: skip
_MARKER = re.compile(r"\[([A-Za-z][A-Za-z _-]{0,40})\]")
_STARS = re.compile(r"\*{3,}")


def map_markers(text: str) -> str:
    """Rewrite a platform's redaction markers as cxminer's placeholders.

    ``[NAME]`` and its kin become the typed placeholder, ``[PII]``/``[REDACTED]`` and a
    run of three or more ``*`` become :data:`UNTYPED`; any other bracketed text
    (``[laughs]``, ``[inaudible]``) is left as it is.
    """

    def typed(match: re.Match[str]) -> str:
        key = re.sub(r"[ -]+", "_", match[1].strip()).upper()
        return _TYPED.get(key, match[0])

    return _STARS.sub(UNTYPED, _MARKER.sub(typed, text))
