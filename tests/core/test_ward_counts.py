"""Month keys, periods, table aggregation and code matching of the ward counts."""

from __future__ import annotations

import numpy as np
import pytest

from crime_mapping_plugin.core import ward_counts as wc
from crime_mapping_plugin.core.months import month_numbers
from crime_mapping_plugin.core.policeuk import check_month


def test_periods_count_their_months_and_select_rows():
    months = month_numbers(["2024-09", "2024-10", "2024-12", None])
    period = wc.Period("2024-10", "2024-12")
    assert period.mask(months).tolist() == [False, True, True, False]
    assert period.describe(months) == ("2024-10 to 2024-12", 3)
    assert wc.Period().mask(months).all()
    assert wc.Period().describe(months) == ("2024-09 to 2024-12", 4)
    assert wc.months_between("2023-11", "2024-02") == 4
    with pytest.raises(ValueError, match="YYYY-MM"):
        check_month("10/2024", "first month")


def test_table_counts_are_summed_by_code_and_strangers_listed():
    sums, match, bad = wc.aggregate_table(
        ["A", "B", "A", "Z", " B ", "C", None], [1, 2, 3, 4, "5", "x", 2], ["A", "B", "C", "D"]
    )
    assert sums.tolist() == [4, 7, 0, 0]
    assert match.unmatched == ["", "Z"] and match.unmatched_total == 6
    assert bad == [5]
    _, _, bad = wc.aggregate_table(["A", "A"], [1.5, -1], ["A"])
    assert bad == [0, 1]
    assert np.array_equal(wc.aggregate_table([], [], ["A"])[0], [0])
