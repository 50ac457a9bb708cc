"""The plugin zip installs into a QGIS profile and its provider loads in qgis_process."""

from __future__ import annotations

import configparser
import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

from tests.conftest import POLICE_UK, ROOT

QGIS_PROCESS = shutil.which("qgis_process.bin") or shutil.which("qgis_process")


@pytest.fixture(scope="module")
def plugin_zip(tmp_path_factory):
    target = tmp_path_factory.mktemp("dist") / "crime_mapping_plugin.zip"
    subprocess.run([sys.executable, str(ROOT / "scripts" / "package.py"), str(target)], check=True)
    return target


def test_zip_holds_one_plugin_folder_with_metadata_from_the_root(plugin_zip):
    with zipfile.ZipFile(plugin_zip) as archive:
        names = archive.namelist()
        packaged = archive.read("crime_mapping_plugin/metadata.txt").decode()
    assert {n.split("/")[0] for n in names} == {"crime_mapping_plugin"}
    for required in (
        "__init__.py",
        "plugin.py",
        "icon.png",
        "LICENSE",
        "processing/provider.py",
        "resources/site/site.css",  # the website of area profiles: its stylesheet and sorting script
        "resources/site/sort.js",
    ):
        assert f"crime_mapping_plugin/{required}" in names
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert packaged == (ROOT / "metadata.txt").read_text()
    meta = configparser.ConfigParser()
    meta.read_string(packaged)
    general = meta["general"]
    assert general["hasProcessingProvider"] == "yes"
    assert general["qgisMinimumVersion"] == "3.22"
    assert general["icon"] == "icon.png"
    for key in ("name", "description", "about", "version", "author", "email", "repository", "tags"):
        assert general.get(key), key


def test_installed_zip_runs_from_qgis_process(plugin_zip, tmp_path):
    assert QGIS_PROCESS, "qgis_process comes with the qgis package that make installs"
    config = tmp_path / "config"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), str(plugin_zip), "--install", str(plugins)], check=True
    )
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(config), QT_QPA_PLATFORM="offscreen")
    subprocess.run(
        [QGIS_PROCESS, "plugins", "enable", "crime_mapping_plugin"], env=env, check=True, capture_output=True
    )
    listing = subprocess.run([QGIS_PROCESS, "list"], env=env, check=True, capture_output=True, text=True).stdout
    assert "crimemapping:importpoliceuk" in listing
    out = tmp_path / "crimes.gpkg"
    run = subprocess.run(
        [
            QGIS_PROCESS,
            "--json",
            "run",
            "crimemapping:importpoliceuk",
            "--",
            f"INPUT={POLICE_UK / '2024-12'}",
            f"OUTPUT={out}",
        ],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    results = json.loads(run.stdout)["results"]
    expected = sum(len(p.read_text().splitlines()) - 1 for p in (POLICE_UK / "2024-12").glob("*-street.csv"))
    assert results["ROWS_READ"] == expected
    assert results["ROWS_READ"] == results["ROWS_WRITTEN"] + results["ROWS_LEFT_OUT"]
    assert out.exists()


def test_area_profiles_export_their_pdf_atlas_from_qgis_process(plugin_zip, tmp_path):
    """The atlas export runs headless from qgis_process (no project, no desktop) with the shipped template."""
    config = tmp_path / "config"
    plugins = config / "profiles" / "default" / "python" / "plugins"
    subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "package.py"), str(plugin_zip), "--install", str(plugins)], check=True
    )
    env = dict(os.environ, QGIS_CUSTOM_CONFIG_PATH=str(config), QT_QPA_PLATFORM="offscreen")
    subprocess.run(
        [QGIS_PROCESS, "plugins", "enable", "crime_mapping_plugin"], env=env, check=True, capture_output=True
    )
    with zipfile.ZipFile(plugin_zip) as archive:
        assert "crime_mapping_plugin/layouts/area_profile.qpt" in archive.namelist()

    def run(alg: str, *params: str) -> dict:
        done = subprocess.run(
            [QGIS_PROCESS, "--json", "run", alg, "--", *params], env=env, check=True, capture_output=True, text=True
        )
        return json.loads(done.stdout)["results"]

    crimes, population = tmp_path / "crimes.gpkg", tmp_path / "population.gpkg"
    run("crimemapping:importpoliceuk", f"INPUT={POLICE_UK}", f"OUTPUT={crimes}")
    run(
        "crimemapping:wardpopulation",
        f"LSOA_POPULATION={ROOT / 'sample_data' / 'population' / 'london_lsoa21_population_census2021.csv'}",
        f"LOOKUP={ROOT / 'sample_data' / 'population' / 'london_lsoa21_to_ward24_lookup.csv'}",
        f"OUTPUT={population}",
    )
    shutil.copy(ROOT / "sample_data" / "boundaries" / "london_wards_2024.gpkg", tmp_path / "wards.gpkg")
    out = tmp_path / "profiles"
    results = run(
        "crimemapping:areaprofiles",
        f"CRIMES={crimes}",
        f"AREAS={tmp_path / 'wards.gpkg'}|layername=wards",
        f"POPULATION_TABLE={population}",
        "SUBSET=E05009288,E05009291",  # Aldersgate and Billingsgate, two wards of the City
        "MAKE_WEBSITE=false",
        f"OUTPUT_FOLDER={out}",
    )
    assert results["PAGES"] == 2 and results["PDF"] == str(out / "profiles.pdf")
    info = subprocess.run(["pdfinfo", results["PDF"]], check=True, capture_output=True, text=True).stdout
    assert "Pages:           2" in info
    text = subprocess.run(["pdftotext", results["PDF"], "-"], check=True, capture_output=True, text=True).stdout
    assert "Aldersgate" in text and "Billingsgate" in text
