"""Emerging hot spots: Gi* on the space-time cube of the cells' crimes (or per slice), a Mann-Kendall trend, a category.

Space-time cube (the default, as ArcGIS's Emerging Hot Spot Analysis): core.gistar.gi_star_space_time, the
neighbours of a bin being its cell and the cell's spatial neighbours in the same and the previous slice, the
mean and standard deviation those of the whole cube, and the false discovery rate over every bin of the cube.
Per slice (the option): Gi* of each slice on its own, with the slice's mean and standard deviation and the FDR
within the slice. Either way the Mann-Kendall trend is that of each cell's series of z-scores.

Time slices (docs/methods.md, months): the period is every calendar month from the first to the last month of
any record of the input (core.months.analysis_period). Slices are `length` consecutive calendar months,
aligned so that the last slice ends at the period's last month; only whole slices are made, and crimes of
the months before the first whole slice are left out under BEFORE_FIRST_SLICE (a short first slice would hold
fewer months of crime and make a rising trend out of nothing). A slice with no record at all is missing data:
it is dropped (not a slice of zeros) and listed. A slice with records in only some of its months (a gap in the
data) is kept and listed as partly covered. At least 3 slices with records
are needed. Records with no month are left out under NO_MONTH.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np

from crime_mapping_plugin.core import cells as cell_rule
from crime_mapping_plugin.core import crime_points, gistar
from crime_mapping_plugin.core.months import NO_MONTH, AnalysisPeriod, analysis_period, month_text, ranges_text

CONFIDENCE_ALPHA = (0.10, 0.05, 0.01)
SPACE_TIME = "space-time cube"
PER_SLICE = "per slice"
METHODS = (SPACE_TIME, PER_SLICE)
MIN_SLICES = 3
BEFORE_FIRST_SLICE = "before the first whole time slice"


def slice_text(start: int, length: int) -> str:
    """Return a slice's months, e.g. '2024-10' or '2024-10 to 2024-12'."""
    return month_text(start) if length == 1 else f"{month_text(start)} to {month_text(start + length - 1)}"


@dataclass(frozen=True)
class TimeSlices:
    """The time slices kept (their first months, in order), the period, and the slices dropped or partly covered."""

    length: int
    period: AnalysisPeriod
    starts: tuple[int, ...]
    missing: tuple[int, ...]  # first months of the slices with no record at all, dropped
    partial: tuple[tuple[int, int], ...]  # (first month, months with records) of slices kept with gaps

    def __len__(self) -> int:
        return len(self.starts)

    @property
    def first_month(self) -> int:
        """The first month of the first whole slice (kept or not): earlier months belong to no slice."""
        return self.period.last - (self.period.calendar_months // self.length) * self.length + 1

    def index(self, months: np.ndarray) -> np.ndarray:
        """Return the kept slice of each month (-1 for a month in a dropped slice or outside the period)."""
        months = np.asarray(months, np.int64)
        last = self.period.last
        position = (last - months) // self.length  # 0 = the final slice
        first_of = last - (position + 1) * self.length + 1
        lookup = {s: n for n, s in enumerate(self.starts)}
        out = np.array([lookup.get(int(s), -1) for s in first_of.tolist()], np.int64)
        out[(months > last) | (months == NO_MONTH)] = -1
        return out

    def _listed(self, starts: tuple[int, ...]) -> str:
        if self.length == 1:
            return ranges_text(starts)
        return ", ".join(slice_text(s, self.length) for s in starts)

    def describe(self) -> list[str]:
        """Return what a reader must know of the slices: the missing ones and those with gaps."""
        lines = []
        if self.missing:
            lines.append(
                f"{len(self.missing)} time slice(s) have no record at all and are left out (missing data, not "
                "slices of zero crimes): " + self._listed(self.missing) + "."
            )
        if self.partial:
            lines.append(
                "Slices with records in only some of their months (their counts cover fewer months): "
                + ", ".join(f"{slice_text(s, self.length)} ({n} of {self.length})" for s, n in self.partial)
                + "."
            )
        return lines


def time_slices(record_months: np.ndarray, length: int) -> TimeSlices:
    """Cut the period of the records into whole slices of length months ending at the last month; drop empty ones."""
    if length < 1:
        raise gistar.GiStarInputError("A time slice must be at least 1 month long.")
    period = analysis_period(record_months)
    if period is None:
        raise gistar.GiStarInputError("No record has a usable month (a date, or text YYYY-MM).")
    n_all = period.calendar_months // length  # whole slices only: the months before the first are left out
    have = set(period.with_records)
    starts, missing, partial = [], [], []
    for t in range(n_all):
        start = period.last - (n_all - t) * length + 1
        covered = sum(1 for m in range(start, start + length) if m in have)
        if covered == 0:
            missing.append(start)
            continue
        starts.append(start)
        if covered < length:
            partial.append((start, covered))
    slices = TimeSlices(length, period, tuple(starts), tuple(missing), tuple(partial))
    if len(starts) < MIN_SLICES:
        raise gistar.GiStarInputError(
            f"The records ({period.describe()}) make {len(starts)} whole time slice(s) of {length} month(s) with "
            f"any record: at least {MIN_SLICES} are needed. Use shorter slices or more months of data."
        )
    return slices


@dataclass
class EmergingRequest:
    """An emerging hot spot analysis: cells, neighbours, slices and the confidence of slices and trends."""

    cells: cell_rule.CellRequest
    record_months: np.ndarray  # the month of every record of the input (NO_MONTH allowed), for the period
    slice_months: int = 1
    neighbours: cell_rule.NeighbourRule = cell_rule.NeighbourRule()
    level: int = 1  # a slice is significant at bin level 1 (90 %), 2 (95 %) or 3 (99 %)
    fdr: bool = True
    trend_alpha: float = 0.05
    method: str = SPACE_TIME
    is_cancelled: Callable[[], bool] = lambda: False


@dataclass
class EmergingAnalysis:
    """Per cell and slice: values, z and bins; per cell: significant slices, the trend and the category."""

    counted: cell_rule.CountedCells
    slices: TimeSlices
    hood: str
    values: np.ndarray  # slices x cells
    z: np.ndarray  # slices x cells, NaN for cells without neighbours
    bins: np.ndarray  # slices x cells
    significant: np.ndarray  # cells x slices: +1 hot, -1 cold, 0
    trend_s: np.ndarray
    trend_z: np.ndarray
    trend_p: np.ndarray
    category: np.ndarray  # index into gistar.CATEGORIES
    neighbour_counts: np.ndarray  # each cell's neighbours, itself not counted
    flat: list[int] = field(default_factory=list)  # slices where every cell has the same value

    @property
    def alone(self) -> np.ndarray:
        """Which cells have no neighbour (no z-scores, 'No pattern detected')."""
        return self.neighbour_counts == 0

    def category_tally(self) -> dict[str, int]:
        """Return the number of cells in each category that has any."""
        tally = np.bincount(self.category, minlength=len(gistar.CATEGORIES))
        return {c: int(k) for c, k in zip(gistar.CATEGORIES, tally) if k}


def emerging_hotspots(request: EmergingRequest) -> EmergingAnalysis:
    """Count the crimes into cells and slices, compute Gi* per slice, the trends and the categories."""
    points = request.cells.points
    if points.month is None:
        raise gistar.GiStarInputError("The crimes were read without a month.")
    points.keep_only(points.month != NO_MONTH, crime_points.NO_MONTH)
    if points.counted == 0:
        raise gistar.GiStarInputError("No crime point has a usable month (a date, or text YYYY-MM).")
    slices = time_slices(request.record_months, request.slice_months)
    points.keep_only(points.month >= slices.first_month, BEFORE_FIRST_SLICE)
    counted = cell_rule.count_in_cells(request.cells)
    counted.warnings += slices.describe()
    if len(slices) < 10:
        counted.warnings.append(
            f"Only {len(slices)} time slices: the 90 % rules need every slice, and the trend test has little power."
        )
    n, n_slices = len(counted.cells), len(slices)
    slice_of = slices.index(counted.points.month)
    if (slice_of < 0).any():  # every counted crime's month has records, so its slice is kept
        raise AssertionError("A counted crime fell in no time slice.")
    values = np.bincount(
        slice_of * n + counted.point_cell, weights=counted.points.weights(), minlength=n_slices * n
    ).reshape(n_slices, n)
    _check(request.is_cancelled)
    nb, hood, notes = cell_rule.neighbours(counted.cells, request.neighbours, request.is_cancelled)
    counted.notes += notes
    z = _z_scores(values, nb, request)
    card = nb.cardinality()
    flat = [int(t) for t in np.nonzero(np.isnan(z).all(axis=1))[0]]
    if flat and request.method == SPACE_TIME:
        flat = list(range(n_slices))
        counted.warnings.append("Every bin of the space-time cube holds the same count: no z-scores (z = 0).")
    elif flat:
        counted.warnings.append(
            f"{len(flat)} slice(s) have the same count in every cell (z = 0): "
            + ", ".join(slice_text(slices.starts[t], slices.length) for t in flat)
        )
    z = np.where(card[None, :] > 0, np.nan_to_num(z, nan=0.0), np.nan)
    bins = _bins(z, request)
    significant = np.where(np.abs(bins) >= request.level, np.sign(bins), 0).T
    _check(request.is_cancelled)
    mk_s, _, mk_z, mk_p = gistar.mann_kendall(np.nan_to_num(z, nan=0.0).T, request.is_cancelled)
    _check(request.is_cancelled)
    category = gistar.classify_emerging(significant, mk_z, mk_p, request.trend_alpha)
    alone = card == 0
    category[alone] = 0
    if alone.any():
        counted.warnings.append(
            f"{int(alone.sum())} cell(s) have no neighbour ({hood}): no z-scores, 'No pattern detected'."
        )
    if not counted.points.balanced():  # a bug, never the user's input
        raise AssertionError(f"{counted.points.read} points read but not all counted or left out under a reason.")
    return EmergingAnalysis(counted, slices, hood, values, z, bins, significant, mk_s, mk_z, mk_p, category, card, flat)


def _check(is_cancelled: Callable[[], bool]) -> None:
    if is_cancelled():
        raise InterruptedError("cancelled")


def _z_scores(values: np.ndarray, nb: gistar.Neighbours, request: EmergingRequest) -> np.ndarray:
    """Return Gi* z per slice and cell: on the space-time cube (default) or each slice on its own."""
    if request.method == SPACE_TIME:
        return gistar.gi_star_space_time(values, nb, 1, request.is_cancelled)
    z = np.full(values.shape, np.nan)
    for t in range(values.shape[0]):
        _check(request.is_cancelled)
        z[t] = gistar.gi_star(values[t], nb)
    return z


def _bins(z: np.ndarray, request: EmergingRequest) -> np.ndarray:
    """Return the confidence bins: FDR over the whole cube (space-time) or within each slice (per slice)."""
    if request.method == SPACE_TIME:
        return gistar.confidence_bins(z.ravel(), gistar.two_sided_p(z.ravel()), request.fdr).reshape(z.shape)
    bins = np.zeros(z.shape, np.int64)
    for t in range(z.shape[0]):
        _check(request.is_cancelled)
        bins[t] = gistar.confidence_bins(z[t], gistar.two_sided_p(z[t]), request.fdr)
    return bins
