"""Hotspot density as one call: crimes in, a density grid in stated units and its counted hotspot areas out.

crimemapping:hotspotdensity builds a DensityRequest from its parameters, calls compute_density and writes
what the DensityResult holds. Everything that is decided here, not in the algorithm:

- The working CRS: the layer's own when it is in metres, else British National Grid inside Great Britain,
  else the UTM zone of the crimes' median point.
- Bandwidth and cell size when not given (ArcGIS Pro's rules, core.kde), and the grid (the extent, else the
  study area's, else QGIS Heatmap's grid around the crimes).
- Units (docs/methods.md): crimes per km², crimes per km² per month (divided by the months WITH RECORDS of
  the analysis period; crimes whose month field holds no month are left out of a per-month figure under
  NO_MONTH, because they belong to no month; in the other units they are mapped and counted), or QGIS's
  raw kernel sum.
- The study area (core.areas): cells whose centre is outside are NoData; a crime is in the study area when
  its own location is inside or on the boundary, so the number of crimes in it does not depend on the cells.
- Hotspot areas: cells at or above the threshold, their crimes (a crime is in the area of the cell it falls
  in, and is counted only when it is in the study area), their share of the crimes in the study area (of the
  crimes on the grid without one), and the top of the colour ramp (99.5th percentile of the cells above 0).
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsCoordinateTransformContext,
    QgsFeatureSource,
    QgsPointXY,
    QgsRectangle,
    QgsReferencedRectangle,
    QgsUnitTypes,
)
from qgis.PyQt.QtCore import QCoreApplication

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core import crime_points, kde
from crime_mapping_plugin.core.crime_points import NO_MONTH, NOT_REPROJECTED, CrimePoints
from crime_mapping_plugin.core.density_output import HotspotAreas, crimes_in_areas, hotspot_areas
from crime_mapping_plugin.core.kde import Grid
from crime_mapping_plugin.core.months import NO_MONTH as NO_MONTH_NUMBER
from crime_mapping_plugin.core.months import AnalysisPeriod, analysis_period
from crime_mapping_plugin.core.reproject import BulkTransformer

BNG = QgsCoordinateReferenceSystem("EPSG:27700")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
# British National Grid's area of use (EPSG), lon/lat.
BNG_AREA = QgsRectangle(-9.01, 49.75, 2.01, 61.01)

CRIMES_PER_KM2 = "crimes_per_km2"
CRIMES_PER_KM2_PER_MONTH = "crimes_per_km2_per_month"
KERNEL_SUM = "kernel_sum"
# The unit keys in the order of the algorithm's UNITS options, and their names.
UNIT_KEYS: tuple[str, ...] = (CRIMES_PER_KM2, CRIMES_PER_KM2_PER_MONTH, KERNEL_SUM)
UNIT_NAMES: dict[str, str] = {
    CRIMES_PER_KM2: "crimes per km²",
    CRIMES_PER_KM2_PER_MONTH: "crimes per km² per month",
    KERNEL_SUM: "kernel sum (raw)",
}
PERCENTILE = "percentile"
VALUE = "value"
HOTSPOT_RULES: tuple[str, ...] = (PERCENTILE, VALUE)
# The ramp tops out at this percentile of the cells above 0: a few extreme cells (the City) must not wash out
# the rest of the map.
RAMP_PERCENTILE = 99.5


def tr(text: str) -> str:
    """Translate a message in the algorithm's context."""
    return QCoreApplication.translate("HotspotDensityAlgorithm", text)


class DensityError(ValueError):
    """A density that cannot be computed as asked; the message says what to change."""


@dataclass(frozen=True)
class DensityRequest:
    """What to compute: the crimes as read (in source_crs) and the method, every choice explicit."""

    points: CrimePoints
    source_crs: QgsCoordinateReferenceSystem
    transform_context: QgsCoordinateTransformContext = field(default_factory=QgsCoordinateTransformContext)
    kernel: str = "quartic"
    decay: float = 0.0
    unit: str = CRIMES_PER_KM2
    bandwidth: float | None = None  # metres; None: ArcGIS Pro's rule
    cell_size: float | None = None  # metres; None: the shorter side of the extent / 250
    extent: QgsReferencedRectangle | None = None
    study_area: QgsFeatureSource | None = None
    hotspot_rule: str = PERCENTILE
    hotspot_threshold: float = 95.0
    max_cells: int = 25_000_000
    # The month of every record of the input (NO_MONTH where its value is no month); None without a month field.
    record_months: np.ndarray | None = None


@dataclass
class HotspotArea:
    """One hotspot area: its outline (WKB) and what it holds."""

    wkb: bytes
    crimes: int
    share_pct: float
    cells: int
    area_km2: float
    peak: float
    mean: float


@dataclass
class DensityResult:
    """The density grid (NaN for NoData), its hotspot areas and every number the algorithm reports."""

    crs: QgsCoordinateReferenceSystem
    grid: Grid
    values: np.ndarray
    unit: str
    kernel: str
    decay: float
    bandwidth: float
    cell_size: float
    bandwidth_chosen: bool
    cell_size_chosen: bool
    grid_from: str  # "extent", "study area" or "crimes"
    stretched: bool  # a few far-off crimes stretch the grid (no extent or study area given)
    read: int  # points read (a multipoint counts once per part)
    crimes: int  # crimes mapped
    left_out: Counter
    no_month: int  # crimes whose month field holds no month (mapped, or left out in per-month units)
    period: AnalysisPeriod | None
    locations: int  # distinct locations
    has_study_area: bool
    crimes_counted: int  # the share's denominator: crimes in the study area (on the grid without one)
    threshold: float  # in the output units
    hotspots: list[HotspotArea]
    ramp_maximum: float
    # Why the result, though computed, maps little or nothing (each a sentence naming the cause); [] when it is fine.
    warnings: list[str] = field(default_factory=list)

    @property
    def hotspot_crimes(self) -> int:
        """The crimes in all hotspot areas."""
        return sum(a.crimes for a in self.hotspots)

    @property
    def hotspot_share(self) -> float:
        """The share (%) of the counted crimes that are in hotspot areas."""
        return 100.0 * self.hotspot_crimes / self.crimes_counted if self.crimes_counted else 0.0

    @property
    def hotspot_km2(self) -> float:
        """The area of all hotspot areas, km²."""
        return sum(a.area_km2 for a in self.hotspots)

    @property
    def per_month(self) -> bool:
        """Whether the values are per month."""
        return self.unit == CRIMES_PER_KM2_PER_MONTH


def working_crs(
    crs: QgsCoordinateReferenceSystem, x: np.ndarray, y: np.ndarray, transform_context: QgsCoordinateTransformContext
) -> QgsCoordinateReferenceSystem:
    """Return the CRS to compute in: the layer's own when it is in metres, else BNG or a UTM zone."""
    if not crs.isValid():
        raise DensityError(
            tr("The crime layer has no coordinate reference system: set its CRS (Layer Properties › Source).")
        )
    if not crs.isGeographic() and crs.mapUnits() == QgsUnitTypes.DistanceMeters:
        return crs
    to_wgs = QgsCoordinateTransform(crs, WGS84, transform_context)
    centre = to_wgs.transform(QgsPointXY(float(np.median(x)), float(np.median(y))))
    if BNG_AREA.contains(centre):
        return BNG
    zone = int((centre.x() + 180) // 6) + 1
    return QgsCoordinateReferenceSystem(f"EPSG:{32600 + zone if centre.y() >= 0 else 32700 + zone}")


@dataclass
class _Crimes:
    """The crimes to map, in the working CRS."""

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray
    read: int
    left_out: Counter
    no_month: int
    period: AnalysisPeriod | None


def _crimes(request: DensityRequest, crs: QgsCoordinateReferenceSystem) -> _Crimes:
    points = request.points
    left_out = Counter(points.left_out)
    x, y = points.x, points.y
    if crs != request.source_crs:
        transform = QgsCoordinateTransform(request.source_crs, crs, request.transform_context)
        x, y = BulkTransformer(transform)(x, y)
    keep = np.isfinite(x) & np.isfinite(y)
    if not keep.all():
        left_out[NOT_REPROJECTED] += int((~keep).sum())
    month = points.month
    no_month = 0 if month is None else int((keep & (month == NO_MONTH_NUMBER)).sum())
    per_month = request.unit == CRIMES_PER_KM2_PER_MONTH
    if per_month and no_month:
        # A crime with no month belongs to no month: it cannot be in a figure per month.
        keep &= month != NO_MONTH_NUMBER
        left_out[NO_MONTH] += no_month
    record_months = request.record_months if request.record_months is not None else month
    period = None if record_months is None else analysis_period(record_months)
    if per_month and period is None:
        raise DensityError(tr("The month field holds no month: choose another field, or choose 'crimes per km²'."))
    weight = np.ones(len(points.x)) if points.weight is None else points.weight
    left_out = Counter({k: v for k, v in left_out.items() if v})
    if keep.all():  # the usual case: no copy of a million coordinates
        return _Crimes(x, y, weight, points.read, left_out, no_month, period)
    return _Crimes(x[keep], y[keep], weight[keep], points.read, left_out, no_month, period)


def _study_area(request: DensityRequest, crs: QgsCoordinateReferenceSystem) -> area_rule.Areas | None:
    if request.study_area is None:
        return None
    try:
        study = area_rule.read_areas(request.study_area, crs, request.transform_context, what="study area")
    except area_rule.AreaInputError as err:
        raise DensityError(str(err)) from err
    if len(study.empty) == len(study):
        raise DensityError(tr("The study area layer has no polygons: choose another or leave it empty."))
    return study


def _extent(
    request: DensityRequest, crs: QgsCoordinateReferenceSystem, study: area_rule.Areas | None
) -> tuple[QgsRectangle | None, str]:
    extent = request.extent
    if extent is not None and not extent.isNull() and not extent.isEmpty():
        box = QgsRectangle(extent)
        if extent.crs().isValid() and extent.crs() != crs:
            box = QgsCoordinateTransform(extent.crs(), crs, request.transform_context).transformBoundingBox(box)
        return box, "extent"
    if study is not None:
        box = QgsRectangle()
        box.setMinimal()
        for i, geometry in enumerate(study.geometries):
            if i not in study.empty:
                box.combineExtentWith(geometry.boundingBox())
        return box, "study area"
    return None, "crimes"


def _bandwidth_and_cell(request: DensityRequest, crimes: _Crimes, extent: QgsRectangle | None) -> tuple[float, float]:
    bandwidth = request.bandwidth
    if bandwidth is None:
        try:
            bandwidth = kde.default_bandwidth(crimes.x, crimes.y)
        except ValueError as err:
            raise DensityError(str(err)) from err
    cell = request.cell_size
    if cell is None:
        if extent is not None:
            width, height = extent.width(), extent.height()
        else:
            # A few crimes recorded far away (police.uk has some) must not set the cell size for the rest.
            width, height = crime_points.core_size(crimes.x, crimes.y)
        try:
            cell = kde.default_cell_size(width, height)
        except ValueError:
            cell = kde.round_significant(bandwidth / 5)
        if cell > bandwidth / 2:
            cell = kde.round_significant(bandwidth / 5)
    if bandwidth < cell:
        raise DensityError(
            tr(
                "The bandwidth ({0:g} m) is smaller than the cell size ({1:g} m): each crime would colour at most "
                "one cell. Choose a bandwidth of at least {1:g} m (3 to 10 cells is usual) or a cell size below "
                "{0:g} m."
            ).format(bandwidth, cell)
        )
    return bandwidth, cell


def _grid(request: DensityRequest, crimes: _Crimes, extent: QgsRectangle | None, bandwidth: float, cell: float) -> Grid:
    if extent is not None:
        grid = kde.grid_for_extent(extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum(), cell)
    else:
        grid = kde.grid_around_points(crimes.x, crimes.y, bandwidth, cell)
    if grid.size > request.max_cells:
        suggested = kde.round_significant(cell * math.sqrt(grid.size / request.max_cells) * 1.05)
        raise DensityError(
            tr(
                "The grid would have {0:,} × {1:,} = {2:,} cells at {3:g} m, more than the limit of {4:,}. Choose a "
                "cell size of at least {5:g} m, a smaller extent, or raise 'Largest grid'."
            ).format(grid.rows, grid.cols, grid.size, cell, request.max_cells, suggested)
        )
    return grid


def study_mask(grid: Grid, study: area_rule.Areas, is_cancelled: Callable[[], bool] = lambda: False) -> np.ndarray:
    """Return which cells have their centre inside the study area (boundary included, as GDAL burns).

    Raise InterruptedError when cancelled (GDAL asks as it burns).
    """
    from osgeo import gdal, ogr

    dataset = gdal.GetDriverByName("MEM").Create("", grid.cols, grid.rows, 1, gdal.GDT_Byte)
    dataset.SetGeoTransform(grid.geotransform())
    vector = ogr.GetDriverByName("Memory").CreateDataSource("")
    layer = vector.CreateLayer("area", geom_type=ogr.wkbMultiPolygon)
    for i, geometry in enumerate(study.geometries):
        if i in study.empty:
            continue
        out = ogr.Feature(layer.GetLayerDefn())
        out.SetGeometry(ogr.CreateGeometryFromWkb(bytes(geometry.asWkb())))
        layer.CreateFeature(out)
    gdal.PushErrorHandler("CPLQuietErrorHandler")  # the memory layers carry no CRS; both are in the grid's
    try:
        gdal.RasterizeLayer(dataset, [1], layer, burn_values=[1], callback=lambda *_: 0 if is_cancelled() else 1)
    except RuntimeError as err:
        if is_cancelled():
            raise InterruptedError("cancelled") from err
        raise
    finally:
        gdal.PopErrorHandler()
    return dataset.GetRasterBand(1).ReadAsArray().astype(bool)


def scale(raw: np.ndarray, request: DensityRequest, bandwidth: float, period: AnalysisPeriod | None) -> np.ndarray:
    """Return the raw kernel sum in the request's unit."""
    if request.unit == KERNEL_SUM:
        return raw.copy()
    values = raw * (kde.kernel_scale(request.kernel, bandwidth, request.decay) * 1e6)
    if request.unit == CRIMES_PER_KM2_PER_MONTH:
        values /= period.months_with_records
    return values


def hotspot_threshold(request: DensityRequest, values: np.ndarray, data: np.ndarray) -> float:
    """Return the threshold in the output units: the percentile of the data cells above 0, or the value given."""
    if request.hotspot_rule == PERCENTILE:
        if not 0 <= request.hotspot_threshold <= 100:
            raise DensityError(
                tr("A percentile must be between 0 and 100, not {:g}.").format(request.hotspot_threshold)
            )
        # values are NaN only outside data, and the data cells are all percentile_threshold looks at.
        with np.errstate(invalid="ignore"):
            return kde.percentile_threshold(values, data, request.hotspot_threshold)
    return float(request.hotspot_threshold)


def ramp_maximum(values: np.ndarray) -> float:
    """Return the top of the colour ramp: the RAMP_PERCENTILE of the cells above 0 (1 when there are none)."""
    positive = values[np.isfinite(values) & (values > 0)]
    return max(float(np.percentile(positive, RAMP_PERCENTILE)), 1e-12) if positive.size else 1.0


def _hotspots(
    grid: Grid, values: np.ndarray, areas: HotspotAreas, crimes: np.ndarray, counted_total: int
) -> list[HotspotArea]:
    labels = areas.labels.ravel()
    # Only the cells of an area, in the grid's order: each area's sum adds the same values in the same order.
    in_area = np.flatnonzero(labels)
    labels = labels[in_area]
    safe = np.nan_to_num(values.ravel()[in_area])
    n = len(areas.polygons)
    peak = np.full(n + 1, -np.inf)
    np.maximum.at(peak, labels, safe)
    total = np.bincount(labels, weights=safe, minlength=n + 1)
    out = []
    for i, wkb in enumerate(areas.polygons):
        cells = int(areas.cells[i])
        out.append(
            HotspotArea(
                wkb=wkb,
                crimes=int(crimes[i]),
                share_pct=float(100.0 * crimes[i] / counted_total) if counted_total else 0.0,
                cells=cells,
                area_km2=float(cells * grid.cell * grid.cell / 1e6),
                peak=float(peak[i + 1]),
                mean=float(total[i + 1] / cells),
            )
        )
    return out


def _weak_result(
    request: DensityRequest, crimes: _Crimes, extent_from: str, data: np.ndarray, on_grid: int, counted_total: int
) -> list[str]:
    """Say why a density that was computed maps little or nothing: no crime in the study area or extent, no weight."""
    out = []
    n = len(crimes.x)
    if request.study_area is not None and counted_total == 0:
        out.append(
            tr(
                "None of the {0:,} crimes is inside the study area (layer CRS {1}): check that the study area "
                "covers the crimes and that its CRS is set right (Layer Properties › Source)."
            ).format(n, request.study_area.sourceCrs().authid() or tr("not set"))
        )
    elif extent_from == "extent" and on_grid == 0:
        extent = request.extent
        out.append(
            tr(
                "None of the {0:,} crimes is inside the extent (CRS {1}): give an extent that covers the crimes, "
                "or none."
            ).format(n, extent.crs().authid() if extent.crs().isValid() else tr("not set"))
        )
    if not data.any():
        out.append(tr("No cell is within the bandwidth of a crime: the density is NoData everywhere."))
    elif float(np.sum(crimes.weight)) == 0:
        out.append(
            tr(
                "The weights of the {0:,} crimes add up to 0: the density is 0 everywhere and there are no hotspot "
                "areas. Check the weight field, or map without one."
            ).format(n)
        )
    return out


def compute_density(
    request: DensityRequest,
    is_cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
) -> DensityResult:
    """Compute the density and its hotspot areas; raise DensityError (what to change) or InterruptedError."""
    if len(request.points.x) == 0:
        raise DensityError(tr("The crime layer has no points to map (after leaving out those listed)."))
    crs = working_crs(request.source_crs, request.points.x, request.points.y, request.transform_context)
    crimes = _crimes(request, crs)
    if len(crimes.x) == 0:
        raise DensityError(tr("No crime could be placed in the working CRS (or none has a month, per month)."))
    assert crimes.read == len(crimes.x) + sum(crimes.left_out.values()), "every crime read is mapped or counted"
    study = _study_area(request, crs)
    extent, grid_from = _extent(request, crs, study)
    bandwidth, cell = _bandwidth_and_cell(request, crimes, extent)
    grid = _grid(request, crimes, extent, bandwidth, cell)
    ux, uy, uw, locations = kde.points_for_sum(crimes.x, crimes.y, crimes.weight)
    raw, reached = kde.kernel_sum(grid, ux, uy, uw, bandwidth, request.kernel, request.decay, is_cancelled, progress)
    if is_cancelled():
        raise InterruptedError("cancelled")
    data = reached if study is None else reached & study_mask(grid, study, is_cancelled)
    values = scale(raw, request, bandwidth, crimes.period)
    values[~data] = np.nan
    threshold = hotspot_threshold(request, values, data)
    with np.errstate(invalid="ignore"):  # NaN (NoData) compares False: never hot
        hot = data & (values >= threshold) & (values > 0)
    areas = hotspot_areas(grid, hot, crs.toWkt(), is_cancelled)
    # The study-area rule: a crime's own location, not the cell it falls in.
    cells = grid.cell_of(crimes.x, crimes.y)
    on_grid = cells[2]
    counted = on_grid if study is None else area_rule.inside(study, crimes.x, crimes.y, is_cancelled)
    counted_total = int(counted.sum())
    in_areas = crimes_in_areas(grid, areas, crimes.x, crimes.y, counted, cells)
    if is_cancelled():
        raise InterruptedError("cancelled")
    return DensityResult(
        crs=crs,
        grid=grid,
        values=values,
        unit=request.unit,
        kernel=request.kernel,
        decay=request.decay,
        bandwidth=bandwidth,
        cell_size=cell,
        bandwidth_chosen=request.bandwidth is None,
        cell_size_chosen=request.cell_size is None,
        grid_from=grid_from,
        stretched=extent is None and crime_points.stretched_by_outliers(crimes.x, crimes.y),
        read=crimes.read,
        crimes=len(crimes.x),
        left_out=crimes.left_out,
        no_month=crimes.no_month,
        period=crimes.period,
        locations=locations(),
        has_study_area=study is not None,
        crimes_counted=counted_total,
        threshold=float(threshold),
        hotspots=_hotspots(grid, values, areas, in_areas, counted_total),
        ramp_maximum=ramp_maximum(values),
        warnings=_weak_result(request, crimes, grid_from, data, int(on_grid.sum()), counted_total),
    )
