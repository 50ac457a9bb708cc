"""The Crime Mapping dock: load police.uk downloads, filter them, map and style them, at the desk.

A thin widget built in code: it collects the analyst's choices and shows what the controller
(ui.controller.DockController) reports; the controller owns the state and runs the Processing
algorithms as background tasks.
"""

from __future__ import annotations

import os
from typing import Callable, Collection, Iterable

from qgis.core import (
    Qgis,
    QgsFieldProxyModel,
    QgsMapLayer,
    QgsMapLayerProxyModel,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.gui import QgisInterface, QgsCollapsibleGroupBox, QgsDockWidget, QgsFieldComboBox, QgsMapLayerComboBox
from qgis.PyQt.QtCore import Qt, QUrl
from qgis.PyQt.QtGui import QCloseEvent, QDesktopServices, QPixmap
from qgis.PyQt.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QVBoxLayout,
    QWidget,
)

from crime_mapping_plugin.core import crime_types
from crime_mapping_plugin.core.crime_filter import FORCE_FIELD, CrimeFilter
from crime_mapping_plugin.core.months import month_text
from crime_mapping_plugin.processing.rate_style import parse_breaks
from crime_mapping_plugin.ui.actions import MAP_ACTIONS, action, parameter_options
from crime_mapping_plugin.ui.controller import DockController
from crime_mapping_plugin.ui.trends_panel import TrendsPanel

STYLE_LABELS = {
    "ward_rates": "Ward rate classes (fixed breaks)",
    "density": "Density colour ramp (fixed maximum)",
    "heatmap": "Point heatmap (fixed maximum)",
    "gistar": "Gi* hot and cold spot classes",
}
LEVEL_COLOURS = {Qgis.Info: "#303030", Qgis.Success: "#1a7f37", Qgis.Warning: "#9a6700", Qgis.Critical: "#cf222e"}


def _checkable_list(values: Iterable[str], checked: Collection[str] = ()) -> QListWidget:
    widget = QListWidget()
    for value in values:
        item = QListWidgetItem(value)
        item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
        item.setCheckState(Qt.Checked if value in checked else Qt.Unchecked)
        widget.addItem(item)
    widget.setMaximumHeight(110)
    return widget


def checked_items(widget: QListWidget) -> list[str]:
    """Return the texts of the ticked items of a checkable list."""
    return [widget.item(i).text() for i in range(widget.count()) if widget.item(i).checkState() == Qt.Checked]


def set_checked(widget: QListWidget, values: Collection[str]) -> None:
    """Tick exactly the items whose text is in values."""
    for i in range(widget.count()):
        item = widget.item(i)
        item.setCheckState(Qt.Checked if item.text() in values else Qt.Unchecked)


class CrimeMappingDock(QgsDockWidget):
    """Load, filter, map and style police.uk crime, without freezing QGIS."""

    def __init__(
        self,
        iface: QgisInterface | None = None,
        controller: DockController | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__("Crime Mapping", parent)
        self.setObjectName("CrimeMappingDock")
        self.iface = iface
        self.controller = controller or DockController()
        self.paths: list[str] = []
        self.mps_path = ""
        self.map_buttons: dict[str, QPushButton] = {}
        self.open_url: Callable[[QUrl], object] = QDesktopServices.openUrl  # how a result is opened for the analyst
        body = QWidget()
        layout = QVBoxLayout(body)
        # Progress and messages on top, where they stay in sight whatever box is open.
        run = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.controller.cancel)
        run.addWidget(self.progress)
        run.addWidget(self.cancel_button)
        layout.addLayout(run)
        self.status = QLabel("Choose police.uk files, zips or a folder, then Load.")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.status)
        layout.addWidget(self._load_box())
        layout.addWidget(self._filter_box())
        layout.addWidget(self._map_box())
        layout.addWidget(self._plot_box())
        layout.addWidget(self._style_box())
        self.trends_panel = TrendsPanel(self.controller.project)  # the Trends section (ui/trends_panel.py)
        self.trends_panel.output_dir_of = self.controller.output_dir
        self.trends_panel.message.connect(self.show_message)
        layout.addWidget(self.trends_panel)
        layout.addWidget(self._publish_box())
        layout.addStretch(1)
        self.setMinimumWidth(380)
        for combo in body.findChildren(QComboBox):  # long layer names must not widen the dock past its width
            combo.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
            combo.setMinimumContentsLength(12)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setWidget(body)
        self.setWidget(scroll)

        ctl = self.controller
        ctl.message.connect(self.show_message)
        ctl.progress.connect(self.progress.setValue)
        ctl.busy_changed.connect(self._busy)
        ctl.count_changed.connect(self._count)
        ctl.layer_changed.connect(self._layer_changed)
        ctl.settings_changed.connect(self._restore)
        ctl.funnel_plot_changed.connect(self.show_funnel_plot)
        ctl.published.connect(self._published)
        ctl.run_finished.connect(lambda *_: self._restore_style_values())
        ctl.project.layersAdded.connect(self._default_wards)
        self._restore()
        self._layer_changed()
        self._default_wards()
        self.refresh_actions()

    # Building.

    def _load_box(self) -> QWidget:
        box = QgsCollapsibleGroupBox("Load crime data")
        form = QFormLayout(box)
        store_row = QHBoxLayout()
        self.store_edit = QLineEdit()
        self.store_edit.setPlaceholderText("beside the saved project, or a new file you choose")
        self.store_edit.setToolTip(
            "The GeoPackage this project's crimes are kept in: its own, never a file another project uses."
        )
        store_button = QPushButton("…")
        store_button.clicked.connect(self._choose_store)
        store_row.addWidget(self.store_edit)
        store_row.addWidget(store_button)
        form.addRow("Store", store_row)
        pg_row = QHBoxLayout()
        self.pg_combo = QComboBox()
        self.pg_combo.setToolTip(
            "Or keep the crimes in a table of a saved PostGIS connection (Browser ▸ PostgreSQL): the project keeps "
            "the connection's name and the table, never a password (keep it in an authentication configuration)."
        )
        self.pg_table_edit = QLineEdit()
        self.pg_table_edit.setPlaceholderText("schema.table, e.g. public.police_uk_crimes")
        pg_row.addWidget(self.pg_combo)
        pg_row.addWidget(self.pg_table_edit)
        form.addRow("PostGIS", pg_row)
        pick = QHBoxLayout()
        files = QPushButton("Files or zips…")
        files.clicked.connect(self._choose_files)
        folder = QPushButton("Folder…")
        folder.clicked.connect(self._choose_folder)
        pick.addWidget(files)
        pick.addWidget(folder)
        form.addRow("police.uk", pick)
        self.paths_label = QLabel("nothing chosen")
        self.paths_label.setWordWrap(True)
        form.addRow("", self.paths_label)
        self.load_button = QPushButton("Load crimes")
        self.load_button.clicked.connect(self.load)
        form.addRow("", self.load_button)
        mps = QHBoxLayout()
        mps_button = QPushButton("MPS ward CSV…")
        mps_button.clicked.connect(self._choose_mps)
        self.mps_load_button = QPushButton("Load table")
        self.mps_load_button.clicked.connect(self.load_mps)
        mps.addWidget(mps_button)
        mps.addWidget(self.mps_load_button)
        form.addRow("MPS", mps)
        return box

    def _filter_box(self) -> QWidget:
        box = QgsCollapsibleGroupBox("Filter")
        form = QFormLayout(box)
        self.layer_combo = QgsMapLayerComboBox()
        self.layer_combo.setFilters(QgsMapLayerProxyModel.PointLayer)
        self.layer_combo.setAllowEmptyLayer(True)
        self.layer_combo.layerChanged.connect(self._layer_chosen)
        form.addRow("Crimes", self.layer_combo)
        self.data_months_label = QLabel("no crimes loaded")
        self.data_months_label.setWordWrap(True)
        self.data_months_label.setToolTip(
            "The months of the loaded crimes; months without any record are missing data."
        )
        form.addRow("In the data", self.data_months_label)
        months = QHBoxLayout()
        # Months are picked from those in the data, never typed.
        self.start_combo = QComboBox()
        self.end_combo = QComboBox()
        months.addWidget(self.start_combo)
        months.addWidget(QLabel("to"))
        months.addWidget(self.end_combo)
        form.addRow("Months", months)
        self.group_list = _checkable_list(crime_types.GROUPS)
        form.addRow("Crime groups", self.group_list)
        self.type_list = _checkable_list(crime_types.CURRENT_TYPES)
        self.type_list.setMaximumHeight(80)
        form.addRow("Crime types", self.type_list)
        self.force_list = _checkable_list([])
        self.force_list.setMaximumHeight(60)
        form.addRow("Forces", self.force_list)
        row = QHBoxLayout()
        self.filter_button = QPushButton("Apply filter")
        self.filter_button.clicked.connect(self.apply_filter)
        self.count_label = QLabel("no crimes loaded")
        row.addWidget(self.filter_button)
        row.addWidget(self.count_label, 1)
        form.addRow(row)
        return box

    def _population_source_changed(self, *_args: object) -> None:
        table = self.population_combo.currentLayer()
        source = table if table is not None else self.wards_combo.currentLayer()
        self.population_field_combo.setLayer(source)
        self.population_code_combo.setLayer(table)
        self.population_code_combo.setEnabled(table is not None)
        # Preselect the names that 'Ward populations from LSOA populations' writes.
        names = source.fields().names() if source is not None else []
        if "population" in names:
            self.population_field_combo.setField("population")
        if table is not None and "ward_code" in table.fields().names():
            self.population_code_combo.setField("ward_code")
        self._population_changed()

    def _population_changed(self, *_args: object) -> None:
        self.controller.set_population(
            self.population_combo.currentLayer(),
            self.population_field_combo.currentField(),
            self.population_code_combo.currentField(),
        )

    def _map_box(self) -> QWidget:
        box = QgsCollapsibleGroupBox("Map")
        form = QFormLayout(box)
        self.wards_combo = QgsMapLayerComboBox()
        self.wards_combo.setFilters(QgsMapLayerProxyModel.PolygonLayer)
        self.wards_combo.setAllowEmptyLayer(True)
        self.wards_combo.setLayer(None)
        self.wards_combo.layerChanged.connect(self.controller.set_wards_layer)
        self.wards_combo.setToolTip(
            "Ward polygons for ward rates; also the study area of the density and of Gi* (its grid covers them only)."
        )
        form.addRow("Wards / study area", self.wards_combo)
        # Residents per ward for ward rates: a field of the ward layer, or a table joined on the ward code.
        self.population_combo = QgsMapLayerComboBox()
        self.population_combo.setFilters(QgsMapLayerProxyModel.VectorLayer)
        self.population_combo.setAllowEmptyLayer(True)
        self.population_combo.setLayer(None)
        self.population_combo.setToolTip(
            "Empty: the population is a field of the ward layer. Or a table of residents by ward code, e.g. from "
            "Processing › Crime mapping › Ward populations from LSOA populations."
        )
        form.addRow("Population table", self.population_combo)
        self.population_field_combo = QgsFieldComboBox()
        self.population_field_combo.setFilters(QgsFieldProxyModel.Numeric)
        self.population_field_combo.setAllowEmptyFieldName(True)
        form.addRow("Residents field", self.population_field_combo)
        self.population_code_combo = QgsFieldComboBox()
        form.addRow("Ward code field", self.population_code_combo)
        self.wards_combo.layerChanged.connect(self._population_source_changed)
        self.population_combo.layerChanged.connect(self._population_source_changed)
        self.population_field_combo.fieldChanged.connect(self._population_changed)
        self.population_code_combo.fieldChanged.connect(self._population_changed)
        self._population_source_changed()
        self.bandwidth_spin = QDoubleSpinBox()
        self.bandwidth_spin.setRange(0, 100000)
        self.bandwidth_spin.setSuffix(" m")
        self.bandwidth_spin.setSpecialValueText("automatic")
        form.addRow("Bandwidth", self.bandwidth_spin)
        self.cell_spin = QDoubleSpinBox()
        self.cell_spin.setRange(0, 10000)
        self.cell_spin.setSuffix(" m")
        self.cell_spin.setSpecialValueText("automatic")
        form.addRow("Cell size", self.cell_spin)
        self.units_combo = QComboBox()
        # The options as the algorithm defines them, so the dock never lists units the algorithm lacks.
        self.units_combo.addItems(parameter_options(action("density").algorithm_id, "UNITS"))
        form.addRow("Density in", self.units_combo)
        self.gistar_cell_spin = QDoubleSpinBox()
        self.gistar_cell_spin.setRange(0, 10000)
        self.gistar_cell_spin.setSuffix(" m")
        self.gistar_cell_spin.setSpecialValueText("automatic")
        self.gistar_cell_spin.setToolTip(
            "Gi* grid cells over the study area (the wards above). Automatic: the algorithm's rule from the area."
        )
        form.addRow("Gi* cell size", self.gistar_cell_spin)
        buttons = QGridLayout()  # two a row, so that the dock stays narrow; room for more actions
        for i, row in enumerate(MAP_ACTIONS):
            button = QPushButton(row.label)
            button.clicked.connect(lambda _checked=False, key=row.key: self.run_action(key))
            self.map_buttons[row.key] = button
            buttons.addWidget(button, i // 2, i % 2)
        form.addRow(buttons)
        self.model_button = QPushButton("Edit the workflow model…")
        self.model_button.setToolTip(
            "Open the shipped model (import, density, ward rates) in the Graphical Modeler, as your own copy "
            "under Processing › Models."
        )
        self.model_button.clicked.connect(self.edit_model)
        form.addRow(self.model_button)
        return box

    def _plot_box(self) -> QWidget:
        box = QgsCollapsibleGroupBox("Funnel plot")
        layout = QVBoxLayout(box)
        self.plot_note = QLabel("Run ward rates: their funnel plot is shown here.")
        self.plot_note.setWordWrap(True)
        layout.addWidget(self.plot_note)
        self.plot_label = QLabel()  # the image: no word wrap, which would give a pixmap no height
        self.plot_label.setAlignment(Qt.AlignCenter)
        layout.addWidget(self.plot_label)
        self.plot_open_button = QPushButton("Open the funnel plot")
        self.plot_open_button.setEnabled(False)
        self.plot_open_button.clicked.connect(self._open_plot)
        layout.addWidget(self.plot_open_button)
        return box

    def show_funnel_plot(self, path: str) -> None:
        """Show the funnel plot of the last ward rates run in the dock."""
        pixmap = QPixmap(path)
        if pixmap.isNull():
            self.plot_note.setText(f"The funnel plot {path} cannot be read.")
            return
        width = max(self.widget().viewport().width() - 60, 300)  # the dock's width, not the note's
        self.plot_label.setPixmap(pixmap.scaledToWidth(width, Qt.SmoothTransformation))
        self.plot_label.setToolTip(path)
        self.plot_note.setText("The funnel plot of the last ward rates (Open shows it full size).")
        self.plot_note.setToolTip(path)
        self.plot_open_button.setEnabled(True)

    def _open_plot(self) -> None:
        if self.controller.funnel_plot:
            QDesktopServices.openUrl(QUrl.fromLocalFile(self.controller.funnel_plot))

    def _publish_box(self) -> QWidget:
        box = QgsCollapsibleGroupBox("Publish area profiles")
        form = QFormLayout(box)
        note = QLabel(
            "One profile per ward of the filtered crimes (the wards and residents chosen under Map): a PDF atlas "
            "and a website that works offline, written beside the maps."
        )
        note.setWordWrap(True)
        form.addRow(note)
        self.publish_subset_edit = QLineEdit()
        self.publish_subset_edit.setPlaceholderText("every ward, or ward or borough codes")
        self.publish_subset_edit.setToolTip(
            "Publish only these wards, or the wards of these boroughs (codes, comma-separated); the rates and "
            "trends are still computed over every ward."
        )
        form.addRow("Areas", self.publish_subset_edit)
        self.publish_title_edit = QLineEdit()
        self.publish_title_edit.setPlaceholderText("automatic, e.g. Crime in Camden's wards, 2024-01 to 2024-12")
        form.addRow("Title", self.publish_title_edit)
        row = QHBoxLayout()
        self.publish_button = QPushButton("Publish")
        self.publish_button.setToolTip("Run 'Area profiles' (crimemapping:areaprofiles) and open the website.")
        self.publish_button.clicked.connect(self.publish)
        self.open_site_button = QPushButton("Open the website")
        self.open_site_button.setEnabled(False)
        self.open_site_button.clicked.connect(self.open_website)
        row.addWidget(self.publish_button)
        row.addWidget(self.open_site_button)
        form.addRow(row)
        return box

    def publish(self) -> bool:
        """Publish the profiles of the filtered crimes' wards; the website opens when they are written."""
        self._collect()
        if self.apply_filter() is None and self.controller.state.crimes is not None:
            return False
        self.controller.save_settings()
        return self.controller.publish_profiles(self.publish_subset_edit.text(), self.publish_title_edit.text())

    def _published(self, index: str) -> None:
        self.open_site_button.setEnabled(bool(index))
        self.open_website()

    def open_website(self) -> None:
        """Open the last published website in the analyst's browser."""
        if self.controller.website:
            self.open_url(QUrl.fromLocalFile(self.controller.website))

    def _style_box(self) -> QWidget:
        box = QgsCollapsibleGroupBox("Style")
        form = QFormLayout(box)
        self.style_layer_combo = QgsMapLayerComboBox()
        self.style_layer_combo.setAllowEmptyLayer(True)
        self.style_layer_combo.setLayer(None)
        form.addRow("Layer", self.style_layer_combo)
        self.preset_combo = QComboBox()
        for key, label in STYLE_LABELS.items():
            self.preset_combo.addItem(label, key)
        form.addRow("Preset", self.preset_combo)
        self.breaks_edit = QLineEdit()
        self.breaks_edit.setPlaceholderText("empty: quantiles of the first map, then kept")
        self.breaks_edit.setToolTip("Ward rate class breaks, e.g. 5, 10, 20, 40: the same in every period.")
        form.addRow("Rate breaks", self.breaks_edit)
        self.density_max_spin = QDoubleSpinBox()
        self.density_max_spin.setRange(0, 1e9)
        self.density_max_spin.setDecimals(2)
        self.density_max_spin.setSpecialValueText("from the first map, then kept")
        form.addRow("Density maximum", self.density_max_spin)
        heat = QHBoxLayout()
        self.heat_radius_spin = QDoubleSpinBox()
        self.heat_radius_spin.setRange(1, 10000)
        self.heat_radius_spin.setSuffix(" m")
        self.heat_max_spin = QDoubleSpinBox()
        self.heat_max_spin.setRange(0, 1e6)
        self.heat_max_spin.setSpecialValueText("automatic")
        heat.addWidget(self.heat_radius_spin)
        heat.addWidget(QLabel("max"))
        heat.addWidget(self.heat_max_spin)
        form.addRow("Heatmap radius", heat)
        self.style_button = QPushButton("Apply style")
        self.style_button.clicked.connect(self.apply_style)
        form.addRow("", self.style_button)
        return box

    # State in and out.

    def _restore(self) -> None:
        """Show the controller's (the project's) choices: what is applied is what the dock shows."""
        ctl = self.controller
        self.store_edit.setText(ctl.prefs.store_path)
        self._fill_connections()
        crime_filter = ctl.state.crime_filter
        self._fill_months()
        set_checked(self.group_list, crime_filter.crime_groups)
        set_checked(self.type_list, crime_filter.crime_types)
        set_checked(self.force_list, crime_filter.forces)
        self.bandwidth_spin.setValue(ctl.state.bandwidth_m)
        self.cell_spin.setValue(ctl.state.cell_size_m)
        self.gistar_cell_spin.setValue(ctl.state.gistar_cell_m)
        self.units_combo.setCurrentIndex(ctl.state.density_units)
        if ctl.state.wards is not None and self.wards_combo.currentLayer() is not ctl.state.wards:
            self.wards_combo.setLayer(ctl.state.wards)
        self._restore_style_values()
        self.heat_radius_spin.setValue(ctl.heatmap_radius)
        self.heat_max_spin.setValue(ctl.heatmap_max)
        if not ctl.funnel_plot:
            self.plot_label.clear()
            self.plot_note.setText("Run ward rates: their funnel plot is shown here.")
            self.plot_open_button.setEnabled(False)

    def _fill_months(self) -> None:
        """List the months with records in the loaded crimes; say which months of their span have none."""
        period = self.controller.data_period()
        crime_filter = self.controller.state.crime_filter
        months = [month_text(m) for m in period.with_records] if period is not None else []
        for combo, first, chosen in (
            (self.start_combo, "first month", crime_filter.start_month),
            (self.end_combo, "last month", crime_filter.end_month),
        ):
            combo.blockSignals(True)
            combo.clear()
            combo.addItem(f"({first} in the data)", "")
            for month in months:
                combo.addItem(month, month)
            if chosen and chosen not in months:
                combo.addItem(f"{chosen} (no records)", chosen)
            combo.setCurrentIndex(max(combo.findData(chosen), 0))
            combo.blockSignals(False)
        self.data_months_label.setText(period.describe() if period is not None else "no crimes loaded")

    def current_filter(self) -> CrimeFilter:
        """Return the filter as set in the dock."""
        return CrimeFilter(
            self.start_combo.currentData() or "",
            self.end_combo.currentData() or "",
            checked_items(self.type_list),
            checked_items(self.group_list),
            checked_items(self.force_list),
        )

    def _default_wards(self, *_args: object) -> None:
        """Preselect the project's ward (or other area) polygons as wards and study area, when none is chosen."""
        if self.wards_combo.currentLayer() is not None:
            return
        polygons = [
            layer
            for layer in self.controller.project.mapLayers().values()
            if isinstance(layer, QgsVectorLayer) and layer.geometryType() == QgsWkbTypes.PolygonGeometry
        ]
        wards = [layer for layer in polygons if "ward" in layer.name().lower()] or polygons
        if wards:
            self.wards_combo.setLayer(sorted(wards, key=lambda layer: layer.name())[0])

    def _collect(self) -> None:
        ctl = self.controller
        ctl.state.bandwidth_m = self.bandwidth_spin.value()
        ctl.state.cell_size_m = self.cell_spin.value()
        ctl.state.density_units = self.units_combo.currentIndex()
        ctl.state.gistar_cell_m = self.gistar_cell_spin.value()
        ctl.density_max = self.density_max_spin.value()
        ctl.heatmap_radius = self.heat_radius_spin.value()
        ctl.heatmap_max = self.heat_max_spin.value()

    # Actions.

    def _choose_store(self) -> bool:
        """Ask for a new GeoPackage to keep this project's crimes in; False when none was chosen."""
        path, _ = QFileDialog.getSaveFileName(
            self,
            "Keep this project's crimes in (a new file)",
            self.controller.store_path or self.controller.project.homePath(),
            "GeoPackage (*.gpkg)",
            options=QFileDialog.DontConfirmOverwrite,  # an existing file is refused, never overwritten
        )
        if path and self.controller.set_store_path(path):
            self.store_edit.setText(self.controller.prefs.store_path)
            return True
        return False

    def _fill_connections(self) -> None:
        """List the saved PostGIS connections, the project's own chosen, with its table."""
        prefs = self.controller.prefs
        self.pg_combo.blockSignals(True)
        self.pg_combo.clear()
        self.pg_combo.addItem("(no: the GeoPackage above)", "")
        for name in self.controller.postgis_connections():
            self.pg_combo.addItem(name, name)
        index = self.pg_combo.findData(prefs.store_connection)
        if prefs.store_connection and index < 0:  # saved with the project but not in this QGIS
            self.pg_combo.addItem(f"{prefs.store_connection} (not in this QGIS)", prefs.store_connection)
            index = self.pg_combo.count() - 1
        self.pg_combo.setCurrentIndex(max(index, 0))
        self.pg_combo.blockSignals(False)
        table = f"{prefs.store_schema}.{prefs.store_table}" if prefs.store_table else ""
        self.pg_table_edit.setText(table)

    def _postgis_chosen(self) -> bool:
        """Take the PostGIS store chosen (connection and schema.table), or go back to the GeoPackage store."""
        connection = self.pg_combo.currentData() or ""
        schema, _, table = self.pg_table_edit.text().strip().rpartition(".")
        prefs = self.controller.prefs
        if (connection, schema or "public", table) == (prefs.store_connection, prefs.store_schema, prefs.store_table):
            return True
        return self.controller.set_store_postgis(connection, schema or "public", table or "police_uk_crimes")

    def _store_chosen(self) -> bool:
        """Take a store typed in the box; ask for one when the project is unsaved and has none."""
        if not self._postgis_chosen():
            return False
        if self.controller.prefs.store_connection:
            return True
        typed = self.store_edit.text().strip()
        if (
            typed
            and os.path.abspath(typed) != self.controller.prefs.store_path
            and not self.controller.set_store_path(typed)
        ):
            return False
        if self.controller.store_path:
            return True
        return self.iface is not None and self._choose_store()

    def _choose_files(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(
            self,
            "police.uk street files or zips",
            os.path.dirname(self.controller.store_path),
            "police.uk downloads (*.csv *.zip);;All files (*)",
        )
        if paths:
            self.set_paths(paths)

    def _choose_folder(self) -> None:
        path = QFileDialog.getExistingDirectory(self, "Folder of police.uk downloads")
        if path:
            self.set_paths([path])

    def _choose_mps(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "MPS ward-level crime CSV", "", "CSV (*.csv)")
        if path:
            self.mps_path = path
            self.show_message(f"MPS table chosen: {os.path.basename(path)}", Qgis.Info)

    def set_paths(self, paths: list[str]) -> None:
        """Choose the police.uk files, zips or folders to load."""
        self.paths = list(paths)
        names = [os.path.basename(p.rstrip("/\\")) or p for p in self.paths]
        self.paths_label.setText(
            ", ".join(names[:4]) + (f" and {len(names) - 4} more" if len(names) > 4 else "") or "nothing chosen"
        )

    def load(self) -> bool:
        """Import the chosen police.uk files into the store, in the background."""
        self._collect()
        self.controller.save_settings()
        if self.paths and not self._store_chosen():
            self.show_message(
                "Save the project first (the crimes are kept beside it), or choose a new file to keep them in.",
                Qgis.Warning,
            )
            return False
        return self.controller.import_police_uk(self.paths)

    def load_mps(self) -> bool:
        """Import the chosen MPS ward-level CSV, in the background."""
        self._collect()
        return self.controller.import_mps(self.mps_path)

    def apply_filter(self) -> int | None:
        """Apply the dock's filter to the crimes layer; return the crimes selected."""
        count = self.controller.apply_filter(self.current_filter())
        self._restore_style_values()  # the fixed maximum and breaks of the crimes now chosen
        return count

    def run_action(self, key: str) -> bool:
        """Run a map action on the filtered crimes, in the background."""
        self._collect()
        if self.apply_filter() is None and self.controller.state.crimes is not None:
            return False
        self.controller.save_settings()
        return self.controller.run_map_action(key)

    def edit_model(self) -> str:
        """Open an editable copy of the shipped model in the Graphical Modeler; return the copy's path."""
        from crime_mapping_plugin.ui.model_editor import install_user_copy, open_in_modeler

        try:
            path = install_user_copy()
            opened = open_in_modeler(path) if self.iface is not None else None
        except (OSError, ValueError) as err:
            self.show_message(str(err), Qgis.Critical)
            return ""
        where = "opened in the Graphical Modeler" if opened is not None else "listed under Processing › Models"
        self.show_message(f"Your copy of the workflow model, {path}, is {where}.", Qgis.Info)
        return path

    def apply_style(self) -> bool:
        """Apply the chosen style preset to the chosen layer."""
        self._collect()
        try:
            self.controller.rate_breaks = parse_breaks(self.breaks_edit.text())
        except ValueError as err:
            self.show_message(str(err), Qgis.Warning)
            return False
        layer = self.style_layer_combo.currentLayer()
        if layer is None and self.iface is not None:
            layer = self.iface.activeLayer()
        ok = self.controller.apply_style(self.preset_combo.currentData(), layer)
        self._restore_style_values()
        return ok

    def _restore_style_values(self) -> None:
        self.density_max_spin.setValue(self.controller.density_max)
        self.breaks_edit.setText(", ".join(f"{b:g}" for b in self.controller.rate_breaks))

    # Feedback.

    def show_message(self, text: str, level: int) -> None:
        """Show a message in the dock; warnings and errors also in QGIS's message bar."""
        self.status.setText(text)
        self.status.setStyleSheet(f"color: {LEVEL_COLOURS.get(level, '#303030')}")
        if self.iface is not None and level in (Qgis.Warning, Qgis.Critical):
            self.iface.messageBar().pushMessage("Crime Mapping", text, level, 10)

    def _busy(self, busy: bool) -> None:
        self.cancel_button.setEnabled(busy)
        for widget in (self.load_button, self.mps_load_button, self.filter_button, self.publish_button):
            widget.setEnabled(not busy)
        self.refresh_actions(busy)

    def refresh_actions(self, busy: bool = False) -> None:
        """Enable the map buttons whose algorithm is registered; the others say why they are disabled."""
        for key, button in self.map_buttons.items():
            available, reason = self.controller.action_available(key)
            button.setEnabled(available and not busy)
            button.setToolTip(
                reason or f"Run it on the filtered crimes ({self.controller.state.crime_filter.label()})."
            )

    def _count(self, count: int) -> None:
        self.count_label.setText(f"{count:,} crimes selected")

    def _layer_chosen(self, layer: QgsMapLayer | None) -> None:
        if layer is not self.controller.state.crimes:
            self.controller.set_crimes_layer(layer if isinstance(layer, QgsVectorLayer) else None)

    def _layer_changed(self) -> None:
        layer = self.controller.state.crimes
        if self.layer_combo.currentLayer() is not layer:
            self.layer_combo.setLayer(layer)
        self._fill_months()
        self.force_list.clear()
        if layer is None:
            self.count_label.setText("no crimes loaded")
            return
        index = layer.fields().lookupField(FORCE_FIELD)
        chosen = self.controller.state.crime_filter.forces
        if index >= 0:
            # The forces in the file, read once with the filter off so that every force can be chosen.
            subset = layer.subsetString()
            layer.setSubsetString("")
            forces = sorted(str(v) for v in layer.uniqueValues(index) if v)
            layer.setSubsetString(subset)
            for force in forces:
                item = QListWidgetItem(force)
                item.setFlags(item.flags() | Qt.ItemIsUserCheckable)
                item.setCheckState(Qt.Checked if force in chosen else Qt.Unchecked)
                self.force_list.addItem(item)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt API
        self._collect()
        self.controller.save_settings()
        super().closeEvent(event)
