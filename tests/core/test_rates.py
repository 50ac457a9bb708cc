"""Rates, confidence limits, Empirical Bayes, ranks and change labels against independent references."""

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
    # The overall rate uses the areas with a usable population only.
    assert table.overall_rate == pytest.approx(sum(counts[:6]) / sum(pops[:6]) * 1000)


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


def test_change_labels_name_the_direction_and_the_level():
    assert rates.change_label(0.0001, 1.0, 2.0) == rates.INCREASE_998
    assert rates.change_label(0.01, 2.0, 1.0) == rates.DECREASE_95
    assert rates.change_label(0.2, 2.0, 1.0) == rates.NO_CHANGE
    assert rates.change_label(math.nan, 2.0, 1.0) is None
