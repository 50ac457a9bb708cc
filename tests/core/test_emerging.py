"""Time slices of emerging hot spots: whole calendar months back from the last, empty slices missing, not zero."""

from __future__ import annotations

import numpy as np
import pytest

from crime_mapping_plugin.core import emerging, gistar
from crime_mapping_plugin.core.months import NO_MONTH, month_number


def months(*texts: str) -> np.ndarray:
    return np.array([month_number(t) for t in texts], np.int64)


def test_three_julys_make_three_monthly_slices_and_twenty_two_missing():
    records = months("2016-07", "2016-07", "2017-07", "2018-07", "bad")
    slices = emerging.time_slices(np.r_[records, NO_MONTH], 1)
    assert slices.starts == tuple(months("2016-07", "2017-07", "2018-07"))
    assert len(slices.missing) == 22 and slices.partial == ()
    assert slices.period.label() == "2016-07 to 2018-07" and len(slices.period.missing) == 22
    assert slices.index(records).tolist() == [0, 0, 1, 2, -1]
    assert "2016-08 to 2017-06, 2017-08 to 2018-06" in slices.describe()[0]


def test_quarters_end_at_the_last_month_and_slices_with_gaps_say_so():
    slices = emerging.time_slices(months("2016-08", "2017-07", "2018-07"), 3)
    # 24 months, 2016-08..2018-07, make 8 whole quarters back from 2018-07: three hold a record, five nothing.
    assert slices.starts == tuple(months("2016-08", "2017-05", "2018-05"))
    assert len(slices.missing) == 5
    assert slices.partial == tuple((s, 1) for s in months("2016-08", "2017-05", "2018-05"))
    assert "2016-08 to 2016-10 (1 of 3)" in slices.describe()[1]
    assert slices.index(months("2016-08", "2017-05", "2018-06")).tolist() == [0, 1, 2]


def test_only_whole_slices_are_made_so_months_before_the_first_fall_out():
    # Three Julys in quarters: 25 months make 8 whole quarters from 2016-08; 2016-07 falls before the first,
    # which leaves two quarters with records: too few, and said so rather than padded with a short slice.
    with pytest.raises(gistar.GiStarInputError, match="2 whole time slice"):
        emerging.time_slices(months("2016-07", "2017-07", "2018-07"), 3)


def test_fewer_than_three_slices_with_records_are_refused():
    with pytest.raises(gistar.GiStarInputError, match="at least 3 are needed"):
        emerging.time_slices(months("2016-07", "2018-07"), 1)
