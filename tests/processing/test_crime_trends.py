"""crimemapping:crimetrends on the bundled real data: the MPS ward table (25 months) and police.uk points.

Expected values are computed here independently: limits with plain numpy per ward from the MPS CSV read
by pandas (not through the import nor core.spc), the E-test by a direct double summation of Poisson
probabilities (scipy), and the coverage of a police.uk series built from the real rows.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from tests.conftest import POLICE_UK, SAMPLE

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"
WARDS_LAYER = f"{WARDS}|layername=wards"
MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"
POPULATION = SAMPLE / "population"
SOURCE_MONTHS = ("2024-10", "2024-11", "2024-12")
# 26 relabelled months from 2022-11; one month removed (missing) and one cut to every tenth row (partial).
FIRST_YEAR, FIRST_MONTH, N_MONTHS = 2022, 11, 26
REMOVED, CUT = 12, 18


def _month(i: int) -> str:
    year, month = divmod(FIRST_YEAR * 12 + FIRST_MONTH - 1 + i, 12)
    return f"{year:04d}-{month + 1:02d}"


def _py(value: object) -> object:
    from qgis.PyQt.QtCore import QVariant

    return None if value is None or (isinstance(value, QVariant) and value.isNull()) else value


def _rows(path: str, key: str = "area_code") -> list[dict]:
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(str(path), "out", "ogr")
    assert layer.isValid(), path
    return [{k: _py(f[k]) for k in layer.fields().names()} for f in layer.getFeatures()]


@pytest.fixture(scope="module")
def mps_table(run_alg, tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("mps") / "mps.gpkg"
    return run_alg("crimemapping:importmpswardcrime", {"INPUT": str(MPS), "OUTPUT": str(path)})["OUTPUT"]


def _mps_run(run_alg, mps_table: str, out: Path, **extra: object) -> dict:
    params = {
        "COUNTS_TABLE": mps_table,
        "AREAS": WARDS_LAYER,
        "AREA_CODE_FIELD": "WD24CD",
        "AREA_NAME_FIELD": "WD24NM",
        "OUTPUT": str(out / "trends.gpkg"),
        "TABLE": str(out / "table.gpkg"),
    }
    params.update(extra)
    return run_alg("crimemapping:crimetrends", params)


@pytest.fixture(scope="module")
def mps_run(run_alg, mps_table, tmp_path_factory) -> dict:
    return _mps_run(run_alg, mps_table, tmp_path_factory.mktemp("trends"))


@pytest.fixture(scope="module")
def ward_series() -> pd.DataFrame:
    """Offences per ward (rows, every bundled ward) and month (columns) straight from the MPS CSV."""
    from qgis.core import QgsVectorLayer

    wide = pd.read_csv(MPS, dtype={"WardCode": str})
    months = [c for c in wide.columns if c.isdigit()]
    per_ward = wide.groupby("WardCode")[months].sum()
    codes = [f["WD24CD"] for f in QgsVectorLayer(WARDS_LAYER, "w", "ogr").getFeatures()]
    # A ward without any row (the City of London's: the City has its own police) is NaN: no data, not zeros.
    return per_ward.reindex(sorted(codes)).astype(float)


def _xmr(y: np.ndarray) -> tuple[float, float, float]:
    """Mean and screened limits of a series (NaN: left out) in plain numpy."""
    mean = np.nanmean(y)
    mr = np.abs(y[1:] - y[:-1])
    mr = mr[~np.isnan(mr)]
    amr = mr.mean()
    if amr > 0:
        amr = mr[mr < 3.267 * amr].mean()
    return mean, mean + 2.66 * amr, mean - 2.66 * amr


def _own_partial(y: np.ndarray) -> np.ndarray:
    """docs/methods.md's partial-month rule, written out: below 20 % of the median of the 12 months before
    (the 12 after when fewer than 6 before have data), only where that median is 10 or more."""
    out = np.zeros(len(y), dtype=bool)
    for t in range(len(y)):
        if np.isnan(y[t]):
            continue
        ref = y[max(0, t - 12) : t]
        ref = ref[~np.isnan(ref)]
        if len(ref) < 6:
            ref = y[t + 1 : t + 13]
            ref = ref[~np.isnan(ref)]
        out[t] = len(ref) >= 6 and np.median(ref) >= 10 and y[t] < 0.2 * np.median(ref)
    return out


def test_every_ward_limits_equal_an_independent_computation_keeping_partial_months(
    run_alg, mps_table, ward_series, tmp_path
) -> None:
    result = _mps_run(run_alg, mps_table, tmp_path, PARTIAL_AS_MISSING=False)
    rows = {r["area_code"]: r for r in _rows(result["OUTPUT"])}
    assert len(rows) == len(ward_series) == 704
    without = ward_series.index[ward_series.isna().all(axis=1)]
    assert len(without) == 25  # the City of London's wards (its own police), absent from the MPS table
    for code in without:
        assert rows[code]["signal"] == "not enough data" and rows[code]["mean"] is None
        assert rows[code]["count"] is None and "no row in the count table" in rows[code]["signal_note"]
    for code, y in ward_series.drop(without).iterrows():
        mean, upper, lower = _xmr(y.to_numpy())
        row = rows[code]
        assert (row["mean"], row["upper"], row["lower"]) == pytest.approx((mean, upper, lower), rel=1e-9, abs=1e-9)
        assert row["count"] == y.iloc[-1]


def test_every_ward_limits_leave_the_cut_first_month_out_by_default(mps_run, ward_series) -> None:
    totals = ward_series.sum().to_numpy()
    # The MPS table's first column is cut short: far below a fifth of the next 12 months' median.
    assert totals[0] < 0.2 * np.median(totals[1:13])
    assert mps_run["PARTIAL_MONTHS"] == "2024-03" and mps_run["MISSING_MONTHS"] == ""
    rows = {r["area_code"]: r for r in _rows(mps_run["OUTPUT"])}
    for code, series in ward_series.dropna().iterrows():
        y = series.to_numpy().copy()
        y[0] = np.nan
        y[_own_partial(y)] = np.nan
        mean, upper, lower = _xmr(y)
        assert (rows[code]["mean"], rows[code]["upper"], rows[code]["lower"]) == pytest.approx(
            (mean, upper, lower), rel=1e-9, abs=1e-9
        ), code
    signals = mps_run["CONCERN"] + mps_run["IMPROVEMENT"] + mps_run["COMMON_CAUSE"] + mps_run["NOT_ENOUGH_DATA"]
    assert signals == 704 and mps_run["NOT_ENOUGH_DATA"] == ward_series.isna().all(axis=1).sum() == 25
    assert mps_run["CRIMES_READ"] == mps_run["CRIMES_COUNTED"] == int(np.nansum(ward_series.to_numpy()))


def _e_test_direct(k1: int, k2: int, n1: float, n2: float) -> float:
    """Krishnamoorthy & Thomson's E-test p-value by summing every pair of counts within 12 standard deviations
    of their means (the probability beyond is below 1e-30)."""
    lam = (k1 + k2) / (n1 + n2)

    def counts(mean: float) -> np.ndarray:
        spread = 12 * math.sqrt(mean) + 10
        return np.arange(max(0, int(mean - spread)), int(mean + spread) + 1, dtype=float)

    x1, x2 = np.meshgrid(counts(n1 * lam), counts(n2 * lam), indexing="ij")
    var = x1 / n1**2 + x2 / n2**2
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(var > 0, (x1 / n1 - x2 / n2) / np.sqrt(var), 0.0)
    t0 = (k1 / n1 - k2 / n2) / math.sqrt(k1 / n1**2 + k2 / n2**2)
    prob = stats.poisson.pmf(x1, n1 * lam) * stats.poisson.pmf(x2, n2 * lam)
    return float(prob[np.abs(t) >= abs(t0) - 1e-12].sum())


def test_rolling_twelve_months_p_values_equal_a_direct_summation(mps_run, ward_series) -> None:
    rows = {r["area_code"]: r for r in _rows(mps_run["OUTPUT"])}
    # The smallest wards with crime and a few others; the latest window: months 14..25 against 2..13.
    order = ward_series.dropna().sum(axis=1).sort_values()
    chosen = [c for c in order.index if order[c] > 0][:6] + list(order.index[-3:])
    for code in chosen:
        y = ward_series.loc[code].to_numpy()
        current, previous = int(y[13:25].sum()), int(y[1:13].sum())
        row = rows[code]
        assert (row["roll_current"], row["roll_previous"]) == (current, previous)
        assert row["roll_p"] == pytest.approx(_e_test_direct(current, previous, 12, 12), rel=1e-7, abs=1e-12)
        assert row["roll_change_pct"] == pytest.approx((current / previous - 1) * 100)
    # All areas together (about 900,000 crimes a year, too many for the double sum): the sums of every ward,
    # and every area's row carries the all-areas figures of the long table.
    total = ward_series.sum().to_numpy()
    overall = [r for r in _rows(mps_run["TABLE"]) if r["area_code"] == "all areas"][-1]
    assert (overall["roll_current"], overall["roll_previous"]) == (int(total[13:].sum()), int(total[1:13].sum()))
    assert {r["all_p"] for r in rows.values()} == {overall["roll_p"]}
    assert {r["all_change_pct"] for r in rows.values()} == {overall["roll_change_pct"]}


def test_the_long_table_holds_every_area_parent_and_month(mps_run, ward_series) -> None:
    rows = _rows(mps_run["TABLE"])
    assert len(rows) == (704 + 1) * 25  # no parent field: the wards and all areas together
    first = [r for r in rows if r["month"] == "2024-03"]
    assert all("partial month of the source" in r["coverage"] for r in first)
    assert all(r["value"] is None for r in first)
    assert all((r["count"] is None) == ("no row in the count table" in r["coverage"]) for r in first)
    overall = [r for r in rows if r["area_code"] == "all areas"]
    assert [r["count"] for r in overall] == [int(v) for v in ward_series.sum().to_numpy()]
    city = [r for r in rows if r["area_code"] == "E05009288"]  # Aldersgate, City of London: no row
    assert len(city) == 25 and all(r["count"] is None for r in city)  # 25 months


@pytest.fixture(scope="module")
def relabelled_points(run_alg, tmp_path_factory) -> tuple[Path, dict[str, int]]:
    """Real police.uk burglaries relabelled into 26 months; one month removed, one cut to a tenth."""
    from osgeo import ogr, osr

    folder = tmp_path_factory.mktemp("relabelled")
    imported = folder / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(imported)})
    src = ogr.Open(str(imported))
    layer = src.GetLayer(0)
    layer.SetAttributeFilter("crime_group = 'Burglary'")
    by_month: dict[str, list] = {m: [] for m in SOURCE_MONTHS}
    for f in layer:
        g = f.GetGeometryRef()
        by_month[str(f.GetField("month"))[:7].replace("/", "-")].append(None if g is None else g.ExportToWkb())
    out_path = folder / "relabelled.gpkg"
    out = ogr.GetDriverByName("GPKG").CreateDataSource(str(out_path))
    srs = osr.SpatialReference()
    srs.ImportFromWkt(layer.GetSpatialRef().ExportToWkt())
    target = out.CreateLayer("crimes", srs, ogr.wkbPoint)
    target.CreateField(ogr.FieldDefn("month", ogr.OFTString))
    written: dict[str, int] = {}
    target.StartTransaction()
    for i in range(N_MONTHS):
        if i == REMOVED:
            continue
        rows = by_month[SOURCE_MONTHS[i % 3]]
        rows = rows[::10] if i == CUT else rows
        for wkb in rows:
            feature = ogr.Feature(target.GetLayerDefn())
            feature.SetField("month", _month(i))
            if wkb is not None:
                feature.SetGeometry(ogr.CreateGeometryFromWkb(wkb))
            target.CreateFeature(feature)
        written[_month(i)] = len(rows)
    target.CommitTransaction()
    out = None
    return out_path, written


def test_police_uk_months_removed_and_cut_are_missing_and_partial(run_alg, relabelled_points, tmp_path) -> None:
    path, written = relabelled_points
    result = run_alg(
        "crimemapping:crimetrends",
        {
            "CRIMES": str(path),
            "AREAS": WARDS_LAYER,
            "AREA_CODE_FIELD": "WD24CD",
            "OUTPUT": str(tmp_path / "trends.gpkg"),
            "TABLE": str(tmp_path / "table.gpkg"),
        },
    )
    assert result["PERIOD"] == f"{_month(0)} to {_month(N_MONTHS - 1)}"
    assert result["MISSING_MONTHS"] == _month(REMOVED)
    assert result["PARTIAL_MONTHS"] == _month(CUT)
    assert result["CRIMES_READ"] == sum(written.values())
    assert result["CRIMES_READ"] == result["CRIMES_COUNTED"] + result["OUTSIDE_AREAS"] + result["NO_LOCATION"]
    rows = _rows(result["TABLE"])
    missing = [r for r in rows if r["month"] == _month(REMOVED)]
    assert missing and all(r["count"] is None and "missing" in r["coverage"] for r in missing)
    cut = [r for r in rows if r["month"] == _month(CUT)]
    assert all("partial month of the source" in r["coverage"] for r in cut)
    overall = {r["month"]: r for r in rows if r["area_code"] == "all areas"}
    assert sum(r["count"] or 0 for r in overall.values()) == result["CRIMES_COUNTED"]
    assert overall[_month(CUT)]["value"] is None  # left out of the chart by default
    latest = overall[_month(N_MONTHS - 1)]
    assert "a window has a missing month" in latest["roll_flags"]
    assert "partial" in latest["roll_flags"]
    # The previous window (months 2..13) holds 11 months with data: the removed month adds nothing, not a zero;
    # the current one (14..25) 11 too: the cut month is left out. Both hold the same relabelled months: no change.
    assert latest["roll_previous"] == sum(overall[_month(i)]["count"] or 0 for i in range(2, 14))
    assert latest["roll_current"] == sum(overall[_month(i)]["count"] for i in range(14, 26) if i != CUT)
    assert latest["roll_previous"] == latest["roll_current"]
    assert latest["roll_change_pct"] == 0.0 and latest["roll_p"] == 1.0


def test_layer_is_styled_by_signal_and_renders_each_signal_in_its_colour(mps_run, tmp_path) -> None:
    from qgis.core import QgsMapRendererParallelJob, QgsMapSettings, QgsVectorLayer
    from qgis.PyQt.QtCore import QSize
    from qgis.PyQt.QtGui import QColor

    from crime_mapping_plugin.core import trends
    from crime_mapping_plugin.processing.trend_style import style_trends

    layer = QgsVectorLayer(mps_run["OUTPUT"], "trends", "ogr")
    style_trends(layer, "Crime trends")
    assert [c.label() for c in layer.renderer().categories()] == list(trends.SIGNALS)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    settings.setExtent(layer.extent())
    settings.setOutputSize(QSize(1000, 800))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererParallelJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    image.save(str(tmp_path / "trends.png"))
    expected = {trends.SIGNAL_CONCERN: (202, 0, 32), trends.SIGNAL_IMPROVEMENT: (5, 113, 176)}
    seen = 0
    for f in layer.getFeatures():
        if f["signal"] not in expected:
            continue
        p = settings.mapToPixel().transform(f.geometry().pointOnSurface().asPoint())
        colour = QColor(image.pixel(int(p.x()), int(p.y())))
        if f.geometry().area() > 1.5e6:  # big enough that the pixel is inside, away from outlines
            assert (colour.red(), colour.green(), colour.blue()) == expected[f["signal"]], f["area_code"]
            seen += 1
    assert seen > 5


def test_charts_for_a_parent_and_small_multiples_are_written(run_alg, mps_table, tmp_path) -> None:
    from qgis.PyQt.QtGui import QImage

    result = _mps_run(
        run_alg,
        mps_table,
        tmp_path,
        CHART_AREAS="E05013570,E05009288",
        CHARTS_FOLDER=str(tmp_path / "charts"),
        SMALL_MULTIPLES=str(tmp_path / "multiples.png"),
    )
    files = sorted(p.name for p in (tmp_path / "charts").iterdir())
    assert files == ["trend_E05009288.png", "trend_E05013570.png"]
    assert result["CHARTS_WRITTEN"] == 3
    image = QImage(str(tmp_path / "multiples.png"))
    assert image.width() == 2 * 420 and image.height() == 240 + 70


def test_london_as_one_polygon_without_a_code_has_the_series_of_all_wards(run_alg, relabelled_points, tmp_path) -> None:
    path, _ = relabelled_points
    london = run_alg("native:dissolve", {"INPUT": WARDS_LAYER, "OUTPUT": str(tmp_path / "london.gpkg")})["OUTPUT"]
    one = run_alg(
        "crimemapping:crimetrends",
        {
            "CRIMES": str(path),
            "AREAS": london,
            "OUTPUT": str(tmp_path / "one.gpkg"),
            "TABLE": str(tmp_path / "t1.gpkg"),
        },
    )
    wards = run_alg(
        "crimemapping:crimetrends",
        {
            "CRIMES": str(path),
            "AREAS": WARDS_LAYER,
            "AREA_CODE_FIELD": "WD24CD",
            "OUTPUT": str(tmp_path / "wards.gpkg"),
            "TABLE": str(tmp_path / "t2.gpkg"),
        },
    )
    rows = _rows(one["OUTPUT"])
    assert len(rows) == 1 and rows[0]["area_code"] == "1"  # no code field: areas are numbered
    series = [r["count"] for r in _rows(one["TABLE"]) if r["area_code"] == "1"]
    overall = [r["count"] for r in _rows(wards["TABLE"]) if r["area_code"] == "all areas"]
    assert series == overall and series[REMOVED] is None
    assert one["CRIMES_COUNTED"] == wards["CRIMES_COUNTED"]
    latest = [r for r in _rows(wards["TABLE"]) if r["area_code"] == "all areas"][-1]
    assert (rows[0]["mean"], rows[0]["upper"], rows[0]["roll_p"]) == (latest["mean"], latest["upper"], latest["roll_p"])


@pytest.fixture(scope="module")
def ward_population(run_alg, tmp_path_factory) -> str:
    """The 2024 wards' Census 2021 residents, as 'Ward populations from LSOA populations' writes them."""
    folder = tmp_path_factory.mktemp("population")
    return run_alg(
        "crimemapping:wardpopulation",
        {
            "LSOA_POPULATION": str(POPULATION / "london_lsoa21_population_census2021.csv"),
            "LOOKUP": str(POPULATION / "london_lsoa21_to_ward24_lookup.csv"),
            "OUTPUT": str(folder / "pop.gpkg"),
        },
    )["OUTPUT"]


@pytest.fixture(scope="module")
def wards_with_population(run_alg, ward_population, tmp_path_factory) -> str:
    """The same residents joined to the wards as a field by QGIS's own join."""
    folder = tmp_path_factory.mktemp("joined")
    joined = {"INPUT": WARDS_LAYER, "FIELD": "WD24CD", "INPUT_2": ward_population, "FIELD_2": "ward_code"}
    params = {**joined, "FIELDS_TO_COPY": ["population"], "METHOD": 1, "OUTPUT": str(folder / "wards.gpkg")}
    return run_alg("native:joinattributestable", params)["OUTPUT"]


def test_rates_and_laney_charts_with_a_population(run_alg, mps_table, ward_series, wards_with_population, tmp_path):
    from qgis.core import QgsVectorLayer

    population = {f["WD24CD"]: f["population"] for f in QgsVectorLayer(wards_with_population, "w", "ogr").getFeatures()}
    base = {"COUNTS_TABLE": mps_table, "AREAS": wards_with_population, "AREA_CODE_FIELD": "WD24CD"}
    base["POPULATION_FIELD"] = "population"
    rates = run_alg("crimemapping:crimetrends", {**base, "CHART": 1, "OUTPUT": str(tmp_path / "rates.gpkg")})
    laney = run_alg("crimemapping:crimetrends", {**base, "CHART": 2, "OUTPUT": str(tmp_path / "laney.gpkg")})
    rate_rows = {r["area_code"]: r for r in _rows(rates["OUTPUT"])}
    laney_rows = {r["area_code"]: r for r in _rows(laney["OUTPUT"])}
    for code in ["E05013570", "E05013808", "E05014119"]:
        y = ward_series.loc[code].to_numpy()[1:]  # the cut first month left out
        n = population[code]
        mean, upper, lower = _xmr(y / n * 1000)
        assert (rate_rows[code]["mean"], rate_rows[code]["upper"]) == pytest.approx((mean, upper), rel=1e-9)
        # Laney u' (Laney 2002) written out: constant exposure n, sigma_z from the moving ranges of z.
        centre = y.sum() / (n * len(y))
        sigma = math.sqrt(centre / n)
        z = (y / n - centre) / sigma
        sigma_z = np.abs(np.diff(z)).mean() / 1.128
        assert laney_rows[code]["mean"] == pytest.approx(centre * 1000, rel=1e-9)
        assert laney_rows[code]["upper"] == pytest.approx((centre + 3 * sigma * sigma_z) * 1000, rel=1e-9)
        assert laney_rows[code]["value"] == pytest.approx(y[-1] / n * 1000, rel=1e-12)


def _wards_outside_the_lookup() -> list[str]:
    """The bundled 2024 wards that the bundled LSOA → ward lookup gives no LSOA (so no residents), by pandas."""
    from qgis.core import QgsVectorLayer

    lookup = pd.read_csv(POPULATION / "london_lsoa21_to_ward24_lookup.csv", dtype=str)
    wards = [f["WD24CD"] for f in QgsVectorLayer(WARDS_LAYER, "w", "ogr").getFeatures()]
    return sorted(set(wards) - set(lookup["WD24CD"]))


@pytest.mark.parametrize("chart", [1, 2])
def test_a_population_table_gives_the_rates_and_limits_of_the_same_population_joined_as_a_field(
    run_alg, mps_table, ward_population, wards_with_population, chart, tmp_path
):
    from qgis.core import QgsVectorLayer

    base = {"COUNTS_TABLE": mps_table, "AREA_CODE_FIELD": "WD24CD", "CHART": chart}
    field = run_alg(
        "crimemapping:crimetrends",
        {
            **base,
            "AREAS": wards_with_population,
            "POPULATION_FIELD": "population",
            "OUTPUT": str(tmp_path / "field.gpkg"),
            "TABLE": str(tmp_path / "field_table.gpkg"),
        },
    )
    table = run_alg(
        "crimemapping:crimetrends",
        {
            **base,
            "AREAS": WARDS_LAYER,
            "POPULATION_TABLE": ward_population,
            "OUTPUT": str(tmp_path / "table.gpkg"),
            "TABLE": str(tmp_path / "table_table.gpkg"),
        },
    )
    by_field, by_table = _rows(field["OUTPUT"]), _rows(table["OUTPUT"])
    assert len(by_table) == 704 and by_table == by_field
    monthly_field, monthly_table = _rows(field["TABLE"]), _rows(table["TABLE"])
    assert len(monthly_table) == len(monthly_field) > 704 * 24 and monthly_table == monthly_field
    # Rates there are, and they are the joined residents' (read back from the joined layer here).
    residents = {f["WD24CD"]: f["population"] for f in QgsVectorLayer(wards_with_population, "w", "ogr").getFeatures()}
    last = {r["area_code"]: r for r in monthly_table if r["month"] == "2024-12"}
    ward = "E05013570"
    assert last[ward]["rate"] == pytest.approx(last[ward]["count"] / residents[ward] * 1000, rel=1e-12)
    assert sum(r["mean"] is not None for r in by_table) > 600
    # The residents' basis is said: the table, its value field and the basis the population table wrote.
    bases = {f["basis"] for f in QgsVectorLayer(ward_population, "p", "ogr").getFeatures()}
    assert len(bases) == 1
    assert field["POPULATION_BASIS"] == "field population of the area layer"
    assert "(population): " + bases.pop() in table["POPULATION_BASIS"]
    assert Path(ward_population).stem in table["POPULATION_BASIS"]
    assert table["POPULATION_BASIS"] in table["REPORT"]


def test_population_table_codes_not_among_the_areas_and_areas_missing_from_it_are_listed(
    run_alg, mps_table, ward_population, tmp_path
):
    from qgis.core import QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    from tests.processing.test_ward_rates import _memory_table

    rows = [(f["ward_code"], f["population"]) for f in QgsVectorLayer(ward_population, "p", "ogr").getFeatures()]
    dropped = ["E05013570", "E05013808"]
    kept = [r for r in rows if r[0] not in dropped] + [("X99", 1000.0), ("Y42", 2000.0)]
    pops = _memory_table([("ward_code", QVariant.String), ("population", QVariant.Double)], kept)
    result = run_alg(
        "crimemapping:crimetrends",
        {
            "COUNTS_TABLE": mps_table,
            "AREAS": WARDS_LAYER,
            "AREA_CODE_FIELD": "WD24CD",
            "POPULATION_TABLE": pops,
            "CHART": 1,
            "OUTPUT": str(tmp_path / "t.gpkg"),
            "TABLE": str(tmp_path / "tt.gpkg"),
        },
    )
    missing = sorted(_wards_outside_the_lookup() + dropped)
    report = result["REPORT"]
    assert "population table codes not among the areas (2): 'X99', 'Y42'" in report
    assert f"areas without a population ({len(missing)}): " in report
    for code in missing[:5]:  # the list is shortened after a few codes
        assert f"'{code}'" in report
    monthly = _rows(result["TABLE"])
    assert all(r["rate"] is None for r in monthly if r["area_code"] in dropped)
    assert all(r["rate"] is None for r in monthly if r["area_code"] == "all areas")
    assert any(r["rate"] is not None for r in monthly if r["area_code"] == "E05014119")


def test_a_population_field_and_table_together_or_a_repeated_code_are_refused(
    run_alg, mps_table, ward_population, wards_with_population, relabelled_points
):
    from qgis.core import QgsProcessingException, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    from tests.processing.test_ward_rates import _memory_table

    base = {"COUNTS_TABLE": mps_table, "AREA_CODE_FIELD": "WD24CD", "OUTPUT": "memory:", "TABLE": "memory:"}
    with pytest.raises(QgsProcessingException, match=r"population field of the area layer or a population table"):
        run_alg(
            "crimemapping:crimetrends",
            {
                **base,
                "AREAS": wards_with_population,
                "POPULATION_FIELD": "population",
                "POPULATION_TABLE": ward_population,
            },
        )
    without_code = {**base, "AREA_CODE_FIELD": "", "CRIMES": str(relabelled_points[0]), "COUNTS_TABLE": None}
    with pytest.raises(QgsProcessingException, match="population table is joined to the areas by code"):
        run_alg("crimemapping:crimetrends", {**without_code, "AREAS": WARDS_LAYER, "POPULATION_TABLE": ward_population})
    with pytest.raises(QgsProcessingException, match="Charts of rates need a population field or table"):
        run_alg("crimemapping:crimetrends", {**base, "AREAS": WARDS_LAYER, "CHART": 1})
    rows = [(f["ward_code"], f["population"]) for f in QgsVectorLayer(ward_population, "p", "ogr").getFeatures()]
    pops = _memory_table([("ward_code", QVariant.String), ("population", QVariant.Double)], rows + [rows[3]])
    with pytest.raises(QgsProcessingException, match=f"area codes on more than one row in 'ward_code': '{rows[3][0]}'"):
        run_alg("crimemapping:crimetrends", {**base, "AREAS": WARDS_LAYER, "POPULATION_TABLE": pops})
