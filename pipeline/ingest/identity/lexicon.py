"""What a word is likely to be: an everyday word, a person's name, a street type, chat filler.

The free-text redaction rules (:mod:`pipeline.ingest.identity`) ask these questions of each
lower-cased token. The answers come from general sources, none from a dataset the rules
are scored on:

- **word frequency**: ``wordfreq``'s English list (web, subtitles, news, books; Zipf scale,
  where 6 is "the"-common and 3 is once per million words);
- **name share**: the 1990 US Census name files shipped by the ``names`` package (share of
  people with each first name and each surname), public domain;
- **street types and directions**: USPS Publication 28's street suffix list (the list
  ``usaddress`` uses), in ``street_types.txt`` and ``directions.txt`` next to this file;
- **stop words**: scikit-learn's English list; **chat words** and **cues**: the short
  lists below, generic to written and spoken customer service, not to one dataset.

A token is *name-like* when it is rare as a word (Zipf below :data:`RARE_ZIPF`: most
names outside the census lists, typos and codes) or when the census share of people
bearing it is at least its frequency as a word (``john``, ``smith``, not ``good``); a
*surname-like* token passes the same test at a tenth of the share (``hall``, ``ball``).
The rules only call a token a name where the turn's shape or a cue says a name is
given, so everyday words that are also names stay in ordinary sentences.
"""

from __future__ import annotations

import math
import re
from functools import cache, lru_cache
from importlib import resources

from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

#: Words whose answers each per-word rule keeps (least recently used dropped first): the
#: vocabulary of a night's text is unbounded (names, codes), the memory must not be.
WORDS_CACHED = 50_000
#: Zipf frequency under which a word counts as rare (about the 8,000th commonest word).
RARE_ZIPF = 4.0
#: Zipf frequency under which a short letter group can be part of a code (``abc 123``).
CODE_ZIPF = 4.5

#: scikit-learn's English stop words without the content words that list carries (its
#: documentation warns of them): "mill", "bill", "fire" are names and streets here.
STOP_WORDS: frozenset[str] = frozenset(ENGLISH_STOP_WORDS) - frozenset(
    """bill mill fire cry call side system top bottom front back interest hundred detail
    describe thick thin con de co un found move show part empty fill find serious sincere
    amount""".split()
)

#: Greetings, thanks, acknowledgements, fillers, forms of address and texting shorthand.
CHAT_WORDS: frozenset[str] = frozenset(
    """
    yes yeah yep yup ya yah yea yeh ok okay k kk sure fine right alright correct exactly
    certainly absolutely hi hai hello hey thanks thank thx ty welcome please pls plz bye
    goodbye good morning evening afternoon night great nice cool um umm uh hmm ah oh np
    alot gud u ur r coz cuz bcoz nope nah tmrw wanna gonna lemme sir madam maam mam
    """.split()
)

#: Words that name a field of personal data (what is asked for, or given).
FIELD_WORDS: frozenset[str] = frozenset(
    """
    name names address email mail phone mobile contact ph number no id ssn policy claim
    booking confirmation card account and digits last first full iban dob birth date zip
    postcode pin passport
    """.split()
)

#: Identity cue words and the placeholder type a number after them gets (None: any).
ID_CUES: dict[str, str | None] = {
    **dict.fromkeys(("ssn", "social"), "ssn"),
    **dict.fromkeys(("card",), "card"),
    **dict.fromkeys(
        ("phone", "mobile", "cell", "contact", "ph", "tel", "telephone", "whatsapp"), "phone"
    ),
    **dict.fromkeys(
        """account acct policy claim booking confirmation reference ref member membership
        order ticket pnr pin customer id passport licence license invoice tracking
        case iban routing""".split(),
        "id",
    ),
    **dict.fromkeys(("number", "no", "num", "nr", "digits", "security", "code"), None),
}

#: Words after a number that make it an amount, a time or a measure, not an identifier.
UNIT_WORDS: frozenset[str] = frozenset(
    """
    am pm cal kcal ml l kg g lb lbs km mi cc mm cm inch inches ft dollars dollar usd rs
    inr eur euro euros pound pounds rupee rupees yen cent cents percent hrs hours mins
    minutes min days weeks months years items pieces people persons passengers
    """.split()
)

#: Ordinal suffixes typed apart from their number ("4 th", "2 nd").
ORDINAL_SUFFIXES: frozenset[str] = frozenset(("st", "nd", "rd", "th"))

#: Currency words before a number that make it an amount.
CURRENCY_WORDS: frozenset[str] = frozenset("usd eur gbp inr rs aud cad jpy chf".split())

#: Words before a 4-digit number that make it a year.
YEAR_WORDS: frozenset[str] = frozenset("year in since from model till until by of".split())

#: Two-letter US state codes (USPS), without those that are also common words.
STATE_CODES: frozenset[str] = frozenset(
    """al ak az ar ca co ct de fl ga hi id il ia ks ky la md ma mi mn ms mo mt ne nv nh nj
    nm ny nc nd pa ri sc sd tn tx ut vt va wa wv wi wy dc""".split()
)


def _lines(name: str) -> frozenset[str]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
    return frozenset(line.strip() for line in text.splitlines() if line.strip())


STREET_TYPES: frozenset[str] = _lines("street_types.txt") - STOP_WORDS - UNIT_WORDS
DIRECTIONS: frozenset[str] = _lines("directions.txt") - STOP_WORDS
_LONG_STREET_TYPES = tuple(sorted(t for t in STREET_TYPES if len(t) >= 4))


@cache
def _frequencies() -> dict[str, float]:
    import wordfreq

    return wordfreq.get_frequency_dict("en")


@cache
def _name_shares() -> dict[str, float]:
    """Share of people bearing each census first name (per sex, halved) or surname."""
    shares: dict[str, float] = {}
    folder = resources.files("names")
    for file, per_person in (
        ("dist.male.first", 0.5),
        ("dist.female.first", 0.5),
        ("dist.all.last", 1.0),
    ):
        for line in folder.joinpath(file).read_text(encoding="ascii").splitlines():
            parts = line.split()
            if len(parts) >= 2:
                key, share = parts[0].lower(), float(parts[1]) / 100 * per_person
                shares[key] = max(shares.get(key, 0.0), share)
    return shares


def load() -> None:
    """Load the word-frequency and census tables now (about 0.2 s) instead of on first use."""
    _frequencies()
    _name_shares()


@lru_cache(maxsize=WORDS_CACHED)
def frequency(word: str) -> float:
    """Frequency of ``word`` as an English word (0 when unknown).

    A contraction typed without its apostrophe (``youre``, ``thatll``) takes the
    frequency of the contraction when that is higher.
    """
    table = _frequencies()
    found = table.get(word, 0.0)
    if len(word) > 1:
        for suffix in ("re", "ll", "ve", "s", "d", "t", "m"):
            if word.endswith(suffix):
                found = max(found, table.get(f"{word[: -len(suffix)]}'{suffix}", 0.0))
    return found


def zipf(word: str) -> float:
    """Zipf frequency of ``word`` (log10 of occurrences per billion words; 0 when unknown)."""
    found = frequency(word)
    return math.log10(found) + 9 if found else 0.0


def name_share(word: str) -> float:
    """Share of people in the census lists bearing ``word`` as a first name or surname."""
    return _name_shares().get(word, 0.0)


_REPEATS = re.compile(r"(.)\1+")
_VOWELS = frozenset("aeiouy")


def _near_chat_word(word: str) -> bool:
    """Say whether ``word`` is a chat word with letters repeated, or a vowel added or dropped."""
    squeezed = _REPEATS.sub(r"\1", word)
    if squeezed in CHAT_WORDS:
        return True
    for known in CHAT_WORDS:
        if len(known) < 3 or abs(len(known) - len(squeezed)) > 1:
            continue
        if len(known) == len(squeezed):
            diff = [i for i, (a, b) in enumerate(zip(known, squeezed, strict=True)) if a != b]
            if len(diff) == 1 and {known[diff[0]], squeezed[diff[0]]} <= _VOWELS:
                return True
            continue
        longer, shorter = (known, squeezed) if len(known) > len(squeezed) else (squeezed, known)
        if any(
            longer[i] in _VOWELS and longer[:i] + longer[i + 1 :] == shorter
            for i in range(len(longer))
        ):
            return True
    return False


def _glued_chat(word: str) -> bool:
    """Two words typed as one where one is a chat word (``nothanks``, ``yesplease``)."""
    function_words = CHAT_WORDS | STOP_WORDS
    for cut in range(1, len(word)):
        head, tail = word[:cut], word[cut:]
        if (len(head) >= 2 and head in CHAT_WORDS and tail in function_words) or (
            len(tail) >= 2 and tail in CHAT_WORDS and head in function_words
        ):
            return True
    return False


@lru_cache(maxsize=WORDS_CACHED)
def is_chat(word: str) -> bool:
    """Whether ``word`` is a greeting, thanks, filler or texting shorthand (typos included)."""
    if word in CHAT_WORDS:
        return True
    if name_share(word) >= max(frequency(word), 1e-9):  # "noah" is a name, not "nah"
        return False
    return _near_chat_word(word) or (len(word) >= 5 and _glued_chat(word))


@lru_cache(maxsize=WORDS_CACHED)
def is_plain(word: str) -> bool:
    """Say whether ``word`` is a content word: letters, not a stop, field, unit or chat word."""
    return (
        word.isalpha()
        and word not in STOP_WORDS
        and word not in FIELD_WORDS
        and word not in CURRENCY_WORDS
        and word not in UNIT_WORDS
        and not is_chat(word)
    )


# Endings of derived English words (perplexed, unsuccessfully, verification): a rare word
# with one is an uncommon word, not a name; names with them are in the census lists.
_DERIVED_ENDINGS = (
    "ied", "xed", "ked", "ted", "ped", "sed", "ged", "ced", "ing", "lly", "tion", "sion",
    "ment", "ness", "able", "ible", "ful", "less", "ous", "ive", "ize", "ise", "ity", "ical",
    "ate", "val", "led", "est",
)  # fmt: skip


@lru_cache(maxsize=WORDS_CACHED)
def is_name_like(word: str) -> bool:
    """Rare as a word (and not a derived word), or borne by as many people as it is used."""
    if not is_plain(word):
        return False
    if name_share(word) >= max(frequency(word), 1e-9):
        return True
    return zipf(word) < RARE_ZIPF and not (len(word) >= 5 and word.endswith(_DERIVED_ENDINGS))


@lru_cache(maxsize=WORDS_CACHED)
def is_surname_like(word: str) -> bool:
    """Name-like at a tenth of the share (``hall``, ``ball``: names beside a first name)."""
    return is_plain(word) and name_share(word) >= 0.1 * max(frequency(word), 1e-9)


def is_rare(word: str) -> bool:
    """Rare enough as a word that seeing it again in a conversation means the same name."""
    return zipf(word) < 3.5 or name_share(word) >= max(frequency(word), 1e-9)


@lru_cache(maxsize=WORDS_CACHED)
def is_street_type(word: str) -> bool:
    """Say whether ``word`` is a USPS street type, or a rare token glued to one (``roadlondon``)."""
    return word in STREET_TYPES or (
        word.isalpha()
        and zipf(word) < RARE_ZIPF
        and (word.startswith(_LONG_STREET_TYPES) or word.endswith(_LONG_STREET_TYPES))
    )


@cache
def common_words() -> tuple[str, ...]:
    """Words no rule takes for personal data without a cue: frequent and not name-like.

    Every word with a Zipf frequency of at least :data:`RARE_ZIPF` that
    :func:`is_name_like` rejects (apostrophes dropped, as the rules read words), plus
    the stop and chat words. A text made only of these, without a digit or a cue word,
    is left alone without reading it word by word.
    """
    threshold = 10 ** (RARE_ZIPF - 9)
    words = {
        word.replace("'", "")
        for word, share in _frequencies().items()
        if share >= threshold and word.replace("'", "").isalpha()
    }
    return tuple(sorted({w for w in words if not is_name_like(w)} | STOP_WORDS | CHAT_WORDS))


@lru_cache(maxsize=WORDS_CACHED)
def digit_count(word: str) -> int:
    """Count the digits in ``word``."""
    return sum(map(str.isdigit, word))
