"""The throw-away PostGIS cluster of the test session answers SQL and QGIS opens its tables."""

from __future__ import annotations

from qgis.core import QgsVectorLayer


def test_server_answers_with_postgis(postgis_db):
    version = postgis_db.psql("SELECT postgis_version()")
    assert version.split()[0].startswith("3."), version


def test_qgis_opens_a_table_through_the_postgres_provider(postgis_db):
    postgis_db.psql(
        "CREATE TABLE public.points (id serial PRIMARY KEY, name text, geom geometry(Point, 27700));"
        "INSERT INTO public.points (name, geom) VALUES "
        "('a', ST_SetSRID(ST_MakePoint(530000, 180000), 27700)), ('b', ST_SetSRID(ST_MakePoint(531000, 181000), 27700))"
    )
    layer = QgsVectorLayer(postgis_db.uri("points", key="id").uri(False), "points", "postgres")
    assert layer.isValid(), layer.error().summary()
    assert layer.featureCount() == 2
    assert layer.crs().authid() == "EPSG:27700"
    got = sorted((f["name"], f.geometry().asPoint().x(), f.geometry().asPoint().y()) for f in layer.getFeatures())
    assert got == [("a", 530000.0, 180000.0), ("b", 531000.0, 181000.0)]


def test_the_password_is_checked_over_tcp(postgis_db):
    # A wrong password must be refused: the tests of credentials rely on the server checking them.
    wrong = postgis_db.uri("spatial_ref_sys", geometry="", password=False)
    wrong.setPassword("wrong")
    layer = QgsVectorLayer(wrong.uri(False), "x", "postgres")
    assert not layer.isValid()
