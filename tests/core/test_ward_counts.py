"""Ward counts from a table and from points, the periods of ward rates and their months with records."""

from __future__ import annotations

import numpy as np
import pytest

from crime_mapping_plugin.core import crime_points as cp
from crime_mapping_plugin.core import rates
from crime_mapping_plugin.core import ward_counts as wc
from crime_mapping_plugin.core.months import MonthError, MonthRange, month_number, month_numbers
from crime_mapping_plugin.core.ward_rates import WardRatesRequest, periods, ward_rates


def _m(text: str) -> int:
    return month_number(text)


def test_table_counts_are_summed_by_code_and_every_crime_is_counted_or_left_out():
    codes = ["A", "B", "A", "Z", " B ", "C", None, "A"]
    counts = np.array([1, 2, 3, 4, 5, 6, 2, 7])
    months = month_numbers(["2024-10", "2024-10", "2024-11", "2024-10", "2024-12", "2024-10", "2024-10", "2024-09"])
    category = np.array([True, True, True, True, True, False, True, True])
    got = wc.count_table(codes, counts, months, category, ["A", "B", "C", "D"], MonthRange(_m("2024-10"), None))
    # By hand: the 2024-09 row (7) is outside the months, C's row (6) of a category not kept, Z and None
    # (4 + 2) match no ward; A = 1 + 3, B = 2 + 5.
    assert got.current.tolist() == [4, 7, 0, 0]
    assert got.read == 30 and got.counted == 11
    assert dict(got.left_out) == {cp.OUTSIDE_MONTHS: 7, cp.TYPE_NOT_SELECTED: 6, wc.UNMATCHED_CODE: 6}
    assert got.unmatched_codes == ["", "Z"]
    assert got.counted + sum(got.left_out.values()) == got.read


def test_a_table_count_that_is_not_a_whole_number_is_refused_naming_row_and_field():
    assert wc.table_counts([0, 3, 12.0, "5"], "count").tolist() == [0, 3, 12, 5]
    for bad, row in (([1, 1.5], 2), ([-1.5, 2], 1), ([3, 4, -1], 3), ([2, "x"], 2), ([None], 1), ([float("inf")], 1)):
        with pytest.raises(wc.CountTableError, match=rf"'n_crimes'.*table row {row}\b"):
            wc.table_counts(bad, "n_crimes")


def test_points_are_counted_by_the_area_rule_and_every_point_accounted_for(square_areas):
    # Two unit squares side by side, codes B (left) and A (right): a point on the shared edge goes to A.
    x = np.array([0.5, 1.0, 1.5, 5.0, np.nan, 0.2, 0.3, 1.2])
    y = np.array([0.5, 0.5, 0.5, 5.0, np.nan, 0.2, 0.3, 0.2])
    months = month_numbers(["2024-10", "2024-10", "2024-11", "2024-10", "2024-10", "nonsense", "2024-09", "2024-10"])
    type_ok = np.array([True, True, True, True, True, True, True, False])
    got = wc.count_points(square_areas, x, y, months, type_ok, MonthRange(_m("2024-10"), _m("2024-11")))
    assert square_areas.codes == ["A", "B"]
    assert got.current.tolist() == [2, 1]  # A: the boundary point and 1.5; B: 0.5
    assert got.on_boundary == 1
    assert dict(got.left_out) == {
        cp.NO_MONTH: 1,
        cp.OUTSIDE_MONTHS: 1,
        cp.TYPE_NOT_SELECTED: 1,
        cp.NO_GEOMETRY: 1,
        cp.OUTSIDE_AREAS: 1,
    }
    assert got.counted + sum(got.left_out.values()) == got.read == len(x)
    assert got.records_without_month == 1
    # With no month range, the record without a month is counted (in B), not left out.
    open_range = wc.count_points(square_areas, x, y, months, type_ok, MonthRange())
    assert open_range.current.tolist() == [2, 3] and cp.NO_MONTH not in open_range.left_out


@pytest.fixture
def square_areas(qgis_app):  # noqa: ARG001
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    from crime_mapping_plugin.core.areas import read_areas

    layer = QgsVectorLayer("Polygon?crs=EPSG:27700&field=code:string", "squares", "memory")
    feats = []
    for code, wkt in (("B", "POLYGON((0 0,1 0,1 1,0 1,0 0))"), ("A", "POLYGON((1 0,2 0,2 1,1 1,1 0))")):
        f = QgsFeature(layer.fields())
        f.setAttributes([code])
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        feats.append(f)
    layer.dataProvider().addFeatures(feats)
    return read_areas(layer, None, None, "code")


def test_the_periods_need_both_ends_and_may_not_overlap():
    current, previous = periods("2024-11", "2024-12", "2024-10", "2024-10")
    assert (current.start, current.end, previous.start, previous.end) == (
        _m("2024-11"),
        _m("2024-12"),
        _m("2024-10"),
        _m("2024-10"),
    )
    assert periods("", "", "", "") == (MonthRange(), None)
    with pytest.raises(MonthError, match="shares months"):
        periods("2024-10", "2024-12", "2024-09", "2024-10")
    with pytest.raises(MonthError, match="both its first and its last"):
        periods("2024-11", "2024-12", "2024-10", "")
    with pytest.raises(MonthError, match="main period too"):
        periods("2024-11", "", "2024-09", "2024-10")
    with pytest.raises(MonthError, match="YYYY-MM"):
        periods("10/2024", "", "", "")


def test_three_julys_give_three_months_with_records_and_22_missing():
    months = month_numbers(["2016-07"] * 4 + ["2017-07"] * 2 + ["2018-07"] * 3)
    counts = np.ones(len(months), dtype=np.int64)
    codes = ["A"] * 5 + ["B"] * 4
    counted = wc.count_table(codes, counts, months, np.ones(len(months), bool), ["A", "B"], MonthRange())
    result = ward_rates(WardRatesRequest(MonthRange()), ["A", "B"], [None, None], counted, [1000, 2000])
    assert result.period_label == "2016-07 to 2018-07"
    assert result.months == 3 and len(result.period.missing) == 22
    assert "2016-08 to 2017-06, 2017-08 to 2018-06" in result.missing_text()
    assert [r["months"] for r in result.rows()] == [3, 3]


def test_the_change_test_uses_months_with_records_as_exposure():
    from tests.stat_references import e_test_by_summation

    months = month_numbers(["2016-07"] * 3 + ["2017-07"] * 5 + ["2018-07"] * 4)
    codes = ["A"] * 12
    request = WardRatesRequest(MonthRange(_m("2017-07"), _m("2018-07")), MonthRange(_m("2016-07"), _m("2016-07")))
    counted = wc.count_table(
        codes, np.ones(12, np.int64), months, np.ones(12, bool), ["A"], request.months, request.previous
    )
    result = ward_rates(request, ["A"], [None], counted, [500.0])
    row = result.rows()[0]
    assert (row["crimes"], row["prev_crimes"], row["months"], row["prev_months"]) == (9, 3, 2, 1)
    # Exposure: 500 × 2 months with records after, 500 × 1 before (not 13 calendar months against 1).
    assert row["change_p"] == pytest.approx(e_test_by_summation(3, 9, 500.0, 1000.0), rel=1e-9)
    assert row["change_p"] != pytest.approx(e_test_by_summation(3, 9, 500.0, 6500.0), rel=1e-3)
    assert row["change_pct"] == pytest.approx((9 / 2) / (3 / 1) * 100 - 100)


def test_a_ward_whose_crimes_cannot_be_counted_gets_no_rate_no_rank_and_a_flag():
    counted = wc.WardCounts(
        read=7,
        rows=7,
        current=np.array([5, 0, 2]),
        previous=None,
        record_months=month_numbers(["2024-10"] * 7),
        uncountable={1: rates.FLAG_NO_GEOMETRY},
    )
    result = ward_rates(WardRatesRequest(MonthRange()), ["A", "B", "C"], [None] * 3, counted, [1000, 1000, 1000])
    rows = result.rows()
    assert rows[1]["crimes"] is None and rows[1]["rate"] is None and rows[1]["rank"] is None
    assert rows[1]["flag"] == rates.FLAG_NO_GEOMETRY and rows[1]["vs_all"] is None
    assert [rows[0]["rank"], rows[2]["rank"]] == [1, 2]
    # The overall rate leaves the uncountable ward's residents out.
    assert result.table.overall_rate == pytest.approx(7 / 2000 * 1000)


def test_populations_that_are_text_or_infinite_are_flagged_as_not_a_number():
    flags = rates.population_flags([1000, None, "", "n/a", float("inf"), float("nan"), 0, -5])
    assert flags == [
        "",
        rates.FLAG_NO_POPULATION,
        rates.FLAG_NO_POPULATION,
        rates.FLAG_BAD_POPULATION,
        rates.FLAG_BAD_POPULATION,
        rates.FLAG_NO_POPULATION,
        rates.FLAG_ZERO_POPULATION,
        rates.FLAG_NEGATIVE_POPULATION,
    ]


def test_a_main_period_without_any_record_is_refused_not_taken_for_zero():
    from crime_mapping_plugin.core.ward_rates import NoRecordsError

    months = month_numbers(["2024-10", "2024-11"])
    request = WardRatesRequest(MonthRange(_m("2025-01"), _m("2025-02")))
    counted = wc.count_table(["A", "A"], np.array([1, 2]), months, np.ones(2, bool), ["A"], request.months)
    with pytest.raises(NoRecordsError, match="2025-01 to 2025-02 has no record at all"):
        ward_rates(request, ["A"], [None], counted, [100])


def test_change_table_is_the_e_test_with_population_times_months_and_skips_unusable_areas():
    from crime_mapping_plugin.core.ward_rates import change_table
    from tests.stat_references import e_test_by_summation

    table = change_table([3, 0, 4, 5, 10], [9, 0, 6, 5, 20], np.array([500.0, 800, np.nan, 100, 1.0]), 1, 2)
    # Area 0: 3 a month before, 4.5 after: +50 %; exposures 500 × 1 and 500 × 2.
    assert table.change_pct[0] == pytest.approx(50.0)
    assert table.p_value[0] == pytest.approx(e_test_by_summation(3, 9, 500.0, 1000.0), rel=1e-9)
    assert table.change_pct[1] is None and table.p_value[1] == pytest.approx(1.0)  # 0 and 0: nothing to test
    assert table.p_value[2] is None and table.label[2] is None and np.isnan(table.rate_before[2])
    assert table.rate_before[3] == pytest.approx(5 / 100 * 1000)
    # Equal exposures, 20 against 10 crimes: the published E-test value (the conditional test gives 0.0987).
    equal = change_table([10], [20], np.array([1.0]), 1, 1)
    assert equal.p_value[0] == pytest.approx(0.06883, abs=5e-6)
    assert equal.label[0] == rates.NO_CHANGE
    untestable = change_table([3], [9], np.array([500.0]), 0, 2)
    assert untestable.p_value == [None] and untestable.change_pct == [None]


def test_boroughs_and_london_sum_their_wards_and_wards_compare_with_their_borough():
    from tests.stat_references import count_limits

    counts = np.array([30, 10, 5, 60, 2, 7])
    population = [4000.0, 3000.0, 2000.0, 5000.0, None, 1000.0]
    parents = ["B1", "B1", "B1", "B2", "B2", None]
    counted = wc.WardCounts(read=114, rows=114, current=counts, previous=None, record_months=month_numbers([]))
    codes = ["W1", "W2", "W3", "W4", "W5", "W6"]
    result = ward_rates(WardRatesRequest(MonthRange()), codes, [None] * 6, counted, population, parents)
    boroughs = {r["borough"]: r for r in result.parent_rows()}
    # B1 = W1 + W2 + W3; B2 = W4 only (W5 has no population); W6 has no borough; London = every ward with a rate.
    assert boroughs["B1"]["crimes"] == 45 and boroughs["B1"]["population"] == 9000 and boroughs["B1"]["wards"] == 3
    assert boroughs["B2"]["crimes"] == 60 and boroughs["B2"]["population"] == 5000
    everyone = boroughs["all wards"]
    assert everyone["crimes"] == 112 and everyone["rate"] == pytest.approx(result.table.overall_rate)
    lo, hi = count_limits(45, 0.95)
    assert boroughs["B1"]["rate_lcl95"] == pytest.approx(lo / 9000 * 1000) and boroughs["B1"]["rate_ucl95"] == (
        pytest.approx(hi / 9000 * 1000)
    )
    rows = {r["ward_code"]: r for r in result.rows()}
    assert rows["W1"]["rate_borough"] == pytest.approx(45 / 9000 * 1000) and rows["W1"]["borough"] == "B1"
    assert rows["W6"]["vs_borough"] is None and rows["W5"]["vs_borough"] is None
    # W1: 30 crimes where 20 are expected at B1's rate; exact Poisson limits at E = 20, with the agreement rule.
    from scipy import stats

    assert rows["W1"]["borough_ucl95"] == pytest.approx(
        max(stats.chi2.ppf(0.975, 42) / 2, next(k for k in range(99) if count_limits(k, 0.95)[0] > 20) - 1)
        / 4000
        * 1000
    )
    for row in rows.values():
        if row["vs_borough"] is not None:
            limits = {
                0.95: (row["borough_lcl95"], row["borough_ucl95"]),
                0.998: (row["borough_lcl998"], row["borough_ucl998"]),
            }
            from crime_mapping_plugin.core import funnel

            assert row["vs_borough"] == funnel.label(row["rate"], limits)
    assert rows["W4"]["vs_borough"] == rates.SAME  # the only ward of B2 with a rate is its borough
