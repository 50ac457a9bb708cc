"""Every algorithm reads a PostGIS layer in bulk and gives what it gives from the same crimes in a GeoPackage.

The crimes are the bundled police.uk sample imported once into a GeoPackage, then copied into a real PostGIS
server (the session's throw-away cluster) by GDAL's own translator, keys kept: the two layers hold the same
rows, so every output must be the same, feature for feature and value for value. Areas counted in the
database (both layers in PostGIS) must give the in-plugin counts, ward by ward and month by month.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal, ogr
from qgis.core import (
    Qgis,
    QgsFeature,
    QgsFeatureRequest,
    QgsGeometry,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

from crime_mapping_plugin.core import postgis
from tests.conftest import POLICE_UK, SAMPLE

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"
POPULATION = SAMPLE / "population" / "london_lsoa21_population_census2021.csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"


class LogFeedback(QgsProcessingFeedback):
    """Feedback that keeps every line the algorithm logs."""

    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def pushInfo(self, info: str) -> None:  # noqa: N802 - QGIS API
        self.lines.append(info)
        super().pushInfo(info)

    def pushWarning(self, warning: str) -> None:  # noqa: N802 - QGIS API
        self.lines.append(warning)
        super().pushWarning(warning)

    def text(self) -> str:
        return "\n".join(self.lines)


def copy_to_postgis(cluster, path: Path | str, layer: str, table: str) -> None:
    """Copy a GeoPackage layer into a PostGIS table with GDAL's translator: names, types and keys kept."""
    done = gdal.VectorTranslate(
        "PG:" + cluster.conninfo(),
        str(path),
        layers=[layer],
        layerName=table,
        accessMode="overwrite",
        layerCreationOptions=["GEOMETRY_NAME=geom", "LAUNDER=NO", "FID=fid"],
        options=["-preserve_fid"],
    )
    assert done is not None
    done = None


def pg_layer(cluster, table: str, name: str, key: str = "fid") -> QgsVectorLayer:
    layer = QgsVectorLayer(cluster.uri(table, key=key).uri(False), name, "postgres")
    assert layer.isValid(), table
    QgsProject.instance().addMapLayer(layer)
    return layer


def gpkg_layer(path: Path | str, layer: str, name: str) -> QgsVectorLayer:
    out = QgsVectorLayer(f"{path}|layername={layer}", name, "ogr")
    assert out.isValid(), path
    QgsProject.instance().addMapLayer(out)
    return out


def features(path: str) -> list[tuple]:
    """Return every feature of a written layer: its values and its geometry as WKB, in the order written."""
    ds = ogr.Open(path.split("|")[0])
    layer = ds.GetLayer(0)
    rows = []
    for f in layer:
        g = f.GetGeometryRef()
        values = tuple(f.GetField(i) for i in range(f.GetFieldCount()))
        rows.append((values, None if g is None else bytes(g.ExportToIsoWkb())))
    return rows


@pytest.fixture(scope="module")
def crimes_gpkg(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crimes") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(path)})
    return path


@pytest.fixture(scope="module")
def wards_gpkg(tmp_path_factory) -> Path:
    copy = tmp_path_factory.mktemp("wards") / "wards.gpkg"
    shutil.copy(WARDS, copy)
    return copy


@pytest.fixture(scope="module")
def store(postgis_cluster, crimes_gpkg, wards_gpkg):
    """A database holding the sample crimes and the bundled wards, as the GeoPackages hold them."""
    from dataclasses import replace

    cluster = replace(postgis_cluster, dbname=postgis_cluster.new_database("pgread"))
    copy_to_postgis(cluster, crimes_gpkg, "crimes", "crimes")
    copy_to_postgis(cluster, wards_gpkg, "wards", "wards")
    return cluster


@pytest.fixture(scope="module")
def ward_population(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pop") / "ward_population.gpkg"

    def csv(p: Path, name: str) -> QgsVectorLayer:
        return QgsVectorLayer(f"file://{p}?type=csv&detectTypes=no&geomType=none", name, "delimitedtext")

    run_alg(
        "crimemapping:wardpopulation",
        {"LSOA_POPULATION": csv(POPULATION, "pop"), "LOOKUP": csv(LOOKUP, "lookup"), "OUTPUT": str(path)},
    )
    return path


def run_both(run_alg, tmp_path, alg: str, params: dict, gpkg_input, pg_input, key: str = "INPUT"):
    """Run alg on the GeoPackage input and on the PostGIS one; return both results and the PostGIS log.

    A parameter value ending in '{out}' names an output file, written once per run under the run's label.
    """
    results = []
    log = LogFeedback()
    for label, value in (("file", gpkg_input), ("pg", pg_input)):
        run = {**params, key: value}
        for name, v in params.items():
            if isinstance(v, str) and v.endswith("{out}"):
                run[name] = str(tmp_path / f"{label}_{v[: -len('{out}')]}")
        if "OUTPUT" not in params:
            run["OUTPUT"] = str(tmp_path / f"{label}_output.gpkg")
        results.append(run_alg(alg, run, feedback=log if label == "pg" else None))
    return results[0], results[1], log.text()


NUMBERS = {
    "crimemapping:gistarhotspots": ("POINTS_READ", "POINTS_COUNTED", "HOT_SPOTS", "COLD_SPOTS", "CELLS_ANALYSED"),
    "crimemapping:emerginghotspots": ("POINTS_READ", "POINTS_COUNTED", "CELLS_ANALYSED", "SLICES", "PERIOD"),
    "crimemapping:hotspotdensity": ("CRIMES", "CRIMES_LEFT_OUT", "HOTSPOT_COUNT", "HOTSPOT_CRIMES", "RAMP_MAXIMUM"),
}


@pytest.mark.parametrize(
    ("alg", "params"),
    [
        ("crimemapping:gistarhotspots", {"CELL_SIZE": 1000, "OUTPUT": "gistar.gpkg{out}"}),
        (
            "crimemapping:emerginghotspots",
            {"CELL_SIZE": 1000, "SLICE_MONTHS": 1, "DATE_FIELD": "month", "OUTPUT": "emerging.gpkg{out}"},
        ),
        (
            "crimemapping:hotspotdensity",
            {"CELL_SIZE": 250, "BANDWIDTH": 500, "OUTPUT": "density.tif{out}", "HOTSPOTS": "hot.gpkg{out}"},
        ),
    ],
)
def test_hot_spot_algorithms_give_the_same_outputs_from_postgis_as_from_the_geopackage(
    run_alg, store, crimes_gpkg, tmp_path, alg, params
):
    gp = gpkg_layer(crimes_gpkg, "crimes", "crimes")
    pg = pg_layer(store, "crimes", "crimes")
    a, b, log = run_both(run_alg, tmp_path, alg, dict(params), gp, pg)
    assert "in bulk by one query to PostGIS" in log and "feature by feature" not in log
    for name in NUMBERS[alg]:
        assert a[name] == b[name], name
    for name in ("OUTPUT", "HOTSPOTS"):
        if name not in params:
            continue
        assert a[name] != b[name]
        if str(a[name]).endswith(".tif"):
            ra = gdal.Open(a[name]).ReadAsArray()
            rb = gdal.Open(b[name]).ReadAsArray()
            assert np.array_equal(ra, rb)
        else:
            fa, fb = features(a[name]), features(b[name])
            assert len(fa) > 0 and fa == fb
    assert store.password not in log


def test_the_layers_subset_string_is_applied_by_the_server(run_alg, store, crimes_gpkg, tmp_path):
    subset = "\"crime_group\" = 'Violence and sexual offences' AND \"month\" >= '2024-11-01'"
    expected = int(
        store.psql(
            "SELECT count(*) FROM crimes WHERE crime_group = 'Violence and sexual offences' AND month >= '2024-11-01'"
        )
    )
    gp = gpkg_layer(crimes_gpkg, "crimes", "crimes")
    gp.setSubsetString(subset)
    pg = pg_layer(store, "crimes", "crimes")
    pg.setSubsetString(subset)
    assert 0 < expected < 16142
    a, b, log = run_both(run_alg, tmp_path, "crimemapping:gistarhotspots", {"CELL_SIZE": 1000}, gp, pg)
    assert b["POINTS_READ"] == expected == a["POINTS_READ"]
    assert "in bulk by one query to PostGIS" in log
    assert features(a["OUTPUT"]) == features(b["OUTPUT"])


def test_a_selection_and_a_feature_limit_are_sent_to_the_server_and_an_expression_reads_feature_by_feature(
    run_alg, store, crimes_gpkg, tmp_path
):
    gp = gpkg_layer(crimes_gpkg, "crimes", "crimes")
    pg = pg_layer(store, "crimes", "crimes")
    # Keys were kept in the copy: the same feature ids select the same crimes in both.
    ids = [f.id() for f in gp.getFeatures(QgsFeatureRequest().setFilterExpression("\"crime_group\" = 'Robbery'"))]
    ids += list(range(1, 3000, 7))
    gp.selectByIds(ids)
    pg.selectByIds(ids)
    assert pg.selectedFeatureCount() == gp.selectedFeatureCount() == len(set(ids))
    cases = [
        (QgsProcessingFeatureSourceDefinition(gp.id(), True), QgsProcessingFeatureSourceDefinition(pg.id(), True)),
        (
            QgsProcessingFeatureSourceDefinition(gp.id(), False, 5000),
            QgsProcessingFeatureSourceDefinition(pg.id(), False, 5000),
        ),
    ]
    expression = "\"crime_type\" = 'Burglary' AND \"location\" LIKE '%Street%'"
    expected = [len(set(ids)), 5000]
    if Qgis.QGIS_VERSION_INT >= 33200:  # QGIS 3.22 has no filter expression on a source definition
        cases.append(
            tuple(
                QgsProcessingFeatureSourceDefinition(layer.id(), False, -1, filterExpression=expression)
                for layer in (gp, pg)
            )
        )
        expected.append(
            int(store.psql("SELECT count(*) FROM crimes WHERE crime_type = 'Burglary' AND location LIKE '%Street%'"))
        )
    for (a_in, b_in), count in zip(cases, expected):
        a, b, log = run_both(run_alg, tmp_path, "crimemapping:gistarhotspots", {"CELL_SIZE": 1000}, a_in, b_in)
        assert a["POINTS_READ"] == b["POINTS_READ"] == count
        if len(expected) == 3 and count == expected[2]:
            assert "read feature by feature: its filter expression is QGIS's own" in log
        else:
            assert "in bulk by one query to PostGIS" in log
        assert features(a["OUTPUT"]) == features(b["OUTPUT"])


def test_multipoints_are_exploded_and_missing_geometries_counted_as_from_a_geopackage(postgis_db, tmp_path):
    from crime_mapping_plugin.core import crime_points

    path = tmp_path / "multi.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    srs = ogr.osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    layer = ds.CreateLayer("crimes", srs, ogr.wkbMultiPoint)
    layer.CreateField(ogr.FieldDefn("month", ogr.OFTString))
    for i, wkt in enumerate(["MULTIPOINT ((1 2),(3 4),(5 6))", "MULTIPOINT ((7 8))", None, "MULTIPOINT EMPTY"]):
        f = ogr.Feature(layer.GetLayerDefn())
        if wkt:
            f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        f.SetField("month", f"2024-{i + 1:02d}")
        layer.CreateFeature(f)
    ds = None
    copy_to_postgis(postgis_db, path, "crimes", "multi")
    pg = pg_layer(postgis_db, "multi", "multi")
    source = postgis.pg_source(pg)
    columns = {"month": crime_points.MONTH}
    bulk = crime_points.read_layer(pg, source, columns, explode=True)
    by_feature = crime_points.read_layer(pg, None, columns, explode=True)
    from_file = crime_points.read_ogr_table(str(path), "crimes", columns, explode=True)
    assert bulk.how == postgis.IN_BULK_PG and by_feature.how == crime_points.BY_FEATURE
    expected_x = [1.0, 3.0, 5.0, 7.0, np.nan, np.nan]
    for table in (bulk, by_feature, from_file):
        np.testing.assert_array_equal(table.x, expected_x)
        assert table.columns["month"].tolist() == [24288, 24288, 24288, 24289, 24290, 24291]
        assert (table.multipart, table.multipart_points) == (2, 4)
        points = crime_points.crime_points_from(table, None, "month")
        assert points.read == 6 and points.left_out == {crime_points.NO_GEOMETRY: 2}


def test_the_password_is_never_in_a_message_when_the_server_refuses(postgis_db):
    from crime_mapping_plugin.core.crime_points import BulkReadUnavailableError

    postgis_db.psql("CREATE TABLE t (fid serial PRIMARY KEY, geom geometry(Point, 27700))")
    pg = pg_layer(postgis_db, "t", "t")
    source = postgis.pg_source(pg)
    wrong = postgis.PgSource(source.connection, '"public"."no_such_table"', "geom", "fid", server=source.server)
    with pytest.raises(BulkReadUnavailableError) as err:
        wrong.read({}, True)
    assert "no_such_table" in str(err.value) and postgis_db.password not in str(err.value)
    assert postgis_db.password not in repr(source)


def test_an_authcfg_is_resolved_by_the_auth_manager(postgis_db, crimes_gpkg):
    from qgis.core import QgsApplication, QgsAuthMethodConfig

    manager = QgsApplication.authManager()
    if not manager.masterPasswordIsSet():
        assert manager.setMasterPassword("crimemapping-tests", True)
    config = QgsAuthMethodConfig("Basic")
    config.setName("crimemapping pgread test")
    config.setConfig("username", postgis_db.user)
    config.setConfig("password", postgis_db.password)
    ok, config = manager.storeAuthenticationConfig(config)
    assert ok
    copy_to_postgis(postgis_db, crimes_gpkg, "crimes", "crimes")
    uri = postgis_db.uri("crimes", key="fid", password=False, authcfg=config.id())
    assert postgis_db.password not in uri.uri(False)
    layer = QgsVectorLayer(uri.uri(False), "crimes", "postgres")
    assert layer.isValid()
    source = postgis.pg_source(layer)
    table = source.read({"crime_group": "text"}, True)
    assert len(table.x) == 16142 and table.how == postgis.IN_BULK_PG
    manager.removeAuthenticationConfig(config.id())


def _monthly_table(path: str) -> dict[tuple, object]:
    ds = ogr.Open(path)
    layer = ds.GetLayer(0)
    names = [layer.GetLayerDefn().GetFieldDefn(i).GetName() for i in range(layer.GetLayerDefn().GetFieldCount())]
    return {(f["area_code"], f["month"]): tuple(f.GetField(n) for n in names) for f in layer}


def test_trends_count_in_the_database_as_the_plugin_does_for_all_704_wards_and_every_month(
    run_alg, store, crimes_gpkg, wards_gpkg, tmp_path
):
    gw = gpkg_layer(wards_gpkg, "wards", "wards")
    gp = gpkg_layer(crimes_gpkg, "crimes", "crimes")
    pw = pg_layer(store, "wards", "wards")
    pg = pg_layer(store, "crimes", "crimes")
    results = []
    log = LogFeedback()
    for label, crimes, areas in (("file", gp, gw), ("pg", pg, pw)):
        params = {
            "CRIMES": crimes,
            "AREAS": areas,
            "AREA_CODE_FIELD": "WD24CD",
            "OUTPUT": str(tmp_path / f"{label}_areas.gpkg"),
            "TABLE": str(tmp_path / f"{label}_table.gpkg"),
        }
        results.append(run_alg("crimemapping:crimetrends", params, feedback=log if label == "pg" else None))
    a, b = results
    assert "counted into the areas by PostGIS, in one query" in log.text()
    ta, tb = _monthly_table(a["TABLE"]), _monthly_table(b["TABLE"])
    wards = {f["WD24CD"] for f in gw.getFeatures()}
    assert len(wards) == 704 and sum(code in wards for code, _ in ta) == 704 * 3
    assert ta == tb
    for name in ("CRIMES_READ", "CRIMES_COUNTED", "OUTSIDE_AREAS", "NO_LOCATION", "MONTHS"):
        assert a[name] == b[name], name
    # The counts are the hand count of the database's own crimes per ward and month (ST_Intersects, first code).
    count = store.psql(
        "SELECT count(*) FROM crimes c WHERE EXISTS (SELECT 1 FROM wards w WHERE ST_Intersects(w.geom, c.geom))"
    )
    assert a["CRIMES_COUNTED"] == int(count)


def test_ward_rates_count_in_the_database_as_the_plugin_does(
    run_alg, store, crimes_gpkg, wards_gpkg, ward_population, tmp_path
):
    gw = gpkg_layer(wards_gpkg, "wards", "wards")
    gp = gpkg_layer(crimes_gpkg, "crimes", "crimes")
    pw = pg_layer(store, "wards", "wards")
    pg = pg_layer(store, "crimes", "crimes")
    results = []
    log = LogFeedback()
    for label, crimes, wards in (("file", gp, gw), ("pg", pg, pw)):
        params = {
            "CRIMES": crimes,
            "WARDS": wards,
            "POPULATION_TABLE": str(ward_population),
            "CRIME_GROUPS": [0, 3],
            "START_MONTH": "2024-11",
            "END_MONTH": "2024-12",
            "PREV_START_MONTH": "2024-10",
            "PREV_END_MONTH": "2024-10",
            "OUTPUT": str(tmp_path / f"{label}_rates.gpkg"),
        }
        results.append(run_alg("crimemapping:wardrates", params, feedback=log if label == "pg" else None))
    a, b = results
    assert "counted into the areas by PostGIS, in one query" in log.text()
    for name in ("CRIMES_READ", "CRIMES_COUNTED", "OUTSIDE_WARDS", "ON_BOUNDARY", "LEFT_OUT_MONTHS", "LEFT_OUT_TYPES"):
        assert a[name] == b[name], name
    assert a["LEFT_OUT_TYPES"] > 0 and a["LEFT_OUT_MONTHS"] > 0
    assert features(a["OUTPUT"]) == features(b["OUTPUT"])


def _squares_and_points(cluster, tmp_path) -> tuple[QgsVectorLayer, QgsVectorLayer, dict[str, int]]:
    """Four 10 m squares meeting at (10, 10), coded so that the lowest code is not the first feature, and
    crimes inside, on shared edges, on the shared corner, on outer edges and vertices, and outside."""
    cluster.psql(
        "CREATE TABLE squares (fid serial PRIMARY KEY, code text, geom geometry(MultiPolygon, 27700));"
        "INSERT INTO squares (code, geom) VALUES "
        "('D', ST_Multi(ST_MakeEnvelope(0, 0, 10, 10, 27700))),"
        "('B', ST_Multi(ST_MakeEnvelope(10, 0, 20, 10, 27700))),"
        "('C', ST_Multi(ST_MakeEnvelope(0, 10, 10, 20, 27700))),"
        "('A', ST_Multi(ST_MakeEnvelope(10, 10, 20, 20, 27700)));"
        "CREATE TABLE points (fid serial PRIMARY KEY, month date, geom geometry(Point, 27700));"
        "INSERT INTO points (month, geom) SELECT '2024-10-01', ST_SetSRID(ST_MakePoint(x, y), 27700) FROM (VALUES "
        "(5, 5), (15, 5), (5, 15), (15, 15),"  # inside D, B, C, A
        "(10, 5), (10, 15), (5, 10), (15, 10),"  # shared edges: B|D → B, A|C → A, C|D → C, A|B → A
        "(10, 10),"  # the corner all four share → A
        "(0, 0), (20, 20), (0, 5), (20, 15), (10, 0), (10, 20),"  # outer vertices and edges: D, A, D, A, B, A
        "(30, 30), (-1, 5)) AS p(x, y);"  # outside
        "INSERT INTO points (month, geom) VALUES ('2024-10-01', NULL);"
    )
    expected = {"A": 1 + 2 + 1 + 3, "B": 1 + 1 + 1, "C": 1 + 1, "D": 1 + 2}
    return pg_layer(cluster, "squares", "squares"), pg_layer(cluster, "points", "points"), expected


def test_points_on_shared_edges_and_vertices_go_to_the_lowest_code_in_the_database_as_in_the_plugin(
    run_alg, postgis_db, tmp_path
):
    squares, points, expected = _squares_and_points(postgis_db, tmp_path)
    # The same points in a memory layer: the plugin's own counting (no database).
    memory = QgsVectorLayer("Point?crs=EPSG:27700&field=month:string", "points", "memory")
    copies = []
    for f in points.getFeatures():
        g = QgsFeature(memory.fields())
        g.setAttributes([f["month"].toString("yyyy-MM-dd") if f["month"] else None])
        g.setGeometry(QgsGeometry(f.geometry()))
        copies.append(g)
    memory.dataProvider().addFeatures(copies)
    tables = {}
    log = LogFeedback()
    for label, crimes in (("plugin", memory), ("database", points)):
        result = run_alg(
            "crimemapping:crimetrends",
            {
                "CRIMES": crimes,
                "AREAS": squares,
                "AREA_CODE_FIELD": "code",
                "OUTPUT": "TEMPORARY_OUTPUT",
                "TABLE": str(tmp_path / f"{label}.gpkg"),
            },
            feedback=log if label == "database" else None,
        )
        tables[label] = _monthly_table(result["TABLE"])
        assert result["OUTSIDE_AREAS"] == 2 and result["NO_LOCATION"] == 1 and result["CRIMES_READ"] == 18
    assert "counted into the areas by PostGIS" in log.text()
    assert tables["plugin"] == tables["database"]
    ds = ogr.Open(str(tmp_path / "database.gpkg"))
    got = {f["area_code"]: f["count"] for f in ds.GetLayer(0) if f["area_code"] in expected}
    assert got == expected


def test_areas_narrowed_by_a_selection_are_counted_by_the_plugin_saying_why(run_alg, postgis_db, tmp_path):
    squares, points, expected = _squares_and_points(postgis_db, tmp_path)
    squares.selectByExpression("\"code\" IN ('A', 'B')")
    log = LogFeedback()
    result = run_alg(
        "crimemapping:crimetrends",
        {
            "CRIMES": points,
            "AREAS": QgsProcessingFeatureSourceDefinition(squares.id(), True),
            "AREA_CODE_FIELD": "code",
            "OUTPUT": "TEMPORARY_OUTPUT",
            "TABLE": str(tmp_path / "selected.gpkg"),
        },
        feedback=log,
    )
    assert "by the plugin, not in the database: the areas are narrowed by more than their layer's filter" in log.text()
    ds = ogr.Open(str(tmp_path / "selected.gpkg"))
    got = {f["area_code"]: f["count"] for f in ds.GetLayer(0) if f["area_code"] in expected}
    # A and B had the lowest codes on their shared edges anyway: their counts are those with all four squares.
    assert got == {"A": expected["A"], "B": expected["B"]}
    assert result["OUTSIDE_AREAS"] == 2 + expected["C"] + expected["D"]


def test_crimes_where_areas_overlap_go_to_the_lowest_code_in_the_database_as_in_the_plugin(
    run_alg, postgis_db, tmp_path
):
    postgis_db.psql(
        "CREATE TABLE squares (fid serial PRIMARY KEY, code text, geom geometry(MultiPolygon, 27700));"
        "INSERT INTO squares (code, geom) VALUES ('Q', ST_Multi(ST_MakeEnvelope(5, 0, 15, 10, 27700))),"
        "('P', ST_Multi(ST_MakeEnvelope(0, 0, 10, 10, 27700))), ('R', ST_Multi(ST_MakeEnvelope(20, 0, 30, 10, 27700)));"
        "CREATE TABLE points (fid serial PRIMARY KEY, month date, geom geometry(Point, 27700));"
        "INSERT INTO points (month, geom) SELECT '2024-10-01', ST_SetSRID(ST_MakePoint(x, y), 27700) FROM (VALUES "
        "(2, 5), (7, 5), (12, 5), (5, 5), (10, 5), (25, 5), (20, 5)) AS p(x, y);"
    )
    # By hand: P only; both interiors → P; Q only; Q's edge inside P → P; P's edge inside Q → P; R; R's edge.
    expected = {"P": 4, "Q": 1, "R": 2}
    squares, points = pg_layer(postgis_db, "squares", "squares"), pg_layer(postgis_db, "points", "points")
    memory = QgsVectorLayer("Point?crs=EPSG:27700&field=month:string", "points", "memory")
    copies = []
    for f in points.getFeatures():
        g = QgsFeature(memory.fields())
        g.setAttributes(["2024-10"])
        g.setGeometry(QgsGeometry(f.geometry()))
        copies.append(g)
    memory.dataProvider().addFeatures(copies)
    got = {}
    for label, crimes in (("plugin", memory), ("database", points)):
        log = LogFeedback()
        params = {"CRIMES": crimes, "AREAS": squares, "AREA_CODE_FIELD": "code", "OUTPUT": "TEMPORARY_OUTPUT"}
        result = run_alg("crimemapping:crimetrends", {**params, "TABLE": str(tmp_path / f"{label}.gpkg")}, feedback=log)
        assert ("counted into the areas by PostGIS" in log.text()) == (label == "database")
        ds = ogr.Open(result["TABLE"])
        got[label] = {f["area_code"]: f["count"] for f in ds.GetLayer(0) if f["area_code"] in expected}
    assert got["plugin"] == got["database"] == expected
