"""Comparing proportions: the two-proportion test, score intervals, BH, permutations."""

import numpy as np
import pytest
from scipy.stats import fisher_exact

from pipeline.drift.stats import (
    bh_adjust,
    newcombe_interval,
    permutation_p_value,
    two_proportion_test,
    wilson_interval,
)


def test_two_proportion_test_uses_z_for_large_counts_and_fisher_for_small():
    p, fisher = two_proportion_test(
        np.array([45, 3, 5]), np.array([100, 4, 20]), np.array([30, 1, 0]), np.array([100, 4, 20])
    )
    # 45/100 vs 30/100: z = 0.15 / sqrt(0.375 * 0.625 * 0.02) = 2.191; the tea-tasting table
    # [[3, 1], [1, 3]] has the classic two-sided Fisher p of 34/70.
    assert p.round(5).tolist() == [0.02846, 0.48571, 0.04712]
    assert fisher.tolist() == [False, True, True]


@pytest.mark.parametrize(
    ("x1", "n1", "x0", "n0"),
    [(0, 20, 0, 20), (1, 20, 0, 20), (3, 20, 0, 20), (2, 10, 8, 12), (20, 20, 18, 20),
     (0, 5, 5, 5), (7, 400, 1, 30)],
)  # fmt: skip
def test_fisher_branch_matches_scipy(x1, n1, x0, n0):
    p, fisher = two_proportion_test(np.array([x1]), np.array([n1]), np.array([x0]), np.array([n0]))
    expected = fisher_exact([[x1, n1 - x1], [x0, n0 - x0]]).pvalue
    assert fisher[0]
    assert p[0] == pytest.approx(min(1.0, expected), rel=1e-9)


def test_newcombe_interval_matches_the_published_example():
    # Newcombe (1998), method 10: 56/70 - 48/80 = 0.2, 95% CI 0.0524 to 0.3339.
    low, high = newcombe_interval(np.array([56]), np.array([70]), np.array([48]), np.array([80]))
    assert (round(low[0], 4), round(high[0], 4)) == (0.0524, 0.3339)


@pytest.mark.parametrize(
    ("x", "n", "low", "high"),
    [(81, 263, 0.2553, 0.3662), (15, 148, 0.0624, 0.1605), (0, 20, 0.0, 0.1611),
     (1, 29, 0.0061, 0.1718)],
)  # fmt: skip
def test_wilson_interval_matches_the_published_examples(x, n, low, high):
    # Newcombe (1998), single proportions, method 3 (score, no continuity correction).
    lows, highs = wilson_interval(np.array([x]), np.array([n]))
    assert (round(lows[0], 4), round(highs[0], 4)) == (low, high)


def test_wilson_interval_takes_z():
    # 5/10, z = 1: centre 0.55 / 1.1 = 0.5, half (1 / 1.1) sqrt(0.025 + 0.0025) = 0.1508
    low, high = wilson_interval(np.array([5]), np.array([10]), z=1.0)
    assert (round(low[0], 4), round(high[0], 4)) == (0.3492, 0.6508)


def test_bh_adjust_multiplies_by_rank_and_keeps_the_order_monotone():
    # sorted 0.01, 0.03, 0.04, 0.2 (m = 4): 0.04, 0.06 -> 0.0533 (the next is smaller),
    # 0.0533, 0.2; returned in the input's order
    assert bh_adjust([0.01, 0.04, 0.03, 0.2]) == pytest.approx([0.04, 0.16 / 3, 0.16 / 3, 0.2])


def test_bh_adjust_of_nothing_is_nothing():
    assert bh_adjust([]) == []


@pytest.mark.parametrize(
    ("observed", "p"),
    [(2.0, 3 / 5), (2.0 + 1e-13, 3 / 5), (3.5, 1 / 5), (0.0, 1.0)],
)
def test_permutation_p_value_counts_the_observed_among_the_draws(observed, p):
    assert permutation_p_value(observed, np.array([1.0, 2.0, 3.0, 0.5])) == p


@pytest.mark.parametrize(
    "call",
    [
        lambda a: two_proportion_test(a[0], a[1], a[2], a[3]),
        lambda a: wilson_interval(a[0], a[1]),
        lambda a: newcombe_interval(a[0], a[1], a[2], a[3]),
        lambda a: permutation_p_value(0.5, a[0] / a[1]),
    ],
    ids=["two_proportion_test", "wilson_interval", "newcombe_interval", "permutation_p_value"],
)
def test_does_not_modify_its_input(call):
    arrays = [np.array([45, 3, 5]), np.array([100, 4, 20]), np.array([30, 1, 0]),
              np.array([100, 4, 20])]  # fmt: skip
    before = [a.copy() for a in arrays]
    call(arrays)
    for kept, array in zip(before, arrays, strict=True):
        np.testing.assert_array_equal(array, kept)
