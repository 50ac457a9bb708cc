"""Getis-Ord Gi* hot spots in numpy alone: grids, binary neighbour weights, z-scores, p-values and bins.

No QGIS import here, so the maths can be checked and benchmarked against PySAL esda in a plain venv.
Formulas: docs/methods.md §3 (Getis-Ord Gi*). With binary weights w_ij (w_ii = 1), N cells, x the values,
x_bar and s their mean and population standard deviation, W_i = sum_j w_ij (= S1_i for binary weights):

    Z_i = (sum_j w_ij x_j - x_bar W_i) / (s sqrt((N W_i - W_i^2) / (N - 1)))

which is esda's ``G_Local(y, w, star=True, transform='B').Zs`` and ArcGIS's GiZScore.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np

from crime_mapping_plugin.core.grid import Grid, aligned_grid
from crime_mapping_plugin.core.wkb import ring_wkb, rows_as_bytes

SQRT2 = math.sqrt(2.0)
SQRT3 = math.sqrt(3.0)
# Distances equal to the band up to rounding (a diagonal neighbour at exactly cell x sqrt 2) are inside it.
BAND_TOLERANCE = 1e-9

CONFIDENCE_ALPHAS = ((3, 0.01), (2, 0.05), (1, 0.10))


class GiStarInputError(ValueError):
    """A problem with the cells or values that the user can fix."""


def default_cell_size(width: float, height: float) -> float:
    """Return sfhotspot's default cell size: min(width, height) / 50, floored to 100 m unless that gives 0."""
    side = min(width, height) / 50.0
    floored = math.floor(side / 100.0) * 100.0
    size = floored if floored > 0 else side
    if not size > 0:
        raise GiStarInputError(
            "The points lie on a line or a single spot, so no default cell size can be derived: give a cell size."
        )
    return size


class HexLattice:
    """The lattice of pointy-topped hexagons anchored at 0, 0: size is the distance between opposite flat sides.

    Centre rows are size·√3/2 apart and every other row is shifted by half a cell; a hexagon is the
    Voronoi cell of its centre, so the nearest centre holds a point.
    """

    def __init__(self, size: float) -> None:
        self.size = float(size)
        self.row_height = self.size * SQRT3 / 2.0
        self.circumradius = self.size / SQRT3

    def centres(self, col: np.ndarray, row: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the x and y of the centres of lattice cells (column, row)."""
        return (col + (row & 1) * 0.5) * self.size, row * self.row_height

    def index(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return the (column, row) of the hexagon that holds each point."""
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        # The nearest centre lies in one of the two rows that straddle the point.
        row0 = np.floor(y / self.row_height).astype(np.int64)
        best_col = np.zeros(len(x), np.int64)
        best_row = row0.copy()
        best_d = np.full(len(x), np.inf)
        for row in (row0, row0 + 1):
            shift = (row & 1) * 0.5
            col = np.round(x / self.size - shift).astype(np.int64)
            d = (x - (col + shift) * self.size) ** 2 + (y - row * self.row_height) ** 2
            better = d < best_d
            best_col = np.where(better, col, best_col)
            best_row = np.where(better, row, best_row)
            best_d = np.where(better, d, best_d)
        return best_col, best_row

    def over_extent(self, xmin: float, ymin: float, xmax: float, ymax: float) -> tuple[np.ndarray, np.ndarray]:
        """Return (column, row) of every hexagon whose centre is within a circumradius of the rectangle."""
        h, r = self.row_height, self.circumradius
        r0, r1 = math.floor((ymin - r) / h), math.ceil((ymax + r) / h)
        c0, c1 = math.floor((xmin - r) / self.size) - 1, math.ceil((xmax + r) / self.size) + 1
        _check_count((c1 - c0 + 1) * (r1 - r0 + 1))
        row, col = np.mgrid[r0 : r1 + 1, c0 : c1 + 1]
        col, row = col.ravel().astype(np.int64), row.ravel().astype(np.int64)
        cx, cy = self.centres(col, row)
        keep = (cx >= xmin - r) & (cx <= xmax + r) & (cy >= ymin - r) & (cy <= ymax + r)
        return col[keep], row[keep]


@dataclass
class Cells:
    """The grid cells Gi* analyses: some cells of a square raster Grid or of a HexLattice.

    col and row are each cell's place in the lattice anchored at 0, 0 (squares: floor(x / size), floor(y / size)),
    which names it (`ids`) the same in every run; cx, cy are the centres.
    """

    shape: str
    size: float
    col: np.ndarray
    row: np.ndarray
    cx: np.ndarray
    cy: np.ndarray

    def __len__(self) -> int:
        return len(self.cx)

    def subset(self, keep: np.ndarray) -> Cells:
        """Return the cells where keep is True."""
        return Cells(self.shape, self.size, self.col[keep], self.row[keep], self.cx[keep], self.cy[keep])

    def ids(self) -> list[str]:
        """Return each cell's id: shape initial, size, column and row, e.g. 's200_2652_901'."""
        prefix = f"{self.shape[0]}{self.size:g}"
        # Formatted once per distinct column and row, then joined by numpy: a grid has few of either.
        cols, col_of = np.unique(self.col, return_inverse=True)
        rows, row_of = np.unique(self.row, return_inverse=True)
        heads = np.array([f"{prefix}_{c}_" for c in cols.tolist()], dtype=object)
        tails = np.array([str(r) for r in rows.tolist()], dtype=object)
        return (heads[col_of] + tails[row_of]).tolist()

    def vertices(self) -> np.ndarray:
        """Return each cell's ring as an array (cells, corners + 1, 2), closed."""
        if self.shape == "square":
            h = self.size / 2.0
            dx = np.array([-h, h, h, -h, -h])
            dy = np.array([-h, -h, h, h, -h])
        else:
            r = self.size / SQRT3  # circumradius of a hexagon whose flats are `size` apart
            angles = np.radians(np.array([90.0, 150.0, 210.0, 270.0, 330.0, 30.0, 90.0]))
            dx, dy = r * np.cos(angles), r * np.sin(angles)
        return np.stack([self.cx[:, None] + dx[None, :], self.cy[:, None] + dy[None, :]], axis=2)

    def index_raster(self) -> tuple[np.ndarray, int, int] | None:
        """Return (index, first column, first row): each lattice place's cell number or -1, rows by columns.

        None when the cells are too sparse in their bounding box (a thin study area) for the raster to pay.
        """
        n = len(self)
        if n == 0:
            return None
        c0, r0 = int(self.col.min()), int(self.row.min())
        width, height = int(self.col.max()) - c0 + 1, int(self.row.max()) - r0 + 1
        if width * height > 4 * n + 1_000_000:
            return None
        index = np.full((height, width), -1, np.int64)
        index[self.row - r0, self.col - c0] = np.arange(n)
        return index, c0, r0

    def locate(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Return the index of the cell holding each point, -1 for points in none of the cells."""
        col, row = lattice_index(self.shape, self.size, x, y)
        raster = self.index_raster()
        if raster is not None:
            index, c0, r0 = raster
            col, row = col - c0, row - r0
            inside = (col >= 0) & (col < index.shape[1]) & (row >= 0) & (row < index.shape[0])
            found = np.full(len(col), -1, np.int64)
            found[inside] = index[row[inside], col[inside]]
            return found
        key_cells = _lattice_key(self.col, self.row)
        order = np.argsort(key_cells, kind="stable")
        sorted_keys = key_cells[order]
        keys = _lattice_key(col, row)
        pos = np.searchsorted(sorted_keys, keys)
        if len(sorted_keys) == 0:
            return np.full(len(keys), -1, np.int64)
        pos_clip = np.minimum(pos, len(sorted_keys) - 1)
        return np.where(sorted_keys[pos_clip] == keys, order[pos_clip], -1)


def _lattice_key(col: np.ndarray, row: np.ndarray) -> np.ndarray:
    return (col.astype(np.int64) << 32) + (row.astype(np.int64) + (1 << 31))


def lattice_index(shape: str, size: float, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return the (column, row) of the lattice cell that contains each point."""
    if shape == "square":
        col = np.floor(np.asarray(x, float) / size).astype(np.int64)
        return col, np.floor(np.asarray(y, float) / size).astype(np.int64)
    return HexLattice(size).index(x, y)


def square_cells(grid: Grid) -> Cells:
    """Return every cell of an aligned raster grid (core.grid.aligned_grid), south to north, west to east."""
    size = grid.cell
    xs, ys = grid.centres()
    raster_row, raster_col = np.mgrid[grid.rows - 1 : -1 : -1, 0 : grid.cols]
    raster_row, raster_col = raster_row.ravel(), raster_col.ravel()
    col = int(round(grid.x_min / size)) + raster_col.astype(np.int64)
    row = int(round(grid.y_max / size)) - 1 - raster_row.astype(np.int64)
    return Cells("square", size, col, row, xs[raster_col], ys[raster_row])


def grid_over_extent(shape: str, size: float, xmin: float, ymin: float, xmax: float, ymax: float) -> Cells:
    """Return every cell of the aligned lattice that meets the rectangle (hexagons: centre within a circumradius)."""
    if shape not in ("square", "hexagon"):
        raise GiStarInputError(f"Unknown cell shape '{shape}': use 'square' or 'hexagon'.")
    if not size > 0:
        raise GiStarInputError("The cell size must be greater than 0 metres.")
    if shape == "square":
        grid = aligned_grid(size, xmin, ymin, xmax, ymax)
        _check_count(grid.size)
        return square_cells(grid)
    lattice = HexLattice(size)
    col, row = lattice.over_extent(xmin, ymin, xmax, ymax)
    cx, cy = lattice.centres(col, row)
    return Cells(shape, size, col, row, cx, cy)


MAX_CELLS = 5_000_000


def _check_count(count: int) -> None:
    if count > MAX_CELLS:
        raise GiStarInputError(
            f"The grid would have {count:,} cells (more than {MAX_CELLS:,}): choose a larger cell size."
        )


def count_points(cells: np.ndarray, n_cells: int, weights: np.ndarray | None = None) -> np.ndarray:
    """Sum the points (or their weights) per cell; cell index -1 is ignored."""
    inside = cells >= 0
    w = None if weights is None else np.asarray(weights, float)[inside]
    return np.bincount(cells[inside], weights=w, minlength=n_cells).astype(float)


@dataclass
class Neighbours:
    """Binary spatial weights as directed pairs i -> j (i != j), in no particular order; Gi* adds the cell itself."""

    n: int
    i: np.ndarray
    j: np.ndarray

    def cardinality(self) -> np.ndarray:
        """Return the number of neighbours of each cell, itself not counted."""
        return np.bincount(self.i, minlength=self.n)


def distance_band(
    x: np.ndarray,
    y: np.ndarray,
    threshold: float,
    query: np.ndarray | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> Neighbours:
    """Return the pairs of distinct points no further apart than threshold, found through a grid hash."""
    i, j, _ = _band_pairs(np.asarray(x, float), np.asarray(y, float), threshold, query, is_cancelled)
    return Neighbours(len(x), i, j)


def lattice_band(cells: Cells, threshold: float, is_cancelled: Callable[[], bool] = lambda: False) -> Neighbours:
    """Return the pairs of distinct grid cells whose centres are no further apart than threshold.

    The same pairs as distance_band (the same distance test on the same centres), found by looking up each
    lattice offset that can be within the band in an index of the grid instead of searching a hash of centres.
    """
    if not threshold > 0:
        raise GiStarInputError("The neighbourhood distance must be greater than 0 metres.")
    n = len(cells)
    raster = cells.index_raster()
    if raster is None:  # no cells, or a sparse subset (a thin study area): search the centres instead
        return distance_band(cells.cx, cells.cy, threshold, is_cancelled=is_cancelled)
    index, c0, r0 = raster
    height, width = index.shape
    col, row = cells.col - c0, cells.row - r0
    limit = threshold * (1.0 + BAND_TOLERANCE)
    step_y = cells.size if cells.shape == "square" else HexLattice(cells.size).row_height
    reach_r = math.ceil(limit / step_y)
    reach_c = math.ceil(limit / cells.size) + 1
    margin = limit * (1.0 + 1e-6)  # offsets are pruned by lattice geometry; the exact test is on the centres
    out_i, out_j = [np.zeros(0, np.int64)], [np.zeros(0, np.int64)]
    for dr in range(-reach_r, reach_r + 1):
        for dc in range(-reach_c, reach_c + 1):
            if dr == 0 and dc == 0:
                continue
            # Hexagon rows of odd offset are shifted by half a cell one way or the other.
            dx = abs(dc) if cells.shape == "square" or dr % 2 == 0 else min(abs(dc - 0.5), abs(dc + 0.5))
            if math.hypot(dx * cells.size, dr * step_y) > margin:
                continue
            if is_cancelled():
                raise InterruptedError("cancelled")
            tr, tc = row + dr, col + dc
            inside = np.flatnonzero((tr >= 0) & (tr < height) & (tc >= 0) & (tc < width))
            j = index[tr[inside], tc[inside]]
            found = j >= 0
            i, j = inside[found], j[found]
            dx_ = cells.cx[i] - cells.cx[j]
            dy_ = cells.cy[i] - cells.cy[j]
            ok = dx_ * dx_ + dy_ * dy_ <= limit * limit
            out_i.append(i[ok])
            out_j.append(j[ok])
    return Neighbours(n, np.concatenate(out_i), np.concatenate(out_j))


DISTANCE_TIE = 1e-6  # metres: distances closer than this are equal for the k-nearest order
_QUERY_BLOCK = 50000  # points searched at once: bounded memory, and a cancel is seen between blocks


def _band_pairs(
    x: np.ndarray,
    y: np.ndarray,
    threshold: float,
    query: np.ndarray | None,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    if not threshold > 0:
        raise GiStarInputError("The neighbourhood distance must be greater than 0 metres.")
    n = len(x)
    empty = np.zeros(0, np.int64)
    if n == 0:
        return empty, empty, np.zeros(0)
    bx = np.floor((x - x.min()) / threshold).astype(np.int64)
    by = np.floor((y - y.min()) / threshold).astype(np.int64)
    stride = int(by.max()) + 3
    key = (bx + 1) * stride + (by + 1)
    order = np.argsort(key, kind="stable")
    skey = key[order]
    q = np.arange(n) if query is None else np.asarray(query, np.int64)
    out_i, out_j, out_d = [empty], [empty], [np.zeros(0)]
    limit = threshold * (1.0 + BAND_TOLERANCE)
    for start in range(0, len(q), _QUERY_BLOCK):
        if is_cancelled():
            raise InterruptedError("cancelled")
        block = q[start : start + _QUERY_BLOCK]
        qkey = key[block]
        for dx in (-1, 0, 1):
            for dy in (-1, 0, 1):
                target = qkey + dx * stride + dy
                lo = np.searchsorted(skey, target, "left")
                hi = np.searchsorted(skey, target, "right")
                counts = hi - lo
                total = int(counts.sum())
                if total == 0:
                    continue
                qi = np.repeat(block, counts)
                # positions lo..hi-1 for each query, flattened without a Python loop
                starts = np.repeat(lo - np.cumsum(counts) + counts, counts)
                cand = order[starts + np.arange(total)]
                dx_ = x[qi] - x[cand]
                dy_ = y[qi] - y[cand]
                d2 = dx_ * dx_ + dy_ * dy_
                ok = (d2 <= limit * limit) & (qi != cand)
                out_i.append(qi[ok])
                out_j.append(cand[ok])
                out_d.append(np.sqrt(d2[ok]))
    # Unsorted: Gi* sums by bincount and does not need the pairs in order.
    return np.concatenate(out_i), np.concatenate(out_j), np.concatenate(out_d)


def k_nearest(x: np.ndarray, y: np.ndarray, k: int, is_cancelled: Callable[[], bool] = lambda: False) -> Neighbours:
    """Return each point's k nearest other points; equal distances (within DISTANCE_TIE m) go by input order.

    Distances are rounded to DISTANCE_TIE before ordering: on a hexagonal grid the six equidistant neighbours
    differ in their last bits of floating point, which would otherwise decide which of them is taken.
    """
    x = np.asarray(x, float)
    y = np.asarray(y, float)
    n = len(x)
    if k < 1:
        raise GiStarInputError("The number of neighbours must be at least 1.")
    if n <= k:
        raise GiStarInputError(f"{k} nearest neighbours need more than {k} cells; there are {n}.")
    # Search a radius that holds about 2k points on average, double it for the points that found fewer
    # than k: all points within the radius are seen, so the k nearest among them are the true k nearest.
    area = max(float(np.ptp(x)) * float(np.ptp(y)), 1e-12)
    radius = math.sqrt(area * 2.0 * k / (math.pi * n))
    if not radius > 0:
        radius = max(float(np.ptp(x)), float(np.ptp(y)), 1.0)
    todo = np.arange(n)
    out_i, out_j = [], []
    while len(todo):
        i, j, d = _band_pairs(x, y, radius, todo, is_cancelled)
        found = np.bincount(i, minlength=n)
        done = todo[found[todo] >= k]
        mask = np.isin(i, done)
        i, j, d = i[mask], j[mask], d[mask]
        sort = np.lexsort((j, np.round(d / DISTANCE_TIE), i))
        i, j = i[sort], j[sort]
        first = np.searchsorted(i, i, "left")
        rank = np.arange(len(i)) - first
        take = rank < k
        out_i.append(i[take])
        out_j.append(j[take])
        todo = todo[found[todo] < k]
        radius *= 2.0
    i = np.concatenate(out_i)
    j = np.concatenate(out_j)
    sort = np.lexsort((j, i))
    return Neighbours(n, i[sort], j[sort])


def smallest_connecting_distance(x: np.ndarray, y: np.ndarray) -> float:
    """Return the distance at which every point has at least one neighbour (the largest nearest-neighbour gap)."""
    nn = k_nearest(x, y, 1)
    d = np.hypot(np.asarray(x)[nn.i] - np.asarray(x)[nn.j], np.asarray(y)[nn.i] - np.asarray(y)[nn.j])
    return float(d.max())


def gi_star(values: np.ndarray, nb: Neighbours) -> np.ndarray:
    """Return Gi* z-scores (binary weights, the cell itself included) of values shaped (cells,) or (slices, cells)."""
    v = np.asarray(values, float)
    one = v.ndim == 1
    v2 = v[None, :] if one else v
    n = nb.n
    if v2.shape[1] != n:
        raise GiStarInputError(f"{v2.shape[1]} values for {n} cells.")
    if n < 2:
        raise GiStarInputError("Gi* needs at least 2 cells.")
    w = (nb.cardinality() + 1).astype(float)
    mean = v2.mean(axis=1, keepdims=True)
    sd = v2.std(axis=1, keepdims=True)  # population standard deviation, as esda and ArcGIS
    z = np.full(v2.shape, np.nan)
    for t in range(v2.shape[0]):
        if not sd[t, 0] > 0:
            continue  # every cell equal: no z-scores
        lag = v2[t] + np.bincount(nb.i, weights=v2[t][nb.j], minlength=n)
        z[t] = (lag - mean[t, 0] * w) / (sd[t, 0] * np.sqrt((n * w - w * w) / (n - 1)))
    return z[0] if one else z


def gi_star_space_time(
    values: np.ndarray, nb: Neighbours, steps: int = 1, is_cancelled: Callable[[], bool] = lambda: False
) -> np.ndarray:
    """Return space-time Gi* z-scores of a cube (slices, cells), as ArcGIS's Emerging Hot Spot Analysis.

    The neighbours of bin (t, c) are the bins (t', c') with t − steps ≤ t' ≤ t and c' = c or a spatial
    neighbour of c: the bin itself included, binary weights. The mean and the (population) standard deviation
    are those of the whole cube and n is the number of bins: z = (Σ_j x_j − x̄·w) / (S·√((n·w − w²)/(n − 1))),
    w = the bin's number of neighbours in space-time. NaN everywhere when every bin holds the same value.
    """
    v = np.asarray(values, float)
    if v.ndim != 2 or v.shape[1] != nb.n:
        raise GiStarInputError(f"A cube of (slices, {nb.n} cells) values is needed, not {v.shape}.")
    n_slices, n = v.shape
    total = n_slices * n
    if total < 2:
        raise GiStarInputError("Gi* needs at least 2 bins.")
    mean, sd = v.mean(), v.std()  # population standard deviation over the whole cube, as ArcGIS
    z = np.full(v.shape, np.nan)
    if not sd > 0:
        return z
    spatial = np.empty(v.shape)
    for t in range(n_slices):
        if is_cancelled():
            raise InterruptedError("cancelled")
        spatial[t] = v[t] + np.bincount(nb.i, weights=v[t][nb.j], minlength=n)
    per_slice = (nb.cardinality() + 1).astype(float)
    for t in range(n_slices):
        first = max(0, t - steps)
        lag = spatial[first : t + 1].sum(axis=0)
        w = per_slice * (t + 1 - first)
        z[t] = (lag - mean * w) / (sd * np.sqrt((total * w - w * w) / (total - 1)))
    return z


_ERFC = np.frompyfunc(math.erfc, 1, 1)


def two_sided_p(z: np.ndarray) -> np.ndarray:
    """Return the two-sided normal p-value erfc(|z| / sqrt 2); NaN stays NaN."""
    z = np.asarray(z, float)
    # math.erfc (exact to the last bit) once per distinct |z|: cells of counts share few distinct z-scores.
    distinct, where = np.unique(np.abs(z), return_inverse=True)
    return _ERFC(distinct / SQRT2).astype(float)[where].reshape(z.shape)


def fdr_critical_p(p: np.ndarray, alpha: float) -> float:
    """Return the Benjamini-Hochberg critical p at level alpha: the largest p_(k) <= k alpha / m, or 0 if none."""
    ps = np.sort(np.asarray(p, float)[~np.isnan(p)])
    m = len(ps)
    if m == 0:
        return 0.0
    ok = ps <= np.arange(1, m + 1) * alpha / m
    return float(ps[np.nonzero(ok)[0][-1]]) if ok.any() else 0.0


def confidence_bins(z: np.ndarray, p: np.ndarray, fdr: bool = True) -> np.ndarray:
    """Return ArcGIS's Gi_Bin: +-3/+-2/+-1 for 99/95/90 % confidence, 0 otherwise (BH-corrected if fdr)."""
    z = np.asarray(z, float)
    p = np.asarray(p, float)
    level = np.zeros(z.shape, np.int64)
    valid = ~np.isnan(p)
    ranked = np.sort(p[valid])  # once for the three levels: fdr_critical_p of sorted values sorts no further
    for value, alpha in reversed(CONFIDENCE_ALPHAS):  # 90 %, then 95 %, then 99 % overwrite
        if fdr:
            crit = fdr_critical_p(ranked, alpha)
            sig = valid & (p <= crit) & (crit > 0)
        else:
            sig = valid & (p < alpha)
        level[sig] = value
    return (level * np.sign(np.nan_to_num(z))).astype(np.int64)


@dataclass
class HotspotResult:
    """Gi* results for one set of cells."""

    z: np.ndarray
    p: np.ndarray
    bin: np.ndarray
    neighbours: np.ndarray


def hotspots(values: np.ndarray, nb: Neighbours, fdr: bool = True) -> HotspotResult:
    """Return z, p and bins for each cell; cells without neighbours get NaN z and p and bin 0."""
    values = np.asarray(values, float)
    if not np.all(np.isfinite(values)):
        raise GiStarInputError("Some cell values are missing or not finite.")
    z = gi_star(values, nb)
    if np.all(np.isnan(z)):
        raise GiStarInputError(
            "Every cell has the same count, so there is no variation to test: use larger cells or more data."
        )
    card = nb.cardinality()
    z = np.where(card > 0, z, np.nan)
    p = two_sided_p(z)
    return HotspotResult(z, p, confidence_bins(z, p, fdr), card)


def mann_kendall(
    series: np.ndarray, is_cancelled: Callable[[], bool] = lambda: False
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Return Mann-Kendall S, variance (tie-corrected), z (continuity-corrected) and two-sided p per row."""
    s_in = np.asarray(series, float)
    if len(s_in) > _QUERY_BLOCK:  # in blocks of rows, so that a cancel is seen between them
        parts = []
        for start in range(0, len(s_in), _QUERY_BLOCK):
            if is_cancelled():
                raise InterruptedError("cancelled")
            parts.append(mann_kendall(s_in[start : start + _QUERY_BLOCK]))
        return tuple(np.concatenate(p) for p in zip(*parts))  # type: ignore[return-value]
    n_rows, n = s_in.shape
    s = np.zeros(n_rows)
    for a in range(n - 1):
        s += np.sign(s_in[:, a + 1 :] - s_in[:, a : a + 1]).sum(axis=1)
    # Tie groups: after sorting each row, a tie group is a run of equal values.
    srt = np.sort(s_in, axis=1)
    new_group = np.ones((n_rows, n), bool)
    new_group[:, 1:] = srt[:, 1:] != srt[:, :-1]
    group_id = np.cumsum(new_group, axis=1) - 1 + (np.arange(n_rows) * n)[:, None]
    sizes = np.bincount(group_id.ravel(), minlength=n_rows * n).reshape(n_rows, n).astype(float)
    ties = (sizes * (sizes - 1) * (2 * sizes + 5)).sum(axis=1)
    var = (n * (n - 1) * (2 * n + 5) - ties) / 18.0
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(s > 0, (s - 1) / np.sqrt(var), np.where(s < 0, (s + 1) / np.sqrt(var), 0.0))
    z = np.where(var > 0, z, 0.0)
    return s, var, z, two_sided_p(z)


CATEGORIES = (
    "No pattern detected",
    "New hot spot",
    "Consecutive hot spot",
    "Intensifying hot spot",
    "Persistent hot spot",
    "Diminishing hot spot",
    "Sporadic hot spot",
    "Oscillating hot spot",
    "Historical hot spot",
    "New cold spot",
    "Consecutive cold spot",
    "Intensifying cold spot",
    "Persistent cold spot",
    "Diminishing cold spot",
    "Sporadic cold spot",
    "Oscillating cold spot",
    "Historical cold spot",
)
COLD_OFFSET = 8


def classify_emerging(
    bins: np.ndarray, trend_z: np.ndarray, trend_p: np.ndarray, trend_alpha: float = 0.05
) -> np.ndarray:
    """Return the emerging hot spot category (index into CATEGORIES) of each row of significant bins (cells, slices).

    bins holds +1 for a significant hot slice, -1 for a significant cold slice and 0 otherwise. The rules
    for hot (cold mirrors swap hot and cold and the trend's sign); the 90 % rules are tested first:
    - at least 90 % of slices hot and the final slice hot: intensifying if the Mann-Kendall trend is
      significantly upward, diminishing if significantly downward, persistent otherwise;
    - at least 90 % of slices hot but not the final one: historical;
    - final slice hot, fewer than 90 % hot: new if no earlier slice is significant (hot or cold); oscillating
      if some earlier slice is cold; consecutive if the hot slices are one unbroken run ending at the
      final slice; sporadic otherwise (hot on and off, never cold).
    """
    b = np.sign(np.asarray(bins))
    n_rows, n = b.shape
    found = []
    sig_trend = np.asarray(trend_p) < trend_alpha
    for sign, offset in ((1, 0), (-1, COLD_OFFSET)):
        hot = b == sign
        other = b == -sign
        share = hot.sum(axis=1) / n
        final = hot[:, -1]
        mostly = share >= 0.9 - 1e-12
        up = sig_trend & (np.asarray(trend_z) * sign > 0)
        down = sig_trend & (np.asarray(trend_z) * sign < 0)
        earlier_sig = (b[:, :-1] != 0).any(axis=1)
        earlier_other = other[:, :-1].any(axis=1)
        # One unbroken run ending at the final slice: no hot slice before the last non-hot slice.
        not_hot = ~hot
        last_gap = np.where(not_hot.any(axis=1), n - 1 - np.argmax(not_hot[:, ::-1], axis=1), -1)
        idx = np.arange(n)[None, :]
        hot_before_gap = (hot & (idx < last_gap[:, None])).any(axis=1)
        cat = np.zeros(n_rows, np.int64)
        cat[mostly & final & up] = 3
        cat[mostly & final & down] = 5
        cat[mostly & final & ~up & ~down] = 4
        cat[mostly & ~final] = 8
        recent = ~mostly & final
        cat[recent & ~earlier_sig] = 1
        cat[recent & earlier_sig & earlier_other] = 7
        cat[recent & earlier_sig & ~earlier_other & ~hot_before_gap] = 2
        cat[recent & earlier_sig & ~earlier_other & hot_before_gap] = 6
        found.append(np.where(cat > 0, cat + offset, 0))
    hot, cold = found
    mostly_hot = np.isin(hot, (3, 4, 5, 8))
    mostly_cold = np.isin(cold, (3 + COLD_OFFSET, 4 + COLD_OFFSET, 5 + COLD_OFFSET, 8 + COLD_OFFSET))
    return np.where(mostly_hot, hot, np.where(mostly_cold, cold, np.where(hot > 0, hot, cold)))


def polygon_wkb(rings: np.ndarray) -> list[bytes]:
    """Return little-endian WKB polygons for closed single rings shaped (cells, corners + 1, 2)."""
    return rows_as_bytes(ring_wkb(rings))
