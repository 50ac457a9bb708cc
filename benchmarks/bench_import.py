"""Benchmark: crimemapping:importpoliceuk against QGIS's own way to import a police.uk CSV, and the I/O floor.

QGIS's own way: open the CSV as a delimited-text layer (x = Longitude, y = Latitude, EPSG:4326), then
native:reprojectlayer to EPSG:27700 saved to a GeoPackage. Ours: crimemapping:importpoliceuk to a
GeoPackage. The floor: OGR's CSV reader reading every field and the points, then SQLite inserting them
into a GeoPackage (benchmarks/floor.py). All run in this process on the same file: the bundled real
police.uk rows (those with a location, each crime once) repeated over months until about 1,000,000 rows,
each repeat with its own month and crime ids, on the real snap points and moved by up to 30 m
(benchmarks/bench_data.py). Prints the times and records them in benchmarks/results/import.json.

Usage: python benchmarks/bench_import.py [ROWS]
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
from qgis.core import QgsVectorLayer  # noqa: E402
from standalone import start_qgis  # noqa: E402

WORK = bench_data.WORK
ALTERNATIVE = "QGIS delimited text + native:reprojectlayer to GeoPackage"


def compare(processing, rows: int, kind: str) -> dict:
    """Run QGIS's way, ours and the floor on one CSV; print and return the results row."""
    data = bench_data.one_csv(rows, kind)
    print(f"data: {data.name}, {rows:,} rows")
    ours_out = WORK / "ours.gpkg"
    qgis_out = WORK / "qgis.gpkg"
    for path in (ours_out, qgis_out):
        if path.exists():
            path.unlink()

    t0 = time.perf_counter()
    uri = (
        f"file://{data}?type=csv&delimiter=,&xField=Longitude&yField=Latitude&crs=EPSG:4326"
        "&detectTypes=yes&geomType=point&spatialIndex=no&subsetIndex=no&watchFile=no"
    )
    layer = QgsVectorLayer(uri, "crimes", "delimitedtext")
    opened = layer.featureCount()
    t1 = time.perf_counter()
    processing.run("native:reprojectlayer", {"INPUT": layer, "TARGET_CRS": "EPSG:27700", "OUTPUT": str(qgis_out)})
    t2 = time.perf_counter()
    qgis_written = QgsVectorLayer(str(qgis_out), "q", "ogr").featureCount()
    del layer

    t3 = time.perf_counter()
    result = processing.run("crimemapping:importpoliceuk", {"INPUT": [str(data)], "OUTPUT": str(ours_out)})
    t4 = time.perf_counter()
    ours_written = QgsVectorLayer(str(ours_out), "o", "ogr").featureCount()

    read_s, x, y, columns = floor.read_csv(data)
    ok = np.isfinite(x)
    write_s = floor.write_points(WORK / "floor.gpkg", x[ok], y[ok], {k: v[ok] for k, v in columns.items()})
    del x, y, columns

    qgis_time = t2 - t0
    ours_time = t4 - t3
    print(
        f"  QGIS delimited text + native:reprojectlayer: {qgis_time:.1f} s "
        f"(open {t1 - t0:.1f} s for {opened} rows, reproject and save {t2 - t1:.1f} s), {qgis_written} features"
    )
    print(
        f"  crimemapping:importpoliceuk:                 {ours_time:.1f} s, {ours_written} features "
        f"(read {result['ROWS_READ']}, left out {result['ROWS_LEFT_OUT']})"
    )
    print(f"  I/O floor: OGR CSV read {read_s:.1f} s + SQLite write {write_s:.1f} s")
    print(f"  ratio: ours is {qgis_time / ours_time:.1f}x faster; same feature count: {qgis_written == ours_written}")
    if qgis_written != ours_written:
        raise SystemExit("FEATURE COUNTS DIFFER")
    points = "snap points" if kind == "snap" else "distinct points (moved ≤ 30 m)"
    return results.row(
        "import",
        f"{rows:,} police.uk rows, one CSV, {points}",
        ours_time,
        ALTERNATIVE,
        qgis_time,
        read_s + write_s,
        "OGR CSV read + SQLite insert",
        "≥ 3x (hold)",
        peak_mb=round(results.peak_mb()),
    )


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    app, provider = start_qgis()
    from qgis import processing

    results.record("import", [compare(processing, rows, kind) for kind in bench_data.KINDS])


if __name__ == "__main__":
    main()
