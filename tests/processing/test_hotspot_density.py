"""crimemapping:hotspotdensity on real police.uk points: exact, on QGIS Heatmap's grid, in stated units, counted."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pandas as pd
import pytest
from osgeo import gdal, ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsGeometry,
    QgsPoint,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

from tests.conftest import POLICE_UK, SAMPLE

ALG = "crimemapping:hotspotdensity"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
RADIUS, CELL = 300.0, 50.0


@pytest.fixture(scope="module")
def city(run_alg, tmp_path_factory):
    """City of London crimes, Oct-Dec 2024, imported in British National Grid."""
    out = tmp_path_factory.mktemp("kde") / "city.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "FORCES": "city-of-london", "OUTPUT": str(out)})
    layer = QgsVectorLayer(str(out), "city", "ogr")
    pts = np.array([(f.geometry().asPoint().x(), f.geometry().asPoint().y()) for f in layer.getFeatures()])
    return str(out), pts


def read(path):
    ds = gdal.Open(str(path))
    band = ds.GetRasterBand(1)
    data = band.ReadAsArray().astype(float)
    data[data == band.GetNoDataValue()] = np.nan
    return ds, data


def exact_quartic(ds, pts, radius):
    """Brute force: every crime's raw quartic at every cell centre of the raster."""
    x0, px, _, y0, _, _ = ds.GetGeoTransform()
    cx = x0 + (np.arange(ds.RasterXSize) + 0.5) * px
    cy = y0 - (np.arange(ds.RasterYSize) + 0.5) * px
    gx, gy = np.meshgrid(cx, cy)
    out = np.zeros(gx.shape)
    reach = np.zeros(gx.shape, dtype=bool)
    for x, y in pts:
        d = np.hypot(gx - x, gy - y)
        inside = d <= radius
        out[inside] += (1 - (d[inside] / radius) ** 2) ** 2
        reach |= inside
    return np.where(reach, out, np.nan)


def qgis_322_placement(ds, pts, radius, px, ymin):
    """QGIS 3.22's qgskde.cpp stamp: x right, but each block's rows measured from ymin while written from ymax."""
    x0, _, _, y0, _, _ = ds.GetGeoTransform()
    buffer = int(radius / px) + (1 if radius - px * int(radius / px) > 0.5 else 0)
    out = np.zeros((ds.RasterYSize, ds.RasterXSize))
    reach = np.zeros(out.shape, dtype=bool)
    offs = np.arange(2 * buffer + 1)
    for x, y in pts:
        xpos = math.floor((x - x0) / px - buffer)
        ypos = math.floor((y - ymin) / px - buffer)
        yio = math.floor((y0 - y) / px - buffer)
        cx = (xpos + offs + 0.5) * px + x0
        cy = (ypos + offs + 0.5) * px + ymin
        d = np.hypot(cx[None, :] - x, cy[:, None] - y)
        inside = d <= radius
        rows, cols = np.nonzero(inside)
        np.add.at(out, (yio + rows, xpos + cols), (1 - (d[inside] / radius) ** 2) ** 2)
        reach[yio + rows, xpos + cols] = True
    return np.where(reach, out, np.nan)


def test_raw_surface_is_exact_and_on_qgis_heatmap_grid(run_alg, city, tmp_path):
    path, pts = city
    ours = tmp_path / "ours.tif"
    theirs = tmp_path / "qgis.tif"
    run_alg(ALG, {"INPUT": path, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "UNITS": 2, "OUTPUT": str(ours)})
    run_alg(
        "qgis:heatmapkerneldensityestimation",
        {"INPUT": path, "RADIUS": RADIUS, "PIXEL_SIZE": CELL, "KERNEL": 0, "OUTPUT_VALUE": 0, "OUTPUT": str(theirs)},
    )
    ds, got = read(ours)
    qds, qgis = read(theirs)
    assert ds.GetGeoTransform() == pytest.approx(qds.GetGeoTransform(), abs=1e-6)
    assert (ds.RasterXSize, ds.RasterYSize) == (qds.RasterXSize, qds.RasterYSize)
    expected = exact_quartic(ds, pts, RADIUS)
    assert np.array_equal(np.isnan(got), np.isnan(expected))
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-6, atol=1e-5)
    # QGIS equals the exact kernel moved by its placement error, and nothing else.
    ymin = pts[:, 1].min() - RADIUS
    placed = qgis_322_placement(qds, pts, RADIUS, CELL, ymin)
    assert np.array_equal(np.isnan(qgis), np.isnan(placed))
    np.testing.assert_allclose(qgis[~np.isnan(qgis)], placed[~np.isnan(placed)], rtol=1e-5, atol=1e-4)
    # That error is at most one cell: both sum the same kernels, and ours shifted by a row covers QGIS's peaks.
    assert np.nansum(got) == pytest.approx(np.nansum(qgis), rel=1e-3)
    assert np.nanmax(qgis) <= np.nanmax(got) * 1.05


def test_density_is_in_crimes_per_km2_and_integrates_to_the_crimes(run_alg, city, tmp_path):
    path, pts = city
    out = tmp_path / "d.tif"
    res = run_alg(ALG, {"INPUT": path, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(out)})
    ds, got = read(out)
    expected = exact_quartic(ds, pts, RADIUS) * 3 / (math.pi * RADIUS**2) * 1e6
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-6, atol=1e-4)
    assert np.nansum(got) * CELL * CELL / 1e6 == pytest.approx(len(pts), rel=2e-3)
    assert ds.GetRasterBand(1).GetUnitType() == "crimes per km²" == res["UNIT"]
    assert ds.GetMetadata()["BANDWIDTH_M"] == "300" and ds.GetMetadata()["MONTHS"] == "2024-10,2024-11,2024-12"
    monthly = tmp_path / "m.tif"
    res = run_alg(ALG, {"INPUT": path, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "UNITS": 1, "OUTPUT": str(monthly)})
    assert res["MONTHS"] == 3 and res["UNIT"] == "crimes per km² per month"
    np.testing.assert_allclose(read(monthly)[1], got / 3, rtol=1e-6, equal_nan=True)


def test_hotspot_areas_count_the_crimes_inside_them(run_alg, city, tmp_path):
    path, pts = city
    res = run_alg(
        ALG,
        {
            "INPUT": path,
            "BANDWIDTH": RADIUS,
            "CELL_SIZE": CELL,
            "HOTSPOT_THRESHOLD": 90,
            "OUTPUT": str(tmp_path / "d.tif"),
            "HOTSPOTS": str(tmp_path / "h.gpkg"),
        },
    )
    _, dens = read(tmp_path / "d.tif")
    positive = dens[dens > 0]
    assert res["THRESHOLD_USED"] == pytest.approx(np.percentile(positive, 90), rel=1e-5)
    areas = QgsVectorLayer(str(tmp_path / "h.gpkg"), "h", "ogr")
    assert areas.featureCount() == res["HOTSPOT_COUNT"] > 0
    total = 0
    for feature in areas.getFeatures():
        geom = feature.geometry()
        inside = sum(geom.contains(QgsPointXY(x, y)) for x, y in pts)  # an independent point-in-polygon count
        assert feature["crimes"] == inside
        assert feature["area_km2"] == pytest.approx(geom.area() / 1e6)
        assert feature["share_pct"] == pytest.approx(100 * inside / len(pts))
        total += inside
    assert res["HOTSPOT_CRIMES"] == total
    hot_cells = (dens >= res["THRESHOLD_USED"] * (1 - 1e-6)).sum()
    assert sum(f["cells"] for f in areas.getFeatures()) == hot_cells


def test_study_area_cells_outside_are_nodata(run_alg, city, tmp_path):
    path, _ = city
    # A copy: QGIS opens a GeoPackage for update and may touch it, and the bundled file must stay as it is.
    copy = tmp_path / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", copy)
    wards = QgsVectorLayer(f"{copy}|layername=wards", "w", "ogr")
    # The City of London's wards in the file (codes E05009288 to E05009312).
    wards.setSubsetString("WD24CD >= 'E05009288' AND WD24CD <= 'E05009312'")
    assert wards.featureCount() > 0
    res = run_alg(
        ALG,
        {"INPUT": path, "STUDY_AREA": wards, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "d.tif")},
    )
    ds, got = read(tmp_path / "d.tif")
    city_shape = QgsGeometry.unaryUnion([f.geometry() for f in wards.getFeatures()])
    x0, px, _, y0, _, _ = ds.GetGeoTransform()
    for r in range(0, ds.RasterYSize, 3):
        for c in range(0, ds.RasterXSize, 3):
            centre = QgsPointXY(x0 + (c + 0.5) * px, y0 - (r + 0.5) * px)
            if not city_shape.contains(QgsGeometry.fromPointXY(centre)):
                assert np.isnan(got[r, c])
    assert np.isfinite(got).sum() > 0
    # The grid is the study area's extent.
    box = city_shape.boundingBox()
    assert x0 == pytest.approx(box.xMinimum()) and y0 == pytest.approx(box.yMaximum())
    assert res["CRIMES"] > 0


def test_points_in_degrees_are_mapped_in_british_national_grid(run_alg, city, tmp_path):
    path, _ = city
    wgs = tmp_path / "wgs.gpkg"
    run_alg(
        "crimemapping:importpoliceuk",
        {"INPUT": [str(POLICE_UK)], "FORCES": "city-of-london", "TARGET_CRS": "EPSG:4326", "OUTPUT": str(wgs)},
    )
    a = run_alg(ALG, {"INPUT": str(wgs), "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "a.tif")})
    run_alg(ALG, {"INPUT": path, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "b.tif")})
    assert a["CRS_USED"] == "EPSG:27700"
    ga, gb = read(tmp_path / "a.tif")[1], read(tmp_path / "b.tif")[1]
    np.testing.assert_allclose(ga, gb, rtol=1e-4, atol=1e-3, equal_nan=True)


def test_a_selection_is_honoured_and_read_like_the_file(run_alg, city, tmp_path):
    path, pts = city
    layer = QgsVectorLayer(path, "city", "ogr")
    layer.selectByExpression("\"crime_type\" = 'Theft from the person'")
    chosen = layer.selectedFeatureIds()
    assert 0 < len(chosen) < len(pts)
    sel = QgsProcessingFeatureSourceDefinition(layer.id(), True)
    from qgis.core import QgsProject

    QgsProject.instance().addMapLayer(layer)
    try:
        res = run_alg(ALG, {"INPUT": sel, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "s.tif")})
    finally:
        QgsProject.instance().removeMapLayer(layer.id())
    assert res["CRIMES"] == len(chosen)
    sub = QgsVectorLayer(path, "sub", "ogr")
    sub.setSubsetString("\"crime_type\" = 'Theft from the person'")
    res2 = run_alg(ALG, {"INPUT": sub, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "t.tif")})
    assert res2["CRIMES"] == len(chosen)
    np.testing.assert_array_equal(read(tmp_path / "s.tif")[1], read(tmp_path / "t.tif")[1])


def test_defaults_follow_the_documented_rules(run_alg, city, tmp_path):
    path, pts = city
    res = run_alg(ALG, {"INPUT": path, "OUTPUT": str(tmp_path / "d.tif")})
    n = len(pts)
    dist = np.linalg.norm(pts - pts.mean(axis=0), axis=1)
    sd = math.sqrt((dist**2).mean())
    rule = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * np.median(dist)) * n**-0.2
    assert res["BANDWIDTH_USED"] == float(f"{rule:.2g}")
    lo, hi = np.percentile(pts, [0.5, 99.5], axis=0)
    assert res["CELL_SIZE_USED"] == float(f"{min(hi - lo) / 250:.2g}")


def test_nonsense_settings_stop_with_a_message_saying_what_to_change(run_alg, city, tmp_path):
    path, _ = city
    with pytest.raises(QgsProcessingException, match="smaller than the cell size"):
        run_alg(ALG, {"INPUT": path, "BANDWIDTH": 40, "CELL_SIZE": 50, "OUTPUT": str(tmp_path / "a.tif")})
    with pytest.raises(QgsProcessingException, match="Choose a cell size of at least"):
        run_alg(ALG, {"INPUT": path, "BANDWIDTH": 300, "CELL_SIZE": 1, "OUTPUT": str(tmp_path / "b.tif")})
    assert not any(tmp_path.iterdir())


def test_cancelling_leaves_no_output(run_alg, city, tmp_path):
    path, _ = city
    feedback = QgsProcessingFeedback()
    feedback.cancel()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(
            ALG,
            {
                "INPUT": path,
                "BANDWIDTH": RADIUS,
                "CELL_SIZE": CELL,
                "OUTPUT": str(tmp_path / "c.tif"),
                "HOTSPOTS": str(tmp_path / "c.gpkg"),
            },
            feedback=feedback,
        )
    assert not any(tmp_path.iterdir())


def test_style_puts_the_unit_in_the_legend(tmp_path):
    from qgis.core import QgsRasterLayer

    from crime_mapping_plugin.core.density_output import write_raster
    from crime_mapping_plugin.core.kde import Grid
    from crime_mapping_plugin.processing.density_style import style_density

    write_raster(
        str(tmp_path / "r.tif"),
        Grid(0, 100, 10, 10, 10),
        np.linspace(0, 50, 100).reshape(10, 10),
        QgsCoordinateReferenceSystem("EPSG:27700").toWkt(),
        {},
        "crimes per km²",
        "d",
    )
    layer = QgsRasterLayer(str(tmp_path / "r.tif"), "r")
    style_density(layer, 50.0, "per km²")
    assert layer.renderer().type() == "singlebandpseudocolor"
    labels = [label for label, _ in layer.renderer().legendSymbologyItems()]
    assert labels[-1] == "≥ 50 per km²" and all("per km²" in label for label in labels)


class RecordingFeedback(QgsProcessingFeedback):
    """Feedback that keeps what the algorithm logs."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.warnings: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 - QGIS API
        self.infos.append(info)
        super().pushInfo(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802 - QGIS API
        self.warnings.append(warning)
        super().pushWarning(warning)


@pytest.fixture(scope="module")
def london(run_alg, tmp_path_factory):
    """Every bundled crime (Met burglary and City of London), Oct-Dec 2024, in British National Grid."""
    out = tmp_path_factory.mktemp("kde_london") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(out)})
    return str(out)


@pytest.fixture()
def camden(tmp_path):
    """Camden's wards (LAD24CD E09000007 in the bundled ONS lookup; the ward layer has no borough code)."""
    codes = sorted(set(pd.read_csv(LOOKUP).query("LAD24CD == 'E09000007'")["WD24CD"]))
    copy = tmp_path / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", copy)
    wards = QgsVectorLayer(f"{copy}|layername=wards", "camden", "ogr")
    wards.setSubsetString("WD24CD IN ({})".format(", ".join(f"'{c}'" for c in codes)))
    assert wards.featureCount() == len(codes) == 20
    return wards


def points_of(path) -> np.ndarray:
    layer = QgsVectorLayer(str(path), "p", "ogr")
    return np.array([(f.geometry().asPoint().x(), f.geometry().asPoint().y()) for f in layer.getFeatures()])


def test_crimes_in_the_study_area_are_counted_by_their_own_location_whatever_the_cells(
    run_alg, london, camden, tmp_path
):
    # Independently: GEOS intersects (boundary points are in) of each crime with the dissolved borough.
    borough = QgsGeometry.unaryUnion([f.geometry() for f in camden.getFeatures()])
    engine = QgsGeometry.createGeometryEngine(borough.constGet())
    engine.prepareGeometry()
    pts = points_of(london)
    inside = np.array([engine.intersects(QgsPoint(x, y)) for x, y in pts])
    expected = int(inside.sum())
    assert 500 < expected < 800
    runs = {}
    for cell in (100.0, 50.0):
        runs[cell] = run_alg(
            ALG,
            {
                "INPUT": london,
                "STUDY_AREA": camden,
                "BANDWIDTH": 400,
                "CELL_SIZE": cell,
                "OUTPUT": str(tmp_path / f"d{cell:g}.tif"),
                "HOTSPOTS": str(tmp_path / f"h{cell:g}.gpkg"),
            },
        )
    for cell, res in runs.items():
        assert res["CRIMES_IN_STUDY_AREA"] == expected, cell
        # The share's numerator: crimes in the study area that lie in a hotspot area (hand count per polygon).
        areas = QgsVectorLayer(str(tmp_path / f"h{cell:g}.gpkg"), "h", "ogr")
        hot = 0
        for feature in areas.getFeatures():
            polygon = QgsGeometry.createGeometryEngine(feature.geometry().constGet())
            polygon.prepareGeometry()
            count = sum(polygon.contains(QgsPoint(x, y)) for x, y in pts[inside])
            assert feature["crimes"] == count
            assert feature["share_pct"] == pytest.approx(100 * count / expected)
            hot += count
        assert res["HOTSPOT_CRIMES"] == hot > 0
        assert res["HOTSPOT_SHARE"] == pytest.approx(100 * hot / expected)


@pytest.fixture()
def three_julys(city, tmp_path):
    """The City's crimes relabelled: October 2024 → 2016-07, November → 2017-07, December → 2018-07."""
    copy = tmp_path / "julys.gpkg"
    shutil.copy(city[0], copy)
    ds = ogr.Open(str(copy), 1)
    name = ds.GetLayer(0).GetName()
    for old, new in (("2024-10", "2016-07"), ("2024-11", "2017-07"), ("2024-12", "2018-07")):
        ds.ExecuteSQL(f"UPDATE \"{name}\" SET month = '{new}-01' WHERE month LIKE '{old}%'", dialect="SQLite")
    ds = None
    return str(copy)


def test_per_month_divides_by_the_months_with_records_and_lists_the_missing(run_alg, three_julys, tmp_path):
    total = run_alg(
        ALG, {"INPUT": three_julys, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "t.tif")}
    )
    feedback = RecordingFeedback()
    res = run_alg(
        ALG,
        {"INPUT": three_julys, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "UNITS": 1, "OUTPUT": str(tmp_path / "m.tif")},
        feedback=feedback,
    )
    np.testing.assert_allclose(read(tmp_path / "m.tif")[1], read(tmp_path / "t.tif")[1] / 3, rtol=1e-6, equal_nan=True)
    assert res["MONTHS"] == total["MONTHS"] == 3
    # 2016-07 to 2018-07 is 25 calendar months; all but the three Julys have no record.
    expected = [
        f"{y}-{m:02d}" for y in (2016, 2017, 2018) for m in range(1, 13) if "2016-07" < f"{y}-{m:02d}" < "2018-07"
    ]
    expected = [m for m in expected if not m.endswith("-07")]
    assert len(expected) == 22
    runs = "2016-08 to 2017-06, 2017-08 to 2018-06"  # the 22 months, as runs
    assert res["MISSING_MONTHS"] == runs and res["PERIOD"] == "2016-07 to 2018-07"
    metadata = gdal.Open(str(tmp_path / "m.tif")).GetMetadata()
    assert metadata["MISSING_MONTHS"] == runs
    assert metadata["MONTHS"] == "2016-07,2017-07,2018-07" and metadata["MONTH_COUNT"] == "3"
    assert metadata["PERIOD"] == "2016-07 to 2018-07"
    missing = [w for w in feedback.warnings if "have no record at all" in w]
    assert len(missing) == 1 and missing[0].startswith("22 of 25 months")
    assert "2016-08 to 2017-06, 2017-08 to 2018-06" in missing[0]


def test_crimes_with_no_month_are_mapped_but_left_out_per_month(run_alg, city, tmp_path):
    path, pts = city
    copy = tmp_path / "nomonth.gpkg"
    shutil.copy(path, copy)
    ds = ogr.Open(str(copy), 1)
    name = ds.GetLayer(0).GetName()
    ds.ExecuteSQL(f'UPDATE "{name}" SET month = NULL WHERE fid % 10 = 0', dialect="SQLite")
    ds = None
    layer = QgsVectorLayer(str(copy), "c", "ogr")
    dated = np.array(
        [(f.geometry().asPoint().x(), f.geometry().asPoint().y()) for f in layer.getFeatures() if f.id() % 10]
    )
    blank = len(pts) - len(dated)
    assert blank > 0
    feedback = RecordingFeedback()
    every = run_alg(
        ALG, {"INPUT": str(copy), "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "a.tif")}, feedback
    )
    assert every["CRIMES"] == len(pts) and every["CRIMES_LEFT_OUT"] == 0
    assert any(w.startswith(f"{blank:,} crime(s) have no month") for w in feedback.warnings)
    monthly = run_alg(
        ALG,
        {"INPUT": str(copy), "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "UNITS": 1, "OUTPUT": str(tmp_path / "m.tif")},
    )
    # Every point read is mapped or counted under a reason.
    assert monthly["CRIMES"] == len(dated) and monthly["CRIMES"] + monthly["CRIMES_LEFT_OUT"] == len(pts)
    ds, got = read(tmp_path / "m.tif")
    expected = exact_quartic(ds, dated, RADIUS) * 3 / (math.pi * RADIUS**2) * 1e6 / 3
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-6, atol=1e-4)


@pytest.mark.parametrize("store", ["memory", "gpkg"])
def test_every_part_of_a_multipoint_is_a_crime_and_the_log_says_so(run_alg, tmp_path, store):
    parts = [[(530000, 180000), (530100, 180050)], [(530400, 180300), (530420, 180310), (530200, 180400)]]
    layer = QgsVectorLayer("MultiPoint?crs=EPSG:27700", "multi", "memory")
    features = []
    for pts in parts:
        feature = QgsFeature(layer.fields())
        feature.setGeometry(QgsGeometry.fromMultiPointXY([QgsPointXY(x, y) for x, y in pts]))
        features.append(feature)
    layer.dataProvider().addFeatures(features)
    source = layer
    if store == "gpkg":
        from qgis.core import QgsVectorFileWriter

        path = str(tmp_path / "multi.gpkg")
        options = QgsVectorFileWriter.SaveVectorOptions()
        options.driverName = "GPKG"
        QgsVectorFileWriter.writeAsVectorFormatV2(layer, path, QgsProject.instance().transformContext(), options)
        source = path
    feedback = RecordingFeedback()
    res = run_alg(
        ALG,
        {"INPUT": source, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "UNITS": 2, "OUTPUT": str(tmp_path / "m.tif")},
        feedback,
    )
    assert res["CRIMES"] == 5
    assert "2 multipoint features gave 5 points: each part is one crime." in feedback.infos
    ds, got = read(tmp_path / "m.tif")
    expected = exact_quartic(ds, [p for pts in parts for p in pts], RADIUS)
    np.testing.assert_allclose(got[~np.isnan(got)], expected[~np.isnan(expected)], rtol=1e-6, atol=1e-5)


def test_parameters_that_need_no_data_are_refused_before_any_work(provider, city, tmp_path):  # noqa: ARG001
    from qgis.core import QgsApplication, QgsProcessingContext

    algorithm = QgsApplication.processingRegistry().algorithmById(ALG)
    context = QgsProcessingContext()
    path, _ = city
    base = {"INPUT": path, "OUTPUT": str(tmp_path / "x.tif")}
    ok, message = algorithm.checkParameterValues({**base, "HOTSPOT_THRESHOLD": 150}, context)
    assert not ok and message == "A percentile must be between 0 and 100, not 150."
    assert algorithm.checkParameterValues({**base, "HOTSPOT_RULE": 1, "HOTSPOT_THRESHOLD": 150}, context)[0]
    ok, message = algorithm.checkParameterValues({**base, "BANDWIDTH": 40, "CELL_SIZE": 50}, context)
    assert not ok and "smaller than the cell size" in message
    no_month = QgsVectorLayer("Point?crs=EPSG:27700&field=weight:double", "p", "memory")
    ok, message = algorithm.checkParameterValues({**base, "INPUT": no_month, "UNITS": 1}, context)
    assert not ok and "needs a month field" in message
    assert not any(tmp_path.iterdir())


def test_the_ramp_top_returned_is_the_995th_percentile_of_the_cells_above_zero(run_alg, city, tmp_path):
    path, _ = city
    res = run_alg(ALG, {"INPUT": path, "BANDWIDTH": RADIUS, "CELL_SIZE": CELL, "OUTPUT": str(tmp_path / "d.tif")})
    ds, got = read(tmp_path / "d.tif")
    assert res["RAMP_MAXIMUM"] == pytest.approx(np.percentile(got[got > 0], 99.5), rel=1e-5)
    assert float(ds.GetMetadata()["RAMP_MAXIMUM"]) == pytest.approx(res["RAMP_MAXIMUM"], rel=1e-5)
