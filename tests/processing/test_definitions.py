"""One definition of crimes, months and areas across algorithms, checked on the bundled real data.

The same crimes must give the same numbers whichever way they reach an algorithm (crime points or a table
of counts made from them), and the order of the features in an area file must change nothing
(docs/methods.md: areas in code order, never file order).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from qgis.core import QgsVectorLayer

from tests.conftest import POLICE_UK, SAMPLE
from tests.layers import memory_copy

WARDS = SAMPLE / "boundaries" / "london_wards_2024.gpkg"
POPULATION = SAMPLE / "population" / "london_lsoa21_population_census2021.csv"
LOOKUP = SAMPLE / "population" / "london_lsoa21_to_ward24_lookup.csv"

MONTHS = {"START_MONTH": "2024-11", "END_MONTH": "2024-12", "PREV_START_MONTH": "2024-10", "PREV_END_MONTH": "2024-10"}


def _csv_layer(path: Path, name: str):
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(f"file://{path}?type=csv&delimiter=,&detectTypes=no&geomType=none", name, "delimitedtext")
    assert layer.isValid(), path
    return layer


def _rows(layer_or_path, key: str = "ward_code") -> dict[str, dict]:
    """Return the features of an output as {key: {field: value}}, NULL as None."""
    from qgis.core import QgsVectorLayer

    layer = (
        layer_or_path if isinstance(layer_or_path, QgsVectorLayer) else QgsVectorLayer(str(layer_or_path), "o", "ogr")
    )
    assert layer.isValid()
    names = [n for n in layer.fields().names() if n != "fid"]
    return {f[key]: {n: _py(f[n]) for n in names} for f in layer.getFeatures()}


def _py(value):
    from qgis.PyQt.QtCore import QVariant

    return None if value is None or (isinstance(value, QVariant) and value.isNull()) else value


def _reversed_copy(path: Path, name: str = "reversed"):
    """Return a memory copy of a layer with its features in reverse order."""
    source = next(QgsVectorLayer(str(path), name, "ogr").getFeatures())
    copy = memory_copy(path, reverse=True, name=name)
    assert next(copy.getFeatures())["WD24CD"] != source["WD24CD"]  # the order really changed
    return copy


@pytest.fixture(scope="module")
def crimes(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("crimes") / "crimes.gpkg"
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": str(path)})
    return path


@pytest.fixture(scope="module")
def ward_population(run_alg, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("pop") / "ward_population.gpkg"
    run_alg(
        "crimemapping:wardpopulation",
        {"LSOA_POPULATION": _csv_layer(POPULATION, "pop"), "LOOKUP": _csv_layer(LOOKUP, "lookup"), "OUTPUT": str(path)},
    )
    return path


@pytest.fixture(scope="module")
def count_table(run_alg, crimes):
    """A table of crime counts by ward, month and group, made from the crime points by QGIS's own spatial join."""
    from qgis.core import QgsFeature, QgsField, QgsVectorLayer
    from qgis.PyQt.QtCore import QVariant

    joined = run_alg(
        "native:joinattributesbylocation",
        {
            "INPUT": str(crimes),
            "JOIN": str(WARDS),
            "PREDICATE": [0],  # intersects: no real crime point lies on a ward boundary (see test_ward_rates)
            "JOIN_FIELDS": ["WD24CD"],
            "METHOD": 1,  # the first matching ward only
            "DISCARD_NONMATCHING": False,
            "OUTPUT": "memory:",
        },
    )["OUTPUT"]
    frame = pd.DataFrame(
        [
            {"ward_code": f["WD24CD"] or "", "month": f["month"].toString("yyyy-MM"), "group": f["crime_group"]}
            for f in joined.getFeatures()
        ]
    )
    table = frame.groupby(["ward_code", "month", "group"]).size().reset_index(name="count")
    layer = QgsVectorLayer("None", "counts", "memory")
    layer.dataProvider().addAttributes(
        [QgsField(n, QVariant.String) for n in ("ward_code", "month", "group")] + [QgsField("count", QVariant.Int)]
    )
    layer.updateFields()
    features = []
    for row in table.itertuples(index=False):
        f = QgsFeature(layer.fields())
        f.setAttributes([row.ward_code or None, row.month, row.group, int(row.count)])
        features.append(f)
    layer.dataProvider().addFeatures(features)
    return layer


def _ward_rates(run_alg, out: Path, **params) -> tuple[dict, dict[str, dict]]:
    result = run_alg("crimemapping:wardrates", {**params, "OUTPUT": str(out)})
    return result, _rows(out)


def test_ward_rates_from_points_and_from_a_count_table_of_the_same_crimes_agree(
    run_alg, crimes, count_table, ward_population, tmp_path
):
    from crime_mapping_plugin.core import crime_types

    common = {"WARDS": str(WARDS), "POPULATION_TABLE": str(ward_population), **MONTHS}
    points, by_points = _ward_rates(
        run_alg,
        tmp_path / "points.gpkg",
        CRIMES=str(crimes),
        CRIME_GROUPS=[crime_types.GROUPS.index("Burglary")],
        **common,
    )
    table, by_table = _ward_rates(
        run_alg,
        tmp_path / "table.gpkg",
        COUNTS_TABLE=count_table,
        CATEGORY_FIELD="group",
        CATEGORY_VALUES="Burglary",
        **common,
    )
    assert by_points.keys() == by_table.keys() and len(by_points) == 704
    assert by_points == by_table  # every field of every ward: counts, rates, limits, comparisons, change
    for key in ("CRIMES_READ", "CRIMES_COUNTED", "LEFT_OUT_MONTHS", "LEFT_OUT_TYPES", "MONTHS", "PERIOD"):
        assert points[key] == table[key], key
    # A crime point outside every ward is a table row whose code matches no ward.
    assert points["OUTSIDE_WARDS"] == table["UNMATCHED_CRIMES"] > 0
    assert points["MONTHS"] == 2 and points["PERIOD"] == "2024-11 to 2024-12"


def test_reversing_the_ward_file_changes_no_count_and_no_rate(run_alg, crimes, count_table, tmp_path):
    reversed_wards = _reversed_copy(WARDS)
    for name, source in (("points", {"CRIMES": str(crimes)}), ("table", {"COUNTS_TABLE": count_table})):
        params = {**source, "POPULATION_FIELD": "BNG_E", **MONTHS}
        forward, rows_forward = _ward_rates(run_alg, tmp_path / f"{name}_f.gpkg", WARDS=str(WARDS), **params)
        backward, rows_backward = _ward_rates(run_alg, tmp_path / f"{name}_b.gpkg", WARDS=reversed_wards, **params)
        assert rows_forward == rows_backward, name
        for key in ("CRIMES_COUNTED", "OUTSIDE_WARDS", "ON_BOUNDARY", "UNMATCHED_CRIMES", "MONTHS"):
            assert forward[key] == backward[key], (name, key)
