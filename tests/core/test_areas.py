"""Which area a crime is in: one rule, independent of the order of the features in the file."""

from __future__ import annotations

import numpy as np
import pytest
from qgis.core import QgsFeature, QgsVectorLayer

from crime_mapping_plugin.core import areas
from tests.conftest import SAMPLE
from tests.layers import memory_copy

WARDS = str(SAMPLE / "boundaries" / "london_wards_2024.gpkg")


def _wards(reverse: bool = False) -> QgsVectorLayer:
    return memory_copy(WARDS, reverse, "wards")


def _boundary_points(layer: QgsVectorLayer, n: int = 500) -> tuple[np.ndarray, np.ndarray]:
    """Return ward vertices: points on shared boundaries, which more than one ward contains."""
    xs, ys = [], []
    for f in layer.getFeatures():
        for v in f.geometry().vertices():
            xs.append(v.x())
            ys.append(v.y())
    rng = np.random.default_rng(7)
    pick = rng.choice(len(xs), size=n, replace=False)
    return np.array(xs)[pick], np.array(ys)[pick]


def test_reversing_the_ward_file_moves_no_crime():
    forward, backward = _wards(), _wards(reverse=True)
    x, y = _boundary_points(forward)
    a = areas.read_areas(forward, None, None, "WD24CD")
    b = areas.read_areas(backward, None, None, "WD24CD")
    assert a.codes == sorted(a.codes) == b.codes
    got_a = areas.assign(a, x, y)
    got_b = areas.assign(b, x, y)
    assert got_a.in_several > 0  # the test exercises the boundary rule
    assert [a.codes[i] for i in got_a.polygon] == [b.codes[i] for i in got_b.polygon]
    # Every vertex lies in (or on) some ward: a vertex goes to the lowest code among the wards containing it.
    assert (got_a.polygon >= 0).all()


def test_without_codes_the_order_is_the_centroids_not_the_file():
    forward, backward = _wards(), _wards(reverse=True)
    x, y = _boundary_points(forward, 200)
    a = areas.read_areas(forward, None, None, None, fields=["WD24CD"])
    b = areas.read_areas(backward, None, None, None, fields=["WD24CD"])
    assert a.attributes["WD24CD"] == b.attributes["WD24CD"]
    cx, _ = a.centroids()
    assert (np.diff(cx) >= 0).all()
    ga, gb = areas.assign(a, x, y), areas.assign(b, x, y)
    assert [a.attributes["WD24CD"][i] for i in ga.polygon] == [b.attributes["WD24CD"][i] for i in gb.polygon]


def test_repeated_and_blank_codes_are_refused_naming_the_layer():
    layer = _wards()
    first = next(layer.getFeatures())
    layer.dataProvider().addFeatures([QgsFeature(first)])
    with pytest.raises(areas.AreaInputError, match=f"repeated: '{first['WD24CD']}'"):
        areas.read_areas(layer, None, None, "WD24CD", what="ward")
