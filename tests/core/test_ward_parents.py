"""A ward's borough by location (core.ward_rates.parents_by_location): its point on surface, by the area rule."""

from __future__ import annotations

from qgis.core import QgsFeature, QgsField, QgsGeometry, QgsVectorLayer
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import areas
from crime_mapping_plugin.core.ward_rates import parents_by_location


def _boroughs(polygons: dict[str, str]) -> areas.Areas:
    layer = QgsVectorLayer("Polygon?crs=EPSG:27700", "boroughs", "memory")
    layer.dataProvider().addAttributes([QgsField("code", QVariant.String)])
    layer.updateFields()
    features = []
    for code, wkt in polygons.items():
        f = QgsFeature(layer.fields())
        f.setAttributes([code])
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        features.append(f)
    assert layer.dataProvider().addFeatures(features)
    return areas.read_areas(layer, None, None, "code", what="borough")


def test_a_ward_goes_to_the_borough_holding_its_point_on_surface_not_its_centroid():
    # Borough B (east, listed first) and A (west); a C-shaped ward in A wraps round a bay of B, so the
    # ward's centroid (4.08, 5) lies in B's bay while all of the ward is in A.
    boroughs = _boroughs(
        {
            "B": "POLYGON((10 0, 20 0, 20 10, 10 10, 10 8, 2 8, 2 2, 10 2, 10 0))",
            "A": "POLYGON((0 0, 10 0, 10 2, 2 2, 2 8, 10 8, 10 10, 0 10, 0 0))",
        }
    )
    c_ward = QgsGeometry.fromWkt("POLYGON((0 0, 10 0, 10 2, 2 2, 2 8, 10 8, 10 10, 0 10, 0 0))")
    centroid = c_ward.centroid()
    assert boroughs.geometries[1].contains(centroid) and boroughs.codes == ["A", "B"]  # the centroid is in B
    east = QgsGeometry.fromWkt("POLYGON((12 1, 19 1, 19 9, 12 9, 12 1))")
    outside = QgsGeometry.fromWkt("POLYGON((30 0, 31 0, 31 1, 30 1, 30 0))")
    got = parents_by_location([c_ward, east, outside, QgsGeometry()], boroughs, ["name A", "name B"])
    assert got == ["name A", "name B", None, None]
