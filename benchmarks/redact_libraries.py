"""Library-based redactors, compared in ``bench_redact.py`` against the project's own rules.

Each redactor replaces a detected span with a typed placeholder (``<PHONE>``,
``<ADDRESS>`` ...). None of these libraries is a dependency of cxminer: install them
apart, e.g. ``pip install --target /tmp/libvenv presidio-analyzer usaddress phonenumbers
python-stdnum``, and run with ``PYTHONPATH=/tmp/libvenv``. :func:`library_redactors`
returns those whose libraries import and leaves the others out with a line on stderr.

* **presidio** (``presidio-analyzer``): its predefined recognizers (patterns, checksums,
  context words) over a blank spaCy English pipeline, so no NER model is downloaded or
  loaded; the spaCy NER recognizer is dropped, as it could find nothing.
* **usaddress + phonenumbers**: datamade's CRF address tagger, redacting the tokens it
  tags as address parts (:data:`ADDRESS_LABELS`) when the parse holds an
  ``AddressNumber`` and a ``StreetName``; plus ``phonenumbers.PhoneNumberMatcher`` (US,
  default leniency ``VALID``).
* **python-stdnum**: runs of whitespace-separated tokens whose concatenation validates
  as a US SSN, a Luhn number of 13 to 19 digits (cards) or an IBAN.

Each builder prints its load time (imports, model set-up and one warm-up call) to stderr,
so ``bench_redact.score``'s utterances per second is the per-utterance cost alone.
"""

from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import Any

import polars as pl

Redactor = Callable[[pl.Series], pl.Series]
#: ``(start, end, type)`` of a detected span, end exclusive.
Span = tuple[int, int, str]

#: usaddress labels redacted as ``<ADDRESS>``: the number, street, unit, place, state,
#: ZIP and PO-box parts. Left out: ``Recipient`` (where the CRF puts a sentence's
#: leading words), ``NotAddress``, ``BuildingName`` and ``LandmarkName`` (free-text names
#: the CRF also gives to ordinary words), ``CornerOf`` and ``IntersectionSeparator``
#: ("and", "&").
ADDRESS_LABELS = frozenset(
    {
        "AddressNumberPrefix",
        "AddressNumber",
        "AddressNumberSuffix",
        "StreetNamePreModifier",
        "StreetNamePreDirectional",
        "StreetNamePreType",
        "StreetName",
        "StreetNamePostType",
        "StreetNamePostDirectional",
        "SubaddressType",
        "SubaddressIdentifier",
        "OccupancyType",
        "OccupancyIdentifier",
        "PlaceName",
        "StateName",
        "ZipCode",
        "USPSBoxType",
        "USPSBoxID",
        "USPSBoxGroupType",
        "USPSBoxGroupID",
    }
)

#: presidio entity -> placeholder name where cxminer has its own name for the type.
PRESIDIO_TYPES = {
    "PHONE_NUMBER": "PHONE",
    "EMAIL_ADDRESS": "EMAIL",
    "CREDIT_CARD": "CARD",
    "IBAN_CODE": "IBAN",
    "IP_ADDRESS": "IP",
    "US_SSN": "SSN",
    "DATE_TIME": "DATE",
}

#: One call made by each builder, so lazy loading counts as load time.
WARM_UP = "i am at 1600 pennsylvania avenue washington dc 20500 call 202 456 1111 a@b.com"

_IBAN_SHAPE = re.compile(r"[a-z]{2}\d{2}[a-z0-9]{11,30}", re.IGNORECASE)
_IBAN_MAX = 34
_LEMMA_PIPE = "cxminer_lower_lemma"


def replace_spans(text: str, spans: Iterable[Span]) -> str:
    """Replace each span of ``text`` with ``<TYPE>``; overlapping spans become one.

    Parameters
    ----------
    text
        The utterance.
    spans
        Spans in priority order: a merged group takes the type of its first-listed span.

    Returns
    -------
    str
        The redacted text.
    """
    ranked = sorted((start, end, rank, kind) for rank, (start, end, kind) in enumerate(spans))
    groups: list[list[Any]] = []
    for start, end, rank, kind in ranked:
        if groups and start < groups[-1][1]:
            group = groups[-1]
            group[1] = max(group[1], end)
            if rank < group[2]:
                group[2:] = [rank, kind]
        else:
            groups.append([start, end, rank, kind])
    out, cursor = [], 0
    for start, end, _, kind in groups:
        out += [text[cursor:start], f"<{kind}>"]
        cursor = end
    return "".join([*out, text[cursor:]])


def series_redactor(find_spans: Callable[[str], list[Span]]) -> Redactor:
    """Wrap a per-utterance span finder as a :data:`Redactor` (nulls stay null)."""

    def redact(texts: pl.Series) -> pl.Series:
        redacted = [
            None if text is None else replace_spans(text, find_spans(text))
            for text in texts.to_list()
        ]
        return pl.Series(texts.name, redacted, dtype=pl.String)

    return redact


def _timed_load(name: str, started: float, find_spans: Callable[[str], list[Span]]) -> Redactor:
    """Warm ``find_spans`` up, print the load time since ``started``, return its redactor."""
    find_spans(WARM_UP)
    print(f"{name}: loaded in {time.perf_counter() - started:.2f} s", file=sys.stderr)
    return series_redactor(find_spans)


def _offline_tldextract() -> None:
    """Keep presidio's e-mail check on tldextract's bundled suffix list.

    tldextract fetches the public suffix list over HTTP on first use (and falls back to
    its snapshot when offline, after a failed request); an empty URL list goes straight
    to the snapshot.
    """
    import tldextract

    tldextract.tldextract.TLD_EXTRACTOR.suffix_list_urls = ()


def _blank_english() -> Any:
    """Return ``spacy.blank("en")`` plus a pipe setting each lemma to the lower-cased token.

    A blank pipeline tokenizes but leaves lemmas empty; presidio's context enhancer
    compares lemmas with context words ("ssn", "card" ...), so it needs something there.
    """
    import spacy
    from spacy.language import Language

    if not Language.has_factory(_LEMMA_PIPE):

        @Language.component(_LEMMA_PIPE)
        def lower_lemma(doc: Any) -> Any:
            for token in doc:
                token.lemma_ = token.lower_
            return doc

    nlp = spacy.blank("en")
    nlp.add_pipe(_LEMMA_PIPE)
    return nlp


def presidio_engine() -> Any:
    """Return a presidio ``AnalyzerEngine`` whose NLP engine is a preloaded blank pipeline.

    ``SpacyNlpEngine.load`` would ``spacy.load`` (and download) a model; a subclass that
    sets ``self.nlp`` in ``__init__`` is already loaded, so ``AnalyzerEngine`` never
    calls it. The registry is presidio's default for English less ``SpacyRecognizer``.
    """
    from presidio_analyzer import AnalyzerEngine
    from presidio_analyzer.nlp_engine import SpacyNlpEngine

    class BlankSpacyNlpEngine(SpacyNlpEngine):
        def __init__(self, nlp: Any) -> None:
            super().__init__(models=[{"lang_code": "en", "model_name": "blank:en"}])
            self.nlp = {"en": nlp}

    _offline_tldextract()
    engine = AnalyzerEngine(nlp_engine=BlankSpacyNlpEngine(_blank_english()))
    engine.registry.remove_recognizer("SpacyRecognizer")
    return engine


def build_presidio(score_threshold: float = 0.0) -> Redactor:
    """Return a redactor over every entity presidio's pattern recognizers report.

    Parameters
    ----------
    score_threshold
        Results scoring below it are kept in the text; presidio's default, 0, redacts
        every match, weak ones (a bare 9-digit "bank number", 0.05) included.
    """
    started = time.perf_counter()
    engine = presidio_engine()

    def find_spans(text: str) -> list[Span]:
        results = engine.analyze(text=text, language="en", score_threshold=score_threshold)
        results.sort(key=lambda r: (-r.score, r.start))
        return [(r.start, r.end, PRESIDIO_TYPES.get(r.entity_type, r.entity_type)) for r in results]

    return _timed_load("presidio", started, find_spans)


def address_spans(parsed: list[tuple[str, str]], text: str) -> list[Span]:
    """Return ``<ADDRESS>`` spans of a usaddress parse: runs of :data:`ADDRESS_LABELS` tokens.

    Nothing when the parse lacks an ``AddressNumber`` or a ``StreetName``. Tokens are
    found in ``text`` left to right (usaddress gives no offsets).
    """
    labels = {label for _, label in parsed}
    if not {"AddressNumber", "StreetName"} <= labels:
        return []
    spans: list[Span] = []
    cursor, previous = 0, False
    for token, label in parsed:
        start = text.find(token, cursor)
        if start < 0:
            previous = False
            continue
        cursor = start + len(token)
        inside = label in ADDRESS_LABELS
        if inside and previous:
            spans[-1] = (spans[-1][0], cursor, "ADDRESS")
        elif inside:
            spans.append((start, cursor, "ADDRESS"))
        previous = inside
    return spans


def build_usaddress_phonenumbers() -> Redactor:
    """Return a redactor of usaddress addresses (see :func:`address_spans`) and phones."""
    started = time.perf_counter()
    import phonenumbers
    import usaddress

    def find_spans(text: str) -> list[Span]:
        phones = [(m.start, m.end, "PHONE") for m in phonenumbers.PhoneNumberMatcher(text, "US")]
        return phones + address_spans(usaddress.parse(text), text)

    return _timed_load("usaddress + phonenumbers", started, find_spans)


def stdnum_checker() -> Callable[[str], str | None]:
    """Return a check giving ``SSN``, ``CARD`` or ``IBAN`` for a string that validates as one.

    Digits only: 9 valid as a US SSN (``stdnum.us.ssn``: area, group and serial
    allowed), or 13 to 19 passing Luhn (``stdnum.luhn``; cards). Else IBAN-shaped and
    passing ``stdnum.iban`` (country length and mod 97).
    """
    from stdnum import iban, luhn
    from stdnum.us import ssn

    def kind_of(compact: str) -> str | None:
        if compact.isdigit():
            if len(compact) == 9 and ssn.is_valid(compact):
                return "SSN"
            if 13 <= len(compact) <= 19 and luhn.is_valid(compact):
                return "CARD"
            return None
        if _IBAN_SHAPE.fullmatch(compact) and iban.is_valid(compact.upper()):
            return "IBAN"
        return None

    return kind_of


def stdnum_spans(text: str, kind_of: Callable[[str], str | None]) -> list[Span]:
    """Return, left to right, the longest run of tokens whose concatenation ``kind_of`` types.

    O(tokens x tokens a run can hold): a run stops at a non-alphanumeric token or past
    34 characters (the longest IBAN).
    """
    tokens = list(re.finditer(r"\S+", text))
    spans: list[Span] = []
    i = 0
    while i < len(tokens):
        best, compact = None, ""
        for j in range(i, len(tokens)):
            if not tokens[j].group().isalnum():
                break
            compact += tokens[j].group()
            if len(compact) > _IBAN_MAX:
                break
            kind = kind_of(compact)
            if kind:
                best = (j, kind)
        if best is None:
            i += 1
            continue
        j, kind = best
        spans.append((tokens[i].start(), tokens[j].end(), kind))
        i = j + 1
    return spans


def build_stdnum() -> Redactor:
    """Return a redactor of the SSNs, Luhn numbers and IBANs python-stdnum validates."""
    started = time.perf_counter()
    kind_of = stdnum_checker()
    return _timed_load("python-stdnum", started, lambda text: stdnum_spans(text, kind_of))


#: name -> (builder, pip packages it needs).
BUILDERS: dict[str, tuple[Callable[[], Redactor], str]] = {
    "presidio (pattern recognizers, no NER model)": (build_presidio, "presidio-analyzer"),
    "usaddress + phonenumbers": (build_usaddress_phonenumbers, "usaddress phonenumbers"),
    "python-stdnum checks": (build_stdnum, "python-stdnum"),
}


def library_redactors() -> dict[str, Redactor]:
    """Return the library redactors whose libraries import, by name.

    A library that is missing is left out, with one line on stderr naming what to
    install.
    """
    redactors = {}
    for name, (build, packages) in BUILDERS.items():
        try:
            redactors[name] = build()
        except ImportError as exc:
            print(f"{name}: left out ({exc}); pip install {packages}", file=sys.stderr)
    return redactors
