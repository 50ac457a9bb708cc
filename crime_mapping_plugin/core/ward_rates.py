"""Ward crime rates: from ward counts and populations to rates, limits, comparisons and the change test.

The algorithm crimemapping:wardrates reads its inputs, counts them (core.ward_counts) and hands both to
ward_rates() here, which returns one WardRates: the rows to write (by field name), the period with its
months with records and its missing months (core.months' rule, docs/methods.md), and what the log and
the metadata say. Rates are crimes per `multiplier` residents over the period; "per month" figures (the
change test, change_pct) divide by the months WITH RECORDS of each period, never by calendar months.
The comparison with all wards is core.funnel's (written limits, flag and drawn funnel by one rule); the
change between periods is the Poisson E-test (core.etest) with exposure = population × months with records.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np
from qgis.core import QgsGeometry

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core import etest, funnel, rates
from crime_mapping_plugin.core.months import (
    AnalysisPeriod,
    MonthError,
    MonthRange,
    analysis_period,
    month_parameter,
    month_text,
    ranges_text,
)
from crime_mapping_plugin.core.ward_counts import WardCounts

NO_PERIOD = "all records (no month)"
# Under half the residents of any London borough ward (the fewest, Alexandra, has 4,504 in 2021); every City
# of London ward with residents has fewer (1,101 to 2,997).
FEW_RESIDENTS = 4000.0
FEW_RESIDENTS_NOTE = "few residents: rate misleading"

OUTPUT_FIELDS = (
    ("ward_code", "string"),
    ("ward_name", "string"),
    ("crimes", "integer"),
    ("population", "double"),
    ("months", "integer"),
    ("period", "string"),
    ("rate", "double"),
    ("rate_lcl95", "double"),
    ("rate_ucl95", "double"),
    ("rate_lcl998", "double"),
    ("rate_ucl998", "double"),
    ("vs_all", "string"),
    ("rate_all", "double"),
    ("expected", "double"),
    ("funnel_lcl95", "double"),
    ("funnel_ucl95", "double"),
    ("funnel_lcl998", "double"),
    ("funnel_ucl998", "double"),
    ("residents_note", "string"),
    ("eb_rate", "double"),
    ("rank", "integer"),
    ("flag", "string"),
)
PARENT_FIELDS = (
    ("borough", "string"),
    ("rate_borough", "double"),
    ("vs_borough", "string"),
    ("borough_lcl95", "double"),
    ("borough_ucl95", "double"),
    ("borough_lcl998", "double"),
    ("borough_ucl998", "double"),
)
PARENT_TABLE_FIELDS = (
    ("borough", "string"),
    ("wards", "integer"),
    ("crimes", "integer"),
    ("population", "double"),
    ("rate", "double"),
    ("rate_lcl95", "double"),
    ("rate_ucl95", "double"),
    ("rate_lcl998", "double"),
    ("rate_ucl998", "double"),
    ("rate_all", "double"),
)
ALL_WARDS = "all wards"
CHANGE_FIELDS = (
    ("prev_crimes", "integer"),
    ("prev_months", "integer"),
    ("prev_period", "string"),
    ("prev_rate", "double"),
    ("change_pct", "double"),
    ("change_p", "double"),
    ("change_sig", "string"),
)


class NoRecordsError(ValueError):
    """The main period has no record at all in the input: its rates would be missing data taken for zero."""


def periods(
    start: str | None, end: str | None, prev_start: str | None, prev_end: str | None
) -> tuple[MonthRange, MonthRange | None]:
    """Return the main month range and the comparison range (None) from YYYY-MM parameters; MonthError why not.

    A comparison period needs both its ends and both ends of the main period, and may share no month with
    the main period: the change test takes the two counts as independent, which crimes in both are not.
    """
    current = MonthRange(month_parameter(start, "first month"), month_parameter(end, "last month"))
    first = month_parameter(prev_start, "comparison period's first month")
    last = month_parameter(prev_end, "comparison period's last month")
    if (first is None) != (last is None):
        raise MonthError("Comparison period: give both its first and its last month (YYYY-MM), or neither.")
    if first is None:
        return current, None
    if current.start is None or current.end is None:
        raise MonthError("A comparison period needs the first and last month of the main period too.")
    previous = MonthRange(first, last)
    if previous.overlaps(current):
        raise MonthError(
            f"The comparison period {month_text(first)} to {month_text(last)} shares months with the main period "
            f"{month_text(current.start)} to {month_text(current.end)}: the change test needs two periods with no "
            "month in common. Choose periods that do not overlap."
        )
    return current, previous


@dataclass(frozen=True)
class WardRatesRequest:
    """What to compute: the month ranges, the rate's unit, whether to smooth and the funnel's method."""

    months: MonthRange
    previous: MonthRange | None = None
    multiplier: float = 1000.0
    smooth: bool = True
    method: str = funnel.OVERDISPERSED
    few_residents: float = FEW_RESIDENTS


@dataclass
class WardRates:
    """The result of ward_rates(): rates per ward (area order), the periods and the change, if asked for."""

    request: WardRatesRequest
    codes: list[str]
    names: list[str | None]
    counts: WardCounts
    table: rates.RateTable
    funnel: funnel.Funnel
    period: AnalysisPeriod | None
    previous_period: AnalysisPeriod | None = None
    change: ChangeTable | None = None
    parents: list[str | None] | None = None
    boroughs: ParentRates | None = None
    everyone: ParentRates | None = None
    vs_parent: funnel.Funnel | None = None

    @property
    def months(self) -> int | None:
        """The months with records of the main period (None without months)."""
        return None if self.period is None else self.period.months_with_records

    @property
    def period_label(self) -> str:
        """The main period, '2024-10 to 2024-12'."""
        return NO_PERIOD if self.period is None else self.period.label()

    @property
    def without_rate(self) -> int:
        """The number of wards without a rate."""
        return int(np.sum(~np.isfinite(self.table.rate)))

    @property
    def few_residents(self) -> np.ndarray:
        """Which wards have a rate from fewer than request.few_residents residents (kept, and said so)."""
        return self.table.usable & (np.nan_to_num(self.table.population, nan=np.inf) < self.request.few_residents)

    def field_spec(self) -> list[tuple[str, str]]:
        """Return the (name, kind) pairs of the output fields."""
        return (
            list(OUTPUT_FIELDS)
            + (list(PARENT_FIELDS) if self.vs_parent is not None else [])
            + (list(CHANGE_FIELDS) if self.change is not None else [])
        )

    def parent_rows(self) -> list[dict[str, object]]:
        """Return one dict per borough and a last one for all wards together (empty without boroughs)."""
        if self.boroughs is None or self.everyone is None:
            return []
        out = []
        for table in (self.boroughs, self.everyone):
            for i, code in enumerate(table.codes):
                out.append(
                    {
                        "borough": code,
                        "wards": int(table.wards[i]),
                        "crimes": int(table.crimes[i]),
                        "population": _num(table.population[i]),
                        "rate": _num(table.rate[i]),
                        "rate_lcl95": _num(table.limits[0.95][0][i]),
                        "rate_ucl95": _num(table.limits[0.95][1][i]),
                        "rate_lcl998": _num(table.limits[0.998][0][i]),
                        "rate_ucl998": _num(table.limits[0.998][1][i]),
                        "rate_all": _num(self.table.overall_rate),
                    }
                )
        return out

    def missing_months(self) -> list[tuple[str, AnalysisPeriod]]:
        """Return (which period, period) for the periods with months without any record."""
        named = [("main period", self.period), ("comparison period", self.previous_period)]
        return [(name, p) for name, p in named if p is not None and p.missing]

    def missing_text(self) -> str:
        """Return the missing months of each period in words ('' when none)."""
        return " ".join(
            f"The {name} {p.label()} has {len(p.missing)} month(s) without any record (missing data, not zero; "
            f"not in the number of months): {ranges_text(p.missing)}."
            for name, p in self.missing_months()
        )

    def rows(self) -> list[dict[str, object]]:
        """Return one dict per ward, field name to value (None for NULL)."""
        t, f = self.table, self.funnel
        out = []
        for i, code in enumerate(self.codes):
            countable = i not in self.counts.uncountable
            row: dict[str, object] = {
                "ward_code": code,
                "ward_name": self.names[i],
                "crimes": int(t.count[i]) if countable else None,
                "population": _num(t.population[i]),
                "months": self.months,
                "period": self.period_label,
                "rate": _num(t.rate[i]),
                "rate_lcl95": _num(t.limits[0.95][0][i]),
                "rate_ucl95": _num(t.limits[0.95][1][i]),
                "rate_lcl998": _num(t.limits[0.998][0][i]),
                "rate_ucl998": _num(t.limits[0.998][1][i]),
                "vs_all": f.comparison[i],
                "rate_all": _num(t.overall_rate),
                "expected": _num(f.expected[i]),
                "funnel_lcl95": _num(f.limits[0.95][0][i]),
                "funnel_ucl95": _num(f.limits[0.95][1][i]),
                "funnel_lcl998": _num(f.limits[0.998][0][i]),
                "funnel_ucl998": _num(f.limits[0.998][1][i]),
                "residents_note": FEW_RESIDENTS_NOTE if self.few_residents[i] else None,
                "eb_rate": _num(t.eb_rate[i]),
                "rank": None if not np.isfinite(t.rank[i]) else int(t.rank[i]),
                "flag": t.flags[i] or None,
            }
            if self.vs_parent is not None and self.boroughs is not None and self.parents is not None:
                v = self.vs_parent
                row.update(
                    {
                        "borough": self.parents[i],
                        "rate_borough": _num(self.boroughs.rate_of(self.parents[i])),
                        "vs_borough": v.comparison[i],
                        "borough_lcl95": _num(v.limits[0.95][0][i]),
                        "borough_ucl95": _num(v.limits[0.95][1][i]),
                        "borough_lcl998": _num(v.limits[0.998][0][i]),
                        "borough_ucl998": _num(v.limits[0.998][1][i]),
                    }
                )
            if self.change is not None:
                c = self.change
                row.update(
                    {
                        "prev_crimes": int(c.before[i]) if countable else None,
                        "prev_months": self.previous_period.months_with_records if self.previous_period else None,
                        "prev_period": self.previous_period.label() if self.previous_period else None,
                        "prev_rate": _num(c.rate_before[i]),
                        "change_pct": c.change_pct[i],
                        "change_p": c.p_value[i],
                        "change_sig": c.label[i],
                    }
                )
            out.append(row)
        return out


def ward_rates(
    request: WardRatesRequest,
    codes: Sequence[str],
    names: Sequence[str | None],
    counts: WardCounts,
    population: Sequence[object],
    parents: Sequence[str | None] | None = None,
) -> WardRates:
    """Compute rates, limits, comparisons, EB rates, ranks and (with a comparison period) the change test.

    population holds each ward's value as read (None, a number, text); wards whose crimes cannot be counted
    (counts.uncountable) get no rate, no rank and a flag saying why. NoRecordsError when the main period has
    no record at all; a comparison period without any record gets counts but no change test.
    """
    table = rates.rate_table(counts.current, population, request.multiplier, request.smooth, counts.uncountable)
    comparison = funnel.compare_with_all(table, request.method)
    period = analysis_period(counts.record_months, request.months)
    if period is not None and period.months_with_records == 0:
        raise NoRecordsError(
            f"The period {period.label()} has no record at all in the input (every month of it is missing data): "
            "choose months the input covers."
        )
    result = WardRates(request, list(codes), list(names), counts, table, comparison, period)
    if parents is not None:
        result.parents = [None if p is None or not str(p).strip() else str(p) for p in parents]
        result.boroughs = parent_rates(table, result.parents)
        result.everyone = parent_rates(table, [ALL_WARDS] * len(codes))
        reference = np.array([result.boroughs.rate_of(p) for p in result.parents])
        result.vs_parent = funnel.compare_with_rates(table, reference)
    if request.previous is not None and counts.previous is not None:
        previous = analysis_period(counts.record_months, request.previous)
        result.previous_period = previous
        result.change = change_table(
            counts.previous,
            counts.current,
            table.population,
            previous.months_with_records if previous else 0,
            result.months or 0,
            request.multiplier,
            usable=np.array([i not in counts.uncountable for i in range(len(codes))], dtype=bool),
        )
    return result


def parents_by_location(
    wards: Sequence[QgsGeometry],
    boroughs: area_rule.Areas,
    labels: Sequence[str],
    is_cancelled: Callable[[], bool] | None = None,
) -> list[str | None]:
    """Return each ward's borough label: the borough holding the ward's point on surface (None: in none).

    The point on surface always lies inside the ward (a centroid may not), and is placed in a borough by
    the area rule (core.areas.assign: boundary inside, the lowest borough code wins), as a crime is placed
    in a ward. Wards nest in boroughs, so any interior point names the ward's borough; one point per ward
    (not the largest overlap) keeps to that one rule. Both layers in one CRS; a ward without a geometry
    gets None.
    """
    x = np.full(len(wards), np.nan)
    y = np.full(len(wards), np.nan)
    for i, g in enumerate(wards):
        if g is not None and not g.isNull() and not g.isEmpty():
            p = g.pointOnSurface()
            if not p.isNull() and not p.isEmpty():
                x[i], y[i] = p.asPoint().x(), p.asPoint().y()
    found = np.isfinite(x) & np.isfinite(y)
    out: list[str | None] = [None] * len(wards)
    if found.any():
        where = area_rule.assign(boroughs, x[found], y[found], is_cancelled).polygon
        for i, k in zip(np.flatnonzero(found), where):
            out[i] = labels[k] if k >= 0 else None
    return out


@dataclass
class ParentRates:
    """Rates of groups of wards (boroughs, or all wards) from the wards' own counts and residents, never recounted.

    A group's crimes and residents are the sums over its wards with a rate, so its rate is the rate its wards'
    funnel compares with (all wards together: the overall rate).
    """

    codes: list[str]
    wards: np.ndarray
    crimes: np.ndarray
    population: np.ndarray
    rate: np.ndarray
    limits: dict[float, tuple[np.ndarray, np.ndarray]]

    def rate_of(self, code: str | None) -> float:
        """Return the rate of a group (NaN for None or an unknown group)."""
        return float(self.rate[self.codes.index(code)]) if code in self.codes else math.nan


def parent_rates(table: rates.RateTable, parents: Sequence[str | None]) -> ParentRates:
    """Sum the wards with a rate into their parents and give each parent its rate and confidence limits."""
    codes = sorted({p for p in parents if p is not None})
    member = np.array([p is not None for p in parents], dtype=bool) & table.usable
    index = {c: k for k, c in enumerate(codes)}
    group = np.array([index.get(p, -1) if p is not None else -1 for p in parents], dtype=np.int64)
    n = len(codes)
    wards, crimes, population = np.zeros(n, np.int64), np.zeros(n), np.zeros(n)
    for i in np.flatnonzero(member):
        wards[group[i]] += 1
        crimes[group[i]] += table.count[i]
        population[group[i]] += table.population[i]
    rate = np.full(n, np.nan)
    has = population > 0
    rate[has] = crimes[has] / population[has] * table.multiplier
    limits = {}
    for level in rates.LEVELS:
        lo, hi = np.full(n, np.nan), np.full(n, np.nan)
        for k in np.flatnonzero(has):
            low_count, high_count = rates.count_limits(float(crimes[k]), level)
            lo[k] = low_count / population[k] * table.multiplier
            hi[k] = high_count / population[k] * table.multiplier
        limits[level] = (lo, hi)
    return ParentRates(codes, wards, crimes, population, rate, limits)


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
    """Test each area's change of rate between two periods by the Poisson E-test (core.etest).

    Exposure = population × months with records of each period; change_pct is the change of the monthly
    rate in %; usable marks the areas allowed a rate (all when None).
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
        idx = np.flatnonzero(ok)
        p_all = etest.e_test(before[idx], after[idx], population[idx] * months_before, population[idx] * months_after)
        for i, p in zip(idx, p_all):
            per_before = float(before[i]) / months_before
            per_after = float(after[i]) / months_after
            pct[i] = (per_after / per_before - 1.0) * 100.0 if per_before > 0 else None
            p_values[i] = float(p) if math.isfinite(p) else None
            labels[i] = rates.change_label(float(p), per_before, per_after)
    return ChangeTable(before, after, rate_before, pct, p_values, labels)


def _num(value: float) -> float | None:
    return float(value) if value is not None and math.isfinite(value) else None
