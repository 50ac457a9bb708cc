"""Crime trends per area: coverage, rolling 12 months against the previous 12, and SPC signals (crimetrends).

The algorithm crimemapping:crimetrends counts crimes per area and month (core.ward_counts' monthly
counts) and hands them to crime_trends() here, which returns one Trends (docs/methods.md, "Crime trends
and signals"):
- Coverage first: the calendar months of the period (core.months.analysis_period); a month with no record
  at all in the input is missing (NaN in every area's series), never zero; a month of the source is partial
  when all areas together fall below 20 % of the median of the 12 months before it (core.trend_stats'
  rule), and a month of one area when its own series does; the known police.uk series breaks inside the
  period are listed.
- Per area, its parent (the areas sharing a parent code) and all areas together ("London"): the rolling
  12 months against the previous 12 (core.trend_stats.rolling_comparison, E-test p-value), with the
  window's coverage flags.
- Per area and for all areas together: an XmR chart of the monthly counts, or of the rates when a
  population is given, or Laney's u′ chart of the rates (core.spc); the signal of the latest month is
  "special cause: concern", "special cause: improvement", "common cause" or "not enough data" (fewer than
  MIN_POINTS months with data, or no data in the latest month).
Partial months are left out of every statistic by default, as missing months are, and flagged: a month
cut short would otherwise pull the mean and the limits down and turn every later month into a "concern"
(the MPS ward table's first column is such a month). partial_as_missing=False keeps them in, flagged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from crime_mapping_plugin.core import spc, trend_stats
from crime_mapping_plugin.core.months import AnalysisPeriod, month_text, ranges_text

CHART_COUNTS = "counts"
CHART_RATES = "rates"
CHART_LANEY = "laney"
CHARTS = (CHART_COUNTS, CHART_RATES, CHART_LANEY)

MIN_POINTS = 12
ALL_AREAS = "all areas"

SIGNAL_CONCERN = "special cause: concern"
SIGNAL_IMPROVEMENT = "special cause: improvement"
SIGNAL_COMMON = "common cause"
SIGNAL_NOT_ENOUGH = "not enough data"
SIGNALS = (SIGNAL_CONCERN, SIGNAL_IMPROVEMENT, SIGNAL_COMMON, SIGNAL_NOT_ENOUGH)

MONTH_MISSING = "missing (no record in the source)"
MONTH_PARTIAL_SOURCE = "partial month of the source"
MONTH_PARTIAL_AREA = "partial month of the area"
AREA_NO_DATA = "no data for this area in the source (no geometry, or no row in the count table)"
WINDOW_SOURCE_PARTIAL = "a window has a partial month of the source"


class TrendsInputError(ValueError):
    """A trends request that cannot be computed; the message says why and what to change."""


@dataclass(frozen=True)
class TrendsRequest:
    """How to compute the trends: the chart, its baseline, screening, the rate unit and partial months."""

    chart: str = CHART_COUNTS
    baseline: int | None = None
    screen: bool = True
    multiplier: float = 1000.0
    partial_as_missing: bool = True

    def __post_init__(self) -> None:
        if self.chart not in CHARTS:
            raise TrendsInputError(f"Unknown chart '{self.chart}': choose one of {', '.join(CHARTS)}.")
        if self.baseline is not None and self.baseline < 2:
            raise TrendsInputError(f"A baseline needs at least 2 months, not {self.baseline} (0: all months).")


@dataclass(frozen=True)
class Coverage:
    """The months of the period and what is known about each: missing, partial, a series break."""

    period: AnalysisPeriod
    partial: tuple[int, ...]
    breaks: tuple[int, ...]

    @property
    def missing(self) -> tuple[int, ...]:
        """The months of the period without any record (missing data, never zero)."""
        return self.period.missing

    def describe(self) -> str:
        """Return the coverage in words: period, missing, partial months and series breaks."""
        parts = [self.period.describe()]
        if self.partial:
            parts.append(
                f"partial months (all areas together below {trend_stats.PARTIAL_SHARE:.0%} of the median of the "
                f"12 months before): {ranges_text(self.partial)}"
            )
        for b in self.breaks:
            parts.append(f"series break: {trend_stats.SERIES_BREAKS[b]}")
        return "; ".join(parts)


@dataclass
class Series:
    """One area's (or a group's) monthly series with its chart, rolling comparison and latest signal."""

    code: str
    name: str | None
    parent: str | None
    counts: np.ndarray
    population: float | None
    values: np.ndarray
    centre: np.ndarray
    upper: np.ndarray
    lower: np.ndarray
    near_upper: np.ndarray
    near_lower: np.ndarray
    rules: list[tuple[str, ...]]
    variation: list[str]
    month_notes: list[tuple[str, ...]]
    rolling: trend_stats.RollingComparison
    signal: str
    signal_note: str = ""
    left_out: np.ndarray = field(default_factory=lambda: np.zeros(0))
    chart: spc.XmRChart | None = None
    laney: spc.LaneyChart | None = None

    @property
    def months_with_data(self) -> int:
        """The months of the series with a value used by the chart."""
        return int(np.isfinite(self.values).sum())


@dataclass
class Trends:
    """The result of crime_trends(): coverage, one Series per area (area order), per parent and for all."""

    request: TrendsRequest
    coverage: Coverage
    months: np.ndarray
    areas: list[Series]
    parents: dict[str, Series] = field(default_factory=dict)
    overall: Series | None = None

    def month_labels(self) -> list[str]:
        """Return the months as YYYY-MM."""
        return [month_text(int(m)) for m in self.months]

    def signal_counts(self) -> dict[str, int]:
        """Return how many areas have each latest-month signal."""
        return {s: sum(a.signal == s for a in self.areas) for s in SIGNALS}


def series_breaks(period: AnalysisPeriod) -> tuple[int, ...]:
    """Return the known police.uk series breaks that fall inside the period (not at its first month)."""
    return tuple(b for b in sorted(trend_stats.SERIES_BREAKS) if period.first < b <= period.last)


def monthly_series(by_month: np.ndarray, period: AnalysisPeriod, no_data: Sequence[int] = ()) -> np.ndarray:
    """Return the counts as floats with NaN in the period's months without any record and in no_data areas."""
    series = np.asarray(by_month, dtype=float).copy()
    missing = [m - period.first for m in period.missing]
    series[:, missing] = np.nan
    series[list(no_data), :] = np.nan
    return series


def _notes(counts: np.ndarray, source_partial: np.ndarray, own_partial: np.ndarray) -> list[tuple[str, ...]]:
    out = []
    for t in range(len(counts)):
        notes: tuple[str, ...] = ()
        if not math.isfinite(counts[t]):
            notes += (MONTH_MISSING,)
        if source_partial[t]:
            notes += (MONTH_PARTIAL_SOURCE,)
        elif own_partial[t]:
            notes += (MONTH_PARTIAL_AREA,)
        out.append(notes)
    return out


def _window_has(marks: np.ndarray, span: int) -> np.ndarray:
    padded = np.concatenate([[0], np.cumsum(marks.astype(int))])
    t = np.arange(len(marks))
    return (padded[t + 1] - padded[np.maximum(0, t + 1 - span)]) > 0


def _rolling(
    counts: np.ndarray, first: int, population: float | None, source_partial: np.ndarray, request: TrendsRequest
) -> trend_stats.RollingComparison:
    y = np.where(source_partial, np.nan, counts) if request.partial_as_missing else counts
    result = trend_stats.rolling_comparison(y, first, population, request.partial_as_missing)
    extra = _window_has(source_partial, 2 * trend_stats.WINDOW) & np.isfinite(result.current)
    for t in np.flatnonzero(extra):
        if WINDOW_SOURCE_PARTIAL not in result.flags[t]:
            result.flags[t] = (*result.flags[t], WINDOW_SOURCE_PARTIAL)
    return result


def _chart_values(counts: np.ndarray, population: float | None, request: TrendsRequest) -> np.ndarray:
    if request.chart == CHART_COUNTS:
        return counts
    return counts / population * request.multiplier


def _latest(values: np.ndarray, variation: list[str], enough: bool) -> tuple[str, str]:
    if not enough:
        return SIGNAL_NOT_ENOUGH, f"fewer than {MIN_POINTS} months with data"
    if not math.isfinite(values[-1]):
        return SIGNAL_NOT_ENOUGH, "no data in the latest month (missing or partial)"
    label = variation[-1]
    if label == spc.CONCERN:
        return SIGNAL_CONCERN, ""
    if label == spc.IMPROVEMENT:
        return SIGNAL_IMPROVEMENT, ""
    return SIGNAL_COMMON, ""


def _laney(counts: np.ndarray, population: float, request: TrendsRequest) -> tuple[spc.LaneyChart, list, list]:
    exposure = np.full(len(counts), float(population))
    chart = spc.laney_u_prime(counts, exposure, request.multiplier)
    side = spc.side_of_mean(chart.rate, chart.centre)
    shift, trend = spc.shift_points(side), spc.trend_points(chart.rate)
    rules, variation = [], []
    for t in range(len(counts)):
        fired = tuple(
            name
            for name, hit in (
                (spc.RULE_OUTSIDE, chart.above[t] | chart.below[t]),
                (spc.RULE_TREND, trend[t]),
                (spc.RULE_SHIFT, shift[t]),
            )
            if hit
        )
        rules.append(fired)
        if not math.isfinite(chart.rate[t]):
            variation.append(spc.NO_DATA)
        elif not fired:
            variation.append(spc.COMMON_CAUSE)
        else:
            variation.append(spc.CONCERN if side[t] > 0 else spc.IMPROVEMENT if side[t] < 0 else spc.COMMON_CAUSE)
    return chart, rules, variation


def one_series(
    code: str,
    name: str | None,
    parent: str | None,
    counts: np.ndarray,
    first: int,
    population: float | None,
    source_partial: np.ndarray,
    request: TrendsRequest,
) -> Series:
    """Return the chart, rolling comparison and latest signal of one monthly series (NaN: missing month)."""
    counts = np.asarray(counts, dtype=float)
    # An area's own partial months are judged against its months with data, the source's partial ones left out.
    own_partial = trend_stats.partial_months(np.where(source_partial, np.nan, counts)) & ~source_partial
    used = counts.copy()
    if request.partial_as_missing:
        used[source_partial | own_partial] = np.nan
    rolling = _rolling(counts, first, population, source_partial, request)
    has_pop = population is not None and math.isfinite(population) and population > 0
    n = len(counts)
    nan = np.full(n, np.nan)
    values = nan.copy() if request.chart != CHART_COUNTS and not has_pop else _chart_values(used, population, request)
    base = np.isfinite(values[: request.baseline] if request.baseline else values)
    enough = int(np.isfinite(values).sum()) >= MIN_POINTS and int(base.sum()) >= 2
    chart = laney = None
    centre = upper = lower = near_u = near_l = nan
    rules: list[tuple[str, ...]] = [()] * n
    variation = [spc.NO_DATA] * n
    if enough and request.chart == CHART_LANEY:
        laney, rules, variation = _laney(used, float(population), request)
        centre, upper, lower = np.full(n, laney.centre), laney.upper, laney.lower
    elif enough:
        chart = spc.xmr_chart(values, request.baseline, request.screen)
        lim = chart.limits
        centre, upper, lower = np.full(n, lim.mean), np.full(n, lim.upper), np.full(n, lim.lower)
        near_u, near_l = np.full(n, lim.near_upper), np.full(n, lim.near_lower)
        rules, variation = chart.rules, chart.variation
    signal, note = _latest(values, variation, enough)
    gaps = int((~np.isfinite(values)).sum())
    if enough and gaps:  # the chart's statistics say when months were left out of them
        note = "; ".join(x for x in (note, f"chart over {n - gaps} of {n} months (missing or partial left out)") if x)
    shown = (
        np.full(n, np.nan)
        if request.chart != CHART_COUNTS and not has_pop
        else _chart_values(counts, population, request)
    )
    left_out = np.where(np.isfinite(values), np.nan, shown)
    return Series(
        code=code,
        name=name,
        parent=parent,
        counts=counts,
        population=float(population) if has_pop else None,
        values=values,
        centre=centre,
        upper=upper,
        lower=lower,
        near_upper=near_u,
        near_lower=near_l,
        rules=list(rules),
        variation=list(variation),
        month_notes=_notes(counts, source_partial, own_partial),
        rolling=rolling,
        signal=signal,
        signal_note=note,
        left_out=left_out,
        chart=chart,
        laney=laney,
    )


def _population(values: Sequence[object] | None, n: int) -> list[float | None]:
    out: list[float | None] = []
    for v in values if values is not None else [None] * n:
        try:
            number = float(v)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            number = math.nan
        out.append(number if math.isfinite(number) and number > 0 else None)
    return out


def _group_sum(rows: np.ndarray) -> np.ndarray:
    """Sum monthly series of several areas: a month missing in the source stays missing."""
    if not len(rows):
        return np.zeros(rows.shape[1]) * np.nan
    ok = np.isfinite(rows)
    total = np.where(ok, rows, 0.0).sum(axis=0)
    return np.where(ok.any(axis=0), total, np.nan)


def _group_population(pops: list[float | None]) -> float | None:
    return float(sum(pops)) if pops and all(p is not None for p in pops) else None  # type: ignore[arg-type]


def crime_trends(
    request: TrendsRequest,
    codes: Sequence[str],
    names: Sequence[str | None],
    parents: Sequence[str | None],
    by_month: np.ndarray,
    period: AnalysisPeriod,
    population: Sequence[object] | None = None,
    no_data: Sequence[int] = (),
) -> Trends:
    """Return coverage, per-area, per-parent and all-areas trends of monthly counts (areas × period months).

    no_data lists the areas the source has no data for (no geometry for points, no row in a count table):
    their series are missing, never zeros, and they are not in their parent's or all areas' sums.
    """
    if request.chart != CHART_COUNTS and population is None:
        raise TrendsInputError("Charts of rates need a population field: give one, or chart the counts.")
    series = monthly_series(by_month, period, no_data)
    pops = _population(population, len(codes))
    total = _group_sum(series)
    source_partial = trend_stats.partial_months(total)
    coverage = Coverage(
        period,
        tuple(int(period.first + t) for t in np.flatnonzero(source_partial)),
        series_breaks(period),
    )
    first = period.first
    areas = [
        one_series(codes[i], names[i], parents[i], series[i], first, pops[i], source_partial, request)
        for i in range(len(codes))
    ]
    for i in no_data:
        areas[i].signal_note = AREA_NO_DATA
        areas[i].month_notes = [(*(x for x in n if x != MONTH_MISSING), AREA_NO_DATA) for n in areas[i].month_notes]
    groups: dict[str, list[int]] = {}
    for i, p in enumerate(parents):
        if p is not None and str(p).strip():
            groups.setdefault(str(p).strip(), []).append(i)
    parent_series = {
        p: one_series(
            p,
            "parent area",
            None,
            _group_sum(series[rows]),
            first,
            _group_population([pops[i] for i in rows]),
            source_partial,
            request,
        )
        for p, rows in sorted(groups.items())
    }
    overall = one_series(ALL_AREAS, ALL_AREAS, None, total, first, _group_population(pops), source_partial, request)
    return Trends(request, coverage, np.arange(period.first, period.last + 1), areas, parent_series, overall)


AREA_FIELDS = (
    ("area_code", "string"),
    ("area_name", "string"),
    ("parent_code", "string"),
    ("month", "string"),
    ("count", "integer"),
    ("value", "double"),
    ("mean", "double"),
    ("upper", "double"),
    ("lower", "double"),
    ("signal", "string"),
    ("rule", "string"),
    ("signal_note", "string"),
    ("months_data", "integer"),
    ("roll_current", "integer"),
    ("roll_previous", "integer"),
    ("roll_change_pct", "double"),
    ("roll_p", "double"),
    ("roll_change", "string"),
    ("roll_flags", "string"),
    ("parent_change_pct", "double"),
    ("parent_p", "double"),
    ("parent_change", "string"),
    ("all_change_pct", "double"),
    ("all_p", "double"),
    ("all_change", "string"),
)

TABLE_FIELDS = (
    ("area_code", "string"),
    ("area_name", "string"),
    ("parent_code", "string"),
    ("month", "string"),
    ("count", "integer"),
    ("coverage", "string"),
    ("rate", "double"),
    ("value", "double"),
    ("mean", "double"),
    ("upper", "double"),
    ("lower", "double"),
    ("near_upper", "double"),
    ("near_lower", "double"),
    ("variation", "string"),
    ("rule", "string"),
    ("roll_current", "integer"),
    ("roll_previous", "integer"),
    ("roll_change_pct", "double"),
    ("roll_p", "double"),
    ("roll_change", "string"),
    ("roll_flags", "string"),
)


def _num(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None


def _int(value: float) -> int | None:
    return int(value) if value is not None and math.isfinite(value) else None


def _rolling_at(rolling: trend_stats.RollingComparison | None, t: int, prefix: str) -> dict[str, object]:
    if rolling is None:
        return {f"{prefix}_change_pct": None, f"{prefix}_p": None, f"{prefix}_change": None}
    return {
        f"{prefix}_change_pct": _num(rolling.percent_change[t]),
        f"{prefix}_p": _num(rolling.p_value[t]),
        f"{prefix}_change": rolling.label[t],
    }


def area_rows(trends: Trends) -> list[dict[str, object]]:
    """Return one row per area (AREA_FIELDS): the latest month's signal and the rolling changes."""
    t = len(trends.months) - 1
    month = month_text(int(trends.months[t]))
    rows = []
    for s in trends.areas:
        parent = trends.parents.get(s.parent or "")
        row: dict[str, object] = {
            "area_code": s.code,
            "area_name": s.name,
            "parent_code": s.parent,
            "month": month,
            "count": _int(s.counts[t]),
            "value": _num(s.values[t]),
            "mean": _num(s.centre[t]),
            "upper": _num(s.upper[t]),
            "lower": _num(s.lower[t]),
            "signal": s.signal,
            "rule": "; ".join(s.rules[t]) or None,
            "signal_note": s.signal_note or None,
            "months_data": s.months_with_data,
            "roll_current": _int(s.rolling.current[t]),
            "roll_previous": _int(s.rolling.previous[t]),
            "roll_flags": "; ".join(s.rolling.flags[t]) or None,
        }
        row.update(_rolling_at(s.rolling, t, "roll"))
        row.update(_rolling_at(parent.rolling if parent else None, t, "parent"))
        row.update(_rolling_at(trends.overall.rolling if trends.overall else None, t, "all"))
        rows.append(row)
    return rows


def table_rows(trends: Trends, multiplier: float) -> list[dict[str, object]]:
    """Return one row per area (then parent, then all areas) and month (TABLE_FIELDS)."""
    labels = trends.month_labels()
    every = [*trends.areas, *trends.parents.values(), *([trends.overall] if trends.overall else [])]
    rows = []
    for s in every:
        for t, month in enumerate(labels):
            rate = s.counts[t] / s.population * multiplier if s.population else math.nan
            rows.append(
                {
                    "area_code": s.code,
                    "area_name": s.name,
                    "parent_code": s.parent,
                    "month": month,
                    "count": _int(s.counts[t]),
                    "coverage": "; ".join(s.month_notes[t]) or None,
                    "rate": _num(rate),
                    "value": _num(s.values[t]),
                    "mean": _num(s.centre[t]),
                    "upper": _num(s.upper[t]),
                    "lower": _num(s.lower[t]),
                    "near_upper": _num(s.near_upper[t]),
                    "near_lower": _num(s.near_lower[t]),
                    "variation": s.variation[t] if math.isfinite(s.centre[t]) else None,
                    "rule": "; ".join(s.rules[t]) or None,
                    "roll_current": _int(s.rolling.current[t]),
                    "roll_previous": _int(s.rolling.previous[t]),
                    "roll_change_pct": _num(s.rolling.percent_change[t]),
                    "roll_p": _num(s.rolling.p_value[t]),
                    "roll_change": s.rolling.label[t],
                    "roll_flags": "; ".join(s.rolling.flags[t]) or None,
                }
            )
    return rows
