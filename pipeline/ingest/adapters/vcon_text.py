"""Text and time in vCons: redaction markers, quoted e-mail history, timestamps, names.

Shared by the vCon reader's modules (:mod:`pipeline.ingest.adapters.vcon`,
:mod:`~pipeline.ingest.adapters.vcon_bodies`, :mod:`~pipeline.ingest.adapters.vcon_turns`).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

from pipeline.ingest.adapters import epoch_to_iso
from pipeline.ingest.adapters.markers import UNTYPED, map_markers

_BRACES = re.compile(r"\{\{\s*([A-Za-z][A-Za-z0-9 _-]{0,40}?)\s*\}\}")
_BRACE_ALIASES = {"BAN": "BANK_ACCOUNT_NUMBER", "US_STATE": "LOCATION", "CITY": "LOCATION"}
_QUOTED = re.compile(
    r"^[ \t]*(?:On [^\n]{1,300}? wrote:|-{2,}[ \t]*Original Message[ \t]*-{2,})[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)


def offset_ts(value: float | str | None, start: datetime | None) -> str | None:
    """Return a segment's time as ISO-8601: an offset in seconds added to the dialog's start."""
    if isinstance(value, str):
        return timestamp(value)
    if value is None or start is None:
        return None
    return iso(start + timedelta(seconds=value))


def clean_text(text: str, *, email: bool = False) -> str:
    """Map platform redaction markers to placeholders; for e-mail, cut the quoted history.

    ``[NAME]``, ``[PII]``, ``****`` (:func:`~pipeline.ingest.adapters.markers.map_markers`)
    and DataProfiler's ``{{LABEL}}`` (an unknown label: ``<PII>``) become cxminer's
    placeholders. An e-mail body loses what follows an ``On ... wrote:`` or ``Original
    Message`` line and its ``>`` quoted lines, when text is left before them.
    """
    if email:
        found = _QUOTED.search(text)
        if found and text[: found.start()].strip():
            text = text[: found.start()]
        kept = [line for line in text.splitlines() if not line.lstrip().startswith(">")]
        text = "\n".join(kept).strip() if any(line.strip() for line in kept) else text

    def braces(match: re.Match[str]) -> str:
        label = re.sub(r"[ -]+", "_", match[1].strip()).upper()
        marker = f"[{_BRACE_ALIASES.get(label, label)}]"
        mapped = map_markers(marker)
        return UNTYPED if mapped == marker else mapped

    return map_markers(_BRACES.sub(braces, text))


def when(value: Any) -> datetime | None:
    """Parse a timestamp (ISO-8601 string or Unix epoch) as an aware datetime (naive: UTC)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            value = epoch_to_iso(value)
        except ValueError:
            return None
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def timestamp(value: Any) -> str | None:
    """Return a timestamp for the record: normalised to UTC, else as given.

    A value that is not a timestamp is passed on, for validation to quarantine
    (``bad_timestamp``).
    """
    parsed = when(value)
    if parsed is not None:
        return iso(parsed)
    return value if isinstance(value, str) and value.strip() else None


def iso(value: datetime) -> str:
    """Format a datetime as ISO-8601 in UTC."""
    return value.astimezone(UTC).isoformat()


def norm(value: Any) -> str:
    """Normalise a role or label: lower case, spaces and dashes as ``_``."""
    return re.sub(r"[\s-]+", "_", str(value or "").strip().lower())
