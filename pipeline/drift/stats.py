"""Comparing proportions: tests, intervals and the false discovery rate of many tests.

The statistics of the drift stages (``drift.py``, ``drift_mix.py``,
``change_points.py``, ``exception_clusters.py``), in one place:

- :func:`two_proportion_test`: ``x1/n1`` against ``x0/n0``, Fisher's exact test where
  a cell is small, else the pooled z-test;
- :func:`wilson_interval` and :func:`newcombe_interval`: score intervals for one
  proportion and for a difference of two;
- :func:`permutation_p_value`: the share of permutation draws at least as large as the
  observed statistic;
- :func:`bh_adjust`: Benjamini-Hochberg adjusted p-values of a family of tests.

Everything is vectorised over numpy arrays: one call per family of comparisons, never
one per comparison.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy.stats import false_discovery_control, hypergeom, norm

Z95 = float(norm.ppf(0.975))
_FISHER_BELOW = 5.0  # Cochran: the z-test needs every expected cell count >= 5
_FISHER_CELLS = 2_000_000  # rows x support values evaluated at once by the exact test


def two_proportion_test(
    x1: np.ndarray, n1: np.ndarray, x0: np.ndarray, n0: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two-sided p-values of ``x1/n1`` vs ``x0/n0``, vectorised over the arrays.

    Fisher's exact test where an expected cell count of the 2x2 table is below 5, else
    the pooled two-proportion z-test (which matches the chi-square test without
    continuity correction). Returns ``(p_values, is_fisher)``.
    """
    x1, n1, x0, n0 = (np.asarray(a, dtype=np.int64) for a in (x1, n1, x0, n0))
    total, hits = n1 + n0, x1 + x0
    with np.errstate(divide="ignore", invalid="ignore"):
        pooled = hits / total
        expected = np.minimum.reduce(
            [n1 * pooled, n1 * (1 - pooled), n0 * pooled, n0 * (1 - pooled)]
        )
        se = np.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n0))
        z = (x1 / n1 - x0 / n0) / se
    p = np.where(se > 0, 2 * norm.sf(np.abs(z)), 1.0)
    fisher = expected < _FISHER_BELOW
    if fisher.any():
        p[fisher] = _fisher(x1[fisher], n1[fisher], hits[fisher], total[fisher])
    return np.clip(p, 0.0, 1.0), fisher


def _fisher(x: np.ndarray, n: np.ndarray, hits: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Two-sided Fisher p-values: the mass of tables no likelier than the observed one.

    ``x`` of ``n`` draws are hits, from ``total`` items with ``hits`` hits. The support
    is evaluated on a rows x values grid in chunks; its width is at most
    ``min(n, total - n, hits, total - hits) + 1``, small where the test is used.
    """
    lo = np.maximum(0, hits - (total - n))
    hi = np.minimum(hits, n)
    observed = hypergeom.logpmf(x, total, hits, n)
    p = np.empty(len(x))
    width = int((hi - lo).max(initial=0)) + 1
    step = max(1, _FISHER_CELLS // width)
    for start in range(0, len(x), step):  # chunks of rows bound memory, not a row loop
        s = slice(start, start + step)
        grid = lo[s, None] + np.arange(width)[None, :]
        inside = grid <= hi[s, None]
        logpmf = hypergeom.logpmf(np.where(inside, grid, lo[s, None]), total[s, None],
                                  hits[s, None], n[s, None])  # fmt: skip
        as_likely = inside & (logpmf <= observed[s, None] + 1e-7)  # scipy's relative tolerance
        p[s] = np.where(as_likely, np.exp(logpmf), 0.0).sum(axis=1)
    return p


def wilson_interval(
    x: np.ndarray, n: np.ndarray, *, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson's score interval for ``x/n``, without continuity correction.

    Returns ``(low, high)``, vectorised over the arrays; unlike the Wald interval it
    stays inside [0, 1] and keeps its coverage near 0 and 1.
    """
    p = x / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z / (1 + z * z / n) * np.sqrt(p * (1 - p) / n + z * z / (4 * n * n))
    return centre - half, centre + half


def newcombe_interval(
    x1: np.ndarray, n1: np.ndarray, x0: np.ndarray, n0: np.ndarray, *, z: float = Z95
) -> tuple[np.ndarray, np.ndarray]:
    """Newcombe's hybrid score interval (method 10) for ``x1/n1 - x0/n0``.

    Built from the two Wilson score intervals (:func:`wilson_interval`), without
    continuity correction; good coverage at small counts and rates near 0 or 1, where
    the Wald interval fails.
    """
    p1, (l1, u1) = x1 / n1, wilson_interval(x1, n1, z=z)
    p0, (l0, u0) = x0 / n0, wilson_interval(x0, n0, z=z)
    delta = p1 - p0
    return (
        delta - np.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2),
        delta + np.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2),
    )


def permutation_p_value(observed: float, null: np.ndarray) -> float:
    """Monte Carlo permutation p-value, ``(1 + #{null >= observed}) / (1 + draws)``.

    Counting the observed statistic among the draws keeps the p-value above 0, as an
    exact test's is.
    """
    return float((1 + np.count_nonzero(null >= observed - 1e-12)) / (1 + null.size))


def bh_adjust(p_values: Sequence[float]) -> list[float]:
    """Benjamini-Hochberg adjusted p-values (empty in, empty out)."""
    if not len(p_values):
        return []
    return false_discovery_control(np.asarray(p_values, dtype=np.float64), method="bh").tolist()
