"""Benchmark crimemapping:hotspotdensity against QGIS's Heatmap on about 1,000,000 real-located crimes, twice.

The bundled police.uk sample (three months of Met burglary and City of London crime) is imported, kept
to Greater London, and its points are repeated as if over many months (62 copies: about a million
crimes). Two datasets are made from them and run in this one process:

- snap points: the copies as they are, so crimes share police.uk's snap points, as a real extract does;
- distinct points: every crime moved by up to 30 m at random (seeded), as a force's own geocoded records are.

On each, both algorithms read the same GeoPackage: quartic kernel, raw values, 400 m radius, 50 m cells,
QGIS's grid. Prints both times, the ratio, the I/O floor (reading the points through GDAL's Arrow stream,
as ours does, plus writing the same grid as a Float32 GeoTIFF, as ours does), peak memory, and checks the
two rasters agree. Writes the rows to benchmarks/results/hotspot_density.json.

Run: make bench (or .venv/bin/python benchmarks/bench_hotspot_density.py).
"""

from __future__ import annotations

import json
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
RESULTS = ROOT / "benchmarks" / "results" / "hotspot_density.json"
COPIES = 62
JITTER = 30.0  # metres, at most, on each axis
RADIUS, CELL = 400.0, 50.0
LONDON = (503_000.0, 155_000.0, 562_000.0, 201_000.0)  # Greater London in British National Grid, metres
TARGET = "≥ 10x"


def peak_mb() -> float:
    """Return this process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sample_points(processing) -> np.ndarray:
    """Return the bundled police.uk points inside Greater London, in British National Grid."""
    from osgeo import ogr

    sample = WORK / "sample.gpkg"
    processing.run(
        "crimemapping:importpoliceuk", {"INPUT": [str(ROOT / "sample_data" / "police_uk")], "OUTPUT": str(sample)}
    )
    dataset = ogr.Open(str(sample))
    pts = np.array([(f.GetGeometryRef().GetX(), f.GetGeometryRef().GetY()) for f in dataset.GetLayer(0)])
    inside = (pts[:, 0] >= LONDON[0]) & (pts[:, 0] <= LONDON[2]) & (pts[:, 1] >= LONDON[1]) & (pts[:, 1] <= LONDON[3])
    return pts[inside]


def write_points(path: Path, x: np.ndarray, y: np.ndarray) -> None:
    """Write the points to a fresh GeoPackage in British National Grid."""
    from qgis.core import QgsCoordinateReferenceSystem

    from crime_mapping_plugin.core.gpkg import GeoPackageWriter

    if path.exists():
        path.unlink()
    writer = GeoPackageWriter(str(path), "crimes", [], QgsCoordinateReferenceSystem("EPSG:27700").toWkt())
    writer.add({}, x, y)
    writer.commit()


def io_floor(path: Path, grid_like: Path) -> float:
    """Return the time to read the points as ours does and to write a Float32 GeoTIFF of the same grid and values."""
    from osgeo import gdal

    from crime_mapping_plugin.core.crime_points import read_ogr_table
    from crime_mapping_plugin.core.density_output import GTIFF_OPTIONS

    # The same values as ours wrote (zeros would compress to nothing and understate the write).
    model = gdal.Open(str(grid_like))
    values = model.GetRasterBand(1).ReadAsArray()
    t = time.perf_counter()
    table = read_ogr_table(str(path), None, {})
    assert np.isfinite(table.x).all()
    out = gdal.GetDriverByName("GTiff").Create(
        str(WORK / "floor.tif"),
        model.RasterXSize,
        model.RasterYSize,
        1,
        gdal.GDT_Float32,
        list(GTIFF_OPTIONS),
    )
    out.SetGeoTransform(model.GetGeoTransform())
    out.SetProjection(model.GetProjection())
    band = out.GetRasterBand(1)
    band.SetNoDataValue(-9999)
    band.WriteArray(values)
    out.FlushCache()
    out = None
    return time.perf_counter() - t


def run(processing, name: str, path: Path, n: int, places: int) -> dict:
    """Run ours and QGIS's heatmap on one GeoPackage; print and return the result row."""
    print(f"\n{name}: {n:,} crimes at {places:,} distinct points; radius {RADIUS:g} m, cells {CELL:g} m")
    params = {
        "INPUT": str(path),
        "BANDWIDTH": RADIUS,
        "CELL_SIZE": CELL,
        "UNITS": 2,
        "OUTPUT": str(WORK / f"ours_{name}.tif"),
        "HOTSPOTS": str(WORK / f"hotspots_{name}.gpkg"),
    }
    # A first run warms the file cache and the imports (QGIS's heatmap then reads a warm file too); the timed
    # run is without tracemalloc, which slows every allocation; a third run measures the peak allocations.
    processing.run("crimemapping:hotspotdensity", params)
    t = time.perf_counter()
    ours = processing.run("crimemapping:hotspotdensity", params)
    t_ours = time.perf_counter() - t
    tracemalloc.start()
    processing.run("crimemapping:hotspotdensity", params)
    traced = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    t = time.perf_counter()
    processing.run(
        "qgis:heatmapkerneldensityestimation",
        {
            "INPUT": str(path),
            "RADIUS": RADIUS,
            "PIXEL_SIZE": CELL,
            "KERNEL": 0,
            "OUTPUT_VALUE": 0,
            "OUTPUT": str(WORK / f"qgis_{name}.tif"),
        },
    )
    t_qgis = time.perf_counter() - t
    floor = io_floor(path, WORK / f"ours_{name}.tif")

    from osgeo import gdal

    a = gdal.Open(str(WORK / f"ours_{name}.tif"))
    b = gdal.Open(str(WORK / f"qgis_{name}.tif"))
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
        f"process peak RSS so far {peak_mb():,.0f} MB (QGIS and the benchmark's own data included)"
    )
    print(f"QGIS heatmap:                   {t_qgis:6.2f} s")
    print(f"I/O floor (read points + write raster): {floor:6.2f} s")
    print(f"ratio: ours is {t_qgis / t_ours:.1f}x faster (target {TARGET}); ours is {t_ours / floor:.1f}x the floor")
    return {
        "benchmark": "hotspot density",
        "data": f"{n:,} crimes at {places:,} {name}, {RADIUS:g} m radius, {CELL:g} m cells",
        "ours_s": round(t_ours, 3),
        "alternative": "QGIS heatmap (qgis:heatmapkerneldensityestimation), same grid",
        "alternative_s": round(t_qgis, 3),
        "ratio": round(t_qgis / t_ours, 2),
        "floor_s": round(floor, 3),
        "floor_what": "reading the points (GDAL Arrow) + writing the raster (Float32 GeoTIFF)",
        "target": TARGET,
    }


def main() -> None:
    """Build both datasets, run both algorithms on each, print the figures and write the JSON rows."""
    app, provider = start_qgis()
    from qgis import processing

    WORK.mkdir(parents=True, exist_ok=True)
    pts = sample_points(processing)
    x = np.tile(pts[:, 0], COPIES)
    y = np.tile(pts[:, 1], COPIES)
    rng = np.random.default_rng(20261201)
    moved_x = x + rng.uniform(-JITTER, JITTER, len(x))
    moved_y = y + rng.uniform(-JITTER, JITTER, len(y))
    datasets = [
        ("snap points", WORK / "crimes_1m.gpkg", x, y),
        ("distinct points", WORK / "crimes_1m_distinct.gpkg", moved_x, moved_y),
    ]
    rows = []
    for name, path, px, py in datasets:
        write_points(path, px, py)
        rows.append(run(processing, name, path, len(px), len(np.unique(px + 1j * py))))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(rows, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
