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


def test_a_population_carried_to_the_other_vintage_keeps_every_resident():
    from crime_mapping_plugin.core.ward_population import convert_vintage

    # An exact-fit lookup (2011 -> 2021) with each kind of change: U unchanged, S split, M merged, X irregular.
    first = ["A", "B", "C1", "C2", "D1", "D2", "D2"]
    second = ["a", "b1", "c", "c", "d1", "d1", "d2"]
    change = ["U", "S", "M", "M", "X", "X", "X"]
    first.insert(2, "B")
    second.insert(2, "b2")
    change.insert(2, "S")
    result = convert_vintage(
        ["A", "B", "C1", "C2", "D1", "D2", "Z"], [100, 300, 40, 60, 10, 50, 7], first, second, change
    )
    got = dict(zip(result.codes, result.population))
    # By hand: a = A; B split in two equal halves; c = C1 + C2; D1 wholly in d1, D2 halved between d1 and d2.
    assert got == {"a": 100, "b1": 150, "b2": 150, "c": 100, "d1": 10 + 25, "d2": 25}
    assert sum(got.values()) == 100 + 300 + 40 + 60 + 10 + 50  # none lost, none doubled
    assert result.not_in_lookup == ["Z"] and result.not_in_lookup_population == 7
    assert result.by_change == {"U": 1, "S": 1, "M": 2, "X": 2}
    assert result.divided == ["B", "D2"] and result.divided_population == 350
    assert result.source_field == 0


def test_a_2021_population_goes_back_to_2011_lsoas_by_the_same_lookup():
    from crime_mapping_plugin.core.ward_population import convert_vintage

    first, second = ["A", "B", "B", "C1", "C2"], ["a", "b1", "b2", "c", "c"]
    result = convert_vintage(["a", "b1", "b2", "c"], [5, 7, 9, 30], first, second)
    # The codes are 2021 ones: the split 2011 LSOA B gets its two parts back; the merged c is halved.
    assert result.source_field == 1
    assert dict(zip(result.codes, result.population)) == {"A": 5, "B": 16, "C1": 15, "C2": 15}


def _walk():
    from crime_mapping_plugin.core.ward_population import crosswalk

    # Old area O1 = L1 + L2 (both now in N1); O2 = L3 (N1) + L4 (N2): O2 was split.
    return crosswalk(
        ["L1", "L2", "L3", "L4", "L5"],
        [100, 100, 30, 90, 5],
        {"L1": "O1", "L2": "O1", "L3": "O2", "L4": "O2"},
        {"L1": "N1", "L2": "N1", "L3": "N1", "L4": "N2", "L5": "N2"},
    )


def test_a_crosswalk_shares_each_old_area_by_its_residents():
    walk = _walk()
    assert list(zip(walk.old, walk.new)) == [("O1", "N1"), ("O2", "N1"), ("O2", "N2")]
    assert list(walk.share) == [1.0, 0.25, 0.75]
    assert walk.split == ["O2"] and walk.no_old_area == ["L5"] and walk.unplaced_population == 5
    # N1 has 230 residents, 30 of them from the split O2; N2's 90 all come from O2.
    assert walk.moved() == {"N1": 30 / 230, "N2": 1.0}


def test_reexpressed_counts_keep_every_crime_and_say_they_are_estimates():
    import numpy as np

    from crime_mapping_plugin.core.ward_population import NO_RESIDENTS, NOT_IN_LOOKUP, OUTSIDE_NEW_AREAS, reexpress

    walk = _walk()
    table = reexpress(
        ["O1", "O2", "O2", "O9", "O3"],
        np.array([7, 10, 3, 4, 2]),
        {"month": ["2024-01", "2024-01", "2024-02", "2024-01", "2024-01"]},
        walk,
        {"O1", "O2", "O3"},
    )
    rows = {(r.ward_code, r.month): r for r in table.table.itertuples()}
    # By hand: O2's 10 in January: 2.5 to N1 and 7.5 to N2 -> the larger fraction is a tie, the lower code wins:
    # 3 and 7; February's 3: 0.75 and 2.25 -> 1 and 2.
    assert rows[("N1", "2024-01")].count == 7 + 3 and rows[("N2", "2024-01")].count == 7
    assert rows[("N1", "2024-02")].count == 1 and rows[("N2", "2024-02")].count == 2
    assert rows[("N2", "2024-01")].count_share == 7.5
    assert table.crimes_written == 7 + 10 + 3 and table.crimes_read == 26
    assert table.left_out == {NOT_IN_LOOKUP: ["O9"], NO_RESIDENTS: ["O3"], OUTSIDE_NEW_AREAS: []}
    assert table.left_out_crimes == {NOT_IN_LOOKUP: 4, NO_RESIDENTS: 2, OUTSIDE_NEW_AREAS: 0}
    assert table.crimes_written + sum(table.left_out_crimes.values()) == table.crimes_read
    assert rows[("N2", "2024-01")].estimated == 1 and rows[("N1", "2024-01")].pop_share_moved == 30 / 230


def test_the_part_of_an_old_area_outside_every_new_area_keeps_its_crimes_out():
    import numpy as np

    from crime_mapping_plugin.core.ward_population import OUTSIDE_NEW_AREAS, crosswalk, reexpress

    # O1's residents: 60 in N1, 40 in no new area (the new areas cover less ground than the old ones).
    walk = crosswalk(["L1", "L2"], [60, 40], {"L1": "O1", "L2": "O1"}, {"L1": "N1"})
    assert walk.outside_population == 40 and walk.no_new_area == ["L2"] and walk.split == ["O1"]
    table = reexpress(["O1"], np.array([10]), {}, walk, {"O1"})
    # By hand: 6 of O1's 10 crimes go to N1; 4 are outside every new area, never pushed into N1.
    assert table.table["count"].tolist() == [6] and table.table["ward_code"].tolist() == ["N1"]
    assert table.left_out_crimes[OUTSIDE_NEW_AREAS] == 4 and table.left_out[OUTSIDE_NEW_AREAS] == ["O1"]
    assert table.table["pop_share_moved"].tolist() == [1.0]


def test_lsoas_go_to_the_area_holding_their_point_on_surface_or_else_their_largest_overlap():
    from qgis.core import QgsFeature, QgsGeometry, QgsVectorLayer

    from crime_mapping_plugin.core import areas as area_rule
    from crime_mapping_plugin.core.ward_population import lookup_by_location

    layer = QgsVectorLayer("Polygon?crs=EPSG:27700&field=code:string", "areas", "memory")
    for code, wkt in (("B", "POLYGON((0 0,10 0,10 10,0 10,0 0))"), ("A", "POLYGON((10 0,20 0,20 10,10 10,10 0))")):
        f = QgsFeature(layer.fields())
        f.setAttributes([code])
        f.setGeometry(QgsGeometry.fromWkt(wkt))
        layer.dataProvider().addFeature(f)
    areas = area_rule.read_areas(layer, None, None, "code")
    shapes = {
        "L1": "POLYGON((1 1,4 1,4 4,1 4,1 1))",  # wholly in B
        "L2": "POINT(15 5)",  # a population-weighted centroid in A
        "L3": "POINT(10 5)",  # on the boundary of both: the lower code, A
        "L4": "POLYGON((12 8,30 8,30 30,12 30,12 8))",  # its point on surface is outside: A is the only overlap
        "L5": "POLYGON((50 50,60 50,60 60,50 60,50 50))",  # in no area
    }
    geoms = [QgsGeometry.fromWkt(w) for w in shapes.values()] + [QgsGeometry()]
    # The hand check of L4: QGIS's point on surface of that polygon is outside both areas.
    surface = geoms[3].pointOnSurface().asPoint()
    assert not (0 <= surface.x() <= 20 and 0 <= surface.y() <= 10)
    found = lookup_by_location([*shapes, "L6"], geoms, areas)
    assert dict(zip(found.lsoa, found.area)) == {"L1": "B", "L2": "A", "L3": "A", "L4": "A"}
    assert found.by_overlap == ["L4"] and found.outside == ["L5"] and found.no_geometry == ["L6"]


def test_a_missing_key_stays_missing_in_the_reexpressed_rows():
    import numpy as np

    from crime_mapping_plugin.core.ward_population import crosswalk, reexpress

    walk = crosswalk(["L1", "L2"], [10, 30], {"L1": "O", "L2": "O"}, {"L1": "A", "L2": "B"})
    table = reexpress(["O", "O"], np.array([5, 3]), {"month": [None, "2024-01"]}, walk, {"O"}).table
    # By hand: 5 -> 1.25 / 3.75 -> 1 and 4; 3 -> 0.75 / 2.25 -> 1 and 2 (the larger fraction first).
    assert table[["ward_code", "month", "count"]].values.tolist() == [
        ["A", "2024-01", 1],
        ["A", None, 1],
        ["B", "2024-01", 2],
        ["B", None, 4],
    ]
