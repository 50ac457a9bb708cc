"""The comparison with all areas: written limits, flags and printed confidence limits by one rule."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from crime_mapping_plugin.core import funnel, rates
from tests.stat_references import count_limits


def test_the_dulwich_wood_case_is_not_called_higher_at_99_8_with_its_lower_limit_below_the_overall_rate():
    # 10 crimes where 2.95 are expected: the exact test's P(X >= 10) = 0.00097 < 0.001 used to say
    # 'higher (99.8 %)' while the printed 99.8 % lower limit (Byar) lay below the overall rate.
    table = rates.rate_table([10, 1_000_000], [2950, 1e9])
    assert stats.poisson.sf(9, 2950 * table.overall_rate / 1000) < 0.001
    assert table.limits[0.998][0][0] < table.overall_rate
    assert table.limits[0.95][0][0] > table.overall_rate
    assert funnel.compare_with_all(table, funnel.POISSON).comparison[0] == rates.HIGHER_95
    assert funnel.compare_with_all(table, funnel.OVERDISPERSED).comparison[0] in (rates.HIGHER_95, rates.SAME)


def test_a_zero_is_lower_only_when_even_zero_crimes_are_unlikely():
    # The continuous Poisson funnel has a lower limit above 0 at every E > 0, so 0 crimes would always be
    # 'lower'; the ward's own upper limit (3.689 crimes at 95 %) holds the overall rate until E > 3.689.
    table = rates.rate_table([0, 0, 0, 1_000_000], [1000, 3600, 3800, 1e9])
    result = funnel.compare_with_all(table, funnel.POISSON)
    assert [table.overall_rate / 1000 * p for p in (1000, 3600, 3800)] == pytest.approx([1.0, 3.6, 3.8], rel=1e-4)
    assert result.comparison[:3] == [rates.SAME, rates.SAME, rates.LOWER_95]
    assert result.held_back == 2
    assert result.limits[0.95][0][0] == 0.0  # no count can be lower
    assert result.funnel_limits[0.95][0][0] > 0.0


def test_written_limits_are_the_funnel_widened_by_the_agreement_counts_and_the_flag_is_outside_them():
    rng = np.random.default_rng(7)
    population = rng.integers(300, 20000, 300).astype(float)
    counts = rng.poisson(population * 0.004 * rng.gamma(4.0, 0.25, 300))
    table = rates.rate_table(counts, population)
    theta = table.overall_rate / 1000
    for method in funnel.METHODS:
        result = funnel.compare_with_all(table, method)
        if method == funnel.OVERDISPERSED:
            assert result.adjusted and result.phi > 1 and result.tau2 > 0
        for i in range(len(counts)):
            got = {lvl: (lo[i], hi[i]) for lvl, (lo, hi) in result.limits.items()}
            assert result.comparison[i] == funnel.label(table.rate[i], got)
            for level in rates.LEVELS:
                c_hi = next(k for k in range(10**5) if count_limits(k, level)[0] / population[i] > theta)
                f_lo, f_hi = result.funnel_limits[level][0][i], result.funnel_limits[level][1][i]
                assert got[level][1] == pytest.approx(max(f_hi, (c_hi - 1) / population[i] * 1000), rel=1e-9)
                assert got[level][0] <= f_lo
            label = result.comparison[i]
            if label in (rates.HIGHER_998, rates.HIGHER_95):
                level = 0.998 if label == rates.HIGHER_998 else 0.95
                assert table.limits[level][0][i] > table.overall_rate
            if label in (rates.LOWER_998, rates.LOWER_95):
                level = 0.998 if label == rates.LOWER_998 else 0.95
                assert table.limits[level][1][i] < table.overall_rate


def test_the_printed_lower_limit_never_falls_as_the_count_rises():
    # The agreement counts assume it: exact below 10 crimes, Byar's from 10.
    for level in rates.LEVELS:
        lower, upper = funnel.count_limit_table(20000, level)
        assert (np.diff(lower) > 0).all() and (np.diff(upper) > 0).all()


def test_areas_without_a_rate_get_no_expected_count_no_limits_and_no_flag():
    table = rates.rate_table([5, 9, 30], [1000, 0, 8000])
    result = funnel.compare_with_all(table)
    assert result.comparison[1] is None and np.isnan(result.expected[1])
    assert np.isnan(result.limits[0.95][0][1]) and np.isnan(result.limits[0.998][1][1])
    with pytest.raises(ValueError):
        funnel.compare_with_all(table, "normal")


def test_agreement_counts_by_binary_search_equal_the_full_scan_and_the_table_equals_count_limits():
    # The search (limits rising with the count) against testing every count of the table for every area,
    # on random populations, rates and multipliers; the table bit for bit against rates.count_limits.
    from crime_mapping_plugin.core import funnel, rates

    rng = np.random.default_rng(3)
    for trial in range(12):
        largest = int(rng.integers(0, 30_000))
        population = rng.uniform(1, 30_000, 300)
        population[:4] = [1, 2, 1e-3, 5e6]
        overall = rng.uniform(0.1, 500, 300) if trial % 2 else rng.uniform(0.1, 500)
        multiplier = [1000.0, 100_000.0, 1.0][trial % 3]
        level = rates.LEVELS[trial % 2]
        lower, upper = funnel.count_limit_table(largest, level)
        fast = funnel._agreement_counts(population, overall, multiplier, level, largest)
        scan = funnel._agreement_counts_by_scan(
            lower, upper, population, np.broadcast_to(overall, population.shape), multiplier, largest
        )
        assert np.array_equal(fast[0], scan[0]) and np.array_equal(fast[1], scan[1])
    for level in rates.LEVELS:
        lower, upper = funnel.count_limit_table(3000, level)
        expected = [rates.count_limits(float(x), level) for x in range(3001)]
        assert np.array_equal(lower, [e[0] for e in expected]) and np.array_equal(upper, [e[1] for e in expected])
