"""crimemapping:wardrates and crimemapping:wardpopulation on the bundled real police.uk, ONS and MPS data."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.conftest import POLICE_UK, SAMPLE
from tests.core.test_overdispersion import _port as _shmi_port
from tests.stat_references import count_limits, e_test_by_summation

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"
POPULATION = SAMPLE / "population" / "london_lsoa21_population_census2021.csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"
MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"


def _csv_layer(path: Path, name: str):
    from qgis.core import QgsVectorLayer

    uri = f"file://{path}?type=csv&delimiter=,&detectTypes=no&geomType=none"
    layer = QgsVectorLayer(uri, name, "delimitedtext")
    assert layer.isValid(), path
    return layer


def _read(path) -> dict[str, dict]:
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    out = {}
    for f in layer.getFeatures():
        out[f["ward_code"]] = {k: _py(f[k]) for k in layer.fields().names()}
        out[f["ward_code"]]["_geom"] = f.geometry()
    return out


def _py(value):
    from qgis.PyQt.QtCore import QVariant

    return None if value is None or (isinstance(value, QVariant) and value.isNull()) else value


@pytest.fixture(scope="module")
def crimes(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crimes") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(path)})
    return path


@pytest.fixture(scope="module")
def ward_population(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pop") / "ward_population.gpkg"
    result = run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": _csv_layer(POPULATION, "pop"),
            "LOOKUP": _csv_layer(LOOKUP, "lookup"),
            "OUTPUT": str(path),
        },
    )
    assert result["LSOAS_ASSIGNED"] == 4994 and result["LSOAS_NOT_IN_LOOKUP"] == 0
    return path


@pytest.fixture(scope="module")
def rates_run(run_alg, crimes, ward_population, tmp_path_factory):
    out = tmp_path_factory.mktemp("rates")
    result = run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": str(crimes),
            "WARDS": str(WARDS),
            "POPULATION_TABLE": str(ward_population),
            "START_MONTH": "2024-11",
            "END_MONTH": "2024-12",
            "PREV_START_MONTH": "2024-10",
            "PREV_END_MONTH": "2024-10",
            "OUTPUT": str(out / "rates.gpkg"),
            "FUNNEL_PLOT": str(out / "funnel.png"),
        },
    )
    return result, _read(out / "rates.gpkg"), out


def test_ward_population_sums_the_lsoas_of_each_ward(ward_population):
    pop = pd.read_csv(POPULATION)
    lookup = pd.read_csv(LOOKUP)
    want = pop.merge(lookup[["LSOA21CD", "WD24CD"]], on="LSOA21CD").groupby("WD24CD")["population"].sum()
    got = {r["ward_code"]: r["population"] for r in _read_table(ward_population)}
    assert len(got) == 684 == len(want)
    assert all(got[c] == want[c] for c in want.index)
    assert sum(got.values()) == 8_799_631  # Census 2021 usual residents of London's LSOAs


def _read_table(path):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "t", "ogr")
    return [{n: f[n] for n in layer.fields().names()} for f in layer.getFeatures()]


def test_ward_population_reports_lsoas_outside_the_lookup_and_bad_values(run_alg, tmp_path):
    from qgis.core import QgsFeature, QgsField, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    pop = QgsVectorLayer("None", "pop", "memory")
    pop.dataProvider().addAttributes([QgsField("LSOA21CD", QVariant.String), QgsField("population", QVariant.String)])
    pop.updateFields()
    feats = []
    for code, value in (("E01000001", "1473"), ("E01000002", "1384"), ("W01000001", "900"), ("E01000003", "n/a")):
        f = QgsFeature(pop.fields())
        f.setAttributes([code, value])
        feats.append(f)
    pop.dataProvider().addFeatures(feats)
    result = run_alg(
        "crimemapping:wardpopulation",
        {"LSOA_POPULATION": pop, "LOOKUP": _csv_layer(LOOKUP, "lookup"), "OUTPUT": str(tmp_path / "p.gpkg")},
    )
    assert result["LSOAS_ASSIGNED"] == 2 and result["POPULATION_ASSIGNED"] == 1473 + 1384
    assert result["LSOAS_NOT_IN_LOOKUP"] == 1 and result["POPULATION_NOT_IN_LOOKUP"] == 900
    assert result["LSOAS_BAD_POPULATION"] == 1
    assert result["LOOKUP_WITHOUT_POPULATION"] == 4994 - 3
    assert "W01000001" in result["REPORT"] and "E01000003" in result["REPORT"]


def test_counts_equal_native_count_points_in_polygon_and_balance(run_alg, crimes, tmp_path):
    from qgis.core import QgsVectorLayer

    ours_run = run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": str(crimes),
            "WARDS": str(WARDS),
            "POPULATION_FIELD": "BNG_E",  # any numeric field: this test is about counts
            "OUTPUT": str(tmp_path / "ours.gpkg"),
        },
    )
    native = run_alg(
        "native:countpointsinpolygon",
        {"POLYGONS": str(WARDS), "POINTS": str(crimes), "FIELD": "NUMPOINTS", "OUTPUT": str(tmp_path / "native.gpkg")},
    )
    theirs = {f["WD24CD"]: int(f["NUMPOINTS"]) for f in QgsVectorLayer(native["OUTPUT"], "n", "ogr").getFeatures()}
    ours = {c: r["crimes"] for c, r in _read(tmp_path / "ours.gpkg").items()}
    n_points = QgsVectorLayer(str(crimes), "c", "ogr").featureCount()
    assert ours_run["CRIMES_READ"] == n_points
    # No real snap point lies exactly on a ward boundary here, so every ward count is QGIS's count.
    assert ours_run["ON_BOUNDARY"] == 0
    assert ours == theirs
    assert sum(ours.values()) + ours_run["OUTSIDE_WARDS"] + ours_run["NO_LOCATION"] == n_points
    assert ours_run["OUTSIDE_WARDS"] == n_points - sum(theirs.values())
    assert ours_run["OUTSIDE_WARDS"] > 0  # Met crimes outside London and on the riverside the boundaries clip


def test_a_point_on_a_shared_boundary_is_counted_once_in_the_lowest_code(run_alg, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    wards = QgsVectorLayer(str(WARDS), "w", "ogr")
    geoms = {f["WD24CD"]: f.geometry() for f in wards.getFeatures()}
    # Find a vertex shared by two real wards (exactly the same coordinates in both polygons).
    vertices: dict[tuple, set] = {}
    for code, g in geoms.items():
        for v in g.vertices():
            vertices.setdefault((v.x(), v.y()), set()).add(code)
    shared = next((xy, codes) for xy, codes in sorted(vertices.items()) if len(codes) == 2)
    (x, y), codes = shared
    points = QgsVectorLayer("Point?crs=EPSG:27700&field=month:date", "p", "memory")
    f = QgsFeature(points.fields())
    f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(x, y)))
    points.dataProvider().addFeatures([f])
    result = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": points, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "b.gpkg")},
    )
    out = _read(tmp_path / "b.gpkg")
    assert result["ON_BOUNDARY"] == 1 and result["OUTSIDE_WARDS"] == 0
    assert {c for c, r in out.items() if r["crimes"]} == {min(codes)}
    native = run_alg(
        "native:countpointsinpolygon",
        {"POLYGONS": str(WARDS), "POINTS": points, "FIELD": "N", "OUTPUT": "memory:"},
    )["OUTPUT"]
    assert sum(int(f["N"]) for f in native.getFeatures()) == 0  # GEOS 'contains' drops boundary points


def test_rates_and_limits_follow_the_published_formulas(rates_run, crimes):
    result, out, _ = rates_run
    pop = pd.read_csv(POPULATION).merge(pd.read_csv(LOOKUP)[["LSOA21CD", "WD24CD"]], on="LSOA21CD")
    pop = pop.groupby("WD24CD")["population"].sum()
    checked = {0: 0, 3: 0, 9: 0, 10: 0, 25: 0, 150: 0}
    for code, r in out.items():
        if code not in pop.index:
            # The 20 City wards the LSOA best-fit lookup gives no LSOA: counted, no population, no rate.
            assert code.startswith("E050092") or code.startswith("E050093")
            assert r["population"] is None and r["rate"] is None and r["flag"] == "no population"
            continue
        x, n = r["crimes"], pop[code]
        assert r["population"] == n and r["months"] == 2 and r["period"] == "2024-11 to 2024-12"
        assert r["rate"] == pytest.approx(x / n * 1000)
        for level, lo_key, hi_key in ((0.95, "rate_lcl95", "rate_ucl95"), (0.998, "rate_lcl998", "rate_ucl998")):
            a = 1 - level
            if x < 10:
                lo = 0.0 if x == 0 else stats.chi2.ppf(a / 2, 2 * x) / 2
                hi = stats.chi2.ppf(1 - a / 2, 2 * x + 2) / 2
            else:
                z = stats.norm.ppf(1 - a / 2)
                lo = x * (1 - 1 / (9 * x) - z / (3 * math.sqrt(x))) ** 3
                hi = (x + 1) * (1 - 1 / (9 * (x + 1)) + z / (3 * math.sqrt(x + 1))) ** 3
            assert r[lo_key] == pytest.approx(lo / n * 1000, rel=1e-9, abs=1e-12)
            assert r[hi_key] == pytest.approx(hi / n * 1000, rel=1e-9)
        if x in checked:
            checked[x] += 1
    assert checked[0] > 0 and sum(checked.values()) > 3
    total = sum(r["crimes"] for r in out.values() if r["population"] is not None)
    assert out[next(iter(out))]["rate_all"] == pytest.approx(total / pop.sum() * 1000)
    assert type(result["OVERALL_RATE"]) is float and result["OVERALL_RATE"] == pytest.approx(total / pop.sum() * 1000)
    assert result["CRIMES_COUNTED"] == sum(r["crimes"] for r in out.values())
    assert result["WARDS_WITHOUT_RATE"] == 20


def test_empirical_bayes_and_ranks(rates_run):
    _, out, _ = rates_run
    codes = sorted(c for c, r in out.items() if r["population"] is not None)
    x = np.array([out[c]["crimes"] for c in codes], float)
    n = np.array([out[c]["population"] for c in codes], float)
    theta = x.sum() / n.sum()
    r = x / n
    var = max((n * (r - theta) ** 2).sum() / n.sum() - theta / (n.sum() / len(n)), 0)
    w = var / (var + theta / n)
    eb = (w * r + (1 - w) * theta) * 1000
    for i, c in enumerate(codes):
        assert out[c]["eb_rate"] == pytest.approx(eb[i], rel=1e-9)
        assert out[c]["rank"] == 1 + int((r > r[i]).sum())


def _label(rate: float, l95: float, u95: float, l998: float, u998: float) -> str:
    if rate > u998:
        return "higher (99.8 %)"
    if rate > u95:
        return "higher (95 %)"
    if rate < l998:
        return "lower (99.8 %)"
    if rate < l95:
        return "lower (95 %)"
    return "not significantly different"


def test_phi_tau2_and_the_written_limits_follow_funnelplotr_with_the_agreement_rule(rates_run):
    result, out, _ = rates_run
    codes = sorted(c for c, r in out.items() if r["population"] is not None)
    x = np.array([out[c]["crimes"] for c in codes], float)
    n = np.array([out[c]["population"] for c in codes], float)
    theta = x.sum() / n.sum()
    expected = theta * n
    port = _shmi_port(list(x), list(expected))
    assert result["PHI"] == pytest.approx(port["phi"], rel=1e-10) and port["phi"] > 1
    assert result["TAU2"] == pytest.approx(port["tau2"], rel=1e-10)
    for i, c in enumerate(codes):
        row = out[c]
        assert row["expected"] == pytest.approx(expected[i], rel=1e-12)
        for level, key in ((0.95, "95"), (0.998, "998")):
            lo, hi = port["limits"][level][i]
            # Higher needs the ward's own lower limit above the overall rate: the smallest such count is c_hi.
            c_hi = next(k for k in range(10**6) if count_limits(k, level)[0] / n[i] > theta)
            below = [k for k in range(int(x.max()) + 200) if count_limits(k, level)[1] / n[i] < theta]
            want_hi = max(hi * theta, (c_hi - 1) / n[i]) * 1000
            want_lo = min(lo * theta, (below[-1] + 1) / n[i]) * 1000 if below else 0.0
            assert row[f"funnel_ucl{key}"] == pytest.approx(want_hi, rel=1e-6), c
            assert row[f"funnel_lcl{key}"] == pytest.approx(want_lo, rel=1e-6, abs=1e-12), c


def test_the_flag_is_outside_the_written_limits_and_agrees_with_the_printed_limits(rates_run):
    _, out, _ = rates_run
    seen = set()
    for row in out.values():
        if row["population"] is None:
            assert row["vs_all"] is None and row["funnel_ucl95"] is None and row["expected"] is None
            continue
        limits = [row[f"funnel_{s}{k}"] for k in ("95", "998") for s in ("lcl", "ucl")]
        assert row["vs_all"] == _label(row["rate"], *limits), row["ward_code"]
        seen.add(row["vs_all"])
        if row["vs_all"].startswith("higher"):
            level = "998" if "99.8" in row["vs_all"] else "95"
            assert row[f"rate_lcl{level}"] > row["rate_all"], row["ward_code"]
        if row["vs_all"].startswith("lower"):
            level = "998" if "99.8" in row["vs_all"] else "95"
            assert row[f"rate_ucl{level}"] < row["rate_all"], row["ward_code"]
    assert {"higher (99.8 %)", "not significantly different"} <= seen


def test_the_exact_poisson_choice_writes_the_poisson_limits_of_the_expected_count(
    run_alg, crimes, ward_population, tmp_path
):
    result = run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": str(crimes),
            "WARDS": str(WARDS),
            "POPULATION_TABLE": str(ward_population),
            "FUNNEL_METHOD": 1,
            "OUTPUT": str(tmp_path / "poisson.gpkg"),
        },
    )
    out = _read(tmp_path / "poisson.gpkg")
    theta = result["OVERALL_RATE"] / 1000
    outside = 0
    for row in out.values():
        if row["population"] is None:
            continue
        e = theta * row["population"]
        hi = stats.chi2.ppf(0.999, 2 * e + 2) / 2 / row["population"] * 1000
        assert row["funnel_ucl998"] >= hi * (1 - 1e-9)
        limits = [row[f"funnel_{s}{k}"] for k in ("95", "998") for s in ("lcl", "ucl")]
        assert row["vs_all"] == _label(row["rate"], *limits)
        outside += row["vs_all"] != "not significantly different"
    assert result["PHI"] > 1
    # Chance alone flags more wards than the adjusted limits do.
    default = _read_default(run_alg, crimes, ward_population, tmp_path)
    adjusted = sum(r["vs_all"] != "not significantly different" for r in default.values())
    assert outside > adjusted


def _read_default(run_alg, crimes, ward_population, tmp_path) -> dict:
    run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": str(crimes),
            "WARDS": str(WARDS),
            "POPULATION_TABLE": str(ward_population),
            "OUTPUT": str(tmp_path / "adjusted.gpkg"),
        },
    )
    return _read(tmp_path / "adjusted.gpkg")


def test_comparison_period_change_is_the_poisson_e_test(rates_run):
    _, out, _ = rates_run
    tested = 0
    for r in out.values():
        before, after = r["prev_crimes"], r["crimes"]
        assert r["prev_months"] == 1 and r["prev_period"] == "2024-10"
        if r["population"] is None:
            assert r["change_p"] is None and r["change_sig"] is None
            continue
        if before + after == 0:
            assert r["change_p"] == pytest.approx(1.0)
            continue
        if tested < 60:
            # Exposure = population × months with records: 1 month before, 2 after.
            want = e_test_by_summation(before, after, r["population"] * 1, r["population"] * 2)
            assert r["change_p"] == pytest.approx(want, rel=1e-8, abs=1e-12)
        tested += 1
    assert tested > 600


def test_funnel_plot_is_written(rates_run):
    from qgis.PyQt.QtGui import QImage

    result, _, out = rates_run
    image = QImage(result["FUNNEL_PLOT"])
    assert not image.isNull() and image.width() == 1200 and image.height() == 800


@pytest.fixture(scope="module")
def mps_table(run_alg, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("mps") / "mps.gpkg"
    return run_alg("crimemapping:importmpswardcrime", {"INPUT": str(MPS), "OUTPUT": str(path)})["OUTPUT"]


def test_mps_table_counts_are_summed_per_ward_with_a_category_filter(run_alg, mps_table, ward_population, tmp_path):
    result = run_alg(
        "crimemapping:wardrates",
        {
            "COUNTS_TABLE": mps_table,
            "CATEGORY_FIELD": "major_category",
            "CATEGORY_VALUES": "Burglary",
            "START_MONTH": "2024-10",
            "END_MONTH": "2024-12",
            "WARDS": str(WARDS),
            "POPULATION_TABLE": str(ward_population),
            "SMOOTH": False,
            "OUTPUT": str(tmp_path / "mps_rates.gpkg"),
        },
    )
    wide = pd.read_csv(MPS, dtype={"WardCode": str})
    # Categories match without regard to case: the MPS file writes them in capitals.
    want = (
        wide[wide["MajorText"].str.casefold() == "burglary"]
        .groupby("WardCode")[["202410", "202411", "202412"]]
        .sum()
        .sum(axis=1)
    )
    out = _read(tmp_path / "mps_rates.gpkg")
    for code, r in out.items():
        assert r["crimes"] == int(want.get(code, 0))
    assert result["MONTHS"] == 3 and result["UNMATCHED_CRIMES"] == 0
    assert all(r["eb_rate"] is None for r in out.values())


def test_unmatched_codes_and_unusable_populations_are_listed_not_fatal(run_alg, tmp_path):
    from qgis.core import QgsFeature, QgsField, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    counts = QgsVectorLayer("None", "counts", "memory")
    counts.dataProvider().addAttributes([QgsField("ward_code", QVariant.String), QgsField("count", QVariant.Int)])
    counts.updateFields()
    pops = QgsVectorLayer("None", "pops", "memory")
    pops.dataProvider().addAttributes([QgsField("ward_code", QVariant.String), QgsField("population", QVariant.Double)])
    pops.updateFields()

    def add(layer, rows):
        feats = []
        for row in rows:
            f = QgsFeature(layer.fields())
            f.setAttributes(list(row))
            feats.append(f)
        layer.dataProvider().addFeatures(feats)

    add(counts, [("E05009288", 4), ("E05009288", 3), ("E05009302", 12), ("X99", 5), ("E05009317", 2)])
    add(pops, [("E05009288", 1500.0), ("E05009302", 0.0), ("E05009317", None), ("Y42", 100.0)])
    result = run_alg(
        "crimemapping:wardrates",
        {"COUNTS_TABLE": counts, "WARDS": str(WARDS), "POPULATION_TABLE": pops, "OUTPUT": str(tmp_path / "u.gpkg")},
    )
    out = _read(tmp_path / "u.gpkg")
    assert out["E05009288"]["crimes"] == 7 and out["E05009288"]["rate"] == pytest.approx(7 / 1500 * 1000)
    assert out["E05009302"]["rate"] is None and out["E05009302"]["flag"] == "zero population"
    assert out["E05009317"]["rate"] is None and out["E05009317"]["flag"] == "no population"
    assert result["UNMATCHED_CRIMES"] == 5
    assert "'X99'" in result["UNMATCHED_CODES"] and "'Y42'" in result["UNMATCHED_CODES"]
    assert result["WARDS_WITHOUT_RATE"] == 704 - 1


def test_bad_month_and_missing_inputs_give_actionable_messages(run_alg, crimes):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="YYYY-MM"):
        run_alg(
            "crimemapping:wardrates",
            {
                "CRIMES": str(crimes),
                "WARDS": str(WARDS),
                "POPULATION_FIELD": "BNG_E",
                "START_MONTH": "Oct 2024",
                "OUTPUT": "memory:",
            },
        )
    with pytest.raises(
        QgsProcessingException, match=r"crime points or a table of crime counts by ward code \(one is needed\)"
    ):
        run_alg("crimemapping:wardrates", {"WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": "memory:"})


def test_fixed_class_breaks_style_the_rate(run_alg):
    from qgis.core import QgsVectorLayer

    from crime_mapping_plugin.processing.rate_style import parse_breaks, rate_style

    layer = QgsVectorLayer("Polygon?crs=EPSG:27700&field=rate:double", "r", "memory")
    rate_style("rate", parse_breaks("0,5,10,20,40"), title="Ward crime rates")(layer)
    rules = layer.renderer().rootRule().children()
    assert [r.filterExpression() for r in rules] == [
        '"rate" >= 0.0 AND "rate" < 5.0',
        '"rate" >= 5.0 AND "rate" < 10.0',
        '"rate" >= 10.0 AND "rate" < 20.0',
        '"rate" >= 20.0 AND "rate" < 40.0',
        '"rate" >= 40.0',
        '"rate" IS NULL',
    ]
    assert layer.name() == "Ward crime rates"
    with pytest.raises(ValueError, match="increasing"):
        parse_breaks("5,1")


def test_month_and_group_filters_match_native_counts_on_extracted_points(run_alg, crimes, tmp_path):
    from qgis.core import QgsVectorLayer

    from crime_mapping_plugin.core import crime_types

    extracted = run_alg(
        "native:extractbyexpression",
        {
            "INPUT": str(crimes),
            "EXPRESSION": "\"month\" >= to_date('2024-11-01') AND \"crime_group\" = 'Burglary'",
            "OUTPUT": "memory:",
        },
    )["OUTPUT"]
    native = run_alg(
        "native:countpointsinpolygon",
        {"POLYGONS": str(WARDS), "POINTS": extracted, "FIELD": "N", "OUTPUT": "memory:"},
    )["OUTPUT"]
    theirs = {f["WD24CD"]: int(f["N"]) for f in native.getFeatures()}
    params = {
        "WARDS": str(WARDS),
        "POPULATION_FIELD": "BNG_E",
        "START_MONTH": "2024-11",
        "CRIME_GROUPS": [crime_types.GROUPS.index("Burglary")],
    }
    bulk = run_alg("crimemapping:wardrates", {**params, "CRIMES": str(crimes), "OUTPUT": str(tmp_path / "a.gpkg")})
    # A layer with a subset string is read feature by feature: both paths must agree.
    layer = QgsVectorLayer(str(crimes), "subset", "ogr")
    layer.setSubsetString("1 = 1")
    slow = run_alg("crimemapping:wardrates", {**params, "CRIMES": layer, "OUTPUT": str(tmp_path / "b.gpkg")})
    for path in ("a.gpkg", "b.gpkg"):
        assert {c: r["crimes"] for c, r in _read(tmp_path / path).items()} == theirs
    assert "in bulk" in bulk["REPORT"] and "feature by feature" in slow["REPORT"]
    assert bulk["PERIOD"] == slow["PERIOD"] == "2024-11 to 2024-12" and bulk["MONTHS"] == 2
    n = QgsVectorLayer(str(crimes), "c", "ogr").featureCount()
    left_out = bulk["LEFT_OUT_MONTHS"] + bulk["LEFT_OUT_TYPES"] + bulk["NO_LOCATION"]
    assert bulk["CRIMES_COUNTED"] + bulk["OUTSIDE_WARDS"] + left_out == n
    assert bulk["CRIMES_COUNTED"] + bulk["OUTSIDE_WARDS"] == extracted.featureCount()


def test_the_loaded_layer_is_styled_on_fixed_breaks_and_says_what_it_shows(mps_table, ward_population, tmp_path):
    from qgis import processing
    from qgis.core import QgsProject

    result = processing.runAndLoadResults(
        "crimemapping:wardrates",
        {
            "COUNTS_TABLE": mps_table,
            "CATEGORY_FIELD": "major_category",
            "CATEGORY_VALUES": "burglary",
            "START_MONTH": "2024-12",
            "END_MONTH": "2024-12",
            "WARDS": str(WARDS),
            "POPULATION_TABLE": str(ward_population),
            "CLASS_BREAKS": "0,0.5,1,2",
            "OUTPUT": str(tmp_path / "styled.gpkg"),
        },
    )
    loaded = [lyr for lyr in QgsProject.instance().mapLayers().values() if lyr.source().startswith(result["OUTPUT"])]
    assert len(loaded) == 1
    layer = loaded[0]
    try:
        assert layer.renderer().type() == "RuleRenderer"
        labels = [item.label() for item in layer.renderer().legendSymbolItems()]
        assert labels == [
            "0 to 0.5 crimes per 1,000 residents",
            "0.5 to 1 crimes per 1,000 residents",
            "1 to 2 crimes per 1,000 residents",
            "2 or more crimes per 1,000 residents",
            "no rate (population missing or zero)",
        ]
        assert layer.name() == "Ward crime rates (burglary): crimes per 1,000 residents, 2024-12"
        assert "Byar" in layer.metadata().abstract() and "lowest ward code" in layer.metadata().abstract()
    finally:
        QgsProject.instance().removeMapLayer(layer.id())


def test_points_in_another_crs_are_reprojected_to_the_wards(run_alg, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsVectorLayer

    wards = QgsVectorLayer(str(WARDS), "w", "ogr")
    points = QgsVectorLayer("Point?crs=EPSG:4326", "wgs84", "memory")
    feats = []
    for ward in wards.getFeatures():  # the ONS label point of each ward, in longitude/latitude
        f = QgsFeature(points.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(ward["LONG"], ward["LAT"])))
        feats.append(f)
    points.dataProvider().addFeatures(feats)
    result = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": points, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "p.gpkg")},
    )
    native = run_alg(
        "native:countpointsinpolygon",
        {"POLYGONS": str(WARDS), "POINTS": points, "FIELD": "N", "OUTPUT": "memory:"},
    )["OUTPUT"]
    theirs = {f["WD24CD"]: int(f["N"]) for f in native.getFeatures()}
    assert {c: r["crimes"] for c, r in _read(tmp_path / "p.gpkg").items()} == theirs
    assert result["CRIMES_COUNTED"] + result["OUTSIDE_WARDS"] == 704 and result["CRIMES_COUNTED"] > 600


class _Recorder:
    """A feedback that keeps its warnings (QgsProcessingFeedback made in the test, so no mock)."""

    def __new__(cls):
        from qgis.core import QgsProcessingFeedback

        class Feedback(QgsProcessingFeedback):
            def __init__(self):
                super().__init__()
                self.warnings: list[str] = []

            def pushWarning(self, text):  # noqa: N802 - QGIS API
                self.warnings.append(text)
                super().pushWarning(text)

        return Feedback()


def _relabelled(crimes: Path, months: dict[str, str]):
    """Return a memory copy of the crime points with each month (YYYY-MM) relabelled."""
    from qgis.core import QgsFeatureRequest, QgsVectorLayer
    from qgis.PyQt.QtCore import QDate

    layer = QgsVectorLayer(str(crimes), "crimes", "ogr").materialize(QgsFeatureRequest())
    index = layer.fields().indexOf("month")
    changes = {}
    for f in layer.getFeatures():
        new = months[f["month"].toString("yyyy-MM")]
        changes[f.id()] = {index: QDate.fromString(new + "-01", "yyyy-MM-dd")}
    assert layer.dataProvider().changeAttributeValues(changes)
    return layer


def test_three_julys_report_three_months_with_records_and_22_missing(run_alg, crimes, tmp_path):
    layer = _relabelled(crimes, {"2024-10": "2016-07", "2024-11": "2017-07", "2024-12": "2018-07"})
    feedback = _Recorder()
    result = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": layer, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "j.gpkg")},
        feedback=feedback,
    )
    # 2016-07 to 2018-07 is 25 calendar months; only the three Julys have records.
    assert result["PERIOD"] == "2016-07 to 2018-07" and result["MONTHS"] == 3
    missing = "2016-08 to 2017-06, 2017-08 to 2018-06"
    assert missing in result["MISSING_MONTHS"] and "22 month(s) without any record" in result["REPORT"]
    assert any(missing in w for w in feedback.warnings)
    assert {r["months"] for r in _read(tmp_path / "j.gpkg").values()} == {3}
    # The loaded layer's metadata lists them too, so a printed map says which months it lacks.
    from qgis import processing
    from qgis.core import QgsProject

    loaded = processing.runAndLoadResults(
        "crimemapping:wardrates",
        {"CRIMES": layer, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "l.gpkg")},
    )
    (shown,) = [x for x in QgsProject.instance().mapLayers().values() if x.source().startswith(loaded["OUTPUT"])]
    try:
        assert missing in shown.metadata().abstract() and "3 months with records" in shown.metadata().abstract()
    finally:
        QgsProject.instance().removeMapLayer(shown.id())
    # The comparison's exposure is population × months with records: 2 after, 1 before, so p = 2/3.
    compared = run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": layer,
            "WARDS": str(WARDS),
            "POPULATION_FIELD": "BNG_E",
            "START_MONTH": "2017-07",
            "END_MONTH": "2018-07",
            "PREV_START_MONTH": "2016-07",
            "PREV_END_MONTH": "2016-07",
            "OUTPUT": str(tmp_path / "c.gpkg"),
        },
    )
    assert compared["MONTHS"] == 2
    out = _read(tmp_path / "c.gpkg")
    tested = 0
    for r in out.values():
        assert r["months"] == 2 and r["prev_months"] == 1
        if r["crimes"] + r["prev_crimes"]:
            if tested < 40:
                want = e_test_by_summation(r["prev_crimes"], r["crimes"], r["population"], r["population"] * 2)
                assert r["change_p"] == pytest.approx(want, rel=1e-8, abs=1e-12)
            tested += 1
    assert tested > 600


def test_a_comparison_period_overlapping_the_main_one_is_refused(run_alg, crimes):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="shares months"):
        run_alg(
            "crimemapping:wardrates",
            {
                "CRIMES": str(crimes),
                "WARDS": str(WARDS),
                "POPULATION_FIELD": "BNG_E",
                "START_MONTH": "2024-11",
                "END_MONTH": "2024-12",
                "PREV_START_MONTH": "2024-10",
                "PREV_END_MONTH": "2024-11",
                "OUTPUT": "memory:",
            },
        )


def _native_counts(run_alg, wards, points) -> dict[str, int]:
    native = run_alg(
        "native:countpointsinpolygon", {"POLYGONS": wards, "POINTS": points, "FIELD": "N", "OUTPUT": "memory:"}
    )["OUTPUT"]
    return {f["WD24CD"]: int(f["N"]) for f in native.getFeatures()}


def test_a_ward_without_geometry_gets_no_count_no_rate_no_rank_and_a_flag(run_alg, crimes, tmp_path):
    from qgis.core import QgsFeatureRequest, QgsGeometry, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    from crime_mapping_plugin.core import rates

    theirs = _native_counts(run_alg, str(WARDS), str(crimes))
    busiest = max(theirs, key=theirs.get)
    wards = QgsVectorLayer(str(WARDS), "w", "ogr").materialize(QgsFeatureRequest())
    fid = next(f.id() for f in wards.getFeatures() if f["WD24CD"] == busiest)
    assert wards.dataProvider().changeGeometryValues({fid: QgsGeometry()})
    result = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": str(crimes), "WARDS": wards, "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "e.gpkg")},
    )
    out = _read(tmp_path / "e.gpkg")
    row = out[busiest]
    assert row["crimes"] is None and row["rate"] is None and row["rank"] is None and row["vs_all"] is None
    assert row["flag"] == rates.FLAG_NO_GEOMETRY
    assert result["WARDS_WITHOUT_GEOMETRY"] == 1 and result["WARDS_WITHOUT_RATE"] == 1
    assert busiest in result["REPORT"]
    n = QgsVectorLayer(str(crimes), "c", "ogr").featureCount()
    # Its crimes are in no other ward: they count as outside every ward.
    assert result["OUTSIDE_WARDS"] == n - sum(theirs.values()) + theirs[busiest]
    assert {c: r["crimes"] for c, r in out.items() if c != busiest} == {c: v for c, v in theirs.items() if c != busiest}
    assert sorted(r["rank"] for c, r in out.items() if c != busiest)[-1] <= 703
    # From a count table the ward's crimes are known by code: it keeps its count and rate, written without a shape.
    counts = _memory_table([("ward_code", QVariant.String), ("count", QVariant.Int)], [(busiest, 7)])
    feedback = _Recorder()
    table = run_alg(
        "crimemapping:wardrates",
        {"COUNTS_TABLE": counts, "WARDS": wards, "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "t.gpkg")},
        feedback=feedback,
    )
    kept = _read(tmp_path / "t.gpkg")[busiest]
    assert kept["crimes"] == 7 and kept["rate"] == pytest.approx(7 / kept["population"] * 1000)
    assert kept["flag"] is None and table["WARDS_WITHOUT_GEOMETRY"] == 1
    assert any(busiest in w and "no geometry" in w for w in feedback.warnings)


def test_each_part_of_a_multipoint_is_one_crime(run_alg, crimes, tmp_path):
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    source = QgsVectorLayer(str(crimes), "c", "ogr")
    multi = QgsVectorLayer("MultiPoint?crs=EPSG:27700&field=month:date", "multi", "memory")
    points = [f.geometry().asPoint() for f in source.getFeatures() if not f.geometry().isEmpty()][:3000]
    feats = []
    for i in range(0, len(points), 3):  # three real crime locations per feature
        f = QgsFeature(multi.fields())
        f.setGeometry(QgsGeometry.fromMultiPointXY(points[i : i + 3]))
        feats.append(f)
    multi.dataProvider().addFeatures(feats)
    result = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": multi, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "m.gpkg")},
    )
    single = run_alg("native:multiparttosingleparts", {"INPUT": multi, "OUTPUT": "memory:"})["OUTPUT"]
    assert single.featureCount() == 3000 == result["CRIMES_READ"]
    theirs = _native_counts(run_alg, str(WARDS), single)
    assert {c: r["crimes"] for c, r in _read(tmp_path / "m.gpkg").items()} == theirs
    assert "1000 multipoint feature(s) gave 3000 crime points" in result["REPORT"]


def _memory_table(fields: list[tuple[str, object]], rows: list[tuple]):
    from qgis.core import QgsFeature, QgsField, QgsVectorLayer

    layer = QgsVectorLayer("None", "t", "memory")
    layer.dataProvider().addAttributes([QgsField(name, kind) for name, kind in fields])
    layer.updateFields()
    feats = []
    for row in rows:
        f = QgsFeature(layer.fields())
        f.setAttributes(list(row))
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return layer


@pytest.mark.parametrize("bad", [1.5, -1.5, -2.0])
def test_a_count_table_with_a_count_that_is_not_a_whole_number_is_refused(run_alg, bad):
    from qgis.core import QgsProcessingException
    from qgis.PyQt.QtCore import QVariant

    counts = _memory_table(
        [("ward_code", QVariant.String), ("count", QVariant.Double), ("major", QVariant.String)],
        [("E05009288", 4.0, "Burglary"), ("E05009302", bad, "Robbery"), ("E05009302", 2.0, "Burglary")],
    )
    # The bad row is refused even when its category is not kept: CRIMES_READ would otherwise hold it.
    with pytest.raises(QgsProcessingException, match=r"'count'.*table row 2\b"):
        run_alg(
            "crimemapping:wardrates",
            {
                "COUNTS_TABLE": counts,
                "CATEGORY_FIELD": "major",
                "CATEGORY_VALUES": "Burglary",
                "WARDS": str(WARDS),
                "POPULATION_FIELD": "BNG_E",
                "OUTPUT": "memory:",
            },
        )


def test_a_population_that_is_text_or_infinite_is_flagged_naming_the_ward(run_alg, tmp_path):
    from qgis.PyQt.QtCore import QVariant

    from crime_mapping_plugin.core import rates

    counts = _memory_table(
        [("ward_code", QVariant.String), ("count", QVariant.Int)],
        [("E05009288", 4), ("E05009302", 12), ("E05009305", 3)],
    )
    pops = _memory_table(
        [("ward_code", QVariant.String), ("population", QVariant.String)],
        [("E05009288", "1500"), ("E05009302", "inf"), ("E05009305", "about 900")],
    )
    result = run_alg(
        "crimemapping:wardrates",
        {"COUNTS_TABLE": counts, "WARDS": str(WARDS), "POPULATION_TABLE": pops, "OUTPUT": str(tmp_path / "p.gpkg")},
    )
    out = _read(tmp_path / "p.gpkg")
    assert out["E05009288"]["rate"] == pytest.approx(4 / 1500 * 1000)
    for code in ("E05009302", "E05009305"):
        assert out[code]["rate"] is None and out[code]["rank"] is None
        assert out[code]["flag"] == rates.FLAG_BAD_POPULATION
        assert code in result["UNMATCHED_CODES"]
    assert result["OVERALL_RATE"] == pytest.approx(4 / 1500 * 1000)


def test_a_ward_layer_with_a_missing_field_a_blank_or_a_repeated_code_is_refused_saying_so(run_alg, crimes):
    from qgis.core import QgsFeatureRequest, QgsProcessingException, QgsVectorLayer

    params = {"CRIMES": str(crimes), "POPULATION_FIELD": "BNG_E", "OUTPUT": "memory:"}
    with pytest.raises(QgsProcessingException, match=r"no field 'WD99CD' \(ward code\); its fields are: .*WD24CD"):
        run_alg("crimemapping:wardrates", {**params, "WARDS": str(WARDS), "WARD_CODE_FIELD": "WD99CD"})
    wards = QgsVectorLayer(str(WARDS), "w", "ogr").materialize(QgsFeatureRequest())
    index = wards.fields().indexOf("WD24CD")
    first, second = list(wards.getFeatures())[:2]
    wards.dataProvider().changeAttributeValues({first.id(): {index: "  "}})
    with pytest.raises(QgsProcessingException, match=rf"Feature {first.id()} .* has no code in 'WD24CD'"):
        run_alg("crimemapping:wardrates", {**params, "WARDS": wards})
    wards.dataProvider().changeAttributeValues({first.id(): {index: second["WD24CD"]}})
    with pytest.raises(QgsProcessingException, match=rf"unique in 'WD24CD'.*repeated: '{second['WD24CD']}'"):
        run_alg("crimemapping:wardrates", {**params, "WARDS": wards})


def test_crimes_without_a_usable_month_are_left_out_under_their_own_reason_when_months_are_chosen(
    run_alg, crimes, tmp_path
):
    from qgis.core import QgsFeatureRequest, QgsVectorLayer

    layer = QgsVectorLayer(str(crimes), "crimes", "ogr").materialize(QgsFeatureRequest())
    index = layer.fields().indexOf("month")
    november = [f.id() for f in layer.getFeatures() if f["month"].toString("yyyy-MM") == "2024-11"][:100]
    assert layer.dataProvider().changeAttributeValues({fid: {index: None} for fid in november})
    october = sum(1 for f in layer.getFeatures() if f["month"] and f["month"].toString("yyyy-MM") == "2024-10")
    params = {"CRIMES": layer, "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E"}
    chosen = run_alg(
        "crimemapping:wardrates",
        {**params, "START_MONTH": "2024-11", "END_MONTH": "2024-12", "OUTPUT": str(tmp_path / "a.gpkg")},
    )
    assert chosen["NO_MONTH_CRIMES"] == 100 and chosen["LEFT_OUT_MONTHS"] == october
    parts = ("CRIMES_COUNTED", "OUTSIDE_WARDS", "NO_LOCATION", "LEFT_OUT_MONTHS", "NO_MONTH_CRIMES", "LEFT_OUT_TYPES")
    assert sum(chosen[k] for k in parts) == chosen["CRIMES_READ"] == layer.featureCount()
    everything = run_alg("crimemapping:wardrates", {**params, "OUTPUT": str(tmp_path / "b.gpkg")})
    assert everything["NO_MONTH_CRIMES"] == 0 and "100 record(s) have no usable month" in everything["REPORT"]
    assert everything["CRIMES_COUNTED"] + everything["OUTSIDE_WARDS"] == layer.featureCount()


def test_no_output_is_left_behind_when_the_funnel_plot_cannot_be_written(run_alg, crimes, ward_population, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="funnel plot"):
        run_alg(
            "crimemapping:wardrates",
            {
                "CRIMES": str(crimes),
                "WARDS": str(WARDS),
                "POPULATION_TABLE": str(ward_population),
                "OUTPUT": str(tmp_path / "rates.gpkg"),
                "FUNNEL_PLOT": str(tmp_path / "no such folder" / "funnel.png"),
            },
        )
    assert list(tmp_path.iterdir()) == []


def test_the_funnel_plot_is_moved_into_place_with_the_layer(rates_run):
    result, _, out = rates_run
    assert sorted(p.suffix for p in out.iterdir() if p.suffix == ".png") == [".png"]
    assert Path(result["FUNNEL_PLOT"]).stat().st_size > 10000


def test_all_25_city_wards_are_bundled_and_every_sample_crime_in_london_lies_in_a_ward(
    rates_run, run_alg, crimes, tmp_path
):
    from qgis.core import QgsGeometry, QgsPointXY, QgsVectorLayer

    layer = QgsVectorLayer(f"{WARDS}|layername=wards", "wards", "ogr")
    codes = {f["WD24CD"] for f in layer.getFeatures()}
    assert {f"E05009{n}" for n in range(288, 313)} <= codes and len(codes) == layer.featureCount() == 704
    everything = run_alg(
        "crimemapping:wardrates",
        {"CRIMES": str(crimes), "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": str(tmp_path / "a.gpkg")},
    )
    london = QgsGeometry.unaryUnion([f.geometry() for f in layer.getFeatures()])
    points = QgsVectorLayer(str(crimes), "crimes", "ogr")
    outside = [f for f in points.getFeatures() if f.hasGeometry() and not london.intersects(f.geometry())]
    assert everything["OUTSIDE_WARDS"] == len(outside)
    # No crime recorded in a City of London LSOA falls outside every ward (1,925 of the sample did before).
    assert not [f for f in outside if str(f["lsoa_name"]).startswith("City of London")]
    # The rest are outside London or on the riverside the generalised (coastline-clipped) boundaries leave out.
    boroughs = {str(f["lsoa_name"]).rsplit(" ", 1)[0] for f in points.getFeatures() if f.hasGeometry()}
    for f in outside:
        point = f.geometry().asPoint()
        near = london.distance(QgsGeometry.fromPointXY(QgsPointXY(point))) < 150
        assert near or str(f["lsoa_name"]).rsplit(" ", 1)[0] not in LONDON_BOROUGHS, f["lsoa_name"]
    assert len(boroughs) > 33
    # City wards with few residents are kept, with a rate and a note saying it misleads.
    result, out, _ = rates_run
    few = [r for r in out.values() if r["population"] is not None and r["population"] < 4000]
    assert result["FEW_RESIDENT_WARDS"] == len(few) == 5
    assert {r["ward_code"] for r in few} == {"E05009288", "E05009302", "E05009305", "E05009308", "E05009312"}
    assert all(r["residents_note"] == "few residents: rate misleading" and r["rate"] is not None for r in few)
    assert all(r["residents_note"] is None for r in out.values() if r not in few)


LONDON_BOROUGHS = {
    "Barking and Dagenham", "Barnet", "Bexley", "Brent", "Bromley", "Camden", "City of London", "Croydon", "Ealing",
    "Enfield", "Greenwich", "Hackney", "Hammersmith and Fulham", "Haringey", "Harrow", "Havering", "Hillingdon",
    "Hounslow", "Islington", "Kensington and Chelsea", "Kingston upon Thames", "Lambeth", "Lewisham", "Merton",
    "Newham", "Redbridge", "Richmond upon Thames", "Southwark", "Sutton", "Tower Hamlets", "Waltham Forest",
    "Wandsworth", "Westminster",
}  # fmt: skip


def test_wards_compare_with_their_borough_and_boroughs_and_london_sum_the_wards(
    run_alg, crimes, ward_population, tmp_path
):
    from qgis.core import QgsField, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    from crime_mapping_plugin.core import funnel
    from tests.layers import memory_copy

    wards = memory_copy(WARDS)
    wards.dataProvider().addAttributes([QgsField("LAD24CD", QVariant.String)])
    wards.updateFields()
    lad = dict(pd.read_csv(LOOKUP)[["WD24CD", "LAD24CD"]].drop_duplicates().itertuples(index=False))
    index = wards.fields().indexOf("LAD24CD")
    changes = {f.id(): {index: lad.get(f["WD24CD"], "E09000001")} for f in wards.getFeatures()}
    assert wards.dataProvider().changeAttributeValues(changes)
    result = run_alg(
        "crimemapping:wardrates",
        {
            "CRIMES": str(crimes),
            "WARDS": wards,
            "POPULATION_TABLE": str(ward_population),
            "BOROUGH_FIELD": "LAD24CD",
            "OUTPUT": str(tmp_path / "w.gpkg"),
            "BOROUGHS": str(tmp_path / "b.gpkg"),
        },
    )
    out = _read(tmp_path / "w.gpkg")
    table = QgsVectorLayer(str(tmp_path / "b.gpkg"), "b", "ogr")
    rows = {f["borough"]: {n: _py(f[n]) for n in table.fields().names()} for f in table.getFeatures()}
    assert len(rows) == 34 and "all wards" in rows
    for code, row in rows.items():
        members = [r for r in out.values() if (code == "all wards" or r["borough"] == code) and r["rate"] is not None]
        assert row["crimes"] == sum(r["crimes"] for r in members) and row["wards"] == len(members)
        assert row["population"] == pytest.approx(sum(r["population"] for r in members))
        lo, hi = count_limits(row["crimes"], 0.95)
        assert row["rate_lcl95"] == pytest.approx(lo / row["population"] * 1000, rel=1e-9)
        assert row["rate_ucl95"] == pytest.approx(hi / row["population"] * 1000, rel=1e-9)
    assert rows["all wards"]["rate"] == pytest.approx(result["OVERALL_RATE"])
    labels = set()
    for r in out.values():
        if r["rate"] is None:
            assert r["vs_borough"] is None
            continue
        assert r["rate_borough"] == pytest.approx(rows[r["borough"]]["rate"])
        limits = {0.95: (r["borough_lcl95"], r["borough_ucl95"]), 0.998: (r["borough_lcl998"], r["borough_ucl998"])}
        assert r["vs_borough"] == funnel.label(r["rate"], limits)
        e = r["rate_borough"] / 1000 * r["population"]
        assert r["borough_ucl998"] >= stats.chi2.ppf(0.999, 2 * e + 2) / 2 / r["population"] * 1000 * (1 - 1e-9)
        labels.add(r["vs_borough"])
    assert {"higher (99.8 %)", "not significantly different"} <= labels


def _ward_boroughs() -> dict[str, str]:
    """Each bundled ward's borough (LAD24CD) from the ONS lookup; the 20 City wards it lacks are the City's."""
    from qgis.core import QgsVectorLayer

    lad = dict(pd.read_csv(LOOKUP)[["WD24CD", "LAD24CD"]].drop_duplicates().itertuples(index=False))
    city = {f"E05009{n}" for n in range(288, 313)}  # the City of London's 25 wards (issue 12)
    codes = [f["WD24CD"] for f in QgsVectorLayer(f"{WARDS}|layername=wards", "w", "ogr").getFeatures()]
    assert {c for c in codes if c not in lad} <= city
    return {c: "E09000001" if c in city else lad[c] for c in codes}


def _dissolved_boroughs(ward_borough: dict[str, str], leave_out: str = "", crs: str = "EPSG:27700"):
    """Borough polygons built by dissolving the bundled wards by their lookup borough, in reverse code order."""
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsCoordinateTransform,
        QgsFeature,
        QgsField,
        QgsGeometry,
        QgsProject,
        QgsVectorLayer,
    )
    from qgis.PyQt.QtCore import QVariant

    parts: dict[str, list] = {}
    for f in QgsVectorLayer(f"{WARDS}|layername=wards", "w", "ogr").getFeatures():
        parts.setdefault(ward_borough[f["WD24CD"]], []).append(f.geometry())
    layer = QgsVectorLayer(f"MultiPolygon?crs={crs}", "boroughs", "memory")
    transform = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:27700"), QgsCoordinateReferenceSystem(crs), QgsProject.instance()
    )
    layer.dataProvider().addAttributes([QgsField("LAD24CD", QVariant.String), QgsField("LAD24NM", QVariant.String)])
    layer.updateFields()
    features = []
    for code in sorted(parts, reverse=True):
        if code == leave_out:
            continue
        f = QgsFeature(layer.fields())
        f.setAttributes([code, f"borough {code}"])
        geometry = QgsGeometry.unaryUnion(parts[code])
        assert geometry.transform(transform) == 0
        f.setGeometry(geometry)
        features.append(f)
    assert layer.dataProvider().addFeatures(features)
    return layer


def test_boroughs_by_location_give_the_same_wards_boroughs_and_table_as_the_borough_field(
    run_alg, crimes, ward_population, tmp_path
):
    from qgis.core import QgsField, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    from tests.layers import memory_copy

    want = _ward_boroughs()
    assert len(want) == 704 and len(set(want.values())) == 33
    wards = memory_copy(WARDS)
    wards.dataProvider().addAttributes([QgsField("LAD24CD", QVariant.String)])
    wards.updateFields()
    index = wards.fields().indexOf("LAD24CD")
    assert wards.dataProvider().changeAttributeValues({f.id(): {index: want[f["WD24CD"]]} for f in wards.getFeatures()})
    common = {"CRIMES": str(crimes), "POPULATION_TABLE": str(ward_population)}

    def run(name: str, **extra) -> tuple[dict, dict, dict]:
        result = run_alg(
            "crimemapping:wardrates",
            {**common, **extra, "OUTPUT": str(tmp_path / f"{name}.gpkg"), "BOROUGHS": str(tmp_path / f"{name}_b.gpkg")},
        )
        table = QgsVectorLayer(str(tmp_path / f"{name}_b.gpkg"), "b", "ogr")
        rows = {f["borough"]: {n: _py(f[n]) for n in table.fields().names() if n != "fid"} for f in table.getFeatures()}
        return result, _read(tmp_path / f"{name}.gpkg"), rows

    _, by_field, field_rows = run("field", WARDS=wards, BOROUGH_FIELD="LAD24CD")
    result, by_place, place_rows = run("place", WARDS=str(WARDS), BOROUGHS_LAYER=_dissolved_boroughs(want))
    assert {c: r["borough"] for c, r in by_place.items()} == want
    assert place_rows == field_rows and len(place_rows) == 34
    columns = [n for n in by_field["E05009288"] if n.startswith(("borough", "rate_borough", "vs_borough"))]
    assert len(columns) == 7
    for code, r in by_place.items():
        assert {n: r[n] for n in columns} == {n: by_field[code][n] for n in columns}, code
    assert "704 ward(s) placed in 33 of 33 boroughs" in result["REPORT"]

    # Named boroughs in another CRS; a ward in no borough polygon has no borough comparison and is listed.
    result, named, rows = run(
        "named",
        WARDS=str(WARDS),
        BOROUGHS_LAYER=_dissolved_boroughs(want, "E09000001", "EPSG:4326"),
        BOROUGH_NAME_FIELD="LAD24NM",
    )
    city = {c for c, b in want.items() if b == "E09000001"}
    assert {c: r["borough"] for c, r in named.items()} == {
        c: None if c in city else f"borough {b}" for c, b in want.items()
    }
    assert all(named[c]["vs_borough"] is None and named[c]["rate_borough"] is None for c in city)
    assert rows[f"borough {want['E05013666']}"] == {
        **field_rows[want["E05013666"]],
        "borough": f"borough {want['E05013666']}",
    }
    assert "25 ward(s) lie in no borough polygon" in result["REPORT"]


def test_a_borough_field_and_borough_polygons_together_are_refused(run_alg, tmp_path):
    from qgis.core import QgsProcessingException

    with pytest.raises(QgsProcessingException, match="one of the two"):
        run_alg(
            "crimemapping:wardrates",
            {
                "COUNTS_TABLE": _csv_layer(MPS, "mps"),
                "WARDS": str(WARDS),
                "POPULATION_FIELD": "BNG_E",
                "BOROUGH_FIELD": "WD24NM",
                "BOROUGHS_LAYER": _dissolved_boroughs(_ward_boroughs()),
                "OUTPUT": str(tmp_path / "x.gpkg"),
            },
        )
