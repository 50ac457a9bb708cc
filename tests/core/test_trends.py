"""core.trends: the published XmR check through crime_trends, each rule wired to the latest signal, coverage."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crime_mapping_plugin.core import spc, trends
from crime_mapping_plugin.core.months import analysis_period, month_number

PUBLISHED = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]
FIRST = month_number("2022-01")
# A stable baseline of 12 months: mean 11, every moving range 2, so limits 11 ± 5.32 (16.32, 5.68) and near
# limits 11 ± 3.5467 (14.5467, 7.4533) (docs/methods.md, "Statistical process control").
BASELINE = [10, 12] * 6


def _run(series: list[float], **request: object) -> trends.Trends:
    months = FIRST + np.arange(len(series))
    return trends.crime_trends(
        trends.TrendsRequest(**request),
        ["A"],
        ["area A"],
        [None],
        np.array([series], dtype=float),
        analysis_period(months),
    )


def _latest(series: list[float]) -> tuple[str, str | None]:
    row = trends.area_rows(_run(series, baseline=12))[0]
    return row["signal"], row["rule"]


def test_published_series_screened_and_unscreened_to_four_decimals() -> None:
    screened = _run(PUBLISHED).areas[0]
    assert round(screened.centre[0], 4) == 1.9444
    assert round(screened.upper[0], 4) == 4.6044
    assert round(screened.lower[0], 4) == -0.7156
    assert screened.chart.limits.amr == 1.0
    plain = _run(PUBLISHED, screen=False).areas[0]
    assert (round(plain.upper[0], 4), round(plain.lower[0], 4)) == (6.9515, -3.0626)
    # The 10 is outside the screened limits: the table names the rule at its month.
    rows = trends.table_rows(_run(PUBLISHED), 1000.0)
    assert rows[4]["rule"] == spc.RULE_OUTSIDE and rows[4]["variation"] == spc.CONCERN


@pytest.mark.parametrize(
    ("tail", "signal", "rule"),
    [
        ([11] * 5 + [17], trends.SIGNAL_CONCERN, spc.RULE_OUTSIDE),
        ([11] * 5 + [16], trends.SIGNAL_COMMON, None),
        ([11] * 5 + [5], trends.SIGNAL_IMPROVEMENT, spc.RULE_OUTSIDE),
        ([11] * 5 + [6], trends.SIGNAL_COMMON, None),
        ([11] + [12] * 7, trends.SIGNAL_CONCERN, spc.RULE_SHIFT),
        ([11, 11] + [12] * 6, trends.SIGNAL_COMMON, None),
        ([11, 14, 13.5, 13, 12.5, 12, 11.5, 10.9], trends.SIGNAL_IMPROVEMENT, spc.RULE_TREND),
        ([11, 11, 14, 13.5, 13, 12.5, 12, 11.5], trends.SIGNAL_COMMON, None),
        ([11, 11, 15, 11.5, 15], trends.SIGNAL_CONCERN, spc.RULE_TWO_IN_THREE),
        ([11, 11, 15, 11.5, 14.5], trends.SIGNAL_COMMON, None),
    ],
)
def test_each_rule_sets_the_latest_signal_and_its_near_miss_does_not(tail: list, signal: str, rule: str) -> None:
    assert _latest(BASELINE + tail) == (signal, rule)


def test_fewer_than_twelve_months_is_not_enough_data() -> None:
    result = _run([5, 7, 6, 8, 50])
    assert result.areas[0].signal == trends.SIGNAL_NOT_ENOUGH
    assert trends.area_rows(result)[0]["mean"] is None


def test_a_month_without_any_record_is_missing_in_every_area_not_zero() -> None:
    months = FIRST + np.array([m for m in range(26) if m != 15])
    counts = np.array([[20.0 + (m % 3) for m in range(26)], [0.0] * 26])
    result = trends.crime_trends(
        trends.TrendsRequest(), ["A", "B"], [None, None], ["P", "P"], counts, analysis_period(months)
    )
    assert result.coverage.missing == (FIRST + 15,)
    for s in result.areas:
        assert math.isnan(s.counts[15]) and trends.MONTH_MISSING in s.month_notes[15]
    # B's zeros are real zeros (the source has records in those months): its series has data.
    assert result.areas[1].months_with_data == 25
    assert trends.trend_stats.FLAG_MISSING in result.areas[0].rolling.flags[-1]
    assert result.parents["P"].counts[0] == 20.0 and math.isnan(result.parents["P"].counts[15])


def test_a_month_cut_to_a_tenth_is_partial_for_the_source_and_left_out() -> None:
    totals = [200.0 + 10 * (m % 4) for m in range(26)]
    totals[20] = 21.0
    result = _run(totals)
    assert result.coverage.partial == (FIRST + 20,)
    s = result.areas[0]
    assert math.isnan(s.values[20]) and s.left_out[20] == 21.0
    assert s.signal_note == "chart over 25 of 26 months (missing or partial left out)"
    assert trends.MONTH_PARTIAL_SOURCE in s.month_notes[20]
    assert trends.WINDOW_SOURCE_PARTIAL in s.rolling.flags[-1]
    kept = _run(totals, partial_as_missing=False).areas[0]
    assert kept.values[20] == 21.0 and kept.rules[20] == (spc.RULE_OUTSIDE,)


def test_rates_need_a_population_and_laney_limits_follow_the_exposure() -> None:
    with pytest.raises(trends.TrendsInputError):
        _run(PUBLISHED, chart=trends.CHART_RATES)
    months = FIRST + np.arange(len(PUBLISHED))
    result = trends.crime_trends(
        trends.TrendsRequest(chart=trends.CHART_RATES, multiplier=1000.0),
        ["A"],
        [None],
        [None],
        np.array([PUBLISHED], dtype=float),
        analysis_period(months),
        [500],
    )
    # Rates of a constant population are the counts scaled: limits scale with them.
    assert result.areas[0].upper[0] == pytest.approx(4.6044444 * 2, rel=1e-6)
    laney = trends.crime_trends(
        trends.TrendsRequest(chart=trends.CHART_LANEY, multiplier=1000.0),
        ["A"],
        [None],
        [None],
        np.array([PUBLISHED], dtype=float),
        analysis_period(months),
        [500],
    ).areas[0]
    centre = sum(PUBLISHED) / (500 * len(PUBLISHED))
    assert laney.centre[0] == pytest.approx(centre * 1000)
