"""Rates, confidence limits, funnel labels, Empirical Bayes and the change test against independent references."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from crime_mapping_plugin.core import rates


@pytest.mark.parametrize("a", [0.05, 0.5, 1, 3, 9.5, 10, 25, 150, 4000.5])
@pytest.mark.parametrize("p", [0.001, 0.025, 0.5, 0.975, 0.999])
def test_gamma_quantile_matches_scipy(a, p):
    assert rates.gamma_ppf(p, a) == pytest.approx(stats.gamma.ppf(p, a), rel=1e-10, abs=1e-300)


@pytest.mark.parametrize("df", [2, 6, 18, 20, 52, 301])
@pytest.mark.parametrize("p", [0.001, 0.025, 0.975, 0.999])
def test_chi_square_quantile_matches_scipy(df, p):
    assert rates.chi2_ppf(p, df) == pytest.approx(stats.chi2.ppf(p, df), rel=1e-10)


@pytest.mark.parametrize("expected", [1e-9, 1e-4, 0.3, 2.5, 480.2])
def test_funnel_limits_for_tiny_and_large_expected_counts(expected):
    lower, upper = rates.funnel_count_limits(expected, 0.998)
    assert lower == pytest.approx(stats.chi2.ppf(0.001, 2 * expected) / 2, rel=1e-9, abs=1e-300)
    assert upper == pytest.approx(stats.chi2.ppf(0.999, 2 * expected + 2) / 2, rel=1e-10)


def _reference_limits(x: int, level: float) -> tuple[float, float]:
    """docs/methods.md §5.2, written out with scipy's chi-square and normal quantiles."""
    alpha = 1 - level
    if x < 10:
        lower = 0.0 if x == 0 else stats.chi2.ppf(alpha / 2, 2 * x) / 2
        return lower, stats.chi2.ppf(level + alpha / 2, 2 * x + 2) / 2
    z = stats.norm.ppf(level + alpha / 2)
    lower = x * (1 - 1 / (9 * x) - z / (3 * math.sqrt(x))) ** 3
    upper = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3
    return lower, upper


@pytest.mark.parametrize("x", [0, 1, 3, 9, 10, 25, 150])
@pytest.mark.parametrize("level", [0.95, 0.998])
def test_count_limits_follow_exact_poisson_below_ten_and_byar_from_ten(x, level):
    lower, upper = rates.count_limits(x, level)
    ref_lower, ref_upper = _reference_limits(x, level)
    assert lower == pytest.approx(ref_lower, rel=1e-9, abs=1e-12)
    assert upper == pytest.approx(ref_upper, rel=1e-9)


def test_published_values_for_small_counts():
    # Exact 95 % limits of a Poisson count, as tabulated (e.g. Ulm 1990): 0 -> (0, 3.689), 3 -> (0.619, 8.767).
    assert rates.count_limits(0, 0.95)[1] == pytest.approx(3.6889, abs=1e-4)
    lower, upper = rates.count_limits(3, 0.95)
    assert (lower, upper) == (pytest.approx(0.6187, abs=1e-4), pytest.approx(8.7673, abs=1e-4))
    assert rates.z_value(0.95) == pytest.approx(1.959964, abs=1e-6)
    assert rates.z_value(0.998) == pytest.approx(3.090232, abs=1e-6)


def test_rate_table_divides_limits_by_population_and_flags_unusable_populations():
    counts = [0, 3, 9, 10, 25, 150, 7, 4, 2]
    pops = [1200, 800, 15000, 9000.0, 12000, 14000, 0, None, "n/a"]
    table = rates.rate_table(counts, pops, multiplier=1000)
    for i in range(6):
        for level in rates.LEVELS:
            lo, hi = _reference_limits(counts[i], level)
            assert table.limits[level][0][i] == pytest.approx(lo / pops[i] * 1000, rel=1e-9, abs=1e-12)
            assert table.limits[level][1][i] == pytest.approx(hi / pops[i] * 1000, rel=1e-9)
        assert table.rate[i] == pytest.approx(counts[i] / pops[i] * 1000)
    # Text that is no number is flagged as such, not as a missing population.
    assert table.flags[6:] == [rates.FLAG_ZERO_POPULATION, rates.FLAG_NO_POPULATION, rates.FLAG_BAD_POPULATION]
    assert np.isnan(table.rate[6:]).all() and np.isnan(table.rank[6:]).all()
    assert table.comparison[6:] == [None, None, None]
    # The overall rate uses the areas with a usable population only.
    assert table.overall_rate == pytest.approx(sum(counts[:6]) / sum(pops[:6]) * 1000)


def _reference_label(x: int, expected: float) -> str:
    """Exact two-sided Poisson test of x against the expectation, with scipy's Poisson tails."""
    upper_tail = stats.poisson.sf(x - 1, expected)  # P(X >= x)
    lower_tail = stats.poisson.cdf(x, expected)  # P(X <= x)
    if upper_tail < 0.001:
        return rates.HIGHER_998
    if upper_tail < 0.025:
        return rates.HIGHER_95
    if lower_tail < 0.001:
        return rates.LOWER_998
    if lower_tail < 0.025:
        return rates.LOWER_95
    return rates.SAME


def test_comparison_with_all_areas_is_an_exact_poisson_test_against_the_overall_rate():
    counts = np.array([5, 40, 100, 300, 12, 61, 0, 0, 1])
    pops = np.array([1000.0, 8000, 9000, 11000, 6000, 10000, 300, 2500, 50])
    table = rates.rate_table(counts, pops)
    theta = counts.sum() / pops.sum()
    for i in range(len(counts)):
        assert table.comparison[i] == _reference_label(int(counts[i]), theta * pops[i]), i
    assert set(table.comparison) >= {rates.HIGHER_998, rates.LOWER_998, rates.SAME}
    # A zero count is only 'lower' when zero itself is unlikely: not with 3.3 crimes expected (P = 0.039).
    assert theta * pops[6] == pytest.approx(3.25, abs=0.01) and table.comparison[6] == rates.SAME
    assert table.comparison[7] == rates.LOWER_998


def test_empirical_bayes_equals_the_geoda_formula_with_the_clamp():
    o = np.array([3.0, 50, 7, 0, 120])
    p = np.array([500.0, 9000, 2000, 300, 15000])
    theta = o.sum() / p.sum()
    r = o / p
    var = sum(p[i] * (r[i] - theta) ** 2 for i in range(5)) / p.sum() - theta / (p.sum() / 5)
    var = max(var, 0)
    want = [(var / (var + theta / p[i])) * r[i] + (1 - var / (var + theta / p[i])) * theta for i in range(5)]
    assert rates.empirical_bayes(o, p) == pytest.approx(want, rel=1e-12)
    # Homogeneous rates: the variance estimate is negative, clamps to 0, every area gets the overall rate.
    flat = rates.empirical_bayes([10, 20, 30], [1000, 2000, 3000])
    assert flat == pytest.approx([0.01, 0.01, 0.01])


def test_ranks_put_the_highest_rate_first_and_share_ties():
    ranks = rates.rank_descending(np.array([2.0, 5.0, np.nan, 5.0, 1.0]))
    assert ranks[[0, 1, 3, 4]].tolist() == [3, 1, 1, 4] and np.isnan(ranks[2])


@pytest.mark.parametrize(
    ("k", "n", "p"),
    [(0, 0, 0.5), (3, 10, 0.5), (5, 10, 0.5), (30, 50, 0.5), (7, 40, 0.25), (140, 230, 0.4), (0, 12, 0.3)],
)
def test_two_sided_binomial_p_matches_scipy(k, n, p):
    want = 1.0 if n == 0 else stats.binomtest(k, n, p).pvalue
    assert rates.binom_two_sided_p(k, n, p) == pytest.approx(want, rel=1e-9)


def test_change_test_conditions_on_the_total_with_exposure_shares():
    # 3 months before, 6 months after, same population: p = 6/9 under no change.
    p_value = rates.change_test(20, 70, 3 * 5000, 6 * 5000)
    assert p_value == pytest.approx(stats.binomtest(70, 90, 6 / 9).pvalue, rel=1e-9)
    ref = stats.binomtest(70, 90, 6 / 9).pvalue
    want = rates.INCREASE_998 if ref < 0.002 else rates.INCREASE_95 if ref < 0.05 else rates.NO_CHANGE
    assert rates.change_label(p_value, 20 / 3, 70 / 6) == want
    assert rates.change_label(0.0001, 1.0, 2.0) == rates.INCREASE_998
    assert rates.change_label(0.01, 2.0, 1.0) == rates.DECREASE_95
    assert math.isnan(rates.change_test(3, 4, 0, 100))


def test_funnel_curves_are_the_exact_poisson_limits_of_the_expected_count_as_rates():
    populations = np.array([50.0, 800.0, 12000.0])
    curves = rates.funnel_curves(3.2, 1000, populations)
    assert set(curves) == set(rates.LEVELS)
    for level, (lo, hi) in curves.items():
        a = 1 - level
        expected = 3.2 / 1000 * populations
        assert lo == pytest.approx(stats.chi2.ppf(a / 2, 2 * expected) / 2 / populations * 1000, rel=1e-9)
        assert hi == pytest.approx(stats.chi2.ppf(1 - a / 2, 2 * expected + 2) / 2 / populations * 1000, rel=1e-9)
    assert rates.funnel_curves(math.nan, 1000, populations) == {}


def test_change_table_divides_by_months_with_records_and_skips_unusable_areas():
    table = rates.change_table([3, 0, 4, 5], [9, 0, 6, 5], np.array([500.0, 800, np.nan, 100]), 1, 2)
    # Area 0: 3 a month before, 4.5 after: +50 %; exposure 500 × 1 against 500 × 2, p = 2/3.
    assert table.change_pct[0] == pytest.approx(50.0)
    assert table.p_value[0] == pytest.approx(stats.binomtest(9, 12, 2 / 3).pvalue, rel=1e-9)
    assert table.change_pct[1] is None and table.p_value[1] == pytest.approx(1.0)  # 0 and 0: nothing to test
    assert table.p_value[2] is None and table.label[2] is None and np.isnan(table.rate_before[2])
    assert table.rate_before[3] == pytest.approx(5 / 100 * 1000)
    untestable = rates.change_table([3], [9], np.array([500.0]), 0, 2)
    assert untestable.p_value == [None] and untestable.change_pct == [None]
