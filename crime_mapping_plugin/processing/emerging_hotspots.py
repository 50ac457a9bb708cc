"""Processing algorithm crimemapping:emerginghotspots: how Gi* hot and cold spots change from period to period."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import areas, crime_points, emerging, gistar
from crime_mapping_plugin.core.months import month_text, ranges_text
from crime_mapping_plugin.processing import hotspot_cells as hc
from crime_mapping_plugin.processing.layer_info import describe_layer

REASONS = (
    crime_points.NO_GEOMETRY,
    crime_points.NO_WEIGHT,
    crime_points.NEGATIVE_WEIGHT,
    crime_points.NO_MONTH,
    emerging.BEFORE_FIRST_SLICE,
    crime_points.OUTSIDE_STUDY_AREA,
    crime_points.OUTSIDE_AREAS,
)
CONFIDENCE_OPTIONS = ("90 %", "95 %", "99 %")


class EmergingHotspotsAlgorithm(hc.HotspotCellsAlgorithm):
    """Classify cells by how their Gi* hot or cold spot status changes over monthly (or longer) time slices."""

    DATE_FIELD = "DATE_FIELD"
    SLICE_MONTHS = "SLICE_MONTHS"
    CONFIDENCE = "CONFIDENCE"
    TREND_CONFIDENCE = "TREND_CONFIDENCE"
    METHOD = "METHOD"

    SLICES = "SLICES"
    PERIOD = "PERIOD"
    MISSING_MONTHS = "MISSING_MONTHS"

    NAME = "emerginghotspots"
    DISPLAY_NAME = "Emerging hot spot analysis (Gi* over time)"
    GROUP_ID = "hotspots"
    GROUP = "Hotspots"
    TAGS = ("crime", "hotspot", "emerging", "trend", "mann-kendall", "getis", "ord", "gi*", "time", "space-time")
    HELP = (
        "Shows how hot and cold spots change over time, as ArcGIS's Emerging Hot Spot Analysis does, with numpy "
        "alone.<br><b>Time slices</b>: the period is every calendar month from the first to the last month of "
        "any record in the date field (a date, or text YYYY-MM). It is cut into slices of the chosen number of "
        "months, counted back from the last month, so the final slice ends with it; only whole slices are made, "
        "and crimes of the months before the first whole slice are left out and counted (a short first slice "
        "would hold fewer months of crime and make a rising trend out of nothing). A slice with no record at "
        "all is missing data: it is left out, not taken for a slice of zero crimes, and listed in the log, the "
        "report and the layer's metadata; so is a slice with records in only some of its months (a gap in the "
        "data). Records without a month are left out and counted. At least 3 slices with records are needed; "
        "with fewer than 10, '90 % of slices' means every slice.<br>"
        "<b>Gi* on the space-time cube</b> (default, as ArcGIS): each bin (cell, slice) is compared with its "
        "space-time neighbourhood: the cell and its spatial neighbours, in the same slice and the previous one "
        "(the bin itself included; the first slice has no previous one), binary weights; the mean and standard "
        "deviation are those of every bin of the cube and n is the number of bins; with the FDR option the "
        "Benjamini-Hochberg correction runs over every bin of the cube. <b>Per slice</b> (the option): Gi* of each "
        "slice on its own, with the slice's mean and standard deviation, FDR within the slice (a slice in which "
        "every cell has the same count gets z = 0). A slice is a significant hot (cold) spot of a cell when its "
        "bin reaches the chosen confidence. The Mann-Kendall test (S, tie-corrected variance, "
        "continuity-corrected z, two-sided p) measures the trend of each cell's series of z-scores.<br>"
        "<b>Categories</b> (cold spots mirror these, swapping hot and cold and the trend's direction); the 90 % "
        "rules are tested first, of hot and cold: "
        "<i>Intensifying</i>: hot in at least 90 % of slices including the final one, and a significant upward "
        "trend. <i>Diminishing</i>: the same with a significant downward trend. <i>Persistent</i>: the same with "
        "no significant trend. <i>Historical</i>: hot in at least 90 % of slices but not in the final one. "
        "<i>New</i>: hot in the final slice only, no earlier slice significant (hot or cold). <i>Consecutive</i>: "
        "one unbroken run of hot slices ending at the final slice, never hot or cold before it, fewer than 90 %. "
        "<i>Sporadic</i>: hot in the final slice, hot on and off before, never cold, fewer than 90 %. "
        "<i>Oscillating</i>: hot in the final slice and cold in some earlier slice, fewer than 90 % hot. "
        "<i>No pattern detected</i>: none of these (including cells without neighbours).<br>"
        + hc.CELLS_HELP
        + hc.STATS_HELP
        + "<b>Output</b>: one polygon per cell with crimes, neighbours, the z-score of each slice (z_YYYY_MM, "
        "named by the slice's first month), hot and cold slice counts, the final slice's z and bin, the "
        "Mann-Kendall S, z and p, and the category; loaded styled by category."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        hc.add_cell_parameters(self, "Crime points in a projected CRS (metres), with a date field.")
        # Optional only because QGIS 3.22 rejects a missing field value despite a default; empty means 'month'.
        date = QgsProcessingParameterField(self.DATE_FIELD, self.tr("Date field"), "month", hc.INPUT, optional=True)
        date.setHelp(
            self.tr(
                "The crime's date or month: a date field, or text starting YYYY-MM. Empty: the field 'month' "
                "that 'Import police.uk street crime' writes."
            )
        )
        self.addParameter(date)
        months = QgsProcessingParameterNumber(
            self.SLICE_MONTHS, self.tr("Months per time slice"), QgsProcessingParameterNumber.Integer, 1, minValue=1
        )
        months.setHelp(self.tr("Length of each time slice in calendar months (1 = monthly, 3 = quarterly)."))
        self.addParameter(months)
        confidence = QgsProcessingParameterEnum(
            self.CONFIDENCE,
            self.tr("Confidence for a significant slice"),
            options=list(CONFIDENCE_OPTIONS),
            defaultValue=0,
        )
        confidence.setHelp(self.tr("A slice counts as a hot (cold) spot when its Gi* bin reaches this confidence."))
        self.addParameter(confidence)
        hc.add_fdr_parameter(
            self,
            "Apply the false discovery rate (FDR) correction",
            "On (default): Benjamini-Hochberg over every bin of the space-time cube (per slice: over the cells "
            "of each slice). Off: p below the level.",
        )
        method = QgsProcessingParameterEnum(
            self.METHOD,
            self.tr("Gi* neighbourhood in time"),
            options=[
                self.tr("Space-time cube: this and the previous slice, whole-cube mean (as ArcGIS)"),
                self.tr("Per slice: each slice on its own (spatial neighbours only)"),
            ],
            defaultValue=0,
        )
        method.setHelp(
            self.tr(
                "Space-time cube (default): a bin's neighbours are its cell and the cell's neighbours in the same "
                "and the previous time slice, with the mean, standard deviation and FDR of the whole cube. Per "
                "slice: each slice's own Gi*, mean, standard deviation and FDR."
            )
        )
        method.setFlags(method.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(method)
        trend = QgsProcessingParameterEnum(
            self.TREND_CONFIDENCE,
            self.tr("Confidence for a significant trend"),
            options=list(CONFIDENCE_OPTIONS),
            defaultValue=1,
        )
        trend.setHelp(self.tr("The Mann-Kendall trend is significant when its two-sided p is below 1 - confidence."))
        trend.setFlags(trend.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(trend)
        output = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Emerging hot spots"), QgsProcessing.TypeVectorPolygon
        )
        output.setHelp(self.tr("Cells with their per-slice z-scores, trend and emerging hot spot category."))
        self.addParameter(output)
        self.add_outputs(
            (
                (self.POINTS_READ, "Points read"),
                (self.POINTS_COUNTED, "Points counted in cells"),
                (self.POINTS_LEFT_OUT, "Points left out"),
                (self.CELLS_ANALYSED, "Cells analysed"),
                (self.CELLS_WITHOUT_NEIGHBOURS, "Cells without neighbours"),
                (self.SLICES, "Time slices"),
            ),
            texts=(
                (self.PERIOD, "Period (first to last month)"),
                (self.MISSING_MONTHS, "Months of the period without any record (missing data)"),
                (self.REPORT, "Report"),
            ),
        )

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        crs = hc.analysis_crs(self, parameters, context)
        date_field = self.parameterAsString(parameters, self.DATE_FIELD, context) or "month"
        source = self.parameterAsSource(parameters, hc.INPUT, context)
        if source is not None and source.fields().lookupField(date_field) < 0:
            raise QgsProcessingException(
                self.tr("The crime points layer has no field '{}': choose its date field under 'Date field'.").format(
                    date_field
                )
            )
        feedback.setProgressText(self.tr("Reading the crime points"))
        points, record_months = hc.read_points(self, parameters, context, feedback, crs, date_field)
        feedback.setProgressText(self.tr("Making the cells, counting the points, computing Gi* and the trends"))
        cell_request, own = hc.cell_request(self, parameters, context, feedback, crs, points)
        request = emerging.EmergingRequest(
            cells=cell_request,
            record_months=record_months,
            slice_months=self.parameterAsInt(parameters, self.SLICE_MONTHS, context),
            neighbours=hc.neighbour_rule(self, parameters, context),
            level=1 + self.parameterAsEnum(parameters, self.CONFIDENCE, context),
            fdr=self.parameterAsBoolean(parameters, hc.FDR, context),
            trend_alpha=emerging.CONFIDENCE_ALPHA[self.parameterAsEnum(parameters, self.TREND_CONFIDENCE, context)],
            method=emerging.METHODS[self.parameterAsEnum(parameters, self.METHOD, context)],
            is_cancelled=feedback.isCanceled,
        )
        try:
            analysis = emerging.emerging_hotspots(request)
        except (gistar.GiStarInputError, areas.AreaInputError) as err:
            raise QgsProcessingException(str(err)) from err
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; no output was written.")) from err
        hc.tell(feedback, analysis.counted)
        feedback.setProgress(60)
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        extra, values = columns(analysis)
        dest_id = hc.write_cells(
            self, parameters, self.OUTPUT, context, feedback, analysis.counted.cells, own, extra, values, crs
        )
        report = self._report(analysis)
        report.insert(0, self.tr("Crimes: {}.").format(self.input_description(parameters, hc.INPUT, context)))
        for line in report:
            feedback.pushInfo(line)
        describe_layer(
            context,
            dest_id,
            title=self.tr("Emerging hot spots {}: {}").format(
                analysis.slices.period.label(), self.input_short(parameters, hc.INPUT, context)
            ),
            abstract=self._abstract(request, analysis, crs, report),
            keywords=["crime", "hotspot", "emerging hot spot", "Getis-Ord Gi*", "Mann-Kendall"],
            style=hc.style_categories,
        )
        points = analysis.counted.points
        return {
            self.OUTPUT: dest_id,
            self.POINTS_READ: points.read,
            self.POINTS_COUNTED: points.counted,
            self.POINTS_LEFT_OUT: sum(points.left_out.values()),
            self.CELLS_ANALYSED: len(analysis.counted.cells),
            self.CELLS_WITHOUT_NEIGHBOURS: int(analysis.alone.sum()),
            self.SLICES: len(analysis.slices),
            self.PERIOD: analysis.slices.period.label(),
            self.MISSING_MONTHS: ranges_text(analysis.slices.period.missing),
            self.REPORT: "\n".join(report),
        }

    def _report(self, analysis: emerging.EmergingAnalysis) -> list[str]:
        points, cell_set, slices = analysis.counted.points, analysis.counted.cells, analysis.slices
        return [
            self.tr("Points read: {}; counted: {}; left out: {} ({}).").format(
                points.read, points.counted, sum(points.left_out.values()), hc.reasons_text(points, REASONS)
            ),
            *([points.multipart_note()] if points.multipart else []),
            self.tr("Period: {}.").format(slices.period.describe()),
            self.tr("{} slices of {} month(s); {} cells ({}); neighbours: {}; {} without neighbours.").format(
                len(slices),
                slices.length,
                len(cell_set),
                cell_set.description,
                analysis.hood,
                int(analysis.alone.sum()),
            ),
            *slices.describe(),
            self.tr("Categories: {}").format(", ".join(f"{c}: {k}" for c, k in analysis.category_tally().items())),
        ]

    def _abstract(
        self,
        request: emerging.EmergingRequest,
        analysis: emerging.EmergingAnalysis,
        crs: QgsCoordinateReferenceSystem,
        report: list[str],
    ) -> str:
        text = self.tr(
            "Emerging hot spot analysis of {} crimes, {}, in {} slices of {} month(s), on {}; Gi* with binary "
            "weights ({}, the cell included), a slice significant at {} confidence{}, Mann-Kendall trend of the "
            "z-scores significant at p < {}. {}CRS {}."
        )
        abstract = text.format(
            analysis.counted.points.counted,
            analysis.slices.period.label(),
            len(analysis.slices),
            analysis.slices.length,
            analysis.counted.cells.description,
            analysis.hood,
            CONFIDENCE_OPTIONS[request.level - 1],
            self.tr(" after FDR correction") if request.fdr else "",
            request.trend_alpha,
            areas.BOUNDARY_RULE + " " if analysis.counted.cells.grid is None else "",
            crs.authid(),
        )
        return abstract + " " + " ".join(report)


def columns(analysis: emerging.EmergingAnalysis) -> tuple[list[tuple[str, QVariant.Type]], dict[str, list]]:
    """Return the emerging hot spot output fields and each cell's values, by field name."""
    slices, alone = analysis.slices, analysis.alone
    names = [f"z_{month_text(start).replace('-', '_')}" for start in slices.starts]
    z_cols = [hc.nan_to_none(analysis.z[t]) for t in range(len(slices))]
    extra = [("crimes", QVariant.Int), ("value", QVariant.Double), ("neighbours", QVariant.Int)]
    extra += [(name, QVariant.Double) for name in names]
    extra += [
        ("hot_slices", QVariant.Int),
        ("cold_slices", QVariant.Int),
        ("final_z", QVariant.Double),
        ("final_bin", QVariant.Int),
        ("trend_s", QVariant.Double),
        ("trend_z", QVariant.Double),
        ("trend_p", QVariant.Double),
        ("category", QVariant.String),
    ]

    def unless_alone(values: np.ndarray) -> list:
        return [None if a else float(v) for v, a in zip(values.tolist(), alone.tolist())]

    values = {
        "crimes": analysis.counted.counts().tolist(),
        "value": analysis.values.sum(axis=0).tolist(),
        "neighbours": analysis.neighbour_counts.tolist(),
        **dict(zip(names, z_cols)),
        "hot_slices": (analysis.significant > 0).sum(axis=1).tolist(),
        "cold_slices": (analysis.significant < 0).sum(axis=1).tolist(),
        "final_z": z_cols[-1],
        "final_bin": analysis.bins[-1].tolist(),
        "trend_s": unless_alone(analysis.trend_s),
        "trend_z": unless_alone(analysis.trend_z),
        "trend_p": unless_alone(analysis.trend_p),
        "category": [gistar.CATEGORIES[c] for c in analysis.category.tolist()],
    }
    return extra, values
