"""Crime rates with their uncertainty: Poisson confidence limits, Empirical Bayes, ranks and the labels of tests.

The formulas follow UK official statistics practice (PHEindicatormethods `phe_rate`): exact Poisson
limits below 10 events and Byar's approximation from 10; the exact Poisson control limits of an expected
count (core.funnel and core.overdispersion build the comparison with all areas on them); GeoDa's Empirical
Bayes smoothing. The change between two periods is tested by the E-test (core.etest, core.ward_rates).
numpy and math only, so it runs in any QGIS: the chi-square quantiles come from a regularised incomplete
gamma function inverted here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist
from typing import Mapping, Sequence

import numpy as np

LEVELS = (0.95, 0.998)
EXACT_BELOW = 10

HIGHER_998 = "higher (99.8 %)"
HIGHER_95 = "higher (95 %)"
SAME = "not significantly different"
LOWER_95 = "lower (95 %)"
LOWER_998 = "lower (99.8 %)"
COMPARISON_LABELS = (HIGHER_998, HIGHER_95, SAME, LOWER_95, LOWER_998)

INCREASE_998 = "increase (99.8 %)"
INCREASE_95 = "increase (95 %)"
NO_CHANGE = "no significant change"
DECREASE_95 = "decrease (95 %)"
DECREASE_998 = "decrease (99.8 %)"

FLAG_NO_POPULATION = "no population"
FLAG_ZERO_POPULATION = "zero population"
FLAG_NEGATIVE_POPULATION = "negative population"
FLAG_BAD_POPULATION = "population not a number"
FLAG_NO_GEOMETRY = "no geometry: its crimes cannot be counted"


def gammainc(a: float, x: float) -> float:
    """Return the regularised lower incomplete gamma function P(a, x) for a > 0."""
    if x <= 0.0:
        return 0.0
    log_front = -x + a * math.log(x) - math.lgamma(a)
    if x < a + 1.0:
        # Series: converges fast below the mode.
        term = total = 1.0 / a
        ap = a
        for _ in range(100000):
            ap += 1.0
            term *= x / ap
            total += term
            if abs(term) < abs(total) * 1e-17:
                break
        return min(1.0, total * math.exp(log_front))
    # Continued fraction for Q(a, x) (modified Lentz), accurate above the mode.
    tiny = 1e-300
    b = x + 1.0 - a
    c = 1.0 / tiny
    d = 1.0 / b
    h = d
    for i in range(1, 100000):
        an = -i * (i - a)
        b += 2.0
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1.0 / d
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-17:
            break
    return max(0.0, 1.0 - math.exp(log_front) * h)


def gamma_ppf(p: float, a: float) -> float:
    """Return x with P(a, x) = p: the p quantile of a Gamma(a, 1) distribution."""
    if not 0.0 < p < 1.0:
        if p == 0.0:
            return 0.0
        raise ValueError(f"probability {p} is not in [0, 1)")
    lo, hi = 0.0, max(1.0, a + 10.0 * math.sqrt(a) + 10.0)
    while gammainc(a, hi) < p:
        lo, hi = hi, hi * 2.0
    # Wilson-Hilferty start: Newton then converges in a few steps for all but tiny shapes.
    z = NormalDist().inv_cdf(p)
    guess = a * (1.0 - 1.0 / (9.0 * a) + z / (3.0 * math.sqrt(a))) ** 3
    x = guess if lo < guess < hi else 0.5 * (lo + hi)
    for _ in range(2000):
        f = gammainc(a, x) - p
        if f < 0:
            lo = x
        else:
            hi = x
        # Newton step with the gamma density, kept inside the bracket (bisection otherwise).
        log_pdf = (a - 1.0) * math.log(x) - x - math.lgamma(a) if x > 0 else -math.inf
        pdf = math.exp(log_pdf) if -700 < log_pdf < 700 else 0.0
        step = x - f / pdf if pdf > 0 else math.nan
        new = step if lo < step < hi else 0.5 * (lo + hi)
        if abs(new - x) <= 1e-15 * abs(x) or hi - lo <= 1e-15 * hi:
            return new
        x = new
    return x


def chi2_ppf(p: float, df: float) -> float:
    """Return the p quantile of the chi-square distribution with df degrees of freedom."""
    return 2.0 * gamma_ppf(p, df / 2.0)


def z_value(level: float) -> float:
    """Return the two-sided standard normal quantile of a confidence level (1.959964 for 0.95)."""
    return NormalDist().inv_cdf(level + (1.0 - level) / 2.0)


def count_limits(x: float, level: float) -> tuple[float, float]:
    """Return the confidence limits of a Poisson count x: exact below 10 events, Byar's method from 10."""
    if x < 0 or not math.isfinite(x):
        raise ValueError(f"a count must be a non-negative number, not {x}")
    alpha = 1.0 - level
    if x < EXACT_BELOW:
        lower = 0.0 if x == 0 else chi2_ppf(alpha / 2.0, 2.0 * x) / 2.0
        upper = chi2_ppf(level + alpha / 2.0, 2.0 * x + 2.0) / 2.0
        return lower, upper
    z = z_value(level)
    lower = x * (1.0 - 1.0 / (9.0 * x) - z / (3.0 * math.sqrt(x))) ** 3
    x1 = x + 1.0
    upper = x1 * (1.0 - 1.0 / (9.0 * x1) + z / (3.0 * math.sqrt(x1))) ** 3
    return lower, upper


def funnel_count_limits(expected: float, level: float) -> tuple[float, float]:
    """Return exact Poisson control limits around an expected count (the funnel at one population)."""
    alpha = 1.0 - level
    lower = 0.0 if expected <= 0 else chi2_ppf(alpha / 2.0, 2.0 * expected) / 2.0
    upper = chi2_ppf(level + alpha / 2.0, 2.0 * expected + 2.0) / 2.0
    return lower, upper


def population_flags(population: Sequence[object]) -> list[str]:
    """Return, per area, why no rate can be computed ('' when the population is usable).

    A missing value (None, NaN, blank) has no population; text that is no number and infinity are not a
    number; zero and negative populations are flagged as such.
    """
    flags = []
    for p in population:
        value = _population_value(p)
        if value is None:
            flags.append(FLAG_NO_POPULATION)
        elif not math.isfinite(value):
            flags.append(FLAG_BAD_POPULATION)
        elif value == 0:
            flags.append(FLAG_ZERO_POPULATION)
        elif value < 0:
            flags.append(FLAG_NEGATIVE_POPULATION)
        else:
            flags.append("")
    return flags


def _population_value(value: object) -> float | None:
    """Return a population as a float: None when missing, inf for a value that is no finite number."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return math.inf
    if math.isnan(number):
        return None
    return number if math.isfinite(number) else math.inf


@dataclass
class RateTable:
    """Per-area rates, limits and comparisons; NaN where the population (or the area) does not allow a rate."""

    count: np.ndarray
    population: np.ndarray
    rate: np.ndarray
    limits: dict[float, tuple[np.ndarray, np.ndarray]]
    overall_rate: float
    eb_rate: np.ndarray
    rank: np.ndarray
    flags: list[str]
    multiplier: float

    @property
    def usable(self) -> np.ndarray:
        """Which areas have a rate."""
        return np.array([f == "" for f in self.flags], dtype=bool)


def as_population(values: Sequence[object]) -> np.ndarray:
    """Return populations as floats, NaN for missing, non-numeric or infinite values."""
    out = np.full(len(values), np.nan)
    for i, v in enumerate(values):
        number = _population_value(v)
        out[i] = number if number is not None and math.isfinite(number) else np.nan
    return out


def rate_table(
    count: Sequence[float],
    population: Sequence[object],
    multiplier: float = 1000.0,
    smooth: bool = True,
    excluded: Mapping[int, str] | None = None,
) -> RateTable:
    """Compute rates, 95 % and 99.8 % limits, the overall rate, EB rates and ranks (core.funnel compares them).

    excluded maps areas that get no rate whatever their population (e.g. an area with no geometry, where
    no crime can be counted) to the flag saying why; they are left out of the overall rate too.
    """
    count = np.asarray(count, dtype=float)
    flags = population_flags(list(population))
    population = as_population(list(population))
    for i, why in (excluded or {}).items():
        flags[i] = why
    ok = np.array([f == "" for f in flags], dtype=bool)
    rate = np.full(len(count), np.nan)
    rate[ok] = count[ok] / population[ok] * multiplier
    total_pop = population[ok].sum()
    theta = count[ok].sum() / total_pop if total_pop > 0 else math.nan
    limits: dict[float, tuple[np.ndarray, np.ndarray]] = {}
    for level in LEVELS:
        lo = np.full(len(count), np.nan)
        hi = np.full(len(count), np.nan)
        for i in np.flatnonzero(ok):
            lc, uc = count_limits(count[i], level)
            # core.funnel's agreement rule divides the same way: keep the two expressions identical.
            lo[i] = lc / population[i] * multiplier
            hi[i] = uc / population[i] * multiplier
        limits[level] = (lo, hi)
    eb = np.full(len(count), np.nan)
    if smooth:
        eb[ok] = empirical_bayes(count[ok], population[ok]) * multiplier
    return RateTable(
        count=count,
        population=population,
        rate=rate,
        limits=limits,
        overall_rate=theta * multiplier if math.isfinite(theta) else math.nan,
        eb_rate=eb,
        rank=rank_descending(rate),
        flags=flags,
        multiplier=multiplier,
    )


def empirical_bayes(count: Sequence[float], population: Sequence[float]) -> np.ndarray:
    """Return GeoDa's Empirical Bayes smoothed rates (per person); NaN where the population is unusable."""
    count = np.asarray(count, dtype=float)
    population = np.asarray(population, dtype=float)
    out = np.full(len(count), np.nan)
    ok = np.isfinite(population) & (population > 0)
    if not ok.any():
        return out
    o, p = count[ok], population[ok]
    theta = o.sum() / p.sum()
    r = o / p
    n = len(p)
    variance = (p * (r - theta) ** 2).sum() / p.sum() - theta / (p.sum() / n)
    variance = max(variance, 0.0)
    denom = variance + theta / p
    w = np.where(denom > 0, variance / np.where(denom > 0, denom, 1.0), 0.0)
    out[ok] = w * r + (1.0 - w) * theta
    return out


def rank_descending(values: np.ndarray) -> np.ndarray:
    """Return competition ranks, 1 for the highest value, ties sharing the best rank; NaN stays NaN."""
    values = np.asarray(values, dtype=float)
    ranks = np.full(len(values), np.nan)
    ok = np.isfinite(values)
    v = values[ok]
    # Rank = 1 + number of strictly greater values.
    sorted_desc = np.sort(v)[::-1]
    ranks[ok] = np.searchsorted(-sorted_desc, -v, side="left") + 1
    return ranks


def change_label(p_value: float, rate_before: float, rate_after: float) -> str | None:
    """Return the significance label of a change in rate (None when it cannot be tested)."""
    if not math.isfinite(p_value):
        return None
    up = rate_after > rate_before
    if p_value < 1.0 - LEVELS[1]:
        return INCREASE_998 if up else DECREASE_998
    if p_value < 1.0 - LEVELS[0]:
        return INCREASE_95 if up else DECREASE_95
    return NO_CHANGE
