"""Processing algorithm crimemapping:hotspotdensity: exact kernel density of crime in crimes per km², hotspot areas."""

from __future__ import annotations

import math
import os

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsRasterFileWriter,
    QgsRectangle,
    QgsUnitTypes,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import crime_points, kde
from crime_mapping_plugin.core.density_output import crimes_in_areas, hotspot_areas, write_raster
from crime_mapping_plugin.core.reproject import BulkTransformer
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.density_style import style_density, style_hotspot_areas
from crime_mapping_plugin.processing.layer_info import describe_layer

BNG = QgsCoordinateReferenceSystem("EPSG:27700")
WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")
# British National Grid's area of use (EPSG), lon/lat.
BNG_AREA = QgsRectangle(-9.01, 49.75, 2.01, 61.01)

UNITS = ("crimes per km²", "crimes per km² per month", "kernel sum (raw)")
UNIT_KEYS = ("crimes_per_km2", "crimes_per_km2_per_month", "kernel_sum")
RULES = ("percentile of cells", "value in the output units")


class HotspotDensityAlgorithm(CrimeMappingAlgorithm):
    """Kernel density of crime points on a grid, exact at cell centres, in crimes per km², with hotspot areas."""

    INPUT = "INPUT"
    WEIGHT_FIELD = "WEIGHT_FIELD"
    MONTH_FIELD = "MONTH_FIELD"
    STUDY_AREA = "STUDY_AREA"
    EXTENT = "EXTENT"
    KERNEL = "KERNEL"
    DECAY = "DECAY"
    BANDWIDTH = "BANDWIDTH"
    CELL_SIZE = "CELL_SIZE"
    UNITS = "UNITS"
    HOTSPOT_RULE = "HOTSPOT_RULE"
    HOTSPOT_THRESHOLD = "HOTSPOT_THRESHOLD"
    MAX_CELLS = "MAX_CELLS"
    OUTPUT = "OUTPUT"
    HOTSPOTS = "HOTSPOTS"

    BANDWIDTH_USED = "BANDWIDTH_USED"
    CELL_SIZE_USED = "CELL_SIZE_USED"
    CRS_USED = "CRS_USED"
    UNIT = "UNIT"
    CRIMES = "CRIMES"
    CRIMES_LEFT_OUT = "CRIMES_LEFT_OUT"
    MONTHS = "MONTHS"
    THRESHOLD_USED = "THRESHOLD_USED"
    HOTSPOT_COUNT = "HOTSPOT_COUNT"
    HOTSPOT_CRIMES = "HOTSPOT_CRIMES"
    HOTSPOT_SHARE = "HOTSPOT_SHARE"

    NAME = "hotspotdensity"
    DISPLAY_NAME = "Hotspot density (kernel density)"
    GROUP_ID = "hotspots"
    GROUP = "Hotspots"
    TAGS = ("crime", "hotspot", "kde", "kernel", "density", "heatmap", "quartic", "police.uk", "km2")
    HELP = (
        "A kernel density surface of crime points, in crimes per km², and the hotspot areas it outlines, each "
        "with the number of crimes inside it.<br>"
        "<b>Exact</b>: each cell holds the kernel of every crime evaluated at the true distance from the crime "
        "to the cell centre (only crimes within the bandwidth count). Kernels as in QGIS's Heatmap: quartic "
        "(1−u²)², triangular 1−(1−r)u, uniform, triweight (1−u²)³, Epanechnikov 1−u², u = distance/bandwidth. "
        "Scaled, they integrate to 1 (quartic 3/(πh²); QGIS up to 3.40.3 scales its quartic 7.25× too high), "
        "so the surface integrates to the number of crimes.<br>"
        "<b>Units</b>: crimes per km² (the density), crimes per km² per month (divided by the number of distinct "
        "months in the month field), or the raw kernel sum (QGIS's 'raw' output). With a weight field, "
        "'crimes' means the sum of weights.<br>"
        "<b>Bandwidth and cell size</b> are in metres. Left empty, they follow ArcGIS Pro's rules, rounded to two "
        "significant figures: bandwidth 0.9·min(SD, √(1/ln 2)·Dm)·n^−0.2 (SD the standard distance, Dm the "
        "median distance of the crimes from their mean centre, n the number of crimes); cell size the shorter "
        "side of the extent / 250 (the extent, else the study area's, else that of the central 99 % of crimes in "
        "each direction, so that a few crimes recorded far away do not decide it). The values used are logged "
        "and returned.<br>"
        "<b>Coordinates</b>: a layer in degrees (or feet) is reprojected to British National Grid when it lies in "
        "Great Britain, otherwise to its UTM zone. A bandwidth below the cell size, or a grid above the cell "
        "limit, stops the run with a message saying what to change.<br>"
        "<b>Grid</b>: the extent if given, else the study area's extent, else QGIS Heatmap's grid (the crimes' "
        "extent grown by the bandwidth), so the two compare cell for cell. Cells no crime reaches, and cells "
        "whose centre is outside the study area, "
        "are NoData. Crimes outside the study area still count near its edge.<br>"
        "<b>Hotspot areas</b>: cells at or above the threshold (by default the 95th percentile of the cells with "
        "a density above 0), joined where they share an edge. Each area has the number of crimes in its cells, "
        "its share of all crimes on the map (inside the study area, when one is given), its area and its peak "
        "density."
    )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        source = QgsProcessingParameterFeatureSource(
            self.INPUT, self.tr("Crime points"), [QgsProcessing.TypeVectorPoint]
        )
        source.setHelp(self.tr("Crime points, e.g. the police.uk import; a selection or filter is honoured."))
        self.addParameter(source)
        weight = QgsProcessingParameterField(
            self.WEIGHT_FIELD,
            self.tr("Weight field"),
            parentLayerParameterName=self.INPUT,
            type=QgsProcessingParameterField.Numeric,
            optional=True,
        )
        weight.setHelp(self.tr("Optional: each crime counts as this many (e.g. a harm score). Empty: each counts 1."))
        self.addParameter(weight)
        month = QgsProcessingParameterField(
            self.MONTH_FIELD, self.tr("Month field"), parentLayerParameterName=self.INPUT, optional=True
        )
        month.setHelp(
            self.tr(
                "Date or 'YYYY-MM' field giving each crime's month, used for 'per month' units. "
                "Empty: the field 'month' when the layer has one."
            )
        )
        self.addParameter(month)
        area = QgsProcessingParameterFeatureSource(
            self.STUDY_AREA, self.tr("Study area"), [QgsProcessing.TypeVectorPolygon], optional=True
        )
        area.setHelp(self.tr("Optional polygons (e.g. wards of a borough): cells whose centre is outside are NoData."))
        self.addParameter(area)
        extent = QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent"), optional=True)
        extent.setHelp(
            self.tr("Optional grid extent; empty: the crimes' extent grown by the bandwidth (as QGIS Heatmap).")
        )
        self.addParameter(extent)
        kernel = QgsProcessingParameterEnum(
            self.KERNEL, self.tr("Kernel shape"), options=[k.capitalize() for k in kde.KERNELS], defaultValue=0
        )
        kernel.setHelp(self.tr("Quartic (the usual choice for crime), triangular, uniform, triweight, Epanechnikov."))
        self.addParameter(kernel)
        decay = QgsProcessingParameterNumber(
            self.DECAY,
            self.tr("Decay ratio (triangular kernel)"),
            QgsProcessingParameterNumber.Double,
            0.0,
            minValue=0.0,
            maxValue=1.0,
        )
        decay.setHelp(self.tr("Triangular only: the kernel's value at the bandwidth, relative to its centre (0 to 1)."))
        decay.setFlags(decay.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(decay)
        bandwidth = QgsProcessingParameterNumber(
            self.BANDWIDTH,
            self.tr("Bandwidth (metres)"),
            QgsProcessingParameterNumber.Double,
            optional=True,
            minValue=0.0,
        )
        bandwidth.setHelp(self.tr("Search radius in metres; empty or 0: ArcGIS Pro's rule (see help)."))
        self.addParameter(bandwidth)
        cell = QgsProcessingParameterNumber(
            self.CELL_SIZE,
            self.tr("Cell size (metres)"),
            QgsProcessingParameterNumber.Double,
            optional=True,
            minValue=0.0,
        )
        cell.setHelp(self.tr("Side of a square cell in metres; empty or 0: the shorter side of the extent / 250."))
        self.addParameter(cell)
        units = QgsProcessingParameterEnum(self.UNITS, self.tr("Output units"), options=list(UNITS), defaultValue=0)
        units.setHelp(
            self.tr("Crimes per km², crimes per km² per month (over the months in the data), or raw kernel sum.")
        )
        self.addParameter(units)
        rule = QgsProcessingParameterEnum(
            self.HOTSPOT_RULE, self.tr("Hotspot threshold is a"), options=list(RULES), defaultValue=0
        )
        rule.setHelp(self.tr("Percentile: of the cells with a density above 0. Value: in the output units."))
        self.addParameter(rule)
        threshold = QgsProcessingParameterNumber(
            self.HOTSPOT_THRESHOLD,
            self.tr("Hotspot threshold"),
            QgsProcessingParameterNumber.Double,
            95.0,
            minValue=0.0,
        )
        threshold.setHelp(
            self.tr("Cells at or above it form hotspot areas: a percentile (0–100) or a value in the output units.")
        )
        self.addParameter(threshold)
        limit = QgsProcessingParameterNumber(
            self.MAX_CELLS,
            self.tr("Largest grid (cells)"),
            QgsProcessingParameterNumber.Integer,
            25_000_000,
            minValue=1,
        )
        limit.setHelp(self.tr("A grid with more cells stops the run (memory: about 17 bytes a cell)."))
        limit.setFlags(limit.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(limit)
        output = QgsProcessingParameterRasterDestination(self.OUTPUT, self.tr("Density"))
        output.setHelp(self.tr("Float32 raster (GeoTIFF) in the chosen units; NoData where no crime reaches."))
        self.addParameter(output)
        areas = QgsProcessingParameterFeatureSink(
            self.HOTSPOTS,
            self.tr("Hotspot areas"),
            QgsProcessing.TypeVectorPolygon,
            optional=True,
            createByDefault=True,
        )
        areas.setHelp(self.tr("Polygons of hot cells with crimes (count), share of crimes (%), area (km²) and peak."))
        self.addParameter(areas)
        self.add_outputs(
            numbers=(
                (self.BANDWIDTH_USED, "Bandwidth used (m)"),
                (self.CELL_SIZE_USED, "Cell size used (m)"),
                (self.CRIMES, "Crimes used"),
                (self.CRIMES_LEFT_OUT, "Crimes left out"),
                (self.MONTHS, "Months in the data"),
                (self.THRESHOLD_USED, "Hotspot threshold used (output units)"),
                (self.HOTSPOT_COUNT, "Hotspot areas"),
                (self.HOTSPOT_CRIMES, "Crimes in hotspot areas"),
                (self.HOTSPOT_SHARE, "Share of crimes in hotspot areas (%)"),
            ),
            texts=[(self.CRS_USED, "CRS of the grid"), (self.UNIT, "Unit of the density")],
        )

    def _number(self, parameters, name, context) -> float | None:
        value = parameters.get(name)
        if value is None or value == "":
            return None
        number = self.parameterAsDouble(parameters, name, context)
        return number if number > 0 else None

    def _working_crs(self, crs: QgsCoordinateReferenceSystem, x: np.ndarray, y: np.ndarray, context):
        """Return the CRS to compute in: the layer's own when it is in metres, else BNG or a UTM zone."""
        if not crs.isValid():
            raise QgsProcessingException(
                self.tr("The crime layer has no coordinate reference system: set its CRS (Layer Properties › Source).")
            )
        if not crs.isGeographic() and crs.mapUnits() == QgsUnitTypes.DistanceMeters:
            return crs
        to_wgs = QgsCoordinateTransform(crs, WGS84, context.transformContext())
        centre = to_wgs.transform(QgsPointXY(float(np.median(x)), float(np.median(y))))
        if BNG_AREA.contains(centre):
            return BNG
        zone = int((centre.x() + 180) // 6) + 1
        return QgsCoordinateReferenceSystem(f"EPSG:{32600 + zone if centre.y() >= 0 else 32700 + zone}")

    def _read(self, parameters, context, feedback, source, weight_field, month_field) -> crime_points.CrimePoints:
        try:
            table = crime_points.read_layer(
                source,
                self.plain_ogr_layer(parameters, self.INPUT, context),
                crime_points.point_columns(weight_field, month_field),
                explode=True,
                is_cancelled=feedback.isCanceled,
                progress=lambda f: feedback.setProgress(20 * f),
            )
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; no output was written.")) from err
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        return crime_points.crime_points_from(table, weight_field, month_field)

    def _study_mask(self, parameters, context, grid: kde.Grid, crs) -> np.ndarray | None:
        area = self.parameterAsSource(parameters, self.STUDY_AREA, context)
        if area is None:
            return None
        from osgeo import gdal, ogr

        transform = QgsCoordinateTransform(area.sourceCrs(), crs, context.transformContext())
        dataset = gdal.GetDriverByName("MEM").Create("", grid.cols, grid.rows, 1, gdal.GDT_Byte)
        dataset.SetGeoTransform(grid.geotransform())
        vector = ogr.GetDriverByName("Memory").CreateDataSource("")
        layer = vector.CreateLayer("area", geom_type=ogr.wkbMultiPolygon)
        polygons = 0
        for feature in area.getFeatures(QgsFeatureRequest().setNoAttributes()):
            geom = feature.geometry()
            if geom is None or geom.isNull():
                continue
            geom.transform(transform)
            out = ogr.Feature(layer.GetLayerDefn())
            out.SetGeometry(ogr.CreateGeometryFromWkb(bytes(geom.asWkb())))
            layer.CreateFeature(out)
            polygons += 1
        if polygons == 0:
            raise QgsProcessingException(
                self.tr("The study area layer has no polygons: choose another or leave it empty.")
            )
        gdal.PushErrorHandler("CPLQuietErrorHandler")  # the memory layers carry no CRS; both are in `crs`
        try:
            gdal.RasterizeLayer(dataset, [1], layer, burn_values=[1])
        finally:
            gdal.PopErrorHandler()
        return dataset.GetRasterBand(1).ReadAsArray().astype(bool)

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.tr("The crime points layer could not be read."))
        weight_field = self.parameterAsString(parameters, self.WEIGHT_FIELD, context) or None
        month_field = self.parameterAsString(parameters, self.MONTH_FIELD, context) or None
        if month_field is None and source.fields().lookupField("month") >= 0:
            month_field = "month"
        kernel = kde.KERNELS[self.parameterAsEnum(parameters, self.KERNEL, context)]
        decay = self.parameterAsDouble(parameters, self.DECAY, context) if kernel == "triangular" else 0.0
        unit_index = self.parameterAsEnum(parameters, self.UNITS, context)
        unit = UNITS[unit_index]
        if unit_index == 1 and month_field is None:
            raise QgsProcessingException(
                self.tr(
                    "'Crimes per km² per month' needs a month field: choose one (a date or 'YYYY-MM' text field), "
                    "or choose 'crimes per km²'."
                )
            )

        feedback.setProgressText(self.tr("Reading crimes"))
        points = self._read(parameters, context, feedback, source, weight_field, month_field)
        for reason, count in points.left_out.items():
            feedback.pushWarning(self.tr(f"{count} crime(s) left out: {reason}."))
        if len(points.x) == 0:
            raise QgsProcessingException(
                self.tr("The crime layer has no points to map (after leaving out those listed).")
            )
        crs = self._working_crs(source.sourceCrs(), points.x, points.y, context)
        x, y = points.x, points.y
        if crs != source.sourceCrs():
            x, y = BulkTransformer(QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext()))(x, y)
            feedback.pushInfo(
                self.tr(
                    f"The crime layer's CRS ({source.sourceCrs().authid()}) is not in metres: "
                    f"computed in {crs.authid()} ({crs.description()})."
                )
            )
        ok = np.isfinite(x) & np.isfinite(y)
        if not ok.all():
            points.left_out["could not be reprojected"] += int((~ok).sum())
            feedback.pushWarning(
                self.tr(f"{int((~ok).sum())} crime(s) left out: could not be reprojected to {crs.authid()}.")
            )
            x, y = x[ok], y[ok]
            points.weight = None if points.weight is None else points.weight[ok]
            points.month = None if points.month is None else points.month[ok]
        if len(x) == 0:
            raise QgsProcessingException(self.tr("No crime could be placed in the working CRS."))
        weight = np.ones(len(x)) if points.weight is None else points.weight
        months = points.months_present()
        if unit_index == 1:
            if not months:
                raise QgsProcessingException(
                    self.tr(f"The month field '{month_field}' holds no month: choose another field.")
                )
            unknown = int((points.month < 0).sum())
            if unknown:
                feedback.pushWarning(
                    self.tr(f"{unknown} crime(s) have no month in '{month_field}'; they are still mapped.")
                )

        extent = None
        if parameters.get(self.EXTENT) not in (None, ""):
            extent = self.parameterAsExtent(parameters, self.EXTENT, context, crs)
            if extent.isNull() or extent.isEmpty():
                extent = None
        area_source = self.parameterAsSource(parameters, self.STUDY_AREA, context)
        if extent is None and area_source is not None:
            to_crs = QgsCoordinateTransform(area_source.sourceCrs(), crs, context.transformContext())
            extent = to_crs.transformBoundingBox(area_source.sourceExtent())
            feedback.pushInfo(self.tr("The grid covers the study area's extent."))
        bandwidth = self._number(parameters, self.BANDWIDTH, context)
        if bandwidth is None:
            try:
                bandwidth = kde.default_bandwidth(x, y)
            except ValueError as err:
                raise QgsProcessingException(str(err)) from err
            feedback.pushInfo(self.tr(f"Bandwidth chosen by ArcGIS Pro's rule: {bandwidth:g} m."))
        cell = self._number(parameters, self.CELL_SIZE, context)
        if cell is None:
            if extent is not None:
                width, height = extent.width(), extent.height()
            else:
                # A few crimes recorded far away (police.uk has some) must not set the cell size for the rest.
                width, height = crime_points.core_size(x, y)
            try:
                cell = kde.default_cell_size(width, height)
            except ValueError:
                cell = kde.round_significant(bandwidth / 5)
            if cell > bandwidth / 2:
                cell = kde.round_significant(bandwidth / 5)
            feedback.pushInfo(self.tr(f"Cell size chosen (shorter side of the extent / 250): {cell:g} m."))
        if extent is None and crime_points.stretched_by_outliers(x, y):
            feedback.pushWarning(
                self.tr("A few crimes lie far from the rest and stretch the grid: give an extent or a study area.")
            )
        if bandwidth < cell:
            raise QgsProcessingException(
                self.tr(
                    f"The bandwidth ({bandwidth:g} m) is smaller than the cell size ({cell:g} m): each crime would "
                    f"colour at most one cell. Choose a bandwidth of at least {cell:g} m (3 to 10 cells is usual) "
                    f"or a cell size below {bandwidth:g} m."
                )
            )
        if extent is not None:
            grid = kde.grid_for_extent(extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum(), cell)
        else:
            grid = kde.grid_around_points(x, y, bandwidth, cell)
        limit = self.parameterAsInt(parameters, self.MAX_CELLS, context)
        if grid.size > limit:
            suggested = kde.round_significant(cell * math.sqrt(grid.size / limit) * 1.05)
            raise QgsProcessingException(
                self.tr(
                    f"The grid would have {grid.rows:,} × {grid.cols:,} = {grid.size:,} cells at {cell:g} m, more than "
                    f"the limit of {limit:,}. Choose a cell size of at least {suggested:g} m, a smaller extent, or "
                    "raise 'Largest grid'."
                )
            )
        feedback.pushInfo(
            self.tr(
                f"{len(x):,} crimes, {kernel} kernel, bandwidth {bandwidth:g} m, cells {cell:g} m, "
                f"grid {grid.rows:,} × {grid.cols:,} in {crs.authid()}."
            )
        )

        feedback.setProgressText(self.tr("Computing the density"))
        ux, uy, uw = kde.merge_identical_points(x, y, weight)
        feedback.pushInfo(self.tr(f"{len(ux):,} distinct locations."))
        raw, reached = kde.kernel_sum(
            grid, ux, uy, uw, bandwidth, kernel, decay, feedback.isCanceled, lambda f: feedback.setProgress(20 + 65 * f)
        )
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        study = self._study_mask(parameters, context, grid, crs)
        data = reached if study is None else reached & study
        if unit_index == 2:
            values = raw
        else:
            values = raw * (kde.kernel_scale(kernel, bandwidth, decay) * 1e6)
            if unit_index == 1:
                values /= len(months)
        values[~data] = np.nan

        feedback.setProgressText(self.tr("Outlining hotspot areas"))
        rule = self.parameterAsEnum(parameters, self.HOTSPOT_RULE, context)
        threshold = self.parameterAsDouble(parameters, self.HOTSPOT_THRESHOLD, context)
        if rule == 0:
            if threshold > 100:
                raise QgsProcessingException(self.tr(f"A percentile must be between 0 and 100, not {threshold:g}."))
            threshold_value = kde.percentile_threshold(np.nan_to_num(values), data, threshold)
        else:
            threshold_value = threshold
        hot = data & (np.nan_to_num(values, nan=-np.inf) >= threshold_value) & (np.nan_to_num(values) > 0)
        areas = hotspot_areas(grid, hot, crs.toWkt())
        row, col, on = grid.cell_of(x, y)
        counted = on.copy()
        if study is not None:
            counted[on] &= study[row[on], col[on]]
        crimes_total = int(counted.sum())
        crimes = crimes_in_areas(grid, areas, x, y, counted)
        label_flat = areas.labels.ravel()
        safe = np.nan_to_num(values).ravel()
        n_areas = len(areas.polygons)
        peak = np.full(n_areas + 1, -np.inf)
        in_area = label_flat > 0
        np.maximum.at(peak, label_flat[in_area], safe[in_area])
        total_value = np.bincount(label_flat, weights=safe, minlength=n_areas + 1)
        feedback.setProgress(92)
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))

        unit_text = unit if weight_field is None else f"{unit} (weighted by {weight_field})"
        period = f"{months[0]} to {months[-1]} ({len(months)} months)" if months else "months unknown"
        title = f"Crime density, {unit}" if unit_index != 2 else "Crime density, raw kernel sum"
        metadata = {
            "UNIT": unit_text,
            "UNIT_KEY": UNIT_KEYS[unit_index],
            "KERNEL": kernel,
            "KERNEL_DECAY": f"{decay:g}",
            "BANDWIDTH_M": f"{bandwidth:g}",
            "CELL_SIZE_M": f"{cell:g}",
            "CRIMES": str(len(x)),
            "MONTHS": ",".join(months),
            "MONTH_COUNT": str(len(months)),
            "WEIGHT_FIELD": weight_field or "",
            "SOURCE": source.sourceName(),
            "METHOD": "Exact kernel density at cell centres (Crime Mapping plugin, crimemapping:hotspotdensity)",
        }
        dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        driver = QgsRasterFileWriter.driverForExtension(os.path.splitext(dest)[1]) or "GTiff"
        write_raster(dest, grid, values, crs.toWkt(), metadata, unit_text, title, driver)
        abstract = (
            f"Kernel density of {len(x):,} crimes from '{source.sourceName()}', {period}, in {unit_text}. "
            f"{kernel.capitalize()} kernel, bandwidth {bandwidth:g} m, cells {cell:g} m, {crs.authid()}. Values are "
            "exact at cell centres; NoData where no crime is within the bandwidth"
            + (" or outside the study area." if study is not None else ".")
        )
        # The ramp tops out at the 99.5th percentile: a few extreme cells (the City) must not wash out the rest.
        positive = values[np.isfinite(values) & (values > 0)]
        vmax = float(np.percentile(positive, 99.5)) if positive.size else 1.0
        legend_unit = "" if unit_index == 2 else unit
        if context.willLoadLayerOnCompletion(dest):
            context.layerToLoadOnCompletionDetails(dest).name = title
        describe_layer(
            context,
            dest,
            title,
            abstract,
            ["crime", "kernel density", "hotspot", kernel, unit],
            style=lambda layer: style_density(layer, max(vmax, 1e-12), legend_unit),
        )

        results = {
            self.OUTPUT: dest,
            self.BANDWIDTH_USED: bandwidth,
            self.CELL_SIZE_USED: cell,
            self.CRS_USED: crs.authid(),
            self.UNIT: unit_text,
            self.CRIMES: len(x),
            self.CRIMES_LEFT_OUT: sum(points.left_out.values()),
            self.MONTHS: len(months),
            self.THRESHOLD_USED: float(threshold_value),
            self.HOTSPOT_COUNT: n_areas,
            self.HOTSPOT_CRIMES: int(crimes.sum()),
            self.HOTSPOT_SHARE: float(100.0 * crimes.sum() / crimes_total) if crimes_total else 0.0,
        }
        fields = QgsFields()
        for name, kind in (
            ("area_id", QVariant.Int),
            ("crimes", QVariant.Int),
            ("share_pct", QVariant.Double),
            ("area_km2", QVariant.Double),
            ("cells", QVariant.Int),
            ("peak", QVariant.Double),
            ("mean", QVariant.Double),
            ("threshold", QVariant.Double),
            ("unit", QVariant.String),
        ):
            fields.append(QgsField(name, kind))
        sink, sink_dest = self.parameterAsSink(parameters, self.HOTSPOTS, context, fields, QgsWkbTypes.Polygon, crs)
        if sink is not None:
            for i, wkb in enumerate(areas.polygons):
                feature = QgsFeature(fields)
                geom = QgsGeometry()
                geom.fromWkb(wkb)
                feature.setGeometry(geom)
                cells = int(areas.cells[i])
                feature.setAttributes(
                    [
                        i + 1,
                        int(crimes[i]),
                        float(100.0 * crimes[i] / crimes_total) if crimes_total else 0.0,
                        float(cells * cell * cell / 1e6),
                        cells,
                        float(peak[i + 1]),
                        float(total_value[i + 1] / cells),
                        float(threshold_value),
                        unit_text,
                    ]
                )
                if not sink.addFeature(feature, QgsFeatureSink.FastInsert):
                    raise QgsProcessingException(self.tr(f"Could not write a hotspot area: {sink.lastError()}"))
            results[self.HOTSPOTS] = sink_dest
            describe_layer(
                context,
                sink_dest,
                f"Hotspot areas ({unit} ≥ {threshold_value:.4g})",
                f"Areas of the density surface at or above {threshold_value:.4g} {unit_text}"
                + (f" (the {threshold:g}th percentile of cells with a density above 0)" if rule == 0 else "")
                + f"; {int(crimes.sum()):,} of {crimes_total:,} crimes "
                + f"({results[self.HOTSPOT_SHARE]:.1f} %) fall in them. "
                + abstract,
                ["crime", "hotspot", kernel],
                style=style_hotspot_areas,
            )
        feedback.pushInfo(
            self.tr(
                f"{n_areas} hotspot area(s) at ≥ {threshold_value:.4g} {unit_text}: {int(crimes.sum()):,} of "
                f"{crimes_total:,} crimes ({results[self.HOTSPOT_SHARE]:.1f} %) in "
                f"{areas.cells.sum() * cell * cell / 1e6:.3g} km²."
            )
        )
        feedback.setProgress(100)
        return results
