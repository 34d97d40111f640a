import copy
import math
from datetime import date, datetime

import pytest

from pipeline.evaluate.metrics import (
    END,
    START,
    collapse_repeats,
    dfg_edges,
    edge_prf,
    edit_similarity,
    map_labels,
    match_drift,
    rank_planted,
    score_clustering,
    spearman,
)

# ---------------------------------------------------------------- score_clustering


@pytest.mark.parametrize(
    ("pred", "expected"),
    [
        # perfect, and a relabelling permutation of it
        (["x", "x", "y", "y"], {"nmi": 1.0, "ari": 1.0, "accuracy": 1.0, "n_clusters_found": 2}),
        (["y", "y", "x", "x"], {"nmi": 1.0, "ari": 1.0, "accuracy": 1.0, "n_clusters_found": 2}),
        # everything in one cluster: no information
        (["x", "x", "x", "x"], {"nmi": 0.0, "ari": 0.0, "accuracy": 0.5, "n_clusters_found": 1}),
        # all noise: no cluster found, every item wrong
        ([None] * 4, {"nmi": 0.0, "ari": 0.0, "accuracy": 0.0, "n_clusters_found": 0}),
        # a split class: only one of the two halves can match
        (["x", "z", "y", "y"], {"accuracy": 0.75, "n_clusters_found": 3}),
    ],
)
def test_score_clustering_exact_cases(pred, expected):
    scores = score_clustering(["a", "a", "b", "b"], pred)
    assert scores["n_true"] == 2 and scores["n"] == 4
    for key, value in expected.items():
        assert scores[key] == pytest.approx(value, abs=1e-12), key


def test_noise_is_always_wrong_and_forms_one_cluster_for_nmi():
    # noise {c4} is its own cluster: H(T)=ln2, H(P)=1.5 ln2, I=ln2 -> NMI 2/2.5;
    # ARI: sum C(nij,2)=1, rows 2, cols 1, C(4,2)=6 -> (1-1/3)/(1.5-1/3) = 4/7
    scores = score_clustering(["a", "a", "b", "b"], [0, 0, 1, -1], noise_label=-1)
    assert scores["accuracy"] == 0.75
    assert scores["noise_share"] == 0.25
    assert scores["n_clusters_found"] == 2
    assert scores["nmi"] == pytest.approx(0.8)
    assert scores["ari"] == pytest.approx(4 / 7)


def test_noise_cannot_take_a_class_in_the_matching():
    # two noise points of class b would "match" b if noise were a cluster
    scores = score_clustering(["a", "b", "b"], ["x", None, None])
    assert scores["accuracy"] == pytest.approx(1 / 3)


@pytest.mark.parametrize(("true", "pred"), [([], []), (["a"], ["x", "y"])])
def test_score_clustering_rejects_empty_or_misaligned(true, pred):
    with pytest.raises(ValueError, match="item"):
        score_clustering(true, pred)


# ---------------------------------------------------------------- sequences


@pytest.mark.parametrize(
    ("seq", "expected"),
    [([], []), (["a", "a", "b", "a", "a"], ["a", "b", "a"]), (["a"], ["a"])],
)
def test_collapse_repeats(seq, expected):
    assert collapse_repeats(seq) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ([], [], 1.0),
        (["a"], [], 0.0),
        (["a", "b", "c"], ["a", "b", "c"], 1.0),
        (["a", "b", "c"], ["a", "c"], 2 / 3),
        (["a", "b"], ["b", "a"], 0.0),
        (["a", "a", "b"], ["a", "b", "b"], 1.0),  # repeats collapse first
        (["a", "x", "c", "d"], ["a", "b", "c"], 0.5),  # one substitution, one deletion
    ],
)
def test_edit_similarity(a, b, expected):
    assert edit_similarity(a, b) == pytest.approx(expected)
    assert edit_similarity(b, a) == pytest.approx(expected)


@pytest.mark.parametrize(
    ("pred", "true", "pairs", "expected"),
    [
        # shared ids map to themselves; the rest by bag co-occurrence
        (
            {"c1": ["greet", "s1"], "c2": ["greet", "s2"]},
            {"c1": ["greet", "verify"], "c2": ["greet", "refund"]},
            [],
            {"greet": "greet", "s1": "verify", "s2": "refund"},
        ),
        # per-turn pairs win over bags: s1 co-occurs with b in both conversations,
        # but on the turns it is a
        (
            {"c1": ["s1", "s2"], "c2": ["s1", "s2"]},
            {"c1": ["a", "b"], "c2": ["a", "b"]},
            [("s1", "a"), ("s1", "a"), ("s2", "b"), ("s1", "b")],
            {"s1": "a", "s2": "b"},
        ),
        # one-to-one: the weaker id keeps its own name (scored as wrong)
        (
            {"c1": ["s1", "s2"]},
            {"c1": ["a"]},
            [("s1", "a"), ("s1", "a"), ("s2", "a")],
            {"s1": "a", "s2": "s2"},
        ),
        # "other" is never mapped; an id never seen with a label stays itself
        (
            {"c1": ["other", "s9"], "c2": ["s9"]},
            {"c1": ["a"]},
            [("other", "a")],
            {"other": "other", "s9": "s9"},
        ),
    ],
)
def test_map_labels(pred, true, pairs, expected):
    assert map_labels(pred, true, turn_pairs=pairs) == expected


def test_map_labels_does_not_modify_its_inputs():
    pred, true = {"c1": ["s1"]}, {"c1": ["a"]}
    map_labels(pred, true)
    assert pred == {"c1": ["s1"]} and true == {"c1": ["a"]}


@pytest.mark.parametrize(
    ("sequences", "min_share", "expected"),
    [
        ([[]], 0.05, {(START, END)}),
        (
            [["a", "b"], ["a", "c"]],
            0.05,
            {(START, "a"), ("a", "b"), ("a", "c"), ("b", END), ("c", END)},
        ),
        # a->c is 1 of a's 21 outgoing transitions (< 5 %): dropped
        (
            [["a", "b"]] * 20 + [["a", "c"]],
            0.05,
            {(START, "a"), ("a", "b"), ("b", END), ("c", END)},
        ),
        ([["a", "a"]], 0.05, {(START, "a"), ("a", "a"), ("a", END)}),
        (
            [["a", "b"], ["a", "c"]],
            0.5,
            {(START, "a"), ("a", "b"), ("a", "c"), ("b", END), ("c", END)},
        ),
    ],
)
def test_dfg_edges(sequences, min_share, expected):
    assert dfg_edges(sequences, min_share=min_share) == expected


@pytest.mark.parametrize(
    ("found", "true", "p", "r", "f1"),
    [
        (set(), set(), 1.0, 1.0, 1.0),
        (set(), {"a"}, 0.0, 0.0, 0.0),
        ({"a"}, set(), 0.0, 0.0, 0.0),
        ({"a", "b"}, {"b", "c"}, 0.5, 0.5, 0.5),
        ({"a"}, {"a", "b"}, 1.0, 0.5, 2 / 3),
        ({"x"}, {"a"}, 0.0, 0.0, 0.0),
    ],
)
def test_edge_prf(found, true, p, r, f1):
    scores = edge_prf(found, true)
    assert (scores["precision"], scores["recall"]) == (p, r)
    assert scores["f1"] == pytest.approx(f1)
    assert scores["tp"] == len(found & true)


# ---------------------------------------------------------------- drift

PLANTED = {"sop_id": "refund", "step": "verify", "kind": "skipped", "onset": "2026-03-10"}


def flag(window_start, **fields):
    return {
        "sop_id": "refund",
        "step": "verify",
        "kind": "skipped",
        "window_start": window_start,
        **fields,
    }


@pytest.mark.parametrize(
    ("flags", "planted", "precision", "recall", "first"),
    [
        ([flag("2026-03-09")], [PLANTED], 1.0, 1.0, 1.0),  # window holds the onset
        ([flag(date(2026, 3, 16))], [PLANTED], 1.0, 1.0, 1.0),  # next window, starts < 7 d after
        ([flag(datetime(2026, 3, 24))], [PLANTED], 1.0, 1.0, 0.0),  # later window only
        ([flag("2026-03-02")], [PLANTED], 0.0, 0.0, 0.0),  # window ends before the onset
        ([flag("2026-03-09", kind="reordered")], [PLANTED], 0.0, 0.0, 0.0),
        ([flag("2026-03-09", team="north")], [{**PLANTED, "team": "south"}], 0.0, 0.0, 0.0),
        ([flag("2026-03-09", team="north")], [PLANTED], 1.0, 1.0, 1.0),  # planted names no team
        ([flag("2026-03-09")], [{**PLANTED, "team": "south"}], 1.0, 1.0, 1.0),  # flag names none
        ([flag("2026-03-09"), flag("2026-03-09", step="close")], [PLANTED], 0.5, 1.0, 1.0),
        ([], [PLANTED], 0.0, 0.0, 0.0),
        ([flag("2026-03-09")], [], 0.0, 0.0, 0.0),
        ([], [], 1.0, 1.0, 1.0),
    ],
)
def test_match_drift(flags, planted, precision, recall, first):
    scores = match_drift(flags, planted)
    assert (scores["precision"], scores["recall"], scores["recall_first_window"]) == (
        precision,
        recall,
        first,
    )
    assert len(scores["missed"]) == (len(planted) if recall == 0 else 0)


def test_match_drift_window_length_is_a_parameter():
    assert (
        match_drift([flag("2026-03-24")], [PLANTED], window_days=28)["recall_first_window"] == 1.0
    )


def test_rank_planted_is_the_first_printed_position_that_matches():
    printed = [
        flag("2026-03-09", kind="intent_mix"),  # another kind
        flag("2026-03-02"),  # ends before the onset: a false alarm, not the planted drift
        flag("2026-03-16", team="north"),
        flag("2026-03-09"),
    ]
    other = {**PLANTED, "step": "close"}
    assert rank_planted(printed, [PLANTED, other]) == [3, None]
    assert rank_planted([], [PLANTED]) == [None]


# ---------------------------------------------------------------- ranking


@pytest.mark.parametrize(
    ("found", "true", "expected"),
    [
        (["a", "b", "c"], ["a", "b", "c"], 1.0),
        (["c", "b", "a"], ["a", "b", "c"], -1.0),
        (["x", "a", "y", "b", "c"], ["a", "b", "z", "c"], 1.0),  # only common items count
        (["b", "a", "c"], ["a", "b", "c"], 0.5),  # 1 - 6*2/(3*8)
    ],
)
def test_spearman(found, true, expected):
    assert spearman(found, true) == pytest.approx(expected)


@pytest.mark.parametrize(("found", "true"), [(["a"], ["a", "b"]), ([], []), (["x"], ["y"])])
def test_spearman_is_nan_below_two_common_items(found, true):
    assert math.isnan(spearman(found, true))


FLAGS = [flag(date(2026, 3, 9)), flag("2026-03-16", step="other")]


@pytest.mark.parametrize(
    ("function", "args"),
    [
        (score_clustering, (["a", "a", "b"], ["x", None, "y"])),
        (collapse_repeats, (["a", "a", "b"],)),
        (edit_similarity, (["a", "b"], ["a", "c"])),
        (dfg_edges, ([["a", "b"], ["a", "c"], []],)),
        (edge_prf, ({("a", "b")}, {("a", "b"), ("b", "c")})),
        (match_drift, (FLAGS, [PLANTED])),
        (rank_planted, (FLAGS, [PLANTED])),
        (spearman, (["a", "b", "c"], ["c", "b", "a"])),
    ],
)
def test_metrics_do_not_modify_their_inputs(function, args):
    before = copy.deepcopy(args)
    function(*args)
    assert args == before
