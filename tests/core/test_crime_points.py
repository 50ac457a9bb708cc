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
