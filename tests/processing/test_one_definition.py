"""One definition of crimes, months and areas in every algorithm (docs/methods.md §0), on the bundled real data.

For the same points, months and areas, hotspot density (its study area), Gi* (on the areas as its own
polygons) and ward rates count the same crimes in each area and report the same months, whatever the order
of the area file; multipoint features are one crime per part everywhere; three July months give one answer.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
from osgeo import gdal, ogr
from qgis.core import QgsGeometry, QgsPoint, QgsVectorLayer

from tests.conftest import POLICE_UK, SAMPLE
from tests.layers import memory_copy

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
CAMDEN = "E09000007"
JULYS = {"2024-10": "2016-07", "2024-11": "2017-07", "2024-12": "2018-07"}


@pytest.fixture(scope="module")
def crimes(run_alg, tmp_path_factory) -> str:
    """Every bundled crime (Met burglary and City of London, 2024-10..12), imported once."""
    path = tmp_path_factory.mktemp("one_definition") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(path)})
    return str(path)


@pytest.fixture(scope="module")
def julys(crimes, tmp_path_factory) -> str:
    """The same crimes, their three months relabelled as three Julys two years apart."""
    path = tmp_path_factory.mktemp("julys") / "julys.gpkg"
    shutil.copy(crimes, path)
    ds = ogr.Open(str(path), 1)
    name = ds.GetLayer(0).GetName()
    for old, new in JULYS.items():
        ds.ExecuteSQL(f"UPDATE \"{name}\" SET month = '{new}-01' WHERE month LIKE '{old}%'", dialect="SQLite")
    ds = None
    return str(path)


def camden_wards(reverse: bool) -> QgsVectorLayer:
    """Camden's 20 wards as a memory layer, in file order or reversed (codes from the bundled ONS lookup)."""
    codes = set(pd.read_csv(LOOKUP).query("LAD24CD == @CAMDEN")["WD24CD"])
    layer = memory_copy(WARDS, reverse, "camden")
    layer.dataProvider().deleteFeatures([f.id() for f in layer.getFeatures() if f["WD24CD"] not in codes])
    assert layer.featureCount() == len(codes) == 20
    return layer


def by_code(path: str | Path, code: str, value: str) -> dict[str, int]:
    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    return {f[code]: f[value] for f in layer.getFeatures()}


def test_the_same_crimes_are_in_the_same_ward_in_every_algorithm_whatever_the_file_order(run_alg, crimes, tmp_path):
    counts = {}
    for order in ("forward", "reversed"):
        wards = camden_wards(order == "reversed")
        rates = run_alg(
            "crimemapping:wardrates",
            {
                "CRIMES": crimes,
                "WARDS": wards,
                "WARD_CODE_FIELD": "WD24CD",
                "POPULATION_FIELD": "BNG_E",
                "OUTPUT": str(tmp_path / f"rates_{order}.gpkg"),
            },
        )
        gi = run_alg(
            "crimemapping:gistarhotspots",
            {
                "INPUT": crimes,
                "CELLS": 2,
                "POLYGONS": wards,
                "POLYGON_ID_FIELD": "WD24CD",
                "OUTPUT": str(tmp_path / f"gi_{order}.gpkg"),
            },
        )
        density = run_alg(
            "crimemapping:hotspotdensity",
            {
                "INPUT": crimes,
                "STUDY_AREA": wards,
                "BANDWIDTH": 400,
                "CELL_SIZE": 100,
                "OUTPUT": str(tmp_path / f"d_{order}.tif"),
            },
        )
        in_wards = by_code(tmp_path / f"rates_{order}.gpkg", "ward_code", "crimes")
        in_cells = by_code(tmp_path / f"gi_{order}.gpkg", "WD24CD", "crimes")
        assert in_wards == in_cells  # ward by ward, Gi*'s polygons hold the crimes ward rates counts
        total = sum(in_wards.values())
        assert rates["CRIMES_COUNTED"] == gi["POINTS_COUNTED"] == density["CRIMES_IN_STUDY_AREA"] == total
        counts[order] = in_wards
    assert counts["forward"] == counts["reversed"]

    # Independently: GEOS intersects (boundary points are in) of each crime with the dissolved borough.
    borough = QgsGeometry.unaryUnion([f.geometry() for f in camden_wards(False).getFeatures()])
    engine = QgsGeometry.createGeometryEngine(borough.constGet())
    engine.prepareGeometry()
    points = [f.geometry().asPoint() for f in QgsVectorLayer(crimes, "c", "ogr").getFeatures()]
    assert sum(engine.intersects(QgsPoint(p.x(), p.y())) for p in points) == sum(counts["forward"].values())


def test_three_julys_are_three_months_with_twenty_two_missing_in_every_algorithm(run_alg, julys, tmp_path):
    density = run_alg(
        "crimemapping:hotspotdensity",
        {"INPUT": julys, "BANDWIDTH": 400, "CELL_SIZE": 200, "UNITS": 1, "OUTPUT": str(tmp_path / "d.tif")},
    )
    rates = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": julys, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "r.gpkg")},
    )
    emerging = run_alg(
        "crimemapping:emerginghotspots", {"INPUT": julys, "CELL_SIZE": 500, "OUTPUT": str(tmp_path / "e.gpkg")}
    )
    missing = [
        f"{y}-{m:02d}" for y in (2016, 2017, 2018) for m in range(1, 13) if "2016-07" < f"{y}-{m:02d}" < "2018-07"
    ]
    missing = [m for m in missing if not m.endswith("-07")]
    assert len(missing) == 22
    assert density["MONTHS"] == rates["MONTHS"] == emerging["SLICES"] == 3
    assert gdal.Open(str(tmp_path / "d.tif")).GetMetadata()["PERIOD"] == rates["PERIOD"] == "2016-07 to 2018-07"
    assert "2016-07 to 2018-07" in emerging["REPORT"]
    assert density["MONTHS_MISSING"].split(",") == missing
    runs = "2016-08 to 2017-06, 2017-08 to 2018-06"
    assert runs in rates["MISSING_MONTHS"] and runs in emerging["REPORT"]
    # Per month is per month with records: the ward rates' months field says 3 for every ward.
    assert set(by_code(tmp_path / "r.gpkg", "ward_code", "months").values()) == {3}


def test_a_multipoint_is_one_crime_per_part_in_every_algorithm(run_alg, crimes, tmp_path):
    layer = QgsVectorLayer(crimes, "c", "ogr")
    feats = [f for f in layer.getFeatures()][:300]
    parts = [(f.geometry().asPoint(), f["month"].toString("yyyy-MM")) for f in feats]
    path = tmp_path / "multi.gpkg"
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    from osgeo import osr

    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    out = ds.CreateLayer("multi", srs, ogr.wkbMultiPoint)
    out.CreateField(ogr.FieldDefn("month", ogr.OFTString))
    month_of = ("2024-10", "2024-11", "2024-12")
    for k in range(100):
        group = parts[3 * k : 3 * k + 3]
        f = ogr.Feature(out.GetLayerDefn())
        f.SetGeometry(
            ogr.CreateGeometryFromWkt("MULTIPOINT (" + ", ".join(f"({p.x()} {p.y()})" for p, _ in group) + ")")
        )
        f.SetField("month", month_of[k % 3])
        out.CreateFeature(f)
    ds = None
    multi = f"{path}|layername=multi"
    density = run_alg("crimemapping:hotspotdensity", {"INPUT": multi, "OUTPUT": str(tmp_path / "d.tif")})
    gi = run_alg("crimemapping:gistarhotspots", {"INPUT": multi, "CELL_SIZE": 500, "OUTPUT": str(tmp_path / "g.gpkg")})
    emerging = run_alg(
        "crimemapping:emerginghotspots", {"INPUT": multi, "CELL_SIZE": 500, "OUTPUT": str(tmp_path / "e.gpkg")}
    )
    rates = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": multi, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "r.gpkg")},
    )
    assert density["CRIMES"] == gi["POINTS_COUNTED"] == emerging["POINTS_COUNTED"] == 300
    assert rates["CRIMES_READ"] == 300 == rates["CRIMES_COUNTED"] + rates["OUTSIDE_WARDS"]
    # Each part is counted where it lies: the ward counts equal the same 300 crimes imported as plain points.
    single = tmp_path / "single.gpkg"
    ids = ",".join(str(f.id()) for f in feats)
    plain = QgsVectorLayer(crimes, "plain", "ogr")
    plain.setSubsetString(f"fid IN ({ids})")
    assert plain.featureCount() == 300
    run_alg(
        "crimemapping:wardrates",
        {"CRIMES": plain, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(single)},
    )
    assert by_code(tmp_path / "r.gpkg", "ward_code", "crimes") == by_code(single, "ward_code", "crimes")
    assert sum(by_code(single, "ward_code", "crimes").values()) == rates["CRIMES_COUNTED"] > 0
