"""Months and weights are read from dates and text alike; unusable rows are counted, never dropped silently."""

from __future__ import annotations

import numpy as np
from osgeo import ogr, osr

from crime_mapping_plugin.core import crime_points
from crime_mapping_plugin.core.months import analysis_period


def test_file_layer_is_read_columnwise_with_reasons(tmp_path):
    path = str(tmp_path / "p.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    layer = ds.CreateLayer("crimes", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("w", ogr.OFTReal))
    layer.CreateField(ogr.FieldDefn("month", ogr.OFTDate))
    rows = [
        ((1.0, 2.0), 2.0, (2024, 10)),
        (None, 1.0, (2024, 11)),
        ((3.0, 4.0), None, (2024, 11)),
        ((5.0, 6.0), 1.5, None),
    ]
    for point, weight, month in rows:
        f = ogr.Feature(layer.GetLayerDefn())
        if point:
            f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({point[0]} {point[1]})"))
        if weight is not None:
            f.SetField("w", weight)
        if month:
            f.SetField("month", month[0], month[1], 1, 0, 0, 0, 0)
        layer.CreateFeature(f)
    ds = None
    table = crime_points.read_ogr_table(path, "crimes", crime_points.point_columns("w", "month"), explode=True)
    pts = crime_points.crime_points_from(table, "w", "month")
    assert pts.read == 4
    assert dict(pts.left_out) == {crime_points.NO_GEOMETRY: 1, crime_points.NO_WEIGHT: 1}
    assert pts.x.tolist() == [1.0, 5.0] and pts.weight.tolist() == [2.0, 1.5]
    assert pts.month.tolist() == [2024 * 12 + 9, -1]
    assert analysis_period(pts.month).with_records == (2024 * 12 + 9,)
    assert np.array_equal(pts.y, [2.0, 6.0])


def _multipoint_layer(path: str) -> None:
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    layer = ds.CreateLayer("crimes", srs, ogr.wkbMultiPoint)
    layer.CreateField(ogr.FieldDefn("w", ogr.OFTReal))
    layer.CreateField(ogr.FieldDefn("month", ogr.OFTString))
    for i, wkt in enumerate(["MULTIPOINT ((1 2),(3 4))", "MULTIPOINT ((5 6))", None, "MULTIPOINT EMPTY"]):
        f = ogr.Feature(layer.GetLayerDefn())
        if wkt:
            f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        f.SetField("w", float(i))
        f.SetField("month", f"2024-{i + 1:02d}")
        layer.CreateFeature(f)
    ds = None


def test_bulk_and_feature_reads_agree_on_multipoints(tmp_path):
    from qgis.core import QgsVectorLayer

    path = str(tmp_path / "multi.gpkg")
    _multipoint_layer(path)
    columns = {"w": crime_points.NUMBER, "month": crime_points.MONTH}
    features = QgsVectorLayer(path, "crimes", "ogr")
    months = [2024 * 12 + m for m in range(4)]
    for explode, xs, ws, ms in (
        (False, [1.0, 5.0], [0.0, 1.0, 2.0, 3.0], months),
        (True, [1.0, 3.0, 5.0], [0.0, 0.0, 1.0, 2.0, 3.0], [months[0]] + months),
    ):
        bulk = crime_points.read_ogr_table(path, "crimes", columns, explode=explode)
        one_by_one = crime_points.read_feature_table(features.getFeatures(), columns, explode=explode)
        for table in (bulk, one_by_one):
            assert table.x[np.isfinite(table.x)].tolist() == xs
            assert int(np.isnan(table.x).sum()) == 2  # the NULL and the empty geometry
            assert table.columns["w"].tolist() == ws
            assert table.columns["month"].tolist() == ms
            assert table.multipart == 2 and table.multipart_points == 3
        assert (bulk.how, one_by_one.how) == (crime_points.IN_BULK, crime_points.BY_FEATURE)


def test_every_part_of_a_multipoint_is_a_crime_and_every_point_read_is_accounted_for(tmp_path):
    path = str(tmp_path / "multi.gpkg")
    _multipoint_layer(path)
    table = crime_points.read_ogr_table(path, "crimes", crime_points.point_columns("w", "month"), explode=True)
    pts = crime_points.crime_points_from(table, "w", "month")
    # Two parts, one part, a NULL geometry and an empty multipoint: 5 rows, 3 of them points.
    assert (pts.read, pts.counted, dict(pts.left_out)) == (5, 3, {crime_points.NO_GEOMETRY: 2})
    assert pts.multipart_note().startswith("2 multipoint feature(s) gave 3 crime points")
    pts.keep_only(pts.x > 2.0, crime_points.OUTSIDE_STUDY_AREA)
    assert pts.x.tolist() == [3.0, 5.0] and pts.weight.tolist() == [0.0, 1.0]
    assert pts.left_out[crime_points.OUTSIDE_STUDY_AREA] == 1 and pts.balanced()


def test_weights_below_zero_are_left_out_under_their_own_reason():
    # Six real BNG snap points of the City (2024-10) with harm scores: one missing, two below zero, one of 0.
    x = np.array([531494.999, 531395.37, 532207.61, 532733.06, 533190.74, 531966.02])
    y = np.array([181627.958, 181571.58, 181213.53, 181426.32, 180791.11, 181899.82])
    weight = np.array([2.0, np.nan, -1.0, 0.0, -0.5, 3.0])
    table = crime_points.PointTable(x, y, {"harm": weight})
    points = crime_points.crime_points_from(table, "harm", None)
    assert points.weights().tolist() == [2.0, 0.0, 3.0]
    assert points.left_out == {crime_points.NO_WEIGHT: 1, crime_points.NEGATIVE_WEIGHT: 2}
    assert points.balanced() and points.read == 6


# --- Points from WKB: the in-place fast path for fixed-width columns and the general one for mixed blobs ---


def _point_wkb(
    x: float, y: float, order: str = "<", gtype: int = 1, extra: tuple = (), srid: int | None = None
) -> bytes:
    """Build a WKB (or EWKB) point by hand, so expectations do not come from the code under test."""
    import struct

    blob = bytes([1 if order == "<" else 0]) + struct.pack(order + "I", gtype)
    if srid is not None:
        blob += struct.pack(order + "I", srid)
    return blob + struct.pack(order + "dd", x, y) + struct.pack(order + "d" * len(extra), *extra)


def _fixed(blobs: list[bytes]) -> np.ndarray:
    """Return blobs of one length as a fixed-width void column, as GDAL's Arrow stream gives a point column."""
    assert len({len(b) for b in blobs}) == 1
    return np.frombuffer(b"".join(blobs), dtype=f"V{len(blobs[0])}")


def _ogr_xy(blob: bytes | None) -> tuple[float, float]:
    """Return what OGR reads for one blob: x, y of a point, NaN for anything else."""
    try:
        geom = ogr.CreateGeometryFromWkb(blob) if blob else None
    except RuntimeError:
        geom = None
    if geom is None or ogr.GT_Flatten(geom.GetGeometryType()) != ogr.wkbPoint or geom.IsEmpty():
        return float("nan"), float("nan")
    return geom.GetX(), geom.GetY()


def _city_crimes_layer(path: str, driver: str = "GPKG") -> list[tuple[float, float]]:
    """Write the bundled City of London crimes of December 2024 (police.uk) as points; return their lon/lat."""
    import csv

    from tests.conftest import POLICE_UK

    with open(POLICE_UK / "2024-12" / "2024-12-city-of-london-street.csv", newline="", encoding="utf-8") as f:
        rows = [(float(r["Longitude"]), float(r["Latitude"])) for r in csv.DictReader(f) if r["Longitude"]]
    ds = ogr.GetDriverByName(driver).CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(4326)
    layer = ds.CreateLayer("crimes", srs, ogr.wkbPoint)
    layer.CreateField(ogr.FieldDefn("n", ogr.OFTInteger))
    for i, (lon, lat) in enumerate(rows):
        f = ogr.Feature(layer.GetLayerDefn())
        f.SetGeometry(ogr.CreateGeometryFromWkt(f"POINT ({lon!r} {lat!r})"))
        f.SetField("n", i)
        layer.CreateFeature(f)
    ds = None
    return rows


def _ogr_feature_points(path: str) -> tuple[np.ndarray, np.ndarray]:
    ds = ogr.Open(path)
    pts = [(g.GetX(), g.GetY()) for g in (f.GetGeometryRef() for f in ds.GetLayer(0))]
    return np.array([p[0] for p in pts]), np.array([p[1] for p in pts])


def test_real_points_read_in_bulk_match_ogr_feature_by_feature(tmp_path):
    for driver, name in (("GPKG", "city.gpkg"), ("ESRI Shapefile", "city.shp")):
        path = str(tmp_path / name)
        rows = _city_crimes_layer(path, driver)
        assert len(rows) > 600
        table = crime_points.read_ogr_table(path, None, {})
        assert table.how == crime_points.IN_BULK
        ox, oy = _ogr_feature_points(path)
        # Bit for bit: the coordinates are copied, never recomputed.
        assert np.array_equal(table.x, ox) and np.array_equal(table.y, oy), driver
        assert np.array_equal(table.x, [r[0] for r in rows]) and np.array_equal(table.y, [r[1] for r in rows])


def test_fixed_width_column_in_place_agrees_with_the_general_path_on_real_blobs(tmp_path):
    path = str(tmp_path / "city.gpkg")
    _city_crimes_layer(path)
    ds = ogr.Open(path)  # kept open while its layer is read
    blobs = [f.GetGeometryRef().ExportToIsoWkb() for f in ds.GetLayer(0)]
    ds = None
    fixed = _fixed(blobs)  # what GDAL's Arrow stream hands over for a point layer
    general = np.array(blobs + [None], dtype=object)[:-1]  # an object column: the per-length path
    assert fixed.dtype.kind == "V" and general.dtype == object
    fx, fy, fother = crime_points._wkb_points(fixed)
    gx, gy, gother = crime_points._wkb_points(general)
    expected = np.array([_ogr_xy(b) for b in blobs])
    assert np.array_equal(fx, expected[:, 0]) and np.array_equal(fy, expected[:, 1])
    assert np.array_equal(gx, fx) and np.array_equal(gy, fy)
    assert len(fother) == 0 and len(gother) == 0


def test_hostile_blobs_are_read_as_ogr_reads_them_on_every_path():
    multipoint = ogr.CreateGeometryFromWkt("MULTIPOINT ((1 2),(3 4))").ExportToIsoWkb()
    blobs = [
        _point_wkb(1.5, 2.5),  # little endian 2D
        _point_wkb(3.5, -4.5, ">"),  # big endian 2D
        _point_wkb(5.0, 6.0, gtype=1001, extra=(7.0,)),  # ISO Z
        _point_wkb(5.5, 6.5, ">", gtype=2001, extra=(7.0,)),  # ISO M, big endian
        _point_wkb(8.0, 9.0, gtype=3001, extra=(7.0, 1.0)),  # ISO ZM
        _point_wkb(10.0, 11.0, gtype=0x80000001, extra=(7.0,)),  # EWKB Z
        _point_wkb(12.0, 13.0, ">", gtype=0x40000001, extra=(7.0,)),  # EWKB M, big endian
        ogr.CreateGeometryFromWkt("POINT EMPTY").ExportToIsoWkb(),  # NaN, NaN
        multipoint,
        ogr.CreateGeometryFromWkt("MULTIPOINT EMPTY").ExportToIsoWkb(),  # 9 bytes
        ogr.CreateGeometryFromWkt("LINESTRING (1 2, 3 4)").ExportToIsoWkb(),
        _point_wkb(1.0, 2.0, gtype=2),  # a point's length, a linestring's type
        b"\x07" * 21,  # neither byte order
        b"\x01\x02",  # too short to be anything
        b"",
        None,
    ]
    x, y, other = crime_points._wkb_points(np.array(blobs, dtype=object))
    expected = np.array([_ogr_xy(b) for b in blobs])
    assert np.array_equal(x, expected[:, 0], equal_nan=True) and np.array_equal(y, expected[:, 1], equal_nan=True)
    assert x[:7].tolist() == [1.5, 3.5, 5.0, 5.5, 8.0, 10.0, 12.0]  # OGR read them all as points
    # The rows OGR is asked about afterwards (multipoints and other geometries), not garbage or empty rows.
    assert other.tolist() == [8, 9, 10, 11]


def test_fixed_width_columns_of_every_byte_order_mix_agree_with_ogr():
    columns = [
        [_point_wkb(1.0, 2.0), _point_wkb(3.0, 4.0)],  # all little endian 2D: the two-pass path
        [_point_wkb(1.0, 2.0, ">"), _point_wkb(3.0, 4.0, ">")],  # all big endian
        [_point_wkb(1.0, 2.0), _point_wkb(3.0, 4.0, ">"), _point_wkb(5.0, 6.0, gtype=2), b"\x05" * 21],
        [_point_wkb(1.0, 2.0, gtype=1001, extra=(3.0,)), _point_wkb(4.0, 5.0, ">", gtype=0x80000001, extra=(6.0,))],
    ]
    for blobs in columns:
        fixed = _fixed(blobs)
        x, y, other = crime_points._wkb_points(fixed)
        expected = np.array([_ogr_xy(b) for b in blobs])
        assert np.array_equal(x, expected[:, 0], equal_nan=True) and np.array_equal(y, expected[:, 1], equal_nan=True)
        gx, gy, gother = crime_points._wkb_points(np.array(blobs + [None], dtype=object)[:-1])
        assert np.array_equal(gx, x, equal_nan=True) and np.array_equal(gy, y, equal_nan=True)
        assert other.tolist() == gother.tolist() == [i for i, b in enumerate(blobs) if b[1:5] == b"\x02\x00\x00\x00"]
    short = _fixed([b"\x01" * 9, b"\x01" * 9])  # every row too short for a point
    x, y, other = crime_points._wkb_points(short)
    assert np.isnan(x).all() and np.isnan(y).all() and other.tolist() == [0, 1]


def test_ewkb_points_with_an_srid_are_read_after_the_srid():
    # PostGIS's EWKB puts a 4-byte SRID after the type when the 0x20000000 flag is set: x and y come after it.
    blobs = [
        _point_wkb(530000.25, 180000.75, srid=27700, gtype=0x20000001),
        _point_wkb(-0.1, 51.5, ">", srid=4326, gtype=0x20000001),
    ]
    for column in (_fixed(blobs), np.array(blobs + [None], dtype=object)[:-1]):
        x, y, other = crime_points._wkb_points(column)
        assert x.tolist() == [530000.25, -0.1] and y.tolist() == [180000.75, 51.5] and len(other) == 0
    # A blob of a 2D point's length cannot hold an SRID as well: not a point.
    x, y, other = crime_points._wkb_points(_fixed([_point_wkb(1.0, 2.0, gtype=0x20000001)[:21]]))
    assert np.isnan(x).all() and other.tolist() == [0]


def test_a_layer_of_mixed_point_kinds_is_read_as_ogr_reads_it(tmp_path):
    path = str(tmp_path / "mixed.gpkg")
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(path)
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    layer = ds.CreateLayer("crimes", srs, ogr.wkbUnknown)
    wkts = ["POINT (1 2)", "POINT Z (3 4 5)", "MULTIPOINT ((6 7),(8 9))", None, "POINT (10.5 11.5)", "POINT EMPTY"]
    for wkt in wkts:
        f = ogr.Feature(layer.GetLayerDefn())
        if wkt:
            f.SetGeometry(ogr.CreateGeometryFromWkt(wkt))
        layer.CreateFeature(f)
    ds = None
    table = crime_points.read_ogr_table(path, None, {})
    assert table.how == crime_points.IN_BULK
    assert np.array_equal(table.x, [1, 3, 6, np.nan, 10.5, np.nan], equal_nan=True)
    assert np.array_equal(table.y, [2, 4, 7, np.nan, 11.5, np.nan], equal_nan=True)
    assert table.multipart == 1 and table.multipart_points == 2


def test_a_layer_read_in_many_small_batches_reads_as_in_one(tmp_path, monkeypatch):
    # Rows are numbered across batches: a multipoint, a NULL, months and text in later batches keep their rows.
    from qgis.core import QgsVectorLayer

    path = str(tmp_path / "city.gpkg")
    _city_crimes_layer(path)
    ds = ogr.Open(path, 1)
    layer = ds.GetLayer(0)
    layer.CreateField(ogr.FieldDefn("month", ogr.OFTString))
    layer.CreateField(ogr.FieldDefn("kind", ogr.OFTString))
    for i, wkt, month, kind in (
        (5, "MULTIPOINT ((1 2),(3 4))", "2024-12", "x"),
        (9, None, None, None),
        (600, None, "x", "y"),
    ):
        f = layer.GetFeature(i + 1)
        f.SetGeometry(ogr.CreateGeometryFromWkt(wkt) if wkt else None)
        f.SetField("month", month)
        f.SetField("kind", kind)
        layer.SetFeature(f)
    ds = None
    columns = {"n": crime_points.NUMBER, "month": crime_points.MONTH, "kind": crime_points.TEXT}
    whole = crime_points.read_feature_table(QgsVectorLayer(path, "c", "ogr").getFeatures(), columns, explode=True)
    for rows in (2, 7, 65536):
        monkeypatch.setattr(crime_points, "BATCH_ROWS", rows)
        table = crime_points.read_ogr_table(path, None, columns, explode=True)
        assert table.how == crime_points.IN_BULK
        assert np.array_equal(table.x, whole.x, equal_nan=True) and np.array_equal(table.y, whole.y, equal_nan=True)
        assert table.columns["n"].tolist() == whole.columns["n"].tolist()
        assert table.columns["month"].tolist() == whole.columns["month"].tolist()
        assert table.columns["kind"] == whole.columns["kind"]
        assert (table.multipart, table.multipart_points) == (1, 2)
    assert whole.x[5:7].tolist() == [1.0, 3.0] and np.isnan(whole.x[10])  # row 5 exploded: row 9 is now 10
