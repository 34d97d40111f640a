"""What a word is likely to be, from word frequencies and census names."""

import pytest

from pipeline.ingest.identity import lexicon


@pytest.mark.parametrize("word", ["priya", "rajesh", "john", "smith"])
def test_name_like(word: str) -> None:
    assert lexicon.is_name_like(word)


@pytest.mark.parametrize("word", ["economy", "class", "good", "tomorrow", "please", "number"])
def test_not_name_like(word: str) -> None:
    assert not lexicon.is_name_like(word)


@pytest.mark.parametrize("word", ["hii", "byee", "okey", "nothanks", "yesplease", "thx"])
def test_chat_words_and_their_typos(word: str) -> None:
    assert lexicon.is_chat(word)


@pytest.mark.parametrize("word", ["raman", "leone", "hina", "goodwin"])
def test_names_are_not_chat(word: str) -> None:
    assert not lexicon.is_chat(word)


def test_contractions_without_apostrophe_are_words() -> None:
    assert lexicon.zipf("thatll") == lexicon.zipf("that'll")
    assert not lexicon.is_name_like("dont") and not lexicon.is_name_like("youre")


def test_street_types() -> None:
    assert lexicon.is_street_type("road") and lexicon.is_street_type("streetlondon")
    assert not lexicon.is_street_type("ml")  # a unit, not a street type
