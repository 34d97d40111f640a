"""The opening request: what a conversation's customer asked for, as text and as a vector.

The unit of intent discovery is a conversation, represented by its opening request: the
first ``opening_turns`` customer turns that carry content (greetings, thanks and
self-introductions are skipped), each embedded through the cache and averaged. With
``intents.skip_answers``, answers are skipped too (:func:`mark_answers`): names, numbers,
places, "yes", "it's <NAME>", and, where agent turns exist, every customer turn after the
agent has replied to the request. Labels always read the request without its answers
(:func:`request_text`).
"""

from __future__ import annotations

import hashlib
import re
from functools import cache

import numpy as np
import polars as pl
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS

from pipeline.clustering import unit_rows
from pipeline.config import IntentConfig
from pipeline.ingest.identity.lexicon import (
    CURRENCY_WORDS,
    FIELD_WORDS,
    STOP_WORDS,
    UNIT_WORDS,
    is_chat,
    is_name_like,
)

_WORD = r"[a-z][a-z']+"
#: A redaction placeholder such as ``<CARD>``: no content word.
PLACEHOLDER = re.compile(r"<[A-Z_]+>")
_WORD_OF_REQUEST = re.compile(r"[a-z][a-z']*")


def opening_requests(
    turns: pl.DataFrame, config: IntentConfig, *, marked: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Pick each conversation's opening request turns.

    Parameters
    ----------
    turns
        ``conversation_id, turn_idx, speaker, event_type, text`` (any order).
    config
        ``opening_turns``, ``min_content_words``, ``pleasantries`` and ``skip_answers``
        are used.
    marked
        :func:`mark_answers` of ``turns`` when the caller has it (``skip_answers`` reads
        it; computed when absent).

    Returns
    -------
    polars.DataFrame
        ``conversation_id, turn_idx, text``: up to ``opening_turns`` customer utterances
        per conversation with at least ``min_content_words`` content words; when a
        conversation has none, its first customer utterance. With ``skip_answers``, the
        first ``opening_turns`` turns :func:`mark_answers` does not call answers, else
        the turn with the most request words. Conversations without customer text are
        absent.
    """
    if config.skip_answers:
        marked = mark_answers(turns, config) if marked is None else marked
        keep = ~pl.col("is_answer")
        return _pick(
            marked.lazy(), keep, config.opening_turns, stand_in=["-n_words", "turn_idx"]
        ).collect()
    skip = sorted(set(ENGLISH_STOP_WORDS) | {w.lower() for w in config.pleasantries})
    customer = (
        turns.lazy()
        .filter(
            (pl.col("speaker") == "customer")
            & (pl.col("event_type") == "utterance")
            & (pl.col("text").str.strip_chars().str.len_chars() > 0)
        )
        .select("conversation_id", "turn_idx", "text")
        .with_columns(
            n_content=pl.col("text")
            .str.replace_all(PLACEHOLDER.pattern, " ")
            .str.to_lowercase()
            .str.extract_all(_WORD)
            .list.eval(pl.element().filter(~pl.element().is_in(skip)))
            .list.len()
        )
        .sort("conversation_id", "turn_idx")
    )
    keep = pl.col("n_content") >= config.min_content_words
    return _pick(customer, keep, config.opening_turns, stand_in=["turn_idx"]).collect()


def _pick(rows: pl.LazyFrame, keep: pl.Expr, n: int, *, stand_in: list[str]) -> pl.LazyFrame:
    """Return up to ``n`` rows a conversation that ``keep``, in conversation and turn order.

    A conversation where no row does keeps its first row by ``stand_in`` (column names,
    ``-`` for descending).
    """
    picked = rows.filter(keep).group_by("conversation_id", maintain_order=True).head(n)
    order = [c.lstrip("-") for c in stand_in]
    fallback = (
        rows.join(picked.select("conversation_id").unique(), on="conversation_id", how="anti")
        .sort(["conversation_id", *order], descending=[False, *(c[0] == "-" for c in stand_in)])
        .group_by("conversation_id", maintain_order=True)
        .head(1)
    )
    return (
        pl.concat([picked, fallback])
        .select("conversation_id", "turn_idx", "text")
        .sort("conversation_id", "turn_idx")
    )


def request_vectors(requests: pl.DataFrame, matrix: np.ndarray) -> tuple[pl.DataFrame, np.ndarray]:
    """Average each conversation's request turn vectors into one unit vector.

    Parameters
    ----------
    requests
        Output of :func:`opening_requests` plus ``text_hash``, sorted by conversation
        (as :func:`opening_requests` returns it); ``matrix`` row ``i`` embeds row ``i``.

    Returns
    -------
    units : polars.DataFrame
        ``conversation_id, request, unit_hash``, one row per conversation in order:
        the joined request text and a hash of its turns' text hashes (a conversation
        whose request changed gets a new unit hash).
    vectors : numpy.ndarray
        ``(n_conversations, dim)`` float32 unit rows aligned with ``units``.
    """
    if requests.is_empty():
        empty = pl.DataFrame(schema={"conversation_id": pl.String, "request": pl.String,
                                     "unit_hash": pl.String})  # fmt: skip
        return empty, np.empty((0, matrix.shape[1] if matrix.ndim == 2 else 0), np.float32)
    units = requests.group_by("conversation_id", maintain_order=True).agg(
        request=pl.col("text").str.join(" / "), n=pl.len()
    )
    starts = np.concatenate([[0], np.cumsum(units["n"].to_numpy())[:-1]]).astype(np.int64)
    sums = np.add.reduceat(matrix.astype(np.float64), starts, axis=0)
    vectors = unit_rows(sums).astype(np.float32)
    hashes = request_hashes(requests)
    units = units.drop("n").join(hashes, on="conversation_id", maintain_order="left")
    return units, vectors


def request_text(requests: pl.DataFrame, marked: pl.DataFrame) -> pl.DataFrame:
    """Return each conversation's request without its answers, for naming (``asked``).

    ``requests`` as :func:`opening_requests` returns it; ``marked`` as
    :func:`mark_answers` does. The request turns :func:`mark_answers` calls answers are
    left out and the rest joined with " / "; a request made only of answers is kept whole.
    """
    turns = requests.join(
        marked.select("conversation_id", "turn_idx", "is_answer"),
        on=["conversation_id", "turn_idx"],
        how="left",
    ).with_columns(is_answer=pl.col("is_answer").fill_null(False))
    whole = turns.group_by("conversation_id", maintain_order=True).agg(
        whole=pl.col("text").str.join(" / ")
    )
    asked = (
        turns.filter(~pl.col("is_answer"))
        .group_by("conversation_id", maintain_order=True)
        .agg(asked=pl.col("text").str.join(" / "))
    )
    return whole.join(asked, on="conversation_id", how="left").select(
        "conversation_id", asked=pl.coalesce("asked", "whole")
    )


def request_hashes(requests: pl.DataFrame) -> pl.DataFrame:
    """``conversation_id, unit_hash``: a hash of the request turns' text hashes."""
    joined = requests.group_by("conversation_id", maintain_order=True).agg(
        unit_hash=pl.col("text_hash").str.join("+")
    )
    return joined.with_columns(
        unit_hash=pl.Series(
            [hashlib.sha256(v.encode()).hexdigest()[:32] for v in joined["unit_hash"]],
            dtype=pl.String,
        )
    )


#: Words that say which personal field an answer gives ("name", "number"), no request.
_ANSWER_WORDS = frozenset(
    "name names no number id and first last full digits date dob birth zip postcode contact "
    "mail".split()
)


@cache
def _is_request_word(word: str) -> bool:
    """Say whether a word can carry a request: not a stop, chat, unit or answer word, nor a name."""
    if not word.isalpha() or word in STOP_WORDS or word in _ANSWER_WORDS:
        return False
    if word in UNIT_WORDS or word in CURRENCY_WORDS or is_chat(word):
        return False
    return word in FIELD_WORDS or not is_name_like(word)


def request_words(text: str, skip: frozenset[str] = frozenset()) -> list[str]:
    """Return the words of ``text`` that can carry a request (placeholders and ``skip`` out).

    Field words such as "card", "address" or "claim" count ("lost card"); the words
    that only say which field an answer gives ("name", "number") do not, nor names,
    places and other rare words (:func:`~pipeline.ingest.identity.lexicon.is_name_like`),
    numbers, stop words and chat fillers.
    """
    words = _WORD_OF_REQUEST.findall(PLACEHOLDER.sub(" ", text).lower())
    return [w for w in (w.replace("'", "") for w in words) if w not in skip and _is_request_word(w)]


def mark_answers(turns: pl.DataFrame, config: IntentConfig) -> pl.DataFrame:
    """Say which customer turns may hold the request and which are answers or small talk.

    A customer utterance is an answer or small talk (``is_answer``) when it has fewer
    than ``min_content_words`` :func:`request_words` (``pleasantries`` out): a greeting,
    thanks, "yes", "it's <NAME>", a number, a city. Where agent turns exist, the request
    ends where the agent first speaks after it: every later customer turn answers or
    reacts to the agent ("what's your order number?", "I've sent the link"). The agent's
    turns before the request ("how can I help?") invite it and end nothing.

    Parameters
    ----------
    turns
        ``conversation_id, turn_idx, speaker, event_type, text`` (any order; agent
        utterances are read for where they reply).

    Returns
    -------
    polars.DataFrame
        ``conversation_id, turn_idx, text, n_words, is_answer``: one row per non-empty
        customer utterance, in conversation and turn order.
    """
    skip = frozenset(w.lower() for w in config.pleasantries)
    said = (
        turns.filter(
            (pl.col("event_type") == "utterance")
            & pl.col("speaker").is_in(["customer", "agent"])
            & (pl.col("text").fill_null("").str.strip_chars().str.len_chars() > 0)
        )
        .select("conversation_id", "turn_idx", "speaker", "text")
        .sort("conversation_id", "turn_idx")
    )
    distinct = said.filter(pl.col("speaker") == "customer")["text"].unique()
    counts = dict(zip(distinct, (len(request_words(t, skip)) for t in distinct), strict=True))
    rows = []
    for (conversation,), part in said.group_by("conversation_id", maintain_order=True):
        requested, answered = False, False
        for turn_idx, speaker, text in part.select("turn_idx", "speaker", "text").iter_rows():
            if speaker == "agent":
                answered = requested
                continue
            n_words = counts[text]
            answer = n_words < config.min_content_words or answered
            rows.append((conversation, turn_idx, text, n_words, answer))
            requested = requested or not answer
    return pl.DataFrame(
        rows,
        schema={"conversation_id": pl.String, "turn_idx": pl.Int32, "text": pl.String,
                "n_words": pl.Int32, "is_answer": pl.Boolean},
        orient="row",
    )  # fmt: skip
