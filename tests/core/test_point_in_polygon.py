"""Point-in-polygon counting against GEOS (through QgsGeometry) and a hand-checked boundary rule."""

from __future__ import annotations

import numpy as np

from crime_mapping_plugin.core import point_in_polygon as pip


def _edges_of(wkt: str) -> pip.Edges:
    from qgis.core import QgsGeometry

    return pip.edges_from_rings(pip.rings_from_wkb(bytes(QgsGeometry.fromWkt(wkt).asWkb())))


def test_polygons_with_holes_and_parts_agree_with_geos_for_random_points():
    from qgis.core import QgsGeometry, QgsPointXY

    wkts = [
        "MultiPolygon(((0 0, 10 0, 10 10, 0 10, 0 0), (3 3, 7 3, 7 7, 3 7, 3 3)), ((20 0, 25 0, 22 6, 20 0)))",
        "Polygon((10 0, 18 0, 18 10, 10 10, 10 0))",
        "Polygon((5 5, 6 5, 6 6, 5 6, 5 5))",  # an island inside the first polygon's hole
    ]
    polygons = [_edges_of(w) for w in wkts]
    geoms = [QgsGeometry.fromWkt(w) for w in wkts]
    rng = np.random.default_rng(7)
    x = rng.uniform(-2, 27, 4000)
    y = rng.uniform(-2, 12, 4000)
    result = pip.assign_points(x, y, polygons)
    for i in range(len(x)):
        point = QgsGeometry.fromPointXY(QgsPointXY(x[i], y[i]))
        inside = [k for k, g in enumerate(geoms) if g.contains(point)]
        assert result.polygon[i] == (inside[0] if inside else -1)
    assert result.counts.sum() + result.outside == len(x)


def test_boundary_points_go_to_the_first_polygon_once_and_are_reported():
    polygons = [
        _edges_of("Polygon((0 0, 10 0, 10 10, 0 10, 0 0))"),
        _edges_of("Polygon((10 0, 20 0, 20 10, 10 10, 10 0))"),
    ]
    # On the shared edge, at a shared corner, on an outer edge, inside the second, outside; one point three times.
    x = np.array([10.0, 10.0, 0.0, 15.0, 30.0, 10.0, 10.0])
    y = np.array([5.0, 10.0, 4.0, 5.0, 5.0, 5.0, 5.0])
    result = pip.assign_points(x, y, polygons)
    assert result.polygon.tolist() == [0, 0, 0, 1, -1, 0, 0]
    assert result.counts.tolist() == [5, 1] and result.outside == 1
    assert result.on_boundary == 5 and result.in_several == 4
    assert result.distinct_points == 5


def test_z_and_big_endian_wkb_rings_are_read():
    import struct

    ring = [(0.0, 0.0, 1.0), (4.0, 0.0, 1.0), (4.0, 4.0, 1.0), (0.0, 0.0, 1.0)]
    body = (
        struct.pack(">BII", 0, 1003, 1) + struct.pack(">I", len(ring)) + b"".join(struct.pack(">ddd", *p) for p in ring)
    )
    rings = pip.rings_from_wkb(body)
    assert len(rings) == 1 and rings[0].tolist() == [[0, 0], [4, 0], [4, 4], [0, 0]]


def _same(a: pip.Assignment, b: pip.Assignment) -> bool:
    return (
        np.array_equal(a.polygon, b.polygon)
        and np.array_equal(a.counts, b.counts)
        and (a.outside, a.on_boundary, a.in_several, a.distinct_points)
        == (b.outside, b.on_boundary, b.in_several, b.distinct_points)
    )


def test_the_grid_decides_what_the_edges_decide_with_holes_islands_overlaps_and_boundary_points(monkeypatch):
    """The rasterised shortcut (_grid_decides) against the edge test alone, on hostile shapes and points."""
    from qgis.core import QgsGeometry

    monkeypatch.setattr(pip, "_GRID_POINTS", 0)
    monkeypatch.setattr(pip, "_GRID_SIDE", 64)  # coarse cells: many points decided, many near an edge
    wkts = [
        "MultiPolygon(((0 0, 10 0, 10 10, 0 10, 0 0), (3 3, 7 3, 7 7, 3 7, 3 3)), ((20 0, 25 0, 22 6, 20 0)))",
        "Polygon((10 0, 18 0, 18 10, 10 10, 10 0))",  # shares an edge with the first
        "Polygon((5 5, 6 5, 6 6, 5 6, 5 5))",  # an island inside the first polygon's hole
        "Polygon((14 2, 24 2, 24 8, 14 8, 14 2))",  # overlaps the second and the triangle
        "Polygon((0 -5, 0 -1, 4 -5, 4 -1, 0 -5))",  # a bow tie: self-intersecting
    ]
    shapes = [bytes(QgsGeometry.fromWkt(w).asWkb()) for w in wkts]
    polygons = [pip.edges_from_rings(pip.rings_from_wkb(s)) for s in shapes]
    rng = np.random.default_rng(29)
    x, y = rng.uniform(-2, 27, 60_000), rng.uniform(-7, 12, 60_000)
    vx = np.concatenate([e.x1 for e in polygons])
    vy = np.concatenate([e.y1 for e in polygons])
    mx = np.concatenate([(e.x1 + e.x2) / 2 for e in polygons])
    my = np.concatenate([(e.y1 + e.y2) / 2 for e in polygons])
    x, y = np.concatenate([x, vx, mx, np.round(x[:2000])]), np.concatenate([y, vy, my, np.round(y[:2000])])
    by_edges = pip.assign_points(x, y, polygons)
    by_grid = pip.assign_points(x, y, polygons, shapes=shapes)
    assert by_edges.on_boundary > 0 and by_edges.in_several > 0 and _same(by_grid, by_edges)


def test_the_grid_decides_what_the_edges_decide_on_london_wards(monkeypatch):
    """Real wards (the bundled 2024 set), distinct points and points on their vertices and edges."""
    from osgeo import ogr

    from tests.conftest import ROOT

    monkeypatch.setattr(pip, "_GRID_POINTS", 0)
    source = ogr.Open(str(ROOT / "sample_data" / "boundaries" / "london_wards_2024.gpkg"))
    shapes = [bytes(f.GetGeometryRef().ExportToIsoWkb()) for f in source.GetLayer(0)]
    polygons = [pip.edges_from_rings(pip.rings_from_wkb(s)) for s in shapes]
    rng = np.random.default_rng(31)
    x, y = rng.uniform(503_000, 562_000, 150_000), rng.uniform(155_000, 201_000, 150_000)
    vx = np.concatenate([e.x1 for e in polygons])[::7]
    vy = np.concatenate([e.y1 for e in polygons])[::7]
    mx = np.concatenate([(e.x1 + e.x2) / 2 for e in polygons])[::7]
    my = np.concatenate([(e.y1 + e.y2) / 2 for e in polygons])[::7]
    x, y = np.concatenate([x, vx, mx]), np.concatenate([y, vy, my])
    by_edges = pip.assign_points(x, y, polygons)
    by_grid = pip.assign_points(x, y, polygons, shapes=shapes)
    assert by_edges.on_boundary > 1000 and _same(by_grid, by_edges)


def test_a_shape_gdal_cannot_read_leaves_every_point_to_the_edge_test(monkeypatch):
    from qgis.core import QgsGeometry

    monkeypatch.setattr(pip, "_GRID_POINTS", 0)
    shapes = [bytes(QgsGeometry.fromWkt("Polygon((0 0, 10 0, 10 10, 0 10, 0 0))").asWkb())]
    polygons = [pip.edges_from_rings(pip.rings_from_wkb(shapes[0]))]
    x, y = np.random.default_rng(3).uniform(-5, 15, (2, 5000))
    decided, _ = pip._grid_decides(x, y, polygons, [b"\x01\x03\x00"])
    assert not decided.any()
    assert _same(pip.assign_points(x, y, polygons, shapes=[b"\x01\x03\x00"]), pip.assign_points(x, y, polygons))
