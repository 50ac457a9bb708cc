"""Shared by the Gi* algorithms: parameters for points, cells and neighbours; reading them; writing cells; styles."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsCoordinateReferenceSystem,
    QgsFields,
    QgsFillSymbol,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterDistance,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsRendererCategory,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import areas, cells, crime_points, gistar
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm, new_field
from crime_mapping_plugin.processing.output import TableOutput, spec_of

INPUT = "INPUT"
WEIGHT_FIELD = "WEIGHT_FIELD"
CELLS = "CELLS"
POLYGONS = "POLYGONS"
POLYGON_ID_FIELD = "POLYGON_ID_FIELD"
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
    "cells (distances equal to within a micrometre are ties, taken in cell order: on hexagons the six nearest "
    "are equidistant). Cells with no neighbour get no z-score (NULL, bin 0) and are counted.<br>"
    "<b>Points</b>: a crime counts in the cell that holds its own location; each part of a multipoint is one "
    "crime. For your own polygons a crime inside or on the boundary of a polygon counts there; one on a shared "
    "edge (or in an overlap) counts once, in the polygon whose code (the polygon code field) sorts first, or "
    "without a code field the first by centroid, west to east, then south to north: never by file order. "
    "With a study area only crimes inside it or on its boundary count. Crimes outside every polygon or the "
    "study area, without geometry or with a missing weight are left out and each is counted under its reason "
    "in the log and outputs. "
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

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        if self.parameterAsEnum(parameters, CELLS, context) == 2 and not parameters.get(POLYGONS):
            return False, self.tr("Cells is 'My polygons (e.g. wards)': choose the polygon layer under 'My polygons'.")
        return True, ""


def add_cell_parameters(alg: CrimeMappingAlgorithm, point_help: str) -> None:
    """Add the points, weight, cells, study area and neighbourhood parameters to alg."""
    tr = alg.tr
    points = QgsProcessingParameterFeatureSource(INPUT, tr("Crime points"), [QgsProcessing.TypeVectorPoint])
    points.setHelp(tr(point_help))
    alg.addParameter(points)
    weight = QgsProcessingParameterField(
        WEIGHT_FIELD, tr("Weight field"), None, INPUT, QgsProcessingParameterField.Numeric, optional=True
    )
    weight.setHelp(
        tr(
            "Optional: each point counts this much instead of 1 (e.g. a harm score). Points whose weight is "
            "missing or not a number are left out and counted."
        )
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
    code = QgsProcessingParameterField(
        POLYGON_ID_FIELD, tr("Polygon code field"), None, POLYGONS, QgsProcessingParameterField.Any, optional=True
    )
    code.setHelp(
        tr(
            "Optional: a field of 'My polygons' holding a unique code (e.g. WD24CD). A crime on a shared edge counts "
            "in the polygon whose code sorts first; without it, in the first by centroid (west to east)."
        )
    )
    alg.addParameter(code)
    size = QgsProcessingParameterDistance(CELL_SIZE, tr("Cell size"), 0.0, INPUT, optional=True, minValue=0.0)
    size.setHelp(
        tr("Grid cell size in metres (hexagons: distance between opposite sides). 0 = sfhotspot's default rule.")
    )
    size.setDefaultUnit(QgsUnitTypes.DistanceMeters)
    alg.addParameter(size)
    area = QgsProcessingParameterFeatureSource(
        STUDY_AREA, tr("Study area"), [QgsProcessing.TypeVectorPolygon], optional=True
    )
    area.setHelp(
        tr(
            "Optional polygons: only cells touching them are analysed and only crimes inside them or on their "
            "boundary counted."
        )
    )
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


def add_fdr_parameter(alg: CrimeMappingAlgorithm, label: str, help_text: str) -> None:
    """Add the false discovery rate switch (on by default)."""
    fdr = QgsProcessingParameterBoolean(FDR, alg.tr(label), True)
    fdr.setHelp(alg.tr(help_text))
    alg.addParameter(fdr)


REASONS = (
    crime_points.NO_GEOMETRY,
    crime_points.NO_WEIGHT,
    crime_points.NEGATIVE_WEIGHT,
    crime_points.OUTSIDE_STUDY_AREA,
    crime_points.OUTSIDE_AREAS,
)


def analysis_crs(
    alg: CrimeMappingAlgorithm, parameters: dict, context: QgsProcessingContext
) -> QgsCoordinateReferenceSystem:
    """Return a projected CRS for the analysis: the points', else the polygons' or study area's."""
    for name in (INPUT, POLYGONS, STUDY_AREA):
        source = alg.parameterAsSource(parameters, name, context)
        if source is not None and source.sourceCrs().isValid() and not source.sourceCrs().isGeographic():
            return source.sourceCrs()
    raise QgsProcessingException(
        alg.tr(
            "The crime points are in a geographic CRS (degrees) and no projected polygons were given: reproject the "
            "points to a projected CRS in metres (e.g. EPSG:27700, British National Grid) with 'Reproject layer' "
            "or import them with crimemapping:importpoliceuk, which outputs EPSG:27700."
        )
    )


def read_points(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    crs: QgsCoordinateReferenceSystem,
    date_field: str | None = None,
) -> tuple[crime_points.CrimePoints, np.ndarray]:
    """Read the crimes (every part of a multipoint is one) in crs; return them and every record's month."""
    source = alg.parameterAsSource(parameters, INPUT, context)
    if source is None:
        raise QgsProcessingException(alg.tr("The crime points layer could not be read."))
    weight_name = alg.parameterAsString(parameters, WEIGHT_FIELD, context) or None
    for name in (weight_name, date_field):
        if name and source.fields().lookupField(name) < 0:
            raise QgsProcessingException(alg.tr("The crime points layer has no field '{}'.").format(name))
    try:
        table = alg.read_input(
            source,
            parameters,
            INPUT,
            context,
            feedback,
            crime_points.point_columns(weight_name, date_field),
            explode=True,
            crs=crs,
            transform_context=context.transformContext(),
            progress=lambda f: feedback.setProgress(20.0 * f),
        )
    except InterruptedError as err:
        raise QgsProcessingException(alg.tr("Cancelled; no output was written.")) from err
    record_months = table.columns[date_field] if date_field else np.zeros(0, np.int64)
    return crime_points.crime_points_from(table, weight_name, date_field), record_months


def _read_areas(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    name: str,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    crs: QgsCoordinateReferenceSystem,
    code_field: str | None = None,
    fields: Sequence[str] = (),
) -> areas.Areas | None:
    source = alg.parameterAsSource(parameters, name, context)
    if source is None:
        return None
    what = "study area" if name == STUDY_AREA else "polygon"
    try:
        return areas.read_areas(
            source, crs, context.transformContext(), code_field, fields, what, is_cancelled=feedback.isCanceled
        )
    except areas.AreaInputError as err:
        raise QgsProcessingException(str(err)) from err
    except InterruptedError as err:
        raise QgsProcessingException(alg.tr("Cancelled; no output was written.")) from err


def cell_request(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    crs: QgsCoordinateReferenceSystem,
    points: crime_points.CrimePoints,
) -> tuple[cells.CellRequest, QgsFields]:
    """Return the typed cell request of the parameters, and the fields the cells bring to the output."""
    shape = cells.SHAPES[alg.parameterAsEnum(parameters, CELLS, context)]
    own = QgsFields()
    polygons = None
    if shape == cells.POLYGONS:
        source = alg.parameterAsSource(parameters, POLYGONS, context)
        if source is None:
            raise QgsProcessingException(
                alg.tr("Cells is 'My polygons' but no polygon layer was chosen: choose one under 'My polygons'.")
            )
        own = QgsFields(source.fields())
        code = alg.parameterAsString(parameters, POLYGON_ID_FIELD, context) or None
        polygons = _read_areas(alg, parameters, POLYGONS, context, feedback, crs, code, own.names())
    else:
        own.append(new_field("cell_id", QVariant.String))
    request = cells.CellRequest(
        points=points,
        shape=shape,
        size=alg.parameterAsDouble(parameters, CELL_SIZE, context) or None,
        polygons=polygons,
        study_area=_read_areas(alg, parameters, STUDY_AREA, context, feedback, crs),
        is_cancelled=feedback.isCanceled,
    )
    return request, own


def neighbour_rule(alg: CrimeMappingAlgorithm, parameters: dict, context: QgsProcessingContext) -> cells.NeighbourRule:
    """Return the neighbour rule of the parameters."""
    if alg.parameterAsEnum(parameters, NEIGHBOURHOOD, context) == 1:
        return cells.NeighbourRule(k=alg.parameterAsInt(parameters, NEIGHBOURS_K, context))
    return cells.NeighbourRule(band=alg.parameterAsDouble(parameters, DISTANCE, context) or None)


def tell(feedback: QgsProcessingFeedback, counted: cells.CountedCells) -> None:
    """Pass on what the core noted and warned of."""
    for line in counted.notes:
        feedback.pushInfo(line)
    for line in counted.warnings:
        feedback.pushWarning(line)


def write_cells(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    name: str,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    cell_set: cells.CellSet,
    own: QgsFields,
    extra: list[tuple[str, QVariant.Type]],
    columns: dict[str, Sequence],
    crs: QgsCoordinateReferenceSystem,
) -> str:
    """Write one polygon per cell with its own fields and the extra columns (lists or arrays, by field name).

    Return the output's id. Columns go to the output whole, batch by batch, converted once per column.
    """
    fields = QgsFields(own)
    for field_name, kind in extra:
        fields.append(new_field(field_name, kind))
    spec = spec_of(fields)
    values = {**cell_set.attributes, **columns}
    if feedback.isCanceled():
        raise QgsProcessingException(alg.tr("Cancelled; no output was written."))
    wkbs, boxes = cell_set.multipolygon_wkb()
    output = TableOutput(alg, parameters, name, context, spec, crs, geometry_type="multipolygon")
    feedback.setProgressText(alg.tr("Writing the cells"))
    step = 50000
    try:
        for start in range(0, len(wkbs), step):
            if feedback.isCanceled():
                raise QgsProcessingException(alg.tr("Cancelled; no output was written."))
            stop = min(start + step, len(wkbs))
            output.add_wkb({n: values[n][start:stop] for n, _ in spec}, wkbs[start:stop], boxes[start:stop])
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


def style_bins(layer: QgsVectorLayer, field: str = "gi_bin") -> None:
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


def style_categories(layer: QgsVectorLayer) -> None:
    """Colour cells by emerging hot spot category: reds for hot, blues for cold."""
    categories = []
    for label in gistar.CATEGORIES:
        symbol = QgsFillSymbol.createSimple(
            {"color": EMERGING_COLOURS[label], "outline_color": "#9a9a9a", "outline_width": "0.1"}
        )
        categories.append(QgsRendererCategory(label, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer("category", categories))


def reasons_text(points: crime_points.CrimePoints, order: tuple[str, ...]) -> str:
    """Describe the points left out, reason by reason: those of order, then any other that has points."""
    extra = [r for r, n in points.left_out.items() if n and r not in order]
    return ", ".join(f"{r}: {points.left_out.get(r, 0)}" for r in (*order, *extra))


def nan_to_none(values: np.ndarray) -> list:
    """Return a list with NaN as None (a NULL attribute)."""
    return [None if v != v else float(v) for v in values.tolist()]
