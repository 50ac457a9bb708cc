"""core/profiles.py: the plain-words mapping covers every flag the layers can hold; figures are copied, not computed."""

from __future__ import annotations

import dataclasses

import pytest

from crime_mapping_plugin.core import profiles, rates, trend_stats, trends, ward_rates


def test_every_change_label_of_the_trends_layer_has_plain_words():
    labels = (rates.INCREASE_998, rates.INCREASE_95, rates.NO_CHANGE, rates.DECREASE_95, rates.DECREASE_998, None)
    words = [profiles.change_words(label) for label in labels]
    assert words == [
        "up, far more than chance would explain",
        "up, more than chance would explain",
        "no change beyond chance",
        "down, more than chance would explain",
        "down, far more than chance would explain",
        profiles.NOT_COMPARED,
    ]
    assert set(profiles.CHANGE_WORDS) == set(labels)


@pytest.mark.parametrize("label", rates.COMPARISON_LABELS)
def test_every_comparison_with_all_areas_has_plain_words_naming_the_whole(label):
    words = profiles.rate_words(label, "London")
    assert "London" in words and "%" not in words and "z" not in words.split()
    assert profiles.headline_of(label, "London") in profiles.headlines("London")


def test_the_rate_words_say_higher_lower_or_not_different_as_the_flag_does():
    assert profiles.rate_words(rates.HIGHER_95, "London") == "higher than London, more than chance would explain"
    assert profiles.rate_words(rates.LOWER_998, "London") == "lower than London, far more than chance would explain"
    assert profiles.rate_words(rates.SAME, "Camden") == "not different from Camden beyond chance"
    assert profiles.rate_words(None, "London", rates.FLAG_NO_POPULATION) == "no rate (no population)"
    assert profiles.headlines("London") == (
        "Higher than London",
        "Not different from London",
        "Lower than London",
        "No rate",
    )


@pytest.mark.parametrize("signal", trends.SIGNALS)
def test_every_control_chart_signal_has_plain_words(signal):
    assert profiles.signal_words(signal) == profiles.SIGNAL_WORDS[signal]
    assert profiles.signal_words(signal, "outside the process limits").endswith("; outside the process limits")


def test_every_note_of_a_rolling_comparison_has_short_words():
    notes = (
        trend_stats.FLAG_SHORT,
        trend_stats.FLAG_MISSING,
        trend_stats.FLAG_PARTIAL,
        trend_stats.FLAG_BREAK,
        trend_stats.FLAG_NO_DATA,
        trends.WINDOW_SOURCE_PARTIAL,
    )
    assert set(profiles.FLAG_WORDS) == set(notes)
    assert all(len(words) <= 50 for words in profiles.FLAG_WORDS.values())


def _inputs(**extra: object) -> profiles.ProfileInputs:
    """Rows as the layers hold them: two wards of one borough, the borough table and two trends layers."""
    rates_rows = [
        {
            "ward_code": "E1",
            "ward_name": "Alpha",
            "crimes": 120,
            "population": 10000.0,
            "rate": 12.0,
            "rate_lcl95": 9.94,
            "rate_ucl95": 14.35,
            "vs_all": rates.HIGHER_95,
            "borough": "Camden",
            "flag": None,
            "residents_note": None,
        },
        {
            "ward_code": "E2",
            "ward_name": "Beta",
            "crimes": 7,
            "population": None,
            "rate": None,
            "rate_lcl95": None,
            "rate_ucl95": None,
            "vs_all": None,
            "borough": "Camden",
            "flag": rates.FLAG_NO_POPULATION,
            "residents_note": None,
        },
    ]
    parents = [
        {
            "borough": "Camden",
            "crimes": 127,
            "population": 10000.0,
            "rate": 12.7,
            "rate_lcl95": 10.6,
            "rate_ucl95": 15.1,
        },
        {
            "borough": ward_rates.ALL_WARDS,
            "crimes": 9000,
            "population": 8.8e6,
            "rate": 1.02,
            "rate_lcl95": 1.0,
            "rate_ucl95": 1.04,
        },
    ]
    burglary = [
        {
            "area_code": "E1",
            "roll_current": 30,
            "roll_previous": 20,
            "roll_change_pct": 50.0,
            "roll_p": 0.04,
            "roll_change": rates.INCREASE_95,
            "roll_flags": trend_stats.FLAG_MISSING,
        },
        {"area_code": "E2", "roll_current": None, "roll_previous": None, "roll_change": None, "roll_flags": None},
    ]
    every = [
        {"area_code": "E1", "signal": trends.SIGNAL_CONCERN, "rule": "outside the process limits"},
        {"area_code": "E2", "signal": trends.SIGNAL_NOT_ENOUGH, "rule": None},
    ]
    values = {
        "kind": "ward",
        "whole": "London",
        "rates": rates_rows,
        "parents": parents,
        "trends": {"Burglary": burglary},
        "all_trends": every,
        "neighbours": {"E1": ("E2",), "E2": ("E1",)},
        "period": "2024-01 to 2024-12",
        "previous_period": "2023-01 to 2023-12",
        "missing_months": "",
    }
    values.update(extra)
    return profiles.ProfileInputs(**values)


def test_the_profiles_copy_every_figure_from_the_rows():
    inputs = _inputs()
    result = profiles.build_profiles(
        inputs, "Crime in Camden's wards", "police.uk", "all crime types", "definitions.html"
    )
    alpha, beta = result.profiles
    assert [r.label for r in alpha.rates] == ["Alpha", "Camden", "London"]
    assert dataclasses.astuple(alpha.rates[0]) == ("Alpha", 120, 10000.0, 12.0, 9.94, 14.35)
    assert dataclasses.astuple(alpha.rates[1]) == ("Camden", 127, 10000.0, 12.7, 10.6, 15.1)
    assert dataclasses.astuple(alpha.rates[2]) == ("London", 9000, 8.8e6, 1.02, 1.0, 1.04)
    group = alpha.groups[0]
    assert (group.group, group.current, group.previous, group.change_pct, group.p_value) == (
        "Burglary",
        30,
        20,
        50.0,
        0.04,
    )
    assert group.verdict == "up, more than chance would explain (note: a month has no data)"
    assert alpha.rate_verdict == "higher than London, more than chance would explain"
    assert alpha.headline == "Higher than London"
    assert alpha.trend_verdict.startswith(profiles.SIGNAL_WORDS[trends.SIGNAL_CONCERN])
    assert (alpha.parent_name, alpha.neighbours, alpha.period) == ("Camden", ("E2",), "2024-01 to 2024-12")
    assert beta.rates[0].rate is None and beta.rate_verdict == "no rate (no population)"
    assert beta.groups[0].verdict == profiles.NOT_COMPARED and beta.headline == "No rate"
    assert result.licence == profiles.LICENCE
    assert "Higher than London: 1" in result.index_map_alt and "No rate: 1" in result.index_map_alt


def test_a_subset_and_areas_without_a_parent():
    inputs = _inputs(codes=("E2",), with_parents=False)
    result = profiles.build_profiles(inputs, "t", "s", "c", "d")
    assert [p.code for p in result.profiles] == ["E2"]
    assert [r.label for r in result.profiles[0].rates] == ["Beta", "London"]
    assert result.profiles[0].parent_code is None
