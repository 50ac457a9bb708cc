"""Statistical process control for monthly crime series: NHS England "Making Data Count" XmR, and Laney u′.

XmR as the R package NHSRplotthedots (nhs-r-community) computes it, docs/methods.md ("Statistical process
control"):
- centre: the mean of the baseline (all points, or the first N points of the series);
- moving ranges MR_i = |y_i − y_{i−1}| within the baseline; AMR = their mean; screening (on by default, as
  NHSRplotthedots' `screen_outliers`): moving ranges ≥ 3.267·AMR are dropped and AMR is recomputed;
- process limits mean ± 2.66·AMR, near limits mean ± (2/3)·2.66·AMR;
- special cause, each test as NHSRplotthedots writes it:
  - outside: y > upper or y < lower (strict: a point exactly on a limit is inside);
  - shift: 7 consecutive points on the same side of the mean (a point exactly on the mean breaks the run);
    every point of a run of 7 or more is flagged;
  - trend: 7 consecutive points each strictly above (below) the one before, i.e. 6 rises (falls) in a row;
    a tie breaks it; every point of the run is flagged;
  - two in three: of 3 consecutive points all on the same side of the mean (none on it), at least 2 lie
    beyond the near limits but not outside the limits (strict inequalities); only those near points are
    flagged (a point outside the limits can be the third point, but is not counted as near).
- The direction of a flagged point follows NHSRplotthedots' precedence (outside, trend, two in three,
  shift): above the mean / increasing is "concern" for crime (more crime is worse), below / decreasing
  "improvement"; pass higher_is_worse=False for a series where more is better.

Missing months (NaN) are not zeros. NHSRplotthedots has no rule for them (R's NA simply spreads), so:
a moving range next to a missing month is not computed (as R's diff gives NA there), a missing month
has no side, is never near nor outside, and breaks every run, trend and three-point window it falls in.

Where we differ on purpose: a baseline whose moving ranges are all 0 keeps AMR = 0 (limits at the mean)
instead of NHSRplotthedots' NaN (its screen drops every moving range, as none is < 3.267·0).

Laney u′ (Laney 2002) for rates with varying exposure: u_i = c_i/n_i, CL = Σc/Σn, σ_i = √(CL/n_i),
z_i = (u_i − CL)/σ_i, σ_z = mean|z_i − z_{i−1}|/1.128, limits CL ± 3·σ_i·σ_z (the lower one not below 0).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

LIMIT_FACTOR = 2.66
NEAR_FACTOR = 2.0 * LIMIT_FACTOR / 3.0
SCREEN_FACTOR = 3.267
RUN_LENGTH = 7
LANEY_D2 = 1.128
LANEY_SIGMAS = 3.0

RULE_OUTSIDE = "outside the process limits"
RULE_TREND = "7 points rising or falling"
RULE_TWO_IN_THREE = "2 of 3 points beyond the near limits"
RULE_SHIFT = "7 points on one side of the mean"
RULES = (RULE_OUTSIDE, RULE_TREND, RULE_TWO_IN_THREE, RULE_SHIFT)

CONCERN = "concern"
IMPROVEMENT = "improvement"
COMMON_CAUSE = "common cause"
NO_DATA = "no data"


@dataclass(frozen=True)
class XmRLimits:
    """Centre line and limits of an XmR chart, with what they were computed from."""

    mean: float
    amr: float
    upper: float
    lower: float
    near_upper: float
    near_lower: float
    baseline_points: int
    moving_ranges: int
    moving_ranges_screened_out: int
    screened: bool


@dataclass(frozen=True)
class XmRChart:
    """An XmR chart of one series: limits, the tests per point and the resulting variation label."""

    values: np.ndarray
    limits: XmRLimits
    side: np.ndarray
    outside: np.ndarray
    near: np.ndarray
    shift: np.ndarray
    trend: np.ndarray
    two_in_three: np.ndarray
    direction: np.ndarray
    rules: list[tuple[str, ...]]
    variation: list[str]


@dataclass(frozen=True)
class LaneyChart:
    """A Laney u′ chart: rates, centre line, per-point limits and which points are outside them."""

    rate: np.ndarray
    centre: float
    sigma: np.ndarray
    z: np.ndarray
    sigma_z: float
    upper: np.ndarray
    lower: np.ndarray
    above: np.ndarray
    below: np.ndarray
    multiplier: float


def moving_ranges(values: npt.ArrayLike) -> np.ndarray:
    """Return |y_i − y_{i−1}| per point: NaN for the first point and next to a missing value."""
    y = np.asarray(values, dtype=float)
    out = np.full(y.shape, np.nan)
    out[1:] = np.abs(np.diff(y))
    return out


def xmr_limits(values: npt.ArrayLike, baseline: int | None = None, screen: bool = True) -> XmRLimits:
    """Return the mean, AMR and process limits from the first `baseline` points (all when None)."""
    y = np.asarray(values, dtype=float)
    base = y if baseline is None else y[: int(baseline)]
    if baseline is not None and int(baseline) < 2:
        raise ValueError(f"a baseline needs at least 2 points, not {baseline}")
    if not np.isfinite(base).any():
        raise ValueError("the baseline has no point with data")
    mean = float(np.nanmean(base))
    mr = moving_ranges(base)
    mr = mr[np.isfinite(mr)]
    amr = float(mr.mean()) if len(mr) else math.nan
    dropped = 0
    if screen and len(mr) and amr > 0:
        kept = mr < SCREEN_FACTOR * amr
        dropped = int((~kept).sum())
        amr = float(mr[kept].mean())
    return XmRLimits(
        mean=mean,
        amr=amr,
        upper=mean + LIMIT_FACTOR * amr,
        lower=mean - LIMIT_FACTOR * amr,
        near_upper=mean + NEAR_FACTOR * amr,
        near_lower=mean - NEAR_FACTOR * amr,
        baseline_points=int(np.isfinite(base).sum()),
        moving_ranges=len(mr) - dropped,
        moving_ranges_screened_out=dropped,
        screened=screen,
    )


def side_of_mean(values: npt.ArrayLike, mean: float) -> np.ndarray:
    """Return +1 above the mean, −1 below, 0 on it or where the value is missing."""
    y = np.asarray(values, dtype=float)
    return np.where(np.isfinite(y), np.sign(y - mean), 0.0).astype(int)


def _spread_runs(ends: np.ndarray, length: int) -> np.ndarray:
    """Mark the `length` points ending at each True of `ends` (the points that make up each run)."""
    out = np.zeros(ends.shape, dtype=bool)
    for back in range(length):
        out[: len(out) - back] |= ends[back:]
    return out


def shift_points(side: npt.ArrayLike, length: int = RUN_LENGTH) -> np.ndarray:
    """Return the points that belong to a run of `length` or more on one side of the mean."""
    side = np.asarray(side)
    ends = np.zeros(side.shape, dtype=bool)
    if len(side) >= length:
        window = np.lib.stride_tricks.sliding_window_view(side, length)
        ends[length - 1 :] = (window[:, 0] != 0) & (window == window[:, :1]).all(axis=1)
    return _spread_runs(ends, length)


def trend_steps(values: npt.ArrayLike, length: int = RUN_LENGTH) -> np.ndarray:
    """Return +1 (−1) at each point that ends `length` points all rising (falling), else 0."""
    y = np.asarray(values, dtype=float)
    ends = np.zeros(y.shape, dtype=int)
    if len(y) >= length:
        with np.errstate(invalid="ignore"):
            steps = np.sign(np.diff(y))
        steps = np.where(np.isfinite(steps), steps, 0.0)
        window = np.lib.stride_tricks.sliding_window_view(steps, length - 1)
        ends[length - 1 :] = np.where((window == 1).all(axis=1), 1, np.where((window == -1).all(axis=1), -1, 0))
    return ends


def trend_points(values: npt.ArrayLike, length: int = RUN_LENGTH) -> np.ndarray:
    """Return the points that belong to `length` or more consecutive points all rising or all falling."""
    return _spread_runs(trend_steps(values, length) != 0, length)


def two_in_three_points(near: npt.ArrayLike, side: npt.ArrayLike) -> np.ndarray:
    """Return the near points that are 2 (or 3) of 3 consecutive near points on one side of the mean."""
    near = np.asarray(near, dtype=bool)
    side = np.asarray(side, dtype=int)
    hits = np.zeros(near.shape, dtype=bool)
    if len(near) >= 3:
        n = np.lib.stride_tricks.sliding_window_view(near.astype(int), 3).sum(axis=1)
        s = np.lib.stride_tricks.sliding_window_view(side, 3).sum(axis=1)
        window = (n >= 2) & (np.abs(s) == 3)
        for offset in range(3):
            hits[offset : offset + len(window)] |= window
    return hits & near


def _trend_direction(values: np.ndarray, in_trend: np.ndarray) -> np.ndarray:
    """Return each point's step sign as NHSRplotthedots reads it: the step after when the next point is
    in the trend too, otherwise the step before."""
    y = np.asarray(values, dtype=float)
    with np.errstate(invalid="ignore"):
        steps = np.sign(np.diff(y))
    before = np.concatenate([[0.0], steps])
    after = np.concatenate([steps, steps[-1:]]) if len(steps) else np.zeros(len(y))
    next_in = np.concatenate([in_trend[1:], [False]])
    return np.where(next_in & in_trend, after, before)


def _label(direction: int, flagged: bool, has_data: bool, higher_is_worse: bool) -> str:
    if not has_data:
        return NO_DATA
    if not flagged or direction == 0:
        return COMMON_CAUSE
    worse = direction > 0 if higher_is_worse else direction < 0
    return CONCERN if worse else IMPROVEMENT


def xmr_chart(
    values: npt.ArrayLike, baseline: int | None = None, screen: bool = True, higher_is_worse: bool = True
) -> XmRChart:
    """Return the XmR chart of a series: limits, the four special-cause tests and a label per point."""
    y = np.asarray(values, dtype=float)
    limits = xmr_limits(y, baseline, screen)
    has_data = np.isfinite(y)
    side = side_of_mean(y, limits.mean)
    with np.errstate(invalid="ignore"):
        outside = has_data & ((y > limits.upper) | (y < limits.lower))
        near = has_data & ~outside & ((y < limits.near_lower) | (y > limits.near_upper))
    shift = shift_points(side)
    trend = trend_points(y)
    two = two_in_three_points(near, side)
    trend_dir = _trend_direction(y, trend)
    # NHSRplotthedots' precedence decides the direction of a point that several tests flag.
    direction = np.where(outside, side, np.where(trend, trend_dir, np.where(two | shift, side, 0))).astype(int)
    tests = ((RULE_OUTSIDE, outside), (RULE_TREND, trend), (RULE_TWO_IN_THREE, two), (RULE_SHIFT, shift))
    rules = [tuple(name for name, hit in tests if hit[i]) for i in range(len(y))]
    variation = [_label(int(direction[i]), bool(rules[i]), bool(has_data[i]), higher_is_worse) for i in range(len(y))]
    return XmRChart(y, limits, side, outside, near, shift, trend, two, direction, rules, variation)


def laney_u_prime(counts: npt.ArrayLike, exposures: npt.ArrayLike, multiplier: float = 1.0) -> LaneyChart:
    """Return Laney's u′ chart of counts over exposures (NaN count or exposure ≤ 0: a point with no data)."""
    c = np.asarray(counts, dtype=float)
    n = np.asarray(exposures, dtype=float)
    with np.errstate(invalid="ignore", divide="ignore"):
        ok = np.isfinite(c) & np.isfinite(n) & (n > 0)
        if not ok.any():
            raise ValueError("no point has both a count and a positive exposure")
        centre = c[ok].sum() / n[ok].sum()
        rate = np.where(ok, c / n, np.nan)
        sigma = np.where(ok, np.sqrt(centre / n), np.nan)
        z = np.where(ok & (sigma > 0), (rate - centre) / sigma, np.nan)
    mr = moving_ranges(z)
    mr = mr[np.isfinite(mr)]
    sigma_z = float(mr.mean() / LANEY_D2) if len(mr) else math.nan
    upper = centre + LANEY_SIGMAS * sigma * sigma_z
    lower = np.maximum(0.0, centre - LANEY_SIGMAS * sigma * sigma_z)
    with np.errstate(invalid="ignore"):
        above, below = ok & (rate > upper), ok & (rate < lower)
    m = float(multiplier)
    return LaneyChart(rate * m, centre * m, sigma * m, z, sigma_z, upper * m, lower * m, above, below, m)
