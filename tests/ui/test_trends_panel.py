"""The dock's Trends section driven as an analyst would: MPS counts and wards, run, read the result."""

from __future__ import annotations

import time

import pytest
from qgis.core import QgsApplication, QgsCategorizedSymbolRenderer, QgsProject, QgsVectorLayer

from tests.conftest import SAMPLE
from tests.ui.conftest import TIMEOUT_S

MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"


def _wait(panel) -> None:
    deadline = time.monotonic() + TIMEOUT_S
    while panel.is_busy():
        QgsApplication.processEvents()
        assert time.monotonic() < deadline, "the trends run did not finish"
        time.sleep(0.01)
    for _ in range(5):
        QgsApplication.processEvents()


@pytest.fixture()
def mps_layer(provider, tmp_path):  # noqa: ARG001 - the provider runs the import
    from qgis import processing

    out = processing.run("crimemapping:importmpswardcrime", {"INPUT": str(MPS), "OUTPUT": str(tmp_path / "mps.gpkg")})
    layer = QgsVectorLayer(out["OUTPUT"], "MPS ward counts", "ogr")
    assert layer.isValid()
    QgsProject.instance().addMapLayer(layer)
    return layer


@pytest.fixture()
def panel(provider, tmp_path):  # noqa: ARG001
    from crime_mapping_plugin.ui.trends_panel import TrendsPanel

    QgsProject.instance().clear()
    widget = TrendsPanel(QgsProject.instance())
    widget.output_dir = str(tmp_path / "out")
    messages = []
    widget.message.connect(lambda text, level: messages.append((text, level)))
    widget.messages = messages
    yield widget
    _wait(widget)
    widget.deleteLater()
    QgsProject.instance().clear()


def test_trends_from_the_mps_table_show_signals_layer_and_charts(panel, wards, mps_layer) -> None:
    panel.crimes_combo.setLayer(mps_layer)
    panel.areas_combo.setLayer(wards)
    assert panel.code_combo.currentField() == "WD24CD" and panel.name_combo.currentField() == "WD24NM"
    panel.chart_areas_edit.setText("E05013570, E05009288")
    assert "COUNTS_TABLE" in panel.parameters() and "CRIMES" not in panel.parameters()
    panel.run_button.click()
    assert not panel.run_button.isEnabled()
    _wait(panel)
    assert panel.run_button.isEnabled()
    results = panel.results
    total = results["CONCERN"] + results["IMPROVEMENT"] + results["COMMON_CAUSE"] + results["NOT_ENOUGH_DATA"]
    assert total == 684
    assert panel.summary.text().startswith(f"2024-03 to 2026-03: {results['CONCERN']} concern")
    assert "partial: 2024-03" in panel.summary.text()
    group = QgsProject.instance().layerTreeRoot().findGroup("Crime trends")
    names = [node.layer().name() for node in group.findLayers()]
    assert len(names) == 2
    areas = next(node.layer() for node in group.findLayers() if node.layer().geometryType() == 2)
    assert isinstance(areas.renderer(), QgsCategorizedSymbolRenderer)
    assert areas.name().startswith("Crime trends: latest month's signal")
    assert not panel.preview.pixmap().isNull()
    assert panel.messages[-1][0] == "Crime trends: 2 layer(s) added to 'Crime trends'."


def test_without_areas_the_panel_says_what_to_choose(panel) -> None:
    assert panel.start() is False
    assert panel.messages == [("Choose the crimes (or a count table) and the areas.", 1)]
