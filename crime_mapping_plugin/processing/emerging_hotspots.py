"""Processing algorithm crimemapping:emerginghotspots: how Gi* hot and cold spots change from period to period."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterField,
    QgsProcessingParameterNumber,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import gistar
from crime_mapping_plugin.processing import hotspot_cells as hc
from crime_mapping_plugin.processing.layer_info import describe_layer

REASON_BEFORE_FIRST_SLICE = "before the first whole time slice"
REASONS = (
    hc.REASON_NO_GEOMETRY,
    hc.REASON_NULL_WEIGHT,
    hc.REASON_NO_DATE,
    hc.REASON_OUTSIDE_AREA,
    hc.REASON_OUTSIDE_CELLS,
    REASON_BEFORE_FIRST_SLICE,
)
CONFIDENCE_OPTIONS = ("90 %", "95 %", "99 %")
CONFIDENCE_ALPHA = (0.10, 0.05, 0.01)


def month_label(month: int) -> str:
    """Return YYYY-MM for a month number year*12 + month - 1."""
    return f"{month // 12:04d}-{month % 12 + 1:02d}"


class EmergingHotspotsAlgorithm(hc.HotspotCellsAlgorithm):
    """Classify cells by how their Gi* hot or cold spot status changes over monthly (or longer) time slices."""

    DATE_FIELD = "DATE_FIELD"
    SLICE_MONTHS = "SLICE_MONTHS"
    CONFIDENCE = "CONFIDENCE"
    TREND_CONFIDENCE = "TREND_CONFIDENCE"

    SLICES = "SLICES"

    NAME = "emerginghotspots"
    DISPLAY_NAME = "Emerging hot spot analysis (Gi* over time)"
    GROUP_ID = "hotspots"
    GROUP = "Hotspots"
    TAGS = ("crime", "hotspot", "emerging", "trend", "mann-kendall", "getis", "ord", "gi*", "time", "space-time")
    HELP = (
        "Shows how hot and cold spots change over time, as ArcGIS's Emerging Hot Spot Analysis does, with numpy "
        "alone.<br><b>Time slices</b>: the months of the date field (a date, or text starting YYYY-MM) are cut "
        "into slices of the chosen number of months, counted back from the latest month, so the final slice is "
        "always whole; crimes before the first whole slice are left out and counted. At least 3 slices are "
        "needed; with fewer than 10, '90 % of slices' means every slice.<br>"
        "For each slice Gi* is computed on the same cells and neighbours (a slice in which every cell has the "
        "same count gets z = 0). A slice is a significant hot (cold) spot of a cell when its bin reaches the "
        "chosen confidence (with the FDR option, corrected within each slice). The Mann-Kendall test (S, "
        "tie-corrected variance, continuity-corrected z, two-sided p) measures the trend of each cell's z-scores.<br>"
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

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
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
            "Apply the false discovery rate (FDR) correction in each slice",
            "On (default): Benjamini-Hochberg over all cells of each slice. Off: p below the level.",
        )
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
            texts=((self.REPORT, "Report"),),
        )

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        crs = hc.analysis_crs(self, parameters, context)
        date_field = self.parameterAsString(parameters, self.DATE_FIELD, context) or "month"
        source = self.parameterAsSource(parameters, hc.INPUT, context)
        if source is not None and source.fields().lookupField(date_field) < 0:
            raise QgsProcessingException(
                f"The crime points layer has no field '{date_field}': choose its date field under 'Date field'."
            )
        feedback.setProgressText(self.tr("Reading the crime points"))
        points = hc.read_points(self, parameters, context, feedback, crs, date_field)
        if len(points.month) == 0:
            raise QgsProcessingException(
                f"No crime point has a usable date in '{date_field}' (a date, or text YYYY-MM)."
            )
        length = self.parameterAsInt(parameters, self.SLICE_MONTHS, context)
        last = int(points.month.max())
        n_slices = (last - int(points.month.min()) + 1) // length
        if n_slices < 3:
            raise QgsProcessingException(
                f"The crimes span {last - int(points.month.min()) + 1} month(s), which makes {n_slices} whole slice(s) "
                f"of {length} month(s): at least 3 are needed. Use shorter slices or more months of data."
            )
        first = last - n_slices * length + 1
        before = points.month < first
        points.reasons[REASON_BEFORE_FIRST_SLICE] += int(before.sum())
        hc.keep_points(points, ~before)
        if n_slices < 10:
            feedback.pushWarning(
                f"Only {n_slices} time slices: the 90 % rules need every slice, and the trend test has little power."
            )
        feedback.setProgressText(self.tr("Making the cells and counting the points"))
        cells = hc.build_cells(self, parameters, context, feedback, crs, points)
        n = len(cells)
        slice_of = (points.month - first) // length
        values = np.bincount(slice_of * n + cells.point_cell, weights=points.weight, minlength=n_slices * n)
        values = values.reshape(n_slices, n).astype(float)
        counts = np.bincount(cells.point_cell, minlength=n).astype(np.int64)
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        feedback.setProgressText(self.tr("Computing Gi* for each slice and the trends"))
        nb, hood = hc.neighbours(self, parameters, context, feedback, cells)
        fdr = self.parameterAsBoolean(parameters, hc.FDR, context)
        level = 1 + self.parameterAsEnum(parameters, self.CONFIDENCE, context)
        trend_alpha = CONFIDENCE_ALPHA[self.parameterAsEnum(parameters, self.TREND_CONFIDENCE, context)]
        try:
            z = gistar.gi_star(values, nb)
        except gistar.GiStarInputError as err:
            raise QgsProcessingException(str(err)) from err
        card = nb.cardinality()
        flat = np.isnan(z).all(axis=1)
        if flat.any():
            feedback.pushWarning(
                f"{int(flat.sum())} slice(s) have the same count in every cell (z = 0): "
                + ", ".join(month_label(first + t * length) for t in np.nonzero(flat)[0])
            )
        z = np.where(card[None, :] > 0, np.nan_to_num(z, nan=0.0), np.nan)
        bins = np.zeros(z.shape, np.int64)
        for t in range(n_slices):
            bins[t] = gistar.confidence_bins(z[t], gistar.two_sided_p(z[t]), fdr)
        significant = np.where(np.abs(bins) >= level, np.sign(bins), 0).T  # cells x slices
        mk_s, _, mk_z, mk_p = gistar.mann_kendall(np.nan_to_num(z, nan=0.0).T)
        category = gistar.classify_emerging(significant, mk_z, mk_p, trend_alpha)
        alone = card == 0
        category[alone] = 0
        feedback.setProgress(60)
        if alone.any():
            feedback.pushWarning(
                f"{int(alone.sum())} cell(s) have no neighbour ({hood}): no z-scores, 'No pattern detected'."
            )

        slice_names = [f"z_{month_label(first + t * length).replace('-', '_')}" for t in range(n_slices)]
        extra = [("crimes", QVariant.Int), ("value", QVariant.Double), ("neighbours", QVariant.Int)]
        extra += [(name, QVariant.Double) for name in slice_names]
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
        z_cols = [hc.nan_to_none(z[t]) for t in range(n_slices)]
        hot = (significant > 0).sum(axis=1)
        cold = (significant < 0).sum(axis=1)
        rows = []
        for i in range(n):
            rows.append(
                [int(counts[i]), float(values[:, i].sum()), int(card[i])]
                + [col[i] for col in z_cols]
                + [
                    int(hot[i]),
                    int(cold[i]),
                    z_cols[-1][i],
                    int(bins[-1, i]),
                    None if alone[i] else float(mk_s[i]),
                    None if alone[i] else float(mk_z[i]),
                    None if alone[i] else float(mk_p[i]),
                    gistar.CATEGORIES[category[i]],
                ]
            )
        dest_id = hc.write_cells(self, parameters, self.OUTPUT, context, feedback, cells, extra, rows, crs)

        left_out = sum(points.reasons.values())
        period = f"{month_label(first)} to {month_label(last)}"
        tally = np.bincount(category, minlength=len(gistar.CATEGORIES))
        report = [
            f"Points read: {points.read}; counted: {int(counts.sum())}; left out: {left_out} "
            f"({hc.reasons_text(points, REASONS)}).",
            f"{n_slices} slices of {length} month(s), {period}; {n} cells ({cells.description}); neighbours: {hood}; "
            f"{int(alone.sum())} without neighbours.",
            "Categories: " + ", ".join(f"{c}: {int(k)}" for c, k in zip(gistar.CATEGORIES, tally) if k),
        ]
        for line in report:
            feedback.pushInfo(line)
        if points.read != int(counts.sum()) + left_out:  # a bug, never the user's input
            raise QgsProcessingException(
                f"Internal error: {points.read} points read, {counts.sum()} counted, {left_out} left out."
            )
        describe_layer(
            context,
            dest_id,
            title=f"Emerging hot spots {period}",
            abstract=(
                f"Emerging hot spot analysis of {int(counts.sum())} crimes, {period}, in {n_slices} slices of {length} "
                f"month(s), on {cells.description}; Gi* with binary weights ({hood}, the cell included), a slice "
                f"significant at {CONFIDENCE_OPTIONS[level - 1]} confidence"
                + (" after FDR correction" if fdr else "")
                + f", Mann-Kendall trend of the z-scores significant at p < {trend_alpha}. CRS {crs.authid()}. "
                + " ".join(report)
            ),
            keywords=["crime", "hotspot", "emerging hot spot", "Getis-Ord Gi*", "Mann-Kendall"],
            style=hc.style_categories,
        )
        return {
            self.OUTPUT: dest_id,
            self.POINTS_READ: points.read,
            self.POINTS_COUNTED: int(counts.sum()),
            self.POINTS_LEFT_OUT: left_out,
            self.CELLS_ANALYSED: n,
            self.CELLS_WITHOUT_NEIGHBOURS: int(alone.sum()),
            self.SLICES: n_slices,
            self.REPORT: "\n".join(report),
        }
