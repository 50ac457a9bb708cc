"""Kernel density of crime points, evaluated exactly at cell centres, fast.

QGIS's heatmap stamps a (2·h/px+1)² block of cells for every point, one point at a time. police.uk
points are anonymised snap points, so a year of crime has far fewer distinct locations than crimes:
identical points are merged first (their weights summed). The polynomial kernels (uniform, Epanechnikov,
quartic, triweight) are then summed along chords (_chord_sum, docs/methods.md §2.7): on each grid column
a point reaches a run of cells along which its kernel is a polynomial, whose coefficients are added at the
run's ends and evaluated once per cell. The triangular kernel, and bandwidths under two cells, evaluate
every cell of each point's window (_window_sum). Both give the kernel at the true distance from the point
to the cell centre, so the surface equals a brute-force evaluation to floating-point precision.

Kernels and their normalising constants are those of QGIS's qgskde.cpp (docs/methods.md) with
the scaled quartic corrected to 3/(πh²), so a scaled surface integrates to the number of crimes.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import pandas as pd

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
    """Return the distinct points (in no particular order) and the summed weight (or count) at each."""
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    w = np.ones(len(x)) if weight is None else np.asarray(weight, float)
    if len(x) == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    # Hashing (pandas' factorize) rather than sorting: two points can only be identical when their x are, so a
    # layer of distinct locations (a force's own geocoded crimes) costs one pass over x.
    x_code, x_values = pd.factorize(x)
    if len(x_values) == len(x):
        return x.copy(), y.copy(), w.copy()
    y_code, y_values = pd.factorize(y)
    key_code, keys = pd.factorize(x_code.astype(np.int64) * len(y_values) + y_code)
    summed = np.bincount(key_code, weights=w, minlength=len(keys))
    return x_values[keys // len(y_values)].astype(float), y_values[keys % len(y_values)].astype(float), summed


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
    Pass distinct points (merge_identical_points) for speed; the result does not depend on it. The
    polynomial kernels are summed along chords (_chord_sum), the triangular kernel and bandwidths of
    under _MIN_CHORD_CELLS cells cell by cell over each point's window (_window_sum); both are exact.
    """
    if bandwidth <= 0:
        raise ValueError("The bandwidth must be positive.")
    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel '{kernel}'; choose one of {', '.join(KERNELS)}.")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    weight = np.asarray(weight, float)
    power = _POWER.get("uniform" if kernel == "triangular" and decay == 1.0 else kernel)
    if power is None or bandwidth / grid.cell < _MIN_CHORD_CELLS:
        return _window_sum(grid, x, y, weight, bandwidth, kernel, decay, is_cancelled, progress)
    # Positions in cells, from the centre of column 0 and of row 0: a cell centre is at whole numbers. Lines are
    # the grid's columns and chords run down them (the merged points come grouped by x).
    u = (x - grid.x_min) / grid.cell - 0.5
    v = (grid.y_max - y) / grid.cell - 0.5
    radius = bandwidth / grid.cell
    near = np.isfinite(u) & np.isfinite(v) & np.isfinite(weight)
    near &= (u >= -radius - 1) & (u <= grid.cols + radius) & (v >= -radius - 1) & (v <= grid.rows + radius)
    total, reached = _chord_sum(
        u[near], v[near], weight[near], grid.cols, grid.rows, radius, power, is_cancelled, progress
    )
    return np.ascontiguousarray(total.T), np.ascontiguousarray(reached.T)


# The raw kernels that are a power of s = 1 − u² (uniform, Epanechnikov, quartic, triweight): s**power.
_POWER = {"uniform": 0, "epanechnikov": 1, "quartic": 2, "triweight": 3}
# Under this many cells per bandwidth a window has few cells, and a frame (_chord_sum) is wide against the
# bandwidth, so its polynomials would lose digits: the window is evaluated instead.
_MIN_CHORD_CELLS = 2.0
# (point, line) pairs per chunk of _chord_sum: bounds its temporary arrays to a few tens of MB.
_CHUNK_PAIRS = 400_000
# At least this many chunks, so that progress moves and a cancel is seen soon even with few points.
_MIN_CHUNKS = 20
# Coefficient slots per chunk of _chord_sum: bounds the band of lines a chunk of sparse points may span.
_CHUNK_SLOTS = 6_000_000


def _coefficients(power: int, alpha: np.ndarray, beta: np.ndarray) -> list[np.ndarray]:
    """Return the coefficients of X⁰, X¹, … of (alpha + beta·X − X²)**power."""
    one = np.ones_like(alpha)
    if power == 0:
        return [one]
    if power == 1:
        return [alpha, beta * one, -one]
    if power == 2:
        return [alpha * alpha, 2 * alpha * beta, beta * beta - 2 * alpha, -2 * beta * one, one]
    a2 = alpha * alpha
    b2 = beta * beta
    return [
        a2 * alpha,
        3 * a2 * beta,
        3 * alpha * b2 - 3 * a2,
        b2 * beta - 6 * alpha * beta,
        3 * alpha - 3 * b2,
        3 * beta * one,
        -one,
    ]


def _chord_sum(
    line_pos: np.ndarray,
    along_pos: np.ndarray,
    weight: np.ndarray,
    lines: int,
    along: int,
    radius: float,
    power: int,
    is_cancelled: Callable[[], bool] | None,
    progress: Callable[[float], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return Σ w·(1 − d²/radius²)**power over the cells within radius of each point, and the reached cells.

    Positions are in cells (a cell centre at each whole number); the result is indexed [line, along]. On one
    line a point reaches a run of cells (the chord of its disc), and along it the kernel is a polynomial of
    degree 2·power in the cell's position. Each chord adds its polynomial's coefficients at its first cell
    and takes them off after its last (difference arrays); a running sum along the line then holds, at every
    cell, the coefficients of the sum over the points reaching it, evaluated once per cell. Polynomials are
    expanded around the centre of a frame of 2·⌈radius⌉ cells (not the grid's origin), so their powers stay
    small and the sum keeps its digits. A chord's ends are where the cell's squared distance is at most
    radius²: taken from a square root, and decided by that comparison itself when they fall within rounding
    of a cell centre.
    """
    total = np.zeros((lines, along))
    reached = np.zeros((lines, along), dtype=bool)
    n = len(line_pos)
    if n == 0:
        return total, reached
    r2 = radius * radius
    # Wider than the rounding of the square root near a chord's tip (√ε·radius) and of the positions.
    delta = 1e-7 * (radius + 1.0) + 1e-12 * (lines + along)
    cells = int(math.ceil(radius))
    margin = cells + 1  # a chord reaches this far beyond its point's frame
    width = 2 * cells
    frames = -(-along // width)
    slots = width + 2 * margin + 1  # the frame, its margins, and the slot after the last cell
    degree = 2 * power
    frame = np.clip(np.floor((along_pos + 0.5) / width), 0, frames - 1).astype(np.int64)
    # Position of the point and of each slot from its frame's centre, in bandwidths.
    centre = frame * width + (width - 1) / 2.0
    a = (along_pos - centre) / radius
    slot_x = (np.arange(slots - 1) - margin - (width - 1) / 2.0) / radius
    first = np.ceil(line_pos - radius - delta).astype(np.int64)
    per_point = int(math.floor(2 * radius + 2 * delta)) + 1
    offsets = np.arange(per_point)[:, None]
    order = _by_line(first)
    first, line_pos, along_pos = first[order], line_pos[order], along_pos[order]
    frame, a, weight = frame[order], a[order], weight[order]
    # With positive whole weights (counts) the running sum of the top coefficient, ±Σw, is exact: a cell is
    # reached where it is not 0. Otherwise chords are counted as well.
    counted = not (np.all(weight > 0) and np.all(weight == np.round(weight)) and weight.sum() < 2**52)
    chunk = max(1, min(_CHUNK_PAIRS // per_point, -(-n // _MIN_CHUNKS)))
    band_limit = max(per_point + 1, _CHUNK_SLOTS // (frames * slots * (degree + 1)))
    start = 0
    while start < n:
        if is_cancelled is not None and is_cancelled():
            break
        stop = min(start + chunk, int(np.searchsorted(first, first[start] + band_limit - per_point, "left")))
        stop = max(stop, start + 1)
        sel = slice(start, stop)
        band_lo = max(int(first[start]), 0)
        band_hi = min(int(first[stop - 1]) + per_point - 1, lines - 1)
        if band_lo <= band_hi:
            values, hit = _chord_chunk(
                first[sel], line_pos[sel], along_pos[sel], frame[sel], a[sel], weight[sel], offsets,
                band_lo, band_hi, along, r2, delta, width, margin, slots, frames, power, slot_x, counted,
            )  # fmt: skip
            total[band_lo : band_hi + 1] += values
            reached[band_lo : band_hi + 1] |= hit
        start = stop
        if progress is not None:
            progress(start / n)
    return total, reached


def _by_line(first: np.ndarray) -> np.ndarray:
    """Return the order of the points by their first line (a radix sort when lines fit in 16 bits)."""
    lo = int(first.min()) if len(first) else 0
    shifted = first - lo
    if len(first) and int(shifted.max()) < 2**15:
        return np.argsort(shifted.astype(np.int16), kind="stable")
    return np.argsort(first, kind="stable")


def _chord_chunk(
    first: np.ndarray,
    line_pos: np.ndarray,
    along_pos: np.ndarray,
    frame: np.ndarray,
    a: np.ndarray,
    weight: np.ndarray,
    offsets: np.ndarray,
    band_lo: int,
    band_hi: int,
    along: int,
    r2: float,
    delta: float,
    width: int,
    margin: int,
    slots: int,
    frames: int,
    power: int,
    slot_x: np.ndarray,
    counted: bool,
) -> tuple[np.ndarray, np.ndarray]:
    """Return the kernel sum and reached cells of a chunk of points on lines band_lo..band_hi (see _chord_sum)."""
    band = band_hi - band_lo + 1
    line = first + offsets  # (lines per point, points)
    d = line - line_pos
    d2 = d * d
    half = np.sqrt(np.maximum(r2 - d2, 0.0))
    t_lo = along_pos - half
    t_hi = along_pos + half
    lo = np.ceil(t_lo - delta)
    hi = np.floor(t_hi + delta)
    unsure = (lo <= t_lo + delta) | (hi >= t_hi - delta)
    if unsure.any():
        # An end within rounding of a cell centre: the comparison d² ≤ radius² itself decides that cell.
        i, j = np.nonzero(unsure)
        lo[i, j] += (lo[i, j] - along_pos[j]) ** 2 + d2[i, j] > r2
        hi[i, j] -= (hi[i, j] - along_pos[j]) ** 2 + d2[i, j] > r2
    lo = np.maximum(lo, 0).astype(np.int64)
    hi = np.minimum(hi, along - 1).astype(np.int64)
    ok = (lo <= hi) & (line >= band_lo) & (line <= band_hi)
    size = band * frames * slots
    base = ((line - band_lo) * frames + frame) * slots + (margin - frame * width)
    lo += base
    hi += base
    hi += 1
    starts = np.where(ok, lo, size).ravel()
    ends = np.where(ok, hi, size).ravel()
    alpha = d2
    alpha *= -1.0 / r2
    alpha += 1.0 - a * a
    sums = []
    for c in _coefficients(power, alpha, 2.0 * a):
        c = (c * weight).ravel()
        total = np.bincount(starts, weights=c, minlength=size + 1)
        total -= np.bincount(ends, weights=c, minlength=size + 1)
        sums.append(total[:size])
    grid = np.cumsum(np.stack(sums).reshape(len(sums), band, frames, slots), axis=3)[..., :-1]
    values = grid[-1].copy()
    for k in range(len(sums) - 2, -1, -1):  # Horner, highest power first
        values *= slot_x
        values += grid[k]
    if counted:
        count = np.bincount(starts, minlength=size + 1) - np.bincount(ends, minlength=size + 1)
        hit = np.cumsum(count[:size].reshape(band, frames, slots), axis=2)[..., :-1] > 0
    else:
        hit = grid[-1] != 0
    return _fold(values, width, margin, along), _fold(hit.astype(np.int64), width, margin, along) > 0


def _fold(framed: np.ndarray, width: int, margin: int, along: int) -> np.ndarray:
    """Return [line, frame, slot] values added into [line, cell]: a frame's margins overlap its neighbours."""
    band, frames, _ = framed.shape
    padded = np.zeros((band, (frames + 1) * width + margin), dtype=framed.dtype)
    padded[:, margin : margin + frames * width] += framed[:, :, margin : margin + width].reshape(band, -1)
    padded[:, : frames * width].reshape(band, frames, width)[:, :, :margin] += framed[:, :, :margin]
    right = padded[:, width + margin : width + margin + frames * width].reshape(band, frames, width)
    right[:, :, :margin] += framed[:, :, margin + width :]
    return padded[:, margin : margin + along]


def _window_sum(
    grid: Grid,
    x: np.ndarray,
    y: np.ndarray,
    weight: np.ndarray,
    bandwidth: float,
    kernel: str,
    decay: float,
    is_cancelled: Callable[[], bool] | None,
    progress: Callable[[float], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return kernel_sum's result by evaluating the kernel on every cell of each point's square window."""
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
