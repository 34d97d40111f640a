"""Texts through the word rules: placeholders, the question before, names carried along."""

import polars as pl
import pytest

from pipeline.ingest.identity import (
    TOKEN_TYPES,
    asked_for,
    redact_identities,
    redact_identity_series,
)

ALL = frozenset(TOKEN_TYPES)


def test_a_name_leaves_no_part_behind_and_counts_once() -> None:
    text, names = redact_identities("Hi, my name is Priya Raman.", types=ALL)
    assert text == "Hi, my name is <NAME>." and text.count("<NAME>") == 1
    assert names == {"priya", "raman"}


def test_an_address_across_a_comma_is_one_placeholder() -> None:
    text, _ = redact_identities("I live at 12 Lake View Road, Springfield IL 62704.", types=ALL)
    assert text == "I live at <ADDRESS>." and text.count("<ADDRESS>") == 1


@pytest.mark.parametrize(
    "text", ["I paid $45.99 on 03/15/2026 at 10:30", "12.5% off", "upgrade to v2.3.1"]
)
def test_amounts_dates_times_and_versions_stay(text: str) -> None:
    assert redact_identities(text, types=ALL)[0] == text


def test_types_not_asked_for_stay() -> None:
    assert redact_identities("my name is Priya", types=frozenset({"id"}))[0] == "my name is Priya"


def test_allow_list_words_and_phrases_stay() -> None:
    allow = (("jordan",), ("air", "max"))
    text = redact_identities("my name is Jordan", types=ALL, allow=allow)[0]
    assert text == "my name is Jordan"


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("May I have your full name, please?", "name"),
        ("What is the delivery address?", "address"),
        ("Can you confirm the last four digits of the card?", "card"),
        ("What's your policy number?", "id"),
        ("How can I help you today?", None),
        ("Your name is on the booking.", None),  # not a question
    ],
)
def test_asked_for(question: str, kind: str | None) -> None:
    assert asked_for(question) == kind


def test_series_uses_the_question_and_carries_names_through_the_conversation() -> None:
    texts = pl.Series(
        "text",
        [
            "May I have your full name?",
            "Sure, it's Priya Raman.",
            "Thanks Priya. Anything else?",
            "Priya is the name of my dog",  # another conversation: no name found there
        ],
    )
    out = redact_identity_series(
        texts,
        types=ALL,
        conversation_ids=pl.Series(["c1", "c1", "c1", "c2"]),
        speakers=pl.Series(["agent", "customer", "agent", "customer"]),
    )
    assert out.to_list() == [
        "May I have your full name?",
        "Sure, it's <NAME>.",
        "Thanks <NAME>. Anything else?",
        "Priya is the name of my dog",
    ]


def test_series_without_context_reads_each_text_alone() -> None:
    out = redact_identity_series(pl.Series("t", ["love", None, "ssn 4410"]), types=ALL)
    assert out.to_list() == ["love", None, "ssn <SSN>"]


@pytest.mark.parametrize(
    "text",
    [
        # Requests and sentences, not identity answers (Banking77-like queries).
        "Can I get a refund?",
        "I am dissatisfied with the service.",  # a weak cue, a lower-case rare word
        "Activate my card",  # a sentence-initial capital is no evidence
        "I don't know that name shown.",  # a strong cue needs a capital in cased text
        "Where are the Mastercard ATMs?",
        "It's 2018 not 1818, why is it still pending?",  # years
        "Somebody made a withdrawal for 500. I have my card.",  # an amount after "for"
        "you should see it in 3 to 5 working days",  # a range
        "I'm here to help",
        "Hey I am standing in front of an ATM here",  # "X here" not opening the turn
    ],
)
def test_sentences_that_are_no_identity_answers_stay(text: str) -> None:
    assert redact_identities(text, types=ALL)[0] == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "Hi there, I'm Ben! I want to book a party.",
            "Hi there, I'm <NAME>! I want to book a party.",
        ),
        ("Priya here, calling about my order", "<NAME> here, calling about my order"),
        (
            "yeah it's Maria Mensah and my phone is <PHONE>",
            "yeah it's <NAME> and my phone is <PHONE>",
        ),
        ("ok so it's the one ending 9598, right?", "ok so it's the one ending <ID>, right?"),
    ],
)
def test_names_and_numbers_in_cased_text(text: str, expected: str) -> None:
    assert redact_identities(text, types=ALL)[0] == expected
