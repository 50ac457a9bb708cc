"""The Poisson E-test for two counts (Krishnamoorthy & Thomson 2004) and the exact interval of their rate ratio.

Two counts k1, k2 observed over exposures n1, n2 (months, or months × residents). Under the hypothesis of
one rate, λ̂ = (k1 + k2)/(n1 + n2) and the two-sided p-value is

    p = Σ over (x1, x2) of Pois(x1; n1·λ̂)·Pois(x2; n2·λ̂)·[|T(x1, x2)| ≥ |T(k1, k2)|],
    T(x1, x2) = (x1/n1 − x2/n2) / √(x1/n1² + x2/n2²),  T(0, 0) = 0,

as docs/methods.md ("Comparing two Poisson counts: the E-test") states; the check values (20, 10) → 0.06883,
(6, 2) → 0.17487, (3, 0) → 0.08838 (n1 = n2 = 1) are those of the paper and of R ptools `e_test`.

How the double sum is done, without scipy:
- T(x1, ·) is strictly decreasing in x2 for every x1 (its derivative in b = x2/n2 is
  −(2a/n1 + a/n2 + b/n2)/(2s^{3/2}) < 0 with a = x1/n1, s = a/n1 + b/n2; at x1 = 0 it runs 0, −1, −√2, …).
  So for each x1 the x2 with T ≥ |T0| are x2 ≤ m_lo(x1) and those with T ≤ −|T0| are x2 ≥ m_hi(x1): the
  inner sum is two Poisson tail masses, read from a cumulative sum. m_lo, m_hi come from the roots of the
  quadratic (a − b)² = T0²(a/n1 + b/n2) and are then corrected by evaluating T itself next to them, so
  rounding in the roots can never move a point across the threshold.
- Ties: |T| ≥ |T0| is tested with a relative tolerance of 1e-12, so points whose T equals T0 in exact
  arithmetic (the observed point, its mirror, (70, 50) for (20, 10)) all count, whatever the rounding.
- Truncation: x is summed over [μ − d_lo, μ + d_hi] with d_lo = √(2Lμ), d_hi = L/3 + √(L²/9 + 2Lμ),
  L = ln(4/ε), ε = 1e-12. By the Poisson tail bounds P(X ≤ μ − d) ≤ exp(−d²/(2μ)) and
  P(X ≥ μ + d) ≤ exp(−d²/(2(μ + d/3))), each of the four tails left out holds less than ε/4, so the terms
  left out of the double sum add up to less than 1e-12.
- Poisson probabilities in log space (x·ln μ − μ − lgamma(x + 1), lgamma from math.lgamma), all pairs at
  once in blocks of bounded size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

TAIL_MASS = 1e-12
TIE_TOLERANCE = 1e-12
_LOG_TAILS = math.log(4.0 / TAIL_MASS)
_BLOCK_CELLS = 500000


@dataclass(frozen=True)
class RateRatio:
    """The ratio of two rates (k1/n1)/(k2/n2) with its exact conditional confidence interval."""

    ratio: float
    lower: float
    upper: float
    level: float


def statistic(x1: npt.ArrayLike, x2: npt.ArrayLike, n1: npt.ArrayLike, n2: npt.ArrayLike) -> np.ndarray:
    """Return the E-test's pivot T(x1, x2) = (x1/n1 − x2/n2)/√(x1/n1² + x2/n2²), 0 where both counts are 0."""
    x1, x2 = np.asarray(x1, dtype=float), np.asarray(x2, dtype=float)
    n1, n2 = np.asarray(n1, dtype=float), np.asarray(n2, dtype=float)
    variance = x1 / (n1 * n1) + x2 / (n2 * n2)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = (x1 / n1 - x2 / n2) / np.sqrt(variance)
    return np.where(variance > 0, t, 0.0)


def summation_range(mean: npt.ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Return the first and last count to sum for Poisson means so that each tail left out is < 1e-12/4."""
    mean = np.asarray(mean, dtype=float)
    d_lo = np.sqrt(2.0 * _LOG_TAILS * mean)
    d_hi = _LOG_TAILS / 3.0 + np.sqrt(_LOG_TAILS**2 / 9.0 + 2.0 * _LOG_TAILS * mean)
    first = np.maximum(0.0, np.floor(mean - d_lo))
    last = np.ceil(mean + d_hi)
    return first.astype(np.int64), last.astype(np.int64)


def _log_factorials(largest: int) -> np.ndarray:
    return np.array([math.lgamma(x + 1.0) for x in range(largest + 1)])


def _poisson_rows(first: np.ndarray, width: int, mean: np.ndarray, log_fact: np.ndarray) -> np.ndarray:
    """Return Poisson probabilities of first[i] + j (j < width) for each row's mean (0 beyond the table)."""
    x = first[:, None] + np.arange(width)[None, :]
    inside = x < len(log_fact)
    xc = np.where(inside, x, 0)
    log_pmf = xc * np.log(mean)[:, None] - mean[:, None] - log_fact[xc]
    return np.where(inside, np.exp(log_pmf), 0.0)


def _beyond(a: np.ndarray, var_a: np.ndarray, x2: np.ndarray, n2: np.ndarray, t2: np.ndarray, side: int) -> np.ndarray:
    """Return whether T(x1, x2) ≥ t0 (side +1) or T ≤ −t0 (side −1), from a = x1/n1, var_a = x1/n1², t2 = t0².

    Written without the square root: side·(a − b) > 0 and (a − b)² ≥ t0²·(var_a + b/n2), b = x2/n2. The
    strict first condition keeps T(0, 0) = 0 out, as t0 > 0.
    """
    b = x2 / n2
    d = a - b
    return (side * d > 0) & (d * d >= t2 * (var_a + b / n2))


def _settle(
    scaled: np.ndarray, a: np.ndarray, var_a: np.ndarray, n2: np.ndarray, t2: np.ndarray, side: int
) -> np.ndarray:
    """Return the last x2 in the set {T ≥ t0} (side +1) or the first in {T ≤ −t0} (side −1) from its root.

    Away from whole numbers the root's floor (ceiling) is the answer; where the root lies within 1e-6 of a
    whole number r (ties, and rounding that could cross r), T at r decides between r and its neighbour.
    """
    nearest = np.round(scaled)
    near = np.abs(scaled - nearest) < 1e-6
    out = np.floor(scaled) if side > 0 else np.ceil(scaled)
    if near.any():
        r = nearest[near]
        a_n, v_n = (np.broadcast_to(x, scaled.shape)[near] for x in (a, var_a))
        n2_n, t2_n = (np.broadcast_to(x, scaled.shape)[near] for x in (n2, t2))
        inside = (r >= 0) & _beyond(a_n, v_n, np.maximum(r, 0.0), n2_n, t2_n, side)
        out[near] = np.where(inside, r, r - side)
    return np.maximum(out, -1.0) if side > 0 else np.maximum(out, 0.0)


def _thresholds(x1: np.ndarray, n1: np.ndarray, n2: np.ndarray, t0: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the largest x2 with T(x1, x2) ≥ t0 (−1 if none) and the smallest with T ≤ −t0; t0 > 0.

    The roots of (a − b)² = t0²(a/n1 + b/n2) in b = x2/n2 are a + h ± √(2ah + h² + t0²a/n1), h = t0²/(2n2),
    the lower one written as a(a − t0²/n1)/(a + h + √…). T is strictly decreasing in x2, so the two sets
    are x2 ≤ the lower root and x2 ≥ the upper one.
    """
    a = x1 / n1
    var_a = a / n1
    t2 = t0 * t0
    half = t2 / (2.0 * n2)
    # (a + h)² − a² + t0²a/n1 expanded, and the lower root in its conjugate form: no cancellation.
    spread = np.sqrt(2.0 * a * half + half * half + t2 * var_a)
    upper_root = a + half + spread
    lower_root = a * (a - t2 / n1) / upper_root
    low = _settle(lower_root * n2, a, var_a, n2, t2, 1)
    high = _settle(upper_root * n2, a, var_a, n2, t2, -1)
    return low, high


def _mass_up_to(cdf: np.ndarray, first: np.ndarray, m: np.ndarray) -> np.ndarray:
    """Return, per row and column, the summed probability of x2 ≤ m within each row's summed range."""
    index = m - first[:, None]
    width = cdf.shape[1]
    taken = np.take_along_axis(cdf, np.minimum(np.maximum(index, 0), width - 1).astype(np.int64), axis=1)
    return np.where(index < 0, 0.0, taken)


def _block_p_values(k1: np.ndarray, k2: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> np.ndarray:
    """Return E-test p-values for pairs whose statistic is not 0 (all arrays one-dimensional)."""
    lam = (k1 + k2) / (n1 + n2)
    mu1, mu2 = n1 * lam, n2 * lam
    t0 = np.abs(statistic(k1, k2, n1, n2)) * (1.0 - TIE_TOLERANCE)
    first1, last1 = summation_range(mu1)
    first2, last2 = summation_range(mu2)
    w1, w2 = int((last1 - first1).max()) + 1, int((last2 - first2).max()) + 1
    log_fact = _log_factorials(int(max(last1.max(), last2.max())))
    pmf1 = _poisson_rows(first1, w1, mu1, log_fact)
    pmf1[np.arange(w1)[None, :] > (last1 - first1)[:, None]] = 0.0
    pmf2 = _poisson_rows(first2, w2, mu2, log_fact)
    pmf2[np.arange(w2)[None, :] > (last2 - first2)[:, None]] = 0.0
    cdf2 = np.cumsum(pmf2, axis=1)
    total2 = cdf2[:, -1:]
    x1 = (first1[:, None] + np.arange(w1)[None, :]).astype(float)
    low, high = _thresholds(x1, n1[:, None], n2[:, None], t0[:, None])
    upper_set = _mass_up_to(cdf2, first2, low)
    lower_set = total2 - _mass_up_to(cdf2, first2, high - 1.0)
    return np.minimum(1.0, (pmf1 * (upper_set + lower_set)).sum(axis=1))


def _blocks(widths: np.ndarray) -> list[np.ndarray]:
    """Split pair indices (sorted by width) into blocks of at most about _BLOCK_CELLS grid cells."""
    order = np.argsort(widths, kind="stable")
    blocks, start = [], 0
    while start < len(order):
        stop = start + 1
        while stop < len(order) and (stop + 1 - start) * widths[order[stop]] <= _BLOCK_CELLS:
            stop += 1
        blocks.append(order[start:stop])
        start = stop
    return blocks


def e_test(k1: npt.ArrayLike, k2: npt.ArrayLike, n1: npt.ArrayLike = 1.0, n2: npt.ArrayLike = 1.0) -> np.ndarray:
    """Return two-sided E-test p-values that counts k1 over n1 and k2 over n2 share one Poisson rate.

    Arguments broadcast against each other (a scalar or arrays of pairs). Counts must be whole numbers ≥ 0
    and exposures > 0; a pair that is not is NaN. Both counts 0, or equal rates, give p = 1.
    """
    k1b, k2b, n1b, n2b = np.broadcast_arrays(*(np.asarray(v, dtype=float) for v in (k1, k2, n1, n2)))
    shape = k1b.shape
    k1f, k2f, n1f, n2f = (v.ravel() for v in (k1b, k2b, n1b, n2b))
    p = np.full(k1f.shape, np.nan)
    with np.errstate(invalid="ignore"):
        valid = (
            np.isfinite(k1f + k2f + n1f + n2f)
            & (k1f >= 0)
            & (k2f >= 0)
            & (k1f == np.floor(k1f))
            & (k2f == np.floor(k2f))
            & (n1f > 0)
            & (n2f > 0)
        )
    safe = [np.where(valid, v, fill) for v, fill in ((k1f, 0.0), (k2f, 0.0), (n1f, 1.0), (n2f, 1.0))]
    t0 = np.where(valid, np.abs(statistic(*safe)), 0.0)
    p[valid & (t0 == 0)] = 1.0
    todo = np.flatnonzero(valid & (t0 > 0))
    if len(todo):
        lam = (k1f[todo] + k2f[todo]) / (n1f[todo] + n2f[todo])
        f1, l1 = summation_range(n1f[todo] * lam)
        f2, l2 = summation_range(n2f[todo] * lam)
        widths = np.maximum(l1 - f1, l2 - f2) + 1
        for block in _blocks(widths):
            rows = todo[block]
            p[rows] = _block_p_values(k1f[rows], k2f[rows], n1f[rows], n2f[rows])
    return p.reshape(shape)


def e_test_p(k1: int, k2: int, n1: float = 1.0, n2: float = 1.0) -> float:
    """Return the two-sided E-test p-value of one pair of counts (NaN when it cannot be tested)."""
    return float(e_test(k1, k2, n1, n2))


def _log_binomial_coefficients(trials: int) -> np.ndarray:
    """Return ln C(trials, j) for j = 0..trials."""
    log_fact = _log_factorials(trials)
    return log_fact[trials] - log_fact - log_fact[::-1]


def _binomial_upper_tail(k: int, prob: float, log_choose: np.ndarray) -> float:
    """Return P(X ≥ k) for X ~ Binomial(len(log_choose) − 1, prob), summed in log space."""
    trials = len(log_choose) - 1
    if k <= 0 or prob >= 1.0:
        return 1.0
    if prob <= 0.0 or k > trials:
        return 0.0
    j = np.arange(k, trials + 1, dtype=float)
    log_pmf = log_choose[k:] + j * math.log(prob) + (trials - j) * math.log1p(-prob)
    return float(min(1.0, np.exp(log_pmf).sum()))


def _ratio_solving(target: float, k1: int, k2: int, share: float, upper_tail_of: int) -> float:
    """Return the rate ratio ρ at which P(X ≥ upper_tail_of) = target, X ~ Bin(k1 + k2, π(ρ)).

    π(ρ) = ρ·share/(ρ·share + 1 − share) with share = n1/(n1 + n2); bisection on ln ρ, where the tail
    probability increases with ρ.
    """
    log_choose = _log_binomial_coefficients(k1 + k2)
    lo, hi = -60.0, 60.0
    while hi - lo > 1e-12:
        mid = 0.5 * (lo + hi)
        rho = math.exp(mid)
        prob = rho * share / (rho * share + 1.0 - share)
        if _binomial_upper_tail(upper_tail_of, prob, log_choose) < target:
            lo = mid
        else:
            hi = mid
    return math.exp(0.5 * (lo + hi))


def rate_ratio(k1: int, k2: int, n1: float = 1.0, n2: float = 1.0, level: float = 0.95) -> RateRatio:
    """Return the rate ratio (k1/n1)/(k2/n2) with its exact conditional (Clopper-Pearson) interval.

    Given k1 + k2, k1 is Binomial(k1 + k2, π) with π = n1ρ/(n1ρ + n2); the Clopper-Pearson limits of π
    (P(X ≥ k1) = α/2 for the lower, P(X ≤ k1) = α/2 for the upper) are mapped to ρ. The lower limit is 0
    when k1 = 0 and the upper is infinite when k2 = 0; both counts 0 give NaN.
    """
    if n1 <= 0 or n2 <= 0 or k1 < 0 or k2 < 0 or not 0.0 < level < 1.0:
        raise ValueError(f"counts must be ≥ 0, exposures > 0 and level in (0, 1): {k1}, {k2}, {n1}, {n2}, {level}")
    k1, k2 = int(k1), int(k2)
    if k1 + k2 == 0:
        return RateRatio(math.nan, math.nan, math.nan, level)
    alpha = 1.0 - level
    share = n1 / (n1 + n2)
    ratio = (k1 / n1) / (k2 / n2) if k2 > 0 else math.inf
    lower = 0.0 if k1 == 0 else _ratio_solving(alpha / 2.0, k1, k2, share, k1)
    # P(X ≤ k1) = α/2 is P(X ≥ k1 + 1) = 1 − α/2.
    upper = math.inf if k2 == 0 else _ratio_solving(1.0 - alpha / 2.0, k1, k2, share, k1 + 1)
    return RateRatio(ratio, lower, upper, level)
