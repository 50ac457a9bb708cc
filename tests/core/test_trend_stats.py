"""Rolling 12 months against the previous 12 on hand-made series and on one real MPS ward series."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from crime_mapping_plugin.core import rates, trend_stats
from crime_mapping_plugin.core.months import month_number
from tests.conftest import SAMPLE

MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"
JAN_2020 = month_number("2020-01")
# scipy's poisson_means_test leaves out 1e-10 of each lower tail: agreement to 1e-9 absolute.


def _step(length: int = 48) -> np.ndarray:
    """10 crimes a month for a year, then 20 a month."""
    return np.array([10.0] * 12 + [20.0] * (length - 12))


def test_the_first_full_comparison_by_hand():
    result = trend_stats.rolling_comparison(_step(), JAN_2020)
    assert np.isnan(result.current[22])
    assert result.flags[22] == (trend_stats.FLAG_SHORT,)
    assert (result.current[23], result.previous[23]) == (240.0, 120.0)
    assert (result.current_months[23], result.previous_months[23]) == (12, 12)
    assert result.rate_ratio[23] == pytest.approx(2.0)
    assert result.percent_change[23] == pytest.approx(100.0)
    assert result.p_value[23] == pytest.approx(stats.poisson_means_test(240, 12, 120, 12).pvalue, rel=1e-6, abs=1e-9)
    assert result.label[23] == rates.INCREASE_998
    assert result.flags[23] == ()
    # Six months later the previous window holds 6 months of 10 and 6 of 20.
    assert (result.current[29], result.previous[29]) == (240.0, 180.0)
    assert result.change[29] == 60.0


def test_a_missing_month_is_not_a_zero():
    y = _step()
    y[20] = math.nan
    result = trend_stats.rolling_comparison(y, JAN_2020)
    assert (result.current[23], result.current_months[23]) == (220.0, 11)
    assert result.rate_ratio[23] == pytest.approx((220 / 11) / (120 / 12))
    assert result.p_value[23] == pytest.approx(stats.poisson_means_test(220, 11, 120, 12).pvalue, rel=1e-6, abs=1e-9)
    assert result.missing_in_window[23:44].all()
    assert trend_stats.FLAG_MISSING in result.flags[43]
    assert not result.missing_in_window[44]
    assert result.flags[44] == ()


def test_a_month_below_a_fifth_of_the_median_is_partial():
    y = _step()
    y[30], y[36] = 3.0, 4.0  # the median of the 12 months before is 20: a fifth is 4
    partial = trend_stats.partial_months(y)
    assert partial[30] and not partial[36]
    assert partial.sum() == 1
    result = trend_stats.rolling_comparison(y, JAN_2020)
    assert result.partial_in_window[30:47].all()
    assert trend_stats.FLAG_PARTIAL in result.flags[30]
    assert not result.partial_in_window[29]
    # Counted as data unless asked otherwise.
    assert result.current[30] == 11 * 20 + 3
    dropped = trend_stats.rolling_comparison(y, JAN_2020, partial_as_missing=True)
    assert (dropped.current[30], dropped.current_months[30]) == (220.0, 11)
    assert trend_stats.FLAG_MISSING in dropped.flags[30]


def test_a_zero_month_of_a_small_series_is_not_partial():
    y = np.array([2.0, 3.0, 1.0, 2.0, 4.0, 2.0, 3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 0.0])
    assert not trend_stats.partial_months(y).any()
    assert trend_stats.partial_months(y * 10)[-1]


def test_a_short_month_at_the_start_is_judged_against_the_months_after_it():
    y = np.array([20.0] * 5 + [1.0] + [20.0] * 30)
    assert trend_stats.partial_months(y).tolist() == [False] * 5 + [True] + [False] * 30
    assert trend_stats.partial_months(np.array([1.0] + [20.0] * 30))[0]
    # Too little data on either side: not judged.
    assert not trend_stats.partial_months(np.array([20.0, 20.0, 1.0, 20.0, 20.0])).any()


def test_comparisons_across_the_2013_category_change_are_marked():
    result = trend_stats.rolling_comparison(_step(), month_number("2012-01"))
    # 2013-05 is month 16 of the series: the 24 months ending at 23..38 hold months before and after it.
    assert result.break_in_span[23:39].all()
    assert not result.break_in_span[39:].any()
    assert trend_stats.FLAG_BREAK in result.flags[38]
    assert not trend_stats.rolling_comparison(_step(), JAN_2020).break_in_span.any()


def test_population_per_month_weights_the_exposure():
    y = _step(24)
    y[3] = math.nan
    population = np.array([1000.0] * 12 + [1100.0] * 12)
    result = trend_stats.rolling_comparison(y, JAN_2020, population=population)
    assert result.previous_exposure[23] == pytest.approx(11 * 1000.0)
    assert result.current_exposure[23] == pytest.approx(12 * 1100.0)
    expected = stats.poisson_means_test(240, 12 * 1100.0, 110, 11 * 1000.0).pvalue
    assert result.p_value[23] == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_a_constant_population_does_not_change_the_p_value():
    y = _step()
    with_people = trend_stats.rolling_comparison(y, JAN_2020, population=12_345.0)
    without = trend_stats.rolling_comparison(y, JAN_2020)
    assert with_people.p_value[23:] == pytest.approx(without.p_value[23:], rel=1e-9)


def _real_ward_series() -> tuple[pd.Series, str]:
    mps = pd.read_csv(MPS)
    month_columns = [c for c in mps.columns if c.isdigit()]
    burglary = mps[mps["MajorText"] == "BURGLARY"].groupby("WardCode")[month_columns].sum()
    ward = burglary.sum(axis=1).idxmax()
    return burglary.loc[ward].astype(float), ward


def test_a_real_ward_series_with_a_missing_and_a_cut_month():
    series, _ward = _real_ward_series()
    assert list(series.index[[0, -1]]) == ["202403", "202603"]
    y = series.copy()
    y["202501"] = math.nan
    y["202506"] = round(series["202506"] * 0.1)
    result = trend_stats.rolling_comparison(y.to_numpy(), month_number("2024-03"))
    assert result.month_labels()[23] == "2026-02"
    # The table's first column (2024-03) is near empty (47 crimes in all London): partial, as the cut month.
    assert series["202403"] == 0
    assert result.partial.tolist() == [m in ("202403", "202506") for m in y.index]
    # 2026-02: current 2025-03..2026-02 (with the cut month), previous 2024-03..2025-02 (2025-01 missing).
    current = y["202503":"202602"].sum()
    previous = y["202403":"202502"].sum()
    assert (result.current[23], result.previous[23]) == (current, previous)
    assert (result.current_months[23], result.previous_months[23]) == (12, 11)
    assert result.flags[23] == (trend_stats.FLAG_MISSING, trend_stats.FLAG_PARTIAL)
    reference = stats.poisson_means_test(int(current), 12, int(previous), 11).pvalue
    assert result.p_value[23] == pytest.approx(reference, rel=1e-6, abs=1e-9)
    assert "11 months with data" in trend_stats.describe_month(result, 23)
    assert np.isnan(result.current[:23]).all()
    # Partial months left out: the previous window of 2026-02 has 10 months with data.
    dropped = trend_stats.rolling_comparison(y.to_numpy(), month_number("2024-03"), partial_as_missing=True)
    assert (dropped.previous[23], dropped.previous_months[23]) == (previous - y["202403"], 10)
    assert (dropped.current[23], dropped.current_months[23]) == (current - y["202506"], 11)
