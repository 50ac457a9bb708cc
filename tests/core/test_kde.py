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


# --- The window and the moment sums (issue 15): exact against a brute force computed apart, in extended precision. ---


def brute_force_long(grid: kde.Grid, x, y, w, h, kernel, decay=0.0):
    """Sum every point's raw kernel at every cell centre in long double: the reference for hostile cases."""
    raw, _ = REFERENCE[kernel]
    ld = np.longdouble
    cx = ld(grid.x_min) + (np.arange(grid.cols, dtype=ld) + ld(0.5)) * ld(grid.cell)
    cy = ld(grid.y_max) - (np.arange(grid.rows, dtype=ld) + ld(0.5)) * ld(grid.cell)
    out = np.zeros((grid.rows, grid.cols), dtype=ld)
    reach = np.zeros((grid.rows, grid.cols), dtype=bool)
    h2 = ld(h) * ld(h)
    for px, py, pw in zip(x, y, w):
        dx2 = (cx - ld(px)) ** 2
        dy2 = (cy - ld(py)) ** 2
        d2 = dy2[:, None] + dx2[None, :]
        inside = d2 <= h2
        u = np.sqrt(d2[inside] / h2)
        out[inside] += ld(pw) * raw(u, ld(decay))
        reach |= inside
    return out.astype(float), reach


def methods_for(kernel, h, cell, decay=0.0):
    """Return the sums kernel_sum can take for this case: the window always, the moments for polynomial kernels."""
    polynomial = kernel != "triangular" or decay == 1.0
    return ["window", "moments"] if polynomial and h / cell >= kde._MIN_MOMENT_CELLS else ["window"]


def assert_exact(grid, x, y, w, h, kernel, decay=0.0, merge=False):
    """Every sum kernel_sum can take equals the long-double brute force within 1e-9 of the surface's maximum,
    reach for reach."""
    px, py, pw = kde.merge_identical_points(x, y, w) if merge else (x, y, w)
    expected, expected_reach = brute_force_long(grid, x, y, w, h, kernel, decay)
    assert expected_reach.any()
    scale = max(np.abs(expected).max(), 1e-300)
    for method in ["auto", *methods_for(kernel, h, grid.cell, decay)]:
        got, reached = kde.kernel_sum(grid, px, py, pw, h, kernel, decay, method=method)
        assert np.array_equal(reached, expected_reach), method
        assert np.abs(got - expected).max() <= 1e-9 * scale, method


@pytest.fixture(scope="module")
def city_points():
    """The bundled City of London crimes of October 2024 (police.uk), in British National Grid, as read."""
    import pandas as pd
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransform, QgsProject

    from crime_mapping_plugin.core.reproject import BulkTransformer
    from tests.conftest import POLICE_UK

    rows = pd.read_csv(POLICE_UK / "2024-10" / "2024-10-city-of-london-street.csv").dropna(
        subset=["Longitude", "Latitude"]
    )
    transform = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"), QgsCoordinateReferenceSystem("EPSG:27700"), QgsProject.instance()
    )
    x, y = BulkTransformer(transform)(rows["Longitude"].to_numpy(), rows["Latitude"].to_numpy())
    assert len(x) > 400 and len(np.unique(x + 1j * y)) < len(x)  # snap points: crimes share locations
    return x, y


@pytest.mark.parametrize("kernel", kde.KERNELS)
def test_real_crimes_equal_the_brute_force_whichever_kernel(city_points, kernel):
    x, y = city_points
    h, cell = 250.0, 20.0
    grid = kde.grid_around_points(x, y, h, cell)
    assert_exact(grid, x, y, np.ones(len(x)), h, kernel, 0.3, merge=True)


@pytest.mark.parametrize("kernel", ["quartic", "triweight", "uniform", "epanechnikov"])
def test_points_on_cell_edges_and_corners_with_ties_on_the_circle(kernel):
    # Cells of 10 m from (0, 0), points on cell edges and corners, radius 25 m: cell centres lie exactly on the
    # circle (15² + 20² = 25²) and count as reached, as d ≤ h says.
    grid = kde.grid_for_extent(0, 0, 200, 150, 10)
    x = np.array([50.0, 100.0, 100.0, 35.0, 150.0])
    y = np.array([45.0, 100.0, 75.0, 40.0, 60.0])
    assert_exact(grid, x, y, np.ones(5), 25.0, kernel)
    _, reached = kde.kernel_sum(grid, x[:1], y[:1], np.ones(1), 25.0, kernel)
    # Point (50, 45): centres (65, 25) and (75, 45) are exactly 25 m away, (65, 15) and (85, 45) further.
    assert reached[12, 6] and reached[10, 7]
    assert not reached[13, 6] and not reached[10, 8]


@pytest.mark.parametrize("kernel", kde.KERNELS)
def test_points_at_and_beyond_the_grid_border(kernel):
    # The extent cuts through the points' discs; some points are outside it and still reach its cells.
    grid = kde.grid_for_extent(1000, 2000, 1400, 2300, 12.5)
    rng = np.random.default_rng(7)
    x = np.concatenate([[1000.0, 1400.0, 1000.0, 1399.999], rng.uniform(880, 1520, 60)])
    y = np.concatenate([[2000.0, 2300.0, 2300.0, 2000.001], rng.uniform(1880, 2420, 60)])
    assert_exact(grid, x, y, rng.uniform(0.5, 2, len(x)), 90.0, kernel, 0.5)


@pytest.mark.parametrize("kernel", kde.KERNELS)
@pytest.mark.parametrize("h", [3.0, 7.3, 12.0, 20.1])
def test_radius_of_a_fraction_of_a_cell_to_a_few_cells(kernel, h):
    # Under 1.5 cells per radius only the window is evaluated; from there up the moments too: both exact.
    grid = kde.grid_for_extent(0, 0, 100, 80, 10)
    rng = np.random.default_rng(int(h * 10))
    x, y = rng.uniform(-5, 105, 80), rng.uniform(-5, 85, 80)
    assert_exact(grid, x, y, np.ones(80), h, kernel, 0.2)


@pytest.mark.parametrize("kernel", kde.KERNELS)
@pytest.mark.parametrize("origin", [(531_234.56, 181_987.65), (999_990.3, 1_000_011.7)])
def test_huge_coordinates_and_a_tiny_radius(kernel, origin):
    # British National Grid coordinates (and 1e6) with a 2.3 m radius on 0.4 m cells: digits are in the
    # coordinates, not in the distances, and must not be lost.
    rng = np.random.default_rng(3)
    x = origin[0] + rng.uniform(0, 20, 150)
    y = origin[1] + rng.uniform(0, 15, 150)
    grid = kde.grid_around_points(x, y, 2.3, 0.4)
    assert_exact(grid, x, y, np.ones(150), 2.3, kernel, 0.1)


@pytest.mark.parametrize("kernel", kde.KERNELS)
def test_weights_of_any_sign_and_zero(kernel):
    # Weights that are not counts: a cell reached only by weight-0 points is reached (and 0); negative weights
    # are summed as given.
    grid = kde.grid_for_extent(0, 0, 600, 500, 20)
    rng = np.random.default_rng(11)
    x, y = rng.uniform(0, 600, 120), rng.uniform(0, 500, 120)
    w = rng.uniform(-1, 3, 120)
    w[:10] = 0.0
    assert_exact(grid, x, y, w, 95.0, kernel, 0.6)
    _, reached = kde.kernel_sum(grid, np.array([300.0]), np.array([250.0]), np.zeros(1), 95.0, kernel, 0.6)
    _, expected = brute_force_long(grid, [300.0], [250.0], [0.0], 95.0, kernel, 0.6)
    assert reached.any() and np.array_equal(reached, expected)


@pytest.mark.parametrize("kernel", kde.KERNELS)
def test_many_identical_points_merged_or_not(kernel):
    # 2,000 crimes on three snap points, passed as they are and merged: the same surface as 3 weighted points.
    grid = kde.grid_for_extent(0, 0, 1000, 800, 25)
    x = np.repeat([400.0, 412.5, 700.0], [1500, 499, 1])
    y = np.repeat([300.0, 300.0, 555.5], [1500, 499, 1])
    expected, expected_reach = brute_force_long(grid, [400.0, 412.5, 700.0], [300.0, 300.0, 555.5],
                                                [1500, 499, 1], 150.0, kernel, 0.3)  # fmt: skip
    for method in methods_for(kernel, 150.0, 25.0, 0.3):
        unmerged, reached = kde.kernel_sum(grid, x, y, np.ones(len(x)), 150.0, kernel, 0.3, method=method)
        assert np.array_equal(reached, expected_reach)
        assert np.abs(unmerged - expected).max() <= 1e-9 * expected.max()
    assert_exact(grid, x, y, np.ones(len(x)), 150.0, kernel, 0.3, merge=True)


def test_merging_finds_identical_points_among_distinct_ones():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 1e6, 1000), rng.uniform(0, 1e6, 1000)
    assert len(kde.merge_identical_points(x, y)[0]) == 1000
    # Shared x but different y are different places; shared x and y the same.
    x[:300] = x[0]
    y[100:300] = y[100]
    ux, uy, uw = kde.merge_identical_points(x, y)
    expected = {}
    for a, b in zip(x, y):
        expected[(a, b)] = expected.get((a, b), 0) + 1
    assert {(a, b): c for a, b, c in zip(ux, uy, uw)} == expected


@pytest.mark.parametrize("method", ["window", "moments"])
def test_the_sum_reports_progress_and_stops_soon_when_cancelled(method):
    rng = np.random.default_rng(2)
    x, y = rng.uniform(0, 20_000, 60_000), rng.uniform(0, 20_000, 60_000)
    grid = kde.grid_around_points(x, y, 400.0, 50.0)
    seen = []
    full, _ = kde.kernel_sum(grid, x, y, np.ones(len(x)), 400.0, progress=seen.append, method=method)
    assert len(seen) > 2 and seen == sorted(seen) and seen[-1] == 1.0
    asked = []
    raw, _ = kde.kernel_sum(
        grid, x, y, np.ones(len(x)), 400.0, is_cancelled=lambda: asked.append(1) or len(asked) > 1, method=method
    )
    # The cancel is seen at the second check, after one chunk of the point-by-point sum: part of the pairs only
    # (with the moments, the ring's pairs carry a few tenths of a percent of the sum, the tiles the rest).
    assert len(asked) >= 2 and 0 < raw.sum() < (1 - 1e-4) * full.sum()
    if method == "window":
        assert raw.sum() < 0.5 * full.sum()
    assert len(seen) >= 20  # a cancel is looked for at least as often as progress is reported


def test_the_moment_sum_is_exact_over_many_fft_tiles_and_a_ragged_last_tile(monkeypatch):
    # Small tiles force dozens of them, the last ones cut by the grid's edge; the moment sum must equal the window.
    monkeypatch.setattr(kde, "_tile_shape", lambda frame: (2 * frame.reach + 48, 2 * frame.reach + 64))
    rng = np.random.default_rng(13)
    # The last case has 60 cells per bandwidth: its kernels are transformed by FFT, the others' by matrix products.
    cases = [("quartic", 30.0, 2.0), ("triweight", 120.0, 10.0), ("epanechnikov", 33.0, 5.0), ("quartic", 150.0, 2.5)]
    for kernel, h, cell in cases:
        x, y = rng.uniform(-30, 1530, 3000), rng.uniform(-30, 1130, 3000)
        w = rng.uniform(0.2, 2.0, 3000)
        grid = kde.grid_for_extent(0, 0, 1500, 1100, cell)
        window, window_reach = kde.kernel_sum(grid, x, y, w, h, kernel, method="window")
        moments, moments_reach = kde.kernel_sum(grid, x, y, w, h, kernel, method="moments")
        assert np.array_equal(moments_reach, window_reach)
        assert np.abs(moments - window).max() <= 1e-12 * window.max()


def test_a_real_london_month_by_moments_equals_the_brute_force(city_points):
    # The City's crimes moved by up to 30 m (as a force's own geocoded records are): distinct points, so the
    # automatic choice takes the moments; compared with the long-double brute force.
    x, y = city_points
    rng = np.random.default_rng(17)
    x, y = x + rng.uniform(-30, 30, len(x)), y + rng.uniform(-30, 30, len(y))
    h, cell = 400.0, 10.0
    grid = kde.grid_around_points(x, y, h, cell)
    assert_exact(grid, x, y, np.ones(len(x)), h, "quartic")


def test_points_for_sum_merges_shared_places_and_counts_distinct_ones_exactly():
    rng = np.random.default_rng(23)
    # A force's own records: nearly every crime at its own place, ten pairs planted at one place each.
    x, y = rng.uniform(5e5, 5.6e5, 100_000), rng.uniform(1.5e5, 2e5, 100_000)
    x[:10], y[:10] = x[10:20], y[10:20]
    px, py, pw, locations = kde.points_for_sum(x, y, np.ones(len(x)))
    assert len(px) == len(x) and locations() == len(x) - 10
    # Shared x alone is not a shared place.
    x[20:30] = x[30]
    assert kde.points_for_sum(x, y, np.ones(len(x)))[3]() == len(x) - 10
    # police.uk's snap points: merged, weights summed.
    sx, sy = rng.uniform(0, 1e4, 500), rng.uniform(0, 1e4, 500)
    pick = rng.integers(0, 500, 100_000)
    px, py, pw, locations = kde.points_for_sum(sx[pick], sy[pick], np.full(len(pick), 2.0))
    assert locations() == len(px) == len(np.unique(pick)) and pw.sum() == 2.0 * len(pick)


@pytest.mark.parametrize("method", ["window", "moments"])
def test_huge_weights_do_not_overflow_at_many_cells_per_bandwidth(method):
    # 150 cells per bandwidth: the kernel's powers of R² − d² would pass 1e13; a weight of 1e297 then overflowed
    # before the kernel was scaled.
    grid = kde.grid_for_extent(0, 0, 3000, 3000, 10)
    x, y, w = np.array([1500.0, 1700.0]), np.array([1500.0, 1400.0]), np.array([1e297, 3e296])
    got, reached = kde.kernel_sum(grid, x, y, w, 1500.0, "triweight", method=method)
    expected, expected_reach = brute_force_long(grid, x, y, w, 1500.0, "triweight")
    assert np.isfinite(got).all() and np.array_equal(reached, expected_reach)
    assert np.abs(got - expected).max() <= 1e-9 * expected.max()


def test_a_bandwidth_of_hundreds_of_cells_has_more_offsets_per_point_than_the_buffer_holds():
    # 600 cells per bandwidth: one point's window (1.1 million cells) is more than _points_sum's buffer of pairs.
    grid = kde.grid_for_extent(0, 0, 1300, 1300, 1)
    x, y, w = np.array([650.3, 400.0, 900.7]), np.array([650.1, 700.0, 300.2]), np.array([1.0, 2.0, 0.5])
    assert_exact(grid, x, y, w, 600.0, "triangular", 0.3)
