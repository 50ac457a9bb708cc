"""Run inside the QGIS desktop (qgis --code): open the dock, load the bundled sample, map burglary, save a screenshot.

`make screenshot` installs the packaged plugin into a fresh profile and starts QGIS under Xvfb with this
file. Everything goes through the dock and its controller, as an analyst's clicks would; the window is
grabbed to CRIME_MAPPING_SHOT and QGIS exits (exit status 1 if a step failed, with the reason printed).
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
import traceback

from qgis.core import QgsApplication, QgsProject, QgsRectangle, QgsVectorLayer
from qgis.gui import QgsCollapsibleGroupBox
from qgis.PyQt.QtCore import Qt, QTimer
from qgis.utils import iface, plugins

SAMPLE = os.environ["CRIME_MAPPING_SAMPLE"]
SHOT = os.environ["CRIME_MAPPING_SHOT"]


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
    window.resizeDocks([dock], [440], Qt.Horizontal)
    work = tempfile.mkdtemp(prefix="crime_mapping_shot")
    dock.store_edit.setText(os.path.join(work, "crimes.gpkg"))
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

    dock.start_edit.setText("2024-10")
    dock.end_edit.setText("2024-12")
    for i in range(dock.group_list.count()):
        item = dock.group_list.item(i)
        item.setCheckState(Qt.Checked if item.text() == "Burglary" else Qt.Unchecked)
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
    canvas = iface.mapCanvas()
    canvas.setExtent(QgsRectangle(518000, 170000, 545000, 190000))
    canvas.refresh()
    pump(1.0)
    canvas.waitWhileRendering()
    pump(1.0)
    os.makedirs(os.path.dirname(SHOT), exist_ok=True)
    if not iface.mainWindow().grab().save(SHOT):
        raise RuntimeError(f"could not write {SHOT}")
    print(f"Saved {SHOT}", flush=True)


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
