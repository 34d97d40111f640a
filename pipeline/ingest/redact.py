"""PII redaction for transcript text, applied before anything is stored.

The heavy lifting is done by polars string expressions (Rust ``regex`` engine, so
no look-around and no backreferences).  Python only runs on the rare rows that
hold a long digit run or an IBAN-shaped token, because card numbers (Luhn) and
IBANs (mod-97) are only redacted when their checksum holds.

Order of application (each stage sees the output of the previous one):

1. ``email`` - first, because local parts and domains may hold digits that look
   like phones, cards or IPs (``977.625.2661@x.com``); the whole address goes.
2. ``iban`` and ``card`` (one Python pass, IBAN alternative first) - before the
   phone/ssn/ip patterns, which would otherwise eat digit groups of a card or an
   IBAN.  An IBAN-shaped token that fails mod-97 is matched and kept as a whole,
   so the card alternative never redacts digit groups from inside it.
3. ``ssn`` - its shapes are exact (3-2-4 digits, or 9 digits after "ssn"), so it
   runs before the looser shapes and a value fitting both is labelled SSN.
4. ``dob`` - context-led (the birth words are kept, only the date goes); ahead of
   ip/phone so a birth date keeps its label should a later shape overlap it.
5. ``ip`` - before phone, so dotted quads never reach the dotted-phone shape.
6. ``phone`` - the loosest shape (international ``+cc`` runs and context-led bare
   10-digit numbers), so it only sees what no other shape claimed.
7. ``name``, ``address``, ``id`` (and bare phones, SSN fragments, cards and e-mails
   typed without their format) - the word rules of :mod:`pipeline.ingest.identity`, on
   the text the shape stages left, with the conversation's context where it is given.

Counts are not computed per stage: placeholders hold no digit and no ``@``, so no
later pattern can consume one, and the number of replacements of a type equals
the number of its placeholders after redaction minus those already present in
the input (one fast literal count per type).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Container, Sequence
from types import MappingProxyType

import polars as pl

from pipeline.ingest.checksums import IBAN_LENGTHS, iban_valid, luhn_valid
from pipeline.ingest.identity import TOKEN_TYPES, redact_identity_series

#: The types found by their own format (stages 1-6 of the module docstring).
SHAPE_TYPES: tuple[str, ...] = ("email", "phone", "card", "iban", "ssn", "ip", "dob")
#: The types only the word rules of :mod:`pipeline.ingest.identity` find (stage 7).
WORD_TYPES: tuple[str, ...] = ("name", "address", "id")
PII_TYPES: tuple[str, ...] = SHAPE_TYPES + WORD_TYPES
PLACEHOLDERS: dict[str, str] = {t: f"<{t.upper()}>" for t in PII_TYPES}

# Stage order, see the module docstring for why; iban and card share one pass.
_ORDER: tuple[tuple[str, ...], ...] = (
    ("email",),
    ("iban", "card"),
    ("ssn",),
    ("dob",),
    ("ip",),
    ("phone",),
)

_EMAIL = r"[\w.%+-]+@(?:[\w-]+\.)+[A-Za-z]{2,}\b"

_SSN = (
    r"(^|[^\w-])(?:\d{3}-\d{2}-\d{4}|\d{3} \d{2} \d{4})\b"
    r"|(?i)(\b(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?)"
    r"(?:\s*(?:[:#=-]|is\b|was\b))*\s*)\d{9}\b"
)

_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    r"(?:\d{1,2}[/.-]\d{1,2}[/.-](?:\d{4}|\d{2})|\d{4}[/.-]\d{1,2}[/.-]\d{1,2}"
    rf"|{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\s+(?:of\s+)?{_MONTH},?\s+\d{{4}})\b"
)
_DOB = (
    r"(?i)(\b(?:date\s+of\s+birth|birth\s*date|d\.?o\.?b\.?|born(?:\s+on)?|birthday)"
    r"(?:\s*(?:[:=,?()\-\u2013\u2014]|is\b|was\b|on\b|of\b|the\b|it\b|'s\b|\u2019s\b))*\s*)" + _DATE
)

_OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H = r"[0-9A-Fa-f]{1,4}"
_IPV6 = (  # full 8 groups, or '::'-compressed with a 2+ char first group ('a::b' stays)
    rf"{_H}(?::{_H}){{7}}\b"
    rf"|[0-9A-Fa-f]{{2,4}}(?::{_H}){{0,6}}::(?:{_H}(?::{_H}){{0,6}}\b)?"
    rf"|::{_H}(?::{_H}){{0,6}}\b"
)
_IP = rf"(^|[^\w.])(?:{_OCTET}\.){{3}}{_OCTET}\b|(^|[^\w:.])(?:{_IPV6})"

_PHONE_CONTEXT = (
    r"(?i)(\b(?:phone|cell(?:phone)?|mobile|tel|telephone|call\s+me\s+at|text\s+me\s+at"
    r"|reach\s+me\s+at)\b(?:\s*(?:[:#.=-]|number\b|num\b|no\b|is\b|was\b|at\b))*\s*)1?\d{10}\b"
)
_PHONE = (
    r"(^|[^\w+.-])(?:(?:\+?1[ .-]?)?(?:\(\d{3}\)[ .-]?|\d{3}[ .-])\d{3}[ .-]\d{4}"
    r"|\+[1-9]\d{0,2}(?:[ .-]?\(0\))?(?:[ .-]?\d){6,13})\b|" + _PHONE_CONTEXT
)


def _ascii_b(pattern: str) -> str:
    r"""Make every ``\b`` ASCII-only.

    A Unicode ``\b`` makes the Rust lazy DFA give up on any non-ASCII text and fall
    back to a ~20x slower engine; ASCII boundaries are enough around digits.
    """
    return pattern.replace(r"\b", r"(?-u:\b)")


# (pattern, replacement) of the vectorised stages; groups 1..n hold kept context.
_VECTOR_STAGES: MappingProxyType[str, tuple[str, str]] = MappingProxyType(
    {
        "email": (_ascii_b(_EMAIL), "<EMAIL>"),
        "ssn": (_ascii_b(_SSN), "${1}${2}<SSN>"),
        "dob": (_ascii_b(_DOB), "${1}<DOB>"),
        "ip": (_ascii_b(_IP), "${1}${2}<IP>"),
        "phone": (_ascii_b(_PHONE), "${1}${2}<PHONE>"),
    }
)

# Checksum stage: polars pre-filter (superset) and the exact Python pattern.
_CHECKSUM_CANDIDATE = _ascii_b(r"(?i)\b[a-z]{2}\d{2} ?[a-z0-9]{4}|\b\d(?:[ -]?\d){12}")
_CHECKSUM_RE = re.compile(
    r"(?P<iban>(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?: ?[A-Za-z0-9]{4}){2,7}(?: ?[A-Za-z0-9]{1,4})?"
    r"(?![A-Za-z0-9]))"
    r"|(?P<card>(?<![\w-])(?:\d{4}([ -])\d{4}\3\d{4}\3\d{1,4}(?:\3\d{1,3})?"
    r"|\d{4}([ -])\d{6}\4\d{4,5}|\d{13,19})(?!\w))"
)


def _redact_valid_prefix(
    token: str, is_valid: Callable[[str], bool], placeholder: str, lengths: Container[int]
) -> str:
    """Replace the longest checksum-valid prefix of ``token`` that ends at a separator.

    The regex may run one group too far (``4111 1111 1111 1111 12``) and cannot
    retry after a failed checksum, so shorter cuts at separators are tried here,
    longest first; only cuts whose character count (separators excluded) is in
    ``lengths`` are checked.
    """
    cuts = [i for i, ch in enumerate(token) if ch in " -"] + [len(token)]
    for cut in reversed(cuts):
        prefix = token[:cut]
        size = len(prefix) - prefix.count(" ") - prefix.count("-")
        if size in lengths and is_valid(prefix):
            return placeholder + token[cut:]
    return token


def _checksum_sub(match: re.Match[str], types: frozenset[str]) -> str:
    """Return the replacement for one IBAN/card candidate match."""
    token = match.group(0)
    if match.group("iban") is not None:
        if "iban" not in types:
            return token
        length = IBAN_LENGTHS.get(token[:2].upper(), 0)
        return _redact_valid_prefix(token, iban_valid, PLACEHOLDERS["iban"], (length,))
    if "card" not in types:
        return token
    return _redact_valid_prefix(token, luhn_valid, PLACEHOLDERS["card"], range(13, 20))


def _redact_checksummed(texts: pl.Series, types: frozenset[str]) -> pl.Series:
    """Redact Luhn-valid cards and mod-97-valid IBANs, in Python on candidate rows only."""
    mask = texts.str.contains(_CHECKSUM_CANDIDATE).fill_null(False)
    if not mask.any():
        return texts
    idx = mask.arg_true()
    fixed = [
        _CHECKSUM_RE.sub(lambda m: _checksum_sub(m, types), text)
        for text in texts.gather(idx).to_list()
    ]
    out = texts.clone()
    out.scatter(idx, pl.Series(fixed, dtype=pl.String))
    return out


def _candidate_pattern(selected: frozenset[str]) -> str:
    """Union of the patterns of the selected stages (a match means 'maybe PII')."""
    parts = [_VECTOR_STAGES[t][0] for t in _VECTOR_STAGES if t in selected]
    if not selected.isdisjoint(("iban", "card")):
        parts.append(_CHECKSUM_CANDIDATE)
    return "|".join(f"(?:{part})" for part in parts)


def _validated_types(types: Sequence[str]) -> tuple[str, ...]:
    """Normalise ``types`` to a duplicate-free tuple, raising on unknown names."""
    names = (types,) if isinstance(types, str) else tuple(types)
    unknown = [t for t in names if t not in PLACEHOLDERS]
    if unknown:
        raise ValueError(
            f"unknown PII type(s) {unknown!r}; accepted types are {', '.join(PII_TYPES)}"
        )
    return tuple(dict.fromkeys(names))


def redact_texts(
    texts: pl.Series,
    *,
    types: Sequence[str] = PII_TYPES,
    allow: Sequence[str] = (),
    conversation_ids: pl.Series | None = None,
    speakers: pl.Series | None = None,
) -> tuple[pl.Series, pl.DataFrame]:
    """Replace PII in each text with a typed placeholder such as ``<EMAIL>``.

    Parameters
    ----------
    texts : pl.Series
        String series of transcript texts; nulls are allowed and stay null (an
        all-null series of dtype Null is treated as String).
    types : Sequence[str], default PII_TYPES
        PII types to redact, any of ``PII_TYPES`` (a single name is accepted).
        An empty sequence redacts nothing and gives a zero-column ``counts``.
    allow : Sequence[str], default ()
        Words and phrases the name, address and id rules never redact (product and
        brand names: "Visa", "Air Jordan"); case-insensitive.
    conversation_ids, speakers : pl.Series, optional
        Each text's conversation and speaker, the texts being turns in conversation
        order: a customer's answer is then read with the agent's question before it,
        and a name found in one turn is redacted in the others.

    Returns
    -------
    redacted : pl.Series
        Same name, length and order as ``texts``, PII replaced by placeholders.
    counts : pl.DataFrame
        One row per input position and one Int32 column per type in ``types``
        (named like the type) with the number of replacements made in that text;
        0 for nulls.

    Raises
    ------
    ValueError
        If ``types`` names an unknown type.
    TypeError
        If ``texts`` is not a string series.
    """
    wanted = _validated_types(types)
    if texts.dtype == pl.Null:  # an all-null column without a declared type
        texts = texts.cast(pl.String)
    if texts.dtype != pl.String:
        raise TypeError(f"texts must be a String series, got {texts.dtype}")
    if not wanted:
        return texts.clone(), texts.to_frame().drop(texts.name)
    selected = frozenset(wanted)
    redacted = _redact_shapes(texts, selected)
    # The word rules run when a type only they find is on; they also type the bare
    # phones, SSN fragments, cards and e-mails they meet, where those types are on.
    word_types = selected & frozenset(TOKEN_TYPES)
    if not selected.isdisjoint(WORD_TYPES):
        redacted = redact_identity_series(
            redacted,
            types=word_types,
            allow=_phrases(allow),
            conversation_ids=conversation_ids,
            speakers=speakers,
        )
    counts = {}
    for name in wanted:
        placeholder = PLACEHOLDERS[name]
        added = redacted.str.count_matches(placeholder, literal=True) - texts.str.count_matches(
            placeholder, literal=True
        )
        counts[name] = added.fill_null(0).cast(pl.Int32).alias(name)
    return redacted, pl.DataFrame(counts)


def _phrases(allow: Sequence[str]) -> tuple[tuple[str, ...], ...]:
    """Lower-cased word tuples of the allow-list entries."""
    return tuple(tuple(entry.lower().split()) for entry in allow if entry.strip())


def _redact_shapes(texts: pl.Series, selected: frozenset[str]) -> pl.Series:
    """Apply the shape stages (see the module docstring) of the selected types."""
    if selected.isdisjoint(SHAPE_TYPES):
        return texts.clone()
    # One scan picks the rows any stage could touch; every stage then runs on those
    # rows only.  Exact: a stage can only change a row that some stage matches as is.
    mask = texts.str.contains(_candidate_pattern(selected)).fill_null(False)
    idx = mask.arg_true()
    work = texts.gather(idx)
    for stage in _ORDER:
        if selected.isdisjoint(stage) or work.is_empty():
            continue
        if stage[0] in _VECTOR_STAGES:
            pattern, replacement = _VECTOR_STAGES[stage[0]]
            work = work.str.replace_all(pattern, replacement)
        else:
            work = _redact_checksummed(work, selected)
    redacted = texts.clone()
    if not idx.is_empty():
        redacted.scatter(idx, work)
    return redacted


def redact_text(text: str, *, types: Sequence[str] = PII_TYPES, allow: Sequence[str] = ()) -> str:
    """Redact one string with the same rules as :func:`redact_texts`.

    Parameters
    ----------
    text : str
        Text to redact (a quarantined raw record, an error message, ...).
    types : Sequence[str], default PII_TYPES
        PII types to redact.
    allow : Sequence[str], default ()
        Words and phrases never redacted as names, addresses or ids.

    Returns
    -------
    str
        The redacted text.
    """
    redacted, _ = redact_texts(pl.Series("text", [text], dtype=pl.String), types=types, allow=allow)
    return redacted[0]


def hash_identifiers(ids: pl.Series, *, key: bytes) -> pl.Series:
    """Pseudonymise identifiers with a keyed hash.

    Each identifier (as its string form, UTF-8) is hashed with HMAC-SHA256 under
    ``key``; the first 16 hex characters are kept.  Hashing runs once per
    distinct value, so the cost scales with the number of distinct ids.

    Parameters
    ----------
    ids : pl.Series
        Identifiers of any dtype castable to string; nulls stay null.
    key : bytes
        Secret key; a different key gives unrelated hashes.

    Returns
    -------
    pl.Series
        String series with the same name and length as ``ids``.
    """
    as_text = ids.cast(pl.String)
    uniques = as_text.drop_nulls().unique().to_list()
    hashes = [hmac.new(key, u.encode("utf-8"), hashlib.sha256).hexdigest()[:16] for u in uniques]
    return as_text.replace_strict(uniques, hashes, default=None, return_dtype=pl.String).alias(
        ids.name
    )
