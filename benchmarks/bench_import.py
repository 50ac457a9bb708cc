"""Benchmark: crimemapping:importpoliceuk against QGIS's own way to import a police.uk CSV.

QGIS's own way: open the CSV as a delimited-text layer (x = Longitude, y = Latitude, EPSG:4326), then
native:reprojectlayer to EPSG:27700 saved to a GeoPackage. Ours: crimemapping:importpoliceuk to a
GeoPackage. Both run in this process on the same file: the bundled real police.uk rows (those with a
location, each crime once) repeated over months until about 1,000,000 rows, each repeat with its own
month and crime id so that nothing is a duplicate. Prints both times, the ratio and the features written.

Usage: python benchmarks/bench_import.py [ROWS]
"""

from __future__ import annotations

import csv
import hashlib
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import QgsVectorLayer  # noqa: E402
from standalone import start_qgis  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"


def make_data(rows_wanted: int) -> Path:
    """Write the benchmark CSV (once) and return its path."""
    target = WORK / f"bench-{rows_wanted}-street.csv"
    if target.exists():
        return target
    WORK.mkdir(parents=True, exist_ok=True)
    seed, seen = [], set()
    for path in sorted((ROOT / "sample_data" / "police_uk").glob("*/*-street.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            for row in reader:
                if row[4] and row[5] and (row[0] == "" or row[0] not in seen):
                    seen.add(row[0])
                    seed.append(row)
    tmp = target.with_suffix(".part")
    with open(tmp, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(header)
        written, repeat = 0, 0
        while written < rows_wanted:
            year, month = divmod(2024 * 12 + 11 - repeat, 12)
            stamp = f"{year:04d}-{month + 1:02d}"
            for row in seed[: rows_wanted - written]:
                new = list(row)
                new[1] = stamp
                if new[0]:
                    new[0] = hashlib.sha256(f"{new[0]}{stamp}".encode()).hexdigest()
                writer.writerow(new)
            written += min(len(seed), rows_wanted - written)
            repeat += 1
    os.replace(tmp, target)
    return target


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    app, provider = start_qgis()
    from qgis import processing

    data = make_data(rows)
    print(f"data: {data.name}, {rows} rows")

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

    t3 = time.perf_counter()
    result = processing.run("crimemapping:importpoliceuk", {"INPUT": [str(data)], "OUTPUT": str(ours_out)})
    t4 = time.perf_counter()
    ours_written = QgsVectorLayer(str(ours_out), "o", "ogr").featureCount()

    qgis_time = t2 - t0
    ours_time = t4 - t3
    print(
        f"QGIS delimited text + native:reprojectlayer: {qgis_time:.1f} s "
        f"(open {t1 - t0:.1f} s for {opened} rows, reproject and save {t2 - t1:.1f} s), {qgis_written} features"
    )
    print(
        f"crimemapping:importpoliceuk:                 {ours_time:.1f} s, {ours_written} features "
        f"(read {result['ROWS_READ']}, left out {result['ROWS_LEFT_OUT']})"
    )
    print(f"ratio: ours is {qgis_time / ours_time:.1f}x faster; same feature count: {qgis_written == ours_written}")
    print(f"peak memory of the process: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
