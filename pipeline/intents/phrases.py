"""Key phrases as people said them: the short span of a typical turn that holds a cluster's terms.

Class-based TF-IDF (:func:`pipeline.intents.names.describe_intents`) ranks a cluster's
content words ("escalating tier team"); read alone they are hard to follow. A span of
a member turn that holds them reads as what agents or customers said ("escalating this
to our tier 2 team"). :func:`key_phrase` finds that span: within one clause (no
punctuation, placeholder or number of three or more digits inside), starting and ending
on a word that is no stop word, at most :data:`MAX_SPAN` words of which at most
:data:`MAX_EXTRA` are no ranked term's, scored by the weight
of the ranked terms it holds less a small cost per word it adds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

#: Longest key phrase read from a turn, in words.
MAX_SPAN = 7
#: Most words a key phrase holds that are in no ranked term.
MAX_EXTRA = 4
#: Typical member turns searched for the span, most typical first.
MAX_TURNS = 30
# the score a span loses per word it holds beyond the terms' own words, as a share of the
# top term's weight: a span adds a word only for a term worth more than that
_WORD_COST = 0.15
# the weight a ranked term other than the top one adds, as a share of its own: the
# label is about the top term; the others only refine it
_OTHER_TERMS = 0.5
_TOKEN = re.compile(
    r"<[A-Z_]+>|[A-Za-z0-9\u00c0-\u024f][A-Za-z0-9\u00c0-\u024f'\u2019&-]*|[^\sA-Za-z0-9]"
)
_JOINER = re.compile(r"^['\u2019&-]$")


def key_phrase(
    turns: Sequence[str],
    ranked: Sequence[tuple[str, float]],
    *,
    content: Callable[[str], str | None],
    edge_ok: Callable[[str], bool],
) -> str | None:
    """Return the best span of ``turns`` holding the top ranked term, as said; None if none.

    Parameters
    ----------
    turns
        Member turns, most typical first (only the first :data:`MAX_TURNS` are read).
    ranked
        Key phrases (content words joined by spaces) and their weights, best first.
    content
        Maps a lower-cased word to its content form, or None when it names nothing.
    edge_ok
        Says whether a lower-cased word may open or close a phrase (no stop word).

    A span must hold every word of the top term; its score is the top term's weight plus
    :data:`_OTHER_TERMS` times that of the other ranked terms whose words it all holds,
    less :data:`_WORD_COST` times the top weight per other word. A span of two words or
    more wins over a single word ("give me a sec" over "sec", "basic plan" over
    "plan"); then the best score; ties go to the shorter span, then the more typical
    turn. The span keeps the turn's own casing, except a capital that only opens the
    turn.
    """
    if not ranked:
        return None
    terms = [(frozenset(phrase.split()), weight) for phrase, weight in ranked]
    top_words, top_weight = terms[0]
    term_words = frozenset().union(*(words for words, _ in terms))
    best: tuple[bool, float, int, int] | None = None
    best_words: list[str] = []
    for t, turn in enumerate(turns[:MAX_TURNS]):
        for clause in _clauses(turn):
            keys = [content(w.lower()) for w in clause]
            for i in range(len(clause)):
                if not edge_ok(clause[i].lower()):
                    continue
                for j in range(i, min(i + MAX_SPAN, len(clause))):
                    if not edge_ok(clause[j].lower()):
                        continue
                    held = {k for k in keys[i : j + 1] if k}
                    if not top_words <= held:
                        continue
                    if sum(k not in term_words for k in keys[i : j + 1]) > MAX_EXTRA:
                        break
                    covered = [words for words, _ in terms if words <= held]
                    gained = top_weight + _OTHER_TERMS * sum(
                        w for words, w in terms[1:] if words <= held
                    )
                    own = len(set().union(*covered))
                    score = gained - _WORD_COST * top_weight * (j - i + 1 - own)
                    key = (j > i, round(score, 9), -(j - i + 1), -t)
                    if best is None or key > best:
                        best, best_words = key, clause[i : j + 1]
    if not best_words:
        return None
    if best_words[0][:1].isupper() and best_words[0][1:].islower() and best_words[0] != "I":
        best_words = [best_words[0].lower(), *best_words[1:]]
    return " ".join(best_words)


def _clauses(turn: str) -> list[list[str]]:
    """Split a turn into runs of words, broken at punctuation, placeholders and long numbers."""
    clauses: list[list[str]] = [[]]
    for token in _TOKEN.findall(turn):
        breaks = (
            token.startswith("<")
            or not (token[0].isalnum())
            or (any(c.isdigit() for c in token) and sum(c.isdigit() for c in token) >= 3)
        )
        if breaks and not _JOINER.match(token):
            clauses.append([])
        elif not breaks:
            clauses[-1].append(token.strip("'\u2019-&"))
    return [c for c in clauses if c]
