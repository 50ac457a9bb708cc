"""crimemapping:emerginghotspots end to end on constructed monthly patterns and on the real sample."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from qgis.core import QgsFeature, QgsGeometry, QgsPointXY, QgsProcessingException, QgsVectorLayer

from crime_mapping_plugin.core import crime_points, gistar
from tests.conftest import POLICE_UK, SAMPLE
from tests.processing.test_gistar_hotspots import read_cells

ALG = "crimemapping:emerginghotspots"


@pytest.fixture(scope="module")
def wards_uri(tmp_path_factory) -> str:
    """The bundled wards, copied: QGIS opens a GeoPackage for update and the bundled file must stay as it is."""
    copy = tmp_path_factory.mktemp("wards") / "wards.gpkg"
    shutil.copy(SAMPLE / "boundaries" / "london_wards_2024.gpkg", copy)
    return f"{copy}|layername=wards"


def dated_points(x, y, months: list[str]) -> QgsVectorLayer:
    layer = QgsVectorLayer("Point?crs=EPSG:27700&field=month:string", "points", "memory")
    features = []
    for px, py, m in zip(np.asarray(x).tolist(), np.asarray(y).tolist(), months):
        f = QgsFeature(layer.fields())
        f.setGeometry(QgsGeometry.fromPointXY(QgsPointXY(px, py)))
        f.setAttributes([m])
        features.append(f)
    layer.dataProvider().addFeatures(features)
    return layer


A = (1050.0, 1050.0)  # a cluster growing every month
B = (350.0, 1650.0)  # a cluster that appears in the last month only


def synthetic(n_months: int = 12, seed: int = 1):
    """Uniform background crime on a 2 km square, plus clusters at A (growing) and B (final month)."""
    rng = np.random.default_rng(seed)
    xs, ys, months = [], [], []
    for m in range(n_months):
        label = f"{2023 + m // 12}-{m % 12 + 1:02d}"
        n = 300
        xs += rng.uniform(0, 2000, n).tolist()
        ys += rng.uniform(0, 2000, n).tolist()
        months += [label] * n
        grow = 10 + 4 * m
        xs += rng.uniform(A[0] - 40, A[0] + 40, grow).tolist()
        ys += rng.uniform(A[1] - 40, A[1] + 40, grow).tolist()
        months += [label] * grow
        if m == n_months - 1:
            xs += rng.uniform(B[0] - 40, B[0] + 40, 40).tolist()
            ys += rng.uniform(B[1] - 40, B[1] + 40, 40).tolist()
            months += [label] * 40
    return np.array(xs), np.array(ys), months


def cell_at(got, point):
    for n, (cx, cy) in enumerate(zip(got["cx"], got["cy"])):
        if abs(cx - point[0]) <= 50 and abs(cy - point[1]) <= 50:
            return n
    raise AssertionError(f"no cell at {point}")


def _brute_space_time(cube: np.ndarray, neighbours: list[set[int]]) -> np.ndarray:
    """Space-time Gi*, bin by bin: this and the previous slice, the cell and its neighbours, whole-cube moments."""
    n_slices, n = cube.shape
    bins = n_slices * n
    mean, sd = cube.mean(), cube.std()
    z = np.zeros(cube.shape)
    for t in range(n_slices):
        for c in range(n):
            hood = [(s, d) for s in (t - 1, t) if s >= 0 for d in neighbours[c] | {c}]
            w = len(hood)
            total = sum(cube[s, d] for s, d in hood)
            z[t, c] = (total - mean * w) / (sd * np.sqrt((bins * w - w * w) / (bins - 1)))
    return z


def test_space_time_z_scores_are_gi_star_on_the_cube(run_alg, tmp_path):
    x, y, months = synthetic(n_months=6)
    out = tmp_path / "cube.gpkg"
    result = run_alg(ALG, {"INPUT": dated_points(x, y, months), "CELL_SIZE": 250, "OUTPUT": str(out)})
    _, got = read_cells(out)
    assert result["SLICES"] == 6
    cx, cy = np.array(got["cx"]), np.array(got["cy"])
    index = {(int(a // 250), int(b // 250)): n for n, (a, b) in enumerate(zip(cx, cy))}
    cube = np.zeros((6, len(cx)))
    for px, py, pm in zip(x, y, months):
        cube[int(pm[5:]) - 1, index[(int(px // 250), int(py // 250))]] += 1
    neighbours = [{d for d in range(len(cx)) if d != c and np.hypot(cx[c] - cx[d], cy[c] - cy[d]) <= 250 * 1.4143}
                  for c in range(len(cx))]  # fmt: skip
    want = _brute_space_time(cube, neighbours)
    for t in range(6):
        np.testing.assert_allclose(got[f"z_2023_{t + 1:02d}"], want[t], atol=1e-9)


def test_growing_cluster_is_intensifying_and_a_late_one_is_new(run_alg, tmp_path):
    x, y, months = synthetic()
    out = tmp_path / "em.gpkg"
    params = {"INPUT": dated_points(x, y, months), "CELL_SIZE": 100, "METHOD": 1, "OUTPUT": str(out)}
    result = run_alg(ALG, params)
    _, got = read_cells(out)
    assert result["SLICES"] == 12
    assert got["category"][cell_at(got, A)] == "Intensifying hot spot"
    assert got["category"][cell_at(got, B)] == "New hot spot"
    assert result["POINTS_COUNTED"] == len(x) and result["POINTS_LEFT_OUT"] == 0
    # the z-score columns are Gi* of each month's counts, counted here independently
    col = np.floor(np.array(got["cx"]) / 100).astype(int)
    row = np.floor(np.array(got["cy"]) / 100).astype(int)
    index = {(c, r): n for n, (c, r) in enumerate(zip(col, row))}
    nb = gistar.distance_band(np.array(got["cx"]), np.array(got["cy"]), 100 * np.sqrt(2))
    assert got["neighbours"] == nb.cardinality().tolist()
    assert result["CELLS_WITHOUT_NEIGHBOURS"] == 0
    for m in (0, 11):
        label = f"2023-{m + 1:02d}"
        counts = np.zeros(len(col))
        for px, py, pm in zip(x, y, months):
            if pm == label:
                counts[index[(int(px // 100), int(py // 100))]] += 1
        np.testing.assert_allclose(got[f"z_2023_{m + 1:02d}"], gistar.gi_star(counts, nb), atol=1e-9)


def test_slices_count_back_from_the_last_month_and_crimes_before_the_first_whole_slice_are_counted_out(
    run_alg, tmp_path
):
    # Ten months (2023-01..10) in slices of 3 ending 2023-10: 2023-08..10, -05..07, -02..04; January's crimes would
    # make a short first slice (a third of the months, so fewer crimes: a rising trend out of nothing): left out.
    x, y, months = synthetic(n_months=10)
    january = sum(1 for m in months if m == "2023-01")
    assert january > 0
    result = run_alg(
        ALG,
        {"INPUT": dated_points(x, y, months), "CELL_SIZE": 100, "SLICE_MONTHS": 3, "OUTPUT": str(tmp_path / "q.gpkg")},
    )
    assert result["SLICES"] == 3
    assert result["POINTS_LEFT_OUT"] == january and result["POINTS_COUNTED"] == len(x) - january
    assert f"before the first whole time slice: {january}" in result["REPORT"]
    _, got = read_cells(tmp_path / "q.gpkg")
    assert {"z_2023_02", "z_2023_05", "z_2023_08"} <= set(got) and "z_2022_11" not in got
    assert sum(got["crimes"]) == len(x) - january


def test_too_few_slices_are_refused(run_alg, tmp_path):
    x, y, months = synthetic(n_months=4)
    with pytest.raises(QgsProcessingException, match="at least 3 are needed"):
        run_alg(ALG, {"INPUT": dated_points(x, y, months), "SLICE_MONTHS": 2, "OUTPUT": str(tmp_path / "x.gpkg")})


def test_real_sample_on_wards_categories_agree_with_the_slice_counts(run_alg, tmp_path_factory, wards_uri):
    tmp = tmp_path_factory.mktemp("emerging")
    crimes = str(tmp / "crimes.gpkg")
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": crimes})
    out = tmp / "wards.gpkg"
    result = run_alg(ALG, {"INPUT": crimes, "CELLS": 2, "POLYGONS": wards_uri, "OUTPUT": str(out)})
    _, got = read_cells(out)
    assert result["SLICES"] == 3 and len(got["category"]) == 704
    assert result["POINTS_READ"] == result["POINTS_COUNTED"] + result["POINTS_LEFT_OUT"]
    assert sum(got["crimes"]) == result["POINTS_COUNTED"]
    for hot, cold, final_bin, cat in zip(got["hot_slices"], got["cold_slices"], got["final_bin"], got["category"]):
        if hot == 3:  # with 3 slices, 90 % means all three
            assert cat in ("Persistent hot spot", "Intensifying hot spot", "Diminishing hot spot")
        elif cold == 3:
            assert cat in ("Persistent cold spot", "Intensifying cold spot", "Diminishing cold spot")
        elif hot == 0 and cold == 0:
            assert cat == "No pattern detected"
        elif final_bin > 0 and hot == 1 and cold == 0:
            assert cat == "New hot spot"


def test_records_without_a_month_are_left_out_under_no_month(run_alg, tmp_path):
    x, y, months = synthetic(n_months=4)
    months = ["" if n % 50 == 0 else ("2023-1" if n % 50 == 1 else m) for n, m in enumerate(months)]
    bad = sum(1 for n in range(len(months)) if n % 50 in (0, 1))
    result = run_alg(ALG, {"INPUT": dated_points(x, y, months), "CELL_SIZE": 100, "OUTPUT": str(tmp_path / "m.gpkg")})
    assert result["POINTS_LEFT_OUT"] == bad and result["POINTS_COUNTED"] == len(x) - bad
    assert f"{crime_points.NO_MONTH}: {bad}" in result["REPORT"]


@pytest.fixture(scope="module")
def three_julys(run_alg, tmp_path_factory) -> tuple[str, str]:
    """The bundled police.uk rows of 2024-10, -11 and -12 imported as they are, and relabelled 2016-07, 2017-07
    and 2018-07 (file names and Month fields): the same crimes, with 22 months without any record between."""
    tmp = tmp_path_factory.mktemp("julys")
    relabel = {"2024-10": "2016-07", "2024-11": "2017-07", "2024-12": "2018-07"}
    for old, new in relabel.items():
        (tmp / "julys" / new).mkdir(parents=True)
        for csv in (POLICE_UK / old).glob("*.csv"):
            lines = csv.read_text(encoding="utf-8").splitlines(keepends=True)
            rows = [lines[0]] + [line.replace(f",{old},", f",{new},", 1) for line in lines[1:]]
            (tmp / "julys" / new / csv.name.replace(old, new)).write_text("".join(rows), encoding="utf-8")
    julys, months = str(tmp / "julys.gpkg"), str(tmp / "months.gpkg")
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(tmp / "julys")], "OUTPUT": julys})
    run_alg("crimemapping:importpoliceuk", {"INPUT": [str(POLICE_UK)], "OUTPUT": months})
    return julys, months


def test_three_julys_make_three_slices_not_twenty_five(run_alg, tmp_path, three_julys, wards_uri):
    julys, months = three_julys
    params = {"CELLS": 2, "POLYGONS": wards_uri, "POLYGON_ID_FIELD": "WD24CD"}
    result = run_alg(ALG, {**params, "INPUT": julys, "OUTPUT": str(tmp_path / "julys.gpkg")})
    same = run_alg(ALG, {**params, "INPUT": months, "OUTPUT": str(tmp_path / "months.gpkg")})
    assert result["SLICES"] == 3
    assert result["POINTS_READ"] == same["POINTS_READ"] == result["POINTS_COUNTED"] + result["POINTS_LEFT_OUT"]
    # The 22 months without any record are missing data, listed, never slices of zero crimes.
    assert "3 of 25 months have records; 22 without any record" in result["REPORT"]
    assert "22 time slice(s) have no record at all and are left out" in result["REPORT"]
    assert "2016-08 to 2017-06, 2017-08 to 2018-06" in result["REPORT"]
    _, got = read_cells(tmp_path / "julys.gpkg")
    _, ref = read_cells(tmp_path / "months.gpkg")
    assert sorted(n for n in got if n.startswith("z_")) == ["z_2016_07", "z_2017_07", "z_2018_07"]
    # The same crimes in three consecutive months give the same slices, so the same z-scores and categories:
    # no 'sporadic' or other artefact of empty slices.
    for a, b in (("z_2016_07", "z_2024_10"), ("z_2017_07", "z_2024_11"), ("z_2018_07", "z_2024_12")):
        np.testing.assert_allclose(np.array(got[a], float), np.array(ref[b], float), rtol=0, atol=1e-12)
    assert got["category"] == ref["category"]
    assert result["REPORT"].splitlines()[-1] == same["REPORT"].splitlines()[-1]  # the categories line
