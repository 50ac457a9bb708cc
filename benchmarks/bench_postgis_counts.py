"""Benchmark: crime trends on 10,000,000 crimes in PostGIS, counted in the database against the in-plugin path.

A throw-away cluster (tests/postgis.py) holds the bundled wards and the bundled police.uk crimes, from which
SQL makes ROWS crimes (generate_series over the sample, each point moved by a random offset of up to 50 m,
so that every location is distinct; months and crime types kept). The same crimetrends run is timed twice:
- ours: crimes and wards both PostGIS layers of the database, so the ward-by-month counts are made by one
  query on the server (core/postgis.py count_sql) and only the counts cross to QGIS;
- alternative: the in-plugin path, the same PostGIS crimes read in bulk (one query, GDAL's Arrow stream)
  and counted in Python, the wards read from the GeoPackage (so the database cannot count).
The two monthly tables must be identical. floor: one full scan of the crimes on the server
(SELECT count(*) with the month), what any counting must at least read. Writes
benchmarks/results/postgis_counts.json. Usage: python benchmarks/bench_postgis_counts.py [ROWS]
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
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from osgeo import gdal, ogr  # noqa: E402
from qgis.core import QgsProject, QgsVectorLayer  # noqa: E402
from standalone import start_qgis  # noqa: E402

from tests.postgis import start_cluster  # noqa: E402

WORK = ROOT / "benchmarks" / "_work"
WARDS = ROOT / "sample_data" / "boundaries" / "london_wards_2024.gpkg"
RESULTS = ROOT / "benchmarks" / "results" / "postgis_counts.json"


def table_rows(path: str) -> dict:
    """Return the monthly table of a crimetrends run: (area, month) → count."""
    ds = ogr.Open(path)
    return {(f["area_code"], f["month"]): f["count"] for f in ds.GetLayer(0)}


def main() -> None:
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000_000
    WORK.mkdir(parents=True, exist_ok=True)
    app, _ = start_qgis()
    from qgis import processing

    cluster = start_cluster()
    try:
        sample = WORK / "pg_sample.gpkg"
        if not sample.exists():
            processing.run(
                "crimemapping:importpoliceuk",
                {"INPUT": [str(ROOT / "sample_data" / "police_uk")], "OUTPUT": str(sample)},
            )
        for path, layer, table in ((sample, None, "sample"), (WARDS, "wards", "wards")):
            gdal.VectorTranslate(
                "PG:" + cluster.conninfo(),
                str(path),
                layers=[layer] if layer else None,
                layerName=table,
                layerCreationOptions=["GEOMETRY_NAME=geom", "LAUNDER=NO", "FID=fid"],
            )
        start = time.perf_counter()
        cluster.psql(
            "CREATE TABLE crimes AS SELECT row_number() OVER () AS fid, s.month, s.crime_type, s.crime_group, "
            "ST_Translate(s.geom, (random() - 0.5) * 100, (random() - 0.5) * 100)::geometry(Point, 27700) AS geom "
            f"FROM sample s, generate_series(1, {rows // 16142 + 1}) LIMIT {rows};"
            "ALTER TABLE crimes ADD PRIMARY KEY (fid); CREATE INDEX ON crimes USING gist (geom); ANALYZE crimes;"
        )
        print(f"{rows:,} crimes made in the database in {time.perf_counter() - start:.0f} s")
        start = time.perf_counter()
        cluster.psql("SET jit = off; SELECT month, count(*) FROM crimes GROUP BY month")
        floor = time.perf_counter() - start

        crimes = QgsVectorLayer(cluster.uri("crimes", key="fid").uri(False), "crimes", "postgres")
        pg_wards = QgsVectorLayer(cluster.uri("wards", key="fid").uri(False), "wards", "postgres")
        file_wards = QgsVectorLayer(f"{WARDS}|layername=wards", "wards", "ogr")
        for layer in (crimes, pg_wards, file_wards):
            assert layer.isValid()
            QgsProject.instance().addMapLayer(layer)
        times, tables = {}, {}
        for label, wards in (("database", pg_wards), ("plugin", file_wards)):
            out = WORK / f"pg_trends_{label}.gpkg"
            start = time.perf_counter()
            result = processing.run(
                "crimemapping:crimetrends",
                {"CRIMES": crimes, "AREAS": wards, "AREA_CODE_FIELD": "WD24CD", "OUTPUT": "memory:", "TABLE": str(out)},
            )
            times[label] = time.perf_counter() - start
            tables[label] = table_rows(result["TABLE"])
            print(f"{label}: {times[label]:.1f} s, {result['CRIMES_COUNTED']:,} crimes counted")
        assert tables["database"] == tables["plugin"], "the database's counts differ from the plugin's"
        row = {
            "benchmark": "crimetrends ward-by-month counts, crimes and wards in PostGIS",
            "data": f"{rows:,} crimes (bundled police.uk sample repeated, jittered up to 50 m) in 704 wards, "
            "3 months; local PostgreSQL 15 / PostGIS 3.3 throw-away cluster; machine shared with other jobs "
            "(2 cores, figures under load)",
            "ours_s": round(times["database"], 1),
            "alternative": "in-plugin path: the PostGIS crimes read in bulk by one query, counted in Python",
            "alternative_s": round(times["plugin"], 1),
            "ratio": round(times["plugin"] / times["database"], 2),
            "floor_s": round(floor, 1),
            "floor_what": "one full scan of the crimes on the server (SELECT month, count(*) GROUP BY month)",
            "target": "identical counts; the database path not slower than the in-plugin path",
        }
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        RESULTS.write_text(json.dumps([row], indent=2) + "\n")
        print(json.dumps(row, indent=2))
    finally:
        cluster.stop()
        app.exitQgis()


if __name__ == "__main__":
    main()
