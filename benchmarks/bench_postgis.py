"""Benchmark: crimemapping:importpoliceuk into PostGIS against the same import into a GeoPackage.

Starts its own throw-away PostgreSQL/PostGIS cluster (tests/postgis.py, removed at the end) and imports the
benchmark CSV of bench_import.py (the bundled police.uk rows repeated over months to about 1,000,000 rows):

- ours to PostGIS against ours to a GeoPackage (the target: within 2x);
- ours to PostGIS against GDAL's COPY path (the GeoPackage import, then ogr2ogr of it into PostGIS with
  PG_USE_COPY=YES), the other bulk path that comes with every QGIS;
- ours to PostGIS against QGIS's feature sink to PostGIS (native:reprojectlayer of the imported GeoPackage
  into a postgres:// destination, the path the import took before), on SINK_ROWS rows only (it is slow), per row;
- the floor: the server copying the table's rows from a file of its own (COPY FROM, no client work).

Prints the figures and writes benchmarks/results/postgis_import.json.
Usage: python benchmarks/bench_postgis.py [ROWS] [SINK_ROWS]
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from bench_data import WORK, one_csv  # noqa: E402
from standalone import start_qgis  # noqa: E402

from tests.postgis import start_cluster  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "postgis_import.json"


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    sink_rows = int(sys.argv[2]) if len(sys.argv) > 2 else 20_000
    app, provider = start_qgis()
    from osgeo import gdal
    from qgis import processing
    from qgis.core import QgsVectorLayer

    gdal.UseExceptions()
    data = one_csv(rows, "snap")
    cluster = start_cluster()
    try:
        gpkg = WORK / "postgis-bench.gpkg"
        if gpkg.exists():
            gpkg.unlink()
        t0 = time.perf_counter()
        done = processing.run("crimemapping:importpoliceuk", {"INPUT": [str(data)], "OUTPUT": str(gpkg)})
        gpkg_s = time.perf_counter() - t0
        written = done["ROWS_WRITTEN"]

        t0 = time.perf_counter()
        processing.run("crimemapping:importpoliceuk", {"INPUT": [str(data)], "OUTPUT": cluster.destination("ours")})
        ours_s = time.perf_counter() - t0
        ours_rows = int(cluster.psql("SELECT count(*) FROM ours"))

        gdal.SetConfigOption("PG_USE_COPY", "YES")
        t0 = time.perf_counter()
        options = gdal.VectorTranslateOptions(
            format="PostgreSQL", layerName="by_gdal", layerCreationOptions=["GEOMETRY_NAME=geom", "FID=fid"]
        )
        gdal.VectorTranslate("PG:" + cluster.conninfo(), str(gpkg), options=options)
        ogr2ogr_s = time.perf_counter() - t0
        gdal.SetConfigOption("PG_USE_COPY", None)

        # The floor: the server reading the same rows from a file it writes itself.
        dump = cluster.folder / "ours.copy"
        cluster.psql(f"COPY ours TO '{dump}'")
        cluster.psql("CREATE TABLE floor (LIKE ours)")
        t0 = time.perf_counter()
        cluster.psql(f"COPY floor FROM '{dump}'")
        floor_s = time.perf_counter() - t0

        layer = QgsVectorLayer(f"{gpkg}|layername=postgis-bench", "g", "ogr")
        layer.setSubsetString(f"fid <= {sink_rows}")
        t0 = time.perf_counter()
        processing.run(
            "native:reprojectlayer",
            {"INPUT": layer, "TARGET_CRS": "EPSG:27700", "OUTPUT": cluster.destination("by_sink")},
        )
        sink_s = time.perf_counter() - t0
        sink_written = int(cluster.psql("SELECT count(*) FROM by_sink"))
        sink_per_million = sink_s / sink_written * 1_000_000
        ours_per_million = ours_s / ours_rows * 1_000_000
    finally:
        cluster.stop()

    data_label = f"{data.name}: {written} crimes written"
    results = [
        {
            "benchmark": "importpoliceuk to PostGIS vs to GeoPackage",
            "data": data_label,
            "ours_s": round(ours_s, 2),
            "alternative": "importpoliceuk to a GeoPackage (the bulk GeoPackage writer)",
            "alternative_s": round(gpkg_s, 2),
            "ratio": round(gpkg_s / ours_s, 2),  # alternative / ours, as every row of the report
            "floor_s": round(floor_s, 2),
            "floor_what": "the server's own COPY FROM of the same rows from a file it wrote (no client work)",
            "target": "within 2x of the GeoPackage import (ratio at least 0.5)",
        },
        {
            "benchmark": "importpoliceuk to PostGIS vs GDAL's COPY path",
            "data": data_label,
            "ours_s": round(ours_s, 2),
            "alternative": "importpoliceuk to a GeoPackage, then ogr2ogr of it into PostGIS (PG_USE_COPY=YES)",
            "alternative_s": round(gpkg_s + ogr2ogr_s, 2),
            "ratio": round((gpkg_s + ogr2ogr_s) / ours_s, 2),
            "floor_s": round(floor_s, 2),
            "floor_what": "the server's own COPY FROM of the same rows from a file it wrote (no client work)",
            "target": "no slower than the other bulk path every QGIS has (ratio near 1 or above)",
        },
        {
            "benchmark": "importpoliceuk to PostGIS vs QGIS's feature sink, per million rows",
            "data": f"{data_label}; the sink timed on its first {sink_written} rows and scaled to a million",
            "ours_s": round(ours_per_million, 2),
            "alternative": "native:reprojectlayer of the imported GeoPackage into a postgres:// destination",
            "alternative_s": round(sink_per_million, 1),
            "ratio": round(sink_per_million / ours_per_million, 2),
            "floor_s": round(floor_s / ours_rows * 1_000_000, 2),
            "floor_what": "the server's own COPY FROM, per million rows",
            "target": "the sink's 4 minutes a million (16,142 rows in 4.3 s) down to seconds",
        },
    ]
    for row in results:
        print(json.dumps(row))
    print(f"ogr2ogr alone: {ogr2ogr_s:.1f} s; rows in PostGIS: {ours_rows}; load average {os.getloadavg()}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=1) + "\n", encoding="utf-8")
    del app, provider


if __name__ == "__main__":
    main()
