"""Rolling twelve months against the twelve before, for a monthly count series with missing months.

docs/methods.md ("Definitions shared by every algorithm", "Comparing two Poisson counts"): a month with no
record at all is missing (NaN here), never a zero; figures per month divide by the months with data. For
each month t of a series of consecutive calendar months:
- current window t−11..t, previous window t−23..t−12 (defined from the 24th month of the series on);
- each window's sum over its months with data, and how many months have data;
- the rate ratio (current/exposure)/(previous/exposure) and its percentage change, and the two-sided
  Poisson E-test p-value (core/etest.py) with exposure = Σ population over the window's months with data,
  or the number of months with data without a population (a constant population cancels in the p-value,
  so it matters only when it changes from month to month);
- flags when a window holds a missing month, a partial month, or when the 24 months straddle a known
  police.uk series break.

A month is "partial" when it has data but fewer than 20 % of the median of the months with data among the
12 calendar months before it (judged when at least 6 of those have data; at the start of a series, where
fewer have, the 12 months after it are the reference instead): a month whose file was cut short, which
would otherwise pass for a fall in crime. Only where that median is 10 or more: with a Poisson count of
mean 10 a month below 2 has probability 5e-4, while in a ward with 2 crimes a month a month of none is
ordinary (probability 0.14) and not a cut file. Partial months are counted as data and flagged;
`partial_as_missing=True` drops them instead.

Known police.uk series breaks (docs/definitions.md, "Harmonised crime groups"): 2011-05 (five categories
split out of "Other crime") and 2013-05 ("Violent crime" renamed, "Public disorder and weapons" and
"Other theft" split).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from crime_mapping_plugin.core import etest, rates
from crime_mapping_plugin.core.months import month_number, month_text

WINDOW = 12
PARTIAL_SHARE = 0.2
PARTIAL_MIN_HISTORY = 6
PARTIAL_MIN_MEDIAN = 10.0

SERIES_BREAKS: dict[int, str] = {
    month_number("2011-05"): "police.uk categories split out of 'Other crime' (2011-05)",
    month_number(
        "2013-05"
    ): "police.uk 'Violent crime', 'Public disorder and weapons', 'Other theft' changed (2013-05)",
}

FLAG_SHORT = "fewer than 24 months in the series"
FLAG_MISSING = "a window has a missing month"
FLAG_PARTIAL = "a window has a partial month"
FLAG_BREAK = "spans a police.uk series break"
FLAG_NO_DATA = "a window has no month with data"


@dataclass(frozen=True)
class RollingComparison:
    """Per month: the last 12 months against the 12 before, with the months behind each figure."""

    months: np.ndarray
    counts: np.ndarray
    partial: np.ndarray
    current: np.ndarray
    previous: np.ndarray
    current_months: np.ndarray
    previous_months: np.ndarray
    current_exposure: np.ndarray
    previous_exposure: np.ndarray
    change: np.ndarray
    rate_ratio: np.ndarray
    percent_change: np.ndarray
    p_value: np.ndarray
    label: list[str | None]
    missing_in_window: np.ndarray
    partial_in_window: np.ndarray
    break_in_span: np.ndarray
    flags: list[tuple[str, ...]]

    def month_labels(self) -> list[str]:
        """Return the months as YYYY-MM text."""
        return [month_text(int(m)) for m in self.months]


def partial_months(counts: npt.ArrayLike, share: float = PARTIAL_SHARE, history: int = WINDOW) -> np.ndarray:
    """Return the months with data below `share` of the median of the months with data around them.

    The reference is the `history` calendar months before the month; where fewer than PARTIAL_MIN_HISTORY
    of those have data (the start of a series), the `history` months after it, so that a first month cut
    short (as the MPS ward table's first column) is caught too. Series whose median is below
    PARTIAL_MIN_MEDIAN are not judged: there a month of a fifth of the median is ordinary Poisson variation.
    """
    y = np.asarray(counts, dtype=float)
    out = np.zeros(y.shape, dtype=bool)
    for t in np.flatnonzero(np.isfinite(y)):
        reference = _with_data(y[max(0, t - history) : t])
        if len(reference) < PARTIAL_MIN_HISTORY:
            reference = _with_data(y[t + 1 : t + 1 + history])
        if len(reference) >= PARTIAL_MIN_HISTORY:
            median = float(np.median(reference))
            out[t] = median >= PARTIAL_MIN_MEDIAN and y[t] < share * median
    return out


def _with_data(values: np.ndarray) -> np.ndarray:
    return values[np.isfinite(values)]


def _window_sums(values: np.ndarray, window: int, lag: int) -> np.ndarray:
    """Return per t the sum of values[t − lag − window + 1 .. t − lag] (NaN where it starts before 0)."""
    padded = np.concatenate([[0.0], np.cumsum(values)])
    out = np.full(len(values), np.nan)
    ends = np.arange(len(values)) - lag
    ok = ends - window + 1 >= 0
    out[ok] = padded[ends[ok] + 1] - padded[ends[ok] + 1 - window]
    return out


def _break_in_span(months: np.ndarray, span: int) -> np.ndarray:
    """Return per month whether the `span` months ending there hold both sides of a series break."""
    out = np.zeros(len(months), dtype=bool)
    for b in SERIES_BREAKS:
        out |= (months - span + 1 < b) & (months >= b)
    return out


def _flags(row: dict[str, bool]) -> tuple[str, ...]:
    names = ((FLAG_SHORT, "short"), (FLAG_NO_DATA, "empty"), (FLAG_MISSING, "missing"), (FLAG_PARTIAL, "partial"))
    found = tuple(text for text, key in names if row[key])
    return found + ((FLAG_BREAK,) if row["break"] else ())


def rolling_comparison(
    counts: npt.ArrayLike,
    first_month: int,
    population: npt.ArrayLike | None = None,
    partial_as_missing: bool = False,
) -> RollingComparison:
    """Return the last-12-against-previous-12 comparison for a series of consecutive months from first_month.

    counts: one value per calendar month, NaN for a month with no data. population: None, one number, or
    one number per month (the residents the month's crimes are counted over).
    """
    y = np.asarray(counts, dtype=float)
    months = first_month + np.arange(len(y))
    partial = partial_months(y)
    data = np.isfinite(y) & ~(partial & partial_as_missing)
    values = np.where(data, y, 0.0)
    pop = np.ones(len(y)) if population is None else np.broadcast_to(np.asarray(population, dtype=float), y.shape)
    weight = np.where(data, pop, 0.0)
    cur, prev = _window_sums(values, WINDOW, 0), _window_sums(values, WINDOW, WINDOW)
    cur_n, prev_n = _window_sums(data * 1.0, WINDOW, 0), _window_sums(data * 1.0, WINDOW, WINDOW)
    cur_e, prev_e = _window_sums(weight, WINDOW, 0), _window_sums(weight, WINDOW, WINDOW)
    missing = _window_sums((~np.isfinite(y) | (partial & partial_as_missing)) * 1.0, 2 * WINDOW, 0) > 0
    partial_in = _window_sums(partial * 1.0, 2 * WINDOW, 0) > 0
    full = np.arange(len(y)) >= 2 * WINDOW - 1
    testable = full & (cur_e > 0) & (prev_e > 0)
    p = np.full(len(y), np.nan)
    p[testable] = etest.e_test(cur[testable], prev[testable], cur_e[testable], prev_e[testable])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(testable, (cur / cur_e) / (prev / prev_e), np.nan)
    breaks = _break_in_span(months, 2 * WINDOW) & full
    labels: list[str | None] = [
        rates.change_label(float(p[t]), float(prev[t] / prev_e[t]), float(cur[t] / cur_e[t])) if testable[t] else None
        for t in range(len(y))
    ]
    flags = [
        _flags(
            {
                "short": not full[t],
                "empty": bool(full[t] and not testable[t]),
                "missing": bool(full[t] and missing[t]),
                "partial": bool(full[t] and partial_in[t]),
                "break": bool(breaks[t]),
            }
        )
        for t in range(len(y))
    ]
    return RollingComparison(
        months=months,
        counts=y,
        partial=partial,
        current=np.where(full, cur, np.nan),
        previous=np.where(full, prev, np.nan),
        current_months=np.where(full, cur_n, 0).astype(int),
        previous_months=np.where(full, prev_n, 0).astype(int),
        current_exposure=np.where(full, cur_e, np.nan),
        previous_exposure=np.where(full, prev_e, np.nan),
        change=np.where(full, cur - prev, np.nan),
        rate_ratio=ratio,
        percent_change=(ratio - 1.0) * 100.0,
        p_value=p,
        label=labels,
        missing_in_window=missing & full,
        partial_in_window=partial_in & full,
        break_in_span=breaks,
        flags=flags,
    )


def describe_month(result: RollingComparison, index: int) -> str:
    """Return a one-line account of one month's comparison (for logs and metadata)."""
    if math.isnan(result.current[index]):
        return f"{month_text(int(result.months[index]))}: {FLAG_SHORT}"
    return (
        f"{month_text(int(result.months[index]))}: {int(result.current[index])} crimes in "
        f"{result.current_months[index]} months with data against {int(result.previous[index])} in "
        f"{result.previous_months[index]} months with data; p = {result.p_value[index]:.4g}"
        + ("".join(f"; {f}" for f in result.flags[index]))
    )
