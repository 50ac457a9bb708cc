"""Density, Gi* and emerging hot spots under hostile input, failure and cancel, on real police.uk rows (issue 10).

Every expected number is counted here from the rows themselves (a weight field filled in by the test, a
density integrated cell by cell), never read back from the algorithm's own log.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeature,
    QgsField,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QVariant

from tests.conftest import POLICE_UK, SAMPLE
from tests.layers import memory_copy

DENSITY = "crimemapping:hotspotdensity"
GISTAR = "crimemapping:gistarhotspots"
EMERGING = "crimemapping:emerginghotspots"
WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"


class Recording(QgsProcessingFeedback):
    """Feedback that keeps the warnings and counts the progress reports, cancelling at report `cancel_at`."""

    def __init__(self, cancel_at: int | None = None) -> None:
        super().__init__()
        self.warnings: list[str] = []
        self.reports = 0
        self.after_cancel = 0
        self.cancel_at = cancel_at

    def pushWarning(self, warning: str) -> None:  # noqa: N802 - QGIS API
        self.warnings.append(warning)
        super().pushWarning(warning)

    def setProgress(self, progress: float) -> None:  # noqa: N802 - QGIS API
        super().setProgress(progress)
        if self.isCanceled():
            self.after_cancel += 1
            return
        self.reports += 1
        if self.cancel_at is not None and self.reports >= self.cancel_at:
            self.cancel()


@pytest.fixture(scope="module")
def city(run_alg, tmp_path_factory) -> Path:
    """City of London crimes, Oct-Dec 2024, imported in British National Grid."""
    out = tmp_path_factory.mktemp("robust") / "city.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "FORCES": "city-of-london", "OUTPUT": str(out)})
    return out


def city_points(city: Path) -> np.ndarray:
    layer = QgsVectorLayer(str(city), "city", "ogr")
    return np.array([(f.geometry().asPoint().x(), f.geometry().asPoint().y()) for f in layer.getFeatures()])


def points_layer(points: np.ndarray) -> QgsVectorLayer:
    layer = QgsVectorLayer("Point?crs=EPSG:27700", "points", "memory")
    features = []
    for x, y in points.tolist():
        f = QgsFeature()
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
        features.append(f)
    assert layer.dataProvider().addFeatures(features)
    return layer


def core_extent(city: Path) -> str:
    """The extent of the central 90 % of the City's crimes on each axis, as an EXTENT parameter."""
    pts = city_points(city)
    (x0, x1), (y0, y1) = np.percentile(pts[:, 0], [5, 95]), np.percentile(pts[:, 1], [5, 95])
    return f"{x0:.0f},{x1:.0f},{y0:.0f},{y1:.0f} [EPSG:27700]"


def read_density(path: Path) -> tuple[np.ndarray, float]:
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    data = band.ReadAsArray().astype(float)
    data[data == band.GetNoDataValue()] = np.nan
    return data, ds.GetGeoTransform()[1]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def temporary_files(folder: Path) -> list[str]:
    return [p.name for p in folder.iterdir() if p.name.startswith(".crimemapping-")]


# --- 1. all crimes at one snap point -------------------------------------------------------------------------


@pytest.mark.parametrize("rounded", [False, True], ids=["as imported", "round metres"])
def test_crimes_at_one_snap_point_ask_for_a_bandwidth_whatever_the_rounding(run_alg, city, tmp_path, rounded):
    # 500 crimes at the first real snap point, as the import reprojects it (531494.99918971…) or rounded.
    point = city_points(city)[0]
    if rounded:
        point = np.round(point)
    layer = points_layer(np.repeat(point[None, :], 500, axis=0))
    with pytest.raises(QgsProcessingException, match=r"500 crimes are at 1 distinct location.*set a bandwidth"):
        run_alg(DENSITY, {"INPUT": layer, "OUTPUT": str(tmp_path / "d.tif")})
    assert not any(tmp_path.iterdir())


def test_crimes_at_a_few_places_ask_for_a_bandwidth(run_alg, city, tmp_path):
    pts = city_points(city)
    distance = np.hypot(*(pts - pts[0]).T)
    near = pts[np.argmin(np.where(distance > 0, distance, np.inf))]  # the real snap point nearest the first
    layer = points_layer(np.vstack([np.repeat(pts[:1], 499, axis=0), near[None, :]]))
    with pytest.raises(QgsProcessingException, match=r"2 distinct location.*set a bandwidth"):
        run_alg(DENSITY, {"INPUT": layer, "OUTPUT": str(tmp_path / "d.tif")})


def test_a_given_bandwidth_on_one_snap_point_integrates_to_the_crimes(run_alg, city, tmp_path):
    layer = points_layer(np.repeat(city_points(city)[:1], 500, axis=0))
    result = run_alg(DENSITY, {"INPUT": layer, "BANDWIDTH": 300, "OUTPUT": str(tmp_path / "d.tif")})
    values, cell = read_density(tmp_path / "d.tif")
    # crimes per km² × the area of a cell in km², added over the cells: the crimes, to the grid's resolution.
    assert np.nansum(values) * cell * cell / 1e6 == pytest.approx(500, rel=0.005)
    assert result["CRIMES"] == 500 and result["BANDWIDTH_USED"] == 300


# --- 2. all outputs or none ----------------------------------------------------------------------------------


def test_hotspot_areas_that_cannot_be_created_leave_no_density_raster(run_alg, city, tmp_path):
    blocker = tmp_path / "not_a_folder"
    blocker.write_text("a file where a folder is expected")
    out = tmp_path / "density.tif"
    with pytest.raises(QgsProcessingException, match="not_a_folder"):
        run_alg(
            DENSITY,
            {"INPUT": str(city), "BANDWIDTH": 300, "OUTPUT": str(out), "HOTSPOTS": str(blocker / "areas.gpkg")},
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["not_a_folder"]


def test_a_failed_run_leaves_the_previous_raster_and_areas_as_they_were(run_alg, city, tmp_path):
    out, areas = tmp_path / "density.tif", tmp_path / "areas.gpkg"
    run_alg(DENSITY, {"INPUT": str(city), "BANDWIDTH": 300, "OUTPUT": str(out), "HOTSPOTS": str(areas)})
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    # The areas go into a layer of a file that is no GeoPackage: this fails only when they are put in place,
    # after the new raster was written.
    broken = tmp_path / "broken.gpkg"
    broken.write_text("not a GeoPackage")
    before[broken.name] = digest(broken)
    with pytest.raises(QgsProcessingException, match="not a GeoPackage"):
        run_alg(
            DENSITY,
            {
                "INPUT": str(city),
                "BANDWIDTH": 500,
                "OUTPUT": str(out),
                "HOTSPOTS": f"ogr:dbname='{broken}' table=\"areas\" (geom)",
            },
        )
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before
    assert temporary_files(tmp_path) == []
    # A run that succeeds replaces both, and leaves nothing of the previous ones beside them.
    run_alg(DENSITY, {"INPUT": str(city), "BANDWIDTH": 500, "OUTPUT": str(out), "HOTSPOTS": str(areas)})
    assert digest(out) != before[out.name] and digest(areas) != before[areas.name]
    assert temporary_files(tmp_path) == []


# --- 3. negative weights -------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def weighted(city) -> tuple[QgsVectorLayer, np.ndarray]:
    """The City crimes with a 'harm' weight: 2 for most, 0 for every 7th, −1 for every 10th (real rows)."""
    layer = memory_copy(city, name="weighted")
    assert layer.dataProvider().addAttributes([QgsField("harm", QVariant.Double)])
    layer.updateFields()
    index = layer.fields().lookupField("harm")
    harm = []
    changes = {}
    for n, f in enumerate(layer.getFeatures()):
        w = -1.0 if n % 10 == 0 else 0.0 if n % 7 == 0 else 2.0
        harm.append(w)
        changes[f.id()] = {index: w}
    assert layer.dataProvider().changeAttributeValues(changes)
    return layer, np.array(harm)


def test_negative_weights_are_left_out_of_the_density_and_counted(run_alg, weighted, tmp_path):
    layer, harm = weighted
    feedback = Recording()
    result = run_alg(
        DENSITY,
        {"INPUT": layer, "WEIGHT_FIELD": "harm", "BANDWIDTH": 300, "CELL_SIZE": 20, "OUTPUT": str(tmp_path / "d.tif")},
        feedback,
    )
    negative = int((harm < 0).sum())
    assert result["CRIMES"] == len(harm) - negative and result["CRIMES_LEFT_OUT"] == negative
    assert f"{negative:,} crime(s) left out: weight below zero in the weight field 'harm'." in feedback.warnings
    values, cell = read_density(tmp_path / "d.tif")
    assert np.nansum(values) * cell * cell / 1e6 == pytest.approx(harm[harm >= 0].sum(), rel=0.01)


def test_negative_weights_are_left_out_of_gistar_and_counted(run_alg, weighted, tmp_path):
    layer, harm = weighted
    result = run_alg(
        GISTAR, {"INPUT": layer, "WEIGHT_FIELD": "harm", "CELL_SIZE": 200, "OUTPUT": str(tmp_path / "g.gpkg")}
    )
    negative = int((harm < 0).sum())
    assert result["POINTS_READ"] == len(harm)
    assert result["POINTS_LEFT_OUT"] == negative and result["POINTS_COUNTED"] == len(harm) - negative
    cells = QgsVectorLayer(str(tmp_path / "g.gpkg"), "g", "ogr")
    assert sum(f["value"] for f in cells.getFeatures()) == pytest.approx(harm[harm >= 0].sum())


def test_negative_weights_are_left_out_of_emerging_hot_spots_and_counted(run_alg, weighted, tmp_path):
    layer, harm = weighted
    result = run_alg(
        EMERGING, {"INPUT": layer, "WEIGHT_FIELD": "harm", "CELL_SIZE": 200, "OUTPUT": str(tmp_path / "e.gpkg")}
    )
    negative = int((harm < 0).sum())
    assert result["POINTS_READ"] == len(harm) and result["POINTS_LEFT_OUT"] == negative


def test_weights_adding_up_to_zero_are_said_to_map_nothing(run_alg, city, tmp_path):
    layer = memory_copy(city, name="zero")
    assert layer.dataProvider().addAttributes([QgsField("harm", QVariant.Double)])
    layer.updateFields()
    index = layer.fields().lookupField("harm")
    assert layer.dataProvider().changeAttributeValues({f.id(): {index: 0.0} for f in layer.getFeatures()})
    feedback = Recording()
    result = run_alg(
        DENSITY, {"INPUT": layer, "WEIGHT_FIELD": "harm", "BANDWIDTH": 300, "OUTPUT": str(tmp_path / "d.tif")}, feedback
    )
    assert result["HOTSPOT_COUNT"] == 0
    assert any("add up to 0" in w and "weight field" in w for w in feedback.warnings)


# --- 6. a run that maps nothing says why ---------------------------------------------------------------------


def test_a_study_area_in_another_crs_away_from_the_crimes_is_warned_of(run_alg, city, tmp_path):
    wards = QgsVectorLayer(str(WARDS), "wards", "ogr")
    west = min(
        wards.getFeatures(), key=lambda f: f.geometry().centroid().asPoint().x()
    )  # Hillingdon, far from the City
    geometry = QgsGeometry(west.geometry())
    wgs84 = QgsCoordinateReferenceSystem("EPSG:4326")
    geometry.transform(QgsCoordinateTransform(wards.crs(), wgs84, QgsProject.instance()))
    area = QgsVectorLayer("MultiPolygon?crs=EPSG:4326", "area", "memory")
    feature = QgsFeature()
    feature.setGeometry(geometry)
    assert area.dataProvider().addFeatures([feature])
    feedback = Recording()
    result = run_alg(
        DENSITY,
        {"INPUT": str(city), "BANDWIDTH": 300, "STUDY_AREA": area, "OUTPUT": str(tmp_path / "d.tif")},
        feedback,
    )
    assert result["CRIMES_IN_STUDY_AREA"] == 0
    crimes = len(city_points(city))
    assert any(
        w.startswith(f"None of the {crimes:,} crimes is inside the study area (layer CRS EPSG:4326)")
        for w in feedback.warnings
    )


def test_an_extent_away_from_the_crimes_is_warned_of_not_a_gdal_error(run_alg, city, tmp_path):
    feedback = Recording()
    result = run_alg(
        DENSITY,
        {
            "INPUT": str(city),
            "BANDWIDTH": 300,
            "EXTENT": "500000,501000,100000,101000 [EPSG:27700]",
            "OUTPUT": str(tmp_path / "d.tif"),
        },
        feedback,
    )
    assert result["CRIMES_IN_STUDY_AREA"] == 0 and result["HOTSPOT_COUNT"] == 0
    assert any("is inside the extent (CRS EPSG:27700)" in w for w in feedback.warnings)
    assert any("NoData everywhere" in w for w in feedback.warnings)
    values, _ = read_density(tmp_path / "d.tif")
    assert np.isnan(values).all()


# --- 4. a cancelled or failed run leaves a GeoPackage's layers as they were ------------------------------------


def layer_destination(path: Path, table: str) -> str:
    return f"ogr:dbname='{path}' table=\"{table}\" (geom)"


def layer_rows(path: Path) -> dict[str, int]:
    db = sqlite3.connect(path)
    try:
        names = [r[0] for r in db.execute("SELECT table_name FROM gpkg_contents ORDER BY table_name")]
        return {n: db.execute(f'SELECT count(*) FROM "{n}"').fetchone()[0] for n in names}
    finally:
        db.close()


def test_a_cancelled_gistar_leaves_the_geopackage_layers_as_they_were(run_alg, city, tmp_path):
    project = tmp_path / "project.gpkg"
    run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 200, "OUTPUT": layer_destination(project, "cells")})
    run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 400, "OUTPUT": layer_destination(project, "other")})
    before = layer_rows(project)
    assert before["cells"] > 0 and before["other"] > 0
    for cancel_at in (1, 2):  # after the cells are made; during the last batch written (of 3 reports)
        with pytest.raises(QgsProcessingException, match="Cancelled"):
            run_alg(
                GISTAR,
                {"INPUT": str(city), "CELL_SIZE": 100, "OUTPUT": layer_destination(project, "cells")},
                Recording(cancel_at),
            )
        assert layer_rows(project) == before
    assert temporary_files(tmp_path) == []


def test_cancelled_hotspot_areas_leave_the_geopackage_layers_as_they_were(run_alg, city, tmp_path):
    project = tmp_path / "project.gpkg"
    density = tmp_path / "d.tif"
    run_alg(
        DENSITY,
        {"INPUT": str(city), "BANDWIDTH": 300, "OUTPUT": str(density), "HOTSPOTS": layer_destination(project, "areas")},
    )
    run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 400, "OUTPUT": layer_destination(project, "other")})
    before = layer_rows(project)
    raster = digest(density)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(
            DENSITY,
            {
                "INPUT": str(city),
                "BANDWIDTH": 300,
                "CELL_SIZE": 2,
                "EXTENT": core_extent(city),
                "OUTPUT": str(density),
                "HOTSPOTS": layer_destination(project, "areas"),
            },
            Recording(2),
        )
    assert layer_rows(project) == before and digest(density) == raster
    assert temporary_files(tmp_path) == []


# --- 5. cancel is honoured at once ---------------------------------------------------------------------------


def test_a_cancelled_density_stops_at_the_next_step(run_alg, city, tmp_path):
    # Cells of 2 m under a 300 m bandwidth: every crime colours 70,000 cells, many steps of the kernel loop.
    feedback = Recording(cancel_at=3)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(
            DENSITY,
            {
                "INPUT": str(city),
                "BANDWIDTH": 300,
                "CELL_SIZE": 2,
                "EXTENT": core_extent(city),
                "OUTPUT": str(tmp_path / "d.tif"),
            },
            feedback,
        )
    assert feedback.reports == 3 and feedback.after_cancel <= 1
    assert not any(tmp_path.iterdir())


def test_a_cancelled_gistar_stops_at_the_next_step(run_alg, city, tmp_path):
    layer = memory_copy(city, name="city")  # read feature by feature: progress is reported while reading
    feedback = Recording(cancel_at=1)
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(GISTAR, {"INPUT": layer, "CELL_SIZE": 20, "OUTPUT": str(tmp_path / "g.gpkg")}, feedback)
    assert feedback.after_cancel <= 1
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("cancel_at", [1, 2], ids=["after the cells are made", "during the last batch"])
def test_a_cancelled_gistar_leaves_a_previous_shapefile_as_it_was(run_alg, city, tmp_path, cancel_at):
    out = tmp_path / "cells.shp"
    run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 400, "OUTPUT": str(out)})
    before = {p.name: digest(p) for p in tmp_path.iterdir()}
    assert {".shp", ".shx", ".dbf"} <= {p.suffix for p in tmp_path.iterdir()}
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 100, "OUTPUT": str(out)}, Recording(cancel_at))
    assert {p.name: digest(p) for p in tmp_path.iterdir()} == before


def test_gistar_to_a_shapefile_replaces_the_previous_one_on_success(run_alg, city, tmp_path):
    out = tmp_path / "cells.shp"
    run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 400, "OUTPUT": str(out)})
    result = run_alg(GISTAR, {"INPUT": str(city), "CELL_SIZE": 100, "OUTPUT": str(out)})
    layer = QgsVectorLayer(str(out), "cells", "ogr")
    assert result["OUTPUT"] == str(out) and layer.featureCount() == result["CELLS_ANALYSED"]
    assert temporary_files(tmp_path) == []


class CancelAtCheck(QgsProcessingFeedback):
    """Feedback whose isCanceled() answers True from its `at`-th call on, counting the calls after that."""

    def __init__(self, at: int | None) -> None:
        super().__init__()
        self.at = at
        self.calls = 0

    def isCanceled(self) -> bool:  # noqa: N802 - QGIS API
        self.calls += 1
        return self.at is not None and self.calls >= self.at


def test_a_density_with_a_study_area_stops_at_the_first_check_after_the_cancel(run_alg, city, tmp_path):
    # The City's own wards as the study area: the mask is burnt and the crimes tested against it; 3 m cells
    # under a 300 m bandwidth give many steps of the kernel loop and a large mask to polygonise.
    wards = f"{WARDS}|layername=wards"
    area = tmp_path / "area.gpkg"
    run_alg(
        "native:extractbyexpression",
        {"INPUT": wards, "EXPRESSION": "\"WD24CD\" >= 'E05009288' AND \"WD24CD\" <= 'E05009312'", "OUTPUT": str(area)},
    )
    params = {
        "INPUT": str(city),
        "BANDWIDTH": 300,
        "CELL_SIZE": 3,
        "HOTSPOT_THRESHOLD": 10,
        "STUDY_AREA": str(area),
    }
    whole = CancelAtCheck(None)
    run_alg(DENSITY, {**params, "OUTPUT": str(tmp_path / "whole.tif")}, whole)
    assert whole.calls > 10
    for at in sorted({1, 2, whole.calls // 3, whole.calls // 2, whole.calls - 1, whole.calls}):
        feedback = CancelAtCheck(at)
        out = tmp_path / f"cancelled_{at}.tif"
        with pytest.raises(QgsProcessingException, match="Cancelled"):
            run_alg(DENSITY, {**params, "OUTPUT": str(out)}, feedback)
        assert feedback.calls - at <= 1, f"cancelled at check {at}, {feedback.calls - at} more checks ran"
        assert not out.exists()
