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
    STATE_CODES,
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

_NAME_CUES: tuple[tuple[tuple[str, ...], str], ...] = (
    # (cue, strength). After a "said" cue any content word is the name. After a "strong"
    # one too, but in a text that uses capitals it must have one ("the name shown"
    # stays). After a "weak" one ("i am", "this is") only a name-like word with its
    # capital is ("i am sorry", "I am unsure" stay).
    (("my", "name", "is"), "said"),
    (("my", "name"), "said"),
    (("call", "me"), "said"),
    (("name", "is"), "strong"),
    (("names", "is"), "strong"),
    (("name",), "strong"),
    (("surname",), "strong"),
    (("fullname",), "strong"),
    (("mr",), "strong"),
    (("mrs",), "strong"),
    (("ms",), "strong"),
    (("miss",), "strong"),
    (("dr",), "strong"),
    (("i", "am"), "weak"),
    (("iam",), "weak"),
    (("im",), "weak"),
    (("this", "is"), "weak"),
)
_CUES_BY_HEAD: dict[str, tuple[tuple[tuple[str, ...], str], ...]] = {
    head: tuple(entry for entry in _NAME_CUES if entry[0][0] == head)
    for head in {cue[0] for cue, _ in _NAME_CUES}
}
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
        said = False  # "address is ...": the value follows
        while start < len(tokens) and tokens[start] in _AFTER_ADDRESS_CUE:
            said = said or tokens[start] in ("is", "was", "at")
            start += 1
        end = start
        while end < len(tokens) and free(labels, end):
            word = tokens[end]
            if (word in FIELD_WORDS and word != "no") or is_chat(word):
                break
            end += 1
        span = tokens[start:end]
        # Without a house number, only place-like words make an address ("sindh vihar
        # colony", not "in the personal details") unless the value was said to follow.
        placed = len(span) >= 2 and all(
            is_name_like(w) or is_street_type(w) or w in DIRECTIONS or w in STATE_CODES
            for w in span
        )
        sentence = any(w in STOP_WORDS and w != "no" and len(w) > 1 for w in span)
        if not span or (sentence and start_at != start):
            continue
        if any(digit_count(w) for w in span) or placed or said or start_at == start:
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


def _cued_names(tokens: Sequence[str], labels: Labels, lower: Sequence[bool]) -> None:
    """Names after ``my name is``, ``i am``, ``mr`` ...; before ``is my name`` and ``here``.

    After a weak cue (``i am``, ``this is``, ``X here``) a word typed in lower case in a
    text that uses capitals is no name (``I am unsure``).
    """
    n = len(tokens)
    for i in range(n):
        for cue, strength in _CUES_BY_HEAD.get(tokens[i], ()):
            if tuple(tokens[i : i + len(cue)]) != cue:
                continue
            start = i + len(cue)
            while start < n and tokens[start] in _AFTER_NAME_CUE:
                start += 1
            end = start
            while end < n and end < start + 3 and free(labels, end):
                word = tokens[end]
                if strength == "weak":
                    fits = not lower[end] and (
                        is_name_like(word) or (end > start and is_surname_like(word))
                    )
                else:
                    fits = is_plain(word) and len(word) > 1 and word not in ID_CUES
                    fits = fits and (strength == "said" or not lower[end])
                if not fits:
                    break
                end += 1
            label_span(labels, start, end, "name")
    for i in range(n):
        here = tokens[i] == "here"
        if tokens[i : i + 3] == ["is", "my", "name"] or here:
            start = i
            while (
                start > 0
                and start > i - 3
                and free(labels, start - 1)
                and not lower[start - 1]
                and (is_name_like(tokens[start - 1]) or is_surname_like(tokens[start - 1]))
            ):
                start -= 1
            # "Priya here" opens a turn; "an ATM here" is a sentence.
            opening = start == 0 or is_chat(tokens[start - 1]) or not free(labels, start - 1)
            if not here or opening:
                label_span(labels, start, i, "name")


def _answer_names(
    tokens: Sequence[str], labels: Labels, asked: str | None, lower: Sequence[bool]
) -> None:
    """Label the name-like words of a turn of fillers, field words, values and <= 3 of them.

    The other words may only be chat, field words, cues, values or the words that join
    answers ("yes its jayden sloan", "its monroe and <id>"), never those of a sentence
    ("can i get a refund"); in a text that uses capitals the names must have them.
    """
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
    glue = all(
        i in rest
        or labels[i]
        or word in _ANSWER_GLUE
        or word in FIELD_WORDS
        or is_chat(word)
        or word in ID_CUES
        for i, word in enumerate(tokens)
    )
    if not glue and asked != "name":
        return
    if asked != "name" and any(lower[i] for i in rest):
        return
    named = asked == "name" or any(is_name_like(tokens[i]) for i in rest)
    if named and (len(tokens) <= 5 or asked == "name" or any(labels)):
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
    tokens: Sequence[str],
    *,
    asked: str | None = None,
    keep: Sequence[bool] | None = None,
    lower: Sequence[bool] | None = None,
    whole: bool = True,
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
    lower : Sequence[bool], optional
        Per token, True where it was typed in lower case in a text that uses capitals
        (weak name evidence then needs a capital); None for an all-lower-case text.
    whole : bool, default True
        Whether ``tokens`` are a whole turn; False for one sentence of it, whose answer
        names are then left to :func:`label_answer` on the whole turn.

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
    lowered = lower if lower is not None else [False] * len(tokens)
    _cued_names(tokens, labels, lowered)
    if whole:
        label_answer(tokens, labels, asked=asked, lower=lower)
    return [label or None for label in labels]


def label_answer(
    tokens: Sequence[str],
    labels: Labels,
    *,
    asked: str | None = None,
    lower: Sequence[bool] | None = None,
) -> None:
    """Label the names of a whole turn read as an identity answer, and their initials.

    Run on the whole turn (its sentences labelled by :func:`label_tokens` with
    ``whole=False``): "caf? charged twice" is no answer, though "caf" alone would be.
    ``labels`` is changed in place (None or a type per token).
    """
    _answer_names(tokens, labels, asked, lower if lower is not None else [False] * len(tokens))
    _initials(tokens, labels)
