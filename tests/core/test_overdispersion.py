"""Overdispersed funnel limits (FunnelPlotR's SHMI defaults) against a plain port written here, on real ward data."""

from __future__ import annotations

import math
from functools import cache

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crime_mapping_plugin.core import overdispersion, rates
from tests.conftest import SAMPLE

MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"
POPULATION = SAMPLE / "population" / "london_lsoa21_population_census2021.csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
YEAR = [str(m) for m in range(202404, 202413)] + ["202501", "202502", "202503"]


@cache
def _ward_table(major: str) -> pd.DataFrame:
    """One year (2024-04 to 2025-03) of one MPS major category per ward, with the ward's 2021 residents."""
    mps = pd.read_csv(MPS)
    counts = mps[mps["MajorText"] == major].groupby("WardCode")[YEAR].sum().sum(axis=1).rename("count")
    people = pd.read_csv(POPULATION).merge(pd.read_csv(LOOKUP)[["LSOA21CD", "WD24CD"]], on="LSOA21CD")
    population = people.groupby("WD24CD")["population"].sum()
    return pd.concat([counts, population], axis=1, join="inner").sort_index()


def _port(observed: list[float], expected: list[float]) -> dict:
    """FunnelPlotR's SR/SHMI path, one unit at a time (zeros the ranking keeps are left out of phi)."""
    n_all = len(observed)
    z = [math.sqrt(e) * math.log(o / e) if o > 0 else -math.inf for o, e in zip(observed, expected)]
    rank = stats.rankdata(z, method="average")
    kept = [0 < math.floor(r * 10 / (n_all + 1)) < 9 and observed[i] > 0 for i, r in enumerate(rank)]
    zk = [z[i] for i in range(n_all) if kept[i]]
    wk = [expected[i] for i in range(n_all) if kept[i]]
    n = len(zk)
    phi = sum(v * v for v in zk) / n
    between = (n * phi - (n - 1)) / (sum(wk) - sum(w * w for w in wk) / sum(wk))
    tau2 = 0.0 if n * phi < n - 1 else max(0.0, between)
    limits = {}
    for level, zq in ((0.95, 1.959964), (0.998, 3.090232)):
        if phi > 1:
            limits[level] = [
                (math.exp(-zq * math.sqrt(1 / e + tau2)), math.exp(zq * math.sqrt(1 / e + tau2))) for e in expected
            ]
        else:
            a = 1 - level
            limits[level] = [
                (stats.chi2.ppf(a / 2, 2 * e) / 2 / e, stats.chi2.ppf(1 - a / 2, 2 * e + 2) / 2 / e) for e in expected
            ]
    labels = []
    for i in range(n_all):
        r = observed[i] / expected[i]
        (l95, u95), (l998, u998) = limits[0.95][i], limits[0.998][i]
        labels.append(
            rates.HIGHER_998
            if r > u998
            else rates.HIGHER_95
            if r > u95
            else rates.LOWER_998
            if r < l998
            else rates.LOWER_95
            if r < l95
            else rates.SAME
        )
    return {"phi": phi, "tau2": tau2, "n": n, "kept": kept, "limits": limits, "labels": labels}


@pytest.mark.parametrize("major", ["BURGLARY", "ROBBERY", "POSSESSION OF WEAPONS"])
def test_ward_rates_match_a_plain_port_of_funnelplotr(major):
    table = _ward_table(major)
    count, population = table["count"].to_numpy(float), table["population"].to_numpy(float)
    theta = count.sum() / population.sum()
    expected = population * theta
    reference = _port(list(count), list(expected))
    funnel = overdispersion.rate_funnel(count, population, multiplier=1000.0)
    assert funnel.phi == pytest.approx(reference["phi"], rel=1e-10)
    assert funnel.tau2 == pytest.approx(reference["tau2"], rel=1e-10)
    assert funnel.n_used == reference["n"]
    assert funnel.kept.tolist() == reference["kept"]
    assert funnel.adjusted
    for level in rates.LEVELS:
        lower, upper = funnel.limits[level]
        ref_lower, ref_upper = zip(*reference["limits"][level])
        assert lower == pytest.approx(np.array(ref_lower), rel=1e-6)
        assert upper == pytest.approx(np.array(ref_upper), rel=1e-6)
        rate_lower, rate_upper = funnel.rate_limits[level]
        assert rate_lower == pytest.approx(np.array(ref_lower) * theta * 1000, rel=1e-6)
        assert rate_upper == pytest.approx(np.array(ref_upper) * theta * 1000, rel=1e-6)
    assert funnel.comparison == reference["labels"]
    assert funnel.overall_rate == pytest.approx(theta)


def test_wards_with_no_burglary_rank_lowest_and_are_trimmed():
    table = _ward_table("POSSESSION OF WEAPONS")
    funnel = overdispersion.rate_funnel(table["count"], table["population"])
    zeros = table["count"].to_numpy() == 0
    assert zeros.sum() == 27
    assert not funnel.kept[zeros].any()
    assert funnel.zeros_left_out == 0
    assert np.isneginf(funnel.z[zeros]).all()


def test_the_trimmed_tenths_are_left_out_of_phi():
    table = _ward_table("BURGLARY")
    funnel = overdispersion.rate_funnel(table["count"], table["population"])
    ranks = stats.rankdata(funnel.z)
    groups = np.floor(ranks * 10 / (len(ranks) + 1))
    assert funnel.kept.tolist() == ((groups >= 1) & (groups <= 8)).tolist()
    assert funnel.n_used == 544


def _no_overdispersion() -> tuple[np.ndarray, np.ndarray]:
    """Twenty units whose O/E are so close to 1 that phi < 1 - 1/n: tau2 = 0."""
    expected = np.linspace(40.0, 400.0, 20)
    observed = np.round(expected) + np.tile([0.0, 1.0, -1.0, 2.0], 5)
    observed[0] = 70.0  # one clear outlier, trimmed by the ranking
    return observed, expected


def test_without_overdispersion_tau2_is_zero_and_the_limits_are_exact_poisson():
    observed, expected = _no_overdispersion()
    funnel = overdispersion.overdispersed_funnel(observed, expected)
    assert funnel.tau2 == 0.0
    assert funnel.phi < 1 - 1 / funnel.n_used
    assert not funnel.adjusted
    lower, upper = funnel.limits[0.998]
    assert lower == pytest.approx(stats.chi2.ppf(0.001, 2 * expected) / 2 / expected, rel=1e-9)
    assert upper == pytest.approx(stats.chi2.ppf(0.999, 2 * expected + 2) / 2 / expected, rel=1e-9)
    assert funnel.comparison[0] == rates.HIGHER_998
    assert set(funnel.comparison[1:]) == {rates.SAME}


def test_without_overdispersion_the_normal_limits_can_be_asked_for():
    observed, expected = _no_overdispersion()
    funnel = overdispersion.overdispersed_funnel(observed, expected, poisson_unless_overdispersed=False)
    lower, upper = funnel.limits[0.95]
    assert upper == pytest.approx(np.exp(1.959964 / np.sqrt(expected)), rel=1e-7)
    assert lower == pytest.approx(np.exp(-1.959964 / np.sqrt(expected)), rel=1e-7)


def test_no_expected_count_is_flagged_and_takes_no_part():
    observed, expected = _no_overdispersion()
    expected = expected.copy()
    expected[[3, 7]] = [0.0, math.nan]
    funnel = overdispersion.overdispersed_funnel(observed, expected)
    assert [funnel.flags[i] for i in (3, 7)] == [overdispersion.FLAG_NO_EXPECTED] * 2
    assert funnel.comparison[3] is None and funnel.comparison[7] is None
    assert not funnel.usable[[3, 7]].any() and not funnel.kept[[3, 7]].any()
    assert np.isnan(funnel.limits[0.95][0][[3, 7]]).all()
    # The other 18 units are ranked among themselves.
    ok = funnel.usable
    reference = _port(list(observed[ok]), list(expected[ok]))
    assert funnel.phi == pytest.approx(reference["phi"])


def test_zero_population_wards_are_flagged_in_a_rate_funnel():
    table = _ward_table("BURGLARY")
    population = table["population"].to_numpy(float)
    population[5] = 0.0
    funnel = overdispersion.rate_funnel(table["count"], population)
    assert funnel.flags[5] == rates.FLAG_ZERO_POPULATION
    assert funnel.comparison[5] is None
    assert funnel.overall_rate == pytest.approx(
        np.delete(table["count"].to_numpy(), 5).sum() / np.delete(population, 5).sum()
    )


def test_a_zero_count_the_ranking_would_keep_is_left_out_of_phi():
    # Nine units: the zero has rank 1, group floor(1 * 10 / 10) = 1, so truncation would keep it.
    expected = np.array([5.0, 50.0, 60.0, 70.0, 80.0, 90.0, 100.0, 110.0, 120.0])
    observed = np.array([0.0, 58.0, 52.0, 81.0, 69.0, 104.0, 88.0, 123.0, 101.0])
    funnel = overdispersion.overdispersed_funnel(observed, expected)
    assert funnel.zeros_left_out == 1
    assert not funnel.kept[0]
    assert math.isfinite(funnel.phi) and math.isfinite(funnel.tau2)
    assert funnel.comparison[0] in (rates.LOWER_95, rates.LOWER_998)


def test_average_ranks_are_those_of_r_and_scipy():
    values = np.array([3.0, -math.inf, 1.0, 3.0, -math.inf, 2.0, 3.0])
    assert overdispersion.average_ranks(values).tolist() == stats.rankdata(values).tolist()
