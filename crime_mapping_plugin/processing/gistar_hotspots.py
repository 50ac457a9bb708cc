"""Processing algorithm crimemapping:gistarhotspots: Getis-Ord Gi* hot and cold spots on a grid or polygons."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSink,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import areas, cells, gistar
from crime_mapping_plugin.processing import hotspot_cells as hc
from crime_mapping_plugin.processing.layer_info import describe_layer


class GiStarHotspotsAlgorithm(hc.HotspotCellsAlgorithm):
    """Find statistically significant hot and cold spots of crime with Getis-Ord Gi*."""

    HOT_SPOTS = "HOT_SPOTS"
    COLD_SPOTS = "COLD_SPOTS"
    CELL_SIZE_USED = "CELL_SIZE_USED"

    NAME = "gistarhotspots"
    DISPLAY_NAME = "Hot spot analysis (Getis-Ord Gi*)"
    GROUP_ID = "hotspots"
    GROUP = "Hotspots"
    TAGS = ("crime", "hotspot", "hot spot", "cold spot", "getis", "ord", "gi*", "gistar", "significance", "fdr", "grid")
    HELP = (
        "Tests where crime is concentrated more than chance would give, as ArcGIS's Hot Spot Analysis does, "
        "with numpy alone (no PySAL needed).<br>"
        + hc.CELLS_HELP
        + hc.STATS_HELP
        + "<b>Output</b>: one polygon per cell with its count (crimes), the analysed value (the weight sum "
        "with a weight field), its number of neighbours (not counting itself), gi_z, gi_p (two-sided), gi_bin "
        "(-3..+3) and a label; loaded styled cold blue to hot red."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        hc.add_cell_parameters(
            self, "Crime points in a projected CRS (metres), e.g. from 'Import police.uk street crime'."
        )
        hc.add_fdr_parameter(
            self,
            "Apply the false discovery rate (FDR) correction to the bins",
            "On (default): Benjamini-Hochberg over all cells, as ArcGIS's FDR option. Off: p < 0.10 / 0.05 / 0.01.",
        )
        output = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Gi* hot spots"), QgsProcessing.TypeVectorPolygon
        )
        output.setHelp(self.tr("Cells with count, Gi* z-score, two-sided p-value and confidence bin."))
        self.addParameter(output)
        self.add_outputs(
            (
                (self.POINTS_READ, "Points read"),
                (self.POINTS_COUNTED, "Points counted in cells"),
                (self.POINTS_LEFT_OUT, "Points left out"),
                (self.CELLS_ANALYSED, "Cells analysed"),
                (self.CELLS_WITHOUT_NEIGHBOURS, "Cells without neighbours (no z-score)"),
                (self.HOT_SPOTS, "Hot spot cells (any confidence)"),
                (self.COLD_SPOTS, "Cold spot cells (any confidence)"),
                (self.CELL_SIZE_USED, "Grid cell size used (m)"),
            ),
            texts=((self.REPORT, "Report"),),
        )

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        crs = hc.analysis_crs(self, parameters, context)
        feedback.setProgressText(self.tr("Reading the crime points"))
        points, _ = hc.read_points(self, parameters, context, feedback, crs)
        feedback.setProgressText(self.tr("Making the cells, counting the points and computing Gi*"))
        cell_request, own = hc.cell_request(self, parameters, context, feedback, crs, points)
        request = cells.GiStarRequest(
            cell_request,
            hc.neighbour_rule(self, parameters, context),
            self.parameterAsBoolean(parameters, hc.FDR, context),
        )
        try:
            analysis = cells.gistar_hotspots(request)
        except (gistar.GiStarInputError, areas.AreaInputError) as err:
            raise QgsProcessingException(str(err)) from err
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; no output was written.")) from err
        hc.tell(feedback, analysis.counted)
        feedback.setProgress(60)
        dest_id = hc.write_cells(
            self, parameters, self.OUTPUT, context, feedback, analysis.counted.cells, own, EXTRA, columns(analysis), crs
        )
        report = self._report(analysis)
        report.insert(0, self.tr("Crimes: {}.").format(self.input_description(parameters, hc.INPUT, context)))
        for line in report:
            feedback.pushInfo(line)
        weight = self.parameterAsString(parameters, hc.WEIGHT_FIELD, context)
        describe_layer(
            context,
            dest_id,
            title=self.tr("Gi* hot spots{}: {}").format(
                self.tr(" (weighted)") if weight else "", self.input_short(parameters, hc.INPUT, context)
            ),
            abstract=self._abstract(analysis, weight, crs, report),
            keywords=["crime", "hotspot", "Getis-Ord Gi*"],
            style=hc.style_bins,
        )
        points = analysis.counted.points
        return {
            self.OUTPUT: dest_id,
            self.POINTS_READ: points.read,
            self.POINTS_COUNTED: points.counted,
            self.POINTS_LEFT_OUT: sum(points.left_out.values()),
            self.CELLS_ANALYSED: len(analysis.counts),
            self.CELLS_WITHOUT_NEIGHBOURS: analysis.without_neighbours,
            self.HOT_SPOTS: int((analysis.result.bin > 0).sum()),
            self.COLD_SPOTS: int((analysis.result.bin < 0).sum()),
            self.CELL_SIZE_USED: analysis.counted.cells.size or 0.0,
            self.REPORT: "\n".join(report),
        }

    def _report(self, analysis: cells.GiStarAnalysis) -> list[str]:
        points, cell_set = analysis.counted.points, analysis.counted.cells
        tally = analysis.bin_tally()
        return [
            self.tr("Points read: {}; counted in cells: {}; left out: {} ({}).").format(
                points.read, points.counted, sum(points.left_out.values()), hc.reasons_text(points, hc.REASONS)
            ),
            *([points.multipart_note()] if points.multipart else []),
            self.tr("Cells: {} ({}); neighbours: {}, the cell itself included; {} without neighbours.").format(
                len(cell_set), cell_set.description, analysis.hood, analysis.without_neighbours
            ),
            self.tr("Bins ({}): {}").format(
                self.tr("FDR-corrected") if analysis.fdr else self.tr("no FDR correction"),
                ", ".join(f"{self.tr(label)}: {tally[value]}" for value, _, label in hc.BIN_STYLE),
            ),
        ]

    def _abstract(
        self, analysis: cells.GiStarAnalysis, weight: str, crs: QgsCoordinateReferenceSystem, report: list[str]
    ) -> str:
        text = self.tr(
            "Getis-Ord Gi* hot spot analysis of {} crime points{} on {}; binary weights, {}, the cell itself "
            "included. gi_z equals PySAL esda G_Local(star=True, transform='B'); gi_p two-sided; gi_bin -3..+3 "
            "for 99/95/90 % confidence{}. {}CRS {}."
        )
        return (
            text.format(
                analysis.counted.points.counted,
                self.tr(" weighted by '{}'").format(weight) if weight else "",
                analysis.counted.cells.description,
                analysis.hood,
                self.tr(" after a Benjamini-Hochberg false discovery rate correction")
                if analysis.fdr
                else self.tr(" (no FDR correction)"),
                areas.BOUNDARY_RULE + " " if analysis.counted.cells.grid is None else "",
                crs.authid(),
            )
            + " "
            + " ".join(report)
        )


EXTRA = [
    ("crimes", QVariant.Int),
    ("value", QVariant.Double),
    ("neighbours", QVariant.Int),
    ("gi_z", QVariant.Double),
    ("gi_p", QVariant.Double),
    ("gi_bin", QVariant.Int),
    ("label", QVariant.String),
]


def columns(analysis: cells.GiStarAnalysis) -> dict[str, np.ndarray]:
    """Return the Gi* output columns of each cell, by field name, as arrays (NaN is written as NULL)."""
    result = analysis.result
    labels = np.array([hc.BIN_LABELS[b] for b in range(-3, 4)] + ["No neighbours"], dtype=object)
    # A cell without a z-score (no neighbours) has bin 0 and the last label.
    label_of = np.where(np.isnan(result.z), len(labels) - 1, result.bin + 3)
    return {
        "crimes": analysis.counts,
        "value": analysis.values,
        "neighbours": result.neighbours,
        "gi_z": result.z,
        "gi_p": result.p,
        "gi_bin": result.bin,
        "label": labels[label_of],
    }
