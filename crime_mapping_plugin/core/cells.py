"""The cells of a Gi* analysis: a square or hexagonal grid or the user's polygons, and the crimes in them.

One rule for every Gi* algorithm (docs/methods.md): a crime is counted in the grid cell holding its own
location, or in the polygon that holds it by core.areas' rule (inside or on the boundary; on a shared edge,
the polygon whose code sorts first, or without codes the first by centroid). With a study area, only crimes
whose own location is inside or on its boundary count, and the grid keeps every cell that touches it.
Crimes left out are counted under core.crime_points' reasons.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from qgis.core import QgsGeometry

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core import crime_points, gistar, wkb
from crime_mapping_plugin.core.crime_points import CrimePoints

SQUARE = "square"
HEXAGON = "hexagon"
POLYGONS = "polygons"
SHAPES = (SQUARE, HEXAGON, POLYGONS)


@dataclass(frozen=True)
class NeighbourRule:
    """Binary neighbours: the k nearest cells when k is set, else cells within band metres (None: the default)."""

    k: int | None = None
    band: float | None = None


@dataclass
class CellRequest:
    """What to count: the crimes (in a projected CRS, metres), the cells and an optional study area."""

    points: CrimePoints
    shape: str = SQUARE
    size: float | None = None  # grid cell size in metres; None or 0: sfhotspot's default rule
    polygons: area_rule.Areas | None = None  # the user's polygons, when shape is POLYGONS
    study_area: area_rule.Areas | None = None
    is_cancelled: Callable[[], bool] = lambda: False


@dataclass
class CellSet:
    """The cells analysed, in a fixed order: centres, own columns (by field name) and geometry.

    A grid's cells are gistar.Cells (own column: cell_id); polygons are the non-empty areas in the area rule's
    order (own columns: the fields read with them).
    """

    cx: np.ndarray
    cy: np.ndarray
    attributes: dict[str, list]
    grid: gistar.Cells | None
    polygons: list[QgsGeometry]
    size: float | None
    description: str

    def __len__(self) -> int:
        return len(self.cx)

    def multipolygon_wkb(self) -> tuple[list[bytes] | np.ndarray, np.ndarray]:
        """Return each cell as multipolygon WKB, and its box (min x, max x, min y, max y).

        Grid cells, all of one size, come as one (cells, size) uint8 array built in numpy; polygons as a list.
        """
        if self.grid is not None:
            rings = self.grid.vertices()
            return wkb.ring_wkb(rings, multi=True), wkb.ring_boxes(rings)
        wkbs, boxes = [], []
        for polygon in self.polygons:
            geom = QgsGeometry(polygon)
            geom.convertToMultiType()
            wkbs.append(bytes(geom.asWkb()))
            box = geom.boundingBox()
            boxes.append((box.xMinimum(), box.xMaximum(), box.yMinimum(), box.yMaximum()))
        return wkbs, np.array(boxes, dtype=float).reshape(-1, 4)


@dataclass
class CountedCells:
    """The cells, the crimes counted in them (point_cell: each remaining crime's cell) and what was said."""

    cells: CellSet
    points: CrimePoints
    point_cell: np.ndarray
    notes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def counts(self) -> np.ndarray:
        """Return the number of crimes in each cell."""
        return np.bincount(self.point_cell, minlength=len(self.cells)).astype(np.int64)

    def values(self) -> np.ndarray:
        """Return the analysed value of each cell: its crimes, or the sum of their weights."""
        return gistar.count_points(self.point_cell, len(self.cells), self.points.weights())


def _check(is_cancelled: Callable[[], bool]) -> None:
    if is_cancelled():
        raise InterruptedError("cancelled")


def _study_area_union(study: area_rule.Areas) -> QgsGeometry:
    parts = [g for g in study.geometries if not g.isNull() and not g.isEmpty()]
    if not parts:
        raise gistar.GiStarInputError(
            f"The study area layer '{study.layer_name}' has no polygons: choose a layer with at least one polygon."
        )
    geom = QgsGeometry.unaryUnion(parts)
    if geom.isNull() or geom.isEmpty():
        raise gistar.GiStarInputError(
            f"The study area polygons of '{study.layer_name}' could not be merged: run 'Fix geometries' on them first."
        )
    return geom


def count_in_cells(request: CellRequest) -> CountedCells:
    """Make the cells, leave out the crimes outside the study area or every cell, and say which cell holds each."""
    if request.shape not in SHAPES:
        raise gistar.GiStarInputError(f"Unknown cells '{request.shape}': use one of {', '.join(SHAPES)}.")
    points = request.points
    union = None
    if request.study_area is not None:
        union = _study_area_union(request.study_area)
        # The crime's own location decides, boundary included (core.areas), not its cell.
        points.keep_only(
            area_rule.inside(request.study_area, points.x, points.y, request.is_cancelled),
            crime_points.OUTSIDE_STUDY_AREA,
        )
    return _polygon_cells(request) if request.shape == POLYGONS else _grid_cells(request, union)


def _grid_size(request: CellRequest, union: QgsGeometry | None, warnings: list[str]) -> tuple[float, list[str]]:
    points = request.points
    if union is None and crime_points.stretched_by_outliers(points.x, points.y):
        warnings.append(
            "A few crimes lie far from the rest and stretch the grid (empty cells count in Gi*'s mean): "
            "give a study area, e.g. the borough or force area."
        )
    if request.size is not None and request.size > 0:
        return float(request.size), []
    if union is not None:
        box = union.boundingBox()
        width, height = box.width(), box.height()
        source = "the study area"
    elif points.counted:
        # A few crimes recorded far away must not set the cell size for the rest, as in hotspot density.
        width, height = crime_points.core_size(points.x, points.y)
        source = "the central 99 % of crimes"
    else:
        raise gistar.GiStarInputError("There are no points to size the grid from.")
    size = gistar.default_cell_size(width, height)
    return size, [f"Cell size (sfhotspot's default rule on {source}): {size:g} m."]


def _touching(cells: gistar.Cells, area: QgsGeometry, is_cancelled: Callable[[], bool]) -> np.ndarray:
    engine = QgsGeometry.createGeometryEngine(area.constGet())
    engine.prepareGeometry()
    keep = np.zeros(len(cells), bool)
    for n, blob in enumerate(gistar.polygon_wkb(cells.vertices())):
        if n % 5000 == 0:
            _check(is_cancelled)
        geom = QgsGeometry()
        geom.fromWkb(blob)
        keep[n] = engine.intersects(geom.constGet())
    return keep


def _grid_cells(request: CellRequest, union: QgsGeometry | None) -> CountedCells:
    points = request.points
    if points.counted == 0 and union is None:
        raise gistar.GiStarInputError("No crime points are left to analyse: check the layer, weights and study area.")
    warnings: list[str] = []
    size, notes = _grid_size(request, union, warnings)
    if union is not None:
        box = union.boundingBox()
        extent = (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())
    else:
        extent = (points.x.min(), points.y.min(), points.x.max(), points.y.max())
    grid = gistar.grid_over_extent(request.shape, size, *extent)
    if union is not None:
        grid = grid.subset(_touching(grid, union, request.is_cancelled))
        if len(grid) == 0:
            raise gistar.GiStarInputError("No grid cell touches the study area: check its CRS and the cell size.")
    cell = grid.locate(points.x, points.y)
    if not (cell >= 0).any():
        raise gistar.GiStarInputError(
            "No crime point lies inside the study area: check that the points and the study area cover the same place."
        )
    # Cannot happen but through rounding: a crime on the area's edge lies in a cell that touches the area.
    points.keep_only(cell >= 0, crime_points.OUTSIDE_STUDY_AREA)
    kind = "square" if request.shape == SQUARE else "hexagonal"
    cells = CellSet(grid.cx, grid.cy, {"cell_id": grid.ids()}, grid, [], size, f"{kind} grid of {size:g} m cells")
    return CountedCells(cells, points, cell[cell >= 0], notes, warnings)


def _polygon_cells(request: CellRequest) -> CountedCells:
    polygons, points = request.polygons, request.points
    if polygons is None:
        raise gistar.GiStarInputError(
            "Cells is 'My polygons' but no polygon layer was chosen: choose one under 'My polygons'."
        )
    warnings: list[str] = []
    if polygons.empty:
        warnings.append(
            f"{len(polygons.empty)} polygon(s) of '{polygons.layer_name}' have no geometry and are not analysed."
        )
    keep = np.ones(len(polygons), bool)
    keep[polygons.empty] = False
    if keep.sum() < 3:
        raise gistar.GiStarInputError("Gi* needs at least 3 polygons with geometry in 'My polygons'.")
    assignment = area_rule.assign(polygons, points.x, points.y, request.is_cancelled)
    # Areas with no geometry keep their place in `polygons` and hold no crime: renumber the others.
    renumber = np.full(len(polygons) + 1, -1, np.int64)
    renumber[np.flatnonzero(keep)] = np.arange(int(keep.sum()))
    cell = renumber[assignment.polygon]  # -1 (outside) maps to the extra last slot, -1
    if not (cell >= 0).any():
        raise gistar.GiStarInputError(
            f"No crime point lies inside the polygons of '{polygons.layer_name}': "
            "check that they cover the same place."
        )
    points.keep_only(cell >= 0, crime_points.OUTSIDE_AREAS)
    notes = []
    if assignment.in_several:
        notes.append(
            f"{assignment.in_several} crime(s) lie in more than one polygon (on a shared edge or in an overlap). "
            + area_rule.BOUNDARY_RULE
        )
    cx, cy = polygons.centroids()
    cells = CellSet(
        cx[keep],
        cy[keep],
        {name: [v for v, k in zip(values, keep) if k] for name, values in polygons.attributes.items()},
        None,
        [g for g, k in zip(polygons.geometries, keep) if k],
        None,
        f"polygons of '{polygons.layer_name}'",
    )
    return CountedCells(cells, points, cell[cell >= 0], notes, warnings)


def neighbours(
    cells: CellSet, rule: NeighbourRule, is_cancelled: Callable[[], bool] = lambda: False
) -> tuple[gistar.Neighbours, str, list[str]]:
    """Build the binary neighbours of the cells by the rule; return them, a description and notes."""
    if rule.k is not None:
        return gistar.k_nearest(cells.cx, cells.cy, rule.k, is_cancelled), f"{rule.k} nearest cells", []
    band, notes = rule.band, []
    if band is None or not band > 0:
        if cells.size is not None:
            band = cells.size * gistar.SQRT2
        else:
            band = gistar.smallest_connecting_distance(cells.cx, cells.cy)
        notes.append(f"Distance band (default): {band:.6g} m.")
    if cells.grid is not None:
        nb = gistar.lattice_band(cells.grid, band, is_cancelled)
    else:
        nb = gistar.distance_band(cells.cx, cells.cy, band, is_cancelled=is_cancelled)
    if len(nb.i) == 0:
        raise gistar.GiStarInputError(
            f"No cell has another cell within the distance band of {band:.6g} m: widen the band (0 = automatic) "
            "or choose 'K nearest neighbours'."
        )
    return nb, f"cells within {band:.6g} m", notes


@dataclass
class GiStarRequest:
    """A Gi* hot spot analysis: the cells to count in, the neighbours and whether bins are FDR-corrected."""

    cells: CellRequest
    neighbours: NeighbourRule = NeighbourRule()
    fdr: bool = True


@dataclass
class GiStarAnalysis:
    """The result of a Gi* hot spot analysis: the counted cells, their values, neighbours and Gi* results."""

    counted: CountedCells
    counts: np.ndarray
    values: np.ndarray
    hood: str
    result: gistar.HotspotResult
    fdr: bool

    @property
    def without_neighbours(self) -> int:
        """The number of cells with no neighbour (no z-score)."""
        return int((self.result.neighbours == 0).sum())

    def bin_tally(self) -> dict[int, int]:
        """Return the number of cells in each bin, -3 to +3."""
        return {b: int((self.result.bin == b).sum()) for b in range(-3, 4)}


def gistar_hotspots(request: GiStarRequest) -> GiStarAnalysis:
    """Count the crimes into cells and compute Gi* z, p and bins; raise GiStarInputError for unusable input."""
    counted = count_in_cells(request.cells)
    _check(request.cells.is_cancelled)
    nb, hood, notes = neighbours(counted.cells, request.neighbours)
    counted.notes += notes
    values = counted.values()
    result = gistar.hotspots(values, nb, request.fdr)
    alone = int((result.neighbours == 0).sum())
    if alone:
        counted.warnings.append(
            f"{alone} cell(s) have no neighbour within the neighbourhood ({hood}): they get no z-score "
            "(NULL, bin 0). Widen the distance band to include them."
        )
    if not counted.points.balanced():  # a bug, never the user's input
        raise AssertionError(f"{counted.points.read} points read but not all counted or left out under a reason.")
    return GiStarAnalysis(counted, counted.counts(), values, hood, result, request.fdr)
