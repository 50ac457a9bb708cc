"""Crime rates with their uncertainty: Poisson confidence limits, funnel comparison, Empirical Bayes, change tests.

The formulas follow UK official statistics practice (PHEindicatormethods `phe_rate`): exact Poisson
limits below 10 events and Byar's approximation from 10; comparison with the rate of all areas by
exact Poisson funnel limits at 95 % and 99.8 %; GeoDa's Empirical Bayes smoothing; and an exact
conditional (binomial) test for a change between two periods. numpy and math only, so it runs in
any QGIS: the chi-square quantiles come from a regularised incomplete gamma function inverted here.
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


def funnel_curves(
    overall_rate: float, multiplier: float, populations: np.ndarray
) -> dict[float, tuple[np.ndarray, np.ndarray]]:
    """Return, per level, the funnel's lower and upper rate limits at each population ({} without an overall rate).

    The limits are the exact Poisson control limits of the expected count (overall rate × population),
    divided by the population and multiplied by the multiplier: the curves a funnel plot draws.
    """
    if not math.isfinite(overall_rate):
        return {}
    theta = overall_rate / multiplier
    curves = {}
    for level in LEVELS:
        limits = [funnel_count_limits(theta * p, level) for p in populations]
        curves[level] = (
            np.array([lo / p * multiplier for (lo, _), p in zip(limits, populations)]),
            np.array([hi / p * multiplier for (_, hi), p in zip(limits, populations)]),
        )
    return curves


def funnel_position(count: float, expected: float, level: float) -> int:
    """Return +1 or -1 when a count is significantly above or below a Poisson expectation, 0 otherwise.

    Two-sided exact Poisson test at `level`: higher when P(X >= count) < alpha/2, lower when
    P(X <= count) < alpha/2, X ~ Poisson(expected). Equivalently, the exact confidence interval of the
    count excludes the expected count.
    """
    alpha = 1.0 - level
    if expected <= 0:
        return 0
    # P(X >= k) = P(k, E) and P(X <= k) = 1 - P(k + 1, E), with P the regularised lower incomplete gamma.
    if count >= 1 and gammainc(count, expected) < alpha / 2.0:
        return 1
    if 1.0 - gammainc(count + 1.0, expected) < alpha / 2.0:
        return -1
    return 0


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
    comparison: list[str | None]
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
    """Compute rates, 95 % and 99.8 % limits, the comparison with all areas, EB rates and ranks.

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
    positions: dict[float, np.ndarray] = {}
    for level in LEVELS:
        lo = np.full(len(count), np.nan)
        hi = np.full(len(count), np.nan)
        pos = np.zeros(len(count), dtype=np.int8)
        for i in np.flatnonzero(ok):
            lc, uc = count_limits(count[i], level)
            lo[i] = lc / population[i] * multiplier
            hi[i] = uc / population[i] * multiplier
            if math.isfinite(theta):
                pos[i] = funnel_position(count[i], theta * population[i], level)
        limits[level] = (lo, hi)
        positions[level] = pos
    comparison = compare_with_funnel(ok & math.isfinite(theta), positions)
    eb = np.full(len(count), np.nan)
    if smooth:
        eb[ok] = empirical_bayes(count[ok], population[ok]) * multiplier
    return RateTable(
        count=count,
        population=population,
        rate=rate,
        limits=limits,
        overall_rate=theta * multiplier if math.isfinite(theta) else math.nan,
        comparison=comparison,
        eb_rate=eb,
        rank=rank_descending(rate),
        flags=flags,
        multiplier=multiplier,
    )


def compare_with_funnel(usable: np.ndarray, positions: dict[float, np.ndarray]) -> list[str | None]:
    """Label each area from its position against the 95 % and 99.8 % funnels (None where there is no rate)."""
    labels: list[str | None] = []
    for i, ok in enumerate(np.broadcast_to(usable, positions[0.95].shape)):
        p95, p998 = positions[0.95][i], positions[0.998][i]
        if not ok:
            labels.append(None)
        elif p998 > 0:
            labels.append(HIGHER_998)
        elif p95 > 0:
            labels.append(HIGHER_95)
        elif p998 < 0:
            labels.append(LOWER_998)
        elif p95 < 0:
            labels.append(LOWER_95)
        else:
            labels.append(SAME)
    return labels


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


def binom_two_sided_p(k: int, n: int, p: float) -> float:
    """Return the exact two-sided binomial p-value: the probability of outcomes no likelier than k."""
    if n == 0:
        return 1.0
    if not 0.0 < p < 1.0:
        expected_k = n if p >= 1.0 else 0
        return 1.0 if k == expected_k else 0.0
    i = np.arange(1, n + 1, dtype=float)
    # log C(n, j) accumulated term by term, so no log-gamma of large arguments is needed.
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((n - i + 1.0) / i))])
    j = np.arange(0, n + 1, dtype=float)
    log_pmf = log_choose + j * math.log(p) + (n - j) * math.log1p(-p)
    pmf = np.exp(log_pmf)
    if k == p * n:
        return 1.0
    # The relative tolerance treats outcomes as likely as k despite rounding (as scipy's binomtest does).
    threshold = pmf[k] * (1.0 + 1e-7)
    return float(min(1.0, pmf[pmf <= threshold].sum()))


def change_test(count_before: int, count_after: int, exposure_before: float, exposure_after: float) -> float:
    """Return the exact two-sided p-value that two Poisson counts have the same rate per unit exposure."""
    n = int(count_before) + int(count_after)
    if (
        exposure_before <= 0
        or exposure_after <= 0
        or not (math.isfinite(exposure_before) and math.isfinite(exposure_after))
    ):
        return math.nan
    p = exposure_after / (exposure_before + exposure_after)
    return binom_two_sided_p(int(count_after), n, p)


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


@dataclass
class ChangeTable:
    """Per-area change between a comparison period and the main period (None where it cannot be tested)."""

    before: np.ndarray
    after: np.ndarray
    rate_before: np.ndarray
    change_pct: list[float | None]
    p_value: list[float | None]
    label: list[str | None]


def change_table(
    before: Sequence[int],
    after: Sequence[int],
    population: np.ndarray,
    months_before: int,
    months_after: int,
    multiplier: float = 1000.0,
    usable: np.ndarray | None = None,
) -> ChangeTable:
    """Test each area's change of monthly rate between two periods (exposure = population × months with records).

    change_pct is the change of the monthly rate in %; usable marks the areas allowed a rate (all when None).
    """
    before = np.asarray(before, dtype=np.int64)
    after = np.asarray(after, dtype=np.int64)
    population = np.asarray(population, dtype=float)
    ok = np.isfinite(population) & (population > 0)
    if usable is not None:
        ok &= usable
    rate_before = np.full(len(before), np.nan)
    rate_before[ok] = before[ok] / population[ok] * multiplier
    n = len(before)
    pct: list[float | None] = [None] * n
    p_values: list[float | None] = [None] * n
    labels: list[str | None] = [None] * n
    if months_before > 0 and months_after > 0:
        for i in np.flatnonzero(ok):
            per_before = float(before[i]) / months_before
            per_after = float(after[i]) / months_after
            pct[i] = (per_after / per_before - 1.0) * 100.0 if per_before > 0 else None
            p = change_test(int(before[i]), int(after[i]), population[i] * months_before, population[i] * months_after)
            p_values[i] = p if math.isfinite(p) else None
            labels[i] = change_label(p, per_before, per_after)
    return ChangeTable(before, after, rate_before, pct, p_values, labels)
