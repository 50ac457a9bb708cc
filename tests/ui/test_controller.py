"""The dock's controller: loads police.uk data in the background, filters it, maps it, reports in words."""

from __future__ import annotations

import os

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (
    Qgis,
    QgsApplication,
    QgsProject,
    QgsRasterLayer,
    QgsSingleBandPseudoColorRenderer,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QDate

from crime_mapping_plugin.core.crime_filter import CrimeFilter
from crime_mapping_plugin.ui.actions import MAP_ACTIONS, MapAction, action, ward_rates_parameters
from crime_mapping_plugin.ui.controller import DATA_GROUP, DockController
from tests.conftest import POLICE_UK, SAMPLE
from tests.ui.conftest import wait_for


def registered(alg_id: str) -> bool:
    """Whether the plugin's provider offers the algorithm (read before Processing is set up, for skipif)."""
    from crime_mapping_plugin.processing.provider import PROVIDER_ID, algorithm_classes

    return alg_id in {f"{PROVIDER_ID}:{cls.NAME}" for cls in algorithm_classes()}


def csv_rows(folder) -> int:
    """Hand count of the data rows in the street files (lines but the header)."""
    return sum(len(p.read_text().splitlines()) - 1 for p in folder.rglob("*-street.csv"))


def python_count(path: str, first: str, last: str, group: str) -> int:
    """Count the crimes of a group in a month range by iterating the unfiltered layer in Python."""
    layer = QgsVectorLayer(path, "check", "ogr")
    lo, hi = QDate.fromString(first + "-01", "yyyy-MM-dd"), QDate.fromString(last + "-01", "yyyy-MM-dd")
    return sum(1 for f in layer.getFeatures() if lo <= f["month"] <= hi and f["crime_group"] == group)


def crimes_in_wards(path: str, first: str, last: str, group: str, wards: QgsVectorLayer) -> int:
    """Count, point by point with GEOS, the crimes of a group and months that fall in any ward polygon."""
    from qgis.core import QgsGeometry, QgsSpatialIndex

    index = QgsSpatialIndex(wards.getFeatures())
    engines = {}
    for ward in wards.getFeatures():
        engine = QgsGeometry.createGeometryEngine(ward.geometry().constGet())
        engine.prepareGeometry()
        engines[ward.id()] = engine
    layer = QgsVectorLayer(path, "check", "ogr")
    lo, hi = QDate.fromString(first + "-01", "yyyy-MM-dd"), QDate.fromString(last + "-01", "yyyy-MM-dd")
    inside = 0
    for f in layer.getFeatures():
        if lo <= f["month"] <= hi and f["crime_group"] == group and f.hasGeometry():
            point = f.geometry()
            candidates = index.intersects(point.boundingBox())
            inside += any(engines[c].intersects(point.constGet()) for c in candidates)
    return inside


@pytest.fixture()
def loaded(controller):
    assert controller.import_police_uk([str(POLICE_UK)]), controller.messages
    wait_for(controller)
    assert controller.state.crimes is not None, controller.messages
    return controller


def test_loading_reports_the_counts_and_adds_the_crimes(loaded):
    counts = loaded.import_counts
    assert counts["read"] == csv_rows(POLICE_UK)
    assert counts["read"] == counts["written"] + counts["left_out"]
    assert counts["files"] == len(list(POLICE_UK.rglob("*-street.csv")))
    assert counts["months"] == ["2024-10", "2024-11", "2024-12"]
    unfiltered = QgsVectorLayer(loaded.store_path, "all", "ogr")
    assert unfiltered.featureCount() == counts["written"]
    text, level = loaded.last_message
    assert level == Qgis.Success
    assert f"{counts['written']:,} crimes" in text and f"{counts['read']:,} rows read" in text
    assert f"{counts['left_out']:,} left out" in text
    group = QgsProject.instance().layerTreeRoot().findGroup(DATA_GROUP)
    assert [layer.layer() for layer in group.findLayers()] == [loaded.state.crimes]
    assert loaded.state.crimes.name() == "police.uk crimes, 2024-10 to 2024-12 (3 months)"


def test_loading_again_replaces_the_layer_rather_than_doubling_it(loaded):
    assert loaded.import_police_uk([str(POLICE_UK / "2024-12")])
    wait_for(loaded)
    layers = [lyr for lyr in QgsProject.instance().mapLayers().values() if isinstance(lyr, QgsVectorLayer)]
    assert len(layers) == 1
    assert loaded.import_counts["months"] == ["2024-12"]
    assert layers[0].featureCount() == loaded.import_counts["written"]


def test_the_filter_is_a_subset_string_and_its_count_is_shown(loaded):
    counts = []
    loaded.count_changed.connect(counts.append)
    crime_filter = CrimeFilter("2024-11", "2024-12", crime_groups=["Burglary"])
    selected = loaded.apply_filter(crime_filter)
    layer = loaded.state.crimes
    assert layer.subsetString() == crime_filter.subset_string()
    assert selected == python_count(loaded.store_path, "2024-11", "2024-12", "Burglary")
    assert selected == layer.featureCount() == counts[-1]
    assert loaded.last_message == (f"{selected:,} crimes selected: Burglary, 2024-11 to 2024-12.", Qgis.Info)


def test_an_empty_filter_result_is_said_and_maps_are_refused(loaded):
    assert loaded.apply_filter(CrimeFilter("2023-01", "2023-02")) == 0
    text, level = loaded.last_message
    assert level == Qgis.Warning and "No crimes match" in text
    assert not loaded.run_map_action("density")
    assert "No crimes are selected" in loaded.last_message[0]
    assert not loaded.is_busy()


def test_a_malformed_month_is_explained_and_the_old_filter_kept(loaded):
    loaded.apply_filter(CrimeFilter("2024-11", "2024-11"))
    before = loaded.state.crimes.subsetString()
    assert loaded.apply_filter(CrimeFilter("Nov 2024", "")) is None
    assert loaded.last_message == (
        "The first month 'Nov 2024' is not a month: write it as YYYY-MM, e.g. 2024-11.",
        Qgis.Warning,
    )
    assert loaded.state.crimes.subsetString() == before


def test_nothing_chosen_or_missing_files_are_said(controller, tmp_path):
    assert not controller.import_police_uk([])
    assert controller.last_message == (
        "Choose police.uk street files, zip archives or a folder to load first.",
        Qgis.Warning,
    )
    assert not controller.import_police_uk([str(tmp_path / "nowhere.zip")])
    assert "cannot be found" in controller.last_message[0] and controller.last_message[1] == Qgis.Critical
    assert not controller.run_map_action("density")
    assert "Load police.uk crimes" in controller.last_message[0]


def test_files_that_are_not_street_crime_fail_with_the_algorithms_reason(controller):
    assert controller.import_police_uk([str(SAMPLE.parent / "tests" / "data" / "2024-12-metropolitan-outcomes.csv")])
    wait_for(controller)
    text, level = controller.last_message
    assert level == Qgis.Critical
    assert text.startswith("Loading police.uk crimes failed: ") and "outcome" in text.lower()
    assert controller.state.crimes is None
    assert not os.path.exists(controller.store_path)


def test_cancelling_the_import_leaves_no_store(controller):
    assert controller.import_police_uk([str(POLICE_UK)])
    controller.cancel()
    wait_for(controller)
    assert controller.last_message == ("Loading police.uk crimes was cancelled: nothing was written.", Qgis.Warning)
    assert controller.state.crimes is None
    assert not os.path.exists(controller.store_path)


def test_hotspot_density_maps_the_filtered_crimes_into_a_named_group(loaded, wards):
    loaded.set_wards_layer(wards)
    selected = loaded.apply_filter(CrimeFilter("2024-12", "2024-12", crime_groups=["Burglary"]))
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 400, 100
    loaded.state.density_units = 1  # per month, chosen in the dock
    assert loaded.run_map_action("density")
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    assert loaded.run.results["CRIMES"] + loaded.run.results["CRIMES_LEFT_OUT"] == selected
    group = QgsProject.instance().layerTreeRoot().findGroup("Burglary, 2024-12")
    layers = {type(node.layer()) for node in group.findLayers()}
    assert layers == {QgsRasterLayer, QgsVectorLayer}
    raster = next(node.layer() for node in group.findLayers() if isinstance(node.layer(), QgsRasterLayer))
    assert isinstance(raster.renderer(), QgsSingleBandPseudoColorRenderer)
    assert raster.name() == "Crime density, crimes per km² per month, 2024-12 (1 month)"
    assert os.path.dirname(raster.source()) == loaded.output_dir()
    # The legend states the unit.
    items = raster.renderer().shader().rasterShaderFunction().colorRampItemList()
    assert items[-1].label.endswith("crimes per km² per month")


def test_a_fixed_density_maximum_is_kept_for_the_next_map(loaded):
    loaded.apply_filter(CrimeFilter(crime_groups=["Burglary"], start_month="2024-10", end_month="2024-10"))
    loaded.density_max = 3.5
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 400, 100
    assert loaded.run_map_action("density")
    wait_for(loaded)
    raster = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsRasterLayer))
    assert raster.renderer().classificationMax() == 3.5


def test_an_algorithm_failure_reaches_the_analyst_in_its_own_words(loaded):
    # A grid too large for the cells is only known once the crimes are read: the run fails, in its own words.
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 300, 1
    assert loaded.run_map_action("density")
    wait_for(loaded)
    text, level = loaded.last_message
    assert level == Qgis.Critical
    assert text.startswith("Hotspot density (all crime types, all months) failed: ")
    assert "Choose a cell size of at least" in text


def test_settings_the_algorithm_refuses_stop_the_run_before_it_starts(loaded):
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 20, 100
    assert not loaded.run_map_action("density")
    text, level = loaded.last_message
    assert level == Qgis.Critical and not loaded.is_busy()
    assert text.startswith("Hotspot density (all crime types, all months): ")
    assert "bandwidth (20 m) is smaller than the cell size (100 m)" in text


def test_the_density_ramp_top_is_the_one_the_algorithm_returned(loaded):
    loaded.apply_filter(CrimeFilter(crime_groups=["Burglary"], start_month="2024-11", end_month="2024-11"))
    loaded.density_max = 0.0
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 400, 100
    assert loaded.run_map_action("density")
    wait_for(loaded)
    top = loaded.run.results["RAMP_MAXIMUM"]
    raster = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsRasterLayer))
    # Independently: the 99.5th percentile of the raster's cells above 0, read back from the file.
    dataset = gdal.Open(raster.source())
    band = dataset.GetRasterBand(1)
    data = band.ReadAsArray().astype(float)
    positive = data[(data != band.GetNoDataValue()) & (data > 0)]
    assert top == pytest.approx(np.percentile(positive, 99.5), rel=1e-5)
    assert loaded.density_max == top
    assert raster.renderer().classificationMax() == top


def test_buttons_follow_the_processing_registry(provider):  # noqa: ARG001
    for row in MAP_ACTIONS:
        available, reason = DockController(QgsProject.instance()).action_available(row.key)
        assert available == (QgsApplication.processingRegistry().algorithmById(row.algorithm_id) is not None)
        assert available == registered(row.algorithm_id)
        assert (reason == "") == available
    missing = MapAction("x", "Something new", "crimemapping:notyet", ward_rates_parameters, "ward_rates")
    from crime_mapping_plugin.ui.actions import unavailable_reason

    assert "crimemapping:notyet, which is not installed" in unavailable_reason(missing)


def test_the_default_store_is_beside_the_saved_project(controller, tmp_path):
    QgsProject.instance().clear()
    assert controller.store_path == ""  # an unsaved project: the analyst is asked for a file
    QgsProject.instance().setFileName(str(tmp_path / "borough analysis.qgz"))
    assert controller.store_path == str(tmp_path / "borough analysis_crimes.gpkg")


def test_the_mps_table_loads_with_its_counts(controller):
    path = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"
    assert controller.import_mps(str(path))
    wait_for(controller)
    assert controller.last_message[1] == Qgis.Success, controller.messages
    rows = len(path.read_text(encoding="utf-8-sig").splitlines()) - 1
    assert controller.import_counts["read"] == rows
    assert f"{rows:,} rows" in controller.last_message[0]
    table = next(lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.name() == "MPS ward-level crime")
    assert table.featureCount() == controller.import_counts["written"]
    assert not controller.import_mps("")
    assert "MPS ward-level crime CSV" in controller.last_message[0]


def test_ward_rates_map_the_filtered_crimes_in_graduated_classes(loaded, wards, ward_population):
    loaded.set_wards_layer(wards)
    loaded.set_population(ward_population, "population", "ward_code")
    loaded.apply_filter(CrimeFilter("2024-12", "2024-12", crime_groups=["Burglary"]))
    assert loaded.run_map_action("wardrates"), loaded.messages
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    rates = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsVectorLayer))
    # The filtered crimes reach the algorithm: the wards hold exactly the selected crimes that lie in a ward.
    assert sum(f["crimes"] for f in rates.getFeatures()) == crimes_in_wards(
        loaded.store_path, "2024-12", "2024-12", "Burglary", wards
    )
    assert {f["population"] for f in rates.getFeatures() if f["population"]} == {
        f["population"] for f in ward_population.getFeatures()
    }
    loaded.rate_breaks = [1.0, 2.0, 4.0]
    polygons = [lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsVectorLayer)]
    assert loaded.apply_style("ward_rates", polygons[0])
    labels = [item.label() for item in polygons[0].renderer().legendSymbolItems()]
    # Four classes from three thresholds, and the class of wards without a rate.
    assert labels == [
        "below 1 crimes per 1,000 residents",
        "1 to 2 crimes per 1,000 residents",
        "2 to 4 crimes per 1,000 residents",
        "4 or more crimes per 1,000 residents",
        "no rate (population missing or zero)",
    ]


def test_gistar_maps_the_filtered_crimes_in_seven_classes(loaded):
    loaded.apply_filter(CrimeFilter("2024-12", "2024-12", crime_groups=["Burglary"]))
    assert loaded.run_map_action("gistar"), loaded.messages
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    assert any(
        lyr.renderer().type() == "categorizedSymbol" for lyr in loaded.last_outputs if isinstance(lyr, QgsVectorLayer)
    )


def test_ward_rates_need_wards_and_their_population(loaded, wards):
    assert registered(action("wardrates").algorithm_id)
    loaded.set_wards_layer(None)
    assert not loaded.run_map_action("wardrates")
    assert "ward boundary layer" in loaded.last_message[0]
    loaded.set_wards_layer(wards)
    loaded.set_population(None, "")
    assert not loaded.run_map_action("wardrates")
    assert "Choose the ward populations" in loaded.last_message[0]
