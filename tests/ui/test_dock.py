"""The dock widget driven as an analyst would: choose files, load, tick a filter, map, style, read the messages."""

from __future__ import annotations

import pytest
from qgis.core import (
    QgsApplication,
    QgsHeatmapRenderer,
    QgsProject,
    QgsRasterLayer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtWidgets import QMainWindow

from crime_mapping_plugin.core.crime_filter import CrimeFilter
from crime_mapping_plugin.ui.actions import MAP_ACTIONS
from crime_mapping_plugin.ui.dock import CrimeMappingDock
from tests.conftest import POLICE_UK
from tests.ui.conftest import wait_for


@pytest.fixture()
def dock(controller):
    widget = CrimeMappingDock(None, controller)
    yield widget
    widget.deleteLater()


def choose_month(combo, month: str) -> None:
    index = combo.findData(month)
    assert index >= 0, f"{month} is not offered"
    combo.setCurrentIndex(index)


def tick(widget, texts) -> None:
    for i in range(widget.count()):
        item = widget.item(i)
        item.setCheckState(Qt.Checked if item.text() in texts else Qt.Unchecked)


def test_load_filter_and_map_from_the_dock(dock, wards):
    dock.set_paths([str(POLICE_UK)])
    assert dock.paths_label.text() == "police_uk"
    dock.load_button.click()
    assert not dock.load_button.isEnabled() and dock.cancel_button.isEnabled()
    wait_for(dock.controller)
    layer = dock.controller.state.crimes
    assert dock.layer_combo.currentLayer() is layer
    assert dock.count_label.text() == f"{layer.featureCount():,} crimes selected"
    assert dock.progress.value() == 100
    assert "crimes" in dock.status.text() and "rows read" in dock.status.text()
    forces = [dock.force_list.item(i).text() for i in range(dock.force_list.count())]
    assert forces == ["City of London Police", "Metropolitan Police Service"]

    # The months offered are those in the data, with the span and its missing months said.
    offered = [dock.start_combo.itemData(i) for i in range(dock.start_combo.count())]
    assert offered == ["", "2024-10", "2024-11", "2024-12"]
    assert dock.data_months_label.text() == "2024-10 to 2024-12 (3 months)"
    choose_month(dock.start_combo, "2024-11")
    choose_month(dock.end_combo, "2024-11")
    tick(dock.group_list, ["Burglary"])
    tick(dock.force_list, ["City of London Police"])
    dock.filter_button.click()
    expected = CrimeFilter("2024-11", "2024-11", crime_groups=["Burglary"], forces=["City of London Police"])
    assert layer.subsetString() == expected.subset_string()
    unfiltered = QgsVectorLayer(dock.controller.store_path, "check", "ogr")
    hand = sum(
        1
        for f in unfiltered.getFeatures()
        if f["month"].toString("yyyy-MM") == "2024-11"
        and f["crime_group"] == "Burglary"
        and f["reported_by"] == "City of London Police"
    )
    assert hand > 0
    assert dock.count_label.text() == f"{hand:,} crimes selected"

    dock.wards_combo.setLayer(wards)
    dock.bandwidth_spin.setValue(300)
    dock.cell_spin.setValue(50)
    dock.map_buttons["density"].click()
    wait_for(dock.controller)
    group = QgsProject.instance().layerTreeRoot().findGroup("Burglary (City of London Police), 2024-11")
    assert group is not None, dock.status.text()
    assert any(isinstance(node.layer(), QgsRasterLayer) for node in group.findLayers())
    assert dock.controller.run.results["CRIMES"] + dock.controller.run.results["CRIMES_LEFT_OUT"] == hand


def test_buttons_of_algorithms_not_installed_are_disabled_with_the_reason(dock):
    registry = QgsApplication.processingRegistry()
    for row in MAP_ACTIONS:
        button = dock.map_buttons[row.key]
        installed = registry.algorithmById(row.algorithm_id) is not None
        assert button.isEnabled() == installed
        if not installed:
            assert f"{row.algorithm_id}, which is not installed" in button.toolTip()
    assert dock.map_buttons["density"].isEnabled()


def test_errors_are_shown_in_the_dock(dock):
    dock.load_button.click()
    assert dock.status.text() == "Choose police.uk street files, zip archives or a folder to load first."
    dock.style_button.click()
    assert dock.status.text() == "Select a layer in the Layers panel to style."


def test_errors_also_go_to_the_message_bar(controller, qgis_iface):
    dock = CrimeMappingDock(qgis_iface, controller)
    pushed = []
    qgis_iface.messageBar().pushMessage = lambda *args: pushed.append(args)
    dock.load_button.click()
    assert pushed and pushed[-1][1] == "Choose police.uk street files, zip archives or a folder to load first."


def test_a_style_preset_applies_fixed_breaks_typed_in_the_dock(dock):
    layer = QgsVectorLayer("Polygon?crs=EPSG:27700&field=rate:double", "ward rates", "memory")
    QgsProject.instance().addMapLayer(layer)
    dock.style_layer_combo.setLayer(layer)
    dock.preset_combo.setCurrentIndex(dock.preset_combo.findData("ward_rates"))
    dock.breaks_edit.setText("5, 10, 20")
    assert dock.apply_style()
    assert [item.label() for item in layer.renderer().legendSymbolItems()][1] == "5 to 10 crimes per 1,000 residents"
    dock.breaks_edit.setText("20, 10")
    assert not dock.apply_style()
    assert "must increase" in dock.status.text()


def test_the_heatmap_preset_on_the_crimes(dock):
    layer = QgsVectorLayer("Point?crs=EPSG:27700", "crimes", "memory")
    QgsProject.instance().addMapLayer(layer)
    dock.style_layer_combo.setLayer(layer)
    dock.preset_combo.setCurrentIndex(dock.preset_combo.findData("heatmap"))
    dock.heat_radius_spin.setValue(400)
    dock.heat_max_spin.setValue(25)
    assert dock.apply_style()
    assert isinstance(layer.renderer(), QgsHeatmapRenderer)
    assert (layer.renderer().radius(), layer.renderer().maximumValue()) == (400, 25)
    dock.preset_combo.setCurrentIndex(dock.preset_combo.findData("density"))
    assert not dock.apply_style()
    assert dock.status.text() == "'crimes' is not a density raster: choose a hotspot density layer."


class RecordingIface:
    """The few iface calls the plugin makes, recorded (pytest-qgis's stub has no removal methods)."""

    def __init__(self) -> None:
        self.window = QMainWindow()
        self.menu, self.toolbar, self.docks = [], [], []

    def mainWindow(self):
        return self.window

    def addPluginToMenu(self, name, action):
        self.menu.append(action)

    def removePluginMenu(self, name, action):
        self.menu.remove(action)

    def addToolBarIcon(self, action):
        self.toolbar.append(action)

    def removeToolBarIcon(self, action):
        if action in self.toolbar:
            self.toolbar.remove(action)

    def addDockWidget(self, area, dock):
        self.docks.append(dock)

    def removeDockWidget(self, dock):
        self.docks.remove(dock)

    def messageBar(self):
        return None


def test_the_plugin_adds_the_dock_toggle_and_removes_everything(provider):
    from crime_mapping_plugin import classFactory

    iface = RecordingIface()
    plugin = classFactory(iface)
    plugin.initGui()
    assert [a.text() for a in iface.menu] == ["Crime Mapping dock", "Import police.uk crime…"]
    assert [a.text() for a in iface.toolbar] == ["Crime Mapping dock"]
    assert QgsApplication.processingRegistry().algorithmById("crimemapping:hotspotdensity") is not None
    iface.toolbar[0].trigger()
    assert isinstance(plugin.dock, CrimeMappingDock) and iface.docks == [plugin.dock]
    plugin.unload()
    assert iface.menu == [] and iface.toolbar == [] and iface.docks == []
    assert plugin.dock is None
    # The provider registered before the plugin (the tests' own) is not the plugin's to remove.
    assert QgsApplication.processingRegistry().providerById("crimemapping") is provider


def test_population_widgets_choose_a_table_joined_on_the_ward_code(dock, wards, ward_population):
    from crime_mapping_plugin.ui.actions import ward_rates_missing, ward_rates_parameters

    dock.wards_combo.setLayer(wards)
    # No table: the residents field is looked for in the ward layer, which has none.
    assert dock.population_field_combo.layer() is wards
    assert not dock.population_code_combo.isEnabled()
    assert "Choose the ward populations" in ward_rates_missing(dock.controller.state)
    dock.population_combo.setLayer(ward_population)
    state = dock.controller.state
    assert state.population is ward_population
    assert (state.population_field, state.population_code_field) == ("population", "ward_code")
    assert dock.population_code_combo.isEnabled()
    assert ward_rates_missing(state) == ""
    params = ward_rates_parameters(state)
    assert params["POPULATION_TABLE"] == ward_population.id()
    assert (params["POP_CODE_FIELD"], params["POP_VALUE_FIELD"]) == ("ward_code", "population")
    assert "POPULATION_FIELD" not in params


def test_the_unit_choices_are_those_the_algorithm_defines(dock):
    definition = (
        QgsApplication.processingRegistry().algorithmById("crimemapping:hotspotdensity").parameterDefinition("UNITS")
    )
    shown = [dock.units_combo.itemText(i) for i in range(dock.units_combo.count())]
    assert shown == definition.options() and len(shown) == 3


def test_the_default_units_are_the_algorithms_own(dock):
    definition = (
        QgsApplication.processingRegistry().algorithmById("crimemapping:hotspotdensity").parameterDefinition("UNITS")
    )
    assert dock.units_combo.currentIndex() == definition.defaultValue()
    assert dock.controller.state.density_units == definition.defaultValue()
