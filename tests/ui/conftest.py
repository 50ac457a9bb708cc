"""Fixtures for the dock: a controller on a cleared project, and helpers that wait on its signals."""

from __future__ import annotations

import shutil

import pytest
from qgis.core import QgsProject, QgsVectorLayer
from qgis.PyQt.QtCore import QEventLoop, QTimer, pyqtBoundSignal

from tests.conftest import SAMPLE

TIMEOUT_MS = 120_000
TIMEOUT_S = TIMEOUT_MS // 1000  # for tests that still poll (test_trends_panel)


def wait_signal(signal: pyqtBoundSignal, timeout_ms: int = TIMEOUT_MS) -> tuple:
    """Run the event loop until signal is emitted; return its arguments (fails after timeout_ms)."""
    loop = QEventLoop()
    received: list[tuple] = []

    def got(*args: object) -> None:
        received.append(args)
        loop.quit()

    signal.connect(got)
    timer = QTimer()
    timer.setSingleShot(True)
    timer.timeout.connect(loop.quit)
    timer.start(timeout_ms)
    loop.exec_()
    signal.disconnect(got)
    assert received, "the signal was not emitted in time"
    return received[0]


def wait_for(controller) -> None:
    """Wait for the controller's background run to finish: its run_finished signal (at once if none runs)."""
    if controller.is_busy():
        wait_signal(controller.run_finished)


@pytest.fixture()
def controller(provider, tmp_path):  # noqa: ARG001 - the provider must be registered
    from crime_mapping_plugin.ui.controller import DockController

    QgsProject.instance().clear()
    ctl = DockController(QgsProject.instance())
    assert ctl.set_store_path(str(tmp_path / "store" / "crimes.gpkg"))
    messages = []
    ctl.message.connect(lambda text, level: messages.append((text, level)))
    ctl.messages = messages
    yield ctl
    if ctl.is_busy():
        ctl.cancel()
        wait_for(ctl)
    QgsProject.instance().clear()


@pytest.fixture()
def wards(tmp_path):
    """A copy of the bundled wards, added to the project (QGIS may touch a GeoPackage it opens)."""
    copy = tmp_path / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", copy)
    layer = QgsVectorLayer(f"{copy}|layername=wards", "wards", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


@pytest.fixture()
def ward_population(tmp_path, provider):  # noqa: ARG001 - the provider runs wardpopulation
    """Residents per 2024 ward built from the bundled ONS LSOA populations, as an analyst would, in the project."""
    from qgis import processing

    out = tmp_path / "ward_population.gpkg"
    processing.run(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": str(SAMPLE / "population" / "london_lsoa21_population_census2021.csv"),
            "LOOKUP": str(SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"),
            "OUTPUT": str(out),
        },
    )
    layer = QgsVectorLayer(str(out), "ward population", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer
