"""Step scores: each turn's similarity to each step type, and the threshold to count.

A turn scores a type by its best cosine to the type's phrasings (a template fill scores
1.0). The threshold is calibrated on the data: Otsu's split of the turns' best scores
(template fills left out), i.e. the paraphrases of steps against the off-script rest.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from pipeline.steps.library import StepLibrary

#: A score at least this is a template fill or a bound action: certain, not similar.
EXACT = 1.0 - 1e-6


def score_phrases(
    texts: Sequence[str], vectors: np.ndarray, proto_vectors: np.ndarray, library: StepLibrary
) -> np.ndarray:
    """``(n_texts, n_phrasings)`` cosines; a text that fills a template scores 1.0.

    Memory O(texts x phrasings): chunk the texts for runs of millions of distinct texts.
    """
    sims = vectors @ proto_vectors.T if len(proto_vectors) else np.zeros((len(texts), 0))
    lowered = pl.Series(texts, dtype=pl.String).str.to_lowercase()
    for p, pattern in enumerate(library.proto_patterns):
        if pattern is None:
            continue
        hits = np.flatnonzero(lowered.str.contains(library.proto_anchors[p], literal=True))
        filled = [i for i in hits if pattern.fullmatch(texts[i])]
        sims[filled, p] = 1.0
    return sims


def score_types(phrase_scores: np.ndarray, library: StepLibrary) -> np.ndarray:
    """``(n_texts, n_types)``: each type's best phrasing; -1 for a type without one."""
    scores = np.full((len(phrase_scores), len(library.type_ids)), -1.0)
    for t in range(len(library.type_ids)):
        cols = np.flatnonzero(library.proto_type == t)
        if cols.size:
            scores[:, t] = phrase_scores[:, cols].max(axis=1)
    return scores


def otsu_threshold(values: np.ndarray) -> float:
    """Return the split of ``values`` that maximises the between-class variance (Otsu).

    Exact on the sorted values (no histogram bins): the midpoint of the two values the
    best split falls between. With fewer than two distinct values, their maximum (1.0
    for none).
    """
    v = np.sort(np.asarray(values, dtype=np.float64))
    if v.size < 2 or v[0] == v[-1]:
        return float(v[-1]) if v.size else 1.0
    k = np.arange(1, v.size)
    left = np.cumsum(v)[:-1]
    between = k * (v.size - k) * (left / k - (v.sum() - left) / (v.size - k)) ** 2
    between[v[1:] == v[:-1]] = -1.0  # split only between distinct values
    i = int(np.argmax(between))
    return float((v[i] + v[i + 1]) / 2)


def calibrate_threshold(unit_scores: np.ndarray, library: StepLibrary) -> float:
    """Return the similarity a turn needs to count as a step, calibrated on the data.

    Otsu's split of each turn's best score against the documented types (the generic
    ones when there are none), template fills left out: they are certain, and their
    mass at 1.0 would pull the split up to them.

    Parameters
    ----------
    unit_scores
        ``(n_turns, n_types)`` type scores, one row per turn (repeats count).
    library
        The types of the columns.
    """
    has_phrasing = np.isin(np.arange(len(library.type_ids)), library.proto_type)
    columns = np.flatnonzero(has_phrasing & ~np.array(library.generic, dtype=bool))
    if not columns.size:
        columns = np.flatnonzero(has_phrasing)
    if not len(unit_scores) or not columns.size:
        return 1.0
    best = unit_scores[:, columns].max(axis=1)
    return otsu_threshold(best[best < EXACT])
