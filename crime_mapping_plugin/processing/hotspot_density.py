"""Processing algorithm crimemapping:hotspotdensity: exact kernel density of crime in crimes per km², hotspot areas.

A thin adapter: parameters → core.density.DensityRequest → core.density.compute_density → the raster, the
hotspot areas and the numbers. The method and its rules are in core/density.py and docs/methods.md.
"""

from __future__ import annotations

import os

import numpy as np
from osgeo import ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFields,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSource,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterExtent,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
    QgsProcessingParameterRasterDestination,
    QgsRasterFileWriter,
    QgsReferencedRectangle,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import crime_points, kde
from crime_mapping_plugin.core import density as method
from crime_mapping_plugin.core.density_output import StagedRaster, stage_raster
from crime_mapping_plugin.core.months import month_text, ranges_text
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm, new_field
from crime_mapping_plugin.processing.density_style import style_density, style_hotspot_areas
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput, spec_of

UNITS = tuple(method.UNIT_NAMES[key] for key in method.UNIT_KEYS)
UNIT_KEYS = method.UNIT_KEYS
RULES = ("percentile of cells", "value in the output units")

# The fields of the hotspot areas, written by name.
AREA_FIELDS = (
    ("area_id", QVariant.Int),
    ("crimes", QVariant.Int),
    ("share_pct", QVariant.Double),
    ("area_km2", QVariant.Double),
    ("cells", QVariant.Int),
    ("peak", QVariant.Double),
    ("mean", QVariant.Double),
    ("threshold", QVariant.Double),
    ("unit", QVariant.String),
)


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
    MISSING_MONTHS = "MISSING_MONTHS"
    PERIOD = "PERIOD"
    THRESHOLD_USED = "THRESHOLD_USED"
    HOTSPOT_COUNT = "HOTSPOT_COUNT"
    HOTSPOT_CRIMES = "HOTSPOT_CRIMES"
    HOTSPOT_SHARE = "HOTSPOT_SHARE"
    CRIMES_IN_STUDY_AREA = "CRIMES_IN_STUDY_AREA"
    RAMP_MAXIMUM = "RAMP_MAXIMUM"

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
        "<b>Units</b>: crimes per km² (the density), crimes per km² per month, or the raw kernel sum (QGIS's "
        "'raw' output). With a weight field, 'crimes' means the sum of weights; a crime whose weight is missing or "
        "below zero is left out and counted. <b>Per month</b> divides by the "
        "months with records of the period (its first to its last month): a month without any record is missing "
        "data, listed in the log and the metadata, never counted as a month of zero crime. A crime whose month "
        "field holds no month is left out of a per-month density (it belongs to no month) and counted; in the "
        "other units it is mapped.<br>"
        "<b>Bandwidth and cell size</b> are in metres. Left empty, they follow ArcGIS Pro's rules, rounded to two "
        "significant figures: bandwidth 0.9·min(SD, √(1/ln 2)·Dm)·n^−0.2 (SD the standard distance, Dm the "
        "median distance of the crimes from their mean centre, n the number of crimes); cell size the shorter "
        "side of the extent / 250 (the extent, else the study area's, else that of the central 99 % of crimes in "
        "each direction, so that a few crimes recorded far away do not decide it). The values used are logged "
        "and returned. When the rule gives less than 1 m (crimes all, or nearly all, at one place), the run asks "
        "for a bandwidth.<br>"
        "<b>Coordinates</b>: a layer in degrees (or feet) is reprojected to British National Grid when it lies in "
        "Great Britain, otherwise to its UTM zone. A bandwidth below the cell size, or a grid above the cell "
        "limit, stops the run with a message saying what to change. Each part of a multipoint is one crime.<br>"
        "<b>Grid</b>: the extent if given, else the study area's extent, else QGIS Heatmap's grid (the crimes' "
        "extent grown by the bandwidth), so the two compare cell for cell. Cells no crime reaches, and cells "
        "whose centre is outside the study area, are NoData. Crimes outside the study area still count near its "
        "edge.<br>"
        "<b>Hotspot areas</b>: cells at or above the threshold (by default the 95th percentile of the cells with "
        "a density above 0), joined where they share an edge. Each area has the number of crimes in its cells, "
        "its share of the crimes in the study area (a crime is in the study area when its own location is inside "
        "or on its boundary, whatever the cell size; without a study area, of the crimes on the grid), its area "
        "and its peak density. The crimes of a hotspot area are counted crimes (points), also with a weight "
        "field: the density is weighted, the counts are not.<br>"
        "<b>Cell size fallback</b>: when no cell size is given and the extent / 250 rule gives none (an extent "
        "of zero width or height) or gives more than half the bandwidth, the cell size is bandwidth / 5, rounded "
        "to two significant figures."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self._add_input_parameters()
        self._add_method_parameters()
        self._add_output_parameters()

    def _add_input_parameters(self) -> None:
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
                "Date or 'YYYY-MM' field giving each crime's month, used for 'per month' units (divided by the "
                "months with records) and the period. Empty: the field 'month' when the layer has one."
            )
        )
        self.addParameter(month)
        area = QgsProcessingParameterFeatureSource(
            self.STUDY_AREA, self.tr("Study area"), [QgsProcessing.TypeVectorPolygon], optional=True
        )
        area.setHelp(
            self.tr(
                "Optional polygons (e.g. wards of a borough): cells whose centre is outside are NoData; the "
                "hotspot share is of the crimes whose own location is inside (or on the boundary)."
            )
        )
        self.addParameter(area)
        extent = QgsProcessingParameterExtent(self.EXTENT, self.tr("Extent"), optional=True)
        extent.setHelp(
            self.tr("Optional grid extent; empty: the crimes' extent grown by the bandwidth (as QGIS Heatmap).")
        )
        self.addParameter(extent)

    def _add_method_parameters(self) -> None:
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
        units = QgsProcessingParameterEnum(
            self.UNITS, self.tr("Output units"), options=[self.tr(u) for u in UNITS], defaultValue=0
        )
        units.setHelp(
            self.tr("Crimes per km², crimes per km² per month (over the months with records), or raw kernel sum.")
        )
        self.addParameter(units)
        rule = QgsProcessingParameterEnum(
            self.HOTSPOT_RULE, self.tr("Hotspot threshold is a"), options=[self.tr(r) for r in RULES], defaultValue=0
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

    def _add_output_parameters(self) -> None:
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
                (self.MONTHS, "Months with records"),
                (self.THRESHOLD_USED, "Hotspot threshold used (output units)"),
                (self.HOTSPOT_COUNT, "Hotspot areas"),
                (self.HOTSPOT_CRIMES, "Crimes in hotspot areas"),
                (self.HOTSPOT_SHARE, "Share of crimes in hotspot areas (%)"),
                (self.CRIMES_IN_STUDY_AREA, "Crimes in the study area (on the grid without one)"),
                (self.RAMP_MAXIMUM, "Top of the colour ramp (output units)"),
            ),
            texts=[
                (self.CRS_USED, "CRS of the grid"),
                (self.UNIT, "Unit of the density"),
                (self.PERIOD, "Period (first to last month)"),
                (self.MISSING_MONTHS, "Months of the period without any record (missing data)"),
            ],
        )

    def _month_field(self, parameters: dict, context: QgsProcessingContext) -> str | None:
        month_field = self.parameterAsString(parameters, self.MONTH_FIELD, context) or None
        if month_field is None:
            source = self.parameterAsSource(parameters, self.INPUT, context)
            if source is not None and source.fields().lookupField("month") >= 0:
                month_field = "month"
        return month_field

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        threshold = self.parameterAsDouble(parameters, self.HOTSPOT_THRESHOLD, context)
        if self.parameterAsEnum(parameters, self.HOTSPOT_RULE, context) == 0 and threshold > 100:
            return False, self.tr("A percentile must be between 0 and 100, not {:g}.").format(threshold)
        if (
            self.parameterAsEnum(parameters, self.UNITS, context) == 1
            and self._month_field(parameters, context) is None
        ):
            return False, self.tr(
                "'Crimes per km² per month' needs a month field: choose one (a date or 'YYYY-MM' text field), "
                "or choose 'crimes per km²'."
            )
        bandwidth, cell = (
            self._number(parameters, self.BANDWIDTH, context),
            self._number(parameters, self.CELL_SIZE, context),
        )
        if bandwidth is not None and cell is not None and bandwidth < cell:
            return False, self.tr(
                "The bandwidth ({0:g} m) is smaller than the cell size ({1:g} m): each crime would colour at most "
                "one cell. Choose a bandwidth of at least {1:g} m (3 to 10 cells is usual) or a cell size below "
                "{0:g} m."
            ).format(bandwidth, cell)
        return True, ""

    def _number(self, parameters: dict, name: str, context: QgsProcessingContext) -> float | None:
        value = parameters.get(name)
        if value is None or value == "":
            return None
        number = self.parameterAsDouble(parameters, name, context)
        return number if number > 0 else None

    def _extent(self, parameters: dict, context: QgsProcessingContext) -> QgsReferencedRectangle | None:
        if parameters.get(self.EXTENT) in (None, ""):
            return None
        extent = self.parameterAsExtent(parameters, self.EXTENT, context)
        if extent.isNull() or extent.isEmpty():
            return None
        return QgsReferencedRectangle(extent, self.parameterAsExtentCrs(parameters, self.EXTENT, context))

    def _read(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        source: QgsProcessingFeatureSource,
        weight_field: str | None,
        month_field: str | None,
    ) -> tuple[crime_points.CrimePoints, np.ndarray | None]:
        """Return the crimes read (each multipoint part a crime) and the month of every record read."""
        try:
            table = self.read_input(
                source,
                parameters,
                self.INPUT,
                context,
                feedback,
                crime_points.point_columns(weight_field, month_field),
                explode=True,
                progress=lambda f: feedback.setProgress(20 * f),
            )
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; no output was written.")) from err
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        if table.multipart:
            feedback.pushInfo(
                self.tr("{0:,} multipoint features gave {1:,} points: each part is one crime.").format(
                    table.multipart, table.multipart_points
                )
            )
        points = crime_points.crime_points_from(table, weight_field, month_field)
        return points, (table.columns[month_field] if month_field else None)

    def _request(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> tuple[method.DensityRequest, str | None, str]:
        """Return the request the parameters make, the weight field and the source's name."""
        source = self.parameterAsSource(parameters, self.INPUT, context)
        if source is None:
            raise QgsProcessingException(self.tr("The crime points layer could not be read."))
        weight_field = self.parameterAsString(parameters, self.WEIGHT_FIELD, context) or None
        month_field = self._month_field(parameters, context)
        feedback.setProgressText(self.tr("Reading crimes"))
        points, record_months = self._read(parameters, context, feedback, source, weight_field, month_field)
        kernel = kde.KERNELS[self.parameterAsEnum(parameters, self.KERNEL, context)]
        request = method.DensityRequest(
            points=points,
            source_crs=source.sourceCrs(),
            transform_context=context.transformContext(),
            kernel=kernel,
            decay=self.parameterAsDouble(parameters, self.DECAY, context) if kernel == "triangular" else 0.0,
            unit=method.UNIT_KEYS[self.parameterAsEnum(parameters, self.UNITS, context)],
            bandwidth=self._number(parameters, self.BANDWIDTH, context),
            cell_size=self._number(parameters, self.CELL_SIZE, context),
            extent=self._extent(parameters, context),
            study_area=self.parameterAsSource(parameters, self.STUDY_AREA, context),
            hotspot_rule=method.HOTSPOT_RULES[self.parameterAsEnum(parameters, self.HOTSPOT_RULE, context)],
            hotspot_threshold=self.parameterAsDouble(parameters, self.HOTSPOT_THRESHOLD, context),
            max_cells=self.parameterAsInt(parameters, self.MAX_CELLS, context),
            record_months=record_months,
        )
        return request, weight_field, source.sourceName()

    def processAlgorithm(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:  # noqa: N802
        request, weight_field, source_name = self._request(parameters, context, feedback)
        feedback.setProgressText(self.tr("Computing the density"))
        try:
            result = method.compute_density(request, feedback.isCanceled, lambda f: feedback.setProgress(20 + 70 * f))
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; no output was written.")) from err
        except method.DensityError as err:
            raise QgsProcessingException(str(err)) from err
        self._log(result, request.source_crs, feedback, weight_field)
        unit_text = self._unit_text(result, weight_field)
        results = {
            self.BANDWIDTH_USED: result.bandwidth,
            self.CELL_SIZE_USED: result.cell_size,
            self.CRS_USED: result.crs.authid(),
            self.UNIT: unit_text,
            self.CRIMES: result.crimes,
            self.CRIMES_LEFT_OUT: sum(result.left_out.values()),
            self.MONTHS: result.period.months_with_records if result.period else 0,
            self.PERIOD: result.period.label() if result.period else "",
            self.MISSING_MONTHS: ranges_text(result.period.missing) if result.period else "",
            self.THRESHOLD_USED: result.threshold,
            self.HOTSPOT_COUNT: len(result.hotspots),
            self.HOTSPOT_CRIMES: result.hotspot_crimes,
            self.HOTSPOT_SHARE: result.hotspot_share,
            self.CRIMES_IN_STUDY_AREA: result.crimes_counted,
            self.RAMP_MAXIMUM: result.ramp_maximum,
        }
        crimes_text = self.tr("Crimes: {}.").format(self.input_description(parameters, self.INPUT, context))
        feedback.pushInfo(crimes_text)  # the input's filter (the dock's subset string), said in log and metadata
        abstract = self._abstract(result, source_name, unit_text) + " " + crimes_text
        metadata = self._metadata(result, unit_text, weight_field, source_name)
        results[self.OUTPUT], results[self.HOTSPOTS] = self._write_outputs(
            parameters, context, feedback, result, unit_text, metadata, abstract
        )
        if results[self.HOTSPOTS] is None:
            del results[self.HOTSPOTS]
        feedback.pushInfo(
            self.tr("{0} hotspot area(s) at ≥ {1:.4g} {2}: {3:,} of {4:,} crimes ({5:.1f} %) in {6:.3g} km².").format(
                len(result.hotspots),
                result.threshold,
                unit_text,
                result.hotspot_crimes,
                result.crimes_counted,
                result.hotspot_share,
                result.hotspot_km2,
            )
        )
        feedback.setProgress(100)
        return results

    def _unit_text(self, result: method.DensityResult, weight_field: str | None) -> str:
        unit = method.UNIT_NAMES[result.unit]
        return unit if weight_field is None else self.tr("{0} (weighted by {1})").format(unit, weight_field)

    def _log(
        self,
        result: method.DensityResult,
        source_crs: QgsCoordinateReferenceSystem,
        feedback: QgsProcessingFeedback,
        weight_field: str | None = None,
    ) -> None:
        for reason, count in result.left_out.items():
            if weight_field and reason in (crime_points.NO_WEIGHT, crime_points.NEGATIVE_WEIGHT):
                line = self.tr("{0:,} crime(s) left out: {1} in the weight field '{2}'.").format(
                    count, reason, weight_field
                )
            else:
                line = self.tr("{0:,} crime(s) left out: {1}.").format(count, reason)
            feedback.pushWarning(line)
        for line in result.warnings:
            feedback.pushWarning(line)
        if result.no_month and not result.per_month:
            feedback.pushWarning(
                self.tr(
                    "{:,} crime(s) have no month in the month field: mapped, but in no month of the period."
                ).format(result.no_month)
            )
        if result.period is not None and result.period.missing:
            feedback.pushWarning(
                self.tr("{0} of {1} months of the period have no record at all (missing data, not zero): {2}.").format(
                    len(result.period.missing), result.period.calendar_months, ranges_text(result.period.missing)
                )
            )
        if result.per_month:
            feedback.pushInfo(
                self.tr("Per month: divided by the {0} month(s) with records of {1}.").format(
                    result.period.months_with_records, result.period.label()
                )
            )
        if result.crs != source_crs:
            feedback.pushInfo(
                self.tr("The crime layer's CRS ({0}) is not in metres: computed in {1} ({2}).").format(
                    source_crs.authid(), result.crs.authid(), result.crs.description()
                )
            )
        if result.bandwidth_chosen:
            feedback.pushInfo(self.tr("Bandwidth chosen by ArcGIS Pro's rule: {:g} m.").format(result.bandwidth))
        if result.cell_size_chosen:
            feedback.pushInfo(
                self.tr("Cell size chosen (shorter side of the extent / 250): {:g} m.").format(result.cell_size)
            )
        if result.grid_from == "study area":
            feedback.pushInfo(self.tr("The grid covers the study area's extent."))
        if result.stretched:
            feedback.pushWarning(
                self.tr("A few crimes lie far from the rest and stretch the grid: give an extent or a study area.")
            )
        feedback.pushInfo(
            self.tr(
                "{0:,} crimes at {1:,} distinct locations, {2} kernel, bandwidth {3:g} m, cells {4:g} m, "
                "grid {5:,} × {6:,} in {7}."
            ).format(
                result.crimes,
                result.locations,
                result.kernel,
                result.bandwidth,
                result.cell_size,
                result.grid.rows,
                result.grid.cols,
                result.crs.authid(),
            )
        )

    def _abstract(self, result: method.DensityResult, source_name: str, unit_text: str) -> str:
        period = result.period.describe() if result.period else self.tr("months unknown")
        return self.tr(
            "Kernel density of {0:,} crimes from '{1}', {2}, in {3}. {4} kernel, bandwidth {5:g} m, cells {6:g} m, "
            "{7}. Values are exact at cell centres; NoData where no crime is within the bandwidth{8}."
        ).format(
            result.crimes,
            source_name,
            period,
            unit_text,
            result.kernel.capitalize(),
            result.bandwidth,
            result.cell_size,
            result.crs.authid(),
            self.tr(" or outside the study area") if result.has_study_area else "",
        )

    def _metadata(self, result: method.DensityResult, unit_text: str, weight_field: str | None, source: str) -> dict:
        period = result.period
        return {
            "UNIT": unit_text,
            "UNIT_KEY": result.unit,
            "KERNEL": result.kernel,
            "KERNEL_DECAY": f"{result.decay:g}",
            "BANDWIDTH_M": f"{result.bandwidth:g}",
            "CELL_SIZE_M": f"{result.cell_size:g}",
            "CRIMES": str(result.crimes),
            "CRIMES_NO_MONTH": str(result.no_month),
            "PERIOD": period.label() if period else "",
            "MONTHS": ",".join(month_text(m) for m in period.with_records) if period else "",
            "MONTH_COUNT": str(period.months_with_records if period else 0),
            "MISSING_MONTHS": ranges_text(period.missing) if period else "",
            "MONTH_RULE": "per month = divided by the months with records; crimes with no month left out per month",
            "RAMP_MAXIMUM": f"{result.ramp_maximum:.6g}",
            "WEIGHT_FIELD": weight_field or "",
            "SOURCE": source,
            "METHOD": "Exact kernel density at cell centres (Crime Mapping plugin, crimemapping:hotspotdensity)",
        }

    def _write_outputs(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        result: method.DensityResult,
        unit_text: str,
        metadata: dict,
        abstract: str,
    ) -> tuple[str, str | None]:
        """Write the density and the hotspot areas, both or neither: a failure leaves the previous files as they were.

        Both destinations are opened under temporary names first (a folder that cannot be written stops the run
        before anything is written); the raster is put in place, then the areas, and the raster is put back
        when the areas fail.
        """
        areas = self._hotspot_output(parameters, context, result)
        try:
            raster = self._stage_raster(parameters, context, result, unit_text, metadata)
            try:
                if areas is not None:
                    self._add_hotspots(areas, result, unit_text)
                if feedback.isCanceled():
                    raise QgsProcessingException(self.tr("Cancelled; no output was written."))
                raster.publish()
            except BaseException:
                raster.discard()
                raise
            try:
                areas_dest = areas.commit() if areas is not None else None
            except BaseException:
                raster.rollback()
                raise
            raster.finish()
        except OSError as err:
            if areas is not None:
                areas.abort()
            raise QgsProcessingException(self.tr("The outputs could not be written: {}").format(err)) from err
        except BaseException:
            if areas is not None:
                areas.abort()
            raise
        dest = self._describe_raster(context, result, raster.path, abstract)
        if areas_dest is not None:
            self._describe_hotspots(parameters, context, result, unit_text, abstract, areas_dest)
        return dest, areas_dest

    def _title(self, result: method.DensityResult) -> str:
        if result.unit == method.KERNEL_SUM:
            return self.tr("Crime density, raw kernel sum")
        return self.tr("Crime density, {}").format(method.UNIT_NAMES[result.unit])

    def _stage_raster(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        result: method.DensityResult,
        unit_text: str,
        metadata: dict,
    ) -> StagedRaster:
        dest = self.parameterAsOutputLayer(parameters, self.OUTPUT, context)
        driver = QgsRasterFileWriter.driverForExtension(os.path.splitext(dest)[1]) or "GTiff"
        try:
            return stage_raster(
                dest, result.grid, result.values, result.crs.toWkt(), metadata, unit_text, self._title(result), driver
            )
        except (RuntimeError, ValueError, OSError) as err:
            raise QgsProcessingException(
                self.tr("The density could not be written to {0}: {1}").format(dest, err)
            ) from err

    def _describe_raster(
        self, context: QgsProcessingContext, result: method.DensityResult, dest: str, abstract: str
    ) -> str:
        title = self._title(result)
        unit = method.UNIT_NAMES[result.unit]
        if context.willLoadLayerOnCompletion(dest):
            context.layerToLoadOnCompletionDetails(dest).name = title
        legend_unit = "" if result.unit == method.KERNEL_SUM else unit
        ramp_top = result.ramp_maximum
        describe_layer(
            context,
            dest,
            title,
            abstract,
            ["crime", "kernel density", "hotspot", result.kernel, unit],
            style=lambda layer: style_density(layer, ramp_top, legend_unit),
        )
        return dest

    def _hotspot_output(
        self, parameters: dict, context: QgsProcessingContext, result: method.DensityResult
    ) -> TableOutput | None:
        """Open the hotspot areas' destination under a temporary name; None when no hotspot areas are wanted."""
        if not self.parameterAsOutputLayer(parameters, self.HOTSPOTS, context):
            return None
        fields = QgsFields()
        for name, kind in AREA_FIELDS:
            fields.append(new_field(name, kind))
        return TableOutput(self, parameters, self.HOTSPOTS, context, spec_of(fields), result.crs, "", "polygon")

    def _add_hotspots(self, output: TableOutput, result: method.DensityResult, unit_text: str) -> None:
        areas = result.hotspots
        boxes = np.array([ogr.CreateGeometryFromWkb(area.wkb).GetEnvelope() for area in areas], dtype=float).reshape(
            -1, 4
        )
        columns = {
            "area_id": list(range(1, len(areas) + 1)),
            "crimes": [a.crimes for a in areas],
            "share_pct": [a.share_pct for a in areas],
            "area_km2": [a.area_km2 for a in areas],
            "cells": [a.cells for a in areas],
            "peak": [a.peak for a in areas],
            "mean": [a.mean for a in areas],
            "threshold": [result.threshold] * len(areas),
            "unit": [unit_text] * len(areas),
        }
        output.add_wkb(columns, [a.wkb for a in areas], boxes)

    def _describe_hotspots(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        result: method.DensityResult,
        unit_text: str,
        abstract: str,
        dest: str,
    ) -> None:
        unit = method.UNIT_NAMES[result.unit]
        rule = ""
        if self.parameterAsEnum(parameters, self.HOTSPOT_RULE, context) == 0:
            rule = self.tr(" (the {:g}th percentile of cells with a density above 0)").format(
                self.parameterAsDouble(parameters, self.HOTSPOT_THRESHOLD, context)
            )
        describe_layer(
            context,
            dest,
            self.tr("Hotspot areas ({0} ≥ {1:.4g})").format(unit, result.threshold),
            self.tr(
                "Areas of the density surface at or above {0:.4g} {1}{2}; {3:,} of {4:,} crimes ({5:.1f} %) fall "
                "in them. "
            ).format(
                result.threshold, unit_text, rule, result.hotspot_crimes, result.crimes_counted, result.hotspot_share
            )
            + abstract,
            ["crime", "hotspot", result.kernel],
            style=style_hotspot_areas,
        )
