"""The shipped model (import, hotspot density, ward rates) is in the toolbox and runs in-process and in qgis_process."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from osgeo import gdal
from qgis.core import QgsApplication, QgsVectorLayer

from tests.conftest import POLICE_UK, ROOT, SAMPLE

MODEL = "crimemapping:importandmap"
QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")


def model_inputs(run_alg, tmp_path) -> tuple[str, str]:
    """Return the wards (a copy: QGIS may touch a GeoPackage it opens) and the ward populations built from LSOAs."""
    wards = tmp_path / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", wards)
    population = run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": str(SAMPLE / "population" / "london_lsoa21_population_census2021.csv"),
            "LOOKUP": str(SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"),
            "OUTPUT": str(tmp_path / "ward_population.gpkg"),
        },
    )["OUTPUT"]
    return f"{wards}|layername=wards", population


def ward_sum(path) -> int:
    return sum(f["crimes"] for f in QgsVectorLayer(str(path), "rates", "ogr").getFeatures())


def burglary_count(path) -> int:
    layer = QgsVectorLayer(str(path), "check", "ogr")
    return sum(1 for f in layer.getFeatures() if f["crime_group"] == "Burglary")


def test_the_model_is_in_the_toolbox_with_its_steps(provider):  # noqa: ARG001
    model = QgsApplication.processingRegistry().createAlgorithmById(MODEL)
    assert model is not None and model.groupId() == "workflows"
    assert model.displayName() == "Import police.uk crime, map hotspots and ward rates"
    steps = {child.algorithmId() for child in model.childAlgorithms().values()}
    assert steps == {"crimemapping:importpoliceuk", "crimemapping:hotspotdensity", "crimemapping:wardrates"}
    outputs = {d.name() for d in model.destinationParameterDefinitions()}
    assert outputs >= {"import:crimes", "density:density", "density:hotspots", "wardrates:ward_rates"}
    assert all(d.help() for d in model.parameterDefinitions() if not d.isDestination())


def test_the_model_imports_and_maps_the_chosen_crimes(run_alg, tmp_path):
    wards, population = model_inputs(run_alg, tmp_path)
    params = {
        "police_uk": [str(POLICE_UK / "2024-12")],
        "crime_groups": [1],  # Burglary
        "wards": wards,
        "population": population,
        "bandwidth": 400,
        "cell_size": 100,
        "import:crimes": str(tmp_path / "crimes.gpkg"),
        "density:density": str(tmp_path / "density.tif"),
        "density:hotspots": str(tmp_path / "hotspots.gpkg"),
        "wardrates:ward_rates": str(tmp_path / "rates.gpkg"),
    }
    results = run_alg(MODEL, params)
    crimes = burglary_count(tmp_path / "crimes.gpkg")
    assert crimes == QgsVectorLayer(str(tmp_path / "crimes.gpkg"), "c", "ogr").featureCount() > 0
    dataset = gdal.Open(results["density:density"])
    assert dataset.GetMetadataItem("UNIT") == "crimes per km² per month"
    assert int(dataset.GetMetadataItem("CRIMES")) <= crimes
    assert dataset.GetGeoTransform()[1] == 100
    assert os.path.exists(results["density:hotspots"])
    # Every imported burglary is in a ward, or one of the few the sample holds outside London.
    in_wards = ward_sum(results["wardrates:ward_rates"])
    assert 0 < in_wards <= crimes and crimes - in_wards < 0.01 * crimes
    rates = QgsVectorLayer(results["wardrates:ward_rates"], "rates", "ogr")
    assert rates.featureCount() == 704


def test_the_model_runs_from_qgis_process(run_alg, tmp_path):
    assert QGIS_PROCESS, "qgis_process is part of the qgis package that make installs"
    wards, population = model_inputs(run_alg, tmp_path)
    config = tmp_path / "config"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    package = [sys.executable, str(ROOT / "scripts" / "package.py")]
    subprocess.run([*package, str(tmp_path / "plugin.zip")], check=True, capture_output=True)
    subprocess.run([*package, str(tmp_path / "plugin.zip"), "--install", str(plugins)], check=True, capture_output=True)
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(config), QT_QPA_PLATFORM="offscreen")
    subprocess.run(
        [QGIS_PROCESS, "plugins", "enable", "crime_mapping_plugin"], env=env, check=True, capture_output=True
    )
    run = subprocess.run(
        [
            QGIS_PROCESS,
            "--json",
            "run",
            MODEL,
            "--",
            f"police_uk={POLICE_UK / '2024-11'}",
            "crime_groups=1",
            "bandwidth=400",
            "cell_size=100",
            f"wards={wards}",
            f"population={population}",
            f"wardrates:ward_rates={tmp_path / 'rates.gpkg'}",
            f"import:crimes={tmp_path / 'crimes.gpkg'}",
            f"density:density={tmp_path / 'density.tif'}",
            f"density:hotspots={tmp_path / 'hotspots.gpkg'}",
        ],
        env=env,
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr[-2000:]
    results = json.loads(run.stdout)["results"]
    assert os.path.exists(results["density:density"])
    assert (
        burglary_count(tmp_path / "crimes.gpkg")
        == QgsVectorLayer(str(tmp_path / "crimes.gpkg"), "c", "ogr").featureCount()
    )
    assert gdal.Open(results["density:density"]).GetMetadataItem("UNIT") == "crimes per km² per month"
    assert 0 < ward_sum(results["wardrates:ward_rates"]) <= burglary_count(tmp_path / "crimes.gpkg")


def test_the_model_asks_for_its_inputs_in_order_and_is_laid_out_in_columns(provider):  # noqa: ARG001
    model = QgsApplication.processingRegistry().createAlgorithmById(MODEL)
    inputs = [d.name() for d in model.parameterDefinitions() if not d.isDestination()]
    assert inputs == [
        "police_uk",
        "start_month",
        "end_month",
        "crime_groups",
        "wards",
        "population",
        "population_code",
        "population_value",
        "bandwidth",
        "cell_size",
    ]
    # Inputs in one column, top to bottom in that order; the steps in a column to their right, in run order.
    positions = [model.parameterComponent(name).position() for name in inputs]
    assert len({p.x() for p in positions}) == 1
    assert [p.y() for p in positions] == sorted(p.y() for p in positions)
    steps = model.childAlgorithms()
    order = [steps[c].position().y() for c in ("import", "density", "wardrates")]
    assert order == sorted(order) and all(steps[c].position().x() > positions[0].x() for c in steps)


def test_an_editable_copy_goes_to_the_user_models_and_is_never_overwritten(provider, tmp_path):  # noqa: ARG001
    from qgis.core import QgsProcessingModelAlgorithm

    from crime_mapping_plugin.ui.model_editor import COPY_SUFFIX, install_user_copy

    path = install_user_copy(folder=str(tmp_path))
    copy = QgsProcessingModelAlgorithm()
    assert copy.fromFile(path)
    assert copy.name() == "Import police.uk crime, map hotspots and ward rates" + COPY_SUFFIX
    assert set(copy.childAlgorithms()) == {"import", "density", "wardrates"}
    # The analyst edits the copy; opening it again keeps the edit.
    copy.setName("My burglary workflow")
    assert copy.toFile(path)
    assert install_user_copy(folder=str(tmp_path)) == path
    again = QgsProcessingModelAlgorithm()
    assert again.fromFile(path) and again.name() == "My burglary workflow"
