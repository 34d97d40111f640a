"""The word rules label names, addresses and identity values, and leave ordinary words."""

import pytest

from pipeline.ingest.identity.rules import label_tokens


def labels(text: str, **kwargs) -> list[str | None]:
    return label_tokens(text.split(), **kwargs)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my name is priya raman", [None, None, None, "name", "name"]),
        ("im charlie", [None, "name"]),
        ("priya raman", ["name", "name"]),  # a short answer of name-like words
        ("yes its jayden sloan", [None, None, "name", "name"]),
        ("jack jones is my name", ["name", "name", None, None, None]),
        ("sandhya k", ["name", "name"]),  # an initial beside a name
        ("lonzo ball", ["name", "name"]),  # a surname that is also a word, beside a name
    ],
)
def test_names(text: str, expected: list) -> None:
    assert labels(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "i am sorry for the delay",  # weak cue, no name-like word after it
        "economy class",  # a short answer of everyday words
        "hi good morning",
        "i want to book a ticket in flight",
        "nothanks",  # chat words typed together
        "okey thank you",  # a chat word with a vowel changed
        "have a nice day",
    ],
)
def test_ordinary_words_stay(text: str) -> None:
    assert labels(text) == [None] * len(text.split())


def test_the_question_asked_makes_an_answer_a_name() -> None:
    # "love" alone is too common a word to be a name without the question (a surname still).
    assert labels("love") == [None]
    assert labels("love", asked="name") == ["name"]


def test_addresses() -> None:
    assert labels("no 12 lake view road springfield il 62704") == ["address"] * 8
    assert labels("my address is 31 sindh vihar colony") == [None] * 3 + ["address"] * 4
    # A number and a street type with a stop word between them are no address.
    assert labels("thanks order 3348917502 is on its way")[-3:] == [None, None, None]


def test_an_answer_after_an_address_question() -> None:
    assert labels("sindh vihar colony gwalior", asked="address") == ["address"] * 4


def test_emails_typed_without_their_format() -> None:
    assert labels("harish 12 gmailcom") == ["email"] * 3
    assert labels("my email is vishnugmailcom") == [None, None, None, "email"]


def test_kept_tokens_are_never_labelled() -> None:
    keep = [False, False, False, True]
    assert labels("my name is jordan", keep=keep) == [None] * 4


def test_placeholders_keep_their_type() -> None:
    assert labels("<email> and priya") == ["email", None, "name"]
