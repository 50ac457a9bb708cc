"""The Poisson E-test against the published values, a plain double sum written here, and scipy."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
from scipy import stats

from crime_mapping_plugin.core import etest


def _pmf(x: int, mean: float) -> float:
    if mean == 0:
        return 1.0 if x == 0 else 0.0
    return math.exp(x * math.log(mean) - mean - math.lgamma(x + 1))


def _square_of_t(x1: int, x2: int, n1: Fraction, n2: Fraction) -> tuple[Fraction, Fraction]:
    """Return T² as an exact fraction (numerator, denominator); T(0, 0) = 0."""
    if x1 == 0 and x2 == 0:
        return Fraction(0), Fraction(1)
    return (x1 * n2 - x2 * n1) ** 2, x1 * n2 * n2 + x2 * n1 * n1


def _double_sum(k1: int, k2: int, n1: float, n2: float) -> float:
    """The formula of Krishnamoorthy & Thomson summed cell by cell, ties decided in exact arithmetic."""
    f1, f2 = Fraction(n1), Fraction(n2)
    lam = (k1 + k2) / (n1 + n2)
    mu1, mu2 = n1 * lam, n2 * lam
    num0, den0 = _square_of_t(k1, k2, f1, f2)
    top1 = int(mu1 + 15 * math.sqrt(mu1) + 40)
    top2 = int(mu2 + 15 * math.sqrt(mu2) + 40)
    p2 = [_pmf(x2, mu2) for x2 in range(top2 + 1)]
    total = 0.0
    for x1 in range(top1 + 1):
        p1 = _pmf(x1, mu1)
        for x2 in range(top2 + 1):
            num, den = _square_of_t(x1, x2, f1, f2)
            if num * den0 >= num0 * den:
                total += p1 * p2[x2]
    return total


@pytest.mark.parametrize(("k1", "k2", "expected"), [(20, 10, 0.06883), (6, 2, 0.17487), (3, 0, 0.08838)])
def test_published_values_of_krishnamoorthy_and_thomson(k1, k2, expected):
    assert round(etest.e_test_p(k1, k2), 5) == expected


GRID = [
    (k1, k2, n1, n2)
    for k1, k2 in [(0, 1), (1, 0), (0, 7), (2, 2), (5, 0), (9, 3), (4, 13), (17, 6), (25, 24)]
    for n1, n2 in [(1.0, 1.0), (2.0, 1.0), (0.5, 3.0), (12.0, 11.0), (3.7, 1.3)]
]


@pytest.mark.parametrize(("k1", "k2", "n1", "n2"), GRID)
def test_agrees_with_a_plain_double_sum(k1, k2, n1, n2):
    assert etest.e_test_p(k1, k2, n1, n2) == pytest.approx(_double_sum(k1, k2, n1, n2), rel=1e-9, abs=1e-13)


@pytest.mark.parametrize(
    ("k1", "k2", "n1", "n2"), [(120, 80, 1.0, 1.0), (340, 415, 12.0, 11.0), (1, 44, 2.5, 3.0), (2510, 2390, 12.0, 11.0)]
)
def test_agrees_with_scipy_poisson_means_test(k1, k2, n1, n2):
    # scipy leaves out 1e-10 of the lower tails, hence the absolute tolerance.
    reference = stats.poisson_means_test(k1, n1, k2, n2).pvalue
    assert etest.e_test_p(k1, k2, n1, n2) == pytest.approx(reference, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(("k1", "k2", "n1", "n2"), [(20, 10, 1.0, 1.0), (3, 11, 2.0, 5.5), (0, 4, 1.0, 3.0)])
def test_swapping_the_two_periods_gives_the_same_p(k1, k2, n1, n2):
    assert etest.e_test_p(k1, k2, n1, n2) == pytest.approx(etest.e_test_p(k2, k1, n2, n1), rel=1e-12)


def test_equal_rates_and_two_zeros_give_one():
    assert etest.e_test_p(0, 0) == 1.0
    assert etest.e_test_p(6, 3, 2.0, 1.0) == 1.0


def test_counts_and_exposures_that_cannot_be_tested_give_nan():
    p = etest.e_test([3, -1, 2.5, 3, 3], [4, 4, 4, 4, 4], [1, 1, 1, 0, np.nan], 1.0)
    assert np.isfinite(p[0])
    assert np.isnan(p[1:]).all()


def test_a_vector_of_ward_pairs_matches_one_pair_at_a_time():
    rng = np.random.default_rng(2024)
    mean = rng.uniform(0.5, 400.0, 60)
    k1, k2 = rng.poisson(mean), rng.poisson(mean * 1.1)
    n1, n2 = np.full(60, 12.0), rng.integers(9, 13, 60).astype(float)
    p = etest.e_test(k1, k2, n1, n2)
    for i in range(0, 60, 7):
        reference = stats.poisson_means_test(int(k1[i]), n1[i], int(k2[i]), n2[i]).pvalue
        assert p[i] == pytest.approx(reference, rel=1e-6, abs=1e-9)
    assert p.shape == (60,)


def test_the_summation_range_leaves_out_less_than_the_stated_mass():
    for mean in [0.01, 1.0, 17.3, 950.0, 25_000.0]:
        first, last = etest.summation_range(np.array([mean]))
        outside = stats.poisson.cdf(first[0] - 1, mean) + stats.poisson.sf(last[0], mean)
        assert outside < etest.TAIL_MASS / 2


@pytest.mark.parametrize(("k1", "k2", "n1", "n2"), [(20, 10, 1.0, 1.0), (7, 2, 3.0, 1.5), (0, 5, 1.0, 1.0)])
def test_rate_ratio_interval_is_clopper_pearson_of_the_conditional_binomial(k1, k2, n1, n2):
    result = etest.rate_ratio(k1, k2, n1, n2, level=0.95)
    ci = stats.binomtest(k1, k1 + k2, 0.5).proportion_ci(confidence_level=0.95, method="exact")
    scale = n2 / n1
    assert result.lower == pytest.approx(ci.low / (1 - ci.low) * scale, rel=1e-8, abs=1e-300)
    assert result.upper == pytest.approx(ci.high / (1 - ci.high) * scale, rel=1e-8)
    assert result.ratio == pytest.approx((k1 / n1) / (k2 / n2))


def test_rate_ratio_with_no_crimes_after_is_unbounded_above():
    result = etest.rate_ratio(4, 0, 1.0, 1.0)
    assert result.upper == math.inf
    assert result.lower > 0


def _integer_grid(k1: int, k2: int, n1: int, n2: int) -> float:
    """The whole double sum on a numpy grid, ties decided exactly in integers (whole-number exposures)."""
    lam = (k1 + k2) / (n1 + n2)
    mu1, mu2 = n1 * lam, n2 * lam
    x1 = np.arange(0, int(mu1 + 20 * math.sqrt(mu1) + 40), dtype=np.int64)[:, None]
    x2 = np.arange(0, int(mu2 + 20 * math.sqrt(mu2) + 40), dtype=np.int64)[None, :]
    num, den = (x1 * n2 - x2 * n1) ** 2, x1 * n2 * n2 + x2 * n1 * n1
    num0, den0 = (k1 * n2 - k2 * n1) ** 2, k1 * n2 * n2 + k2 * n1 * n1
    beyond = np.where(den == 0, num0 == 0, num * den0 >= num0 * den)
    weight = stats.poisson.pmf(x1, mu1) * stats.poisson.pmf(x2, mu2)
    return float(weight[beyond].sum())


def test_large_ward_counts_agree_with_an_exact_integer_grid():
    rng = np.random.default_rng(7)
    for _ in range(12):
        mean = rng.uniform(50.0, 2500.0)
        n1, n2 = (int(v) for v in rng.integers(1, 13, 2))
        k1, k2 = int(rng.poisson(mean * n1 / 12)), int(rng.poisson(mean * n2 / 12 * rng.uniform(0.9, 1.1)))
        assert etest.e_test_p(k1, k2, n1, n2) == pytest.approx(_integer_grid(k1, k2, n1, n2), rel=1e-9, abs=1e-13)


def test_points_tied_with_the_observed_one_count_whatever_the_rounding():
    # Over 12 months each, T(3, 1) = T(1, 0) = 1 in exact arithmetic but not in floating point: a plain
    # float comparison (scipy's) leaves (1, 0) and (0, 1) out and gives 0.3662.
    exact = _integer_grid(3, 1, 12, 12)
    assert exact == pytest.approx(0.443765, abs=1e-6)
    assert etest.e_test_p(3, 1, 12.0, 12.0) == pytest.approx(exact, rel=1e-12)
    # The p-value does not depend on a common scale of the exposures.
    assert etest.e_test_p(3, 1, 12.0, 12.0) == pytest.approx(etest.e_test_p(3, 1, 1.0, 1.0), rel=1e-12)
