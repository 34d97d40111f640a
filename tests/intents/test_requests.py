"""Opening requests: the turns picked, their averaged vector and hash."""

import numpy as np
import polars as pl

from pipeline.config import IntentConfig
from pipeline.intents.requests import (
    mark_answers,
    opening_requests,
    request_text,
    request_vectors,
    request_words,
)


def turns_frame(rows):
    return pl.DataFrame(
        rows,
        schema=["conversation_id", "turn_idx", "speaker", "event_type", "text"],
        orient="row",
    )


def test_opening_requests_skip_pleasantries_and_keep_the_first_content_turns():
    turns = turns_frame(
        [
            ("a", 0, "customer", "utterance", "Hello!"),
            ("a", 1, "agent", "utterance", "Hi, how can I help you today with your refund?"),
            ("a", 2, "customer", "utterance", "hi my name is Jon"),
            ("a", 3, "customer", "utterance", "I want a refund for my order"),
            ("a", 4, "customer", "action", None),
            ("a", 5, "customer", "utterance", "it arrived broken yesterday"),
            ("a", 6, "customer", "utterance", "the box was crushed completely"),
            ("b", 0, "customer", "utterance", "thanks, bye"),
            ("c", 0, "agent", "utterance", "anyone there?"),
            ("d", 0, "customer", "utterance", "<CARD> <EMAIL> please"),
            ("d", 1, "customer", "utterance", "card stolen yesterday"),
        ]
    )
    picked = opening_requests(turns, IntentConfig(opening_turns=2))
    by_conversation = picked.group_by("conversation_id", maintain_order=True).agg("turn_idx")
    assert dict(by_conversation.iter_rows()) == {
        "a": [3, 5],  # greetings and "my name is Jon" skipped; at most 2 turns
        "b": [0],  # no content turn at all: the first customer turn stands in
        "d": [1],  # placeholders are not content
    }


def test_request_vectors_average_turns_and_hash_the_request():
    requests = pl.DataFrame(
        {
            "conversation_id": ["a", "a", "b"],
            "turn_idx": [0, 1, 0],
            "text": ["x", "y", "z"],
            "text_hash": ["h1", "h2", "h3"],
        }
    )
    matrix = np.array([[1, 0], [0, 1], [1, 0]], dtype=np.float32)
    units, vectors = request_vectors(requests, matrix)
    assert units["conversation_id"].to_list() == ["a", "b"]
    assert units["request"].to_list() == ["x / y", "z"]
    np.testing.assert_allclose(vectors[0], [2**-0.5, 2**-0.5], rtol=1e-6)
    changed, _ = request_vectors(requests.with_columns(text_hash=pl.lit("h9")), matrix)
    assert units["unit_hash"][1] != changed["unit_hash"][1]


ANSWERS = [
    ("m", 0, "customer", "utterance", "hi good morning"),
    ("m", 1, "customer", "utterance", "i want to change my seat"),
    ("m", 2, "customer", "utterance", "viswa"),
    ("m", 3, "customer", "utterance", "mumbai to chennai"),
    ("m", 4, "customer", "utterance", "yes it's <ID>"),
    ("m", 5, "customer", "utterance", "window seat please near the wing"),
    ("m", 6, "customer", "utterance", "ok thank you bye"),
    ("g", 0, "agent", "utterance", "Thanks for contacting us. How can I help?"),
    ("g", 1, "customer", "utterance", "Sure, it's Maria Lopez"),
    ("g", 2, "customer", "utterance", "my card got lost on the train"),
    ("g", 3, "customer", "utterance", "it was stolen yesterday evening"),
    ("g", 4, "agent", "utterance", "I've blocked it. Can you confirm the address?"),
    ("g", 5, "customer", "utterance", "the new address is on the account page"),
    ("g", 6, "agent", "action", None),
    ("x", 0, "customer", "utterance", "lost card"),
    ("x", 1, "customer", "utterance", "<CARD>"),
]


def test_answers_names_places_numbers_and_replies_after_the_agent_are_marked():
    marked = mark_answers(turns_frame(ANSWERS), IntentConfig())
    answers = {(c, t) for c, t, a in marked.select("conversation_id", "turn_idx", "is_answer")
               .iter_rows() if a}  # fmt: skip
    # without agent turns only the words decide: greeting, name, cities, "yes it's <ID>",
    # thanks; "window seat ... wing" carries request words and is kept
    assert {t for c, t in answers if c == "m"} == {0, 2, 3, 4, 6}
    # with agent turns the request ends where the agent replies: turn 5 answers it, while
    # the agent's greeting before the request ends nothing
    assert {t for c, t in answers if c == "g"} == {1, 5}
    assert {t for c, t in answers if c == "x"} == {1}  # "lost card": a field word counts
    assert marked.columns == ["conversation_id", "turn_idx", "text", "n_words", "is_answer"]


def test_request_words_keep_field_words_and_drop_names_numbers_and_fillers():
    assert request_words("yeah it's Maria, card 4411 <CARD> pls") == ["card"]
    assert request_words("my name is Jon and my number is 555") == []
    assert request_words("I need to change the delivery address") == [
        "need",
        "change",
        "delivery",
        "address",
    ]


def test_skip_answers_picks_request_turns_and_labels_read_them_without_answers():
    turns = turns_frame(ANSWERS)
    config = IntentConfig(opening_turns=2, skip_answers=True)
    picked = opening_requests(turns, config)
    by_conversation = dict(
        picked.group_by("conversation_id", maintain_order=True).agg("turn_idx").iter_rows()
    )
    assert by_conversation == {"g": [2, 3], "m": [1, 5], "x": [0]}
    # the default keeps the old rule (any two content words): names and cities count
    plain = opening_requests(turns, IntentConfig(opening_turns=2))
    assert plain.filter(pl.col("conversation_id") == "m")["turn_idx"].to_list() == [1, 3]
    asked = dict(request_text(plain, mark_answers(turns, config)).iter_rows())
    assert asked["m"] == "i want to change my seat"
    everything_answers = turns_frame([("z", 0, "customer", "utterance", "Maria Lopez")])
    only = opening_requests(everything_answers, IntentConfig())
    assert dict(request_text(only, mark_answers(everything_answers, config)).iter_rows()) == {
        "z": "Maria Lopez"
    }
