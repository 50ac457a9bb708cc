"""Benchmark crimemapping:hotspotdensity against QGIS's Heatmap on about 1,000,000 real-located crimes.

The bundled police.uk sample (three months of Met burglary and City of London crime) is imported, kept
to Greater London, and its points are repeated as if over many months (62 copies: about a million
crimes on the same snap points, as a real multi-year extract is). Both algorithms run in this one
process on the same GeoPackage: quartic kernel, raw values, 400 m radius, 50 m cells, QGIS's grid.
Prints both times, the ratio, peak memory of each run, and checks the two rasters agree.

Run: make bench (or .venv/bin/python benchmarks/bench_hotspot_density.py).
"""

from __future__ import annotations

import os
import resource
import sys
import time
import tracemalloc
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from standalone import start_qgis  # noqa: E402

WORK = ROOT / "benchmarks" / "_work" / "kde"
COPIES = 62
RADIUS, CELL = 400.0, 50.0
LONDON = (503_000.0, 155_000.0, 562_000.0, 201_000.0)  # Greater London in British National Grid, metres


def peak_mb() -> float:
    """Return this process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    """Build the points, run both algorithms, print times, ratio, memory and agreement."""
    app, provider = start_qgis()
    from qgis import processing

    from crime_mapping_plugin.core.gpkg import GeoPackageWriter

    WORK.mkdir(parents=True, exist_ok=True)
    sample = WORK / "sample.gpkg"
    processing.run(
        "crimemapping:importpoliceuk", {"INPUT": [str(ROOT / "sample_data" / "police_uk")], "OUTPUT": str(sample)}
    )
    from osgeo import ogr

    dataset = ogr.Open(str(sample))
    layer = dataset.GetLayer(0)
    pts = np.array([(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY()) for f in layer])
    inside = (pts[:, 0] >= LONDON[0]) & (pts[:, 0] <= LONDON[2]) & (pts[:, 1] >= LONDON[1]) & (pts[:, 1] <= LONDON[3])
    pts = pts[inside]
    big = WORK / "crimes_1m.gpkg"
    if big.exists():
        big.unlink()
    from qgis.core import QgsCoordinateReferenceSystem

    writer = GeoPackageWriter(str(big), "crimes", [], QgsCoordinateReferenceSystem("EPSG:27700").toWkt())
    for _ in range(COPIES):
        writer.add({}, pts[:, 0], pts[:, 1])
    writer.commit()
    n = len(pts) * COPIES
    print(
        f"{n:,} crimes at {len(np.unique(pts, axis=0)):,} distinct snap points; radius {RADIUS:g} m, cells {CELL:g} m"
    )

    tracemalloc.start()
    t = time.perf_counter()
    ours = processing.run(
        "crimemapping:hotspotdensity",
        {
            "INPUT": str(big),
            "BANDWIDTH": RADIUS,
            "CELL_SIZE": CELL,
            "UNITS": 2,
            "OUTPUT": str(WORK / "ours.tif"),
            "HOTSPOTS": str(WORK / "hotspots.gpkg"),
        },
    )
    t_ours = time.perf_counter() - t
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    mem_ours = peak_mb()
    t = time.perf_counter()
    processing.run(
        "qgis:heatmapkerneldensityestimation",
        {
            "INPUT": str(big),
            "RADIUS": RADIUS,
            "PIXEL_SIZE": CELL,
            "KERNEL": 0,
            "OUTPUT_VALUE": 0,
            "OUTPUT": str(WORK / "qgis.tif"),
        },
    )
    t_qgis = time.perf_counter() - t

    from osgeo import gdal

    a = gdal.Open(str(WORK / "ours.tif"))
    b = gdal.Open(str(WORK / "qgis.tif"))
    va = a.ReadAsArray().astype(float)
    vb = b.ReadAsArray().astype(float)
    va[va == -9999] = 0
    vb[vb == -9999] = 0
    same_grid = np.allclose(a.GetGeoTransform(), b.GetGeoTransform(), rtol=0, atol=1e-6) and va.shape == vb.shape
    print(
        f"grid {va.shape[0]} x {va.shape[1]} cells; same grid as QGIS: {same_grid}; "
        f"totals ours {va.sum():,.0f} / QGIS {vb.sum():,.0f} (ratio {va.sum() / vb.sum():.5f})"
    )
    print(f"hotspot areas: {ours['HOTSPOT_COUNT']}, {ours['HOTSPOT_CRIMES']:,} crimes ({ours['HOTSPOT_SHARE']:.1f} %)")
    print(
        f"ours (density + hotspot areas): {t_ours:6.2f} s, peak Python/numpy allocations {traced:,.0f} MB; "
        f"process peak RSS {mem_ours:,.0f} MB (QGIS, the sample import and the benchmark data included)"
    )
    print(f"QGIS heatmap:                   {t_qgis:6.2f} s")
    print(f"ratio: ours is {t_qgis / t_ours:.1f}x faster")


if __name__ == "__main__":
    main()
