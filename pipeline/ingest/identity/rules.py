"""Find what people type about themselves: names, street addresses, identity numbers.

The shape rules of :mod:`pipeline.ingest.redact` find values that carry their own
format (an e-mail with ``@``, a Luhn-valid card). What customers type when asked who
they are has no format: ``priya raman``, ``no 12 lake view road springfield``, ``its
7731``, ``abc 567890345``. These rules find such values from three things, all generic:

- **cues** in the same turn: ``my name is``, ``i am``, ``address``, ``account number``,
  ``X here``, a house number before a street type;
- **the turn's shape**: a turn made only of fillers, field words, values and at most
  three name-like words (``yes its priya raman``) is an identity answer, with or without
  the question before it;
- **the question before it**: where the conversation holds the agent's turns, a
  customer turn right after a question about a name, an address or a number is read as
  that answer (:func:`asked_for`).

Words come from :mod:`pipeline.ingest.lexicon` (word frequencies, census names, USPS
street types). A name found once is redacted in every turn of its conversation (the agent
saying "thanks priya" included). Labels are per token; adjacent tokens of one type
become one placeholder, so a name never leaves its parts behind (``<NAME> raman``).
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.ingest.identity.codes import Labels, free, label_codes, label_span, opens_answer
from pipeline.ingest.identity.lexicon import (
    DIRECTIONS,
    FIELD_WORDS,
    ID_CUES,
    ORDINAL_SUFFIXES,
    RARE_ZIPF,
    STOP_WORDS,
    digit_count,
    is_chat,
    is_name_like,
    is_plain,
    is_street_type,
    is_surname_like,
    zipf,
)

#: Token-rule types and the placeholder each writes.
TOKEN_TYPES = ("name", "address", "id", "email", "phone", "ssn", "card")

_NAME_CUES: tuple[tuple[tuple[str, ...], bool], ...] = (
    # (cue, strong): after a strong cue any content word is the name; after a weak one
    # ("i am", "this is") only a name-like word is ("i am sorry" stays).
    (("my", "name", "is"), True),
    (("name", "is"), True),
    (("names", "is"), True),
    (("my", "name"), True),
    (("name",), True),
    (("surname",), True),
    (("fullname",), True),
    (("call", "me"), True),
    (("mr",), True),
    (("mrs",), True),
    (("ms",), True),
    (("miss",), True),
    (("dr",), True),
    (("i", "am"), False),
    (("iam",), False),
    (("im",), False),
    (("this", "is"), False),
)
_ANSWER_GLUE = frozenset(("its", "it", "is", "was", "and", "my", "the", "this", "for"))
_AFTER_NAME_CUE = frozenset(("is", "its", "was", "name"))
_ADDRESS_CUES = frozenset(("address", "adress", "addr"))
_AFTER_ADDRESS_CUE = frozenset(("is", "at", "in", "my", "its", "the"))
_EMAIL_ENDS = ("com", "net", "org", "edu")


def _emails(tokens: Sequence[str], labels: Labels) -> None:
    """Label e-mails typed without ``@`` or dots: ``priya 12 gmailcom``, ``kumar gmail com``."""
    for i, word in enumerate(tokens):
        glued = (
            word.isalnum()
            and not word.isdigit()
            and zipf(word) < RARE_ZIPF
            and any(word.endswith(end) and len(word) > len(end) + 2 for end in _EMAIL_ENDS)
        )
        if not glued and not (word in _EMAIL_ENDS and i > 0):
            continue
        start = i
        while start > 0 and free(labels, start - 1):
            before = tokens[start - 1]
            if before in STOP_WORDS and before != "at" or before in FIELD_WORDS or is_chat(before):
                break
            if not (digit_count(before) or is_name_like(before) or before in ("dot", "at")):
                break
            start -= 1
        if glued or start < i:
            label_span(labels, start, i + 1, "email")


def _cued_addresses(tokens: Sequence[str], labels: Labels, start_at: int | None) -> None:
    """Label what follows ``address (is)`` up to the next field word or the end of the turn."""
    starts = [i + 1 for i, word in enumerate(tokens) if word in _ADDRESS_CUES]
    if start_at is not None:
        starts.append(start_at)
    for start in starts:
        while start < len(tokens) and tokens[start] in _AFTER_ADDRESS_CUE:
            start += 1
        end = start
        while end < len(tokens) and free(labels, end):
            word = tokens[end]
            if (word in FIELD_WORDS and word != "no") or is_chat(word):
                break
            end += 1
        span = tokens[start:end]
        if span and (any(digit_count(w) for w in span) or len(span) >= 2):
            label_span(labels, start, end, "address")


def _street_addresses(tokens: Sequence[str], labels: Labels) -> None:
    """Label a street type after a house number or a place-like word, and the city after it."""
    for k, word in enumerate(tokens):
        if not free(labels, k):
            continue
        if word == "box" and k > 0 and tokens[k - 1] in ("po", "o", "post"):  # a PO box
            start = k - 2 if k > 1 and tokens[k - 2 : k] == ["p", "o"] else k - 1
            label_span(labels, start, _address_end(tokens, labels, k), "address")
            continue
        if not is_street_type(word):
            continue
        start = next(
            (
                i
                for i in range(max(0, k - 4), k - 1)
                if digit_count(tokens[i])
                and labels[i] in (None, "id")
                and all(_street_word(tokens, m) for m in range(i + 1, k))
            ),
            None,
        )
        if start is None and k > 0 and opens_answer(tokens, k - 1):
            start = k
            while (
                start > 0
                and k - start < 3
                and free(labels, start - 1)
                and not is_street_type(tokens[start - 1])
                and (is_name_like(tokens[start - 1]) or tokens[start - 1] in DIRECTIONS)
            ):
                start -= 1
            if start == k:
                continue
        if start is None:
            continue
        if start > 0 and tokens[start - 1] in ("no", "number"):
            start -= 1
        label_span(labels, start, _address_end(tokens, labels, k), "address")


def _address_end(tokens: Sequence[str], labels: Labels, k: int) -> int:
    """End of the address whose street type is token ``k``: the city, state and ZIP after it.

    Up to ten words, to a stop, field or chat word (a state code before a ZIP goes on).
    """
    n = len(tokens)
    end = k + 1
    while end < n and end - k <= 10 and labels[end] in (None, "id"):
        after = tokens[end]
        state_then_zip = len(after) == 2 and end + 1 < n and 4 <= digit_count(tokens[end + 1]) <= 6
        if not state_then_zip and (after in STOP_WORDS or after in FIELD_WORDS or is_chat(after)):
            break
        end += 1
    return end


def _street_word(tokens: Sequence[str], i: int) -> bool:
    """Say whether token ``i`` can be in a street's name: no stop word, a number as ordinal only."""
    word = tokens[i]
    if word in STOP_WORDS:
        return len(word) == 1  # a unit letter: "18 a town hall road"
    if word.isdigit():
        return i + 1 < len(tokens) and tokens[i + 1] in ORDINAL_SUFFIXES
    return True


def _cued_names(tokens: Sequence[str], labels: Labels) -> None:
    """Names after ``my name is``, ``i am``, ``mr`` ...; before ``is my name`` and ``here``."""
    n = len(tokens)
    for i in range(n):
        for cue, strong in _NAME_CUES:
            if tuple(tokens[i : i + len(cue)]) != cue:
                continue
            start = i + len(cue)
            while start < n and tokens[start] in _AFTER_NAME_CUE:
                start += 1
            end = start
            while end < n and end < start + 3 and free(labels, end):
                word = tokens[end]
                fits = (
                    is_plain(word) and word not in ID_CUES
                    if strong
                    else is_name_like(word) or (end > start and is_surname_like(word))
                )
                if not fits:
                    break
                end += 1
            label_span(labels, start, end, "name")
    for i in range(n):
        if tokens[i : i + 3] == ["is", "my", "name"] or tokens[i] == "here":
            start = i
            while (
                start > 0
                and start > i - 3
                and free(labels, start - 1)
                and (is_name_like(tokens[start - 1]) or is_surname_like(tokens[start - 1]))
            ):
                start -= 1
            label_span(labels, start, i, "name")


def _answer_names(tokens: Sequence[str], labels: Labels, asked: str | None) -> None:
    """Label the name-like words of a turn of fillers, field words, values and <= 3 of them."""
    rest = [
        i
        for i, word in enumerate(tokens)
        if free(labels, i)
        and word not in STOP_WORDS
        and word not in FIELD_WORDS
        and word not in ID_CUES
        and not is_chat(word)
    ]
    if not 0 < len(rest) <= 3:
        return
    if not all(is_name_like(tokens[i]) or is_surname_like(tokens[i]) for i in rest):
        return
    named = asked == "name" or any(is_name_like(tokens[i]) for i in rest)
    # Beside another value, an answer may hold the words that join answers ("its monroe
    # and <id>"), not those of a sentence ("not json my name is ...").
    valued = any(labels) and all(word in _ANSWER_GLUE or word not in STOP_WORDS for word in tokens)
    if named and (len(tokens) <= 5 or asked == "name" or valued):
        for i in rest:
            labels[i] = "name"


def _initials(tokens: Sequence[str], labels: Labels) -> None:
    """Label a single letter beside a name as its initial (``sandhya k``, ``john m smith``)."""
    for i, word in enumerate(tokens):
        # "a", "i" are words; "u", "r" texting for "you", "are".
        if not free(labels, i) or len(word) != 1 or not word.isalpha() or word in "aiur":
            continue
        beside = (i > 0 and labels[i - 1] == "name") or (
            i + 1 < len(tokens) and labels[i + 1] == "name"
        )
        if beside:
            labels[i] = "name"


def label_tokens(
    tokens: Sequence[str], *, asked: str | None = None, keep: Sequence[bool] | None = None
) -> Labels:
    """Label each lower-cased token with the personal-data type it belongs to, or None.

    Parameters
    ----------
    tokens : Sequence[str]
        The turn's words, lower-cased (placeholders already in the text are passed as
        their type, e.g. ``"<email>"``, and keep their label).
    asked : str, optional
        The type the previous agent turn asked for (:func:`asked_for`), if any.
    keep : Sequence[bool], optional
        Per token, True where it must never be labelled (the configured allow-list).

    Returns
    -------
    list of str or None
        Per token, one of :data:`TOKEN_TYPES` or None.
    """
    labels: Labels = [
        t[1:-1] if t.startswith("<") and t.endswith(">") and len(t) > 2 else None for t in tokens
    ]
    if keep is not None:
        labels = ["" if k else label for label, k in zip(labels, keep, strict=True)]
    _emails(tokens, labels)
    _cued_addresses(tokens, labels, 0 if asked == "address" else None)
    _street_addresses(tokens, labels)
    label_codes(tokens, labels, asked)
    _cued_names(tokens, labels)
    _answer_names(tokens, labels, asked)
    _initials(tokens, labels)
    return [label or None for label in labels]
