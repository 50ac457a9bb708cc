"""Kernel density of crime points, evaluated exactly at cell centres, fast.

QGIS's heatmap stamps a (2·h/px+1)² block of cells for every point, one point at a time. police.uk
points are anonymised snap points, so a year of crime has far fewer distinct locations than crimes:
identical points are merged first (their weights summed) and each is summed over its window. A force's
own geocoded records are nearly all distinct: each point goes in its nearest cell (its bin), the cells
that every place in a bin reaches are summed from the bins' moments by FFT convolution (_interior_sum),
and only the ring of cells a point may or may not reach is evaluated point by point (_points_sum,
docs/methods.md §2.7). Every value is the kernel at the true distance from the point to the cell centre,
so the surface equals a brute-force evaluation to floating-point precision.

Kernels and their normalising constants are those of QGIS's qgskde.cpp (docs/methods.md) with
the scaled quartic corrected to 3/(πh²), so a scaled surface integrates to the number of crimes.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
from concurrent.futures import ThreadPoolExecutor, wait
from typing import Callable, Iterator

import numpy as np
import pandas as pd

from crime_mapping_plugin.core.grid import Grid

try:  # scipy's FFT is about twice numpy 1's; the sums are the same to rounding. QGIS may not ship scipy.
    from scipy import fft as _fft
except ImportError:  # pragma: no cover - depends on the installation
    from numpy import fft as _fft

# The order of QGIS's heatmap KERNEL enum, so an index means the same kernel in both.
KERNELS: tuple[str, ...] = ("quartic", "triangular", "uniform", "triweight", "epanechnikov")


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


def points_for_sum(
    x: np.ndarray, y: np.ndarray, weight: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, Callable[[], int]]:
    """Return the points to pass to kernel_sum, and a function giving the number of distinct locations.

    Crimes that share places (police.uk's snap points) are merged, which makes the sum faster. Where a sample
    shows nearly every crime at its own place (a force's own geocoded records), merging would save little
    and cost a pass of hashing: the points are passed as they are, and the exact count of distinct locations
    is made in a thread beside the sum (pandas' hashing lets go of the GIL).
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    weight = np.asarray(weight, float)
    n = len(x)
    if n > _SAMPLE * 8:
        step = n // _SAMPLE
        sample = pd.factorize(x[::step] + 1j * y[::step])[1]
        if len(sample) >= 0.95 * len(x[::step]):
            pool = ThreadPoolExecutor(max_workers=1)
            count = pool.submit(distinct_count, x, y)
            pool.shutdown(wait=False)
            return x, y, weight, count.result
    ux, uy, uw = merge_identical_points(x, y, weight)
    return ux, uy, uw, lambda: len(ux)


# Points looked at to decide whether merging identical points is worth it (points_for_sum).
_SAMPLE = 8192


def distinct_count(x: np.ndarray, y: np.ndarray) -> int:
    """Return the number of distinct (x, y) locations."""
    return len(merge_identical_points(x, y)[0])


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
    method: str = "auto",
) -> tuple[np.ndarray, np.ndarray]:
    """Return the raw weighted kernel sum at every cell centre and the mask of cells within reach of a point.

    A point reaches a cell when the distance from the point to the cell centre is at most the bandwidth.
    Pass the points of points_for_sum for speed; the result does not depend on it. Each point is
    put in the cell whose centre is nearest (its bin). For the polynomial kernels, the cells that every point
    of a bin reaches are summed from the bins' moments by one convolution (_interior_sum); only the ring of
    cells that a bin's points may or may not reach is evaluated point by point (_points_sum). The triangular
    kernel, and inputs where the convolution would cost more, evaluate every cell within reach point by
    point. Both are exact (docs/methods.md §2.7). method is "auto", "window" or "moments" (for tests and
    benchmarks: the result is the same).
    """
    if bandwidth <= 0:
        raise ValueError("The bandwidth must be positive.")
    if kernel not in KERNELS:
        raise ValueError(f"Unknown kernel '{kernel}'; choose one of {', '.join(KERNELS)}.")
    if method not in ("auto", "window", "moments"):
        raise ValueError(f"Unknown method '{method}'; choose auto, window or moments.")
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    weight = np.asarray(weight, float)
    power = _POWER.get("uniform" if kernel == "triangular" and decay == 1.0 else kernel)
    radius = bandwidth / grid.cell
    reach = int(math.floor(radius + 0.5 + 1e-6))  # no offset farther than this along a row or column reaches
    # Positions in cells, from the centre of row 0 and of column 0: a cell centre is at whole numbers.
    row = (grid.y_max - y) / grid.cell - 0.5
    col = (x - grid.x_min) / grid.cell - 0.5
    keep = np.isfinite(weight)
    keep &= row >= -reach - 0.5
    keep &= row < grid.rows + reach - 0.5  # also False for NaN
    keep &= col >= -reach - 0.5
    keep &= col < grid.cols + reach - 0.5
    if not keep.all():
        row, col, weight = row[keep], col[keep], weight[keep]
    # The frame: the grid with 2·reach cells around it, so that every offset of every kept bin is inside it.
    frame = _Frame(grid.rows, grid.cols, reach)
    bin_row = np.floor(row + 0.5)
    bin_col = np.floor(col + 0.5)
    row -= bin_row  # now the point's offset from its bin's centre, in [−½, ½]
    col -= bin_col
    bin_row = bin_row.astype(np.int64)
    bin_row += 2 * reach
    bin_col = bin_col.astype(np.int64)
    bin_col += 2 * reach
    offsets = _Offsets(radius, reach)
    moments = power is not None and radius >= _MIN_MOMENT_CELLS and len(row) > 0
    if moments and method == "auto":
        moments = _moment_cost(len(row), offsets, frame, power) < _window_cost(len(row), offsets)
    elif method == "window":
        moments = False
    elif method == "moments" and not moments:
        raise ValueError("The moment sum needs a polynomial kernel and a bandwidth of at least one cell.")
    value = _kernel_value(power, decay, radius)
    # Reached cells are read from the sum where every value inside the disc is positive; otherwise counted.
    by_value = power is not None and len(weight) > 0 and float(weight.min()) > 1e-200
    points, groups = _by_phase(
        _Points(bin_row, bin_col, row, col, weight), offsets, frame, with_inner=not moments
    )  # fmt: skip
    if not moments:
        total, reached = _points_sum(frame, points, groups, radius * radius, value, by_value, is_cancelled, progress)
        return frame.crop(total), frame.crop(reached)
    stop = threading.Event()
    switch = sys.getswitchinterval()
    with ThreadPoolExecutor(max_workers=1) as pool:
        # The FFT lets go of the GIL: the convolution runs beside the ring's point-by-point sum, and a short
        # switch interval keeps either from waiting on the other's hold of the GIL.
        sys.setswitchinterval(min(switch, 0.0005))
        try:
            inner = pool.submit(_interior_sum, frame, points, offsets, radius, power, stop)
            total, reached = _points_sum(
                frame, points, groups, radius * radius, value, by_value, is_cancelled, progress
            )
            while not inner.done():
                if is_cancelled is not None and is_cancelled():
                    stop.set()
                wait([inner], timeout=0.05)
        finally:
            stop.set()
            sys.setswitchinterval(switch)
        inner_total, inner_count = inner.result()
    total = frame.crop(total) + inner_total
    reached = frame.crop(reached) | (inner_count > 0.5)
    total[~reached] = 0.0
    return total, reached


# The raw kernels that are a power of s = 1 − u² (uniform, Epanechnikov, quartic, triweight): s**power.
_POWER = {"uniform": 0, "epanechnikov": 1, "quartic": 2, "triweight": 3}
# Under this many cells per bandwidth nearly every cell of a window is on the ring: the window is evaluated.
_MIN_MOMENT_CELLS = 1.5
# (point, offset) pairs per chunk of _points_sum: keeps its temporary arrays in the processor's cache.
_CHUNK_PAIRS = 65_536
# (cell, value) pairs _points_sum keeps before adding them into their band of rows.
_BUFFER_PAIRS = 1_000_000
# Cells a band of _points_sum's adds into: its sums stay in the processor's cache.
_BAND_CELLS = 131_072
# At least this many chunks, so that progress moves and a cancel is seen soon even with few points.
_MIN_CHUNKS = 20
# FFT tile sides _interior_sum chooses from (with the whole grid's), and a tile's fixed cost in cells.
_TILE_SIZES = (128, 160, 192, 256, 320, 384, 512, 640, 768, 1024)
_TILE_OVERHEAD = 60_000
# Relative cost of one FFT of one cell (× log₂ of the cells) against one (point, offset) pair, as measured.
_FFT_COST = 0.2


class _Frame:
    """The grid with 2·reach cells of margin on every side: where bins and their offsets are indexed."""

    def __init__(self, rows: int, cols: int, reach: int) -> None:
        self.rows, self.cols, self.reach = rows, cols, reach
        self.margin = 2 * reach
        self.frame_rows = rows + 2 * self.margin
        self.frame_cols = cols + 2 * self.margin

    def crop(self, flat: np.ndarray) -> np.ndarray:
        """Return the grid's cells of a flat array over the frame, as [row, col]."""
        m = self.margin
        return np.ascontiguousarray(
            flat.reshape(self.frame_rows, self.frame_cols)[m : m + self.rows, m : m + self.cols]
        )


class _Points:
    """Points: the bin in frame cells and the offset from its centre, in cells (ordered by _by_phase).

    band_start[b] is the first point of band of rows b (bands of _band_rows rows) once ordered.
    """

    def __init__(self, bin_row: np.ndarray, bin_col: np.ndarray, frac_row: np.ndarray, frac_col: np.ndarray,
                 weight: np.ndarray) -> None:  # fmt: skip
        self.bin_row, self.bin_col = bin_row, bin_col
        self.frac_row, self.frac_col = frac_row, frac_col
        self.weight = weight
        self.unit = bool(np.all(weight == 1.0))
        self.band_start: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.bin_row)


class _Offsets:
    """The offsets (row, column) from a bin to the cells its points may reach, sorted into inner and ring.

    Inner: every point of the bin (within half a cell of its centre on each axis) reaches the cell, whatever
    its place. Ring: some may; each point's own distance decides. The other offsets no point of the bin
    reaches. For the ring, a bin is cut into _PHASES × _PHASES parts: a part's points need only the ring
    offsets that some place in that part reaches. The slack leaves a case decided by rounding to the points.
    """

    def __init__(self, radius: float, reach: int) -> None:
        d = np.arange(-reach, reach + 1)
        self.dr, self.dc = (a.ravel() for a in np.meshgrid(d, d, indexing="ij"))
        self.r2 = radius * radius
        self.slack = 1e-9 * (self.r2 + 1.0)
        far = (np.abs(self.dr) + 0.5) ** 2 + (np.abs(self.dc) + 0.5) ** 2
        self.is_inner = far < self.r2 - self.slack
        self.inner = (self.dr[self.is_inner], self.dc[self.is_inner])
        self.ring = self.phase(-0.5, 0.5, -0.5, 0.5)

    def phase(self, row_lo: float, row_hi: float, col_lo: float, col_hi: float, with_inner: bool = False) -> tuple:
        """Return the offsets not inner that a point with its offset in the given rectangle may reach."""

        def gap(offset: np.ndarray, lo: float, hi: float) -> np.ndarray:
            return np.maximum(np.maximum(offset - hi, lo - offset), 0.0)

        nearest = gap(self.dr, row_lo, row_hi) ** 2 + gap(self.dc, col_lo, col_hi) ** 2
        chosen = nearest <= self.r2 + self.slack
        if not with_inner:
            chosen &= ~self.is_inner
        return self.dr[chosen], self.dc[chosen]


# Each axis of a bin is cut into this many parts for the ring's offsets (_Offsets.phase).
_PHASES = 4


def _by_phase(points: _Points, offsets: _Offsets, frame: _Frame, with_inner: bool) -> tuple[_Points, list[tuple]]:
    """Return the points ordered by band of rows and part of their bin (_Offsets.phase), and the groups.

    A group is (first, last + 1, row offsets, column offsets, band): its points' slice and the offsets they
    need. The bands are a few rows high, so that the cells one band's points reach stay in the processor's cache.
    """
    height = _band_rows(frame)
    edges = np.linspace(-0.5, 0.5, _PHASES + 1)
    part = np.clip(np.floor((points.frac_row + 0.5) * _PHASES), 0, _PHASES - 1).astype(np.int32) * _PHASES
    part += np.clip(np.floor((points.frac_col + 0.5) * _PHASES), 0, _PHASES - 1).astype(np.int32)
    key = points.bin_row // height
    key *= _PHASES * _PHASES
    key += part
    bands = -(-frame.frame_rows // height)
    keys = bands * _PHASES * _PHASES
    order = _stable_order(key)
    bounds = np.searchsorted(key[order], np.arange(keys + 1))
    phased = _Points(
        points.bin_row[order], points.bin_col[order], points.frac_row[order], points.frac_col[order],
        points.weight[order],
    )  # fmt: skip
    phased.band_start = bounds[:: _PHASES * _PHASES]
    parts = {}
    groups = []
    for k in np.flatnonzero(np.diff(bounds)):
        band, phase = divmod(int(k), _PHASES * _PHASES)
        if phase not in parts:
            i, j = divmod(phase, _PHASES)
            parts[phase] = offsets.phase(edges[i], edges[i + 1], edges[j], edges[j + 1], with_inner)
        groups.append((int(bounds[k]), int(bounds[k + 1]), *parts[phase], band))
    return phased, groups


def _band_rows(frame: _Frame) -> int:
    """Return the rows of bins per band of _points_sum: its cells, and reach beyond, fill about _BAND_CELLS."""
    return max(1, _BAND_CELLS // frame.frame_cols - 2 * frame.reach)


def _window_cost(n: int, offsets: _Offsets) -> float:
    """Return the cost of evaluating every cell within reach point by point, in (point, offset) pairs."""
    return n * (len(offsets.inner[0]) + len(offsets.ring[0])) * 0.8


def _stable_order(values: np.ndarray) -> np.ndarray:
    """Return the stable order of non-negative whole numbers (numpy's radix sort when they fit in 16 bits)."""
    if len(values) and int(values.max()) < 2**15:
        return np.argsort(values.astype(np.int16), kind="stable")
    return np.argsort(values, kind="stable")


def _kernel_value(power: int | None, decay: float, radius: float) -> Callable:
    """Return f(s, out), which puts the raw kernel (0 outside the disc) for s = R² − d², in cells², into out.

    The polynomial kernels are (s / R²)**power: scaled before the power, so each value is at most 1 and no
    weight can overflow by it.
    """
    r2 = radius * radius
    inverse = 1.0 / r2

    def polynomial(s: np.ndarray, out: np.ndarray) -> None:
        if power == 0:
            np.greater_equal(s, 0.0, out=out, casting="unsafe")
            return
        np.maximum(s, 0.0, out=out)
        out *= inverse
        if power >= 2:
            t = out.copy() if power == 3 else None
            np.multiply(out, out, out=out)
            if t is not None:
                out *= t

    def triangular(s: np.ndarray, out: np.ndarray) -> None:
        inside = s >= 0
        np.subtract(r2, s, out=out)  # d²
        np.maximum(out, 0.0, out=out)
        out *= inverse
        np.sqrt(out, out=out)
        out *= -(1.0 - decay)
        out += 1.0
        out *= inside

    return triangular if power is None else polynomial


def _points_sum(
    frame: _Frame,
    points: _Points,
    groups: list[tuple],
    r2: float,
    value: Callable,
    by_value: bool,
    is_cancelled: Callable[[], bool] | None,
    progress: Callable[[float], None] | None,
) -> tuple[np.ndarray, np.ndarray]:
    """Return Σ w·K over the frame's cells at each group's offsets of its points' bins, and the cells reached.

    Each (point, offset) pair is evaluated at the point's own distance to the cell centre, d² ≤ R² deciding
    whether it reaches the cell. With the point at f from its bin's centre and the cell at offset D,
    R² − d² = (R² − |D|²) + 2·D·f − |f|²: one small matrix product per chunk. Pairs are put in a buffer of
    (cell, value) and added into their band of rows by one bincount when it is full or the band ends.
    """
    size = frame.frame_rows * frame.frame_cols
    total = np.zeros(size)
    reached = np.zeros(size, dtype=bool)
    pairs = sum((last - first) * len(dr) for first, last, dr, _, _ in groups)
    if pairs == 0:
        if progress is not None:
            progress(1.0)
        return total, reached
    cols = frame.frame_cols
    height = _band_rows(frame)
    per_point = np.empty((_CHUNK_PAIRS, 4))
    per_point[:, 3] = 1.0
    # A chunk is at most _CHUNK_PAIRS pairs, or one point's offsets where it has more (a bandwidth of hundreds
    # of cells): the buffer holds at least one chunk.
    room = int(min(pairs, max(_BUFFER_PAIRS, max(len(dr) for _, _, dr, _, _ in groups))))
    cells = np.empty(room, dtype=np.intp)
    values = np.empty(room)
    inside = None if by_value else np.empty(room, dtype=bool)
    on_circle: list[np.ndarray] = []  # cell centres exactly at distance R: reached, with a value of 0
    used = 0  # pairs in the buffer, all of one band of rows
    band = None
    done = 0

    def flush() -> None:
        nonlocal used
        if used == 0:
            return
        lo = max(band * height - frame.reach, 0) * cols
        hi = min((band + 1) * height + frame.reach, frame.frame_rows) * cols
        where = cells[:used]
        where -= lo
        summed = np.bincount(where, weights=values[:used], minlength=hi - lo)
        total[lo:hi] += summed
        if by_value:
            reached[lo:hi] |= summed > 0
        else:
            reached[lo:hi] |= np.bincount(where, weights=inside[:used], minlength=hi - lo) > 0
        if on_circle:
            reached[np.concatenate(on_circle)] = True
            on_circle.clear()
        used = 0

    for first, last, dr, dc, group_band in groups:
        if len(dr) == 0:
            continue
        if group_band != band:
            flush()
            band = group_band
        flat_offset = (dr * cols + dc)[None, :]
        per_offset = np.stack([dc, dr, np.ones(len(dr)), r2 - dc * dc - dr * dr]).astype(float)
        chunk = max(1, min(_CHUNK_PAIRS // len(dr), -(-pairs // (_MIN_CHUNKS * len(dr)))))
        for start in range(first, last, chunk):
            if is_cancelled is not None and is_cancelled():
                flush()  # what was summed so far, so that a partial sum is a sum of whole pairs
                return total, reached
            stop = min(last, start + chunk)
            n = (stop - start) * len(dr)
            if used + n > room:
                flush()
            m = stop - start
            frac_col, frac_row = points.frac_col[start:stop], points.frac_row[start:stop]
            np.multiply(frac_col, 2.0, out=per_point[:m, 0])
            np.multiply(frac_row, 2.0, out=per_point[:m, 1])
            np.multiply(frac_col, frac_col, out=per_point[:m, 2])
            per_point[:m, 2] += frac_row * frac_row
            per_point[:m, 2] *= -1.0
            s = per_point[:m] @ per_offset  # R² − d²: ≥ 0 where the point reaches the cell
            where = cells[used : used + n].reshape(m, len(dr))
            base = points.bin_row[start:stop] * cols
            base += points.bin_col[start:stop]
            np.add(base[:, None], flat_offset, out=where)
            got = values[used : used + n].reshape(m, len(dr))
            value(s, got)
            if not points.unit:
                got *= points.weight[start:stop, None]
            if by_value:
                circle = s == 0
                if circle.any():
                    on_circle.append(where[circle])
            else:
                np.greater_equal(s, 0.0, out=inside[used : used + n].reshape(m, len(dr)))
            used += n
            done += n
            if progress is not None:
                progress(done / pairs)
    flush()
    return total, reached


def _monomials(power: int) -> list[tuple[int, int, int]]:
    """Return the exponents (j, l, q) of the moments Σ w·a^j·b^l·r^q that s**power needs."""
    return [(j, k, q) for j in range(power + 1) for k in range(power + 1 - j) for q in range(power + 1 - j - k)]


def _fast_size(n: int) -> int:
    """Return the smallest 2^a·3^b·5^c at least n: a length numpy's FFT does quickly."""
    best = 1 << max(int(n - 1).bit_length(), 0)
    p5 = 1
    while p5 < 2 * n:
        p35 = p5
        while p35 < 2 * n:
            size = p35
            while size < n:
                size *= 2
            best = min(best, size)
            p35 *= 3
        p5 *= 5
    return best


def _tile_shape(frame: _Frame) -> tuple[int, int]:
    """Return the FFT tile (rows, columns) of _interior_sum: fewest cells transformed, overlaps included."""
    margin = 2 * frame.reach

    def sizes(cells: int) -> list[int]:
        whole = _fast_size(cells + margin)
        return sorted({n for n in _TILE_SIZES if 2 * margin <= n <= whole} | {whole})

    def cost(n_r: int, n_c: int) -> float:
        return _tiles(frame, n_r, n_c) * (n_r * n_c * math.log2(n_r * n_c) + _TILE_OVERHEAD)

    return min(((r, c) for r in sizes(frame.rows) for c in sizes(frame.cols)), key=lambda rc: cost(*rc))


def _tiles(frame: _Frame, n_r: int, n_c: int) -> int:
    """Return the number of n_r × n_c FFT tiles that cover the grid (each gives all but reach at its edges)."""
    margin = 2 * frame.reach
    return -(-frame.rows // (n_r - margin)) * -(-frame.cols // (n_c - margin))


def _moment_cost(n: int, offsets: _Offsets, frame: _Frame, power: int) -> float:
    """Return the cost of the moment sum in (point, offset) pairs, as the window's is n × its offsets."""
    n_r, n_c = _tile_shape(frame)
    ffts = len(_monomials(power)) + 2
    fft = _FFT_COST * _tiles(frame, n_r, n_c) * ffts * (n_r * n_c * math.log2(n_r * n_c) + _TILE_OVERHEAD)
    # The convolution runs beside the ring's sum: the longer of the two counts. The ring's parts (_by_phase)
    # take about half its offsets.
    return max(0.5 * n * len(offsets.ring[0]), fft) + n * len(_monomials(power))


@functools.lru_cache(maxsize=2)
def _cached_spectra(radius: float, reach: int, power: int, n_r: int, n_c: int) -> tuple[list[np.ndarray], np.ndarray]:
    """Return _kernel_spectra for these settings, kept for the next run (a density per month repeats them).

    The arrays are shared: callers must not change them.
    """
    return _kernel_spectra(_Offsets(radius, reach).inner, radius, reach, power, n_r, n_c)


def _kernel_spectra(
    inner: tuple[np.ndarray, np.ndarray], radius: float, reach: int, power: int, n_r: int, n_c: int
) -> tuple[list[np.ndarray], np.ndarray]:
    """Return the real-FFT spectra, on an n_r × n_c torus, of each moment's kernel and of the inner disc.

    With e = (row, column) offset / R and a bin's point at (b, a)·R from its centre, r = a² + b²:
    1 − d²/R² = B + 2·e_col·a + 2·e_row·b − r with B = 1 − |e|², so s**power is a sum over the moments' terms,
    each with a kernel that is a polynomial in e on the inner offsets. A small kernel (2·reach + 1 square)
    is transformed by two matrix products (a DFT by definition), cheaper than a full FFT; a large one by FFT.
    """
    dr, dc = inner
    e_row, e_col = dr / radius, dc / radius
    base = 1.0 - e_row * e_row - e_col * e_col
    side = 2 * reach + 1
    d = np.arange(-reach, reach + 1)
    by_dft = side * (n_r + n_c) < 4 * n_r * n_c * math.log2(n_r * n_c) / side
    if by_dft:
        rows_dft = np.exp(-2j * np.pi * np.outer(np.arange(n_r), d) / n_r)
        cols_dft = np.exp(-2j * np.pi * np.outer(np.arange(n_c // 2 + 1), d) / n_c)

    def spectrum(values: np.ndarray) -> np.ndarray:
        if by_dft:
            small = np.zeros((side, side))
            small[dr + reach, dc + reach] = values
            return (rows_dft @ small) @ cols_dft.T
        torus = np.zeros((n_r, n_c))
        torus[dr % n_r, dc % n_c] = values  # offset D at D mod n: a circular convolution's kernel
        return _fft.rfft2(torus)

    spectra = []
    for j, k, q in _monomials(power):
        i = power - j - k - q
        multinomial = math.factorial(power) // (
            math.factorial(i) * math.factorial(j) * math.factorial(k) * math.factorial(q)
        )
        coefficient = multinomial * base**i * (2.0 * e_col) ** j * (2.0 * e_row) ** k * (-1.0) ** q
        spectra.append(spectrum(coefficient))
    return spectra, spectrum(np.ones(len(dr)))


def _moments(
    frac_col: np.ndarray, frac_row: np.ndarray, weight: np.ndarray | None, radius: float, monomials: list[tuple]
) -> Iterator[np.ndarray]:
    """Yield w·a^j·b^l·r^q of each point for each monomial, each made from a lower one by one product.

    a and b are the point's column and row offsets from its bin's centre in bandwidths, r = a² + b²; a weight
    of None is 1 for every point.
    """
    along = {(1, 0, 0): frac_col / radius, (0, 1, 0): frac_row / radius}
    along[(0, 0, 1)] = along[(1, 0, 0)] * along[(1, 0, 0)] + along[(0, 1, 0)] * along[(0, 1, 0)]
    made = {(0, 0, 0): np.ones(len(frac_col)) if weight is None else weight}
    for key in monomials:
        if key not in made:
            # Lower one exponent that is not zero: that monomial came before (monomials are in that order).
            step = next(u for u in ((0, 0, 1), (0, 1, 0), (1, 0, 0)) if all(e >= d for e, d in zip(key, u)))
            lower = tuple(e - d for e, d in zip(key, step))
            made[key] = along[step] if lower == (0, 0, 0) and weight is None else made[lower] * along[step]
        yield made[key]


def _interior_sum(
    frame: _Frame, points: _Points, offsets: _Offsets, radius: float, power: int, stop: threading.Event
) -> tuple[np.ndarray, np.ndarray]:
    """Return the inner offsets' kernel sum on the grid and the count of points reaching each cell by them.

    Each bin's moments Σ w·a^j·b^l·r^q (a, b: its points' offsets from its centre, in bandwidths) are
    convolved with their kernels (_kernel_spectra) by FFT, tile by tile (overlap-save: a tile gives the cells
    at least reach from its edges, so nothing wraps). A tile holds only the points whose bins it covers, so
    memory is a few tiles whatever the grid; tiles with no point are skipped.
    """
    reach, rows, cols = frame.reach, frame.rows, frame.cols
    total = np.zeros((rows, cols))
    count = np.zeros((rows, cols))
    if len(offsets.inner[0]) == 0 or len(points) == 0:
        return total, count
    n_r, n_c = _tile_shape(frame)
    step_r, step_c = n_r - 2 * reach, n_c - 2 * reach
    spectra, disc = _cached_spectra(radius, reach, power, n_r, n_c)
    monomials = _monomials(power)
    band = _band_rows(frame)  # the points come in bands of this many rows (_by_phase)
    for top in range(0, rows, step_r):
        first = frame.margin + top - reach  # the frame row of the tiles' row 0
        a = int(points.band_start[first // band])
        b = int(points.band_start[min((first + n_r - 1) // band + 1, len(points.band_start) - 1)])
        rows_in = points.bin_row[a:b]
        within = a + np.flatnonzero((rows_in >= first) & (rows_in < first + n_r))
        if len(within) == 0:
            continue
        by_col = within[_stable_order(points.bin_col[within])]
        band_cols = points.bin_col[by_col]
        height = min(step_r, rows - top)  # the grid rows this band of tiles gives
        for left in range(0, cols, step_c):
            if stop.is_set():
                return total, count
            col0 = frame.margin + left - reach  # the frame column of the tile's column 0
            i, j = np.searchsorted(band_cols, [col0, col0 + n_c])
            if i == j:
                continue
            idx = by_col[i:j]
            local = (points.bin_row[idx] - first) * n_c
            local += points.bin_col[idx] - col0
            weight = None if points.unit else points.weight[idx]
            summed = np.zeros((n_r, n_c // 2 + 1), dtype=complex)
            counted = None
            moments = _moments(points.frac_col[idx], points.frac_row[idx], weight, radius, monomials)
            for moment, kernel_spectrum in zip(moments, spectra):
                transform = _fft.rfft2(np.bincount(local, weights=moment, minlength=n_r * n_c).reshape(n_r, n_c))
                if counted is None and weight is None:
                    counted = transform * disc  # the first moment is the count
                transform *= kernel_spectrum
                summed += transform
            if counted is None:
                counted = _fft.rfft2(np.bincount(local, minlength=n_r * n_c).reshape(n_r, n_c).astype(float))
                counted *= disc
            wide = min(step_c, cols - left)
            cells = np.s_[top : top + height, left : left + wide]
            total[cells] = _fft.irfft2(summed, s=(n_r, n_c))[reach : reach + height, reach : reach + wide]
            count[cells] = _fft.irfft2(counted, s=(n_r, n_c))[reach : reach + height, reach : reach + wide]
    return total, count


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
