"""Fixtures for the dock: a controller with its own settings file, and a helper that waits for its runs."""

from __future__ import annotations

import shutil
import time

import pytest
from qgis.core import QgsApplication, QgsProject, QgsSettings, QgsVectorLayer
from qgis.PyQt.QtCore import QSettings

from tests.conftest import SAMPLE

TIMEOUT_S = 120


def wait_for(controller) -> None:
    """Process events until the controller's background run has finished (fails after TIMEOUT_S)."""
    deadline = time.monotonic() + TIMEOUT_S
    while controller.is_busy():
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the background run did not finish"
        time.sleep(0.01)
    for _ in range(5):  # let the queued done signal and the loading run
        QgsApplication.processEvents()


@pytest.fixture()
def settings(tmp_path):
    return QgsSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)


@pytest.fixture()
def controller(provider, settings, tmp_path):  # noqa: ARG001 - the provider must be registered
    from crime_mapping_plugin.ui.controller import DockController

    QgsProject.instance().clear()
    ctl = DockController(QgsProject.instance(), settings)
    ctl.set_store_path(str(tmp_path / "store" / "crimes.gpkg"))
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
