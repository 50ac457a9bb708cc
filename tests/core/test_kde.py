"""The density grid equals a brute-force evaluation at cell centres, and the default rules follow their formulas."""

from __future__ import annotations

import math

import numpy as np
import pytest

from crime_mapping_plugin.core import kde

# The formulas of docs/methods.md (kernels), written out independently: (raw value of u, scaled constant·πh²).
REFERENCE = {
    "quartic": (lambda u, r: (1 - u**2) ** 2, lambda r: 3.0),
    "triangular": (lambda u, r: 1 - (1 - r) * u, lambda r: 3.0 / (1 + 2 * r)),
    "uniform": (lambda u, r: np.ones_like(u), lambda r: 1.0),
    "triweight": (lambda u, r: (1 - u**2) ** 3, lambda r: 4.0),
    "epanechnikov": (lambda u, r: 1 - u**2, lambda r: 2.0),
}


def brute_force(grid: kde.Grid, x, y, w, h, kernel, decay, scaled):
    """Sum every point's kernel at every cell centre, point by point."""
    raw, const = REFERENCE[kernel]
    out = np.zeros((grid.rows, grid.cols))
    reach = np.zeros((grid.rows, grid.cols), dtype=bool)
    cy = grid.y_max - (np.arange(grid.rows) + 0.5) * grid.cell
    cx = grid.x_min + (np.arange(grid.cols) + 0.5) * grid.cell
    gx, gy = np.meshgrid(cx, cy)
    for px, py, pw in zip(x, y, w):
        d = np.hypot(gx - px, gy - py)
        inside = d <= h
        out[inside] += pw * raw(d[inside] / h, decay)
        reach |= inside
    if scaled:
        out *= const(decay) / (math.pi * h * h)
    return out, reach


@pytest.fixture(scope="module")
def points():
    rng = np.random.default_rng(20241)
    # Clustered, with many crimes on the same snap point, as police.uk data are.
    centres = rng.uniform([0, 0], [2000, 1500], size=(40, 2))
    snap = centres[rng.integers(0, 40, 400)] + rng.normal(0, 60, (400, 2)).round(0)
    return snap[:, 0], snap[:, 1], rng.uniform(0.5, 3.0, 400)


@pytest.mark.parametrize("kernel", kde.KERNELS)
@pytest.mark.parametrize("scaled", [False, True])
def test_grid_equals_brute_force_at_cell_centres(points, kernel, scaled):
    x, y, w = points
    h, cell, decay = 230.0, 37.0, 0.25
    grid = kde.grid_around_points(x, y, h, cell)
    ux, uy, uw = kde.merge_identical_points(x, y, w)
    raw, reached = kde.kernel_sum(grid, ux, uy, uw, h, kernel, decay)
    ours = raw * kde.kernel_scale(kernel, h, decay) if scaled else raw
    expected, expected_reach = brute_force(grid, x, y, w, h, kernel, decay, scaled)
    np.testing.assert_allclose(ours, expected, rtol=1e-12, atol=1e-12 * np.abs(expected).max())
    assert np.array_equal(reached, expected_reach)


def test_merging_identical_points_sums_their_weights():
    x = np.array([1.0, 1.0, 2.0, 1.0])
    y = np.array([5.0, 5.0, 5.0, 6.0])
    ux, uy, uw = kde.merge_identical_points(x, y, np.array([1.0, 2.0, 4.0, 8.0]))
    got = {(a, b): c for a, b, c in zip(ux, uy, uw)}
    assert got == {(1.0, 5.0): 3.0, (2.0, 5.0): 4.0, (1.0, 6.0): 8.0}


def test_a_user_extent_takes_points_outside_it_into_account():
    # A point 50 m west of the grid still reaches its first columns.
    grid = kde.grid_for_extent(0, 0, 500, 300, 10)
    x, y, w = np.array([-50.0, 250.0]), np.array([150.0, 150.0]), np.array([1.0, 1.0])
    raw, _ = kde.kernel_sum(grid, x, y, w, 100.0)
    expected, _ = brute_force(grid, x, y, w, 100.0, "quartic", 0.0, False)
    np.testing.assert_allclose(raw, expected, atol=1e-12)
    assert (grid.rows, grid.cols) == (30, 50)


@pytest.mark.parametrize("kernel", kde.KERNELS)
def test_scaled_surface_integrates_to_the_number_of_crimes(points, kernel):
    x, y, _ = points
    h, cell = 300.0, 10.0
    grid = kde.grid_around_points(x, y, h, cell)
    ux, uy, uw = kde.merge_identical_points(x, y)
    raw, _ = kde.kernel_sum(grid, ux, uy, uw, h, kernel, 0.4)
    integral = raw.sum() * kde.kernel_scale(kernel, h, 0.4) * cell * cell
    # A cell-centre sum approximates the integral; the uniform kernel's sharp edge is the roughest case.
    assert integral == pytest.approx(len(x), rel=5e-3)


def test_qgis_grid_convention():
    # Points spanning 1000 × 333 m, radius 100, cells 50: 1200 × 533 m → 12 rows (ceil 10.66 + 1), 25 columns.
    grid = kde.grid_around_points(np.array([0.0, 1000.0]), np.array([0.0, 333.0]), 100.0, 50.0)
    assert (grid.x_min, grid.y_max, grid.rows, grid.cols) == (-100.0, 433.0, 12, 25)
    assert grid.geotransform() == (-100.0, 50.0, 0.0, 433.0, 0.0, -50.0)


def test_default_bandwidth_is_arcgis_rule(points):
    x, y, _ = points
    n = len(x)
    mean = np.array([x.mean(), y.mean()])
    dist = np.linalg.norm(np.column_stack([x, y]) - mean, axis=1)
    sd = math.sqrt((dist**2).sum() / n)
    expected = 0.9 * min(sd, math.sqrt(1 / math.log(2)) * np.median(dist)) * n**-0.2
    assert kde.default_bandwidth(x, y) == pytest.approx(float(f"{expected:.2g}"))


def test_default_cell_size_is_shorter_side_over_250():
    assert kde.default_cell_size(45_000, 36_000) == 140.0  # 36,000 / 250 = 144 → two significant figures
    assert kde.default_cell_size(0, 5_000) == 20.0


def test_all_crimes_at_one_place_ask_for_a_bandwidth():
    with pytest.raises(ValueError, match="set a bandwidth"):
        kde.default_bandwidth(np.full(10, 3.0), np.full(10, 4.0))


def test_percentile_threshold_ignores_empty_and_nodata_cells():
    values = np.array([[0.0, 1.0, 2.0], [3.0, 4.0, 100.0]])
    data = np.array([[True, True, True], [True, True, False]])
    assert kde.percentile_threshold(values, data, 50) == 2.5  # median of 1, 2, 3, 4


def test_crimes_at_one_place_ask_for_a_bandwidth_whatever_the_rounding():
    # One real snap point of the City as the import reprojects it: the mean of 500 copies is not that number,
    # which once gave a bandwidth of 7.6e-12 m.
    x, y = np.full(500, 531494.9991897112), np.full(500, 181627.95802721218)
    assert np.hypot(x - x.mean(), y - y.mean()).max() > 0  # the rounding this guards against
    with pytest.raises(ValueError, match="500 crimes are at 1 distinct location.*set a bandwidth"):
        kde.default_bandwidth(x, y)
    with pytest.raises(ValueError, match="2 distinct location"):
        kde.default_bandwidth(np.append(x[:499], x[0] + 40.0), np.append(y[:499], y[0]))
