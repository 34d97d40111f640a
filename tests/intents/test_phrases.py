"""Key phrases read as said: the span of a typical turn holding a cluster's terms."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.intents.names import _content, _edge_ok, describe_intents, is_filler_label
from pipeline.intents.phrases import MAX_SPAN, key_phrase


def phrase(turns: list[str], ranked: list[tuple[str, float]]) -> str | None:
    return key_phrase(turns, ranked, content=lambda w: _content(w, frozenset()), edge_ok=_edge_ok)


def test_the_span_holds_the_terms_with_the_words_between_as_said():
    turns = ["I'm escalating this to our tier 2 team, they'll take it from here"]
    ranked = [("escalating tier team", 1.0), ("tier", 0.6), ("team", 0.5)]
    assert phrase(turns, ranked) == "escalating this to our tier 2 team"


def test_a_phrase_of_several_words_wins_over_a_single_word():
    assert phrase(["what if I dropped you to the basic plan?"], [("plan", 1.0)]) == "basic plan"
    assert phrase(["give me a sec"], [("sec", 1.0)]) == "give me a sec"  # a verb may open it


def test_no_span_crosses_punctuation_a_placeholder_or_a_long_number():
    turns = ["closure processed, that's it", "order <ID> shipped", "ticket 123456 closed today"]
    assert phrase(turns[:1], [("closure processed", 1.0), ("it", 0.2)]) == "closure processed"
    assert phrase(turns[1:2], [("order shipped", 1.0)]) is None  # the placeholder breaks it
    assert phrase(turns[2:], [("ticket closed", 1.0)]) is None


def test_a_span_opens_and_closes_on_a_content_word():
    found = phrase(["and then I will send you the summary by text as well"],
                   [("summary", 1.0), ("text", 0.8)])  # fmt: skip
    assert found == "summary by text"
    assert not is_filler_label(found)


def test_the_top_term_must_be_held_and_the_span_stays_short():
    assert phrase(["nothing here matches"], [("refund", 1.0)]) is None
    assert phrase(["anything"], []) is None
    long = "refund " + " ".join(["wait"] * 12) + " card"
    found = phrase([long], [("refund", 1.0), ("card", 0.9)])
    assert found is not None and len(found.split()) <= MAX_SPAN


def test_an_opening_capital_is_lowered_an_acronym_kept():
    assert phrase(["Sent the refund to your card"], [("sent refund", 1.0)]) == "sent the refund"
    assert phrase(["and your DOB please?"], [("dob", 1.0)]) == "DOB"


def test_the_more_typical_turn_wins_a_tie():
    turns = ["please update the address today", "please change the address today"]
    assert phrase(turns, [("address", 1.0), ("update", 0.5), ("change", 0.5)]) == (
        "update the address"
    )


@pytest.mark.parametrize("spans", [False, True])
def test_describe_intents_keeps_the_terms_label_as_key(spans):
    texts = ["I'm escalating this to our tier 2 team", "escalating this to the tier 2 team now"]
    vectors = np.eye(2)[[0, 0]].astype(np.float32)
    (described,) = describe_intents(texts, np.array([0, 0]), vectors, vectors[:1], n_terms=5,
                                    spans=spans)  # fmt: skip
    assert described["key"] == "escalating tier"  # the terms' label, spans or not
    expected = "escalating this to our tier 2 team" if spans else "escalating tier"
    assert described["label"] == expected
