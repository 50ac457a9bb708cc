"""What the dock's maps say they show: the filter of their input, in the log, the metadata, the titles and the plot."""

from __future__ import annotations

import os

import pytest
from qgis.core import Qgis, QgsProcessingContext, QgsProcessingFeatureSourceDefinition, QgsProject, QgsVectorLayer
from qgis.PyQt.QtGui import QImage

from crime_mapping_plugin.core.crime_filter import CrimeFilter
from crime_mapping_plugin.ui.dock import CrimeMappingDock
from tests.conftest import POLICE_UK
from tests.ui.conftest import wait_for

BURGLARY = CrimeFilter("2024-12", "2024-12", crime_groups=["Burglary"])


@pytest.fixture()
def loaded(controller):
    assert controller.import_police_uk([str(POLICE_UK)]), controller.messages
    wait_for(controller)
    assert controller.state.crimes is not None, controller.messages
    return controller


def test_ward_rates_of_burglary_say_so_and_show_their_funnel_plot(loaded, wards, ward_population):
    dock = CrimeMappingDock(None, loaded)
    dock.wards_combo.setLayer(wards)
    loaded.set_population(ward_population, "population", "ward_code")
    loaded.apply_filter(BURGLARY)
    assert loaded.run_map_action("wardrates"), loaded.messages
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    rates = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsVectorLayer))
    meta = rates.metadata()
    subset = BURGLARY.subset_string()
    for text in (meta.abstract(), loaded.run.results["REPORT"] if "REPORT" in loaded.run.results else meta.abstract()):
        assert "all crime types" not in text
        assert subset in text
    assert "all crime types" not in meta.title()
    # The funnel plot is written by default, beside the maps, and shown in the dock.
    plot = loaded.run.results["FUNNEL_PLOT"]
    assert os.path.isfile(plot) and loaded.funnel_plot == plot
    assert not QImage(plot).isNull()
    # Its title states the filter (long: the subset string) and still fits the image, wrapped inside its margins.
    from crime_mapping_plugin.processing.funnel_plot import HEADER_MARGIN
    from tests.processing.test_funnel_plot import header_is_clear_of_the_edges

    clear, inked = header_is_clear_of_the_edges(QImage(plot), 70, HEADER_MARGIN // 2)
    assert clear and inked > 1000
    assert dock.plot_label.pixmap() is not None and not dock.plot_label.pixmap().isNull()
    assert dock.plot_open_button.isEnabled()
    dock.deleteLater()


def test_density_and_gistar_metadata_name_the_filter(loaded, wards):
    loaded.set_wards_layer(wards)
    loaded.apply_filter(BURGLARY)
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 400, 100
    assert loaded.run_map_action("density")
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    for layer in loaded.last_outputs:
        assert BURGLARY.subset_string() in layer.metadata().abstract(), layer.name()
    loaded.state.gistar_cell_m = 500
    assert loaded.run_map_action("gistar")
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    cells = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsVectorLayer))
    assert BURGLARY.subset_string() in cells.metadata().abstract()
    assert cells.metadata().title() == f"Gi* hot spots: the layer's filter {BURGLARY.subset_string()}"
    assert loaded.run.results["CELL_SIZE_USED"] == 500
    # The empty cells are said, as a hand count of the cells without crime.
    empty = sum(1 for f in cells.getFeatures() if f["crimes"] == 0)
    assert f"{empty:,} of {cells.featureCount():,} cells" in loaded.last_message[0]


def test_the_input_description_states_subset_selection_limit_and_expression(provider, tmp_path):  # noqa: ARG001
    from crime_mapping_plugin.processing.ward_rates import WardRatesAlgorithm

    layer = QgsVectorLayer("Point?crs=EPSG:27700&field=crime_group:string", "crimes", "memory")
    QgsProject.instance().addMapLayer(layer)
    alg = WardRatesAlgorithm()
    alg.initAlgorithm()
    context = QgsProcessingContext()
    context.setProject(QgsProject.instance())
    assert alg.input_description({"CRIMES": layer.id()}, "CRIMES", context) == "all crime types"
    assert alg.input_description({"CRIMES": layer.id()}, "CRIMES", context, "Robbery") == "Robbery"
    layer.setSubsetString("\"crime_group\" = 'Burglary'")
    definition = QgsProcessingFeatureSourceDefinition(layer.id(), True, 5)
    text = alg.input_description({"CRIMES": definition}, "CRIMES", context)
    assert text == (
        "the crimes of 'crimes' as filtered by the layer's filter \"crime_group\" = 'Burglary'; "
        "its 0 selected features only; its first 5 features only"
    )
    # The short form, for titles: the filter alone, cut at 120 characters when longer.
    short = alg.input_short({"CRIMES": definition}, "CRIMES", context, "Robbery")
    assert short == text.replace("the crimes of 'crimes' as filtered by ", "Robbery; ")
    assert (
        alg.input_short({"CRIMES": layer.id()}, "CRIMES", context) == "the layer's filter \"crime_group\" = 'Burglary'"
    )
    layer.setSubsetString(" OR ".join(f"\"crime_group\" = 'Group {i}'" for i in range(20)))
    long_short = alg.input_short({"CRIMES": layer.id()}, "CRIMES", context)
    assert len(long_short) == 120 and long_short.endswith("…")
    assert long_short[:-1] == f"the layer's filter {layer.subsetString()}"[:119]
    QgsProject.instance().removeMapLayer(layer.id())


def test_the_styles_are_saved_with_the_layers(loaded, wards):
    from qgis.core import QgsRasterLayer

    loaded.set_wards_layer(wards)
    loaded.apply_filter(BURGLARY)
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 400, 100
    assert loaded.run_map_action("density")
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    raster = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsRasterLayer))
    areas = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsVectorLayer))
    # Opened afresh, outside the project, each looks as it did: the style travels with the data.
    again = QgsRasterLayer(raster.source(), "again")
    assert again.renderer().type() == "singlebandpseudocolor"
    assert again.renderer().classificationMax() == raster.renderer().classificationMax()
    legend = [item.label for item in again.renderer().shader().rasterShaderFunction().colorRampItemList()]
    unit = loaded.run.results["UNIT"]
    assert legend[-1].endswith(unit)
    again_areas = QgsVectorLayer(areas.source(), "again", "ogr")
    # The outline's legend gives the threshold the algorithm returned, in the stated unit.
    threshold = loaded.run.results["THRESHOLD_USED"]
    for layer in (areas, again_areas):
        labels = [item.label() for item in layer.renderer().legendSymbolItems()]
        assert labels == [f"hotspot area: density ≥ {threshold:,.3g} {unit}"]
        assert layer.renderer().rootRule().children()[0].symbol().color().alpha() == 0


def _legend_labels(layer) -> list[str]:  # noqa: ANN001 - a QgsMapLayer
    """Return the labels the layers panel shows under the layer, read from a layer tree model of the project."""
    from qgis.core import QgsLayerTreeModel
    from qgis.PyQt.QtCore import Qt

    model = QgsLayerTreeModel(QgsProject.instance().layerTreeRoot())
    node = QgsProject.instance().layerTreeRoot().findLayer(layer.id())
    assert node is not None, layer.name()
    return [legend.data(Qt.DisplayRole) for legend in model.layerLegendNodes(node)]


def test_the_density_legend_shows_readable_numbers_in_the_stated_unit(loaded, wards):
    from qgis.core import QgsRasterLayer

    loaded.set_wards_layer(wards)
    loaded.apply_filter(BURGLARY)
    loaded.state.bandwidth_m, loaded.state.cell_size_m = 400, 100
    assert loaded.run_map_action("density")
    wait_for(loaded)
    assert loaded.last_message[1] == Qgis.Success, loaded.messages
    unit = loaded.run.results["UNIT"]
    raster = next(lyr for lyr in loaded.last_outputs if isinstance(lyr, QgsRasterLayer))
    again = QgsRasterLayer(raster.source(), "again")
    QgsProject.instance().addMapLayer(again)
    top = raster.renderer().classificationMax()
    assert top > 0
    # Five equal steps from 0 to the ramp's top, each rounded to 2 significant figures by Python's own "g".
    expected = [float(f"{top * i / 5:.2g}") for i in range(6)]
    for layer in (raster, again):
        shown = _legend_labels(layer)
        assert shown[0].startswith("Band 1: ") and unit in shown[0]  # the band's description states the unit
        labels = shown[1:]
        assert len(labels) == 6, _legend_labels(layer)
        assert labels[-1].startswith("≥ ")
        numbers = [float(label.removeprefix("≥ ").removesuffix(unit).replace(",", "")) for label in labels]
        assert numbers == pytest.approx(expected), labels
        # Never the raw extremes of the raster ("28.383979"): at most 2 significant figures.
        assert all(len(label.split()[-len(unit.split()) - 1].replace(".", "").strip("0")) <= 2 for label in labels)


BURGLARY_ALL_MONTHS = CrimeFilter(crime_groups=["Burglary"])


def _run_and_load(alg_id: str, parameters: dict) -> list:
    """Run an algorithm as the dock does (a background task) and load its outputs; return them."""
    from qgis.core import QgsApplication, QgsProcessingOutputLayerDefinition

    from crime_mapping_plugin.ui.tasks import AlgorithmRun
    from tests.ui.conftest import wait_signal

    algorithm = QgsApplication.processingRegistry().createAlgorithmById(alg_id)
    params = {**parameters, "OUTPUT": QgsProcessingOutputLayerDefinition(parameters["OUTPUT"], QgsProject.instance())}
    run = AlgorithmRun(algorithm, params, alg_id)
    assert run.check() == ""
    run.start()
    ok, _, message = wait_signal(run.done)
    assert ok, message
    return run.load_outputs("test outputs")


@pytest.mark.parametrize(
    ("alg_id", "extra", "title_start"),
    [
        ("crimemapping:emerginghotspots", {"CELLS": 2}, "Emerging hot spots 2024-10 to 2024-12: "),
        ("crimemapping:crimetrends", {}, "Crime trends: latest month's signal, 2024-10 to 2024-12: "),
    ],
)
def test_emerging_hot_spots_and_trends_state_the_filter_in_title_and_metadata(
    loaded, wards, tmp_path, alg_id, extra, title_start
):
    loaded.apply_filter(BURGLARY_ALL_MONTHS)
    crimes = loaded.state.crimes
    subset = BURGLARY_ALL_MONTHS.subset_string()
    assert crimes.subsetString() == subset
    inputs = (
        {"INPUT": crimes.id(), "POLYGONS": wards.id()}
        if "emerging" in alg_id
        else {"CRIMES": crimes.id(), "AREAS": wards.id(), "AREA_CODE_FIELD": "WD24CD"}
    )
    outputs = _run_and_load(alg_id, {**inputs, **extra, "OUTPUT": str(tmp_path / "out.gpkg")})
    layer = next(lyr for lyr in outputs if isinstance(lyr, QgsVectorLayer))
    meta = layer.metadata()
    assert meta.title() == f"{title_start}the layer's filter {subset}"
    assert "all crime types" not in meta.title() and "all crime types" not in meta.abstract()
    assert f"as filtered by the layer's filter {subset}" in meta.abstract()
