"""The dock's filter: a safe subset string on the imported layer, labels for groups, months checked."""

from __future__ import annotations

import sqlite3

import pytest

from crime_mapping_plugin.core.crime_filter import CrimeFilter


def test_an_empty_filter_selects_everything():
    assert CrimeFilter().subset_string() == ""
    assert CrimeFilter().label() == "all crime types, all months"


def test_months_are_inclusive_first_days_and_lists_become_in_clauses():
    subset = CrimeFilter(
        "2024-11", "2024-12", ["Burglary"], ["Robbery", "Drugs"], ["City of London Police"]
    ).subset_string()
    assert subset == (
        "\"month\" >= '2024-11-01' AND \"month\" <= '2024-12-01' AND \"crime_type\" IN ('Burglary') AND "
        "\"crime_group\" IN ('Robbery', 'Drugs') AND \"reported_by\" IN ('City of London Police')"
    )


def test_quotes_in_values_cannot_break_out_of_the_string():
    rows = [("2024-11-01", "O'Brien's force"), ("2024-11-01", "x') OR 1=1 --"), ("2024-12-01", "other")]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE crimes (month TEXT, reported_by TEXT)")
    db.executemany("INSERT INTO crimes VALUES (?, ?)", rows)
    for force, expected in (("O'Brien's force", 1), ("x') OR 1=1 --", 1), ("nobody", 0)):
        where = CrimeFilter(forces=[force]).subset_string()
        assert db.execute(f"SELECT count(*) FROM crimes WHERE {where}").fetchone()[0] == expected


def test_month_range_counts_match_a_hand_count_in_sqlite():
    months = ["2024-10-01", "2024-11-01", "2024-11-01", "2024-12-01", "2025-01-01"]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE crimes (month TEXT)")
    db.executemany("INSERT INTO crimes VALUES (?)", [(m,) for m in months])
    where = CrimeFilter("2024-11", "2024-12").subset_string()
    assert db.execute(f"SELECT count(*) FROM crimes WHERE {where}").fetchone()[0] == 3


@pytest.mark.parametrize(
    ("start", "end", "words"),
    [("2024-13", "", "not a month"), ("24-11", "", "YYYY-MM"), ("2024-12", "2024-10", "after the last month")],
)
def test_bad_months_are_refused_with_what_to_type(start, end, words):
    with pytest.raises(ValueError, match=words):
        CrimeFilter(start, end).subset_string()


def test_labels_name_the_period_and_crimes():
    assert CrimeFilter("2024-11", "2024-11", crime_groups=["Burglary"]).label() == "Burglary, 2024-11"
    many = CrimeFilter("2024-10", "2024-12", crime_types=["A", "B", "C", "D"]).label()
    assert many == "A, B and 2 more, 2024-10 to 2024-12"
    assert CrimeFilter(start_month="2024-10").period_label() == "from 2024-10"


def test_the_filter_survives_the_settings_round_trip():
    original = CrimeFilter("2024-11", "2024-12", ["Burglary"], ["Drugs"], ["Met"])
    assert CrimeFilter.from_dict(original.to_dict()) == original
    assert CrimeFilter.from_dict({"crime_types": "Burglary"}).crime_types == ["Burglary"]
