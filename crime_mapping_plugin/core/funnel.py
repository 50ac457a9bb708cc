"""The comparison of each area with all areas: funnel limits at its expected count, written and flagged by one rule.

One rule gives the written limits, the flag and the drawn funnel (docs/methods.md, "Comparison with all wards"):
- E = overall rate × population (the crimes expected at the rate of all areas);
- the funnel limits at E: FunnelPlotR's overdispersion-adjusted SHMI limits (core.overdispersion; the default),
  or the exact Poisson limits χ²(α/2; 2E)/2 and χ²(1 − α/2; 2E + 2)/2 of E (the choice `POISSON`);
- the agreement rule: an area is only called higher when its own printed lower confidence limit (rates.count_limits,
  exact below 10 crimes, Byar's from 10) is above the overall rate, and only lower when its printed upper limit is
  below it. In counts: higher needs count ≥ c_hi, the smallest count whose lower limit / population exceeds the
  overall rate; lower needs count ≤ c_lo, the largest count whose upper limit is below it. So the written upper limit
  is max(funnel upper, (c_hi − 1)/population) and the written lower limit min(funnel lower, (c_lo + 1)/population)
  (0 when no count can be lower), on the rate scale;
- the flag is "strictly outside the written limits", at 99.8 % first, then 95 %.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from crime_mapping_plugin.core import overdispersion, rates

OVERDISPERSED = "overdispersed"
POISSON = "poisson"
METHODS = (OVERDISPERSED, POISSON)


@dataclass(frozen=True)
class Funnel:
    """Per-area expected counts, the written limits (rate scale), the flags, and the overdispersion they rest on.

    `limits` are the limits the flag uses (the agreement rule applied); `funnel_limits` the funnel alone.
    `adjusted` is False where exact Poisson limits were used (asked for, or φ ≤ 1). `held_back` counts the
    areas outside the funnel alone that are not flagged because their own confidence interval holds the
    overall rate.
    """

    method: str
    expected: np.ndarray
    limits: dict[float, tuple[np.ndarray, np.ndarray]]
    funnel_limits: dict[float, tuple[np.ndarray, np.ndarray]]
    comparison: list[str | None]
    phi: float
    tau2: float
    adjusted: bool
    n_used: int
    zeros_left_out: int
    held_back: int


def label(rate: float, limits: dict[float, tuple[float, float]]) -> str:
    """Return the comparison label of a rate against its (lower, upper) limits per level: strictly outside."""
    (low95, high95), (low998, high998) = limits[0.95], limits[0.998]
    if rate > high998:
        return rates.HIGHER_998
    if rate > high95:
        return rates.HIGHER_95
    if rate < low998:
        return rates.LOWER_998
    if rate < low95:
        return rates.LOWER_95
    return rates.SAME


def count_limit_table(largest: int, level: float) -> tuple[np.ndarray, np.ndarray]:
    """Return the lower and upper confidence limits (rates.count_limits) of the counts 0..largest.

    The same numbers as rates.count_limits, bit for bit: below rates.EXACT_BELOW from it; from there Byar's
    formula with numpy's +, −, ×, ÷ and square root (correctly rounded, as Python's) and the cube by Python's
    own power, which numpy's vectorised power does not always match in the last bit.
    """
    exact = min(largest + 1, rates.EXACT_BELOW)
    pairs = [rates.count_limits(float(x), level) for x in range(exact)]
    lower = np.empty(largest + 1)
    upper = np.empty(largest + 1)
    lower[:exact] = [p[0] for p in pairs]
    upper[:exact] = [p[1] for p in pairs]
    if largest + 1 > exact:
        z = rates.z_value(level)
        x = np.arange(exact, largest + 1, dtype=float)
        x1 = x + 1.0
        low_base = 1.0 - 1.0 / (9.0 * x) - z / (3.0 * np.sqrt(x))
        high_base = 1.0 - 1.0 / (9.0 * x1) + z / (3.0 * np.sqrt(x1))
        lower[exact:] = x * np.array([b**3 for b in low_base.tolist()])
        upper[exact:] = x1 * np.array([b**3 for b in high_base.tolist()])
    return lower, upper


def _agreement_counts(
    population: np.ndarray, overall: np.ndarray, multiplier: float, level: float, largest: int
) -> tuple[np.ndarray, np.ndarray]:
    """Return per area c_hi (smallest count whose printed lower limit is above its reference rate) and c_lo.

    The limits rise with the count, so each is found by a binary search of the table and then checked, one
    count either way, with the same expression as the printed limits (limit / population × multiplier), so
    that they agree exactly.
    """
    lower, upper = count_limit_table(largest, level)
    population = np.asarray(population, float)
    reference = np.broadcast_to(np.asarray(overall, float), population.shape)
    plain = np.isfinite(reference) & np.isfinite(population) & (population > 0)
    if not (plain.all() and np.all(np.diff(lower) >= 0) and np.all(np.diff(upper) >= 0)):
        return _agreement_counts_by_scan(lower, upper, population, reference, multiplier, largest)

    def above(c: np.ndarray) -> np.ndarray:
        return lower[np.clip(c, 0, largest)] / population * multiplier > reference

    def below(c: np.ndarray) -> np.ndarray:
        return upper[np.clip(c, 0, largest)] / population * multiplier < reference

    with np.errstate(divide="ignore", invalid="ignore"):
        c_hi = np.searchsorted(lower, reference * population / multiplier, side="right")
        for _ in range(largest + 2):  # one or two steps in practice: the search and the test differ by rounding
            back = (c_hi > 0) & above(c_hi - 1)
            ahead = (c_hi <= largest) & ~above(c_hi)
            if not (back.any() or ahead.any()):
                break
            c_hi = c_hi - back + ahead
        c_lo = np.searchsorted(upper, reference * population / multiplier, side="left") - 1
        for _ in range(largest + 2):
            back = (c_lo >= 0) & ~below(c_lo)
            ahead = (c_lo < largest) & below(c_lo + 1)
            if not (back.any() or ahead.any()):
                break
            c_lo = c_lo - back + ahead
    return c_hi.astype(np.int64), c_lo.astype(np.int64)


def _agreement_counts_by_scan(
    lower: np.ndarray, upper: np.ndarray, population: np.ndarray, reference: np.ndarray, multiplier: float,
    largest: int,
) -> tuple[np.ndarray, np.ndarray]:  # fmt: skip
    """Return _agreement_counts by testing every count of the table for every area (limits not monotone)."""
    c_hi = np.full(len(population), largest + 1, dtype=np.int64)
    c_lo = np.full(len(population), -1, dtype=np.int64)
    for i, (p, ref) in enumerate(zip(population, reference)):
        above = np.flatnonzero(lower / p * multiplier > ref)
        below = np.flatnonzero(upper / p * multiplier < ref)
        c_hi[i] = above[0] if len(above) else largest + 1
        c_lo[i] = below[-1] if len(below) else -1
    return c_hi, c_lo


def compare_with_all(
    table: rates.RateTable, method: str = OVERDISPERSED, trim_by: float = overdispersion.TRIM_BY
) -> Funnel:
    """Compare each area of a rate table with all areas: written limits at its expected count and its flag."""
    if method not in METHODS:
        raise ValueError(f"unknown comparison method {method!r}; one of {', '.join(METHODS)}")
    n = len(table.count)
    overall = table.overall_rate
    ok = table.usable & math.isfinite(overall)
    theta = overall / table.multiplier if math.isfinite(overall) else math.nan
    expected = np.where(ok, table.population * theta, np.nan)
    od = overdispersion.overdispersed_funnel(
        np.where(ok, table.count, np.nan), expected, trim_by, overall_rate=theta, multiplier=table.multiplier
    )
    adjusted = od.adjusted and method == OVERDISPERSED
    ratio_limits = (
        od.limits
        if method == OVERDISPERSED
        else {lvl: overdispersion.ratio_limits(expected, 0.0, lvl, False) for lvl in rates.LEVELS}
    )
    scale = overall if math.isfinite(overall) else math.nan
    funnel_limits = {lvl: (lo * scale, hi * scale) for lvl, (lo, hi) in ratio_limits.items()}
    limits, comparison, held_back = _written(table, ok, np.full(n, overall), expected, funnel_limits)
    return Funnel(
        method=method,
        expected=expected,
        limits=limits,
        funnel_limits=funnel_limits,
        comparison=comparison,
        phi=od.phi,
        tau2=od.tau2,
        adjusted=adjusted,
        n_used=od.n_used,
        zeros_left_out=od.zeros_left_out,
        held_back=held_back,
    )


def _written(
    table: rates.RateTable,
    ok: np.ndarray,
    reference: np.ndarray,
    expected: np.ndarray,
    funnel_limits: dict[float, tuple[np.ndarray, np.ndarray]],
) -> tuple[dict[float, tuple[np.ndarray, np.ndarray]], list[str | None], int]:
    """Apply the agreement rule to funnel limits: the written limits, the labels and the areas held back."""
    n = len(table.count)
    limits = {lvl: (np.full(n, np.nan), np.full(n, np.nan)) for lvl in rates.LEVELS}
    idx = np.flatnonzero(ok)
    if len(idx):
        e = expected[idx]
        largest = int(max(table.count[idx].max(), (e + 10.0 * np.sqrt(e)).max())) + 50
        pop = table.population[idx]
        for lvl in rates.LEVELS:
            c_hi, c_lo = _agreement_counts(pop, reference[idx], table.multiplier, lvl, largest)
            lo, hi = funnel_limits[lvl]
            limits[lvl][1][idx] = np.maximum(hi[idx], (c_hi - 1) / pop * table.multiplier)
            limits[lvl][0][idx] = np.where(c_lo < 0, 0.0, np.minimum(lo[idx], (c_lo + 1) / pop * table.multiplier))
    comparison: list[str | None] = [None] * n
    held_back = 0
    for i in idx:
        comparison[i] = label(table.rate[i], {lvl: (lo[i], hi[i]) for lvl, (lo, hi) in limits.items()})
        funnel_only = label(table.rate[i], {lvl: (lo[i], hi[i]) for lvl, (lo, hi) in funnel_limits.items()})
        held_back += int(comparison[i] == rates.SAME and funnel_only != rates.SAME)
    return limits, comparison, held_back


def compare_with_rates(table: rates.RateTable, reference: np.ndarray) -> Funnel:
    """Compare each area with its own reference rate (e.g. its borough's): exact Poisson limits at E, same rule.

    E = reference rate / multiplier × population. With a parent of some twenty wards there are too few to
    estimate overdispersion, so the limits are the exact Poisson limits of E, with the agreement rule.
    """
    n = len(table.count)
    reference = np.asarray(reference, dtype=float)
    ok = table.usable & np.isfinite(reference) & (reference > 0)
    expected = np.where(ok, table.population * reference / table.multiplier, np.nan)
    funnel_limits = {}
    for lvl in rates.LEVELS:
        lo, hi = np.full(n, np.nan), np.full(n, np.nan)
        for i in np.flatnonzero(ok):
            low_count, high_count = rates.funnel_count_limits(float(expected[i]), lvl)
            lo[i] = low_count / table.population[i] * table.multiplier
            hi[i] = high_count / table.population[i] * table.multiplier
        funnel_limits[lvl] = (lo, hi)
    limits, comparison, held_back = _written(table, ok, reference, expected, funnel_limits)
    return Funnel(POISSON, expected, limits, funnel_limits, comparison, math.nan, math.nan, False, 0, 0, held_back)
