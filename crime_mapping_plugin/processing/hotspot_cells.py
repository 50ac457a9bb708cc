"""Shared by the Gi* algorithms: parameters for points, cells and neighbours; reading them; writing cells; styles."""

from __future__ import annotations

import struct
from collections import Counter
from dataclasses import dataclass, field

import numpy as np
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureRequest,
    QgsField,
    QgsFields,
    QgsFillSymbol,
    QgsGeometry,
    QgsPoint,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterDistance,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsRectangle,
    QgsRendererCategory,
    QgsSpatialIndex,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import crime_points, gistar
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.output import TableOutput, plain_value, spec_of

INPUT = "INPUT"
WEIGHT_FIELD = "WEIGHT_FIELD"
CELLS = "CELLS"
POLYGONS = "POLYGONS"
CELL_SIZE = "CELL_SIZE"
STUDY_AREA = "STUDY_AREA"
NEIGHBOURHOOD = "NEIGHBOURHOOD"
DISTANCE = "DISTANCE"
NEIGHBOURS_K = "NEIGHBOURS_K"
FDR = "FDR"

CELL_OPTIONS = ("Square grid", "Hexagonal grid", "My polygons (e.g. wards)")
NEIGHBOURHOOD_OPTIONS = ("Fixed distance band", "K nearest neighbours")

CELLS_HELP = (
    "<b>Cells</b>: a square grid aligned to multiples of the cell size (so grids of different runs line up), "
    "a grid of pointy-topped hexagons (flat sides left and right; the cell size is the distance between "
    "opposite flat sides, which is also the distance between neighbouring centres; centre rows are cell "
    "size x &radic;3/2 apart, every other row shifted by half a cell, the lattice anchored at 0,0), "
    "or your own polygons. "
    "A grid covers every cell of the points' extent, or, with a study area, every cell that touches the "
    "study area; empty cells are included with count 0, as Gi* needs them. "
    "The default cell size is sfhotspot's rule: the shorter side of the extent / 50, rounded down to a "
    "multiple of 100 m (not rounded when that would give 0); the extent is the study area's, else that of "
    "the central 99 % of crimes, so that a few crimes recorded far away do not set it (a warning says when "
    "such crimes stretch the grid: give a study area then).<br>"
    "<b>Neighbours</b>: binary weights, the cell itself included (Gi*). A fixed distance band between cell "
    "centres (centroids for polygons), inclusive; by default cell size x &radic;2, which is the 8 surrounding "
    "cells of a square grid (the 6 adjacent hexagons of a hexagonal grid); for your own polygons the "
    "default is the smallest distance that gives every polygon at least one neighbour. Or the k nearest "
    "cells (ties broken by order). Cells with no neighbour get no z-score (NULL, bin 0) and are counted.<br>"
    "<b>Points</b>: a point counts in the cell that contains it (for your own polygons, the first polygon "
    "that contains it); points outside every cell or outside the study area, points without geometry and "
    "points with a NULL weight are left out and each is counted under its reason in the log and outputs. "
    "Coordinates are in metres: the points' CRS must be projected (e.g. EPSG:27700), otherwise the study "
    "area's or polygons' projected CRS is used.<br>"
)
STATS_HELP = (
    "<b>Statistic</b>: Getis-Ord Gi* z = "
    "(&Sigma;<sub>j</sub> w<sub>ij</sub>x<sub>j</sub> &minus; x&#772;W<sub>i</sub>) / "
    "(s &radic;((N W<sub>i</sub> &minus; W<sub>i</sub>&sup2;)/(N &minus; 1))), s the population standard deviation, "
    "equal to PySAL esda G_Local(star=True, transform='B') and ArcGIS's GiZScore. Two-sided p = erfc(|z|/&radic;2). "
    "Bins as ArcGIS: &plusmn;3, &plusmn;2, &plusmn;1 for 99, 95, 90 % confidence (sign of z), 0 not significant. "
    "Without FDR a bin needs p &lt; 0.01, 0.05, 0.10. With the false discovery rate correction "
    "(Benjamini-Hochberg, on by default) each level's critical p is the largest sorted p<sub>(k)</sub> with "
    "p<sub>(k)</sub> &le; k&middot;&alpha;/m over all m cells with a z-score, and a bin needs p at or below it.<br>"
)


class HotspotCellsAlgorithm(CrimeMappingAlgorithm):
    """Base of the Gi* algorithms: the outputs and parameter checks they share."""

    INPUT = INPUT
    OUTPUT = "OUTPUT"
    POINTS_READ = "POINTS_READ"
    POINTS_COUNTED = "POINTS_COUNTED"
    POINTS_LEFT_OUT = "POINTS_LEFT_OUT"
    CELLS_ANALYSED = "CELLS_ANALYSED"
    CELLS_WITHOUT_NEIGHBOURS = "CELLS_WITHOUT_NEIGHBOURS"
    REPORT = "REPORT"

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        if self.parameterAsEnum(parameters, CELLS, context) == 2 and not parameters.get(POLYGONS):
            return False, self.tr("Cells is 'My polygons (e.g. wards)': choose the polygon layer under 'My polygons'.")
        return True, ""


def add_cell_parameters(alg, point_help: str) -> None:
    """Add the points, weight, cells, study area and neighbourhood parameters to alg."""
    tr = alg.tr
    points = QgsProcessingParameterFeatureSource(INPUT, tr("Crime points"), [QgsProcessing.TypeVectorPoint])
    points.setHelp(tr(point_help))
    alg.addParameter(points)
    weight = QgsProcessingParameterField(
        WEIGHT_FIELD, tr("Weight field"), None, INPUT, QgsProcessingParameterField.Numeric, optional=True
    )
    weight.setHelp(
        tr("Optional: each point counts this much instead of 1 (e.g. a harm score). NULL weights are left out.")
    )
    alg.addParameter(weight)
    cells = QgsProcessingParameterEnum(CELLS, tr("Cells"), options=[tr(o) for o in CELL_OPTIONS], defaultValue=0)
    cells.setHelp(tr("Square grid, hexagonal grid, or your own polygons (choose the layer below)."))
    alg.addParameter(cells)
    polygons = QgsProcessingParameterFeatureSource(
        POLYGONS, tr("My polygons"), [QgsProcessing.TypeVectorPolygon], optional=True
    )
    polygons.setHelp(tr("Polygons to count crimes in when Cells is 'My polygons', e.g. wards; their fields are kept."))
    alg.addParameter(polygons)
    size = QgsProcessingParameterDistance(CELL_SIZE, tr("Cell size"), 0.0, INPUT, optional=True, minValue=0.0)
    size.setHelp(
        tr("Grid cell size in metres (hexagons: distance between opposite sides). 0 = sfhotspot's default rule.")
    )
    size.setDefaultUnit(QgsUnitTypes.DistanceMeters)
    alg.addParameter(size)
    area = QgsProcessingParameterFeatureSource(
        STUDY_AREA, tr("Study area"), [QgsProcessing.TypeVectorPolygon], optional=True
    )
    area.setHelp(tr("Optional polygons: only cells touching them are analysed and only points inside them counted."))
    alg.addParameter(area)
    hood = QgsProcessingParameterEnum(
        NEIGHBOURHOOD, tr("Neighbourhood"), options=[tr(o) for o in NEIGHBOURHOOD_OPTIONS], defaultValue=0
    )
    hood.setHelp(tr("Fixed distance band between cell centres (metres) or a fixed number of nearest cells."))
    alg.addParameter(hood)
    distance = QgsProcessingParameterDistance(DISTANCE, tr("Distance band"), 0.0, INPUT, optional=True, minValue=0.0)
    distance.setHelp(
        tr(
            "Neighbours are cells whose centres are at most this far apart, in metres. 0 = cell size x sqrt 2 "
            "(the 8 surrounding squares), or for your own polygons the smallest band that leaves none alone."
        )
    )
    distance.setDefaultUnit(QgsUnitTypes.DistanceMeters)
    alg.addParameter(distance)
    k = QgsProcessingParameterNumber(
        NEIGHBOURS_K, tr("Number of nearest neighbours"), QgsProcessingParameterNumber.Integer, 8, minValue=1
    )
    k.setHelp(tr("With 'K nearest neighbours': how many nearest cells (by centre distance) are neighbours."))
    k.setFlags(k.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
    alg.addParameter(k)


def add_fdr_parameter(alg, label: str, help_text: str) -> None:
    """Add the false discovery rate switch (on by default)."""
    fdr = QgsProcessingParameterBoolean(FDR, alg.tr(label), True)
    fdr.setHelp(alg.tr(help_text))
    alg.addParameter(fdr)


@dataclass
class PointData:
    """Points read from the input, in the analysis CRS, with what was left out and why."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    month: np.ndarray
    read: int = 0
    reasons: Counter = field(default_factory=Counter)


@dataclass
class CellSet:
    """The cells analysed: centres, geometry source, attributes, and which cell each point is in."""

    cx: np.ndarray
    cy: np.ndarray
    fields: QgsFields
    attributes: list
    grid: gistar.Cells | None
    polygons: list
    point_cell: np.ndarray
    size: float | None
    description: str

    def __len__(self) -> int:
        return len(self.cx)

    def geometries(self):
        """Yield each cell's QgsGeometry."""
        if self.grid is not None:
            for blob in gistar.polygon_wkb(self.grid.vertices()):
                geom = QgsGeometry()
                geom.fromWkb(blob)
                yield geom
        else:
            yield from self.polygons

    def multipolygon_wkb(self) -> tuple[list[bytes], np.ndarray]:
        """Return each cell as multipolygon WKB, and its box (min x, max x, min y, max y)."""
        if self.grid is not None:
            rings = self.grid.vertices()
            # A one-part multipolygon: byte order, type 6, one part, then the polygon itself.
            prefix = b"\x01" + struct.pack("<II", 6, 1)
            wkbs = [prefix + blob for blob in gistar.polygon_wkb(rings)]
            xs, ys = rings[:, :, 0], rings[:, :, 1]
            return wkbs, np.column_stack([xs.min(axis=1), xs.max(axis=1), ys.min(axis=1), ys.max(axis=1)])
        wkbs, boxes = [], []
        for polygon in self.polygons:
            geom = QgsGeometry(polygon)
            geom.convertToMultiType()
            wkbs.append(bytes(geom.asWkb()))
            box = geom.boundingBox()
            boxes.append((box.xMinimum(), box.xMaximum(), box.yMinimum(), box.yMaximum()))
        return wkbs, np.array(boxes, dtype=float).reshape(-1, 4)


REASON_NO_GEOMETRY = "no geometry"
REASON_NULL_WEIGHT = "NULL weight"
REASON_OUTSIDE_AREA = "outside the study area"
REASON_OUTSIDE_CELLS = "outside every polygon"
REASON_NO_DATE = "no usable date"


def analysis_crs(alg, parameters, context) -> QgsCoordinateReferenceSystem:
    """Return a projected CRS for the analysis: the points', else the polygons' or study area's."""
    candidates = []
    for name in (INPUT, POLYGONS, STUDY_AREA):
        source = alg.parameterAsSource(parameters, name, context)
        if source is not None:
            candidates.append((name, source.sourceCrs()))
    for _, crs in candidates:
        if crs.isValid() and not crs.isGeographic():
            return crs
    raise QgsProcessingException(
        "The crime points are in a geographic CRS (degrees) and no projected polygons were given: reproject the "
        "points to a projected CRS in metres (e.g. EPSG:27700, British National Grid) with 'Reproject layer' "
        "or import them with crimemapping:importpoliceuk, which outputs EPSG:27700."
    )


def read_points(alg, parameters, context, feedback, crs, date_field: str | None = None) -> PointData:
    """Read the points (and weights, months) in crs, counting those left out by reason."""
    source = alg.parameterAsSource(parameters, INPUT, context)
    if source is None:
        raise QgsProcessingException("The crime points layer could not be read.")
    weight_name = alg.parameterAsString(parameters, WEIGHT_FIELD, context) or None
    for n in (weight_name, date_field):
        if n and source.fields().lookupField(n) < 0:
            raise QgsProcessingException(f"The crime points layer has no field '{n}'.")
    try:
        table = crime_points.read_layer(
            source,
            alg.plain_ogr_layer(parameters, INPUT, context),
            crime_points.point_columns(weight_name, date_field),
            crs=crs,
            transform_context=context.transformContext(),
            is_cancelled=feedback.isCanceled,
            progress=lambda f: feedback.setProgress(20.0 * f),
        )
    except InterruptedError as err:
        raise QgsProcessingException("Cancelled; no output was written.") from err
    # A multipoint counts once, at its first part: it is one crime record.
    x, y = table.x, table.y
    read = len(x)
    weight = table.columns[weight_name] if weight_name else np.ones(read)
    month = table.columns[date_field] if date_field else np.zeros(read, np.int64)
    reasons: Counter = Counter()
    keep = np.isfinite(x) & np.isfinite(y)
    reasons[REASON_NO_GEOMETRY] += int((~keep).sum())
    if weight_name:
        reasons[REASON_NULL_WEIGHT] += int((keep & np.isnan(weight)).sum())
        keep &= ~np.isnan(weight)
    if date_field:
        reasons[REASON_NO_DATE] += int((keep & (month < 0)).sum())
        keep &= month >= 0
    reasons = Counter({k: v for k, v in reasons.items() if v})
    return PointData(x[keep], y[keep], weight[keep].astype(float), month[keep].astype(np.int64), read, reasons)


def _dissolved(alg, parameters, name, context, crs) -> QgsGeometry | None:
    source = alg.parameterAsSource(parameters, name, context)
    if source is None:
        return None
    request = QgsFeatureRequest().setNoAttributes().setDestinationCrs(crs, context.transformContext())
    parts = [f.geometry() for f in source.getFeatures(request) if f.hasGeometry() and not f.geometry().isEmpty()]
    if not parts:
        raise QgsProcessingException("The study area layer has no polygons: choose a layer with at least one polygon.")
    geom = QgsGeometry.unaryUnion(parts)
    if geom.isNull() or geom.isEmpty():
        raise QgsProcessingException("The study area polygons could not be merged: run 'Fix geometries' on them first.")
    return geom


def _contains(geom: QgsGeometry, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    engine = QgsGeometry.createGeometryEngine(geom.constGet())
    engine.prepareGeometry()
    box = geom.boundingBox()
    inside = np.zeros(len(x), bool)
    near = np.nonzero((x >= box.xMinimum()) & (x <= box.xMaximum()) & (y >= box.yMinimum()) & (y <= box.yMaximum()))[0]
    for i in near:
        inside[i] = engine.contains(QgsPoint(float(x[i]), float(y[i])))
    return inside


def build_cells(alg, parameters, context, feedback, crs, points: PointData) -> CellSet:
    """Make the cells (grid or polygons), drop points outside them, and say which cell holds each point."""
    choice = alg.parameterAsEnum(parameters, CELLS, context)
    area = _dissolved(alg, parameters, STUDY_AREA, context, crs)
    if area is not None:
        inside = _contains(area, points.x, points.y)
        points.reasons[REASON_OUTSIDE_AREA] += int((~inside).sum())
        keep_points(points, inside)
    if choice == 2:
        return _polygon_cells(alg, parameters, context, feedback, crs, points)
    shape = "square" if choice == 0 else "hexagon"
    size = alg.parameterAsDouble(parameters, CELL_SIZE, context)
    if len(points.x) == 0 and area is None:
        raise QgsProcessingException("No crime points are left to analyse: check the layer, weights and study area.")
    if area is None and crime_points.stretched_by_outliers(points.x, points.y):
        feedback.pushWarning(
            "A few crimes lie far from the rest and stretch the grid (empty cells count in Gi*'s mean): "
            "give a study area, e.g. the borough or force area."
        )
    if not size > 0:
        if area is not None:
            box = area.boundingBox()
            width, height = box.width(), box.height()
        elif len(points.x):
            # A few crimes recorded far away must not set the cell size for the rest, as in hotspot density.
            width, height = crime_points.core_size(points.x, points.y)
        else:
            raise QgsProcessingException("There are no points to size the grid from.")
        try:
            size = gistar.default_cell_size(width, height)
        except gistar.GiStarInputError as err:
            raise QgsProcessingException(str(err)) from err
        feedback.pushInfo(f"Cell size (sfhotspot's default rule on the central 99 % of crimes): {size:g} m.")
    if area is not None:
        box = area.boundingBox()
        extent = (box.xMinimum(), box.yMinimum(), box.xMaximum(), box.yMaximum())
    else:
        extent = (points.x.min(), points.y.min(), points.x.max(), points.y.max())
    try:
        grid = gistar.grid_over_extent(shape, size, *extent)
    except gistar.GiStarInputError as err:
        raise QgsProcessingException(str(err)) from err
    if area is not None:
        grid = grid.subset(_touching(grid, area, feedback))
        if len(grid) == 0:
            raise QgsProcessingException("No grid cell touches the study area: check its CRS and the cell size.")
    cell = grid.locate(points.x, points.y)
    if not (cell >= 0).any():
        raise QgsProcessingException(
            "No crime point lies inside the study area: check that the points and the study area cover the same place."
        )
    # Points on the study area's edge may fall in a cell that only meets the area at a point: count them out.
    points.reasons[REASON_OUTSIDE_AREA] += int((cell < 0).sum())
    keep_points(points, cell >= 0)
    cell = cell[cell >= 0]
    fields = QgsFields()
    fields.append(QgsField("cell_id", QVariant.String))
    ids = [[f"{shape[0]}{size:g}_{c}_{r}"] for c, r in zip(grid.col.tolist(), grid.row.tolist())]
    kind = "square" if shape == "square" else "hexagonal"
    return CellSet(grid.cx, grid.cy, fields, ids, grid, [], cell, size, f"{kind} grid of {size:g} m cells")


def _touching(grid: gistar.Cells, area: QgsGeometry, feedback) -> np.ndarray:
    engine = QgsGeometry.createGeometryEngine(area.constGet())
    engine.prepareGeometry()
    keep = np.zeros(len(grid), bool)
    for n, blob in enumerate(gistar.polygon_wkb(grid.vertices())):
        if n % 5000 == 0 and feedback.isCanceled():
            raise QgsProcessingException("Cancelled; no output was written.")
        geom = QgsGeometry()
        geom.fromWkb(blob)
        keep[n] = engine.intersects(geom.constGet())
    return keep


def keep_points(points: PointData, keep: np.ndarray) -> None:
    """Keep only the points where keep is True."""
    points.x, points.y = points.x[keep], points.y[keep]
    points.weight, points.month = points.weight[keep], points.month[keep]


def _polygon_cells(alg, parameters, context, feedback, crs, points: PointData) -> CellSet:
    source = alg.parameterAsSource(parameters, POLYGONS, context)
    if source is None:
        raise QgsProcessingException(
            "Cells is 'My polygons' but no polygon layer was chosen: choose one under 'My polygons'."
        )
    request = QgsFeatureRequest().setDestinationCrs(crs, context.transformContext())
    geoms, attrs, cx, cy = [], [], [], []
    skipped = 0
    for feature in source.getFeatures(request):
        geom = feature.geometry()
        if geom.isNull() or geom.isEmpty():
            skipped += 1
            continue
        centre = geom.centroid().asPoint()
        geoms.append(geom)
        attrs.append(feature.attributes())
        cx.append(centre.x())
        cy.append(centre.y())
    if skipped:
        feedback.pushWarning(f"{skipped} polygon(s) of '{source.sourceName()}' have no geometry and are not analysed.")
    if len(geoms) < 3:
        raise QgsProcessingException("Gi* needs at least 3 polygons with geometry in 'My polygons'.")
    index = QgsSpatialIndex()
    for n, geom in enumerate(geoms):
        feature = QgsFeature(n)
        feature.setGeometry(geom)
        index.addFeature(feature)
    engines = {}
    cell = np.full(len(points.x), -1, np.int64)
    for p in range(len(points.x)):
        if p % 10000 == 0 and feedback.isCanceled():
            raise QgsProcessingException("Cancelled; no output was written.")
        x, y = points.x[p], points.y[p]
        point = QgsPoint(float(x), float(y))
        for n in sorted(index.intersects(QgsRectangle(x, y, x, y))):
            engine = engines.get(n)
            if engine is None:
                engine = QgsGeometry.createGeometryEngine(geoms[n].constGet())
                engine.prepareGeometry()
                engines[n] = engine
            if engine.intersects(point):  # a point on a shared edge goes to the first polygon
                cell[p] = n
                break
    if not (cell >= 0).any():
        raise QgsProcessingException(
            f"No crime point lies inside the polygons of '{source.sourceName()}': check that they cover the same place."
        )
    points.reasons[REASON_OUTSIDE_CELLS] += int((cell < 0).sum())
    keep_points(points, cell >= 0)
    return CellSet(
        np.array(cx),
        np.array(cy),
        source.fields(),
        attrs,
        None,
        geoms,
        cell[cell >= 0],
        None,
        f"polygons of '{source.sourceName()}'",
    )


def neighbours(alg, parameters, context, feedback, cells: CellSet) -> tuple[gistar.Neighbours, str]:
    """Build the binary neighbours the user chose, and describe them."""
    try:
        if alg.parameterAsEnum(parameters, NEIGHBOURHOOD, context) == 1:
            k = alg.parameterAsInt(parameters, NEIGHBOURS_K, context)
            return gistar.k_nearest(cells.cx, cells.cy, k), f"{k} nearest cells"
        band = alg.parameterAsDouble(parameters, DISTANCE, context)
        if not band > 0:
            if cells.size is not None:
                band = cells.size * gistar.SQRT2
            else:
                band = gistar.smallest_connecting_distance(cells.cx, cells.cy)
            feedback.pushInfo(f"Distance band (default): {band:.6g} m.")
        nb = gistar.distance_band(cells.cx, cells.cy, band)
    except gistar.GiStarInputError as err:
        raise QgsProcessingException(str(err)) from err
    if len(nb.i) == 0:
        raise QgsProcessingException(
            f"No cell has another cell within the distance band of {band:.6g} m: widen the band (0 = automatic) "
            "or choose 'K nearest neighbours'."
        )
    return nb, f"cells within {band:.6g} m"


def write_cells(
    alg,
    parameters,
    name,
    context,
    feedback,
    cells: CellSet,
    extra: list[tuple[str, QVariant.Type]],
    rows: list[list],
    crs,
) -> str:
    """Write one polygon per cell with its own fields and the extra columns; return the destination id."""
    fields = QgsFields(cells.fields)
    for field_name, kind in extra:
        fields.append(QgsField(field_name, kind))
    spec = spec_of(fields)
    wkbs, boxes = cells.multipolygon_wkb()
    output = TableOutput(alg, parameters, name, context, spec, crs, geometry_type="multipolygon")
    feedback.setProgressText("Writing the cells")
    step = 20000
    try:
        for start in range(0, len(wkbs), step):
            if feedback.isCanceled():
                raise QgsProcessingException("Cancelled; no output was written.")
            stop = min(start + step, len(wkbs))
            values = [list(cells.attributes[n]) + rows[n] for n in range(start, stop)]
            columns = {field_name: [plain_value(row[k]) for row in values] for k, (field_name, _) in enumerate(spec)}
            output.add_wkb(columns, wkbs[start:stop], boxes[start:stop])
            feedback.setProgress(100.0 * stop / max(1, len(wkbs)))
        dest_id = output.commit()
    except BaseException:
        output.abort()
        raise
    feedback.setProgress(100.0)
    return dest_id


BIN_STYLE = (
    (-3, "#4575b5", "Cold spot, 99 % confidence"),
    (-2, "#849eba", "Cold spot, 95 % confidence"),
    (-1, "#c0ccbe", "Cold spot, 90 % confidence"),
    (0, "#e6e6e6", "Not significant"),
    (1, "#fab984", "Hot spot, 90 % confidence"),
    (2, "#ed7551", "Hot spot, 95 % confidence"),
    (3, "#d62f27", "Hot spot, 99 % confidence"),
)
BIN_LABELS = {value: label for value, _, label in BIN_STYLE}


def style_bins(layer, field: str = "gi_bin") -> None:
    """Colour cells by their Gi* bin field, cold blue to hot red, as ArcGIS's hot spot maps."""
    categories = []
    for value, colour, label in BIN_STYLE:
        symbol = QgsFillSymbol.createSimple({"color": colour, "outline_color": "#9a9a9a", "outline_width": "0.1"})
        categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))


EMERGING_COLOURS = {
    "No pattern detected": "#f0f0f0",
    "New hot spot": "#fdd0a2",
    "Consecutive hot spot": "#fdae6b",
    "Intensifying hot spot": "#a50f15",
    "Persistent hot spot": "#de2d26",
    "Diminishing hot spot": "#fb6a4a",
    "Sporadic hot spot": "#fcbba1",
    "Oscillating hot spot": "#c994c7",
    "Historical hot spot": "#bdbdbd",
    "New cold spot": "#c6dbef",
    "Consecutive cold spot": "#9ecae1",
    "Intensifying cold spot": "#08306b",
    "Persistent cold spot": "#2171b5",
    "Diminishing cold spot": "#6baed6",
    "Sporadic cold spot": "#deebf7",
    "Oscillating cold spot": "#a6bddb",
    "Historical cold spot": "#969696",
}


def style_categories(layer) -> None:
    """Colour cells by emerging hot spot category: reds for hot, blues for cold."""
    categories = []
    for label in gistar.CATEGORIES:
        symbol = QgsFillSymbol.createSimple(
            {"color": EMERGING_COLOURS[label], "outline_color": "#9a9a9a", "outline_width": "0.1"}
        )
        categories.append(QgsRendererCategory(label, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer("category", categories))


def reasons_text(points: PointData, order: tuple[str, ...]) -> str:
    """Describe the points left out, reason by reason."""
    return ", ".join(f"{r}: {points.reasons.get(r, 0)}" for r in order)


def nan_to_none(values: np.ndarray) -> list:
    """Return a list with NaN as None (a NULL attribute)."""
    return [None if v != v else float(v) for v in values.tolist()]
