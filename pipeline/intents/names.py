"""Intent labels: key phrases by class-based TF-IDF and the most typical request of a cluster.

Also names the step types found in the data (:mod:`pipeline.steps.clusters`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import cache
from typing import Any

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import CountVectorizer

from pipeline.ingest.identity.lexicon import CHAT_WORDS, STOP_WORDS, frequency, name_share, zipf
from pipeline.intents.phrases import MAX_TURNS, key_phrase
from pipeline.intents.requests import PLACEHOLDER

#: Longest key phrase, in words.
MAX_PHRASE = 3
#: Zipf frequency from which a word is too common to name anything ("think", "really",
#: "want", "get": about the 250 commonest English words).
GENERIC_ZIPF = 5.9
_TOKEN = re.compile(r"\b[a-z][a-z']*[a-z]\b")
_WORD = re.compile(r"[a-z][a-z']*[a-z]")
# verbs among the stop words: a key phrase may open with one
_STOP_VERBS = frozenset("call find fill get give go keep move put see show take describe".split())
# the top phrase of several words wins over the top single word at this share of its weight
_PHRASE_SHARE = 0.5


def describe_intents(
    requests: Sequence[str],
    labels: np.ndarray,
    vectors: np.ndarray,
    centroids: np.ndarray,
    *,
    n_terms: int,
    stop_words: Sequence[str] = (),
    spans: bool = False,
) -> list[dict[str, Any]]:
    """Name each cluster: class-based TF-IDF key phrases and its most typical request.

    Words are read lower-cased; fillers (:func:`is_filler`: stop words, greetings and
    chat fillers, ``stop_words``), placeholders such as ``<CARD>``, numbers and people's
    names (words borne by more people than they are used) are dropped, and key phrases
    are the 1- to 3-grams of the words left, as BERTopic builds them. c-TF-IDF treats all
    requests of a cluster as one document: a phrase's weight is its frequency in the
    cluster times ``log(1 + A / f)``, with ``A`` the mean number of phrases per cluster and
    ``f`` the phrase's frequency over all clusters. A phrase never spans two requests.

    Returns
    -------
    list of dict
        Per cluster index: ``terms`` (key phrases, best first), ``label`` (the best
        term; a single word grows into the best phrase holding it that weighs at least
        half as much: "party" into "surprise party"; ``intent N`` when the cluster has
        no content word), ``key`` (that label, whatever ``spans`` says: a name made
        of the terms alone) and ``exemplar`` (the member request closest to the
        centroid). With ``spans`` the label is instead the span of a typical member
        that holds the top term, as said (:func:`pipeline.intents.phrases.key_phrase`:
        "escalating this to our tier 2 team" for the terms "escalating tier team"),
        when one holds it, and a
        cluster without a content word is named by its exemplar (``turns like "Yes"``).
    """
    k = len(centroids)
    texts = np.asarray(requests, dtype=object)
    extra = frozenset(w.lower() for w in stop_words)
    vectoriser = CountVectorizer(analyzer=lambda text: phrases(text, extra), lowercase=False)
    weights = None
    try:
        per_request = vectoriser.fit_transform(texts.tolist())
    except ValueError:  # no request has a content word
        per_request = None
    if per_request is not None:
        vocabulary = vectoriser.get_feature_names_out()
        placed = np.flatnonzero((labels >= 0) & (labels < k))
        member = sparse.csr_matrix(
            (np.ones(placed.size), (labels[placed], placed)), shape=(k, len(texts))
        )
        counts = np.asarray((member @ per_request).todense(), dtype=np.float64)
        words = counts.sum(axis=1, keepdims=True)
        tf = counts / np.maximum(words, 1)
        idf = np.log(1 + words.mean() / np.maximum(counts.sum(axis=0), 1))
        weights = tf * idf
    described = []
    for c in range(k):
        terms: list[str] = []
        label = f"intent {c}"
        if weights is not None:
            top = np.argsort(-weights[c], kind="stable")[:n_terms]
            ranked = [(str(vocabulary[i]), float(weights[c, i])) for i in top if weights[c, i] > 0]
            terms = [phrase for phrase, _ in ranked]
            label = _label(ranked) or label
        key = label
        members = np.flatnonzero(labels == c)
        exemplar = None
        if members.size:
            typical = members[np.argsort(-(vectors[members] @ centroids[c]), kind="stable")]
            exemplar = str(texts[typical[0]])
            if spans and terms:
                turns = list(dict.fromkeys(str(t) for t in texts[typical[: 4 * MAX_TURNS]]))
                label = key_phrase(turns, ranked, content=lambda w: _content(w, extra),
                                   edge_ok=_edge_ok) or label  # fmt: skip
            elif spans:  # no content word at all: say what its turns look like
                label = f"turns like \u201c{_cut(exemplar)}\u201d"
        described.append({"terms": terms, "label": label, "key": key, "exemplar": exemplar})
    return described


def phrases(text: str, extra: frozenset[str] = frozenset()) -> list[str]:
    """Return the 1- to :data:`MAX_PHRASE`-word phrases of a text's content words."""
    words = content_words(text, extra)
    return [
        " ".join(words[i : i + n])
        for n in range(1, MAX_PHRASE + 1)
        for i in range(len(words) - n + 1)
        if len(set(words[i : i + n])) == n
    ]


def content_words(text: str, extra: frozenset[str] = frozenset()) -> list[str]:
    """Return the words a key phrase may hold: no filler, placeholder, number or name."""
    words = _TOKEN.findall(PLACEHOLDER.sub(" ", text).lower().replace("\u2019", "'"))
    return [w for w in words if not is_filler(w, extra) and not _is_name(w)]


def is_filler(word: str, extra: frozenset[str] = frozenset()) -> bool:
    """Say whether a lower-cased word names nothing (a stop word, greeting or chat filler).

    So do the commonest words (Zipf frequency at least :data:`GENERIC_ZIPF`). A
    contraction counts by its first part ("it's", "we're", "i'll").
    """
    head = word.split("'", 1)[0]
    return (
        len(head) < 2
        or _generic(head)
        or word in extra
        or head in extra
        or head in STOP_WORDS
        or head in CHAT_WORDS
        or word in CHAT_WORDS
    )


def is_filler_label(label: str) -> bool:
    """Say whether a label holds no word that names anything (empty, or fillers only)."""
    return all(is_filler(w) for w in re.findall(r"[a-z][a-z']*", label.lower()))


def _cut(text: str, limit: int = 40) -> str:
    """Shorten a text to ``limit`` characters at a word boundary, with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0].rstrip(",;:") + "\u2026"


def _content(word: str, extra: frozenset[str]) -> str | None:
    """Return a lower-cased word as a key-phrase word (:func:`content_words`), or None."""
    word = word.replace("\u2019", "'")
    if not _WORD.fullmatch(word) or is_filler(word, extra) or _is_name(word):
        return None
    return word


def _edge_ok(word: str) -> bool:
    """Say whether a lower-cased word may open or close a key phrase.

    A content word may (:func:`_content`: no filler, name or number), and so may the
    verbs among the stop words ("give me a sec", "find the order").
    """
    word = word.replace("\u2019", "'")
    return word.split("'", 1)[0] in _STOP_VERBS or _content(word, frozenset()) is not None


@cache
def _generic(word: str) -> bool:
    return zipf(word) >= GENERIC_ZIPF


@cache
def _is_name(word: str) -> bool:
    """Borne by more people than it is used as a word (census share): ``maria``, not ``bill``."""
    return name_share(word) >= max(frequency(word), 1e-9) and not word.endswith("'s")


def _label(ranked: list[tuple[str, float]]) -> str | None:
    """Return the top phrase; a top single word grows into its best phrase of half its weight."""
    if not ranked:
        return None
    top, weight = ranked[0]
    if " " in top:
        return top
    grown = [p for p, w in ranked if " " in p and top in p.split() and w >= _PHRASE_SHARE * weight]
    return grown[0] if grown else top
