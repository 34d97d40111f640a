"""Redact what people type about themselves: names, street addresses, identity numbers.

:mod:`~pipeline.ingest.identity.rules` labels the words of a turn;
:mod:`~pipeline.ingest.identity.lexicon` says what a word is likely to be. This module
reads a text into words, asks what the agent's question before it asked for, replaces
labelled words with typed placeholders (``<NAME>``, ``<ADDRESS>``, ``<ID>`` ...) and
carries a name found in one turn to the others of its conversation.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

import polars as pl

from pipeline.ingest.identity.lexicon import common_words, is_rare
from pipeline.ingest.identity.rules import TOKEN_TYPES, label_answer, label_tokens

__all__ = [
    "TOKEN_TYPES",
    "asked_for",
    "label_tokens",
    "redact_identities",
    "redact_identity_series",
]

_QUESTIONS = (
    ("name", re.compile(r"\bname\b")),
    ("address", re.compile(r"\baddress\b|\bwhere do you live\b")),
    ("email", re.compile(r"\be-?mail\b")),
    ("ssn", re.compile(r"\bssn\b|\bsocial security\b")),
    ("card", re.compile(r"\bcard\b")),
    ("phone", re.compile(r"\b(?:phone|mobile|cell|contact) (?:number|no)\b")),
    (
        "id",
        re.compile(
            r"\b(?:account|policy|claim|booking|confirmation|member(?:ship)?|order|"
            r"reference|ticket|customer|case|tracking) (?:number|no|id|code)\b|\bdigits\b|\bpin\b"
        ),
    ),
)


_REQUEST = re.compile(r"\b(?:may|can|could) i (?:have|get|know)\b|\bplease\b")


def asked_for(agent_text: str) -> str | None:
    """Return the personal-data type an agent turn asks for, if it is a question about one."""
    text = agent_text.lower()
    if "?" not in text and not _REQUEST.search(text):
        return None
    return next((kind for kind, pattern in _QUESTIONS if pattern.search(text)), None)


_TOKEN = re.compile(r"<[A-Z]+>|\d{4}-\d\d?-\d\d?\b|\d+(?:[.,:/]\d+)+|[^\W_]+(?:['\u2019][^\W_]+)?")
# Amounts, times and dates: "$45", "45.99", "10:30", "12/05", "20%" are never identity values.
_MEASURE = re.compile(
    r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+[.,]\d{1,2}|\d{1,2}:\d\d(?::\d\d)?"
    r"|\d{1,4}[/-]\d{1,2}(?:[/-]\d{1,4})?|\d+(?:\.\d+){2,}|\d{1,2}(?:st|nd|rd|th)"
)
_CURRENCY = frozenset("$\u00a3\u20ac\u20b9\u00a5")
_PLACEHOLDER = re.compile(r"<[A-Z]+>")
_SENTENCE_END = re.compile(r"[.!?;]")
_MERGEABLE_GAP = re.compile(r"[ \t]*[,.\-/#]?[ \t]*")


def _key(token: str) -> str:
    return token.lower().replace("'", "").replace("\u2019", "")


def _kept(
    text: str,
    matches: Sequence[re.Match[str]],
    keys: Sequence[str],
    allow: Sequence[tuple[str, ...]],
) -> list[bool]:
    """Per token, whether it must stay: an allow-listed word or phrase, or a measure."""
    keep = [
        m.group(0)[0].isdigit()
        and (
            _MEASURE.fullmatch(m.group(0)) is not None
            or (m.start() > 0 and text[m.start() - 1] in _CURRENCY)
            or text[m.end() : m.end() + 1] in _CURRENCY
            or text[m.end() : m.end() + 1] == "%"
        )
        for m in matches
    ]
    for phrase in allow:
        size = len(phrase)
        for i in range(len(keys) - size + 1):
            if tuple(keys[i : i + size]) == phrase:
                keep[i : i + size] = [True] * size
    return keep


def _sentences(text: str, matches: Sequence[re.Match[str]]) -> list[tuple[int, int]]:
    """Token ranges of the text's sentences (cut where . ! ? or ; stands between words)."""
    cuts = [
        i
        for i in range(1, len(matches))
        if _SENTENCE_END.search(text, matches[i - 1].end(), matches[i].start())
    ]
    bounds = [0, *cuts, len(matches)]
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def redact_identities(
    text: str,
    *,
    types: frozenset[str],
    asked: str | None = None,
    known_names: frozenset[str] = frozenset(),
    allow: Sequence[tuple[str, ...]] = (),
) -> tuple[str, set[str]]:
    """Replace names, addresses and identity numbers in one text with typed placeholders.

    Parameters
    ----------
    text : str
        The text, already through the shape rules (their placeholders are kept).
    types : frozenset of str
        The token types to redact (a subset of :data:`TOKEN_TYPES`); others stay.
    asked : str, optional
        What the previous agent turn asked for (:func:`asked_for`).
    known_names : frozenset of str
        Lower-cased name words found elsewhere in the conversation, redacted here too.
    allow : sequence of tuple of str
        Lower-cased words and phrases (as word tuples) never redacted by these rules.

    Returns
    -------
    text : str
        The redacted text (adjacent words of one type under one placeholder).
    names : set of str
        Rare name words found in this text (to redact elsewhere in the conversation).
    """
    matches = list(_TOKEN.finditer(text))
    if not matches:
        return text, set()
    keys = [_key(m.group(0)) if m.group(0)[0] != "<" else m.group(0).lower() for m in matches]
    keep = _kept(text, matches, keys, allow)
    # A text that uses capitals gives a name's capital as evidence (not the placeholders,
    # and not an acronym such as "ATM" unless the whole text is in capitals).
    plain = _PLACEHOLDER.sub("", text)
    cased = any(ch.isupper() for ch in plain)
    shouting = cased and not any(ch.islower() for ch in plain)
    lower = (
        [
            not m.group(0)[0].isupper()
            or (not shouting and len(m.group(0)) > 1 and m.group(0).isupper())
            for m in matches
        ]
        if cased
        else None
    )
    labels: list[str | None] = []
    for start, end in _sentences(text, matches):
        labels += label_tokens(
            keys[start:end],
            asked=asked,
            keep=keep[start:end],
            lower=lower[start:end] if lower is not None else None,
            whole=False,
        )
    labels = ["" if k and label is None else label for label, k in zip(labels, keep, strict=True)]
    label_answer(keys, labels, asked=asked, lower=lower)
    labels = [label or None for label in labels]
    for i, key in enumerate(keys):
        if labels[i] is None and key in known_names and not keep[i]:
            labels[i] = "name"
    names = {
        key for key, label in zip(keys, labels, strict=True) if label == "name" and is_rare(key)
    }
    pieces: list[str] = []
    cursor = 0
    open_kind: str | None = None
    for match, label in zip(matches, labels, strict=True):
        gap = text[cursor : match.start()]
        kind = label if label in types and not match.group(0).startswith("<") else None
        if kind is not None and kind == open_kind and _MERGEABLE_GAP.fullmatch(gap):
            cursor = match.end()
            continue
        pieces.append(gap)
        if kind is None:
            pieces.append(match.group(0))
        else:
            pieces.append(f"<{kind.upper()}>")
        open_kind = kind
        cursor = match.end()
    pieces.append(text[cursor:])
    return "".join(pieces), names


# Texts a rule may change without context: a digit, a cue word or an e-mail end; else a
# word that is not common (:func:`~pipeline.ingest.identity.lexicon.common_words`).
_TRIGGER = (
    r"(?i)\d|\b(?:name|names|surname|fullname|call me|mr|mrs|ms|miss|dr"
    r"|address|adress|addr|com|net|org|edu)\b"
)


def _candidates(texts: pl.Expr) -> pl.Expr:
    """Whether a rule could change each text: a trigger, or a word that is not common."""
    words = texts.str.to_lowercase().str.replace_all("['\u2019]", "").str.extract_all(r"[^\W\d_]+")
    common = pl.Series(common_words(), dtype=pl.String)
    uncommon = words.list.eval(~pl.element().is_in(common.implode())).list.any()
    return (texts.str.contains(_TRIGGER) | uncommon).fill_null(False)


_QUESTION_HINT = r"(?i)name|address|mail|ssn|social security|card|number|digits|pin|\bid\b"


def redact_identity_series(
    texts: pl.Series,
    *,
    types: frozenset[str],
    allow: Sequence[tuple[str, ...]] = (),
    conversation_ids: pl.Series | None = None,
    speakers: pl.Series | None = None,
) -> pl.Series:
    """Redact names, addresses and identity numbers in a series of texts.

    With ``conversation_ids`` and ``speakers`` (the turns in conversation order), a
    customer turn is read with the question before it and a name found in one turn is
    redacted in all turns of its conversation; without them each text stands alone.
    Only texts a rule could change are read in Python (a digit, a cue word, a short
    answer, the turn after a question, a turn of a conversation where a name was found).

    Returns
    -------
    pl.Series
        The redacted texts, same name, length and order.
    """
    if not texts.len():
        return texts
    frame = pl.DataFrame({"text": texts})
    candidate = _candidates(pl.col("text"))
    if conversation_ids is not None and speakers is not None:
        frame = frame.with_columns(conversation=conversation_ids, speaker=speakers)
        previous = pl.col("text").shift(1)
        after_question = (
            (pl.col("speaker") == "customer")
            & (pl.col("speaker").shift(1) != "customer")
            & (pl.col("conversation") == pl.col("conversation").shift(1))
            & previous.str.contains(_QUESTION_HINT).fill_null(False)
        )
        frame = frame.with_columns(
            asked=pl.when(after_question).then(previous), candidate=candidate | after_question
        )
    else:
        frame = frame.with_columns(
            conversation=pl.int_range(pl.len()), asked=pl.lit(None, pl.String), candidate=candidate
        )
    out = texts.to_list()
    found: dict[object, set[str]] = {}
    rows = frame.with_row_index("row").filter(pl.col("candidate"))
    # Turns repeat (scripted lines, short answers): each distinct (text, question) is
    # read once per call.
    memo: dict[tuple[str, str | None], tuple[str, set[str]]] = {}
    for row, text, conversation, question in rows.select(
        "row", "text", "conversation", "asked"
    ).iter_rows():
        asked = asked_for(question) if question else None
        done = memo.get((text, asked))
        if done is None:
            done = memo[(text, asked)] = redact_identities(
                text, types=types, asked=asked, allow=allow
            )
        out[row], names = done
        if names:
            found.setdefault(conversation, set()).update(names)
    if found:
        _carry_names(frame, out, found, types=types, allow=allow)
    return pl.Series(texts.name, out, dtype=pl.String)


def _carry_names(
    frame: pl.DataFrame,
    out: list[str | None],
    found: dict[object, set[str]],
    *,
    types: frozenset[str],
    allow: Sequence[tuple[str, ...]],
) -> None:
    """Redact the names found in a conversation in all of its turns (``out`` in place)."""
    rows = frame.with_row_index("row").filter(
        pl.col("conversation").is_in(list(found), nulls_equal=True)
    )
    for row, conversation in rows.select("row", "conversation").iter_rows():
        text = out[row]
        names = frozenset(found[conversation])
        if not text or not any(name in text.lower() for name in names):  # cheap first look
            continue
        if not names.isdisjoint(_key(m.group(0)) for m in _TOKEN.finditer(text)):
            out[row] = redact_identities(text, types=types, known_names=names, allow=allow)[0]
