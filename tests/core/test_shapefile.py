"""core.shapefile's DBF numbers against printf's formats ('%10d', '%24.15f', as GDAL's shapefile driver uses
them, here spelt as Python formats), and its WKB layout reader against WKB that QGIS encodes."""

from __future__ import annotations

import numpy as np
from qgis.core import QgsGeometry

from crime_mapping_plugin.core import shapefile

INTEGER = shapefile.DbfField("n", "N", 10, 0, 1)
BIG = shapefile.DbfField("b", "N", 20, 0, 11)
REAL = shapefile.DbfField("v", "N", 24, 15, 31)


def test_integers_are_right_aligned_as_printf_writes_them_and_null_is_stars():
    rng = np.random.default_rng(15)
    values = np.concatenate([rng.integers(-999_999_999, 9_999_999_999, 2000), [0, -1, 9, 10, -10, 999_999_999]])
    small = values[(values >= -(2**31) + 1) & (values <= 2**31 - 1)]
    got = shapefile._integers(small, INTEGER, int32=True)
    assert [bytes(r).decode() for r in got] == [f"{v:10d}" for v in small.tolist()]
    big = [int(v) for v in rng.integers(-(2**62), 2**62, 500)] + [None, -(2**63) + 1]
    got = shapefile._integers(big, BIG, int32=False)
    assert [bytes(r).decode() for r in got] == ["*" * 20 if v is None else f"{v:20d}" for v in big]


def test_reals_are_printf_f_cut_to_the_width_and_null_or_nan_is_stars():
    rng = np.random.default_rng(15)
    values = np.concatenate([rng.normal(0, 1e4, 3000), rng.uniform(-1, 1, 100) * 1e12, [np.nan, 0.0, -0.0, 1e-20]])
    got = shapefile._reals(values, REAL)
    expected = ["*" * 24 if np.isnan(v) else f"{v:24.15f}"[:24] for v in values.tolist()]
    assert [bytes(r).decode() for r in got] == expected
    assert any(len(f"{v:24.15f}") > 24 for v in values.tolist())  # some were cut


def test_whole_numbers_from_doubles_round_half_away_from_zero_as_qt_does():
    got = shapefile._integers([2.5, -2.5, 2.4999, -0.5, 3.0, None], INTEGER, int32=True)
    assert [bytes(r).decode().strip() for r in got] == ["3", "-3", "2", "-1", "3", "*" * 10]


def test_the_layout_of_a_multipolygon_names_its_rings_and_which_are_exterior():
    wkt = "MULTIPOLYGON (((0 0, 0 4, 4 4, 4 0, 0 0), (1 1, 2 1, 2 2, 1 1)), ((10 10, 10 11, 11 11, 10 10)))"
    blob = bytes(QgsGeometry.fromWkt(wkt).asWkb())
    rings, outer, kind, structure = shapefile._layout(blob)
    assert kind == 5 and outer == [True, False, True] and [k for _, k in rings] == [5, 4, 4]
    coords = [np.frombuffer(blob, "<f8", 2 * k, o).reshape(k, 2).tolist() for o, k in rings]
    assert coords[1] == [[1, 1], [2, 1], [2, 2], [1, 1]]
    assert len(structure) + 16 * 13 == len(blob)  # everything but the coordinates
