"""crimemapping:gistarhotspots end to end: z-scores equal PySAL esda's, counts balance, cells and styles are right."""

from __future__ import annotations

import math
import shutil

import numpy as np
import pytest
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingException,
    QgsRectangle,
    QgsVectorLayer,
)

from crime_mapping_plugin.core import crime_points
from crime_mapping_plugin.processing import hotspot_cells
from tests.conftest import POLICE_UK, SAMPLE, TEST_DATA
from tests.layers import memory_copy

REF = np.load(TEST_DATA / "gistar_reference.npz")
ALG = "crimemapping:gistarhotspots"


def point_layer(x, y, crs: str = "EPSG:27700", weights=None) -> QgsVectorLayer:
    """Return a memory point layer, with a 'w' weight field."""
    layer = QgsVectorLayer(f"Point?crs={crs}&field=w:double", "points", "memory")
    features = []
    for n, (px, py) in enumerate(zip(np.asarray(x).tolist(), np.asarray(y).tolist())):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(px, py)))
        f.setAttributes([None if weights is None else weights[n]])
        features.append(f)
    layer.dataProvider().addFeatures(features)
    return layer


def polygon_layer(rings, crs: str = "EPSG:27700") -> QgsVectorLayer:
    layer = QgsVectorLayer(f"Polygon?crs={crs}&field=name:string", "polygons", "memory")
    features = []
    for n, ring in enumerate(rings):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPolygonXY([[QgsPointXY(x, y) for x, y in ring]]))
        f.setAttributes([f"p{n}"])
        features.append(f)
    layer.dataProvider().addFeatures(features)
    return layer


def read_cells(path) -> tuple[QgsVectorLayer, dict]:
    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid()
    cols: dict[str, list] = {name: [] for name in layer.fields().names()}
    cols["cx"], cols["cy"] = [], []
    for f in layer.getFeatures():
        box = f.geometry().boundingBox()
        cols["cx"].append(box.center().x())
        cols["cy"].append(box.center().y())
        for name in layer.fields().names():
            value = f[name]
            cols[name].append(None if value is None or (hasattr(value, "isNull") and value.isNull()) else value)
    return layer, cols


def by_centre(cx, cy) -> np.ndarray:
    return np.lexsort((np.round(np.asarray(cy), 3), np.round(np.asarray(cx), 3)))


@pytest.mark.parametrize(("case", "source", "cells"), [("met_square_1000", "met", 0), ("city_hex_150", "city", 1)])
def test_grid_z_scores_equal_esda_on_real_points(run_alg, tmp_path, case, source, cells):
    px, py = REF[f"{source}_px"], REF[f"{source}_py"]
    out = tmp_path / "hot.gpkg"
    result = run_alg(
        ALG,
        {"INPUT": point_layer(px, py), "CELLS": cells, "CELL_SIZE": float(REF[f"{case}_size"]), "OUTPUT": str(out)},
    )
    _, got = read_cells(out)
    ours, theirs = by_centre(got["cx"], got["cy"]), by_centre(REF[f"{case}_cx"], REF[f"{case}_cy"])
    assert result["CELLS_ANALYSED"] == len(REF[f"{case}_cx"])
    assert result["POINTS_COUNTED"] == len(px) and result["POINTS_LEFT_OUT"] == 0
    np.testing.assert_allclose(np.array(got["cx"])[ours], REF[f"{case}_cx"][theirs], atol=1e-6)
    np.testing.assert_array_equal(np.array(got["crimes"])[ours], REF[f"{case}_values"][theirs])
    np.testing.assert_allclose(np.array(got["gi_z"], float)[ours], REF[f"{case}_z"][theirs], rtol=0, atol=1e-9)
    np.testing.assert_allclose(np.array(got["gi_p"], float)[ours], REF[f"{case}_p"][theirs], rtol=1e-9)
    adjusted = REF[f"{case}_bh"][theirs]
    level = np.select([adjusted <= 0.01, adjusted <= 0.05, adjusted <= 0.10], [3, 2, 1], 0)
    np.testing.assert_array_equal(np.array(got["gi_bin"])[ours], level * np.sign(REF[f"{case}_z"][theirs]))
    assert result["HOT_SPOTS"] == int((level * np.sign(REF[f"{case}_z"][theirs]) > 0).sum())


@pytest.fixture(scope="session")
def wards_uri(tmp_path_factory) -> str:
    """The bundled wards the esda reference was made on (684: without the 20 City wards added since), copied.

    QGIS opens a GeoPackage for update and the bundled file must stay as it is.
    """
    copy = tmp_path_factory.mktemp("wards") / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", copy)
    layer = QgsVectorLayer(f"{copy}|layername=wards", "wards", "ogr")
    known = {str(c) for c in REF["ward_codes"]}
    assert layer.dataProvider().deleteFeatures([f.id() for f in layer.getFeatures() if f["WD24CD"] not in known])
    del layer
    return f"{copy}|layername=wards"


def ward_points(wards_uri: str):
    """One point inside each ward, weighted by the ward's reference count (MPS burglary, 2024-10)."""
    wards = QgsVectorLayer(wards_uri, "wards", "ogr")
    codes = [str(c) for c in REF["ward_codes"]]
    values = dict(zip(codes, REF["wards_knn8_values"].tolist()))
    xs, ys, ws = [], [], []
    for f in wards.getFeatures():
        p = f.geometry().pointOnSurface().asPoint()
        xs.append(p.x())
        ys.append(p.y())
        ws.append(values[f["WD24CD"]])
    return point_layer(xs, ys, weights=ws)


@pytest.mark.parametrize(
    ("case", "hood"), [("wards_knn8", {"NEIGHBOURHOOD": 1, "NEIGHBOURS_K": 8}), ("wards_band", {})]
)
def test_own_polygons_with_a_weight_field_equal_esda(run_alg, tmp_path, wards_uri, case, hood):
    out = tmp_path / "wards.gpkg"
    params = {
        "INPUT": ward_points(wards_uri),
        "WEIGHT_FIELD": "w",
        "CELLS": 2,
        "POLYGONS": wards_uri,
        "OUTPUT": str(out),
    }
    params.update(hood)
    result = run_alg(ALG, params)
    _, got = read_cells(out)
    z_of = dict(zip(got["WD24CD"], got["gi_z"]))
    codes = [str(c) for c in REF["ward_codes"]]
    np.testing.assert_allclose([z_of[c] for c in codes], REF[f"{case}_z"], rtol=0, atol=1e-9)
    assert got["crimes"] == [1] * 684
    assert sum(got["value"]) == pytest.approx(REF[f"{case}_values"].sum())
    assert result["CELLS_WITHOUT_NEIGHBOURS"] == 0


@pytest.fixture(scope="module")
def crimes(run_alg, tmp_path_factory):
    out = tmp_path_factory.mktemp("gistar") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(out)})
    return str(out)


TRIANGLE = [(530500.0, 180200.0), (534000.0, 180600.0), (531500.0, 182800.0), (530500.0, 180200.0)]


def test_study_area_limits_cells_and_points_and_every_point_is_accounted_for(run_alg, tmp_path, crimes):
    from qgis import processing

    area = polygon_layer([TRIANGLE])
    out = tmp_path / "area.gpkg"
    result = run_alg(ALG, {"INPUT": crimes, "STUDY_AREA": area, "CELL_SIZE": 200, "OUTPUT": str(out)})
    # QGIS's 'intersects' keeps a point on the area's edge, as the plugin's study-area rule does.
    inside = processing.run(
        "native:extractbylocation", {"INPUT": crimes, "PREDICATE": [0], "INTERSECT": area, "OUTPUT": "memory:"}
    )["OUTPUT"]
    assert result["POINTS_COUNTED"] == inside.featureCount()
    total = QgsVectorLayer(crimes, "c", "ogr").featureCount()
    assert result["POINTS_READ"] == total == result["POINTS_COUNTED"] + result["POINTS_LEFT_OUT"]
    triangle = QgsGeometry.fromPolygonXY([[QgsPointXY(x, y) for x, y in TRIANGLE]])
    expected_cells = sum(
        triangle.intersects(QgsGeometry.fromRect(QgsRectangle(c * 200, r * 200, (c + 1) * 200, (r + 1) * 200)))
        for c in range(530400 // 200, 534000 // 200 + 1)
        for r in range(180200 // 200, 182800 // 200 + 1)
    )
    _, got = read_cells(out)
    assert result["CELLS_ANALYSED"] == expected_cells == len(got["crimes"])
    assert sum(got["crimes"]) == inside.featureCount()
    assert result["CELL_SIZE_USED"] == 200


def test_default_cell_size_is_sfhotspots_rule(run_alg, tmp_path):
    x, y = REF["city_px"], REF["city_py"]
    result = run_alg(ALG, {"INPUT": point_layer(x, y), "OUTPUT": str(tmp_path / "d.gpkg")})
    # The rule runs on the extent of the central 99 % of crimes, so that a few far-off ones do not set it.
    width = np.percentile(x, 99.5) - np.percentile(x, 0.5)
    height = np.percentile(y, 99.5) - np.percentile(y, 0.5)
    side = min(width, height) / 50  # City extent about 2.6 km: about 52 m floors to 0, so stays unrounded
    expected = math.floor(side / 100) * 100 or side
    assert result["CELL_SIZE_USED"] == pytest.approx(expected)


def test_a_cell_without_neighbours_is_reported_and_gets_no_z(run_alg, tmp_path):
    squares = [[(x, 0), (x + 100, 0), (x + 100, 100), (x, 100), (x, 0)] for x in (0, 100, 200, 5000)]
    counts = [3, 5, 1, 4]
    xs = [s[0][0] + 50 for s, n in zip(squares, counts) for _ in range(n)]
    out = tmp_path / "alone.gpkg"
    result = run_alg(
        ALG,
        {
            "INPUT": point_layer(xs, [50] * len(xs)),
            "CELLS": 2,
            "POLYGONS": polygon_layer(squares),
            "DISTANCE": 150,
            "OUTPUT": str(out),
        },
    )
    _, got = read_cells(out)
    assert result["CELLS_WITHOUT_NEIGHBOURS"] == 1
    assert got["crimes"] == counts
    assert got["gi_z"][3] is None and got["gi_bin"][3] == 0 and got["label"][3] == "No neighbours"
    assert got["neighbours"] == [1, 2, 1, 0]


def test_null_weights_are_left_out_and_counted(run_alg, tmp_path):
    x, y = REF["city_px"][:500], REF["city_py"][:500]
    weights = [None if n % 10 == 0 else 2.0 for n in range(500)]
    result = run_alg(
        ALG,
        {
            "INPUT": point_layer(x, y, weights=weights),
            "WEIGHT_FIELD": "w",
            "CELL_SIZE": 100,
            "OUTPUT": str(tmp_path / "w.gpkg"),
        },
    )
    assert result["POINTS_LEFT_OUT"] == 50 and result["POINTS_COUNTED"] == 450
    assert f"{crime_points.NO_WEIGHT}: 50" in result["REPORT"]


def test_points_in_degrees_are_refused_with_a_way_out(run_alg, tmp_path):
    with pytest.raises(QgsProcessingException, match="projected CRS"):
        run_alg(
            ALG, {"INPUT": point_layer([-0.1, -0.09], [51.5, 51.51], "EPSG:4326"), "OUTPUT": str(tmp_path / "x.gpkg")}
        )


def test_own_polygons_without_a_layer_are_refused(run_alg, tmp_path):
    with pytest.raises(QgsProcessingException, match="My polygons"):
        run_alg(ALG, {"INPUT": point_layer([0.0, 10.0], [0.0, 10.0]), "CELLS": 2, "OUTPUT": str(tmp_path / "x.gpkg")})


def test_output_style_has_the_seven_arcgis_classes(run_alg, tmp_path):
    out = tmp_path / "s.gpkg"
    run_alg(ALG, {"INPUT": point_layer(REF["city_px"], REF["city_py"]), "CELL_SIZE": 100, "OUTPUT": str(out)})
    layer = QgsVectorLayer(str(out), "s", "ogr")
    hotspot_cells.style_bins(layer)
    renderer = layer.renderer()
    assert isinstance(renderer, QgsCategorizedSymbolRenderer) and renderer.classAttribute() == "gi_bin"
    cats = {c.value(): (c.label(), c.symbol().color().name()) for c in renderer.categories()}
    assert cats[3] == ("Hot spot, 99 % confidence", "#d62f27")
    assert cats[-3] == ("Cold spot, 99 % confidence", "#4575b5")
    assert cats[0][0] == "Not significant"
    assert sorted(cats) == [-3, -2, -1, 0, 1, 2, 3]


def test_a_band_too_narrow_for_any_neighbour_is_refused(run_alg, tmp_path):
    x, y = REF["city_px"], REF["city_py"]
    with pytest.raises(QgsProcessingException, match="widen the band"):
        run_alg(ALG, {"INPUT": point_layer(x, y), "CELL_SIZE": 100, "DISTANCE": 50, "OUTPUT": str(tmp_path / "n.gpkg")})


def test_a_cancelled_run_writes_no_output(run_alg, tmp_path):
    from qgis.core import QgsProcessingFeedback

    feedback = QgsProcessingFeedback()
    feedback.cancel()
    out = tmp_path / "cancelled.gpkg"
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        run_alg(ALG, {"INPUT": point_layer(REF["city_px"], REF["city_py"]), "OUTPUT": str(out)}, feedback=feedback)
    assert not out.exists()


@pytest.mark.parametrize("cells", [0, 1, 2], ids=["square", "hexagon", "wards"])
def test_geopackage_output_equals_the_memory_output_and_is_indexed(run_alg, tmp_path, cells):
    import sqlite3

    from qgis.core import QgsVectorLayer

    wards = tmp_path / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", wards)
    params = {"INPUT": point_layer(REF["city_px"], REF["city_py"]), "CELLS": cells, "CELL_SIZE": 150}
    if cells == 2:
        params["POLYGONS"] = f"{wards}|layername=wards"
    out = tmp_path / "cells.gpkg"
    on_disk = QgsVectorLayer(run_alg(ALG, {**params, "OUTPUT": str(out)})["OUTPUT"], "disk", "ogr")
    in_memory = run_alg(ALG, {**params, "OUTPUT": "TEMPORARY_OUTPUT"})["OUTPUT"]
    assert on_disk.featureCount() == in_memory.featureCount() > 0
    assert on_disk.wkbType() == in_memory.wkbType()
    # The GeoPackage adds its own row id first; the wards' own fid (a source feature id) stays a field.
    assert on_disk.dataProvider().pkAttributeIndexes() == [0]
    assert on_disk.fields().names()[1:] == in_memory.fields().names()
    if cells == 2:  # the wards' own fields keep their types
        assert [on_disk.fields().field(n).type() for n in ("WD24CD", "BNG_E", "LAT")] == [
            in_memory.fields().field(n).type() for n in ("WD24CD", "BNG_E", "LAT")
        ]
    for a, b in zip(on_disk.getFeatures(), in_memory.getFeatures()):
        assert a.attributes()[1:] == b.attributes()
        assert a.geometry().equals(b.geometry())
    db = sqlite3.connect(str(out))
    assert db.execute("SELECT rtreecheck('rtree_cells_geom')").fetchone()[0] == "ok"
    # Every cell is found by a window over its own box, through the index.
    for feature in list(on_disk.getFeatures())[:50]:
        box = feature.geometry().boundingBox()
        found = {
            r[0]
            for r in db.execute(
                "SELECT id FROM rtree_cells_geom WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
                (box.xMinimum(), box.xMaximum(), box.yMinimum(), box.yMaximum()),
            )
        }
        assert feature.id() in found


def test_polygons_with_gaps_in_their_feature_ids_are_written_whole(run_alg, tmp_path):
    from qgis.core import QgsVectorLayer

    wards = tmp_path / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", wards)
    # Every third ward: the source's feature ids (3, 6, 9 …) are not the output's row numbers.
    some = QgsVectorLayer(f"{wards}|layername=wards", "some wards", "ogr")
    some.setSubsetString("fid % 3 = 0")
    expected = some.featureCount()
    result = run_alg(
        ALG,
        {
            "INPUT": point_layer(REF["city_px"], REF["city_py"]),
            "CELLS": 2,
            "POLYGONS": some,
            "DISTANCE": 20000,
            "OUTPUT": str(tmp_path / "some.gpkg"),
        },
    )
    out = QgsVectorLayer(result["OUTPUT"], "out", "ogr")
    assert out.featureCount() == expected
    assert sorted(f["fid"] for f in out.getFeatures()) == sorted(f.id() for f in some.getFeatures())


def test_a_crime_on_the_study_areas_edge_is_counted(run_alg, tmp_path):
    # The triangle's three corners and the midpoint of its south edge (exactly on it), two crimes inside, one out.
    edge = [(530500.0, 180200.0), (534000.0, 180600.0), (531500.0, 182800.0), (532250.0, 180400.0)]
    inside = [(531500.0, 181000.0), (532000.0, 181200.0)]
    outside = [(535000.0, 180000.0)]
    x, y = zip(*(edge + inside + outside))
    result = run_alg(
        ALG,
        {
            "INPUT": point_layer(x, y),
            "STUDY_AREA": polygon_layer([TRIANGLE]),
            "CELL_SIZE": 200,
            "OUTPUT": str(tmp_path / "edge.gpkg"),
        },
    )
    assert result["POINTS_COUNTED"] == 6 and result["POINTS_LEFT_OUT"] == 1
    assert f"{crime_points.OUTSIDE_STUDY_AREA}: 1" in result["REPORT"]
    _, got = read_cells(tmp_path / "edge.gpkg")
    assert sum(got["crimes"]) == 6


def multipoint_layer(where: str, path, x, y, months) -> object:
    """Return 100 multipoint features of 3 parts each (a file layer or a memory layer), month by feature."""
    from osgeo import ogr, osr

    groups = [list(zip(x[k * 3 : k * 3 + 3], y[k * 3 : k * 3 + 3])) for k in range(len(x) // 3)]
    wkts = ["MULTIPOINT (" + ", ".join(f"({px!r} {py!r})" for px, py in g) + ")" for g in groups]
    if where == "memory":
        layer = QgsVectorLayer("MultiPoint?crs=EPSG:27700&field=month:string", "multi", "memory")
        features = []
        for wkt, month in zip(wkts, months):
            f = QgsFeature(layer.fields())
            f.setGeometry(QgsGeometry.fromWkt(wkt))
            f.setAttributes([month])
            features.append(f)
        layer.dataProvider().addFeatures(features)
        return layer
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    layer = ds.CreateLayer("multi", srs, ogr.wkbMultiPoint)
    layer.CreateField(ogr.FieldDefn("month", ogr.OFTString))
    for wkt, month in zip(wkts, months):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        f.SetField("month", month)
        layer.CreateFeature(f)
    ds = None
    return f"{path}|layername=multi"


@pytest.mark.parametrize("where", ["file", "memory"])
def test_every_part_of_a_multipoint_is_a_crime_in_every_algorithm(run_alg, tmp_path, where):
    from collections import Counter

    x, y = REF["city_px"][:300].tolist(), REF["city_py"][:300].tolist()
    months = [("2024-10", "2024-11", "2024-12")[k % 3] for k in range(100)]
    layer = multipoint_layer(where, tmp_path / "multi.gpkg", x, y, months)
    gi = run_alg(ALG, {"INPUT": layer, "CELL_SIZE": 100, "OUTPUT": str(tmp_path / "gi.gpkg")})
    assert gi["POINTS_READ"] == gi["POINTS_COUNTED"] == 300 and gi["POINTS_LEFT_OUT"] == 0
    assert "100 multipoint feature(s) gave 300 crime points" in gi["REPORT"]
    _, got = read_cells(tmp_path / "gi.gpkg")
    by_hand = Counter(f"s100_{math.floor(px / 100)}_{math.floor(py / 100)}" for px, py in zip(x, y))
    assert {c: n for c, n in zip(got["cell_id"], got["crimes"]) if n} == dict(by_hand)
    em = run_alg(
        "crimemapping:emerginghotspots", {"INPUT": layer, "CELL_SIZE": 100, "OUTPUT": str(tmp_path / "em.gpkg")}
    )
    assert em["POINTS_READ"] == em["POINTS_COUNTED"] == 300 and em["SLICES"] == 3
    density = run_alg("crimemapping:hotspotdensity", {"INPUT": layer, "OUTPUT": str(tmp_path / "d.tif")})
    assert density["CRIMES"] == 300


def ward_copy(wards_uri: str, reverse: bool) -> QgsVectorLayer:
    """Return the bundled wards as a memory layer, in file order or reversed."""
    return memory_copy(wards_uri, reverse, "wards")


def crimes_and_ward_vertices(crimes: str, wards: QgsVectorLayer, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Return the real crimes plus n ward vertices, points that lie on the boundary of two wards or more."""
    xs, ys = [], []
    for f in QgsVectorLayer(crimes, "c", "ogr").getFeatures():
        p = f.geometry().asPoint()
        xs.append(p.x())
        ys.append(p.y())
    vx, vy = [], []
    for f in wards.getFeatures():
        for v in f.geometry().vertices():
            vx.append(v.x())
            vy.append(v.y())
    pick = np.random.default_rng(7).choice(len(vx), size=n, replace=False)
    return np.r_[xs, np.array(vx)[pick]], np.r_[ys, np.array(vy)[pick]]


def counts_by_geos(wards: QgsVectorLayer, x, y, first_of) -> tuple[dict, int]:
    """Count each point in the ward that QGIS's GEOS 'intersects' finds (closed), the first by first_of if several."""
    from qgis.core import QgsSpatialIndex

    geoms = {f.id(): (f["WD24CD"], f.geometry()) for f in wards.getFeatures()}
    index = QgsSpatialIndex(wards.getFeatures())
    counts: dict = {}
    several = 0
    for px, py in zip(x.tolist(), y.tolist()):
        point = QgsGeometry.fromPointXY(QgsPointXY(px, py))
        hits = [geoms[i][0] for i in index.intersects(QgsRectangle(px, py, px, py)) if geoms[i][1].intersects(point)]
        several += len(hits) > 1
        if hits:
            code = min(hits, key=first_of)
            counts[code] = counts.get(code, 0) + 1
    return counts, several


@pytest.mark.parametrize("code_field", ["WD24CD", None], ids=["by code", "by centroid"])
def test_reversing_the_ward_file_changes_no_count_and_no_z(run_alg, tmp_path, wards_uri, crimes, code_field):
    forward, backward = ward_copy(wards_uri, False), ward_copy(wards_uri, True)
    x, y = crimes_and_ward_vertices(crimes, forward)
    points = point_layer(x, y)
    got = {}
    for name, wards in (("forward", forward), ("backward", backward)):
        params = {"INPUT": points, "CELLS": 2, "POLYGONS": wards, "NEIGHBOURHOOD": 1, "NEIGHBOURS_K": 8}
        if code_field:
            params["POLYGON_ID_FIELD"] = code_field
        out = tmp_path / f"{name}.gpkg"
        run_alg(ALG, {**params, "OUTPUT": str(out)})
        _, cols = read_cells(out)
        got[name] = {c: (n, z) for c, n, z in zip(cols["WD24CD"], cols["crimes"], cols["gi_z"])}
    assert got["forward"] == got["backward"]
    # The counts by the rule, through GEOS: boundary points inside; several wards: lowest code, else first centroid.
    if code_field:
        first_of = str
    else:
        centroid = {f["WD24CD"]: f.geometry().centroid().asPoint() for f in forward.getFeatures()}
        first_of = lambda c: (centroid[c].x(), centroid[c].y())  # noqa: E731
    expected, several = counts_by_geos(forward, x, y, first_of)
    assert several > 300  # most ward vertices lie on a shared boundary: the test exercises the rule
    assert {c: n for c, (n, _) in got["forward"].items() if n} == expected
