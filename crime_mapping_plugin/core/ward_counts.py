"""Crime counts by ward for a main and an optional comparison period, from crime points or a table of counts.

Both sources give the same thing (WardCounts): a count per ward in area order (core.areas: by code), the
month of every record read (what the period's months with records come from), and every crime read either
counted or left out under one reason, so that read = counted + sum(left_out) always holds. A crime is
counted under the first reason that applies, in this order: its month (no usable month when a range is
given, outside the months), its type or category, its location (no point, could not be reprojected),
and last its ward (outside every ward; for a table, a code that matches no ward).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import pandas as pd

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core.crime_points import (
    NO_GEOMETRY,
    NO_MONTH,
    NOT_REPROJECTED,
    OUTSIDE_AREAS,
    OUTSIDE_MONTHS,
    TYPE_NOT_SELECTED,
)
from crime_mapping_plugin.core.months import NO_MONTH as NO_MONTH_NUMBER
from crime_mapping_plugin.core.months import MonthRange
from crime_mapping_plugin.core.rates import FLAG_NO_GEOMETRY

# The table's own reason: a row whose ward code is not among the ward polygons.
UNMATCHED_CODE = "ward code matches no ward"
REASONS = (NO_MONTH, OUTSIDE_MONTHS, TYPE_NOT_SELECTED, NO_GEOMETRY, NOT_REPROJECTED, OUTSIDE_AREAS, UNMATCHED_CODE)


class CountTableError(ValueError):
    """A count table that cannot be used; the message names the row and the field."""


@dataclass
class WardCounts:
    """Crimes per ward (area order) in the main period and, optionally, the comparison period.

    read is the number of crimes read (points, one per part of a multipoint; or the sum of a table's counts);
    left_out holds the crimes of the main period's reading left out, by reason; record_months the month of
    every record read (NO_MONTH where none), before any type or category choice; records_without_month
    counts the records whose month field holds no month (left out under NO_MONTH when a range is given,
    counted otherwise).
    """

    read: int
    rows: int
    current: np.ndarray
    previous: np.ndarray | None
    record_months: np.ndarray
    left_out: Counter = field(default_factory=Counter)
    on_boundary: int = 0
    in_several: int = 0
    distinct_points: int = 0
    unmatched_codes: list[str] = field(default_factory=list)
    uncountable: dict[int, str] = field(default_factory=dict)
    records_without_month: int = 0

    @property
    def counted(self) -> int:
        """The crimes counted in a ward in the main period."""
        return int(self.current.sum())

    def check_balance(self) -> None:
        """Raise AssertionError unless every crime read is counted or left out under one reason."""
        balance = self.counted + sum(self.left_out.values())
        if balance != self.read:  # a bug, never the user's input
            raise AssertionError(f"Internal error: {self.read} crimes read but {balance} accounted for.")


def _without_month(months: np.ndarray | None) -> int:
    return 0 if months is None else int((months == NO_MONTH_NUMBER).sum())


def _in_period(months: np.ndarray | None, wanted: MonthRange, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Return (no usable month while a range is given, in the range) per record."""
    if months is None:
        return np.zeros(n, dtype=bool), np.ones(n, dtype=bool)
    no_month = (months == NO_MONTH_NUMBER) if not wanted.open else np.zeros(n, dtype=bool)
    return no_month, wanted.mask(months)


def _point_reasons(
    no_month: np.ndarray,
    in_months: np.ndarray,
    chosen: np.ndarray,
    had_point: np.ndarray,
    located: np.ndarray,
    outside: np.ndarray,
) -> Counter:
    """Count the crime points left out, each under the first reason that applies (the shared set)."""
    return Counter(
        {
            NO_MONTH: int(no_month.sum()),
            OUTSIDE_MONTHS: int((~in_months & ~no_month).sum()),
            TYPE_NOT_SELECTED: int((in_months & ~chosen).sum()),
            NO_GEOMETRY: int((in_months & chosen & ~had_point).sum()),
            NOT_REPROJECTED: int((in_months & chosen & had_point & ~located).sum()),
            OUTSIDE_AREAS: int(outside.sum()),
        }
    )


def _count_points_owned(
    areas: area_rule.Areas,
    x: np.ndarray,
    y: np.ndarray,
    months: np.ndarray | None,
    type_ok: np.ndarray,
    current: MonthRange,
    previous: MonthRange | None = None,
    had_point: np.ndarray | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[WardCounts, np.ndarray]:
    """count_points, and the area of each point (−1 where none): the monthly counts break it down."""
    n = len(x)
    had_point = np.isfinite(x) & np.isfinite(y) if had_point is None else had_point
    located = np.isfinite(x) & np.isfinite(y)
    _, cur = _in_period(months, current, n)
    prev = previous.mask(months) if previous is not None and months is not None else np.zeros(n, dtype=bool)
    use = (cur | prev) & type_ok & located
    assigned = area_rule.assign(areas, x[use], y[use], is_cancelled, progress)
    owner = np.full(n, -1, dtype=np.int64)
    owner[use] = assigned.polygon
    result = _tally(areas, owner, months, type_ok, had_point, located, current, previous)
    result.on_boundary = assigned.on_boundary
    result.in_several = assigned.in_several
    result.distinct_points = assigned.distinct_points
    return result, owner


def _tally(
    areas: area_rule.Areas,
    owner: np.ndarray,
    months: np.ndarray | None,
    type_ok: np.ndarray,
    had_point: np.ndarray,
    located: np.ndarray,
    current: MonthRange,
    previous: MonthRange | None,
) -> WardCounts:
    """Count points whose area is known (owner: −1 outside every area) into the periods, with every reason."""
    n = len(owner)
    no_month, cur = _in_period(months, current, n)
    prev = previous.mask(months) if previous is not None and months is not None else np.zeros(n, dtype=bool)
    sel = cur & type_ok & located
    counts = np.bincount(owner[sel & (owner >= 0)], minlength=len(areas)).astype(np.int64)
    left_out = _point_reasons(no_month, cur, type_ok, had_point, located, sel & (owner < 0))
    prev_counts = None
    if previous is not None:
        psel = prev & type_ok & located
        prev_counts = np.bincount(owner[psel & (owner >= 0)], minlength=len(areas)).astype(np.int64)
    result = WardCounts(
        read=n,
        rows=n,
        current=counts,
        previous=prev_counts,
        record_months=months if months is not None else np.full(n, NO_MONTH_NUMBER, dtype=np.int64),
        left_out=+left_out,
        uncountable={i: FLAG_NO_GEOMETRY for i in areas.empty},
        records_without_month=_without_month(months),
    )
    result.check_balance()
    return result


@dataclass
class AssignedPoints:
    """Crime points whose area the database found, as records (one per crime, in no particular order)."""

    owner: np.ndarray  # index of the area (areas' order), −1 outside every area or without a location
    months: np.ndarray | None
    type_ok: np.ndarray
    located: np.ndarray
    on_boundary: np.ndarray  # on the boundary of an area holding it
    in_several: np.ndarray  # held by more than one area's closure


def _assigned_use(points: AssignedPoints, current: MonthRange, previous: MonthRange | None) -> np.ndarray:
    """Return which points count_points would have located (in a period, chosen, with a location)."""
    n = len(points.owner)
    _, cur = _in_period(points.months, current, n)
    prev = previous.mask(points.months) if previous is not None and points.months is not None else np.zeros(n, bool)
    return (cur | prev) & points.type_ok & points.located


def count_assigned(
    areas: area_rule.Areas, points: AssignedPoints, current: MonthRange, previous: MonthRange | None = None
) -> WardCounts:
    """Count points already assigned to areas (by the database, same rule) as count_points counts them."""
    result = _tally(
        areas, points.owner, points.months, points.type_ok, points.located, points.located, current, previous
    )
    use = _assigned_use(points, current, previous)
    result.on_boundary = int((use & points.on_boundary).sum())
    result.in_several = int((use & points.in_several).sum())
    return result


def count_assigned_by_month(areas: area_rule.Areas, points: AssignedPoints, wanted: MonthRange) -> MonthlyCounts:
    """Count points already assigned to areas into the months of wanted, as count_points_by_month does."""
    _closed(wanted)
    totals = count_assigned(areas, points, wanted)
    return _by_month(areas, totals, points.owner, points.months, points.type_ok, wanted)


def count_points(
    areas: area_rule.Areas,
    x: np.ndarray,
    y: np.ndarray,
    months: np.ndarray | None,
    type_ok: np.ndarray,
    current: MonthRange,
    previous: MonthRange | None = None,
    had_point: np.ndarray | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    progress: Callable[[float], None] | None = None,
) -> WardCounts:
    """Count crime points (in the areas' CRS, NaN where there is none) into the areas by the area rule.

    had_point marks the points that had a location before reprojection (NaN now means 'could not be
    reprojected' for them); an area with no geometry gets no count and is listed in uncountable.
    """
    return _count_points_owned(areas, x, y, months, type_ok, current, previous, had_point, is_cancelled, progress)[0]


def table_counts(values: Sequence[object], field_name: str) -> np.ndarray:
    """Return a count column as whole numbers ≥ 0; CountTableError naming the first bad row and the field."""
    numbers = pd.to_numeric(pd.Series(list(values), dtype=object), errors="coerce").to_numpy(dtype=float)
    finite = np.isfinite(numbers)
    bad = ~finite | (numbers < 0) | (numbers != np.floor(np.where(finite, numbers, 0)))
    if bad.any():
        rows = np.flatnonzero(bad)
        first = int(rows[0])
        raise CountTableError(
            f"{len(rows)} row(s) of the count table have a count in '{field_name}' that is not a whole number ≥ 0 "
            f"(first: table row {first + 1}, value {values[first]!r}): fix or filter them."
        )
    return numbers.astype(np.int64)


def count_table(
    codes: Sequence[object],
    counts: np.ndarray,
    months: np.ndarray | None,
    category_ok: np.ndarray,
    ward_codes: Sequence[str],
    current: MonthRange,
    previous: MonthRange | None = None,
) -> WardCounts:
    """Sum a table's whole counts (see table_counts) per ward code for the periods; list codes matching no ward."""
    n = len(counts)
    keys = np.array(["" if c is None else str(c).strip() for c in codes], dtype=object)
    index = pd.Index(list(ward_codes))
    position = index.get_indexer(keys) if n else np.zeros(0, dtype=np.int64)
    matched = position >= 0
    no_month, cur = _in_period(months, current, n)

    def sums(mask: np.ndarray) -> np.ndarray:
        sel = mask & matched
        return np.bincount(position[sel], weights=counts[sel], minlength=len(index)).astype(np.int64)

    sel = cur & category_ok
    left_out = Counter(
        {
            NO_MONTH: int(counts[no_month].sum()),
            OUTSIDE_MONTHS: int(counts[~cur & ~no_month].sum()),
            TYPE_NOT_SELECTED: int(counts[cur & ~category_ok].sum()),
            UNMATCHED_CODE: int(counts[sel & ~matched].sum()),
        }
    )
    prev = None
    if previous is not None and months is not None:
        prev = sums(previous.mask(months) & category_ok)
    result = WardCounts(
        read=int(counts.sum()),
        rows=n,
        current=sums(sel),
        previous=prev,
        record_months=months if months is not None else np.full(n, NO_MONTH_NUMBER, dtype=np.int64),
        left_out=+left_out,
        unmatched_codes=sorted(set(keys[sel & ~matched].tolist())),
        records_without_month=_without_month(months),
    )
    result.check_balance()
    return result


def population_by_code(
    codes: Sequence, values: Sequence, ward_codes: Sequence[str]
) -> tuple[list, list[str], list[str]]:
    """Join a population table to the wards; return per-ward values, unknown codes and duplicated codes."""
    seen: dict[str, object] = {}
    duplicated: set[str] = set()
    for code, value in zip(codes, values):
        key = "" if code is None else str(code).strip()
        if key in seen:
            duplicated.add(key)
        seen[key] = value
    wards = set(ward_codes)
    return [seen.get(c) for c in ward_codes], sorted(k for k in seen if k not in wards), sorted(duplicated)


def matching(values: Sequence[object], keep: set[str]) -> np.ndarray:
    """Return which values are among keep, compared without regard to case or surrounding blanks."""
    wanted = {k.strip().casefold() for k in keep}
    lookup = {v: v is not None and str(v).strip().casefold() in wanted for v in set(values)}
    return np.fromiter((lookup[v] for v in values), dtype=bool, count=len(values))


@dataclass
class MonthlyCounts:
    """Crimes per area and calendar month (crimetrends): by_month[area, month − first_month].

    totals holds the same accounting as count_points/count_table over the whole range (totals.current is
    the row sum of by_month), so read = counted + left out holds. A monthly series needs a month for every
    record: a record whose month field holds no month is left out under NO_MONTH even with an open range.
    without_rows lists the areas (by index) a count table has no row for in the range, whatever the
    category: a table that lists its areas (the MPS table writes its zeros) does not cover them, so their
    counts are missing, not zeros.
    """

    totals: WardCounts
    first_month: int
    by_month: np.ndarray
    without_rows: list[int] = field(default_factory=list)


def _monthly(owner: np.ndarray, month: np.ndarray, weights: np.ndarray, n_areas: int, wanted: MonthRange) -> np.ndarray:
    n_months = int(wanted.end) - int(wanted.start) + 1
    flat = owner * n_months + (month - int(wanted.start))
    sums = (
        np.bincount(flat, weights=weights, minlength=n_areas * n_months) if len(flat) else np.zeros(n_areas * n_months)
    )
    return sums.astype(np.int64).reshape(n_areas, n_months)


def _closed(wanted: MonthRange) -> None:
    if wanted.start is None or wanted.end is None:
        raise ValueError("monthly counts need a month range with both ends (core.months.analysis_period gives one)")


def count_points_by_month(
    areas: area_rule.Areas,
    x: np.ndarray,
    y: np.ndarray,
    months: np.ndarray,
    type_ok: np.ndarray,
    wanted: MonthRange,
    had_point: np.ndarray | None = None,
    is_cancelled: Callable[[], bool] | None = None,
    progress: Callable[[float], None] | None = None,
) -> MonthlyCounts:
    """Count crime points into the areas (the area rule) and the months of wanted (both ends given)."""
    _closed(wanted)
    totals, owner = _count_points_owned(areas, x, y, months, type_ok, wanted, None, had_point, is_cancelled, progress)
    return _by_month(areas, totals, owner, months, type_ok, wanted)


def _by_month(
    areas: area_rule.Areas,
    totals: WardCounts,
    owner: np.ndarray,
    months: np.ndarray,
    type_ok: np.ndarray,
    wanted: MonthRange,
) -> MonthlyCounts:
    inside = wanted.mask(months) & type_ok & (owner >= 0)
    by_month = _monthly(owner[inside], months[inside], np.ones(int(inside.sum())), len(areas), wanted)
    if not np.array_equal(by_month.sum(axis=1), totals.current):  # a bug, never the user's input
        raise AssertionError("Internal error: the monthly counts do not add up to the counts of the period.")
    return MonthlyCounts(totals, int(wanted.start), by_month)


def count_table_by_month(
    codes: Sequence[object],
    counts: np.ndarray,
    months: np.ndarray,
    category_ok: np.ndarray,
    area_codes: Sequence[str],
    wanted: MonthRange,
) -> MonthlyCounts:
    """Sum a table's whole counts per area code and month of wanted (both ends given)."""
    _closed(wanted)
    keys = np.array(["" if c is None else str(c).strip() for c in codes], dtype=object)
    position = pd.Index(list(area_codes)).get_indexer(keys) if len(keys) else np.zeros(0, dtype=np.int64)
    matched = position >= 0
    no_month = months == NO_MONTH_NUMBER
    cur = wanted.mask(months) & ~no_month
    sel = cur & category_ok
    use = sel & matched
    by_month = _monthly(position[use], months[use], counts[use].astype(float), len(area_codes), wanted)
    left_out = Counter(
        {
            NO_MONTH: int(counts[no_month].sum()),
            OUTSIDE_MONTHS: int(counts[~cur & ~no_month].sum()),
            TYPE_NOT_SELECTED: int(counts[cur & ~category_ok].sum()),
            UNMATCHED_CODE: int(counts[sel & ~matched].sum()),
        }
    )
    totals = WardCounts(
        read=int(counts.sum()),
        rows=len(counts),
        current=by_month.sum(axis=1),
        previous=None,
        record_months=months,
        left_out=+left_out,
        unmatched_codes=sorted(set(keys[sel & ~matched].tolist())),
        records_without_month=_without_month(months),
    )
    totals.check_balance()
    rows_per_area = np.bincount(position[cur & matched], minlength=len(area_codes))
    return MonthlyCounts(totals, int(wanted.start), by_month, np.flatnonzero(rows_per_area == 0).tolist())
