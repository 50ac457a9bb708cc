"""core.density: one call from crimes to a density in stated units, counted by the shared month and area rules."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from qgis.core import QgsCoordinateReferenceSystem, QgsFeature, QgsGeometry, QgsVectorLayer

from crime_mapping_plugin.core import density
from crime_mapping_plugin.core.crime_points import NO_MONTH as REASON_NO_MONTH
from crime_mapping_plugin.core.crime_points import CrimePoints
from crime_mapping_plugin.core.months import NO_MONTH
from tests.core.test_kde import brute_force

BNG = QgsCoordinateReferenceSystem("EPSG:27700")
JULYS = [2016 * 12 + 6, 2017 * 12 + 6, 2018 * 12 + 6]  # 2016-07, 2017-07, 2018-07


def crimes(n: int = 60, months=None, seed: int = 3) -> CrimePoints:
    rng = np.random.default_rng(seed)
    x = 530000 + rng.normal(0, 150, n)
    y = 180000 + rng.normal(0, 150, n)
    month = None if months is None else np.asarray(months, dtype=np.int64)
    return CrimePoints(x, y, None, month, n, Counter())


def square(x0: float, y0: float, side: float) -> QgsVectorLayer:
    layer = QgsVectorLayer("Polygon?crs=EPSG:27700", "study", "memory")
    feature = QgsFeature()
    feature.setGeometry(
        QgsGeometry.fromWkt(
            f"POLYGON(({x0} {y0},{x0 + side} {y0},{x0 + side} {y0 + side}," f"{x0} {y0 + side},{x0} {y0}))"
        )
    )
    layer.dataProvider().addFeatures([feature])
    return layer


def test_per_month_divides_by_the_months_with_records_and_leaves_out_crimes_without_a_month():
    n = 60
    months = np.array([JULYS[i % 3] for i in range(n)])
    months[::7] = NO_MONTH
    points = crimes(n, months)
    common = dict(points=points, source_crs=BNG, bandwidth=300.0, cell_size=50.0)
    total = density.compute_density(density.DensityRequest(**common))
    monthly = density.compute_density(density.DensityRequest(**common, unit=density.CRIMES_PER_KM2_PER_MONTH))
    # Crimes per km²: every crime mapped, those without a month counted.
    dated = months != NO_MONTH
    assert total.crimes == n and total.no_month == int((~dated).sum()) and not total.left_out
    # Per month: only the dated crimes, divided by the 3 months with records (not the 25 calendar months).
    assert monthly.crimes == int(dated.sum()) and monthly.left_out == Counter({REASON_NO_MONTH: int((~dated).sum())})
    assert monthly.read == monthly.crimes + sum(monthly.left_out.values())
    assert monthly.period.months_with_records == 3 and monthly.period.calendar_months == 25
    assert len(monthly.period.missing) == 22
    expected, reach = brute_force(
        monthly.grid, points.x[dated], points.y[dated], np.ones(dated.sum()), 300.0, "quartic", 0.0, True
    )
    expected = np.where(reach, expected * 1e6 / 3, np.nan)
    np.testing.assert_allclose(monthly.values, expected, rtol=1e-9, atol=1e-9, equal_nan=True)


def test_the_study_area_holds_the_crimes_whose_own_location_is_inside_whatever_the_cells():
    x = np.array([100.0, 199.9, 200.0, 200.1, 150.0, 99.0, 130.0])
    y = np.array([150.0, 150.0, 150.0, 150.0, 200.0, 150.0, 130.0])
    points = CrimePoints(x + 530000, y + 180000, None, None, len(x), Counter())
    study = square(530100, 180100, 100)
    # By hand: inside or on the boundary of [100, 200] × [100, 200].
    expected = int(((x >= 100) & (x <= 200) & (y >= 100) & (y <= 200)).sum())
    assert expected == 5
    for cell in (7.0, 30.0, 45.0):
        result = density.compute_density(
            density.DensityRequest(points=points, source_crs=BNG, bandwidth=100.0, cell_size=cell, study_area=study)
        )
        assert result.crimes_counted == expected, cell
        assert result.grid_from == "study area" and result.crimes == len(x)


def test_a_layer_in_degrees_is_computed_in_metres_nearby():
    ctx = density.QgsCoordinateTransformContext()
    wgs = QgsCoordinateReferenceSystem("EPSG:4326")
    assert density.working_crs(wgs, np.array([-0.1]), np.array([51.5]), ctx).authid() == "EPSG:27700"
    # Paris, 2.35° E: UTM zone floor((2.35 + 180) / 6) + 1 = 31, north.
    assert density.working_crs(wgs, np.array([2.35]), np.array([48.85]), ctx).authid() == "EPSG:32631"
    assert density.working_crs(BNG, np.array([0.0]), np.array([0.0]), ctx) == BNG


def test_impossible_requests_say_what_to_change():
    points = crimes()
    with pytest.raises(density.DensityError, match="smaller than the cell size"):
        density.compute_density(density.DensityRequest(points=points, source_crs=BNG, bandwidth=40, cell_size=50))
    with pytest.raises(density.DensityError, match="between 0 and 100"):
        density.compute_density(
            density.DensityRequest(points=points, source_crs=BNG, bandwidth=300, cell_size=50, hotspot_threshold=101)
        )
    with pytest.raises(density.DensityError, match="holds no month"):
        density.compute_density(
            density.DensityRequest(
                points=crimes(months=np.full(60, NO_MONTH)),
                source_crs=BNG,
                unit=density.CRIMES_PER_KM2_PER_MONTH,
                bandwidth=300,
                cell_size=50,
            )
        )


def test_the_ramp_top_is_the_995th_percentile_of_the_cells_above_zero():
    values = np.array([[np.nan, 0.0, 1.0], [2.0, 3.0, 400.0]])
    assert density.ramp_maximum(values) == pytest.approx(np.percentile([1.0, 2.0, 3.0, 400.0], 99.5))
    assert density.ramp_maximum(np.full((2, 2), np.nan)) == 1.0
