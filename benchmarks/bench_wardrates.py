"""Benchmark: counting about 1,000,000 crime points into the 704 London wards, ours against QGIS.

QGIS's own way: native:countpointsinpolygon (wards as polygons, crimes as points, with their R-tree).
Ours: crimemapping:wardrates (which also computes rates and limits; population: any numeric ward
field, as only the counts are compared). Both run in this process on the same GeoPackage of points.

Two data sets, both from the bundled real police.uk points (imported to British National Grid):
- "real snap points": the real points repeated until about 1,000,000 rows, so most rows share a snap
  point, as real police.uk data do (a year of Met crime has about 1.1 million rows);
- "all distinct": the same points each moved by up to 30 m (benchmarks/bench_data.py), so every row is a
  distinct location and our shortcut of locating each distinct point once gains nothing.
The ward counts of both must be identical (no point lies exactly on a ward boundary). The I/O floor is
OGR reading the points (benchmarks/floor.py; the output, 704 wards, is too small to count). Prints the times
and the ratio and records them in benchmarks/results/wardrates.json. Usage: python benchmarks/bench_wardrates.py [ROWS]
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import bench_data  # noqa: E402
import floor  # noqa: E402
import results  # noqa: E402
from qgis.core import QgsCoordinateReferenceSystem, QgsVectorLayer  # noqa: E402
from standalone import start_qgis  # noqa: E402

WORK = bench_data.WORK
WARDS = ROOT / "sample_data" / "boundaries" / "london_wards_2024.gpkg"


def make_points(processing, rows: int, jitter: float, name: str) -> Path:
    """Write (once) a GeoPackage of about `rows` real police.uk points, optionally jittered, and return it."""
    from crime_mapping_plugin.core.crime_points import MONTH, read_ogr_table
    from crime_mapping_plugin.core.gpkg import GeoPackageWriter

    target = WORK / f"{name}-{rows}-{jitter:g}m.gpkg"
    if target.exists():
        return target
    WORK.mkdir(parents=True, exist_ok=True)
    seed = WORK / "seed.gpkg"
    if not seed.exists():
        processing.run(
            "crimemapping:importpoliceuk",
            {"INPUT": [str(ROOT / "sample_data" / "police_uk")], "OUTPUT": str(seed)},
        )
    seed_table = read_ogr_table(str(seed), "seed", {"month": MONTH})
    x, y, months = seed_table.x, seed_table.y, seed_table.columns["month"]
    ok = np.isfinite(x)
    x, y = x[ok], y[ok]
    month = np.array([f"{m // 12:04d}-{m % 12 + 1:02d}-01" for m in months[ok]], dtype=object)
    reps = -(-rows // len(x))
    xx = np.tile(x, reps)[:rows]
    yy = np.tile(y, reps)[:rows]
    mm = np.tile(month, reps)[:rows]
    if jitter:
        dx, dy = bench_data.offsets(rows, jitter)
        xx = xx + dx
        yy = yy + dy
    crs = QgsCoordinateReferenceSystem("EPSG:27700").toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
    writer = GeoPackageWriter(str(target), target.stem, [("month", "date")], crs)
    writer.add({"month": mm.tolist()}, xx, yy, np.ones(rows, dtype=bool))
    writer.commit()
    return target


def compare(processing, points: Path, label: str) -> dict:
    """Run both algorithms and the floor on points, check the counts agree, print and return the results row."""
    layer = QgsVectorLayer(str(points), "p", "ogr")
    n = layer.featureCount()
    t0 = time.perf_counter()
    native = processing.run(
        "native:countpointsinpolygon",
        {"POLYGONS": str(WARDS), "POINTS": str(points), "FIELD": "NUMPOINTS", "OUTPUT": "memory:"},
    )["OUTPUT"]
    t_native = time.perf_counter() - t0
    t0 = time.perf_counter()
    ours = processing.run(
        "crimemapping:wardrates",
        {"CRIMES": str(points), "WARDS": str(WARDS), "POPULATION_FIELD": "BNG_E", "OUTPUT": "memory:"},
    )
    t_ours = time.perf_counter() - t0
    theirs = {f["WD24CD"]: int(f["NUMPOINTS"]) for f in native.getFeatures()}
    mine = {f["ward_code"]: int(f["crimes"]) for f in ours["OUTPUT"].getFeatures()}
    same = mine == theirs
    balanced = sum(mine.values()) + ours["OUTSIDE_WARDS"] + ours["NO_LOCATION"] == n
    print(f"{label}: {n:,} points into {len(mine)} wards")
    print(f"  native:countpointsinpolygon  {t_native:8.2f} s")
    print(f"  crimemapping:wardrates       {t_ours:8.2f} s   (counts, rates, limits, EB, ranks)")
    print(f"  ratio native/ours            {t_native / t_ours:8.1f} x")
    print(
        f"  identical ward counts: {same}; counted {sum(mine.values()):,} + outside {ours['OUTSIDE_WARDS']:,} "
        f"= input: {balanced}; on a boundary: {ours['ON_BOUNDARY']}"
    )
    if not (same and balanced):
        raise SystemExit("RESULTS DIFFER")
    floor_s = floor.read_points(points)[0]
    print(f"  I/O floor (OGR reads the points) {floor_s:8.2f} s")
    return results.row(
        "ward counts and rates",
        f"{n:,} points, {label}, into {len(mine)} wards",
        t_ours,
        "native:countpointsinpolygon",
        t_native,
        floor_s,
        "OGR read of the points",
        "≥ 4x (hold)",
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    app, provider = start_qgis()
    from qgis import processing

    snap = make_points(processing, rows, 0.0, "snap")
    distinct = make_points(processing, rows, bench_data.MOVE_M, "distinct")
    rows_out = [
        compare(processing, snap, "snap points"),
        compare(processing, distinct, "distinct points (moved ≤ 30 m)"),
    ]
    results.record("wardrates", rows_out)
    app.exitQgis()


if __name__ == "__main__":
    main()
