"""The same crimes and residents on three ward boundary sets (2014, 2018, 2024): issue 17, on real data.

Lambeth and Southwark (tests/data/boundaries, see its SOURCE.md): Lambeth's wards did not change from 2014 to
2018, Southwark's were redrawn in 2018, and both in 2022. The expected values come from GDAL/OGR (GEOS) point
tests written here, the lookups' own sums (pandas) and the MPS table's own totals, never from the plugin.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import POLICE_UK, SAMPLE, TEST_DATA
from tests.processing.test_ward_rates import _csv_layer, _read

SETS = TEST_DATA / "boundaries"
GPKG = SETS / "boundary_sets.gpkg"
CENSUS = SAMPLE / "population" / "london_lsoa21_population_census2021.csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
MID2019 = SETS / "lsoa11_population_mid2019.csv"
EXACT_FIT = SETS / "lsoa11_to_lsoa21_exact_fit.csv"
MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"
LAMBETH, SOUTHWARK = "E09000022", "E09000028"
# layer: (ward code field, borough code field; the 2024 wards take theirs from the ONS lookup)
WARD_SETS = {
    "wards_2014": ("GSS_Code", "LB_GSS_Code"),
    "wards_2018": ("GSS_CODE", "LAGSSCODE"),
    "wards_2024": ("WD24CD", None),
}


def _layer(name: str) -> str:
    return f"{GPKG}|layername={name}"


def _ward_borough() -> dict[str, str]:
    """Return the borough of every ward of the three sets (the 2024 ones by the ONS lookup)."""
    from osgeo import ogr

    lookup = pd.read_csv(LOOKUP)
    out = dict(zip(lookup["WD24CD"], lookup["LAD24CD"]))
    ds = ogr.Open(str(GPKG))
    for name, (code, borough) in WARD_SETS.items():
        if borough:
            out.update({f[code]: f[borough] for f in ds.GetLayerByName(name)})
    return out


def _ogr_place(layer: str, code_field: str, xy: list[tuple[float, float]]) -> list[str | None]:
    """Place points by GEOS Intersects (boundary inside), the lowest code first: a count written for the test."""
    from osgeo import ogr

    ds = ogr.Open(str(GPKG))
    wards = sorted((f[code_field], f.GetGeometryRef().Clone()) for f in ds.GetLayerByName(layer))
    boxes = [g.GetEnvelope() for _, g in wards]
    out = []
    for x, y in xy:
        point = ogr.Geometry(ogr.wkbPoint)
        point.AddPoint_2D(x, y)
        found = None
        for (code, geom), (x0, x1, y0, y1) in zip(wards, boxes):
            if x0 <= x <= x1 and y0 <= y <= y1 and geom.Intersects(point):
                found = code
                break
        out.append(found)
    return out


def _ogr_largest_overlap(layer: str, code_field: str, lsoa: str) -> str | None:
    """Return the ward sharing the most surface with an LSOA (GEOS intersection areas), the lowest code on a tie."""
    from osgeo import ogr

    ds = ogr.Open(str(GPKG))
    lsoas = ds.GetLayerByName("lsoa_2021")
    lsoas.SetAttributeFilter(f"LSOA21CD = '{lsoa}'")
    feature = lsoas.GetNextFeature()  # kept: OGR frees a geometry with its feature
    shape = feature.GetGeometryRef()
    overlaps = []
    for f in ds.GetLayerByName(layer):
        overlaps.append((f[code_field], f.GetGeometryRef().Intersection(shape).GetArea()))
    overlaps.sort()
    best = max(overlaps, key=lambda c: c[1])  # max keeps the first (lowest code) of equal areas
    return best[0] if best[1] > 0 else None


@pytest.fixture(scope="module")
def crimes(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crimes") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(path)})
    return path


@pytest.fixture(scope="module")
def crime_xy(crimes) -> list[tuple[float, float]]:
    """The imported crimes' points near the two boroughs (BNG), read with OGR."""
    from osgeo import ogr

    ds = ogr.Open(str(crimes))
    layer = ds.GetLayer(0)
    layer.SetSpatialFilterRect(525000, 168000, 538000, 182000)
    return [(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY()) for f in layer]


@pytest.fixture(scope="module")
def populations(run_alg, tmp_path_factory) -> dict[str, tuple[dict, Path]]:
    """Census 2021 residents on each ward set, by location (each LSOA's point on surface)."""
    out = {}
    folder = tmp_path_factory.mktemp("population")
    for name, (code, _) in WARD_SETS.items():
        path = folder / f"{name}.gpkg"
        result = run_alg(
            "crimemapping:wardpopulation",
            {
                "LSOA_POPULATION": _csv_layer(CENSUS, "census2021"),
                "AREAS": _layer(name),
                "AREA_CODE_FIELD": code,
                "LSOAS": _layer("lsoa_2021"),
                "LSOAS_CODE_FIELD": "LSOA21CD",
                "POPULATION_LABEL": "Census 2021 usual residents",
                "OUTPUT": str(path),
            },
        )
        out[name] = (result, path)
    return out


def _table(path: Path) -> list[dict]:
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "t", "ogr")
    assert layer.isValid(), path
    return [{n: f[n] for n in layer.fields().names()} for f in layer.getFeatures()]


def test_residents_placed_by_location_are_the_lsoas_own_sums_per_ward_and_borough(populations):
    from osgeo import ogr

    census = pd.read_csv(CENSUS).set_index("LSOA21CD")["population"]
    lsoa_borough = pd.read_csv(LOOKUP).set_index("LSOA21CD")["LAD24CD"]
    ds = ogr.Open(str(GPKG))
    lsoas = [(f["LSOA21CD"], f.GetGeometryRef().PointOnSurface()) for f in ds.GetLayerByName("lsoa_2021")]
    assert len(lsoas) == 354
    borough_of = _ward_borough()
    for name, (code, _) in WARD_SETS.items():
        result, path = populations[name]
        got = {r["ward_code"]: r["population"] for r in _table(path)}
        places = _ogr_place(name, code, [(p.GetX(), p.GetY()) for _, p in lsoas])
        want: dict[str, float] = {}
        for (lsoa, _), ward in zip(lsoas, places):
            ward = ward or _ogr_largest_overlap(name, code, lsoa)
            want[ward] = want.get(ward, 0) + census[lsoa]
        assert None not in want, name  # every LSOA of the two boroughs is in one of their wards
        assert got == want, name
        for borough in (LAMBETH, SOUTHWARK):  # no resident lost or doubled, borough by borough
            by_wards = sum(v for k, v in got.items() if borough_of[k] == borough)
            assert by_wards == census[lsoa_borough[lsoa_borough == borough].index].sum(), (name, borough)
        assert result["LSOAS_ASSIGNED"] == 354 and result["LSOAS_OUTSIDE_AREAS"] == 0
        # One Southwark LSOA's point on surface lies where the 2024 wards' generalisation leaves a gap.
        assert ("E01004060" in result["REPORT"]) == (name == "wards_2024")
        assert result["LSOAS_NOT_IN_LOOKUP"] == 4994 - 354  # the rest of London: no LSOA polygon in the extract
        assert "point on surface" in result["BASIS"] and "Census 2021 usual residents" in result["BASIS"]
        assert name in result["BASIS"] and {r["basis"] for r in _table(path)} == {result["BASIS"]}


def test_a_2011_lsoa_population_reaches_the_2024_wards_through_the_exact_fit_lookup(run_alg, tmp_path):
    mid = pd.read_csv(MID2019)
    exact = pd.read_csv(EXACT_FIT)
    result = run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": _csv_layer(MID2019, "mid2019"),
            "LSOA_CODE_FIELD": "LSOA11CD",
            "LOOKUP": _csv_layer(LOOKUP, "lookup"),
            "VINTAGE_LOOKUP": _csv_layer(EXACT_FIT, "exact fit"),
            "OUTPUT": str(tmp_path / "p.gpkg"),
        },
    )
    got = {r["ward_code"]: r["population"] for r in _table(tmp_path / "p.gpkg")}
    # By the lookups' own rows: a 2011 LSOA's residents go in equal parts to its 2021 LSOAs, then to their ward.
    parts = exact.groupby("LSOA11CD")["LSOA21CD"].transform("count")
    rows = exact.merge(mid[["LSOA11CD", "population"]], on="LSOA11CD")
    rows["share"] = rows["population"] / rows["LSOA11CD"].map(exact.groupby("LSOA11CD").size())
    ward_of = pd.read_csv(LOOKUP).set_index("LSOA21CD")["WD24CD"]
    want = rows.assign(ward=rows["LSOA21CD"].map(ward_of)).groupby("ward")["share"].sum()
    assert set(got) == set(want.index) and len(got) == 48
    assert all(abs(got[w] - want[w]) < 1e-6 for w in want.index)
    # No resident lost or doubled, in all and per borough (the 2011 borough of each LSOA).
    assert sum(got.values()) == pytest.approx(mid["population"].sum(), abs=1e-6) == 644_864
    borough_of = pd.read_csv(LOOKUP).set_index("WD24CD")["LAD24CD"].to_dict()
    for borough in (LAMBETH, SOUTHWARK):
        total = sum(v for k, v in got.items() if borough_of[k] == borough)
        assert total == pytest.approx(mid.loc[mid["LAD11CD"] == borough, "population"].sum(), abs=1e-6)
    # S (split) LSOAs are the ones divided; M (merged) ones add up whole; London has no X in these boroughs.
    split = exact.loc[parts > 1, "LSOA11CD"].unique()
    assert set(exact.loc[parts > 1, "CHGIND"]) == {"S"}
    assert result["POPULATION_DIVIDED"] == mid.loc[mid["LSOA11CD"].isin(split), "population"].sum()
    counts = exact.drop_duplicates("LSOA11CD")["CHGIND"].value_counts().to_dict()
    assert counts == {"U": 330, "S": 10, "M": 4}
    assert "M 4, S 10, U 330" in result["REPORT"] and result["LSOAS_ASSIGNED"] == 354


@pytest.fixture(scope="module")
def rates(run_alg, crimes, populations, tmp_path_factory) -> dict[str, tuple[dict, dict]]:
    out = {}
    folder = tmp_path_factory.mktemp("rates")
    for name, (code, _) in WARD_SETS.items():
        result = run_alg(
            "crimemapping:wardrates",
            {
                "CRIMES": str(crimes),
                "WARDS": _layer(name),
                "WARD_CODE_FIELD": code,
                "WARD_NAME_FIELD": "",
                "POPULATION_TABLE": str(populations[name][1]),
                "OUTPUT": str(folder / f"{name}.gpkg"),
                "FUNNEL_PLOT": "",
            },
        )
        out[name] = (result, _read(folder / f"{name}.gpkg"))
    return out


def _outline(name: str, borough: str):
    from osgeo import ogr

    code, field = WARD_SETS[name]
    borough_of = _ward_borough()
    union = None
    ds = ogr.Open(str(GPKG))  # kept open: its layer's features need it
    for f in ds.GetLayerByName(name):
        if (f[field] if field else borough_of[f[code]]) == borough:
            g = f.GetGeometryRef().Clone()
            union = g if union is None else union.Union(g)
    return union


def test_each_borough_has_the_same_crimes_on_every_boundary_set(rates, crime_xy):
    from osgeo import ogr

    borough_of = _ward_borough()
    totals = {}
    for name, (code, _) in WARD_SETS.items():
        result, wards = rates[name]
        want: dict[str, int] = {}
        for ward in _ogr_place(name, code, crime_xy):
            if ward is not None:
                want[ward] = want.get(ward, 0) + 1
        assert {c: w["crimes"] for c, w in wards.items() if w["crimes"]} == want, name
        totals[name] = {
            b: sum(w["crimes"] for c, w in wards.items() if borough_of[c] == b) for b in (LAMBETH, SOUTHWARK)
        }
        assert "Boundaries" in result["REPORT"] and name in result["BOUNDARIES"]
        assert "Census 2021 usual residents" in result["POPULATION_BASIS"]
    # The 2014 and 2018 files (one publisher, one generalisation) give each borough exactly the same crimes.
    assert totals["wards_2014"] == totals["wards_2018"] == {LAMBETH: 537, SOUTHWARK: 678}
    # The 2024 ONS boundaries are generalised and clipped to the Thames: the difference is exactly the crimes
    # between the two outlines of the borough.
    for borough in (LAMBETH, SOUTHWARK):
        old, new = _outline("wards_2014", borough), _outline("wards_2024", borough)
        points = []
        for x, y in crime_xy:
            p = ogr.Geometry(ogr.wkbPoint)
            p.AddPoint_2D(x, y)
            points.append(p)
        left = sum(1 for p in points if old.Intersects(p) and not new.Intersects(p))
        joined = sum(1 for p in points if new.Intersects(p) and not old.Intersects(p))
        assert totals["wards_2024"][borough] == totals["wards_2014"][borough] - left + joined, borough
    assert totals["wards_2024"] == {LAMBETH: 537 - 24 + 7, SOUTHWARK: 678}


def test_a_ward_that_did_not_change_has_the_same_count_on_both_sets(rates):
    from osgeo import ogr

    ds = ogr.Open(str(GPKG))
    old = {f["GSS_Code"]: f.GetGeometryRef().Clone() for f in ds.GetLayerByName("wards_2014")}
    new = {f["GSS_CODE"]: f.GetGeometryRef().Clone() for f in ds.GetLayerByName("wards_2018")}
    # Unchanged: the same code and the same shape (the 2018 file re-digitised it: under 0.1 % of its area moved).
    unchanged = [c for c in old if c in new and old[c].SymDifference(new[c]).GetArea() < 1e-3 * old[c].GetArea()]
    assert len(unchanged) == 21  # all of Lambeth's wards, none of Southwark's
    counts14, counts18 = rates["wards_2014"][1], rates["wards_2018"][1]
    assert [counts14[c]["crimes"] for c in unchanged] == [counts18[c]["crimes"] for c in unchanged]
    assert sum(counts14[c]["crimes"] for c in unchanged) == 537
    assert [counts14[c]["population"] for c in unchanged] == [counts18[c]["population"] for c in unchanged]


@pytest.fixture(scope="module")
def mps_table(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("mps") / "mps.gpkg"
    run_alg("crimemapping:importmpswardcrime", {"INPUT": str(MPS), "OUTPUT": str(path)})
    return path


def _mps_totals() -> pd.Series:
    """Return the MPS table's own crimes per ward code: every YYYYMM column summed (blank = 0)."""
    wide = pd.read_csv(MPS, dtype=str)
    months = [c for c in wide.columns if c.isdigit() and len(c) == 6]
    values = wide[months].apply(pd.to_numeric, errors="coerce").fillna(0)
    return values.sum(axis=1).groupby(wide["WardCode"]).sum()


def _reexpress(run_alg, mps_table, out: Path, **new) -> dict:
    return run_alg(
        "crimemapping:reexpresscounts",
        {
            "COUNTS_TABLE": str(mps_table),
            "LSOA_POPULATION": _csv_layer(CENSUS, "census2021"),
            "OLD_LOOKUP": _csv_layer(LOOKUP, "lsoa21 to ward24"),
            "OUTPUT": str(out),
            "CROSSWALK": str(out.with_name(out.stem + "_crosswalk.gpkg")),
            **new,
        },
    )


def test_mps_counts_on_2014_wards_keep_each_boroughs_crimes_and_say_they_are_estimates(run_alg, mps_table, tmp_path):
    out = tmp_path / "on2014.gpkg"
    result = _reexpress(
        run_alg,
        mps_table,
        out,
        NEW_AREAS=_layer("wards_2014"),
        NEW_AREA_CODE_FIELD="GSS_Code",
        LSOAS=_layer("lsoa_2021"),
    )
    totals = _mps_totals()
    lookup = pd.read_csv(LOOKUP)
    borough_of_old = lookup.drop_duplicates("WD24CD").set_index("WD24CD")["LAD24CD"]
    rows = pd.DataFrame(_table(out))
    borough_of = _ward_borough()
    assert result["CRIMES_READ"] == totals.sum()
    # No crime lost or doubled: written + the parts outside the two boroughs = read.
    assert result["CRIMES_WRITTEN"] + result["CRIMES_OUTSIDE_NEW_AREAS"] == result["CRIMES_READ"]
    assert result["CRIMES_NOT_IN_LOOKUP"] == 0 == result["CRIMES_NO_RESIDENTS"]
    for borough in (LAMBETH, SOUTHWARK):  # wards nest in boroughs: each borough keeps its own crimes
        on_new = rows.loc[rows["ward_code"].map(borough_of) == borough, "count"].sum()
        assert on_new == totals[borough_of_old[totals.index] == borough].sum(), borough
    assert rows["count"].sum() == result["CRIMES_WRITTEN"]
    assert rows["count_share"].sum() == pytest.approx(result["CRIMES_WRITTEN"], abs=1e-6)
    assert set(rows.columns) >= {"ward_code", "month", "major_category", "minor_category", "estimated"}
    assert "ward_name" not in rows.columns  # the old ward's name says nothing of the new one
    # It says it is an estimate: per area, and in the report and the layer's description.
    assert rows["pop_share_moved"].between(0, 1).all()
    assert (rows["estimated"] == (rows["pop_share_moved"] > 0)).all()
    assert result["ESTIMATED_AREAS"] == rows.loc[rows["estimated"] == 1, "ward_code"].nunique() > 0
    assert result["REPORT"].startswith("Residents of") and "ESTIMATE" in result["REPORT"]
    walk = pd.DataFrame(_table(tmp_path / "on2014_crosswalk.gpkg"))
    shares = walk.groupby("old_code")["share"].sum()
    assert ((shares - 1).abs() < 1e-9).all()  # each old ward's residents shared out exactly once


def test_mps_counts_through_the_same_lookup_are_unchanged_and_not_estimates(run_alg, mps_table, tmp_path):
    out = tmp_path / "same.gpkg"
    result = _reexpress(run_alg, mps_table, out, NEW_LOOKUP=_csv_layer(LOOKUP, "again"), NEW_LOOKUP_AREA_FIELD="WD24CD")
    rows = pd.DataFrame(_table(out))
    totals = _mps_totals()
    got = rows.groupby("ward_code")["count"].sum()
    assert (got == totals[got.index]).all() and got.sum() == totals.sum() == result["CRIMES_WRITTEN"]
    assert (rows["estimated"] == 0).all() and result["OLD_AREAS_SPLIT"] == 0 == result["ESTIMATED_AREAS"]


def test_ward_rates_and_trends_of_reexpressed_counts_say_they_are_estimates(run_alg, mps_table, populations, tmp_path):
    out = tmp_path / "on2018.gpkg"
    _reexpress(
        run_alg,
        mps_table,
        out,
        NEW_AREAS=_layer("wards_2018"),
        NEW_AREA_CODE_FIELD="GSS_CODE",
        LSOAS=_layer("lsoa_2021"),
    )
    rows = pd.DataFrame(_table(out))
    # A Southwark ward unchanged since 2018 whose residents all stay together keeps the MPS count exactly.
    totals = _mps_totals()
    exact = rows[(rows["estimated"] == 0) & rows["ward_code"].isin(totals.index)].groupby("ward_code")["count"].sum()
    assert len(exact) > 0 and (exact == totals[exact.index]).all()
    result = run_alg(
        "crimemapping:wardrates",
        {
            "COUNTS_TABLE": str(out),
            "WARDS": _layer("wards_2018"),
            "WARD_CODE_FIELD": "GSS_CODE",
            "WARD_NAME_FIELD": "NAME",
            "POPULATION_TABLE": str(populations["wards_2018"][1]),
            "OUTPUT": str(tmp_path / "rates.gpkg"),
            "FUNNEL_PLOT": "",
        },
    )
    assert "estimate re-expressed" in result["REPORT"]
    assert result["CRIMES_COUNTED"] == rows["count"].sum()
    assert "wards_2018" in result["BOUNDARIES"] and "GSS_CODE" in result["BOUNDARIES"]
    assert "point on surface" in result["POPULATION_BASIS"]
    trends = run_alg(
        "crimemapping:crimetrends",
        {
            "COUNTS_TABLE": str(out),
            "AREAS": _layer("wards_2018"),
            "AREA_CODE_FIELD": "GSS_CODE",
            "OUTPUT": str(tmp_path / "trends.gpkg"),
            "TABLE": str(tmp_path / "trends_table.gpkg"),
        },
    )
    assert "estimate re-expressed" in trends["REPORT"] and "wards_2018" in trends["BOUNDARIES"]
    assert trends["CRIMES_COUNTED"] == rows["count"].sum()


def test_the_extract_keeps_its_attribution():
    text = (SETS / "SOURCE.md").read_text(encoding="utf-8")
    assert "Open Government Licence v3.0" in text and "Contains OS data © Crown copyright" in text
    with open(MID2019, encoding="utf-8") as fh:
        assert next(csv.reader(fh)) == ["LSOA11CD", "LAD11CD", "population"]
