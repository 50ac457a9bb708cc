"""core.postgis_writer against a real server: awkward text, numbers, polygons and tables without geometry
come back as they were sent (read back with OGR), and the GeoPackage writer given the same rows agrees."""

from __future__ import annotations

import numpy as np
import pytest
from osgeo import ogr, osr

from crime_mapping_plugin.core.gpkg import GeoPackageWriter
from crime_mapping_plugin.core.postgis_writer import PostgisError, PostgisWriter

FIELDS = [("name", "string"), ("day", "date"), ("n", "integer"), ("big", "integer64"), ("value", "double")]
TEXTS = ["plain", 'a "quote"', "it's", "back\\slash", "{braces},commas", None, "Café – ünïcode", "sep\x1fand\x1e", ""]


def rows():
    n = len(TEXTS)
    return (
        {
            "name": list(TEXTS),
            "day": ["2024-10-01", None, "2024-12-31", "", "2011-05-01", "2024-02-29", None, "2020-01-01", "2019-07-15"],
            "n": [1, -2, None, 3, 0, 2**31 - 1, 5, 6, 7],
            "big": [2**40, None, 1, 2, 3, 4, 5, 6, -(2**40)],
            "value": [0.1, float("nan"), None, 1e-300, -2.5, 3.0, 5.5, 7.25, 1 / 3],
        },
        np.arange(n) * 10.5 + 530000,
        np.arange(n) * -3.25 + 180000,
    )


def read(source, name):
    ds = ogr.Open(source)
    layer = ds.GetLayerByName(name)
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    types = [defn.GetFieldDefn(i).GetTypeName() for i in range(defn.GetFieldCount())]
    out = []
    for f in layer:
        g = f.GetGeometryRef()
        out.append((f.GetFID(), g.ExportToWkt() if g else None, *(f.GetField(n) for n in names)))
    return names, types, sorted(out)


def bng():
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    return srs.ExportToWkt()


def test_values_come_back_as_sent_and_as_the_geopackage_holds_them(postgis_db, tmp_path):
    columns, x, y = rows()
    located = np.ones(len(x), bool)
    located[2] = False
    pg = PostgisWriter(postgis_db.conninfo(), "public", "awkward", FIELDS, 27700, where="test")
    pg.add(columns, x, y, located)
    pg.add(columns, x, y)  # a second batch continues the fids
    pg.commit("Title", "Abstract")
    gpkg = GeoPackageWriter(str(tmp_path / "a.gpkg"), "awkward", FIELDS, bng())
    gpkg.add(columns, x, y, located)
    gpkg.add(columns, x, y)
    gpkg.commit("Title", "Abstract")
    names, types, got = read(f"PG:{postgis_db.conninfo()} tables=awkward", "awkward")
    _, g_types, expected = read(str(tmp_path / "a.gpkg"), "awkward")
    assert types == g_types == ["String", "Date", "Integer", "Integer64", "Real"]
    # sent, by hand: the sentinel characters of the fast path fall back to the value-by-value path
    assert [r[2] for r in got[: len(TEXTS)]] == TEXTS
    assert [r[0] for r in got] == list(range(1, 2 * len(TEXTS) + 1))
    assert got[2][1] is None and got[0][1] == "POINT (530000 180000)"
    assert [r[6] for r in got[:3]] == [0.1, None, None]  # NaN is no value, as SQLite stores it
    assert got == [tuple(None if v == "" and i == 3 else v for i, v in enumerate(r)) for r in expected]


def test_polygons_and_plain_tables(postgis_db):
    square = ogr.CreateGeometryFromWkt("POLYGON ((0 0,10 0,10 10,0 10,0 0))")
    pg = PostgisWriter(postgis_db.conninfo(), "public", "areas", [("code", "string")], 27700, "polygon")
    pg.add_wkb({"code": ["A", "B"]}, [square.ExportToWkb(), None], np.zeros((2, 4)))
    pg.commit()
    assert postgis_db.psql("SELECT code, ST_Area(geom) FROM areas ORDER BY fid") == "A|100\nB|"
    plain = PostgisWriter(postgis_db.conninfo(), "public", "plain", [("k", "string"), ("v", "integer")], None)
    plain.add({"k": ["x", "y"], "v": [1, 2]})
    plain.commit()
    assert postgis_db.psql("SELECT k, v FROM plain ORDER BY fid") == "x|1\ny|2"
    assert postgis_db.psql("SELECT count(*) FROM geometry_columns WHERE f_table_name = 'plain'") == "0"


def test_a_missing_schema_and_an_unknown_srid_are_refused_before_anything_is_written(postgis_db):
    with pytest.raises(PostgisError, match="schema 'nowhere' does not exist"):
        PostgisWriter(postgis_db.conninfo(), "nowhere", "t", [("k", "string")], 27700, where="db")
    with pytest.raises(PostgisError, match="SRID 999999"):
        PostgisWriter(postgis_db.conninfo(), "public", "t", [("k", "string")], 999999, where="db")
    assert postgis_db.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '.crimemapping-%'") == "0"


def test_a_staging_table_of_a_dead_process_is_dropped_by_the_next_writer(postgis_db):
    from crime_mapping_plugin.core.gpkg import _HOST

    postgis_db.psql(f'CREATE TABLE public.".crimemapping-{_HOST}-999999999-0badf00d" (k text)')
    live = PostgisWriter(postgis_db.conninfo(), "public", "t", [("k", "string")], None)
    tables = postgis_db.psql("SELECT tablename FROM pg_tables WHERE tablename LIKE '.crimemapping-%'").splitlines()
    assert tables == [live.staging]
    live.abort()
    assert postgis_db.psql("SELECT count(*) FROM pg_tables WHERE tablename LIKE '.crimemapping-%'") == "0"
