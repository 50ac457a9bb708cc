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
