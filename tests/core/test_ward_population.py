"""Ward populations summed from LSOA populations through a best-fit lookup, every LSOA accounted for."""

from __future__ import annotations

import pytest

from crime_mapping_plugin.core.ward_population import ward_population


def test_lsoas_are_summed_into_their_ward_and_the_rest_listed():
    result = ward_population(
        ["L1", "L2", "L3", "L4", "L5", "L6", "L7"],
        ["100", 250, 40.0, "n/a", float("inf"), -3, None],
        ["L1", "L2", "L3", "L8", "L4", "L5", "L6", "L7"],
        ["W2", "W1", "W2", "W3", "W1", "W1", "W1", "W1"],
        ["Two", "One", "Two", "Three", "One", "One", "One", "One"],
    )
    # By hand: W1 = L2 (250); W2 = L1 + L3 (140); L4 text, L5 infinite, L6 negative, L7 missing are unusable.
    assert result.codes == ["W1", "W2"] and result.population == [250.0, 140.0] and result.lsoas == [1, 2]
    assert result.names == ["One", "Two"]
    assert sorted(result.bad_population) == ["L4", "L5", "L6", "L7"]
    assert result.assigned_lsoas == 3 and result.assigned_population == 390.0
    assert result.lookup_without_population == ["L8"]
    assert result.not_in_lookup == []


def test_an_lsoa_outside_the_lookup_is_counted_with_its_residents():
    result = ward_population(["L1", "X9"], [10, 900], ["L1"], ["W1"])
    assert result.not_in_lookup == ["X9"] and result.not_in_lookup_population == 900
    assert result.assigned_lsoas + len(result.not_in_lookup) + len(result.bad_population) == 2


def test_a_lookup_giving_one_lsoa_two_wards_or_a_repeated_lsoa_is_refused():
    with pytest.raises(ValueError, match="more than one ward"):
        ward_population(["L1"], [10], ["L1", "L1"], ["W1", "W2"])
    with pytest.raises(ValueError, match="more than once"):
        ward_population(["L1", "L1"], [10, 12], ["L1"], ["W1"])
