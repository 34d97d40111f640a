"""Identity numbers and codes in a turn's words: ``7731``, ``abc 567890345``, ``f 6 el 23``."""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache

from pipeline.ingest.identity.lexicon import (
    CODE_ZIPF,
    CURRENCY_WORDS,
    FIELD_WORDS,
    ID_CUES,
    ORDINAL_SUFFIXES,
    STOP_WORDS,
    UNIT_WORDS,
    WORDS_CACHED,
    YEAR_WORDS,
    digit_count,
    is_chat,
    zipf,
)

#: Per token, its personal-data type, None (not yet labelled) or "" (kept).
Labels = list[str | None]
# Words that are never the letters of a whole-turn code: those that place a number in
# time or space ("at 530", "in 2015"), those that open an answer ("its 5749"), units.
_PLACING_WORDS = frozenset(
    "at on in by to for from till until before after around about under over than".split()
)
_JOINING_WORDS = _PLACING_WORDS | frozenset(("or", "and", "of"))
_NOT_CODE_LETTERS = _PLACING_WORDS | frozenset("its it is was my the this a i".split()) | UNIT_WORDS
_YEAR = re.compile(r"(?:19|20)\d\d")


def free(labels: Labels, i: int) -> bool:
    """Say whether token ``i`` has no label yet."""
    return labels[i] is None


def label_span(labels: Labels, start: int, end: int, kind: str) -> None:
    """Label tokens ``start`` to ``end`` (exclusive) as ``kind``."""
    for i in range(start, end):
        labels[i] = kind


def opens_answer(tokens: Sequence[str], upto: int) -> bool:
    """Whether no stop word (but field words) comes before ``upto``: the turn is an answer."""
    return all(tokens[i] not in STOP_WORDS or tokens[i] in FIELD_WORDS for i in range(upto))


@lru_cache(maxsize=WORDS_CACHED)
def _code_group(word: str) -> bool:
    """Say whether ``word`` is a short letter group that can be part of a code (``xk``, ``abc``)."""
    return (
        word.isalpha()
        and len(word) <= 5
        and word not in UNIT_WORDS
        and word not in FIELD_WORDS
        and word not in ID_CUES
    )


@lru_cache(maxsize=WORDS_CACHED)
def _rare_group(word: str) -> bool:
    return (
        _code_group(word) and len(word) <= 4 and word not in STOP_WORDS and zipf(word) < CODE_ZIPF
    )


def label_codes(tokens: Sequence[str], labels: Labels, asked: str | None) -> None:
    """Identity numbers and codes: ``7731``, ``abc 567890345``, ``f 6 el 23``, ``ssn 2462``.

    A span of digit groups and letter groups holding at least three digits (or two
    digit groups, or two digits and three letters) is one value, unless a unit follows
    its only number (``300 dollars``, ``5 pm``) or it is a year after a year word. Its
    type comes from the nearest cue before it (``ssn`` -> ssn, ``card`` -> card, ``phone``
    -> phone), else from the question asked, else 10-13 bare digits are a phone, anything
    else an id.
    """
    if _whole_turn_code(tokens, labels):
        label_span(labels, 0, len(tokens), _code_type(tokens, 0, len(tokens), asked))
        return
    n = len(tokens)
    i = 0
    while i < n:
        word = tokens[i]
        single = len(word) == 1 and word.isalpha() and i + 1 < n and digit_count(tokens[i + 1])
        if not free(labels, i) or not (digit_count(word) or _rare_group(word) or single):
            i += 1
            continue
        cued = asked is not None and asked != "name" and opens_answer(tokens, i)
        if i > 0 and tokens[i - 1] in ID_CUES:
            cued = True
        if i > 1 and tokens[i - 1] in ("is", "was") and tokens[i - 2] in ID_CUES:
            cued = True
        end = i
        while end < n and _in_code(tokens, labels, i, end, cued):
            end += 1
        start = i
        has_digits = any(digit_count(t) for t in tokens[start:end])
        if (
            has_digits
            and start > 0
            and free(labels, start - 1)
            and _code_group(tokens[start - 1])
            and (len(tokens[start - 1]) <= 3 or zipf(tokens[start - 1]) < CODE_ZIPF)
            and tokens[start - 1] not in STOP_WORDS
            and tokens[start - 1] not in YEAR_WORDS
            and (
                start == 1
                or not free(labels, start - 2)
                or tokens[start - 2] in STOP_WORDS
                or tokens[start - 2] in FIELD_WORDS
                or is_chat(tokens[start - 2])
            )
        ):
            start -= 1
        plain_number = _placed_amount(tokens, start, end) or _year(tokens, start, end)
        if _is_value(tokens, start, end) and (cued or not plain_number):
            label_span(labels, start, end, _code_type(tokens, start, end, asked))
        i = max(end, i + 1)


def _placed_amount(tokens: Sequence[str], start: int, end: int) -> bool:
    """Say whether the span is a lone number of up to 4 digits after a placing word.

    ``for 500``, ``at 1030``, ``under 300``: an amount, a time or a quantity, unless a cue
    or the question asked says it is an identifier.
    """
    return (
        end - start == 1
        and tokens[start].isdigit()
        and len(tokens[start]) <= 4
        and start > 0
        and tokens[start - 1] in _PLACING_WORDS
    )


def _year(tokens: Sequence[str], start: int, end: int) -> bool:
    """Say whether the span is a lone year (1800-2099), not given as an identifier."""
    return end - start == 1 and re.fullmatch(r"(?:18|19|20)\d\d", tokens[start]) is not None


def _whole_turn_code(tokens: Sequence[str], labels: Labels) -> bool:
    """Say whether the whole turn is one code: short letter groups and digits only.

    ``we 4562``, ``as 56 lo``: the letters may be words, as long as none places a
    number in time or space (``at 530``), opens an answer (``its 5749``), is a unit, a
    field word or a cue (``ssn 4410`` stays a cue and an SSN).
    """
    if not 2 <= len(tokens) <= 6 or any(label is not None for label in labels):
        return False
    if sum(digit_count(t) for t in tokens) < 3:
        return False
    return all(
        digit_count(t)
        or (
            t.isalpha()
            and len(t) <= 3
            and t not in _NOT_CODE_LETTERS
            and t not in FIELD_WORDS
            and t not in ID_CUES
            and not is_chat(t)
        )
        for t in tokens
    )


def _in_code(tokens: Sequence[str], labels: Labels, first: int, j: int, cued: bool) -> bool:
    """Whether token ``j`` continues a code that began at ``first``."""
    if not free(labels, j):
        return False
    word = tokens[j]
    if digit_count(word) or _rare_group(word):
        return True
    after = j + 1 < len(tokens) and digit_count(tokens[j + 1]) > 0
    before = j > first and digit_count(tokens[j - 1]) > 0
    if len(word) == 1 and word.isalpha():
        return after or before
    if not _code_group(word):
        return False
    ends_turn = j + 1 == len(tokens) or tokens[j + 1] in STOP_WORDS or tokens[j + 1] in FIELD_WORDS
    if word in STOP_WORDS:  # "as 56 lo", not "2018 not 1818" or "3 to 5"
        return after and before and len(word) <= 2 and word not in _JOINING_WORDS
    short = len(word) <= 3 or zipf(word) < CODE_ZIPF
    return (after and before) or (cued and after) or (before and short and (cued or ends_turn))


def _is_value(tokens: Sequence[str], start: int, end: int) -> bool:
    span = tokens[start:end]
    digits = sum(digit_count(t) for t in span)
    groups = sum(1 for t in span if digit_count(t))
    letters = sum(len(t) for t in span if t.isalpha() and (len(t) == 1 or zipf(t) < CODE_ZIPF))
    if not groups or not (digits >= 3 or groups >= 2 or (digits >= 2 and letters >= 3)):
        return False
    if end < len(tokens) and tokens[end] in UNIT_WORDS:
        return False
    if groups == 1 and end < len(tokens) and tokens[end] in ORDINAL_SUFFIXES:
        return False
    if start > 0 and tokens[start - 1] in CURRENCY_WORDS:
        return False
    year = len(span) == 1 and _YEAR.fullmatch(span[0]) is not None
    return not (year and start > 0 and tokens[start - 1] in YEAR_WORDS)


def _code_type(tokens: Sequence[str], start: int, end: int, asked: str | None) -> str:
    cue = next(
        (ID_CUES[t] for t in reversed(tokens[max(0, start - 4) : start]) if ID_CUES.get(t)),
        None,
    )
    if cue is None and asked in ("ssn", "card", "phone", "id"):
        cue = asked
    if cue is not None:
        return cue
    span = tokens[start:end]
    if all(t.isdigit() for t in span) and 10 <= sum(map(len, span)) <= 13:
        return "phone"
    return "id"
