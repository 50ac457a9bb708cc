"""Processing algorithm crimemapping:gistarhotspots: Getis-Ord Gi* hot and cold spots on a grid or polygons."""

from __future__ import annotations

import numpy as np
from qgis.core import (
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterFeatureSink,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import gistar
from crime_mapping_plugin.processing import hotspot_cells as hc
from crime_mapping_plugin.processing.layer_info import describe_layer

REASONS = (hc.REASON_NO_GEOMETRY, hc.REASON_NULL_WEIGHT, hc.REASON_OUTSIDE_AREA, hc.REASON_OUTSIDE_CELLS)


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

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
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

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        crs = hc.analysis_crs(self, parameters, context)
        feedback.setProgressText(self.tr("Reading the crime points"))
        points = hc.read_points(self, parameters, context, feedback, crs)
        feedback.setProgressText(self.tr("Making the cells and counting the points"))
        cells = hc.build_cells(self, parameters, context, feedback, crs, points)
        counts = np.bincount(cells.point_cell, minlength=len(cells)).astype(np.int64)
        values = gistar.count_points(cells.point_cell, len(cells), points.weight)
        weighted = bool(self.parameterAsString(parameters, hc.WEIGHT_FIELD, context))
        feedback.pushInfo(f"{len(cells)} cells ({cells.description}); {int(counts.sum())} points counted.")
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        feedback.setProgressText(self.tr("Computing Gi*"))
        nb, hood = hc.neighbours(self, parameters, context, feedback, cells)
        fdr = self.parameterAsBoolean(parameters, hc.FDR, context)
        try:
            result = gistar.hotspots(values, nb, fdr)
        except gistar.GiStarInputError as err:
            raise QgsProcessingException(str(err)) from err
        feedback.setProgress(60)
        alone = int((result.neighbours == 0).sum())
        if alone:
            feedback.pushWarning(
                f"{alone} cell(s) have no neighbour within the neighbourhood ({hood}): they get no z-score "
                "(NULL, bin 0). Widen the distance band to include them."
            )
        labels = {**hc.BIN_LABELS}
        rows = [
            [int(c), float(v), int(k), z, p, int(b), labels[int(b)] if z is not None else "No neighbours"]
            for c, v, k, z, p, b in zip(
                counts.tolist(),
                values.tolist(),
                result.neighbours.tolist(),
                hc.nan_to_none(result.z),
                hc.nan_to_none(result.p),
                result.bin.tolist(),
            )
        ]
        extra = [
            ("crimes", QVariant.Int),
            ("value", QVariant.Double),
            ("neighbours", QVariant.Int),
            ("gi_z", QVariant.Double),
            ("gi_p", QVariant.Double),
            ("gi_bin", QVariant.Int),
            ("label", QVariant.String),
        ]
        dest_id = hc.write_cells(self, parameters, self.OUTPUT, context, feedback, cells, extra, rows, crs)

        left_out = sum(points.reasons.values())
        hot = int((result.bin > 0).sum())
        cold = int((result.bin < 0).sum())
        report = [
            f"Points read: {points.read}; counted in cells: {int(counts.sum())}; left out: {left_out} "
            f"({hc.reasons_text(points, REASONS)}).",
            f"Cells: {len(cells)} ({cells.description}); neighbours: {hood}, the cell itself included; "
            f"{alone} without neighbours.",
            f"Bins ({'FDR-corrected' if fdr else 'no FDR correction'}): "
            + ", ".join(f"{label}: {int((result.bin == value).sum())}" for value, _, label in hc.BIN_STYLE),
        ]
        for line in report:
            feedback.pushInfo(line)
        if points.read != int(counts.sum()) + left_out:  # a bug, never the user's input
            raise QgsProcessingException(
                f"Internal error: {points.read} points read but {counts.sum()} counted and {left_out} left out."
            )
        describe_layer(
            context,
            dest_id,
            title="Gi* hot spots" + (" (weighted)" if weighted else ""),
            abstract=(
                f"Getis-Ord Gi* hot spot analysis of {int(counts.sum())} crime points"
                + (f" weighted by '{self.parameterAsString(parameters, hc.WEIGHT_FIELD, context)}'" if weighted else "")
                + f" on {cells.description}; binary weights, {hood}, the cell itself included. gi_z equals PySAL esda "
                "G_Local(star=True, transform='B'); gi_p two-sided; gi_bin -3..+3 for 99/95/90 % confidence"
                + (" after a Benjamini-Hochberg false discovery rate correction." if fdr else " (no FDR correction).")
                + f" CRS {crs.authid()}. "
                + " ".join(report)
            ),
            keywords=["crime", "hotspot", "Getis-Ord Gi*"],
            style=hc.style_bins,
        )
        return {
            self.OUTPUT: dest_id,
            self.POINTS_READ: points.read,
            self.POINTS_COUNTED: int(counts.sum()),
            self.POINTS_LEFT_OUT: left_out,
            self.CELLS_ANALYSED: len(cells),
            self.CELLS_WITHOUT_NEIGHBOURS: alone,
            self.HOT_SPOTS: hot,
            self.COLD_SPOTS: cold,
            self.CELL_SIZE_USED: cells.size if cells.size is not None else 0.0,
            self.REPORT: "\n".join(report),
        }
