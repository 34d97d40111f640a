"""Opening requests: the turns picked, their averaged vector and hash."""

import numpy as np
import polars as pl

from pipeline.config import IntentConfig
from pipeline.intents.requests import opening_requests, request_vectors


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
