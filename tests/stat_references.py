"""Independent references for the comparison tests: the E-test summed as published, limits with scipy."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from scipy import stats


def e_test_by_summation(k1: int, k2: int, n1: float, n2: float) -> float:
    """Krishnamoorthy & Thomson (2004): the double sum of Poisson probabilities at the pooled rate, written out."""
    lam = (k1 + k2) / (n1 + n2)
    if k1 + k2 == 0:
        return 1.0

    def t(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
        var = x1 / n1**2 + x2 / n2**2
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(var > 0, (x1 / n1 - x2 / n2) / np.sqrt(var), 0.0)

    t0 = abs(float(t(np.array(k1, float), np.array(k2, float))))
    if t0 == 0:
        return 1.0
    m1, m2 = n1 * lam, n2 * lam
    x1 = np.arange(0, int(m1 + 15 * math.sqrt(m1) + 40))
    x2 = np.arange(0, int(m2 + 15 * math.sqrt(m2) + 40))
    grid1, grid2 = np.meshgrid(x1.astype(float), x2.astype(float), indexing="ij")
    mass = np.outer(stats.poisson.pmf(x1, m1), stats.poisson.pmf(x2, m2))
    return float(mass[np.abs(t(grid1, grid2)) >= t0 * (1 - 1e-12)].sum())


@cache
def count_limits(x: int, level: float) -> tuple[float, float]:
    """docs/methods.md: exact Poisson limits below 10 crimes, Byar's method from 10, with scipy's quantiles."""
    a = 1 - level
    if x < 10:
        lower = 0.0 if x == 0 else stats.chi2.ppf(a / 2, 2 * x) / 2
        return lower, stats.chi2.ppf(1 - a / 2, 2 * x + 2) / 2
    z = stats.norm.ppf(1 - a / 2)
    lower = x * (1 - 1 / (9 * x) - z / (3 * math.sqrt(x))) ** 3
    upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3
    return lower, upper
