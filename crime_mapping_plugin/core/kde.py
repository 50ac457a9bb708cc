"""Kernel density of crime points, evaluated exactly at cell centres, fast.

QGIS's heatmap stamps a (2·h/px+1)² block of cells for every point, one point at a time. police.uk
points are anonymised snap points, so a year of crime has far fewer distinct locations than crimes:
identical points are merged first (their weights summed), then the kernel of every distinct point is
evaluated on the cells of a fixed window around it, many points at once with numpy, and added into
the grid with bincount. Each value is the kernel at the true distance from the point to the cell
centre, so the surface equals a brute-force evaluation to floating-point precision.

Kernels and their normalising constants are those of QGIS's qgskde.cpp (docs/methods.md) with
the scaled quartic corrected to 3/(πh²), so a scaled surface integrates to the number of crimes.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from crime_mapping_plugin.core.grid import Grid

# The order of QGIS's heatmap KERNEL enum, so an index means the same kernel in both.
KERNELS: tuple[str, ...] = ("quartic", "triangular", "uniform", "triweight", "epanechnikov")

# Kernel values evaluated per chunk: bounds the temporary arrays to a few tens of MB.
_CHUNK_VALUES = 2_000_000


def grid_around_points(x: np.ndarray, y: np.ndarray, bandwidth: float, cell: float) -> Grid:
    """Return QGIS's heatmap grid: the points' extent grown by the bandwidth, ceil(side/cell)+1 cells."""
    x_min, x_max = float(np.min(x)) - bandwidth, float(np.max(x)) + bandwidth
    y_min, y_max = float(np.min(y)) - bandwidth, float(np.max(y)) + bandwidth
    rows = max(int(math.ceil((y_max - y_min) / cell)) + 1, 1)
    cols = max(int(math.ceil((x_max - x_min) / cell)) + 1, 1)
    return Grid(x_min, y_max, cell, rows, cols)


def grid_for_extent(x_min: float, y_min: float, x_max: float, y_max: float, cell: float) -> Grid:
    """Return the grid covering an extent from its top-left corner, ceil(side/cell) cells."""
    rows = max(int(math.ceil((y_max - y_min) / cell - 1e-9)), 1)
    cols = max(int(math.ceil((x_max - x_min) / cell - 1e-9)), 1)
    return Grid(float(x_min), float(y_max), float(cell), rows, cols)


def kernel_scale(kernel: str, bandwidth: float, decay: float = 0.0) -> float:
    """Return the constant that turns a raw kernel value into a density integrating to 1."""
    area = math.pi * bandwidth * bandwidth
    if kernel == "quartic":
        return 3.0 / area
    if kernel == "triweight":
        return 4.0 / area
    if kernel == "epanechnikov":
        return 2.0 / area
    if kernel == "uniform":
        return 1.0 / area
    if kernel == "triangular":
        if decay < 0:
            raise ValueError("A triangular kernel with a negative decay has no density scaling; use decay ≥ 0.")
        return 3.0 / ((1.0 + 2.0 * decay) * area)
    raise ValueError(f"Unknown kernel '{kernel}'; choose one of {', '.join(KERNELS)}.")


def kernel_raw(kernel: str, u2: np.ndarray, decay: float = 0.0) -> np.ndarray:
    """Return the raw kernel at squared scaled distances u² ≤ 1."""
    if kernel == "quartic":
        t = 1.0 - u2
        return t * t
    if kernel == "triweight":
        t = 1.0 - u2
        return t * t * t
    if kernel == "epanechnikov":
        return 1.0 - u2
    if kernel == "uniform":
        return np.ones_like(u2)
    if kernel == "triangular":
        return 1.0 - (1.0 - decay) * np.sqrt(u2)
    raise ValueError(f"Unknown kernel '{kernel}'; choose one of {', '.join(KERNELS)}.")


def merge_identical_points(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return the distinct points and the summed weight (or count) at each."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    if len(x) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    # One complex key per point: numpy sorts it ten times faster than rows of a 2-D array (unique axis=0).
    uniq, inverse = np.unique(x + 1j * y, return_inverse=True)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, float)
    summed = np.bincount(inverse.ravel(), weights=w, minlength=len(uniq))
    return uniq.real.copy(), uniq.imag.copy(), summed


def kernel_sum(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    bandwidth: float,
    kernel: str = "quartic",
    decay: float = 0.0,
    is_cancelled: Callable[[], bool] | None = None,
    progress: Callable[[float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the raw weighted kernel sum at every cell centre and the mask of cells within reach of a point.

    A point reaches a cell when the distance from the point to the cell centre is at most the bandwidth.
    Pass distinct points (merge_identical_points) for speed; the result does not depend on it.
    """
    if bandwidth <= 0:
        raise ValueError("The bandwidth must be positive.")
    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel '{kernel}'; choose one of {', '.join(KERNELS)}.")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    weight = np.asarray(weight, float)
    total = np.zeros(grid.size)
    reached = np.zeros(grid.size, dtype=bool)
    k = int(math.ceil(bandwidth / grid.cell)) + 1
    offsets = np.arange(-k, k + 1)
    width = len(offsets)
    col0 = np.floor((x - grid.x_min) / grid.cell).astype(np.int64)
    row0 = np.floor((grid.y_max - y) / grid.cell).astype(np.int64)
    near = (col0 + k >= 0) & (col0 - k < grid.cols) & (row0 + k >= 0) & (row0 - k < grid.rows)
    near &= np.isfinite(x) & np.isfinite(y) & np.isfinite(weight)
    # Sorted by row, a chunk of points touches a narrow band of rows: bincount only that band.
    order = np.flatnonzero(near)[np.argsort(row0[near], kind="stable")]
    h2 = bandwidth * bandwidth
    chunk = max(1, _CHUNK_VALUES // (width * width))
    for start in range(0, len(order), chunk):
        if is_cancelled is not None and is_cancelled():
            break
        idx = order[start : start + chunk]
        rows = row0[idx][:, None] + offsets
        cols = col0[idx][:, None] + offsets
        dy = (grid.y_max - (rows + 0.5) * grid.cell) - y[idx][:, None]
        dx = (grid.x_min + (cols + 0.5) * grid.cell) - x[idx][:, None]
        d2 = dy[:, :, None] ** 2 + dx[:, None, :] ** 2
        inside = d2 <= h2
        inside &= ((rows >= 0) & (rows < grid.rows))[:, :, None]
        inside &= ((cols >= 0) & (cols < grid.cols))[:, None, :]
        band_lo = max(int(rows[0, 0]), 0)
        band_hi = min(int(rows[-1, -1]), grid.rows - 1)
        flat = (rows - band_lo)[:, :, None] * grid.cols + cols[:, None, :]
        flat = flat[inside]
        values = kernel_raw(kernel, d2[inside] / h2, decay)
        values *= np.broadcast_to(weight[idx][:, None, None], d2.shape)[inside]
        span = (band_hi - band_lo + 1) * grid.cols
        lo = band_lo * grid.cols
        total[lo : lo + span] += np.bincount(flat, weights=values, minlength=span)
        reached[lo : lo + span] |= np.bincount(flat, minlength=span) > 0
        if progress is not None:
            progress(min(1.0, (start + len(idx)) / len(order)))
    return total.reshape(grid.rows, grid.cols), reached.reshape(grid.rows, grid.cols)


def round_significant(value: float, digits: int = 2) -> float:
    """Round a positive value to a number of significant figures."""
    if value <= 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(value))))


# The smallest bandwidth the default rule may give, metres. police.uk locations are map points tens of metres
# apart (docs/methods.md §1.2): a radius under a metre only comes from crimes (nearly) all at one or a few
# places, and near 1e-11 m it is the rounding of the coordinates, not a distance (docs/methods.md §2.5).
MIN_DEFAULT_BANDWIDTH = 1.0


def default_bandwidth(x: np.ndarray, y: np.ndarray) -> float:
    """Return ArcGIS Pro's default search radius, 0.9·min(SD, √(1/ln 2)·Dm)·n^(−0.2), to two significant figures.

    SD is the standard distance and Dm the median distance of the points from their mean centre; n is
    the number of points (each crime counts once, whatever its weight). Raise ValueError when the rule
    gives less than MIN_DEFAULT_BANDWIDTH: the crimes are at one or a few places and a bandwidth must be given.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(x)
    if n < 2:
        raise ValueError("At least two crimes are needed to choose a bandwidth; set one.")
    # Distances from the first point first: crimes at one place then differ by exactly 0, whatever the
    # rounding of their coordinates (a mean of 500 equal numbers near 500,000 is not always that number).
    dx = x - x[0]
    dy = y - y[0]
    dx -= dx.mean()
    dy -= dy.mean()
    standard_distance = math.sqrt(float(np.mean(dx * dx) + np.mean(dy * dy)))
    median_distance = float(np.median(np.hypot(dx, dy)))
    radius = 0.9 * min(standard_distance, math.sqrt(1.0 / math.log(2.0)) * median_distance) * n**-0.2
    if not radius >= MIN_DEFAULT_BANDWIDTH:
        places = len(np.unique(x + 1j * y))
        raise ValueError(
            f"The {n:,} crimes are at {places:,} distinct location(s), nearly all at one place, so ArcGIS Pro's "
            f"rule gives a bandwidth of {radius:.2g} m, under {MIN_DEFAULT_BANDWIDTH:g} m: set a bandwidth in "
            "metres (a few hundred is usual for street crime)."
        )
    return round_significant(radius)


def default_cell_size(width: float, height: float) -> float:
    """Return ArcGIS Pro's default cell size, the shorter side of the extent / 250, to two significant figures."""
    sides = [s for s in (width, height) if s > 0]
    if not sides:
        raise ValueError("The crimes' extent has no width or height, so no cell size can be chosen; set one.")
    return round_significant(min(sides) / 250.0)


def percentile_threshold(values: np.ndarray, data: np.ndarray, percentile: float) -> float:
    """Return the given percentile of the positive values among data cells (NaN when there are none)."""
    positive = values[data & (values > 0)]
    if positive.size == 0:
        return float("nan")
    return float(np.percentile(positive, percentile))
