"""crimemapping:importpoliceuk's output on the real bundled months: a cancelled or failed run leaves the
previous output (and the other layers of its GeoPackage) as they were, and no temporary file behind."""

from __future__ import annotations

import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from qgis.core import QgsProcessingException, QgsProcessingFeedback, QgsVectorLayer

from tests.conftest import POLICE_UK, ROOT
from tests.processing.test_import_police_uk_rows import assert_accounted, count_lines

ALG = "crimemapping:importpoliceuk"
CITY_10 = POLICE_UK / "2024-10" / "2024-10-city-of-london-street.csv"
CITY_11 = POLICE_UK / "2024-11" / "2024-11-city-of-london-street.csv"
MET = sorted(POLICE_UK.glob("*/*-metropolitan-street.csv"))


def layer_destination(path: Path, table: str) -> str:
    """The destination QGIS's 'Save to GeoPackage' gives for a layer of a GeoPackage."""
    return f"ogr:dbname='{path}' table=\"{table}\" (geom)"


def count(path: Path, table: str) -> int:
    layer = QgsVectorLayer(f"{path}|layername={table}", table, "ogr")
    assert layer.isValid(), table
    return layer.featureCount()


def crime_ids(path: Path, table: str) -> set:
    db = sqlite3.connect(path)
    try:
        return {r[0] for r in db.execute(f'SELECT crime_id FROM "{table}"')}
    finally:
        db.close()


def temporary_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".crimemapping-")]


class CancelAtFirstProgress(QgsProcessingFeedback):
    def setProgress(self, progress):  # noqa: N802
        super().setProgress(progress)
        if progress > 0:
            self.cancel()


@pytest.fixture()
def geopackage(run_alg, tmp_path) -> Path:
    """A GeoPackage holding two layers: 'crimes' (City, 2024-10) and 'other' (City, 2024-11)."""
    path = tmp_path / "project.gpkg"
    run_alg(ALG, {"INPUT": [str(CITY_10)], "OUTPUT": layer_destination(path, "crimes")})
    run_alg(ALG, {"INPUT": [str(CITY_11)], "OUTPUT": layer_destination(path, "other")})
    return path


def test_a_layer_of_a_geopackage_is_written_beside_its_other_layers(run_alg, geopackage):
    result = run_alg(ALG, {"INPUT": [str(p) for p in MET[:1]], "OUTPUT": layer_destination(geopackage, "crimes")})
    assert_accounted(result, count_lines(MET[0]))
    assert count(geopackage, "crimes") == result["ROWS_WRITTEN"]
    assert count(geopackage, "other") > 0
    db = sqlite3.connect(geopackage)
    assert db.execute("SELECT rtreecheck('rtree_crimes_geom')").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM rtree_crimes_geom").fetchone()[0] == result["ROWS_WRITTEN"]
    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    db.close()
    assert temporary_files(geopackage.parent) == []


def test_a_cancelled_import_into_a_geopackage_layer_leaves_the_previous_layer(run_alg, geopackage):
    before, other = crime_ids(geopackage, "crimes"), count(geopackage, "other")
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run_alg(
            ALG,
            {"INPUT": [str(p) for p in MET], "OUTPUT": layer_destination(geopackage, "crimes")},
            feedback=CancelAtFirstProgress(),
        )
    assert crime_ids(geopackage, "crimes") == before
    assert count(geopackage, "other") == other
    assert temporary_files(geopackage.parent) == []


def test_a_bad_second_file_leaves_the_previous_layer(run_alg, geopackage, tmp_path):
    bad = tmp_path / "2024-12-metropolitan-street.csv"
    bad.write_text("Crime ID,Month,Reported by\n1,2024-12,Metropolitan Police Service\n", encoding="utf-8")
    before, other = crime_ids(geopackage, "crimes"), count(geopackage, "other")
    with pytest.raises(QgsProcessingException, match="missing column"):
        run_alg(ALG, {"INPUT": [str(MET[0]), str(bad)], "OUTPUT": layer_destination(geopackage, "crimes")})
    assert crime_ids(geopackage, "crimes") == before
    assert count(geopackage, "other") == other
    assert temporary_files(geopackage.parent) == []


def test_a_bad_second_file_leaves_the_previous_geopackage_file(run_alg, tmp_path):
    out = tmp_path / "crimes.gpkg"
    first = run_alg(ALG, {"INPUT": [str(CITY_10)], "OUTPUT": str(out)})
    bad = tmp_path / "2024-12-metropolitan-street.csv"
    bad.write_text("Crime ID,Month\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException, match="missing column"):
        run_alg(ALG, {"INPUT": [str(CITY_11), str(bad)], "OUTPUT": str(out)})
    assert count(out, "crimes") == first["ROWS_WRITTEN"]
    assert temporary_files(tmp_path) == []


_KILLED_RUN = """
import os, signal, sys
sys.path.insert(0, {scripts!r})
from standalone import start_qgis
app, provider = start_qgis()
from qgis import processing
from qgis.core import QgsProcessingFeedback

class KillAtFirstProgress(QgsProcessingFeedback):
    def setProgress(self, progress):
        if progress > 0:
            os.kill(os.getpid(), signal.SIGKILL)  # as a user killing qgis_process would

params = {{"INPUT": {inputs!r}, "OUTPUT": {out!r}}}
processing.run("crimemapping:importpoliceuk", params, feedback=KillAtFirstProgress())
"""


@pytest.mark.skipif(os.name == "nt", reason="SIGKILL is POSIX")
def test_a_killed_run_leaves_a_temporary_file_that_the_next_run_removes(run_alg, tmp_path):
    out = tmp_path / "crimes.gpkg"
    script = _KILLED_RUN.format(scripts=str(ROOT / "scripts"), inputs=[str(p) for p in MET], out=str(out))
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    done = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300)
    assert done.returncode == -9, done.stderr.decode()[-2000:]
    left = temporary_files(tmp_path)
    assert left and not out.exists()  # what a killed qgis_process leaves
    result = run_alg(ALG, {"INPUT": [str(CITY_10)], "OUTPUT": str(tmp_path / "other.gpkg")})
    assert result["ROWS_WRITTEN"] > 0
    assert temporary_files(tmp_path) == []


def test_a_read_only_output_folder_is_refused_naming_it(run_alg):
    folder = Path(tempfile.mkdtemp(prefix="read-only-"))
    try:
        source = folder / CITY_10.name
        source.write_bytes(CITY_10.read_bytes())
        os.chmod(source, 0o444)
        os.chmod(folder, stat.S_IRUSR | stat.S_IXUSR | stat.S_IRGRP | stat.S_IXGRP | stat.S_IROTH | stat.S_IXOTH)
        as_root = os.geteuid() == 0
        if as_root:  # root writes anywhere: run the import as an ordinary user would
            os.setegid(65534)
            os.seteuid(65534)
        try:
            with pytest.raises(QgsProcessingException) as err:
                run_alg(ALG, {"INPUT": [str(source)], "OUTPUT": str(folder / "crimes.gpkg")})
        finally:
            if as_root:
                os.seteuid(0)
                os.setegid(0)
        assert str(folder) in str(err.value) and "Cannot write in the folder" in str(err.value)
        assert "Traceback" not in str(err.value)
    finally:
        os.chmod(folder, 0o755)
        for p in folder.iterdir():
            p.unlink()
        folder.rmdir()
