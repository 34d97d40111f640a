"""Evaluation metrics: pure functions over plain sequences, used by ``pipeline.evaluate.scores``.

Nothing here reads files or the database. Ratios whose denominator is empty follow one
rule, stated where it applies: both sides empty is a perfect score (1.0), one side
empty is 0.0.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.stats import spearmanr
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from pipeline.process.log import END, START


def score_clustering(
    true: Sequence[Hashable],
    pred: Sequence[Hashable | None],
    *,
    noise_label: Hashable | None = None,
) -> dict[str, float | int]:
    """Score a predicted clustering against true classes.

    Predictions that are ``None`` or equal to ``noise_label`` are noise (outliers,
    unassigned). For accuracy they are always wrong, as in DSTC11 intent induction: the
    Hungarian matching pairs true classes with real clusters only. For NMI and ARI all
    noise points form one extra cluster (what sklearn sees for HDBSCAN's ``-1``), so
    read them beside ``noise_share``.

    Parameters
    ----------
    true
        True class of each item.
    pred
        Predicted cluster of each item, aligned with ``true``.
    noise_label
        A cluster id that means noise, besides ``None`` (e.g. ``-1``).

    Returns
    -------
    dict
        ``nmi``, ``ari``, ``accuracy`` (after one-to-one Hungarian matching of classes to
        clusters on the contingency table), ``n_clusters_found`` (noise excluded),
        ``n_true`` (distinct classes), ``noise_share`` and ``n`` (items).

    Raises
    ------
    ValueError
        The sequences differ in length or are empty.
    """
    true, pred = list(true), list(pred)
    if len(true) != len(pred):
        raise ValueError(f"true and pred must be aligned: found {len(true)} and {len(pred)} items")
    if not true:
        raise ValueError("expected at least one item to score, found none")
    is_noise = [p is None or (noise_label is not None and p == noise_label) for p in pred]
    true_codes = _codes(true)
    clusters = _codes(p for p, noise in zip(pred, is_noise, strict=True) if not noise)
    noise_code = len(clusters)
    pred_codes = [
        noise_code if noise else clusters[p] for p, noise in zip(pred, is_noise, strict=True)
    ]
    true_idx = np.array([true_codes[t] for t in true])
    pred_idx = np.array(pred_codes)
    contingency = np.zeros((len(true_codes), noise_code + 1), dtype=np.int64)
    np.add.at(contingency, (true_idx, pred_idx), 1)
    real = contingency[:, :noise_code]  # the noise column never matches a class
    rows, cols = linear_sum_assignment(real, maximize=True) if noise_code else ([], [])
    matched = int(real[rows, cols].sum()) if noise_code else 0
    return {
        "nmi": float(normalized_mutual_info_score(true_idx, pred_idx)),
        "ari": float(adjusted_rand_score(true_idx, pred_idx)),
        "accuracy": matched / len(true),
        "n_clusters_found": noise_code,
        "n_true": len(true_codes),
        "noise_share": sum(is_noise) / len(true),
        "n": len(true),
    }


def collapse_repeats(sequence: Iterable[str]) -> list[str]:
    """Return ``sequence`` with runs of the same item collapsed to one (``aab`` -> ``ab``)."""
    out: list[str] = []
    for item in sequence:
        if not out or out[-1] != item:
            out.append(item)
    return out


def edit_similarity(a: Sequence[str], b: Sequence[str]) -> float:
    """Return 1 - Levenshtein(a, b) / max(len) on token sequences, repeats collapsed first.

    Two empty sequences are identical (1.0). Cost O(len(a) x len(b)).
    """
    a, b = collapse_repeats(a), collapse_repeats(b)
    longest = max(len(a), len(b))
    if longest == 0:
        return 1.0
    previous = list(range(len(b) + 1))
    for i, x in enumerate(a, start=1):
        current = [i]
        for j, y in enumerate(b, start=1):
            current.append(min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + (x != y)))
        previous = current
    return 1.0 - previous[-1] / longest


def map_labels(
    pred_seqs: Mapping[str, Sequence[str]],
    true_seqs: Mapping[str, Sequence[str]],
    *,
    turn_pairs: Iterable[tuple[str, str]] = (),
    keep: Collection[str] = ("other",),
) -> dict[str, str]:
    """Map extracted step ids to true step labels.

    An extracted id that is also a true label maps to itself (guided steps named after
    the documented SOP). The remaining ids are matched one-to-one to the remaining true
    labels by the Hungarian algorithm on their co-occurrence counts: per-turn pairs
    ``(extracted id, true label)`` aligned on the same turn when ``turn_pairs`` has any,
    otherwise, per conversation (keys of both mappings), one count for each pair of a
    distinct extracted id and a distinct true label present in it. An id left unmatched,
    or matched with zero co-occurrence, or listed in ``keep`` maps to itself, which then
    never equals a true label (scored as wrong).

    Parameters
    ----------
    pred_seqs
        Conversation id -> extracted step ids.
    true_seqs
        Conversation id -> true step labels.
    turn_pairs
        Position-aligned ``(extracted id, true label)`` pairs, one per labelled turn.
    keep
        Extracted ids never mapped to another label (the ``other`` residue).

    Returns
    -------
    dict
        Every extracted id (in ``pred_seqs`` or ``turn_pairs``) -> a label.
    """
    turn_pairs = list(turn_pairs)
    pred_ids = _codes(
        [*(s for seq in pred_seqs.values() for s in seq), *(p for p, _ in turn_pairs)]
    )
    true_ids = set(
        _codes([*(s for seq in true_seqs.values() for s in seq), *(t for _, t in turn_pairs)])
    )
    mapping = {p: p for p in pred_ids}
    free_pred = [p for p in pred_ids if p not in true_ids and p not in keep]
    free_true = sorted(true_ids - set(pred_ids))
    if not free_pred or not free_true:
        return mapping
    if turn_pairs:
        counts = Counter(turn_pairs)
    else:
        counts = Counter(
            (p, t)
            for cid in pred_seqs.keys() & true_seqs.keys()
            for p in set(pred_seqs[cid])
            for t in set(true_seqs[cid])
        )
    weights = np.array([[counts.get((p, t), 0) for t in free_true] for p in free_pred])
    for r, c in zip(*linear_sum_assignment(weights, maximize=True), strict=True):
        if weights[r, c] > 0:
            mapping[free_pred[r]] = free_true[c]
    return mapping


def dfg_edges(
    sequences: Iterable[Sequence[str]], *, min_share: float = 0.05
) -> set[tuple[str, str]]:
    """Return the directly-follows edges of ``sequences``, start ``▶`` and end ``■`` included.

    Each sequence contributes ``▶ -> first``, each consecutive pair and ``last -> ■``
    (an empty sequence contributes ``▶ -> ■``). An edge is kept when it carries at least
    ``min_share`` of its source's outgoing transitions, which drops rare noise edges.
    Repeats are not collapsed here: collapse them first if self-loops are not wanted.
    """
    counts: Counter[tuple[str, str]] = Counter()
    for sequence in sequences:
        path = [START, *sequence, END]
        counts.update(zip(path, path[1:], strict=False))
    outgoing: Counter[str] = Counter()
    for (src, _), n in counts.items():
        outgoing[src] += n
    return {edge for edge, n in counts.items() if n >= min_share * outgoing[edge[0]]}


def edge_prf(found: set, true: set) -> dict[str, float | int]:
    """Precision, recall and F1 of a found edge (or any item) set against the true set.

    Both sets empty scores 1.0 everywhere (nothing to find, nothing found); exactly one
    empty scores 0.0 everywhere.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``f1``, ``tp``, ``n_found``, ``n_true``.
    """
    tp = len(found & true)
    precision = _ratio(tp, len(found), other=len(true))
    recall = _ratio(tp, len(true), other=len(found))
    f1 = 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)
    return {
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "tp": tp,
        "n_found": len(found),
        "n_true": len(true),
    }


def match_drift(
    flagged: Sequence[Mapping[str, Any]],
    planted: Sequence[Mapping[str, Any]],
    *,
    window_days: int = 7,
) -> dict[str, Any]:
    """Match flagged drift findings with planted (true) ones.

    A flagged finding matches a planted one when ``sop_id``, ``step`` and ``kind`` are
    equal, the teams agree (checked only when both name a team), and its window
    ``[window_start, window_start + window_days)`` ends after the onset (it contains the
    onset or comes later). It matches in the *first window* when, besides, the window
    starts less than ``window_days`` after the onset: the window holding the onset, or
    the next one when windows are not aligned to it. Precision and recall follow the
    empty-set rule of :func:`edge_prf`.

    Parameters
    ----------
    flagged
        Findings the pipeline flagged: ``sop_id``, ``step``, ``kind``, ``window_start``
        (date, datetime or ISO string), ``team`` (optional).
    planted
        True findings: ``sop_id``, ``step``, ``kind``, ``onset`` (ISO date or date),
        ``team`` (optional).
    window_days
        Length of a drift window.

    Returns
    -------
    dict
        ``precision``, ``recall``, ``recall_first_window``, ``n_flagged``, ``n_planted``,
        and ``missed`` (the planted findings not recalled, JSON-able).
    """
    window = timedelta(days=window_days)
    matched_flags: set[int] = set()
    recalled = first_window = 0
    missed = []
    for truth in planted:
        onset = as_date(truth["onset"])
        hits = [
            (i, as_date(f["window_start"]))
            for i, f in enumerate(flagged)
            if _same_finding(f, truth) and as_date(f["window_start"]) + window > onset
        ]
        matched_flags.update(i for i, _ in hits)
        recalled += bool(hits)
        first_window += any(start < onset + window for _, start in hits)
        if not hits:
            missed.append({k: truth.get(k) for k in ("sop_id", "step", "kind", "team")})
    return {
        "precision": _ratio(len(matched_flags), len(flagged), other=len(planted)),
        "recall": _ratio(recalled, len(planted), other=len(flagged)),
        "recall_first_window": _ratio(first_window, len(planted), other=len(flagged)),
        "n_flagged": len(flagged),
        "n_planted": len(planted),
        "missed": missed,
    }


def rank_planted(
    printed: Sequence[Mapping[str, Any]],
    planted: Sequence[Mapping[str, Any]],
    *,
    window_days: int = 7,
) -> list[int | None]:
    """Where each planted finding first appears in a printed list of findings.

    Parameters
    ----------
    printed
        Findings in the order a user reads them (``sop_id``, ``step``, ``kind``,
        ``window_start``, ``team`` optional), any kinds.
    planted
        True findings, as :func:`match_drift` takes them.
    window_days
        Length of a drift window.

    Returns
    -------
    list
        Per planted finding, the 1-based position of the first printed finding that
        :func:`match_drift` would match with it (same finding, window ending after the
        onset); None when none does.
    """
    window = timedelta(days=window_days)
    ranks: list[int | None] = []
    for truth in planted:
        onset = as_date(truth["onset"])
        ranks.append(
            next(
                (
                    position
                    for position, flag in enumerate(printed, start=1)
                    if _same_finding(flag, truth) and as_date(flag["window_start"]) + window > onset
                ),
                None,
            )
        )
    return ranks


def spearman(order_found: Sequence[str], order_true: Sequence[str]) -> float:
    """Spearman rank correlation of two rankings (best first) over their common items.

    Items in only one ranking are ignored; a repeated item keeps its first rank. Returns
    NaN when fewer than two items are common (the correlation is undefined).
    """
    found = list(dict.fromkeys(order_found))
    truth = list(dict.fromkeys(order_true))
    common = [item for item in truth if item in set(found)]
    if len(common) < 2:
        return math.nan
    shared = set(common)
    rank_found = {item: r for r, item in enumerate(i for i in found if i in shared)}
    statistic = spearmanr([rank_found[i] for i in common], list(range(len(common)))).statistic
    return float(statistic)


def _codes(items: Iterable[Hashable]) -> dict[Hashable, int]:
    """Give each distinct item a code, in order of first appearance."""
    return {item: code for code, item in enumerate(dict.fromkeys(items))}


def _ratio(numerator: int, denominator: int, *, other: int) -> float:
    """``numerator / denominator``; an empty denominator scores 1.0 only if ``other`` is 0."""
    if denominator == 0:
        return 1.0 if other == 0 else 0.0
    return numerator / denominator


def _same_finding(flag: Mapping[str, Any], truth: Mapping[str, Any]) -> bool:
    if any(flag.get(k) != truth.get(k) for k in ("sop_id", "step", "kind")):
        return False
    team, flag_team = truth.get("team"), flag.get("team")
    return team is None or flag_team is None or team == flag_team


def as_date(value: date | datetime | str) -> date:
    """Return the date of a date, a datetime or an ISO string."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    raise TypeError(f"expected a date, datetime or ISO date string, found {value!r}")
