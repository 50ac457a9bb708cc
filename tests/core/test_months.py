"""The one month rule: what is a month, what is not, and the period an analysis covers."""

from __future__ import annotations

import datetime

import numpy as np
import pytest
from qgis.PyQt.QtCore import QDate, QDateTime, QTime

from crime_mapping_plugin.core import months
from crime_mapping_plugin.core.months import NO_MONTH, AnalysisPeriod, MonthError, MonthRange

OCT_2024 = 2024 * 12 + 9


@pytest.mark.parametrize(
    "value",
    [
        "2024-10",
        " 2024-10 ",
        "2024-10-31",
        "2024-10-01T12:30",
        "2024-10-01 12:30:05",
        "2024-10-01T12:30:05.25+01:00",
        "202410",
        202410,
        np.int64(202410),
        b"2024-10",
        datetime.date(2024, 10, 5),
        datetime.datetime(2024, 10, 5, 23, 59),
        np.datetime64("2024-10-05"),
        QDate(2024, 10, 5),
        QDateTime(QDate(2024, 10, 5), QTime(1, 2)),
    ],
)
def test_values_that_hold_october_2024(value):
    assert months.month_number(value) == OCT_2024


@pytest.mark.parametrize(
    "value",
    [
        "2024-1",  # one-digit month: ambiguous, never guessed
        "2024-123",
        "2024-13",
        "2024-00",
        "2024-02-30",  # no such day
        "Jul-18",  # an Excel re-save
        "10/2024",
        "2024/10",
        "20241",
        2024,
        202413,
        2024.10,
        True,
        "",
        None,
        QDate(),
        np.datetime64("NaT"),
    ],
)
def test_values_that_hold_no_month(value):
    assert months.month_number(value) == NO_MONTH


def test_month_numbers_are_consecutive_across_a_year_end():
    got = months.month_numbers(["2023-12", "2024-01", None, "2024-01"])
    assert got.tolist() == [2023 * 12 + 11, 2024 * 12, NO_MONTH, 2024 * 12]
    assert months.month_text(2024 * 12) == "2024-01"


def test_a_month_parameter_is_written_yyyy_mm():
    assert months.month_parameter("2024-10", "first month") == OCT_2024
    assert months.month_parameter("  ", "first month") is None
    with pytest.raises(MonthError, match="first month '202410'"):
        months.month_parameter("202410", "first month")
    with pytest.raises(MonthError, match="last month '2024-1'"):
        months.month_parameter("2024-1", "last month")


def test_a_range_whose_start_is_after_its_end_is_refused():
    with pytest.raises(MonthError, match="after"):
        MonthRange(OCT_2024 + 1, OCT_2024)


def test_range_mask_and_records_without_month():
    values = np.array([OCT_2024 - 1, OCT_2024, OCT_2024 + 2, NO_MONTH])
    assert MonthRange(OCT_2024, OCT_2024 + 2).mask(values).tolist() == [False, True, True, False]
    assert MonthRange().mask(values).all()  # an open range keeps records with no month too
    assert MonthRange(OCT_2024).mask(values).tolist() == [False, True, True, False]


def test_three_july_months_make_a_period_of_25_months_with_3_that_have_records():
    julys = np.array([2016 * 12 + 6] * 5 + [2017 * 12 + 6] * 3 + [2018 * 12 + 6] * 2 + [NO_MONTH])
    period = months.analysis_period(julys)
    assert period == AnalysisPeriod(2016 * 12 + 6, 2018 * 12 + 6, (2016 * 12 + 6, 2017 * 12 + 6, 2018 * 12 + 6))
    assert period.calendar_months == 25
    assert period.months_with_records == 3
    assert len(period.missing) == 22
    assert period.label() == "2016-07 to 2018-07"
    assert "3 of 25 months have records" in period.describe()
    assert "2016-08 to 2017-06, 2017-08 to 2018-06" in period.describe()


def test_a_given_range_reaches_beyond_the_records_and_counts_those_months_missing():
    records = np.array([OCT_2024, OCT_2024 + 1])
    period = months.analysis_period(records, MonthRange(OCT_2024 - 1, OCT_2024 + 2))
    assert (period.first, period.last) == (OCT_2024 - 1, OCT_2024 + 2)
    assert period.missing == (OCT_2024 - 1, OCT_2024 + 2)
    assert months.analysis_period(np.array([NO_MONTH])) is None


def test_overlapping_ranges():
    assert MonthRange(1, 5).overlaps(MonthRange(5, 9))
    assert not MonthRange(1, 4).overlaps(MonthRange(5, 9))
    assert MonthRange(None, 4).overlaps(MonthRange(2, None))
