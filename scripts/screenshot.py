"""Run inside the QGIS desktop (qgis --code): open the dock, load the bundled sample, map burglary, save screenshots.

`make screenshot` installs the packaged plugin into a fresh profile and starts QGIS under Xvfb with this
file. Everything goes through the dock and its controller, as an analyst's clicks would: the project is
saved first, so that its crimes are kept beside it. The window is grabbed to CRIME_MAPPING_SHOT (burglary
density) and to CRIME_MAPPING_SHOT_RATES (burglary ward rates with their funnel plot in the dock), and QGIS
exits (exit status 1 if a step failed, with the reason printed).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

from qgis import processing
from qgis.core import QgsApplication, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.utils import iface, plugins

SAMPLE = os.environ["CRIME_MAPPING_SAMPLE"]
SHOT = os.environ["CRIME_MAPPING_SHOT"]
SHOT_RATES = os.environ.get("CRIME_MAPPING_SHOT_RATES") or os.path.join(
    os.path.dirname(SHOT), "screenshot_ward_rates.png"
)


def pump(seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QgsApplication.processEvents()
        time.sleep(0.02)


def wait(controller, what: str) -> None:
    deadline = time.monotonic() + 300
    while controller.is_busy():
        QgsApplication.processEvents()
        time.sleep(0.02)
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not finish")
    pump(0.5)
    text, level = controller.last_message
    print(f"{what}: {text}", flush=True)
    if level == 2:  # Qgis.Critical
        raise RuntimeError(text)


def run() -> None:
    plugin = plugins["crime_mapping_plugin"]
    dock = plugin.show_dock()
    window = iface.mainWindow()
    window.setGeometry(0, 0, 1600, 1000)  # Xvfb has no window manager to maximise it
    window.resizeDocks([dock], [470], Qt.Horizontal)
    work = tempfile.mkdtemp(prefix="crime_mapping_shot")
    project = QgsProject.instance()
    project.setFileName(os.path.join(work, "London burglary.qgz"))
    if not project.write():
        raise RuntimeError("could not save the project")
    dock.set_paths([os.path.join(SAMPLE, "police_uk")])
    if not dock.load():
        raise RuntimeError(dock.status.text())
    wait(dock.controller, "Load")

    wards = QgsVectorLayer(
        os.path.join(SAMPLE, "boundaries", "london_wards_2024.gpkg") + "|layername=wards", "London wards 2024", "ogr"
    )
    wards.renderer().symbol().setColor(Qt.transparent)
    wards.renderer().symbol().symbolLayer(0).setStrokeColor(Qt.gray)
    QgsProject.instance().addMapLayer(wards, False)
    QgsProject.instance().layerTreeRoot().addLayer(wards)
    dock.wards_combo.setLayer(wards)

    dock.start_combo.setCurrentIndex(dock.start_combo.findData("2024-10"))
    dock.end_combo.setCurrentIndex(dock.end_combo.findData("2024-12"))
    for i in range(dock.group_list.count()):
        item = dock.group_list.item(i)
        item.setCheckState(Qt.Checked if item.text() == "Burglary" else Qt.Unchecked)
    dock.units_combo.setCurrentIndex(1)  # crimes per km² per month: comparable between periods
    dock.bandwidth_spin.setValue(400)
    dock.cell_spin.setValue(100)
    dock.filter_button.click()
    dock.map_buttons["density"].click()
    wait(dock.controller, "Hotspot density")

    crimes = dock.controller.state.crimes
    node = QgsProject.instance().layerTreeRoot().findLayer(crimes.id())
    node.setItemVisibilityChecked(False)  # the density is the map; the points would hide it
    group = QgsProject.instance().layerTreeRoot().findGroup(dock.controller.state.crime_filter.label())
    for child in group.children():
        child.setExpanded(child.name().startswith("Crime density"))  # its legend states the unit
    # QGIS's own notice that the OSTN15 grid is not installed (the import used the ballpark transform).
    iface.messageBar().clearWidgets()
    for box in dock.findChildren(QgsCollapsibleGroupBox):
        box.setCollapsed(box.title() in ("Load crime data", "Style"))
    iface.mapCanvas().setExtent(QgsRectangle(518000, 170000, 545000, 190000))
    pump(0.3)
    dock.widget().verticalScrollBar().setValue(0)  # the months in the data and the filter on top
    grab(SHOT)
    ward_rates(dock, wards, work, group)


def grab(path: str) -> None:
    canvas = iface.mapCanvas()
    canvas.refresh()
    pump(1.0)
    canvas.waitWhileRendering()
    pump(1.0)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if not iface.mainWindow().grab().save(path):
        raise RuntimeError(f"could not write {path}")
    print(f"Saved {path}", flush=True)


def ward_rates(dock: object, wards: QgsVectorLayer, work: str, density_group: object) -> None:
    """Burglary per 1,000 residents by ward, the funnel plot shown in the dock."""
    population = os.path.join(work, "ward_population.gpkg")
    processing.run(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": os.path.join(SAMPLE, "population", "london_lsoa21_population_census2021.csv"),
            "LOOKUP": os.path.join(SAMPLE, "population", "london_lsoa21_to_ward24_lookup.csv"),
            "OUTPUT": population,
        },
    )
    table = QgsVectorLayer(population, "Ward population (Census 2021)", "ogr")
    QgsProject.instance().addMapLayer(table)
    dock.population_combo.setLayer(table)
    density_layers = list(density_group.findLayers())
    dock.map_buttons["wardrates"].click()
    wait(dock.controller, "Ward rates")
    for node in density_layers:  # the same group: the rates are the map now
        node.setItemVisibilityChecked(False)
        node.setExpanded(False)
    for layer in dock.controller.last_outputs:
        node = QgsProject.instance().layerTreeRoot().findLayer(layer.id())
        if node is not None:
            node.setExpanded(True)
    for box in dock.findChildren(QgsCollapsibleGroupBox):
        box.setCollapsed(box.title() not in ("Map", "Funnel plot"))
    dock.show_funnel_plot(dock.controller.funnel_plot)  # scaled to the dock's width now that it is laid out
    iface.messageBar().clearWidgets()
    grab(SHOT_RATES)


def main() -> None:
    status = 0
    try:
        run()
    except Exception:  # reported, then QGIS must still exit: nobody is there to close it
        traceback.print_exc()
        status = 1
    sys.stdout.flush()
    os._exit(status)


QTimer.singleShot(3000, main)
