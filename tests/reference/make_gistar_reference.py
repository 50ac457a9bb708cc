"""Make tests/data/gistar_reference.npz: Gi* z-scores from PySAL esda on real-located crime counts.

Run with the reference venv (python benchmarks/ref_venv.py makes it):
    benchmarks/_work/ref-venv/bin/python tests/reference/make_gistar_reference.py
It imports nothing from the plugin: the cells, counts and weights are built here independently (libpysal
DistanceBand / KNN), and esda's G_Local(y, w, star=True, transform='B') gives the z-scores the tests
compare ours with. It also stores scipy's Benjamini-Hochberg adjusted p-values and pymannkendall's
Mann-Kendall results for the same tests.
"""

from __future__ import annotations

import glob
import math
from pathlib import Path

import esda
import geopandas
import libpysal
import numpy as np
import pandas as pd
import pymannkendall
import scipy
from esda.getisord import G_Local
from libpysal.weights import KNN, DistanceBand
from pyproj import Transformer
from scipy.stats import false_discovery_control, norm

ROOT = Path(__file__).resolve().parents[2]
SAMPLE = ROOT / "sample_data"
OUT = ROOT / "tests" / "data" / "gistar_reference.npz"
CITY_BOX = (530000.0, 180000.0, 535000.0, 183000.0)  # xmin, ymin, xmax, ymax, EPSG:27700
LONDON_BOX = (503000.0, 155000.0, 562000.0, 201000.0)


def points(pattern: str, box: tuple[float, float, float, float]) -> tuple[np.ndarray, np.ndarray]:
    """Return the British National Grid coordinates of the located rows of police.uk files inside box."""
    frames = [pd.read_csv(p, usecols=["Longitude", "Latitude"]) for p in sorted(glob.glob(str(SAMPLE / pattern)))]
    df = pd.concat(frames).dropna()
    df = df[(df.Longitude != 0) | (df.Latitude != 0)]
    to_bng = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = to_bng.transform(df.Longitude.values, df.Latitude.values)
    x, y = np.asarray(x), np.asarray(y)
    inside = (x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3])
    return x[inside], y[inside]


def square_case(x, y, size):
    """Count points on a square grid aligned to multiples of size, every cell of the points' extent kept."""
    c = np.floor(x / size).astype(int)
    r = np.floor(y / size).astype(int)
    cols = np.arange(c.min(), c.max() + 1)
    rows = np.arange(r.min(), r.max() + 1)
    cc, rr = np.meshgrid(cols, rows)
    cc, rr = cc.ravel(), rr.ravel()
    counts = np.zeros(len(cc))
    index = {(a, b): k for k, (a, b) in enumerate(zip(cc, rr))}
    for a, b in zip(c, r):
        counts[index[(a, b)]] += 1
    return (cc + 0.5) * size, (rr + 0.5) * size, counts


def hex_case(x, y, size):
    """Count points into pointy-topped hexagons (flats `size` apart, centre rows size*sqrt(3)/2 apart)."""
    h = size * math.sqrt(3) / 2
    rows = np.arange(math.floor(y.min() / h) - 1, math.ceil(y.max() / h) + 2)
    cols = np.arange(math.floor(x.min() / size) - 2, math.ceil(x.max() / size) + 3)
    cc, rr = np.meshgrid(cols, rows)
    cx = ((cc + (rr % 2) * 0.5) * size).ravel()
    cy = (rr * h).ravel()
    nearest = np.empty(len(x), int)
    for start in range(0, len(x), 2000):  # brute force: the nearest centre holds the point
        d = (x[start : start + 2000, None] - cx[None]) ** 2 + (y[start : start + 2000, None] - cy[None]) ** 2
        nearest[start : start + 2000] = d.argmin(axis=1)
    counts = np.bincount(nearest, minlength=len(cx)).astype(float)
    # keep the hexagons whose centre is within a circumradius of the points' extent
    r = size / math.sqrt(3)
    keep = (cx >= x.min() - r) & (cx <= x.max() + r) & (cy >= y.min() - r) & (cy <= y.max() + r)
    assert counts[~keep].sum() == 0
    return cx[keep], cy[keep], counts[keep]


def esda_z(cx, cy, values, w):
    """Return esda's Gi* z-scores with binary weights, the cell included."""
    return G_Local(values, w, star=True, transform="B", permutations=0).Zs


def pairs(w):
    """Return the directed neighbour pairs (i, j), i != j, of a libpysal W, sorted."""
    ids = {k: n for n, k in enumerate(w.id_order)}
    out = [(ids[i], ids[j]) for i in w.id_order for j in w.neighbors[i] if i != j]
    return np.array(sorted(out), dtype=np.int64).reshape(-1, 2)


def main() -> None:
    out = {}
    cases = []
    # police.uk files hold a few crimes far from the force area: keep the City and Greater London
    city_x, city_y = points("police_uk/*/*city-of-london-street.csv", CITY_BOX)
    met_x, met_y = points("police_uk/*/*metropolitan-street.csv", LONDON_BOX)
    out["city_px"], out["city_py"] = city_x, city_y
    out["met_px"], out["met_py"] = met_x, met_y

    for name, (px, py), size, shape in (
        ("city_square_100", (city_x, city_y), 100.0, "square"),
        ("city_hex_150", (city_x, city_y), 150.0, "hexagon"),
        ("met_square_1000", (met_x, met_y), 1000.0, "square"),
    ):
        cx, cy, counts = (square_case if shape == "square" else hex_case)(px, py, size)
        # a hair over size*sqrt(2) so the diagonal neighbours are in whatever the rounding
        w = DistanceBand(np.c_[cx, cy], threshold=size * math.sqrt(2) * (1 + 1e-7), binary=True, silence_warnings=True)
        cases.append((name, cx, cy, counts, w, {"size": size, "band": size * math.sqrt(2)}))

    wards = geopandas.read_file(SAMPLE / "boundaries" / "london_wards_2024.gpkg", layer="wards")
    mps = pd.read_csv(SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv")
    burglary = mps[mps.MajorText.str.upper() == "BURGLARY"].groupby("WardCode")["202410"].sum()
    ward_counts = wards.WD24CD.map(burglary).fillna(0).to_numpy(float)
    cent = wards.geometry.centroid
    wx, wy = cent.x.to_numpy(), cent.y.to_numpy()
    out["ward_codes"] = wards.WD24CD.to_numpy(str)
    w_knn = KNN(np.c_[wx, wy], k=8)
    cases.append(("wards_knn8", wx, wy, ward_counts, w_knn, {"k": 8}))
    # the smallest band that leaves no ward without a neighbour (libpysal's min_threshold_distance)
    band = libpysal.weights.min_threshold_distance(np.c_[wx, wy])
    w_band = DistanceBand(np.c_[wx, wy], threshold=band * (1 + 1e-9), binary=True, silence_warnings=True)
    cases.append(("wards_band", wx, wy, ward_counts, w_band, {"band": band}))
    # non-integer values (a weight field): the same City grid with gamma-distributed values
    rng = np.random.default_rng(20241124)
    name, cx, cy, counts, w, meta = cases[0]
    cases.append(("city_square_100_weighted", cx, cy, counts * rng.gamma(2.0, 1.5, len(counts)), w, meta))

    names = []
    for name, cx, cy, values, w, meta in cases:
        z = esda_z(cx, cy, values, w)
        p = 2 * norm.sf(np.abs(z))
        out[f"{name}_cx"], out[f"{name}_cy"], out[f"{name}_values"] = cx, cy, values
        out[f"{name}_pairs"] = pairs(w)
        out[f"{name}_z"] = z
        out[f"{name}_p"] = p
        out[f"{name}_bh"] = false_discovery_control(p, method="bh")
        for key, value in meta.items():
            out[f"{name}_{key}"] = np.array(value)
        names.append(name)
        print(f"{name}: {len(cx)} cells, total {values.sum():.6g}, max |z| {np.abs(z).max():.3f}")
    out["cases"] = np.array(names)

    # Mann-Kendall on short series, with and without ties
    for key, series in (
        ("mk12", np.vstack([rng.normal(size=(40, 12)).cumsum(axis=1), np.round(rng.normal(size=(40, 12)).cumsum(1))])),
        ("mk7", rng.integers(0, 3, size=(20, 7)).astype(float)),
    ):
        mk = [pymannkendall.original_test(s) for s in series]
        out[f"{key}_series"] = series
        out[f"{key}_s"] = np.array([r.s for r in mk])
        out[f"{key}_var"] = np.array([r.var_s for r in mk])
        out[f"{key}_z"] = np.array([r.z for r in mk])
        out[f"{key}_p"] = np.array([r.p for r in mk])
    out["versions"] = np.array(
        [
            f"esda {esda.__version__}",
            f"libpysal {libpysal.__version__}",
            f"scipy {scipy.__version__}",
            f"pymannkendall {pymannkendall.__version__}",
            f"numpy {np.__version__}",
        ]
    )
    np.savez_compressed(OUT, **out)
    print(f"wrote {OUT} ({OUT.stat().st_size:,} bytes)")


if __name__ == "__main__":
    main()
