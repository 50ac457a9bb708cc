"""Count points into polygons at speed, each point counted once by a stated boundary rule.

The rule: a point belongs to the polygons whose closure contains it (inside or on the boundary); when
that is more than one polygon (a point on a shared boundary, or in an overlap), it is counted in the
first of them in the order given, which the ward-rate algorithm makes the lowest ward code. Points in
no polygon are counted as outside. QGIS's 'Count points in polygon' uses GEOS `contains`, which leaves
boundary points out of every polygon; apart from those points the counts are the same.

police.uk points are snapped to a fixed set of map points, so the distinct coordinates are located
once and weighted by their multiplicity. Each polygon tests only the points in its bounding box, cut
into horizontal bands so that a point meets only the edges that cross its band; the crossing-number
test and the on-boundary test share one orientation value, so they cannot disagree.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

# Elements of a points x edges block; bounds the memory of one step to a few tens of MB.
_BLOCK = 1_500_000


@dataclass
class Edges:
    """The edges of one (multi)polygon, all rings together, as arrays of start and end coordinates."""

    x1: np.ndarray
    y1: np.ndarray
    x2: np.ndarray
    y2: np.ndarray

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """Return (xmin, ymin, xmax, ymax)."""
        if len(self.x1) == 0:
            return (np.inf, np.inf, -np.inf, -np.inf)
        return (
            float(min(self.x1.min(), self.x2.min())),
            float(min(self.y1.min(), self.y2.min())),
            float(max(self.x1.max(), self.x2.max())),
            float(max(self.y1.max(), self.y2.max())),
        )


def edges_from_rings(rings: Sequence[np.ndarray]) -> Edges:
    """Return the edges of rings given as (n, 2) coordinate arrays (closed or not)."""
    parts = [[], [], [], []]
    for ring in rings:
        ring = np.asarray(ring, dtype=float)
        if len(ring) < 3:
            continue
        if ring[0, 0] != ring[-1, 0] or ring[0, 1] != ring[-1, 1]:
            ring = np.vstack([ring, ring[:1]])
        parts[0].append(ring[:-1, 0])
        parts[1].append(ring[:-1, 1])
        parts[2].append(ring[1:, 0])
        parts[3].append(ring[1:, 1])
    if not parts[0]:
        empty = np.zeros(0)
        return Edges(empty, empty, empty, empty)
    return Edges(*(np.concatenate(p) for p in parts))


def rings_from_wkb(wkb: bytes) -> list[np.ndarray]:
    """Return the rings of a WKB Polygon or MultiPolygon (2D, Z, M or ZM; ISO or EWKB-style flags)."""
    rings: list[np.ndarray] = []
    _read_geometry(memoryview(wkb), 0, rings)
    return rings


def _read_geometry(buf: memoryview, pos: int, rings: list[np.ndarray]) -> int:
    order = "<" if buf[pos] == 1 else ">"
    (code,) = struct.unpack_from(order + "I", buf, pos + 1)
    pos += 5
    has_z = bool(code & 0x80000000) or (code % 10000) // 1000 in (1, 3)
    has_m = bool(code & 0x40000000) or (code % 10000) // 1000 in (2, 3)
    base = (code & 0x0FFFFFFF) % 1000
    dims = 2 + int(has_z) + int(has_m)
    if base == 3:
        (nrings,) = struct.unpack_from(order + "I", buf, pos)
        pos += 4
        for _ in range(nrings):
            (npts,) = struct.unpack_from(order + "I", buf, pos)
            pos += 4
            coords = np.frombuffer(buf, dtype=np.dtype(float).newbyteorder(order), count=npts * dims, offset=pos)
            rings.append(coords.reshape(npts, dims)[:, :2].astype(float))
            pos += 8 * npts * dims
        return pos
    if base in (6, 7):
        (nparts,) = struct.unpack_from(order + "I", buf, pos)
        pos += 4
        for _ in range(nparts):
            pos = _read_geometry(buf, pos, rings)
        return pos
    raise ValueError(f"WKB geometry type {code} is not a polygon or multipolygon")


@dataclass
class Assignment:
    """Where each distinct point went and how often it occurs."""

    polygon: np.ndarray  # per input point: index of the polygon it is counted in, -1 outside
    counts: np.ndarray  # per polygon
    outside: int
    on_boundary: int  # points lying on the boundary of at least one polygon
    in_several: int  # points whose closure test matched more than one polygon
    distinct_points: int
    notes: list[str] = field(default_factory=list)


def _closed_contains(px: np.ndarray, py: np.ndarray, e: Edges) -> tuple[np.ndarray, np.ndarray]:
    """Return (inside or on the boundary, on the boundary) for points against one polygon's edges."""
    n = len(px)
    inside = np.zeros(n, dtype=bool)
    on = np.zeros(n, dtype=bool)
    if n == 0 or len(e.x1) == 0:
        return inside, on
    ylo = np.minimum(e.y1, e.y2)
    yhi = np.maximum(e.y1, e.y2)
    xlo = np.minimum(e.x1, e.x2)
    xhi = np.maximum(e.x1, e.x2)
    ymin, ymax = float(ylo.min()), float(yhi.max())
    bands = int(np.clip(len(e.x1) // 6, 1, 256))
    height = (ymax - ymin) / bands if ymax > ymin else 1.0
    band_of_point = np.clip(((py - ymin) / height).astype(np.int64), 0, bands - 1)
    order = np.argsort(band_of_point, kind="stable")
    starts = np.searchsorted(band_of_point[order], np.arange(bands + 1))
    first_band = np.clip(((ylo - ymin) / height).astype(np.int64), 0, bands - 1)
    last_band = np.clip(((yhi - ymin) / height).astype(np.int64), 0, bands - 1)
    for b in range(bands):
        idx = order[starts[b] : starts[b + 1]]
        if len(idx) == 0:
            continue
        # Edges reaching this band, widened by one band on each side against rounding of the band index.
        sel = np.flatnonzero((first_band <= b + 1) & (last_band >= b - 1))
        if len(sel) == 0:
            continue
        ex1, ey1, ex2, ey2 = e.x1[sel], e.y1[sel], e.x2[sel], e.y2[sel]
        exlo, exhi, eylo, eyhi = xlo[sel], xhi[sel], ylo[sel], yhi[sel]
        esign = np.sign(ey2 - ey1)
        step = max(1, _BLOCK // len(sel))
        for s in range(0, len(idx), step):
            pts = idx[s : s + step]
            qx = px[pts][:, None]
            qy = py[pts][:, None]
            orient = (ex2 - ex1) * (qy - ey1) - (ey2 - ey1) * (qx - ex1)
            # The edge spans the point's y half-open (y1 <= y < y2 upwards, y2 <= y < y1 downwards) and the
            # point is left of an upward or right of a downward edge: the ray to +x crosses it.
            spans = (ey1 <= qy) != (ey2 <= qy)
            crossings = (spans & (orient * esign > 0)).sum(axis=1)
            zero = orient == 0
            if zero.any():
                touching = zero & (exlo <= qx) & (qx <= exhi) & (eylo <= qy) & (qy <= eyhi)
                on_edge = touching.any(axis=1)
            else:
                on_edge = np.zeros(len(pts), dtype=bool)
            inside[pts] = (crossings % 2 == 1) | on_edge
            on[pts] = on_edge
    return inside, on


def assign_points(
    x: np.ndarray,
    y: np.ndarray,
    polygons: Sequence[Edges],
    is_canceled: Callable[[], bool] | None = None,
    progress: Callable[[float], None] | None = None,
    shapes: Sequence[bytes] | None = None,
) -> Assignment:
    """Assign each point to the first polygon (in the given order) whose closure contains it.

    shapes, the polygons' WKB (the same polygons as the edges), lets a grid decide the points far from
    every edge when there are many distinct points (_grid_decides); the result is the same.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    n_poly = len(polygons)
    if len(x) == 0:
        return Assignment(np.zeros(0, np.int64), np.zeros(n_poly, np.int64), 0, 0, 0, 0)
    order = np.lexsort((y, x))
    xs, ys = x[order], y[order]
    first = np.empty(len(xs), dtype=bool)
    first[0] = True
    first[1:] = (xs[1:] != xs[:-1]) | (ys[1:] != ys[:-1])
    group = np.cumsum(first) - 1
    inverse = np.empty(len(x), dtype=np.int64)
    inverse[order] = group
    ux = np.ascontiguousarray(xs[first])  # sorted by x, then y
    uy = np.ascontiguousarray(ys[first])
    weight = np.bincount(group, minlength=len(ux))
    owner = np.full(len(ux), -1, dtype=np.int64)
    hits = np.zeros(len(ux), dtype=np.int32)
    on_any = np.zeros(len(ux), dtype=bool)
    # Points a grid decides need no edge test (_grid_decides); the others, still sorted by x, are tested.
    test = np.arange(len(ux))
    if shapes is not None and len(ux) >= _GRID_POINTS:
        decided, decided_owner = _grid_decides(ux, uy, polygons, shapes)
        owner[decided] = decided_owner[decided]
        hits[decided] = decided_owner[decided] >= 0
        test = np.flatnonzero(~decided)
    tx, ty = ux[test], uy[test]
    for k, edges in enumerate(polygons):
        if is_canceled is not None and is_canceled():
            raise InterruptedError("cancelled")
        xmin, ymin, xmax, ymax = edges.bbox
        lo = np.searchsorted(tx, xmin, side="left")
        hi = np.searchsorted(tx, xmax, side="right")
        if hi <= lo:
            continue
        cand = test[lo:hi][(ty[lo:hi] >= ymin) & (ty[lo:hi] <= ymax)]
        if len(cand) == 0:
            continue
        closed, on = _closed_contains(ux[cand], uy[cand], edges)
        got = cand[closed]
        hits[got] += 1
        on_any[cand[on]] = True
        free = got[owner[got] < 0]
        owner[free] = k
        if progress is not None:
            progress((k + 1) / n_poly)
    counts = np.bincount(owner[owner >= 0], weights=weight[owner >= 0], minlength=n_poly).astype(np.int64)
    return Assignment(
        polygon=owner[inverse],
        counts=counts,
        outside=int(weight[owner < 0].sum()),
        on_boundary=int(weight[on_any].sum()),
        in_several=int(weight[hits > 1].sum()),
        distinct_points=len(ux),
    )


# From this many distinct points the grid of _grid_decides pays for itself; its longer side, in cells.
_GRID_POINTS = 100_000
_GRID_SIDE = 2048


def _grid_decides(
    ux: np.ndarray, uy: np.ndarray, polygons: Sequence[Edges], shapes: Sequence[bytes]
) -> tuple[np.ndarray, np.ndarray]:
    """Return (decided, owner) for the points in grid cells that no polygon's edge touches.

    GDAL rasterizes, in its own C: the edges with every cell they touch (then one cell more on every side,
    against rounding), the number of polygons containing each cell's centre, and the first of them in the
    given order. In a cell no edge touches, every point of the closed cell is inside exactly the polygons
    that contain its centre, and on no boundary: a point there is decided when that is none (outside) or
    one polygon (its owner); where it is more (an overlap) it is not, and the edge test decides.
    """
    from osgeo import gdal, ogr

    n = len(ux)
    decided = np.zeros(n, dtype=bool)
    owner = np.full(n, -1, dtype=np.int64)
    boxes = np.array([e.bbox for e in polygons if len(e.x1)], dtype=float).reshape(-1, 4)
    if len(boxes) == 0:
        return np.ones(n, dtype=bool), owner
    x_min, y_min, x_max, y_max = boxes[:, 0].min(), boxes[:, 1].min(), boxes[:, 2].max(), boxes[:, 3].max()
    side = max(x_max - x_min, y_max - y_min)
    if not (np.isfinite(side) and side > 0):
        return decided, owner
    cell = side / _GRID_SIDE
    x0, y1 = x_min - 2 * cell, y_max + 2 * cell  # a margin of cells no polygon reaches
    cols = int((x_max - x0) // cell) + 3
    rows = int((y1 - y_min) // cell) + 3
    memory = ogr.GetDriverByName("Memory").CreateDataSource("")
    shells = memory.CreateLayer("shells", geom_type=ogr.wkbUnknown)
    shells.CreateField(ogr.FieldDefn("k", ogr.OFTInteger))
    lines = memory.CreateLayer("edges", geom_type=ogr.wkbMultiLineString)
    # Last polygon first, so that where polygons overlap the first in the given order is burnt last.
    for k in range(len(polygons) - 1, -1, -1):
        e = polygons[k]
        if len(e.x1) == 0:
            continue
        gdal.PushErrorHandler("CPLQuietErrorHandler")
        try:
            shape = ogr.CreateGeometryFromWkb(bytes(shapes[k]))
        except RuntimeError:  # with GDAL's exceptions on
            shape = None
        finally:
            gdal.PopErrorHandler()
        if shape is None:  # GDAL cannot read it: decide nothing, the edge test decides every point
            return decided, owner
        feature = ogr.Feature(shells.GetLayerDefn())
        feature.SetField("k", k + 1)
        feature.SetGeometry(shape)
        shells.CreateFeature(feature)
        line = ogr.Feature(lines.GetLayerDefn())
        line.SetGeometry(ogr.CreateGeometryFromWkb(_edges_wkb(e)))
        lines.CreateFeature(line)

    def raster(layer: ogr.Layer, options: list[str], burn: list[float] | None = None) -> np.ndarray:
        target = gdal.GetDriverByName("MEM").Create("", cols, rows, 1, gdal.GDT_Int32)
        target.SetGeoTransform((x0, cell, 0.0, y1, 0.0, -cell))
        if burn is None:
            gdal.RasterizeLayer(target, [1], layer, options=options)
        else:
            gdal.RasterizeLayer(target, [1], layer, burn_values=burn, options=options)
        return target.GetRasterBand(1).ReadAsArray()

    gdal.PushErrorHandler("CPLQuietErrorHandler")  # neither the layers nor the grid have a CRS: no warning
    try:
        first = raster(shells, ["ATTRIBUTE=k"]) - 1
        count = raster(shells, ["MERGE_ALG=ADD"], [1])
        near = raster(lines, ["ALL_TOUCHED=TRUE"], [1]) > 0
    finally:
        gdal.PopErrorHandler()
    wide = near.copy()
    wide[1:] |= near[:-1]
    wide[:-1] |= near[1:]
    grown = wide.copy()
    grown[:, 1:] |= wide[:, :-1]
    grown[:, :-1] |= wide[:, 1:]
    r = np.floor((y1 - uy) / cell)
    c = np.floor((ux - x0) / cell)
    on_grid = (r >= 0) & (r < rows) & (c >= 0) & (c < cols)
    decided[~on_grid] = True  # beyond every polygon's box: outside
    idx = np.flatnonzero(on_grid)
    ri, ci = r[idx].astype(np.int64), c[idx].astype(np.int64)
    at = count[ri, ci]
    sure = ~grown[ri, ci] & (at <= 1)
    decided[idx[sure]] = True
    owner[idx[sure]] = np.where(at[sure] == 1, first[ri[sure], ci[sure]], -1)
    return decided, owner


def _edges_wkb(e: Edges) -> bytes:
    """Return a polygon's edges as one WKB MultiLineString of two-point lines (little-endian)."""
    n = len(e.x1)
    line = np.dtype([("order", "u1"), ("type", "<u4"), ("points", "<u4"), ("xy", "<f8", (4,))])
    parts = np.zeros(n, dtype=line)
    parts["order"], parts["type"], parts["points"] = 1, 2, 2
    parts["xy"] = np.column_stack([e.x1, e.y1, e.x2, e.y2])
    return struct.pack("<BII", 1, 5, n) + parts.tobytes()
