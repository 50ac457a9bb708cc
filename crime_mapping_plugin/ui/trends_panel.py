"""The dock's Trends section: run crimemapping:crimetrends in the background and show what it found.

The panel only collects choices (the crimes or count table, the areas and their fields, what to chart)
and shows the algorithm's own results: the signal counts, the coverage, the styled layer added to the
map and the small multiples. It computes no statistic; the dock embeds it as one collapsible section.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Callable

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsProcessingOutputLayerDefinition,
    QgsProject,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgsCollapsibleGroupBox, QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, pyqtSignal
from qgis.PyQt.QtGui import QPixmap
from qgis.PyQt.QtWidgets import QFormLayout, QLabel, QLineEdit, QPushButton, QVBoxLayout, QWidget

from crime_mapping_plugin.ui.tasks import AlgorithmRun

ALGORITHM = "crimemapping:crimetrends"
GROUP = "Crime trends"
PREVIEW_WIDTH = 380


class TrendsPanel(QWidget):
    """Choose crimes (points or a count table) and areas, run the trends in the background, show the result."""

    message = pyqtSignal(str, int)  # text, Qgis level, as the dock's controller emits them
    finished = pyqtSignal(bool)

    def __init__(self, project: QgsProject | None = None, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.project = project or QgsProject.instance()
        self.output_dir = os.path.join(tempfile.gettempdir(), "crime_mapping_trends")
        self.output_dir_of: Callable[[], str] | None = None  # the dock's output folder, asked at each run
        self.run: AlgorithmRun | None = None
        self.results: dict = {}
        self.layers: list[QgsMapLayer] = []
        box = QgsCollapsibleGroupBox("Trends and signals")
        form = QFormLayout(box)
        self.crimes_combo = QgsMapLayerComboBox()
        self.crimes_combo.setFilters(QgsMapLayerProxyModel.PointLayer | QgsMapLayerProxyModel.NoGeometry)
        self.crimes_combo.setToolTip("Crime points with a month, or a count table (e.g. the MPS ward import).")
        self.areas_combo = QgsMapLayerComboBox()
        self.areas_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.code_combo, self.name_combo, self.parent_combo = QgsFieldComboBox(), QgsFieldComboBox(), QgsFieldComboBox()
        for combo in (self.code_combo, self.name_combo, self.parent_combo):
            combo.setAllowEmptyFieldName(True)
        self.table_code_edit = QLineEdit("ward_code")
        self.table_code_edit.setToolTip("The count table's area code field (a count table only).")
        self.chart_parent_edit = QLineEdit()
        self.chart_parent_edit.setToolTip("Chart every area of this parent code, e.g. a borough's LAD code.")
        self.chart_areas_edit = QLineEdit()
        self.chart_areas_edit.setToolTip("Or chart these area codes (comma-separated).")
        self.run_button = QPushButton("Run trends")
        self.summary = QLabel("")
        self.summary.setWordWrap(True)
        self.preview = QLabel()
        self.preview.setAlignment(Qt.AlignCenter)
        for label, widget in (
            ("Crimes or counts", self.crimes_combo),
            ("Areas", self.areas_combo),
            ("Area code", self.code_combo),
            ("Area name", self.name_combo),
            ("Parent code", self.parent_combo),
            ("Table's code field", self.table_code_edit),
            ("Chart parent", self.chart_parent_edit),
            ("Chart areas", self.chart_areas_edit),
        ):
            form.addRow(label, widget)
        form.addRow(self.run_button)
        form.addRow(self.summary)
        form.addRow(self.preview)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(box)
        self.areas_combo.layerChanged.connect(self._areas_changed)
        self.run_button.clicked.connect(self.start)
        self._areas_changed(self.areas_combo.currentLayer())

    def _areas_changed(self, layer: QgsMapLayer | None) -> None:
        for combo in (self.code_combo, self.name_combo, self.parent_combo):
            combo.setLayer(layer)
        if isinstance(layer, QgsVectorLayer):
            names = layer.fields().names()
            for combo, guesses in (
                (self.code_combo, ("WD24CD", "LAD24CD", "code")),
                (self.name_combo, ("WD24NM", "LAD24NM", "name")),
                (self.parent_combo, ("LAD24CD",) if "WD24CD" in names else ()),
            ):
                combo.setField(next((g for g in guesses if g in names), ""))

    def is_busy(self) -> bool:
        """Return whether a trends run is going on."""
        return self.run is not None and not self.run.finished

    def parameters(self) -> dict:
        """Return crimetrends' parameters for the current choices, outputs in output_dir (loaded when done)."""
        crimes, areas = self.crimes_combo.currentLayer(), self.areas_combo.currentLayer()
        if crimes is None or areas is None:
            raise ValueError("Choose the crimes (or a count table) and the areas.")
        is_table = isinstance(crimes, QgsVectorLayer) and crimes.geometryType() == QgsWkbTypes.NullGeometry
        stamp = time.strftime("%Y%m%d_%H%M%S")
        folder = self.output_dir_of() if self.output_dir_of is not None else self.output_dir
        os.makedirs(folder, exist_ok=True)

        def out(name: str) -> str:
            return os.path.join(folder, f"trends_{stamp}_{name}")

        params = {
            "COUNTS_TABLE" if is_table else "CRIMES": crimes,
            "AREAS": areas,
            "AREA_CODE_FIELD": self.code_combo.currentField(),
            "AREA_NAME_FIELD": self.name_combo.currentField(),
            "PARENT_FIELD": self.parent_combo.currentField(),
            "CHART_PARENT": self.chart_parent_edit.text().strip(),
            "CHART_AREAS": self.chart_areas_edit.text().strip(),
            "OUTPUT": QgsProcessingOutputLayerDefinition(out("areas.gpkg"), self.project),
            "TABLE": QgsProcessingOutputLayerDefinition(out("by_month.gpkg"), self.project),
            "SMALL_MULTIPLES": out("charts.png"),
        }
        if is_table:
            params["COUNTS_CODE_FIELD"] = self.table_code_edit.text().strip() or "ward_code"
        return params

    def start(self) -> bool:
        """Start crimetrends in the background; False (and a message) when it cannot start."""
        if self.is_busy():
            self.message.emit("Wait for the current trends run to finish.", Qgis.Warning)
            return False
        try:
            params = self.parameters()
        except ValueError as err:
            self.message.emit(str(err), Qgis.Warning)
            return False
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(ALGORITHM)
        run = AlgorithmRun(algorithm, params, "Crime trends", self.project)
        problem = run.check()
        if problem:
            self.message.emit(f"Crime trends: {problem}", Qgis.Critical)
            return False
        self.run = run
        self.run_button.setEnabled(False)
        self.summary.setText("Running…")
        run.done.connect(self._done)
        run.start()
        return True

    def _done(self, ok: bool, results: dict, message: str) -> None:
        self.run_button.setEnabled(True)
        if not ok:
            self.summary.setText(f"Crime trends failed: {message}")
            self.message.emit(f"Crime trends failed: {message}", Qgis.Critical)
            self.finished.emit(False)
            return
        self.results = results
        self.layers = self.run.load_outputs(GROUP)
        self.summary.setText(
            f"{results['PERIOD']}: {results['CONCERN']} concern, {results['IMPROVEMENT']} improvement, "
            f"{results['COMMON_CAUSE']} common cause, {results['NOT_ENOUGH_DATA']} not enough data. Missing months: "
            f"{results['MISSING_MONTHS'] or 'none'}; partial: {results['PARTIAL_MONTHS'] or 'none'}."
        )
        chart = results.get("SMALL_MULTIPLES")
        if chart and os.path.exists(chart):
            self.preview.setPixmap(QPixmap(chart).scaledToWidth(PREVIEW_WIDTH, Qt.SmoothTransformation))
            self.preview.setToolTip(chart)
        self.message.emit(f"Crime trends: {len(self.layers)} layer(s) added to '{GROUP}'.", Qgis.Success)
        self.finished.emit(True)
