"""XmR charts (NHS England "Making Data Count", as NHSRplotthedots) and Laney u′ on published and hand-made series."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crime_mapping_plugin.core import spc

# NHSRplotthedots' vignette "deviations": one wild point among alternating 1s and 2s.
DEVIATIONS = [1, 2, 1, 2, 10, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1, 2, 1]

# A baseline of 12 points 6, 5, 6, 5, …, 5: mean 5.5, every moving range 1, so AMR 1, limits 5.5 ± 2.66,
# near limits 5.5 ± 1.7733. It ends below the mean, so a run above the mean starts after it.
BASELINE = [6.0, 5.0] * 6
MEAN, UPPER, LOWER, NEAR_UPPER = 5.5, 5.5 + 2.66, 5.5 - 2.66, 5.5 + 2 * 2.66 / 3


def _chart(tail: list[float], screen: bool = True) -> spc.XmRChart:
    return spc.xmr_chart(np.array(BASELINE + tail), baseline=len(BASELINE), screen=screen)


def _flagged(chart: spc.XmRChart, rule: str) -> list[int]:
    """Positions after the baseline where `rule` fired."""
    return [i - len(BASELINE) for i, r in enumerate(chart.rules) if rule in r and i >= len(BASELINE)]


def test_published_screened_limits_of_the_deviations_vignette():
    limits = spc.xmr_limits(np.array(DEVIATIONS, dtype=float))
    assert round(limits.mean, 4) == 1.9444
    assert round(limits.amr, 4) == 1.0
    assert round(limits.upper, 4) == 4.6044
    assert round(limits.lower, 4) == -0.7156
    assert limits.moving_ranges_screened_out == 2


def test_published_unscreened_limits_of_the_deviations_vignette():
    limits = spc.xmr_limits(np.array(DEVIATIONS, dtype=float), screen=False)
    assert round(limits.amr, 5) == 1.88235
    assert round(limits.upper, 4) == 6.9515
    assert round(limits.lower, 4) == -3.0626


def test_the_wild_point_is_a_concern_outside_the_limits():
    chart = spc.xmr_chart(np.array(DEVIATIONS, dtype=float))
    assert chart.rules[4] == (spc.RULE_OUTSIDE,)
    assert chart.variation[4] == spc.CONCERN
    assert [v for i, v in enumerate(chart.variation) if i != 4] == [spc.COMMON_CAUSE] * 17


def test_where_more_is_better_a_high_point_is_an_improvement():
    chart = spc.xmr_chart(np.array(DEVIATIONS, dtype=float), higher_is_worse=False)
    assert chart.variation[4] == spc.IMPROVEMENT


def test_baseline_of_the_first_points_fixes_the_limits():
    chart = _chart([5.5, 7.0])
    assert (chart.limits.mean, chart.limits.amr) == (MEAN, 1.0)
    assert chart.limits.baseline_points == 12
    assert chart.limits.upper == pytest.approx(UPPER)


def test_seven_points_above_the_mean_are_a_shift_and_six_are_not():
    run = [6.0, 6.2] * 3 + [6.0]
    assert _flagged(_chart(run + [5.0]), spc.RULE_SHIFT) == list(range(7))
    assert set(_chart(run + [5.0]).variation[12:19]) == {spc.CONCERN}
    assert _flagged(_chart(run[:6] + [5.0]), spc.RULE_SHIFT) == []


def test_a_point_on_the_mean_breaks_a_run():
    assert _flagged(_chart([6.0, 6.2, 6.0, MEAN, 6.2, 6.0, 6.2, 6.0]), spc.RULE_SHIFT) == []


def test_a_missing_month_breaks_a_run_and_is_not_a_zero():
    chart = _chart([6.0, 6.2, 6.0, math.nan, 6.2, 6.0, 6.2, 6.0])
    assert _flagged(chart, spc.RULE_SHIFT) == []
    assert chart.variation[15] == spc.NO_DATA
    assert chart.rules[15] == ()


def test_seven_rising_points_are_a_trend_and_six_are_not():
    rising = [4.0, 4.4, 4.8, 5.2, 5.6, 6.0, 6.4]
    chart = _chart(rising + [4.0])
    assert _flagged(chart, spc.RULE_TREND) == list(range(7))
    assert set(chart.variation[12:19]) == {spc.CONCERN}
    assert _flagged(_chart([7.0] + rising[1:] + [4.0]), spc.RULE_TREND) == []


def test_seven_falling_points_are_an_improving_trend():
    chart = _chart([7.0, 6.6, 6.2, 5.8, 5.4, 5.0, 4.6, 7.0])
    assert _flagged(chart, spc.RULE_TREND) == list(range(7))
    assert set(chart.variation[12:19]) == {spc.IMPROVEMENT}


def test_a_tie_breaks_a_trend():
    assert _flagged(_chart([4.0, 4.4, 4.8, 4.8, 5.2, 5.6, 6.0, 6.4, 4.0]), spc.RULE_TREND) == []


def test_two_of_three_beyond_the_near_limit_flag_the_two_near_points():
    chart = _chart([7.5, 6.0, 7.5, 5.0])
    assert NEAR_UPPER < 7.5 and UPPER > 7.5
    assert _flagged(chart, spc.RULE_TWO_IN_THREE) == [0, 2]
    assert chart.variation[12:16] == [spc.CONCERN, spc.COMMON_CAUSE, spc.CONCERN, spc.COMMON_CAUSE]


def test_one_of_three_near_or_a_window_across_the_mean_is_not_two_in_three():
    assert _flagged(_chart([7.5, 6.0, 6.2, 5.0]), spc.RULE_TWO_IN_THREE) == []
    assert _flagged(_chart([7.5, 5.0, 7.5, 5.0]), spc.RULE_TWO_IN_THREE) == []


def test_a_point_outside_the_limits_does_not_count_as_near():
    chart = _chart([8.5, 7.5, 6.0, 5.0])
    assert _flagged(chart, spc.RULE_OUTSIDE) == [0]
    assert _flagged(chart, spc.RULE_TWO_IN_THREE) == []


def test_a_point_exactly_on_the_limit_is_inside_it():
    on_limit = _chart([UPPER, 5.0])
    assert _flagged(on_limit, spc.RULE_OUTSIDE) == []
    assert on_limit.variation[12] == spc.COMMON_CAUSE
    assert _flagged(_chart([UPPER + 0.01, 5.0]), spc.RULE_OUTSIDE) == [0]


def test_moving_ranges_next_to_a_missing_month_are_not_computed():
    y = np.array([3.0, 5.0, math.nan, 9.0, 8.0, 8.5])
    assert np.isnan(spc.moving_ranges(y)[[0, 2, 3]]).all()
    limits = spc.xmr_limits(y, screen=False)
    # Moving ranges by hand: |5 - 3| = 2, |8 - 9| = 1, |8.5 - 8| = 0.5.
    assert limits.amr == pytest.approx((2 + 1 + 0.5) / 3)
    assert limits.mean == pytest.approx((3 + 5 + 9 + 8 + 8.5) / 5)
    assert limits.moving_ranges == 3


def test_a_constant_baseline_keeps_its_limits_at_the_mean():
    limits = spc.xmr_limits(np.zeros(10))
    assert (limits.amr, limits.upper, limits.lower) == (0.0, 0.0, 0.0)


def test_a_baseline_without_data_is_refused():
    with pytest.raises(ValueError, match="no point with data"):
        spc.xmr_limits(np.array([math.nan, math.nan, 1.0]), baseline=2)


def test_laney_u_prime_against_the_formula_by_hand():
    counts = [31, 25, 40, 22, 35, 58, 29, 33]
    exposure = [1000, 900, 1200, 950, 1010, 1005, 980, 1100]
    centre = sum(counts) / sum(exposure)
    z = [(c / n - centre) / math.sqrt(centre / n) for c, n in zip(counts, exposure)]
    sigma_z = sum(abs(z[i] - z[i - 1]) for i in range(1, len(z))) / (len(z) - 1) / 1.128
    chart = spc.laney_u_prime(np.array(counts, float), np.array(exposure, float), multiplier=1000)
    assert chart.centre == pytest.approx(centre * 1000)
    assert chart.sigma_z == pytest.approx(sigma_z)
    for i, n in enumerate(exposure):
        width = 3 * math.sqrt(centre / n) * sigma_z
        assert chart.upper[i] == pytest.approx((centre + width) * 1000)
        assert chart.lower[i] == pytest.approx(max(0.0, centre - width) * 1000)
        assert chart.above[i] == (counts[i] / n > centre + width)


# The vectors of NHSRplotthedots' own unit tests (tests/testthat/test-ptd_calculate_point_type.R).
@pytest.mark.parametrize(
    ("near", "side", "expected"),
    [
        ([1, 0, 1], [1, 1, 1], [1, 0, 1]),
        ([0, 1, 1], [1, 1, 1], [0, 1, 1]),
        ([0, 0, 1, 0, 1, 0, 0], [1] * 7, [0, 0, 1, 0, 1, 0, 0]),
        ([1, 0, 0, 1], [1] * 4, [0, 0, 0, 0]),
        ([1, 0, 0, 1, 1], [1] * 5, [0, 0, 0, 1, 1]),
        ([1, 0, 1], [1, -1, 1], [0, 0, 0]),
        ([0, 0, 1, 1, 0, 0, 0], [-1, 1, -1, 1, -1, 1, -1], [0] * 7),
    ],
)
def test_two_in_three_as_nhsrplotthedots_tests_it(near, side, expected):
    assert spc.two_in_three_points(np.array(near, bool), np.array(side)).astype(int).tolist() == expected


def test_runs_and_trends_as_nhsrplotthedots_tests_them():
    assert spc.shift_points(np.array([1] * 6)).tolist() == [False] * 6
    assert spc.shift_points(np.array([1] * 6 + [-1])).tolist() == [False] * 7
    assert spc.shift_points(np.array([-1] * 8 + [1])).tolist() == [True] * 8 + [False]
    assert spc.trend_steps(np.arange(1.0, 7.0)).tolist() == [0] * 6
    assert spc.trend_steps(np.array([1, 2, 3, 3, 4, 5, 6], float)).tolist() == [0] * 7
    assert spc.trend_steps(np.array([2, 1, 2, 3, 4, 5, 6, 7, 3], float)).tolist() == [0] * 7 + [1, 0]
    assert spc.trend_steps(np.array([2, 7, 6, 5, 4, 3, 2, 1, 3], float)).tolist() == [0] * 7 + [-1, 0]
    assert spc.trend_points(np.array([2, 1, 2, 3, 4, 5, 6, 7, 3], float)).tolist() == [False] + [True] * 7 + [False]
