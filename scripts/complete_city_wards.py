"""Add the 20 City of London wards missing from the bundled 2024 ward layer, from the London Datastore 2018 wards.

Run once by a maintainer (see sample_data/README.md); the plugin never reads the 2018 file. The City's 25 ward
codes (E05009288 to E05009312) are unchanged since 2013, so the 2018 polygons carry the right codes. The 2024
wards already in the layer win wherever a 2018 polygon overlaps them; the part of the City that no ward then
covers (slivers between the two generalisations) goes to the added ward it shares the longest edge with, so the
City has no hole. BNG_E/BNG_N/LONG/LAT of an added ward are a point on its surface.

    python scripts/complete_city_wards.py <2018 London_Ward.tab> sample_data/boundaries/london_wards_2024.gpkg
"""

from __future__ import annotations

import sys

CITY = "E09000001"
SLIVER_REACH = 40.0  # metres beyond the 2018 City outline in which uncovered slivers are given to a City ward


def main(tab: str, gpkg: str) -> None:
    """Append the missing City wards to the layer `wards` of the GeoPackage."""
    from qgis.core import (
        QgsApplication,
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsGeometry,
        QgsProject,
        QgsVectorLayer,
        QgsWkbTypes,
    )

    app = QgsApplication([], False)
    app.initQgis()
    wards = QgsVectorLayer(f"{gpkg}|layername=wards", "wards", "ogr")
    old = QgsVectorLayer(tab, "2018", "ogr")
    have = {f["WD24CD"] for f in wards.getFeatures()}
    covered = QgsGeometry.unaryUnion([f.geometry() for f in wards.getFeatures()])
    city = [f for f in old.getFeatures() if f["LAGSSCODE"] == CITY]
    missing = sorted((f for f in city if f["GSS_CODE"] not in have), key=lambda f: f["GSS_CODE"])
    pieces = {f["GSS_CODE"]: f.geometry().makeValid().difference(covered) for f in missing}
    outline = QgsGeometry.unaryUnion([f.geometry() for f in city]).buffer(SLIVER_REACH, 8)
    rest = outline.difference(covered).difference(QgsGeometry.unaryUnion(list(pieces.values())))
    for part in rest.asGeometryCollection():
        if part.type() != QgsWkbTypes.PolygonGeometry:
            continue
        shared = {code: part.buffer(0.5, 4).intersection(g.buffer(0.5, 4)).area() for code, g in pieces.items()}
        code = max(shared, key=shared.get)
        if shared[code] > 0:
            pieces[code] = pieces[code].combine(part)
    to_wgs84 = QgsCoordinateTransform(
        wards.crs(), QgsCoordinateReferenceSystem("EPSG:4326"), QgsProject.instance().transformContext()
    )
    features = []
    for f in missing:
        geometry = pieces[f["GSS_CODE"]]
        # Differences can leave lines and points where edges touch: keep the polygons only.
        geometry.convertGeometryCollectionToSubclass(QgsWkbTypes.PolygonGeometry)
        geometry.convertToMultiType()
        if QgsWkbTypes.flatType(geometry.wkbType()) != QgsWkbTypes.MultiPolygon:
            raise SystemExit(f"{f['GSS_CODE']}: not a polygon after the cut ({geometry.wkbType()})")
        point = geometry.pointOnSurface().asPoint()
        lonlat = to_wgs84.transform(point)
        feature = QgsFeature(wards.fields())
        feature.setGeometry(geometry)
        values = {
            "WD24CD": f["GSS_CODE"],
            "WD24NM": f["NAME"],
            "WD24NMW": " ",
            "BNG_E": round(point.x()),
            "BNG_N": round(point.y()),
            "LONG": round(lonlat.x(), 5),
            "LAT": round(lonlat.y(), 5),
        }
        for name, value in values.items():
            feature[name] = value
        features.append(feature)
    ok, _ = wards.dataProvider().addFeatures(features)
    if not ok:
        raise SystemExit(f"could not add the City wards to {gpkg}")
    print(f"added {len(features)} City wards: {', '.join(f['GSS_CODE'] for f in missing)}")
    app.exitQgis()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
