"""Gi* maths against PySAL esda (committed reference), scipy, pymannkendall and hand-made cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import norm

from crime_mapping_plugin.core import gistar
from tests.conftest import TEST_DATA

REF = np.load(TEST_DATA / "gistar_reference.npz")
CASES = [str(c) for c in REF["cases"]]
GRID_CASES = {
    "city_square_100": ("city", "square"),
    "city_hex_150": ("city", "hexagon"),
    "met_square_1000": ("met", "square"),
}


def ref(case: str, key: str) -> np.ndarray:
    return REF[f"{case}_{key}"]


def our_neighbours(case: str) -> gistar.Neighbours:
    cx, cy = ref(case, "cx"), ref(case, "cy")
    if case == "wards_knn8":
        return gistar.k_nearest(cx, cy, int(ref(case, "k")))
    return gistar.distance_band(cx, cy, float(ref(case, "band")))


@pytest.mark.parametrize("case", list(GRID_CASES))
def test_grid_cells_and_counts_match_an_independent_binning_of_real_points(case):
    source, shape = GRID_CASES[case]
    px, py = REF[f"{source}_px"], REF[f"{source}_py"]
    grid = gistar.grid_over_extent(shape, float(ref(case, "size")), px.min(), py.min(), px.max(), py.max())
    counts = gistar.count_points(grid.locate(px, py), len(grid))
    ours = np.lexsort((grid.cy, grid.cx))
    theirs = np.lexsort((ref(case, "cy"), ref(case, "cx")))
    assert len(grid) == len(ref(case, "cx"))
    np.testing.assert_allclose(grid.cx[ours], ref(case, "cx")[theirs], rtol=0, atol=1e-6)
    np.testing.assert_allclose(grid.cy[ours], ref(case, "cy")[theirs], rtol=0, atol=1e-6)
    np.testing.assert_array_equal(counts[ours], ref(case, "values")[theirs])
    assert counts.sum() == len(px)  # every point is in a cell


@pytest.mark.parametrize("case", CASES)
def test_neighbour_pairs_equal_libpysal(case):
    nb = our_neighbours(case)
    order = np.lexsort((nb.j, nb.i))
    np.testing.assert_array_equal(np.c_[nb.i[order], nb.j[order]], ref(case, "pairs"))


@pytest.mark.parametrize("case", CASES)
def test_z_scores_equal_esda_g_local_star_binary(case):
    z = gistar.gi_star(ref(case, "values"), our_neighbours(case))
    np.testing.assert_allclose(z, ref(case, "z"), rtol=0, atol=1e-9)


@pytest.mark.parametrize("case", CASES)
def test_two_sided_p_equals_scipy_normal_tail(case):
    z = ref(case, "z")
    p = gistar.two_sided_p(z)
    np.testing.assert_allclose(p, ref(case, "p"), rtol=1e-12, atol=0)
    np.testing.assert_allclose(p, 2 * norm.sf(np.abs(z)), rtol=1e-12, atol=0)


@pytest.mark.parametrize("case", CASES)
def test_fdr_bins_follow_scipy_benjamini_hochberg(case):
    z, p, adjusted = ref(case, "z"), ref(case, "p"), ref(case, "bh")
    level = np.select([adjusted <= 0.01, adjusted <= 0.05, adjusted <= 0.10], [3, 2, 1], 0)
    np.testing.assert_array_equal(gistar.confidence_bins(z, p, fdr=True), level * np.sign(z))


@pytest.mark.parametrize("case", CASES)
def test_bins_without_fdr_follow_the_normal_critical_values(case):
    z = ref(case, "z")
    a = np.abs(z)
    level = np.select([a > norm.isf(0.005), a > norm.isf(0.025), a > norm.isf(0.05)], [3, 2, 1], 0)
    np.testing.assert_array_equal(gistar.confidence_bins(z, gistar.two_sided_p(z), fdr=False), level * np.sign(z))


def test_fdr_critical_p_on_constructed_p_values():
    # m = 10, alpha 0.05: thresholds k*0.005; sorted p 0.001, 0.008, 0.012, 0.02, 0.03(> 0.025), ...
    p = np.array([0.03, 0.001, 0.5, 0.012, 0.008, 0.02, 0.9, 0.04, 0.2, 0.7])
    # p_(4) = 0.02 <= 4*0.005 = 0.02 is the largest that passes
    assert gistar.fdr_critical_p(p, 0.05) == 0.02
    # statsmodels-style adjusted p, computed here independently
    order = np.argsort(p)
    m = len(p)
    adj_sorted = np.minimum.accumulate((p[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    adjusted = np.empty(m)
    adjusted[order] = np.minimum(adj_sorted, 1)
    for alpha in (0.01, 0.05, 0.10):
        crit = gistar.fdr_critical_p(p, alpha)
        np.testing.assert_array_equal((p <= crit) & (crit > 0), adjusted <= alpha)
    assert gistar.fdr_critical_p(np.array([0.5, 0.9]), 0.05) == 0.0


def test_gi_star_by_hand_on_a_row_of_cells():
    # Five cells in a row, 1 m apart, band 1 m: W = 2 at the ends and 3 inside.
    x = np.arange(5.0)
    v = np.array([0.0, 1.0, 5.0, 1.0, 0.0])
    nb = gistar.distance_band(x, np.zeros(5), 1.0)
    mean, s, n = v.mean(), v.std(), 5
    expected = []
    for i in range(5):
        idx = [j for j in range(5) if abs(j - i) <= 1]
        w = len(idx)
        expected.append((v[idx].sum() - mean * w) / (s * math.sqrt((n * w - w * w) / (n - 1))))
    np.testing.assert_allclose(gistar.gi_star(v, nb), expected, rtol=1e-13)


def test_slices_at_once_equal_slice_by_slice():
    case = "city_square_100"
    nb = our_neighbours(case)
    rng = np.random.default_rng(3)
    values = rng.poisson(1.0, size=(4, len(ref(case, "cx")))).astype(float)
    together = gistar.gi_star(values, nb)
    for t in range(4):
        np.testing.assert_allclose(together[t], gistar.gi_star(values[t], nb), rtol=0, atol=1e-12)


def test_cell_without_neighbours_gets_no_z_and_bin_zero():
    x = np.array([0.0, 1.0, 2.0, 0.0, 1.0, 100.0])
    y = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 100.0])
    v = np.array([1.0, 2.0, 3.0, 0.0, 1.0, 50.0])
    result = gistar.hotspots(v, gistar.distance_band(x, y, 1.5))
    assert result.neighbours[-1] == 0
    assert math.isnan(result.z[-1]) and math.isnan(result.p[-1]) and result.bin[-1] == 0
    assert not np.isnan(result.z[:-1]).any()


def test_equal_counts_everywhere_are_refused():
    x = np.arange(4.0)
    with pytest.raises(gistar.GiStarInputError, match="same count"):
        gistar.hotspots(np.ones(4), gistar.distance_band(x, np.zeros(4), 1.0))


def test_default_cell_size_follows_sfhotspot():
    # 12 km by 9 km: 9000 / 50 = 180 m, floored to 100 m
    assert gistar.default_cell_size(12000.0, 9000.0) == 100.0
    # 2 km by 3 km: 40 m floors to 0, so it stays 40 m
    assert gistar.default_cell_size(2000.0, 3000.0) == 40.0


def test_hexagon_cells_hold_the_points_nearest_their_centre():
    rng = np.random.default_rng(5)
    px, py = rng.uniform(-300, 700, 3000), rng.uniform(-200, 400, 3000)
    grid = gistar.grid_over_extent("hexagon", 50.0, px.min(), py.min(), px.max(), py.max())
    cell = grid.locate(px, py)
    d = (px[:, None] - grid.cx[None]) ** 2 + (py[:, None] - grid.cy[None]) ** 2
    np.testing.assert_array_equal(cell, d.argmin(axis=1))
    # a hexagon's corners are one circumradius from its centre and its flats `size` apart
    ring = grid.vertices()[0]
    np.testing.assert_allclose(np.hypot(ring[:, 0] - grid.cx[0], ring[:, 1] - grid.cy[0]), 50 / math.sqrt(3))


def test_k_nearest_matches_brute_force_on_clustered_points():
    rng = np.random.default_rng(9)
    xy = np.vstack([rng.normal(0, 10, (300, 2)), rng.normal(5000, 2000, (200, 2))])
    nb = gistar.k_nearest(xy[:, 0], xy[:, 1], 5)
    d = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    np.fill_diagonal(d, np.inf)
    expected = np.sort(np.argsort(d, axis=1, kind="stable")[:, :5], axis=1)
    np.testing.assert_array_equal(nb.j.reshape(-1, 5), expected)


@pytest.mark.parametrize("key", ["mk12", "mk7"])
def test_mann_kendall_equals_pymannkendall(key):
    s, var, z, p = gistar.mann_kendall(REF[f"{key}_series"])
    np.testing.assert_allclose(s, REF[f"{key}_s"], rtol=0, atol=0)
    np.testing.assert_allclose(var, REF[f"{key}_var"], rtol=1e-12)
    np.testing.assert_allclose(z, REF[f"{key}_z"], rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(p, REF[f"{key}_p"], rtol=1e-10)


def test_mann_kendall_by_hand():
    # 1, 3, 2, 4: pairs (1,3)+ (1,2)+ (1,4)+ (3,2)- (3,4)+ (2,4)+ -> S = 4; var = 4*3*13/18
    s, var, z, _ = gistar.mann_kendall(np.array([[1.0, 3.0, 2.0, 4.0]]))
    assert s[0] == 4 and var[0] == pytest.approx(156 / 18)
    assert z[0] == pytest.approx(3 / math.sqrt(156 / 18))


H, C, N = 1, -1, 0  # significant hot, significant cold, neither
UP, DOWN, FLAT = (3.0, 0.001), (-3.0, 0.001), (0.5, 0.6)
CATEGORY_CASES = [
    ("New hot spot", [N, N, N, N, N, N, N, N, N, H], FLAT),
    ("Consecutive hot spot", [N, N, N, N, N, N, N, H, H, H], UP),
    ("Intensifying hot spot", [N, H, H, H, H, H, H, H, H, H], UP),
    ("Persistent hot spot", [H, H, H, H, H, H, H, H, H, H], FLAT),
    ("Diminishing hot spot", [H, H, H, H, H, H, N, H, H, H], DOWN),
    ("Sporadic hot spot", [N, H, N, N, H, H, N, N, N, H], FLAT),
    ("Oscillating hot spot", [N, C, N, N, H, H, N, N, N, H], FLAT),
    ("Historical hot spot", [H, H, H, H, H, H, H, H, H, N], DOWN),
    ("New cold spot", [N, N, N, N, N, N, N, N, N, C], FLAT),
    ("Consecutive cold spot", [N, N, N, N, N, N, C, C, C, C], DOWN),
    ("Intensifying cold spot", [C, C, C, C, C, C, C, C, N, C], DOWN),
    ("Persistent cold spot", [C, C, C, C, C, C, C, C, C, C], FLAT),
    ("Diminishing cold spot", [C, C, C, C, C, C, C, C, C, C], UP),
    ("Sporadic cold spot", [C, N, C, N, N, N, C, N, N, C], FLAT),
    ("Oscillating cold spot", [H, N, N, N, N, N, N, N, N, C], FLAT),
    ("Historical cold spot", [C, C, C, C, C, C, C, C, C, H], FLAT),
    ("No pattern detected", [N, N, N, N, N, N, N, N, N, N], FLAT),
    ("No pattern detected", [H, H, N, N, H, N, N, N, N, N], UP),  # hot before, not at the end
    # a cold slice before a consecutive hot run makes it oscillating, not consecutive
    ("Oscillating hot spot", [C, N, N, N, N, N, N, H, H, H], FLAT),
    # hot in 8 of 10 slices is below 90 %: a broken history ending hot is sporadic
    ("Sporadic hot spot", [H, H, H, H, N, H, H, H, N, H], UP),
    # 9 of 10 hot with the final one: 90 % reached, no significant trend
    ("Persistent hot spot", [H, N, H, H, H, H, H, H, H, H], FLAT),
]


@pytest.mark.parametrize(("expected", "bins", "trend"), CATEGORY_CASES)
def test_emerging_category_of_a_constructed_series(expected, bins, trend):
    got = gistar.classify_emerging(np.array([bins]), np.array([trend[0]]), np.array([trend[1]]))
    assert gistar.CATEGORIES[got[0]] == expected


def test_every_category_is_reachable():
    reached = {expected for expected, _, _ in CATEGORY_CASES}
    assert reached == set(gistar.CATEGORIES)


def test_polygon_wkb_decodes_to_the_cell_rings():
    import struct

    grid = gistar.grid_over_extent("square", 10.0, 0.0, 0.0, 15.0, 5.0)
    wkb = gistar.polygon_wkb(grid.vertices())
    order, kind, rings, points = struct.unpack("<BIII", wkb[1][:13])
    assert (order, kind, rings, points) == (1, 3, 1, 5)
    coords = struct.unpack("<10d", wkb[1][13:])
    assert coords == (10.0, 0.0, 20.0, 0.0, 20.0, 10.0, 10.0, 10.0, 10.0, 0.0)


def test_square_cells_are_the_cells_of_one_aligned_raster_grid():
    from crime_mapping_plugin.core.grid import Grid, aligned_grid

    raster = aligned_grid(200.0, 530450.0, 180250.0, 531010.0, 180999.0)
    # Columns 2652..2655 (530400..531200 m) and rows 901..904 (180200..181000 m), by hand.
    assert raster == Grid(530400.0, 181000.0, 200.0, 4, 4)
    cells = gistar.grid_over_extent("square", 200.0, 530450.0, 180250.0, 531010.0, 180999.0)
    expected = [(c, r) for r in range(901, 905) for c in range(2652, 2656)]  # south to north, west to east
    assert list(zip(cells.col.tolist(), cells.row.tolist())) == expected
    assert cells.ids()[0] == "s200_2652_901"
    np.testing.assert_array_equal(cells.cx, [(c + 0.5) * 200 for c, _ in expected])
    np.testing.assert_array_equal(cells.cy, [(r + 0.5) * 200 for _, r in expected])
    row, col, on = raster.cell_of(cells.cx, cells.cy)
    assert on.all() and len(set(zip(row.tolist(), col.tolist()))) == raster.size


def test_space_time_gi_star_equals_a_bin_by_bin_computation_on_a_small_cube():
    rng = np.random.default_rng(3)
    cube = rng.poisson(3.0, (4, 9)).astype(float)
    cube[3, 4] += 12
    xs, ys = np.meshgrid(np.arange(3.0), np.arange(3.0))
    nb = gistar.distance_band(xs.ravel(), ys.ravel(), 1.0)  # rook neighbours on a 3 x 3 grid
    neighbours = [set(nb.j[nb.i == c].tolist()) for c in range(9)]
    mean, sd, bins = cube.mean(), cube.std(), cube.size
    want = np.zeros(cube.shape)
    for t in range(4):
        for c in range(9):
            hood = [(s, d) for s in (t - 1, t) if s >= 0 for d in neighbours[c] | {c}]
            w = len(hood)
            total = sum(cube[s, d] for s, d in hood)
            want[t, c] = (total - mean * w) / (sd * math.sqrt((bins * w - w * w) / (bins - 1)))
    np.testing.assert_allclose(gistar.gi_star_space_time(cube, nb), want, atol=1e-12)
    assert np.isnan(gistar.gi_star_space_time(np.ones((3, 9)), nb)).all()
    with pytest.raises(InterruptedError):
        gistar.gi_star_space_time(cube, nb, is_cancelled=lambda: True)


def test_the_neighbour_search_and_the_trend_stop_when_cancelled():
    rng = np.random.default_rng(5)
    x, y = rng.uniform(0, 1000, 120000), rng.uniform(0, 1000, 120000)
    calls = []

    def cancel_on_second_call() -> bool:
        calls.append(1)
        return len(calls) > 1

    with pytest.raises(InterruptedError):
        gistar.distance_band(x, y, 5.0, is_cancelled=cancel_on_second_call)
    assert len(calls) == 2  # seen between blocks of points, not only at the end
    with pytest.raises(InterruptedError):
        gistar.k_nearest(x, y, 4, is_cancelled=lambda: True)
    with pytest.raises(InterruptedError):
        gistar.mann_kendall(rng.normal(size=(120000, 4)), is_cancelled=lambda: True)
    # Searched in blocks, the pairs are those of a brute-force distance matrix.
    xs, ys = x[:60000], y[:60000]
    got = gistar.distance_band(xs, ys, 3.0)
    some = np.arange(0, 60000, 997)
    d = np.hypot(xs[some, None] - xs[None, :], ys[some, None] - ys[None, :])
    for row, i in enumerate(some):
        want = set(np.flatnonzero((d[row] <= 3.0) & (np.arange(60000) != i)).tolist())
        assert set(got.j[got.i == i].tolist()) == want


def test_k_nearest_ties_on_hexagons_go_by_cell_order_not_by_rounding():
    # Pointy-top hexagons of side 100 m, centres placed far from the origin so the six equidistant neighbours'
    # distances differ in their last bits.
    side = 100.0
    width = math.sqrt(3.0) * side
    xs, ys = [], []
    for row in range(9):
        for col in range(9):
            xs.append(531234.567 + col * width + (width / 2 if row % 2 else 0.0))
            ys.append(181234.567 + row * 1.5 * side)
    x, y = np.array(xs), np.array(ys)
    nb = gistar.k_nearest(x, y, 3)
    centre = 4 * 9 + 4
    d = np.hypot(x - x[centre], y - y[centre])
    ring = np.flatnonzero(np.abs(d - width) < 1e-6)
    assert len(ring) == 6 and len(set(d[ring].tolist())) > 1  # equal in exact arithmetic, not in floating point
    # The rule the help states: the three lowest-numbered cells of the six.
    assert nb.j[nb.i == centre].tolist() == sorted(ring.tolist())[:3]


@pytest.mark.parametrize("shape", ["square", "hexagon"])
@pytest.mark.parametrize("band_cells", [1.0, math.sqrt(2), 2.7])
@pytest.mark.parametrize("subset", [False, True], ids=["whole grid", "some cells"])
def test_lattice_band_finds_every_pair_a_kd_tree_finds(shape, band_cells, subset):
    from scipy.spatial import cKDTree

    cells = gistar.grid_over_extent(shape, 120.0, 0.0, 0.0, 120.0 * 60, 120.0 * 40)
    if subset:
        cells = cells.subset(np.random.default_rng(7).random(len(cells)) < 0.6)
    band = 120.0 * band_cells
    nb = gistar.lattice_band(cells, band)
    tree = cKDTree(np.c_[cells.cx, cells.cy])
    pairs = tree.query_pairs(band * (1 + 1e-9), output_type="ndarray")
    expected = np.sort(np.r_[pairs[:, 0] * len(cells) + pairs[:, 1], pairs[:, 1] * len(cells) + pairs[:, 0]])
    assert len(expected) > 0
    np.testing.assert_array_equal(np.sort(nb.i * len(cells) + nb.j), expected)


@pytest.mark.parametrize("shape", ["square", "hexagon"])
def test_locate_puts_each_point_in_the_cell_of_its_nearest_centre(shape):
    from scipy.spatial import cKDTree

    whole = gistar.grid_over_extent(shape, 100.0, 1000.0, 2000.0, 9000.0, 7000.0)
    cells = whole.subset(np.random.default_rng(3).random(len(whole)) < 0.8)
    rng = np.random.default_rng(4)
    x, y = rng.uniform(0.0, 10000.0, 20000), rng.uniform(1000.0, 8000.0, 20000)
    # A square or a hexagon is the Voronoi cell of its centre: the nearest centre of the whole lattice holds a point.
    lattice = gistar.grid_over_extent(shape, 100.0, -1000.0, 0.0, 12000.0, 10000.0)
    _, nearest = cKDTree(np.c_[lattice.cx, lattice.cy]).query(np.c_[x, y])
    number = {(c, r): i for i, (c, r) in enumerate(zip(cells.col.tolist(), cells.row.tolist()))}
    expected = [number.get((lattice.col[k], lattice.row[k]), -1) for k in nearest.tolist()]
    np.testing.assert_array_equal(cells.locate(x, y), expected)
