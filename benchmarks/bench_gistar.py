"""Benchmark our numpy Gi* against PySAL esda's G_Local on about 100,000 grid cells of real-located crime.

Both run in this one process on the same cells: the script re-runs itself in the reference venv
(benchmarks/_work/ref-venv, made on first use from benchmarks/requirements-ref.txt) because esda is not a
plugin dependency; it imports only crime_mapping_plugin.core.gistar, which needs numpy alone.
Cells: a 160 m square grid over Greater London with the bundled police.uk Met crimes counted in them
(empty cells included). Neighbours: the 8 surrounding cells plus the cell itself, binary weights.
    python benchmarks/bench_gistar.py [repeats]
"""

from __future__ import annotations

import glob
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from ref_venv import reexec_in_ref_venv  # noqa: E402

reexec_in_ref_venv(__file__)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from esda.getisord import G_Local  # noqa: E402
from libpysal.weights import DistanceBand  # noqa: E402
from pyproj import Transformer  # noqa: E402
from scipy.stats import false_discovery_control, norm  # noqa: E402

from crime_mapping_plugin.core import gistar  # noqa: E402

CELL = 160.0
LONDON_BOX = (503000.0, 155000.0, 562000.0, 201000.0)


def real_points() -> tuple[np.ndarray, np.ndarray]:
    """Return the bundled police.uk crimes in British National Grid metres, within Greater London's box."""
    files = sorted(glob.glob(str(ROOT / "sample_data" / "police_uk" / "*" / "*-street.csv")))
    df = pd.concat([pd.read_csv(f, usecols=["Longitude", "Latitude"]) for f in files]).dropna()
    x, y = Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True).transform(
        df.Longitude.values, df.Latitude.values
    )
    x, y = np.asarray(x), np.asarray(y)
    keep = (x >= LONDON_BOX[0]) & (x <= LONDON_BOX[2]) & (y >= LONDON_BOX[1]) & (y <= LONDON_BOX[3])
    return x[keep], y[keep]


def best(fn, repeats: int):
    """Return the fastest wall time of fn over repeats and its last result."""
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    px, py = real_points()
    grid = gistar.grid_over_extent("square", CELL, *LONDON_BOX)
    counts = gistar.count_points(grid.locate(px, py), len(grid))
    band = CELL * np.sqrt(2)
    print(
        f"{len(grid):,} cells of {CELL:g} m, {int(counts.sum()):,} real-located crimes, "
        f"{int((counts > 0).sum()):,} non-empty cells"
    )

    def ours_weights():
        return gistar.distance_band(grid.cx, grid.cy, band)

    def ours_gi(nb):
        z = gistar.gi_star(counts, nb)
        p = gistar.two_sided_p(z)
        return z, p, gistar.confidence_bins(z, p, fdr=True)

    def esda_weights():
        return DistanceBand(np.c_[grid.cx, grid.cy], threshold=band * (1 + 1e-7), binary=True, silence_warnings=True)

    def esda_gi(w):
        z = G_Local(counts, w, star=True, transform="B", permutations=0).Zs
        p = 2 * norm.sf(np.abs(z))
        adjusted = false_discovery_control(p)
        return z, p, np.select([adjusted <= 0.01, adjusted <= 0.05, adjusted <= 0.10], [3, 2, 1], 0) * np.sign(z)

    t_ow, nb = best(ours_weights, repeats)
    t_og, (z, p, bins) = best(lambda: ours_gi(nb), repeats)
    t_ew, w = best(esda_weights, repeats)
    t_eg, (z_ref, p_ref, bins_ref) = best(lambda: esda_gi(w), repeats)

    t_oz, _ = best(lambda: gistar.gi_star(counts, nb), repeats)
    t_ez, _ = best(lambda: G_Local(counts, w, star=True, transform="B", permutations=0), repeats)

    dz = float(np.abs(z - z_ref).max())
    print(f"{'step':<42}{'ours (s)':>10}{'esda (s)':>10}{'ratio':>8}")
    rows = [
        ("neighbours (distance band, 8 cells)", t_ow, t_ew),
        ("Gi* z only (G_Local, permutations=0)", t_oz, t_ez),
        ("Gi* z, two-sided p, FDR bins", t_og, t_eg),
        ("total", t_ow + t_og, t_ew + t_eg),
    ]
    for label, ours, theirs in rows:
        print(f"{label:<42}{ours:>10.3f}{theirs:>10.3f}{theirs / ours:>7.1f}x")
    normal = p_ref > 1e-300  # below that, scipy's normal tail underflows to 0
    dp = float(np.max(np.abs(p - p_ref)[normal] / p_ref[normal]))
    same = bool(np.array_equal(bins, bins_ref))
    print(
        f"max |z ours - z esda| = {dz:.1e}; p max relative difference {dp:.1e}; bins equal: {same}; "
        f"hot spot cells {int((bins > 0).sum()):,}, cold {int((bins < 0).sum()):,}"
    )
    if dz > 1e-9 or not np.array_equal(bins, bins_ref):
        raise SystemExit("Results differ from esda's.")


if __name__ == "__main__":
    main()
