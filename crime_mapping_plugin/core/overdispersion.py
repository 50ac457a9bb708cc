"""Funnel limits with overdispersion for observed against expected counts (Spiegelhalter 2005), as FunnelPlotR.

FunnelPlotR's defaults for an indirectly standardised ratio O/E (`data_type = "SR"`, `sr_method = "SHMI"`,
`trim_by = 0.1`, `draw_adjusted = TRUE`), from its R/od_adjustment.R, R/calculate_limits.R and
R/funnel_plot.R; docs/methods.md ("Funnel plots with overdispersion"):
- z_i = √E_i · ln(O_i/E_i), standard error s_i = 1/√E_i;
- SHMI truncation: rank the z (ties get their average rank), group g_i = ⌊rank_i · k/(n + 1)⌋ with
  k = 1/trim_by; keep 0 < g_i < k − 1 (the top and bottom tenth left out of the estimate);
- φ = mean z² over the kept; τ² = 0 if nφ < n − 1, else max(0, (nφ − (n − 1))/(Σw − Σw²/Σw)), w = 1/s² = E,
  n and the sums over the kept;
- limits on O/E: exp(± z_α · √(1/E + τ²)), z_α = 1.959964 (95 %) and 3.090232 (99.8 %);
- when φ ≤ 1 (no overdispersion) FunnelPlotR draws the exact Poisson limits instead,
  χ²(α/2; 2E)/(2E) and χ²(1 − α/2; 2E + 2)/(2E), and so do we (`poisson_unless_overdispersed`);
- a unit is an outlier when its O/E lies strictly outside a limit (on the limit is inside).

Units FunnelPlotR has no rule for, decided here:
- E ≤ 0 or not a number (no residents, no expected count), or O missing or negative: the unit takes no part
  (not ranked, not in φ) and gets no limits, no label and a flag saying why.
- O = 0 with E > 0: ln 0 = −∞. FunnelPlotR ranks the −∞ below every other z, as R does, so with ten or
  more units and few zeros they fall in the bottom group and are trimmed, exactly as here. A zero that
  the ranking would keep would make FunnelPlotR's φ and τ² infinite (and every limit 0 to ∞); we leave
  such zeros out of φ and τ² instead (counted in `zeros_left_out`). A zero still gets its limits (they
  depend on E only) and its label.
- FunnelPlotR rounds E to 2 decimals by default (`SHMI_rounding`, a convention of the NHS SHMI); we do not:
  for E ≥ 50 it moves a limit by less than 1e-4 of its value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np
import numpy.typing as npt

from crime_mapping_plugin.core import rates

TRIM_BY = 0.1
FLAG_NO_EXPECTED = "no expected count"
FLAG_NO_COUNT = "no count"


@dataclass(frozen=True)
class OverdispersedFunnel:
    """Per-unit O/E, limits and labels, with the overdispersion estimate they rest on.

    `limits` are on the O/E scale per level (0.95, 0.998); `rate_limits` the same times overall_rate ×
    multiplier, where overall_rate is per unit of the population (per person) before the multiplier.
    `adjusted` is False where the exact Poisson limits were used (φ ≤ 1).
    """

    observed: np.ndarray
    expected: np.ndarray
    ratio: np.ndarray
    z: np.ndarray
    usable: np.ndarray
    kept: np.ndarray
    phi: float
    tau2: float
    n_used: int
    zeros_left_out: int
    adjusted: bool
    limits: dict[float, tuple[np.ndarray, np.ndarray]]
    comparison: list[str | None]
    flags: list[str]
    overall_rate: float = math.nan
    multiplier: float = 1.0
    rate_limits: dict[float, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)


def average_ranks(values: npt.ArrayLike) -> np.ndarray:
    """Return ranks 1..n in increasing order, tied values sharing their average rank (as R's rank())."""
    v = np.asarray(values, dtype=float)
    order = np.argsort(v, kind="stable")
    sorted_v = v[order]
    starts = np.concatenate([[True], sorted_v[1:] != sorted_v[:-1]])
    group = np.cumsum(starts) - 1
    first = np.flatnonzero(starts)
    last = np.concatenate([first[1:], [len(v)]]) - 1
    mean_rank = (first + last) / 2.0 + 1.0
    ranks = np.empty(len(v))
    ranks[order] = mean_rank[group]
    return ranks


def shmi_kept(z: npt.ArrayLike, trim_by: float = TRIM_BY) -> np.ndarray:
    """Return which z the SHMI truncation keeps: rank groups ⌊rank·k/(n+1)⌋ strictly between 0 and k − 1."""
    k = 1.0 / trim_by
    n = len(z)
    groups = np.floor(average_ranks(z) * k / (n + 1))
    return (groups > 0) & (groups < k - 1)


def dispersion(z: npt.ArrayLike, weight: npt.ArrayLike) -> tuple[float, float]:
    """Return φ = mean z² and the between-unit variance τ² (DerSimonian-Laird form) of the given units."""
    n = len(z)
    if n == 0:
        return math.nan, 0.0
    phi = float(np.mean(z * z))
    if n * phi < n - 1:
        return phi, 0.0
    w = np.asarray(weight, dtype=float)
    spread = w.sum() - (w * w).sum() / w.sum()
    if not spread > 0:
        return phi, 0.0  # one unit (or all weight in one): no between-unit variance can be estimated
    return phi, max(0.0, (n * phi - (n - 1)) / spread)


def ratio_limits(expected: npt.ArrayLike, tau2: float, level: float, adjusted: bool) -> tuple[np.ndarray, np.ndarray]:
    """Return the lower and upper O/E limits at `level` for each expected count (NaN where E ≤ 0)."""
    e = np.asarray(expected, dtype=float)
    lower, upper = np.full(e.shape, np.nan), np.full(e.shape, np.nan)
    ok = np.isfinite(e) & (e > 0)
    if adjusted:
        half = rates.z_value(level) * np.sqrt(1.0 / e[ok] + tau2)
        lower[ok], upper[ok] = np.exp(-half), np.exp(half)
        return lower, upper
    for i in np.flatnonzero(ok):
        low_count, high_count = rates.funnel_count_limits(float(e[i]), level)
        lower[i], upper[i] = low_count / e[i], high_count / e[i]
    return lower, upper


def _labels(
    ratio: np.ndarray, usable: np.ndarray, limits: dict[float, tuple[np.ndarray, np.ndarray]]
) -> list[str | None]:
    low95, high95 = limits[0.95]
    low998, high998 = limits[0.998]
    out: list[str | None] = []
    for i, r in enumerate(ratio):
        if not usable[i]:
            out.append(None)
        elif r > high998[i]:
            out.append(rates.HIGHER_998)
        elif r > high95[i]:
            out.append(rates.HIGHER_95)
        elif r < low998[i]:
            out.append(rates.LOWER_998)
        elif r < low95[i]:
            out.append(rates.LOWER_95)
        else:
            out.append(rates.SAME)
    return out


def _flags(observed: np.ndarray, expected: np.ndarray) -> list[str]:
    flags = []
    for o, e in zip(observed, expected):
        if not (math.isfinite(e) and e > 0):
            flags.append(FLAG_NO_EXPECTED)
        elif not (math.isfinite(o) and o >= 0):
            flags.append(FLAG_NO_COUNT)
        else:
            flags.append("")
    return flags


def overdispersed_funnel(
    observed: npt.ArrayLike,
    expected: npt.ArrayLike,
    trim_by: float = TRIM_BY,
    poisson_unless_overdispersed: bool = True,
    overall_rate: float = math.nan,
    multiplier: float = 1.0,
) -> OverdispersedFunnel:
    """Return FunnelPlotR's overdispersion-adjusted funnel of O against E, with labels at 95 % and 99.8 %.

    Given the overall rate (events per unit of the population E was made from) and a multiplier, the limits
    are also given on the rate scale: O/E limit × overall rate × multiplier.
    """
    if not 0.0 < trim_by < 0.5:
        raise ValueError(f"trim_by must be in (0, 0.5), not {trim_by}")
    o = np.asarray(observed, dtype=float)
    e = np.asarray(expected, dtype=float)
    flags = _flags(o, e)
    usable = np.array([f == "" for f in flags], dtype=bool)
    ratio, z = np.full(o.shape, np.nan), np.full(o.shape, np.nan)
    with np.errstate(divide="ignore"):
        ratio[usable] = o[usable] / e[usable]
        z[usable] = np.sqrt(e[usable]) * np.log(ratio[usable])
    kept = np.zeros(o.shape, dtype=bool)
    kept[usable] = shmi_kept(z[usable], trim_by)
    zeros_kept = kept & (o == 0)
    kept &= ~zeros_kept
    phi, tau2 = dispersion(z[kept], e[kept])
    adjusted = not poisson_unless_overdispersed or (math.isfinite(phi) and phi > 1.0)
    limits = {level: ratio_limits(np.where(usable, e, np.nan), tau2, level, adjusted) for level in rates.LEVELS}
    scale = overall_rate * multiplier
    rate_limits = {lvl: (lo * scale, hi * scale) for lvl, (lo, hi) in limits.items()} if math.isfinite(scale) else {}
    return OverdispersedFunnel(
        observed=o,
        expected=e,
        ratio=ratio,
        z=z,
        usable=usable,
        kept=kept,
        phi=phi,
        tau2=tau2,
        n_used=int(kept.sum()),
        zeros_left_out=int(zeros_kept.sum()),
        adjusted=adjusted,
        limits=limits,
        comparison=_labels(ratio, usable, limits),
        flags=flags,
        overall_rate=overall_rate,
        multiplier=multiplier,
        rate_limits=rate_limits,
    )


def rate_funnel(
    count: npt.ArrayLike, population: npt.ArrayLike, multiplier: float = 1000.0, trim_by: float = TRIM_BY
) -> OverdispersedFunnel:
    """Return the overdispersed funnel of area rates: E = population × (Σ counts / Σ population).

    The overall rate is over the areas with a usable population (rates.population_flags); areas without
    one get that flag and no limits.
    """
    c = np.asarray(count, dtype=float)
    p = rates.as_population(list(population))
    population_flags = rates.population_flags(p)
    ok = np.array([f == "" for f in population_flags]) & np.isfinite(c)
    theta = c[ok].sum() / p[ok].sum() if ok.any() and p[ok].sum() > 0 else math.nan
    expected = np.where(ok, p * theta, np.nan)
    funnel = overdispersed_funnel(c, expected, trim_by, overall_rate=theta, multiplier=multiplier)
    flags = [pf or f for pf, f in zip(population_flags, funnel.flags)]
    return replace(funnel, flags=flags)
