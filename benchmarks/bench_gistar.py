"""Benchmark a whole Gi* run on about 480,000 cells of 150 m: ours, the PySAL path, and SQLite alone (the floor).

Data: the bundled real police.uk crimes within Greater London's box, placed in four tiles (2 x 2, a force-sized
area of 118 x 92 km) and each moved by up to 30 m, as a force's own geocoded data are: ROWS points (default
1,000,000) in a GeoPackage (British National Grid, with its R-tree). Made once in benchmarks/_work/.

- ours: crimemapping:gistarhotspots from the points' GeoPackage to a GeoPackage (read, cells, counts,
  neighbours, Gi*, FDR bins, write with the R-tree), through processing.run;
- the PySAL path, in the reference venv (benchmarks/ref_venv.py): pyogrio read, numpy binning, libpysal
  DistanceBand, esda G_Local(star=True, transform='B'), scipy p-values and false_discovery_control, the cells as
  shapely boxes written with pyogrio to a GeoPackage (with its spatial index);
- the floor: the very rows of our output (values and geometry blobs read back beforehand, not timed) and its
  R-tree's rows inserted with sqlite3 executemany into a new file, and committed: the cost of writing the
  same cells with SQLite alone. The table alone (without its R-tree) is printed too.

Ours and the floor are best of REPEATS (default 3); the PySAL path runs once. Both outputs are compared cell
by cell (z to 1e-9, bins equal). Writing the same cells to every other destination (memory layer,
shapefile, GeoJSON) is timed against the ordinary feature sink: one QgsFeature per row with its fields,
every value converted on its own, as the plugin wrote them before issue 15.
Prints the times and ratios and writes benchmarks/results/gistar.json.
    python benchmarks/bench_gistar.py [ROWS] [REPEATS]
The destination rows alone (Gi* run once if its output is not in benchmarks/_work yet; no PySAL), replacing
only those rows of the results file, optionally for some destinations ("shapefile", "GeoJSON", "memory layer"):
    python benchmarks/bench_gistar.py --destinations [ROWS] [REPEATS] [DESTINATION ...]
"""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "benchmarks" / "_work"
RESULTS = ROOT / "benchmarks" / "results" / "gistar.json"
CELL = 150.0
LONDON_BOX = (503000.0, 155000.0, 562000.0, 201000.0)
JITTER = 30.0


def best(fn, repeats: int) -> tuple[float, float, object]:
    """Return the fastest wall time of fn over repeats, that run's CPU time, and its last result."""
    runs, result = [], None
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn()
        runs.append((time.perf_counter() - wall, time.process_time() - cpu))
    wall, cpu = min(runs)
    return wall, cpu, result


# ---- the PySAL path (run in the reference venv: no QGIS there) ----


def pysal_run(points: str, out: str) -> dict:
    """Read, bin, DistanceBand, G_Local, FDR and write with pyogrio; return the bins' tally."""
    import geopandas as gpd
    import numpy as np
    import pyogrio
    import shapely
    from esda.getisord import G_Local
    from libpysal.weights import DistanceBand
    from scipy.stats import false_discovery_control, norm

    df = pyogrio.read_dataframe(points)
    xy = shapely.get_coordinates(df.geometry.values)
    col = np.floor(xy[:, 0] / CELL).astype(np.int64)
    row = np.floor(xy[:, 1] / CELL).astype(np.int64)
    c0, r0 = col.min(), row.min()
    width, height = col.max() - c0 + 1, row.max() - r0 + 1
    counts = np.bincount((row - r0) * width + (col - c0), minlength=width * height).astype(float)
    cc, rr = np.meshgrid(np.arange(c0, c0 + width), np.arange(r0, r0 + height))
    cc, rr = cc.ravel(), rr.ravel()
    cx, cy = (cc + 0.5) * CELL, (rr + 0.5) * CELL
    w = DistanceBand(np.c_[cx, cy], threshold=CELL * np.sqrt(2) * (1 + 1e-7), binary=True, silence_warnings=True)
    z = G_Local(counts, w, star=True, transform="B", permutations=0).Zs
    p = 2 * norm.sf(np.abs(z))
    adjusted = false_discovery_control(p)
    level = np.select([adjusted <= 0.01, adjusted <= 0.05, adjusted <= 0.10], [3, 2, 1], 0)
    bins = (level * np.sign(z)).astype(np.int64)
    labels = np.array(["Cold 99", "Cold 95", "Cold 90", "Not significant", "Hot 90", "Hot 95", "Hot 99"], object)
    cell_id = np.char.add(np.char.add(np.char.add(f"s{CELL:g}_", cc.astype(str)), "_"), rr.astype(str))
    frame = gpd.GeoDataFrame(
        {
            "cell_id": cell_id,
            "crimes": counts.astype(np.int64),
            "value": counts,
            "neighbours": np.diff(w.sparse.indptr),
            "gi_z": z,
            "gi_p": p,
            "gi_bin": bins,
            "label": labels[bins + 3],
        },
        geometry=shapely.box(cx - CELL / 2, cy - CELL / 2, cx + CELL / 2, cy + CELL / 2),
        crs="EPSG:27700",
    )
    if os.path.exists(out):
        os.remove(out)
    pyogrio.write_dataframe(frame, out, layer="cells", driver="GPKG", promote_to_multi=True)
    return {"cells": len(z), "hot": int((bins > 0).sum()), "cold": int((bins < 0).sum())}


def pysal_main(points: str, out: str, repeats: int) -> None:
    """Time the PySAL path and print one JSON line."""
    import esda
    import libpysal
    import pyogrio

    wall, cpu, tally = best(lambda: pysal_run(points, out), repeats)
    versions = f"esda {esda.__version__}, libpysal {libpysal.__version__}, pyogrio {pyogrio.__version__}"
    print(json.dumps({"wall": wall, "cpu": cpu, "tally": tally, "versions": versions}))


# ---- ours, the floor and the other destinations (QGIS Python) ----


def make_points(rows: int) -> Path:
    """Write (once) the benchmark's points: the real London crimes in 2 x 2 tiles, moved by up to 30 m."""
    import numpy as np
    from qgis import processing
    from qgis.core import QgsCoordinateReferenceSystem

    from crime_mapping_plugin.core.crime_points import MONTH, read_ogr_table
    from crime_mapping_plugin.core.gpkg import GeoPackageWriter

    target = WORK / f"gistar-points-{rows}.gpkg"
    if target.exists():
        return target
    WORK.mkdir(parents=True, exist_ok=True)
    seed = WORK / "seed.gpkg"
    if not seed.exists():
        processing.run(
            "crimemapping:importpoliceuk", {"INPUT": [str(ROOT / "sample_data" / "police_uk")], "OUTPUT": str(seed)}
        )
    table = read_ogr_table(str(seed), "seed", {"month": MONTH})
    x0, y0, x1, y1 = LONDON_BOX
    keep = np.isfinite(table.x) & (table.x >= x0) & (table.x <= x1) & (table.y >= y0) & (table.y <= y1)
    x, y = table.x[keep], table.y[keep]
    width, height = x1 - x0, y1 - y0
    reps = -(-rows // (4 * len(x)))
    xs = np.concatenate([np.tile(x, reps) + tx * width for tx in (0, 1) for ty in (0, 1)])[:rows]
    ys = np.concatenate([np.tile(y, reps) + ty * height for tx in (0, 1) for ty in (0, 1)])[:rows]
    rng = np.random.default_rng(15)
    xs = np.clip(xs + rng.uniform(-JITTER, JITTER, rows), x0, x0 + 2 * width)
    ys = np.clip(ys + rng.uniform(-JITTER, JITTER, rows), y0, y0 + 2 * height)
    crs = QgsCoordinateReferenceSystem("EPSG:27700").toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL)
    writer = GeoPackageWriter(str(target), target.stem, [], crs)
    writer.add({}, xs, ys)
    writer.commit()
    return target


def floor_write(source: str, target: str, with_rtree: bool) -> tuple[float, float]:
    """Write the rows of source's cell table (and its R-tree's rows) with sqlite3 alone; return wall, CPU seconds."""
    db = sqlite3.connect(source)
    schema = dict(db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'table' AND name = 'ours'"))
    names = [r[1] for r in db.execute("PRAGMA table_info(ours)")]
    rows = db.execute(f"SELECT {', '.join(names)} FROM ours").fetchall()
    rtree = {}
    if with_rtree:
        create = db.execute("SELECT sql FROM sqlite_master WHERE name = 'rtree_ours_geom'").fetchone()[0]
        for part in ("node", "parent", "rowid"):
            rtree[part] = db.execute(f"SELECT * FROM rtree_ours_geom_{part}").fetchall()
    db.close()
    if os.path.exists(target):
        os.remove(target)
    wall, cpu = time.perf_counter(), time.process_time()
    out = sqlite3.connect(target)
    out.execute("PRAGMA synchronous=OFF")
    out.execute("PRAGMA journal_mode=MEMORY")
    out.execute(schema["ours"])
    out.executemany(f"INSERT INTO ours VALUES ({', '.join('?' * len(names))})", rows)
    if with_rtree:
        out.execute(create)
        out.execute("DELETE FROM rtree_ours_geom_node")
        for part, part_rows in rtree.items():
            out.executemany(
                f"INSERT INTO rtree_ours_geom_{part} VALUES ({', '.join('?' * len(part_rows[0]))})", part_rows
            )
    out.commit()
    out.close()
    return time.perf_counter() - wall, time.process_time() - cpu


def compare(ours: str, theirs: str) -> tuple[int, float, bool]:
    """Return the cells compared, max |z ours - z PySAL| and whether the bins are equal, by cell id."""
    import numpy as np

    def read(path: str, layer: str) -> dict:
        db = sqlite3.connect(path)
        rows = db.execute(f"SELECT cell_id, gi_z, gi_bin FROM {layer}").fetchall()
        db.close()
        return {r[0]: (np.nan if r[1] is None else r[1], r[2]) for r in rows}

    a, b = read(ours, "ours"), read(theirs, "cells")
    if a.keys() != b.keys():
        raise SystemExit(f"Different cells: {len(a)} ours, {len(b)} PySAL")
    za = np.array([a[k][0] for k in a])
    zb = np.array([b[k][0] for k in a])
    same_bins = all(a[k][1] == b[k][1] for k in a)
    return len(a), float(np.nanmax(np.abs(za - zb))), same_bins


def destinations(ours: str, repeats: int, only: Sequence[str] = ()) -> list[tuple[str, float, float, float, float]]:
    """Time writing our output's cells to each destination (or those in only): TableOutput against the feature sink."""
    import numpy as np
    from qgis.core import (
        QgsCoordinateReferenceSystem,
        QgsFeature,
        QgsFeatureSink,
        QgsGeometry,
        QgsProcessingAlgorithm,
        QgsProcessingContext,
        QgsProcessingFeedback,
        QgsProcessingParameterFeatureSink,
        QgsWkbTypes,
    )

    from crime_mapping_plugin.processing.output import TableOutput, plain_value, qgs_fields

    db = sqlite3.connect(ours)
    info = db.execute("PRAGMA table_info(ours)").fetchall()[2:]  # after fid and geom
    kinds = {"TEXT": "string", "MEDIUMINT": "integer", "INTEGER": "integer", "REAL": "double"}
    spec = [(r[1], kinds[r[2]]) for r in info]
    spec_names = [name for name, _ in spec]
    rows = db.execute(f"SELECT geom, {', '.join(spec_names)} FROM ours").fetchall()
    db.close()
    wkbs = [bytes(g[40:]) for g, *_ in rows]  # without the GeoPackage header and envelope
    columns = {name: [r[i + 1] for r in rows] for i, name in enumerate(spec_names)}
    array_columns = {n: np.array(v, dtype=object if isinstance(v[0], str) else float) for n, v in columns.items()}
    for n in ("crimes", "neighbours", "gi_bin"):
        array_columns[n] = np.array(columns[n], np.int64)
    boxes = np.zeros((len(rows), 4))
    crs = QgsCoordinateReferenceSystem("EPSG:27700")

    class Alg(QgsProcessingAlgorithm):
        def initAlgorithm(self, config=None):  # noqa: N802
            self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "out"))

        def name(self):
            return "bench"

        def createInstance(self):
            return Alg()

        def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
            return {}

    alg = Alg()
    alg.initAlgorithm()
    out = []
    for label, dest in (
        ("memory layer", "memory:"),
        ("shapefile", str(WORK / "dest.shp")),
        ("GeoJSON", str(WORK / "dest.geojson")),
    ):
        if only and label not in only:
            continue

        def bulk(dest=dest):
            context = QgsProcessingContext()
            context.setFeedback(QgsProcessingFeedback())
            output = TableOutput(alg, {"OUTPUT": dest}, "OUTPUT", context, spec, crs, geometry_type="multipolygon")
            for start in range(0, len(wkbs), 50000):
                part = {n: v[start : start + 50000] for n, v in array_columns.items()}
                output.add_wkb(part, wkbs[start : start + 50000], boxes[start : start + 50000])
            return output.commit(), context

        def plain(dest=dest):
            context = QgsProcessingContext()
            fields = qgs_fields(spec)
            sink, dest_id = alg.parameterAsSink(
                {"OUTPUT": dest}, "OUTPUT", context, fields, QgsWkbTypes.MultiPolygon, crs
            )
            for row in range(len(wkbs)):
                f = QgsFeature(fields)
                f.setAttributes([plain_value(columns[n][row]) for n in spec_names])
                g = QgsGeometry()
                g.fromWkb(wkbs[row])
                f.setGeometry(g)
                sink.addFeature(f, QgsFeatureSink.FastInsert)
            del sink
            return dest_id, context

        t_bulk, c_bulk, _ = best(bulk, repeats)
        t_plain, c_plain, _ = best(plain, repeats)
        out.append((label, t_bulk, t_plain, c_bulk, c_plain))
    return out


def destination_rows(writes: list[tuple[str, float, float, float, float]], n_cells: int, t_table: float | None) -> list:
    """Return the results rows of the destination timings."""
    rows = []
    for label, t_bulk, t_plain, c_bulk, c_plain in writes:
        rows.append(
            {
                "benchmark": f"Gi* cells written to a {label}",
                "data": f"{n_cells:,} cells of 150 m (CPU s: ours {c_bulk:.2f}, feature sink {c_plain:.2f}; "
                f"load average {os.getloadavg()[0]:.1f})",
                "ours_s": round(t_bulk, 3),
                "alternative": "the ordinary feature sink, one QgsFeature and value conversion per row",
                "alternative_s": round(t_plain, 3),
                "ratio": round(t_plain / t_bulk, 2),
                "floor_s": None if t_table is None else round(t_table, 3),
                "floor_what": "the same rows written to a GeoPackage table with sqlite3 executemany alone",
                "target": "at least as fast as the feature sink",
            }
        )
    return rows


def print_writes(writes: list[tuple[str, float, float, float, float]]) -> None:
    print(f"{'writing the cells to':<22}{'ours (s)':>10}{'feature sink (s)':>18}{'ratio':>8}{'CPU ratio':>11}")
    for label, t_bulk, t_plain, c_bulk, c_plain in writes:
        print(f"{label:<22}{t_bulk:>10.2f}{t_plain:>18.2f}{t_plain / t_bulk:>7.1f}x{c_plain / c_bulk:>10.1f}x")


def destinations_main(args: list[str]) -> None:
    """Time the destination rows alone and replace them in the results file."""
    rows = int(args[0]) if args else 1_000_000
    repeats = int(args[1]) if len(args) > 1 else 2
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from standalone import start_qgis

    app, provider = start_qgis()  # noqa: F841 - keep the provider alive
    from qgis import processing

    points = make_points(rows)
    ours = str(WORK / "ours.gpkg")
    if not os.path.exists(ours):
        processing.run("crimemapping:gistarhotspots", {"INPUT": str(points), "CELL_SIZE": CELL, "OUTPUT": ours})
    db = sqlite3.connect(ours)
    n_cells = db.execute("SELECT count(*) FROM ours").fetchone()[0]
    db.close()
    writes = destinations(ours, repeats, args[2:])
    print(f"{n_cells:,} cells, best of {repeats} (wall s), load average {os.getloadavg()[0]:.1f}")
    print_writes(writes)
    results = json.loads(RESULTS.read_text()) if RESULTS.exists() else []
    new = {r["benchmark"]: r for r in destination_rows(writes, n_cells, None)}
    for r in results:
        if r["benchmark"] in new and r.get("floor_s") is not None:
            new[r["benchmark"]]["floor_s"] = r["floor_s"]  # the floor was measured by the whole run
    results = [new.pop(r["benchmark"], r) for r in results] + list(new.values())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    app.exitQgis()


def main() -> None:
    if len(sys.argv) > 1 and sys.argv[1] == "--pysal":
        pysal_main(sys.argv[2], sys.argv[3], int(sys.argv[4]))
        return
    if len(sys.argv) > 1 and sys.argv[1] == "--destinations":
        destinations_main(sys.argv[2:])
        return
    rows = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sys.path.insert(0, str(ROOT))
    sys.path.insert(0, str(ROOT / "scripts"))
    sys.path.insert(0, str(ROOT / "benchmarks"))
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from ref_venv import python as ref_python
    from standalone import start_qgis

    app, provider = start_qgis()  # noqa: F841 - keep the provider alive
    from qgis import processing

    points = make_points(rows)
    ours = str(WORK / "ours.gpkg")

    def run_ours():
        if os.path.exists(ours):
            os.remove(ours)
        return processing.run("crimemapping:gistarhotspots", {"INPUT": str(points), "CELL_SIZE": CELL, "OUTPUT": ours})

    t_ours, c_ours, result = best(run_ours, repeats)
    n_cells = result["CELLS_ANALYSED"]
    floor_runs = [floor_write(ours, str(WORK / "floor.gpkg"), True) for _ in range(repeats)]
    t_floor, c_floor = min(floor_runs)
    table_runs = [floor_write(ours, str(WORK / "floor.gpkg"), False) for _ in range(repeats)]
    t_table, c_table = min(table_runs)
    theirs = str(WORK / "pysal.gpkg")
    proc = subprocess.run(
        [str(ref_python()), __file__, "--pysal", str(points), theirs, "1"],  # once: it takes 10x longer
        check=True,
        capture_output=True,
        text=True,
    )
    pysal = json.loads(proc.stdout.strip().splitlines()[-1])
    compared, dz, same_bins = compare(ours, theirs)
    print(
        f"{rows:,} points, {n_cells:,} cells of {CELL:g} m, best of {repeats} (wall s; CPU s of this process), "
        f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
    )
    print(f"{'run':<58}{'wall':>8}{'cpu':>8}")
    print(f"{'ours: crimemapping:gistarhotspots to a GeoPackage':<58}{t_ours:>8.2f}{c_ours:>8.2f}")
    print(f"{'PySAL path (' + pysal['versions'] + ')':<58}{pysal['wall']:>8.2f}{pysal['cpu']:>8.2f}")
    print(f"{'floor: the same rows and R-tree, sqlite3 executemany':<58}{t_floor:>8.2f}{c_floor:>8.2f}")
    print(f"{'  the table alone, without its R-tree':<58}{t_table:>8.2f}{c_table:>8.2f}")
    print(
        f"ratio PySAL / ours {pysal['wall'] / t_ours:.1f}x (CPU {pysal['cpu'] / c_ours:.1f}x); "
        f"ours / floor {t_ours / t_floor:.2f}x (CPU {c_ours / c_floor:.2f}x; "
        f"over the table alone {t_ours / t_table:.2f}x)"
    )
    print(f"same {compared:,} cells; max |z ours - z esda| = {dz:.1e}; FDR bins equal: {same_bins}")
    if dz > 1e-9 or not same_bins:
        raise SystemExit("Results differ from PySAL's.")
    writes = destinations(ours, max(1, repeats - 1))
    print_writes(writes)
    data = f"{rows:,} real police.uk points (London, 2 x 2 tiles, moved up to 30 m), {n_cells:,} cells of 150 m"
    results = [
        {
            "benchmark": "Gi* hot spots, whole run to a GeoPackage",
            "data": data,
            "ours_s": round(t_ours, 3),
            "alternative": "PySAL path: pyogrio read, bin, DistanceBand, G_Local, FDR, pyogrio write "
            f"({pysal['versions']})",
            "alternative_s": round(pysal["wall"], 3),
            "ratio": round(pysal["wall"] / t_ours, 2),
            "floor_s": round(t_floor, 3),
            "floor_what": "the same rows and R-tree rows written with sqlite3 executemany alone",
            "target": ">= 10x the PySAL path; within 1.5x of the floor",
        }
    ]
    results.extend(destination_rows(writes, n_cells, t_table))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    app.exitQgis()


if __name__ == "__main__":
    main()
