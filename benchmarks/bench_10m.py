"""Benchmark: 10 million crimes on one desktop, import → density → Gi* → ward rates → trends, beside 1 million.

The data are police.uk-shaped monthly folders (`YYYY-MM/YYYY-MM-metropolitan-street.csv` and
`…-city-of-london-street.csv`, about 90,000 rows a month as London has) made from the bundled real rows
(benchmarks/bench_data.py): at 1M about 12 months, at 10M about 112, each row with its own crime id, on the
real snap points ("snap") and moved by up to 30 m ("distinct"). Each step runs in its own Python process
(started as scripts/standalone.py starts QGIS) on the previous step's output; the parent records its wall
time and its peak resident memory (the child's own, from wait4), QGIS's start-up included. A child that
only starts QGIS gives that baseline. Rows go to benchmarks/results/tenmillion.json; the big files under
benchmarks/_work/ are deleted at the end unless --keep.

    python benchmarks/bench_10m.py [--rows 1000000,10000000] [--kinds snap,distinct] [--steps …] [--keep]
Not part of CI (about 20 minutes and 3 GB of disk at 10M): `make bench-10m`.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(HERE))

import bench_data  # noqa: E402
import results  # noqa: E402

STEPS = ("import", "density", "gistar", "wardrates", "trends")
WARDS = ROOT / "sample_data" / "boundaries" / "london_wards_2024.gpkg"
POPULATION = ROOT / "sample_data" / "population"
MEMORY_TARGET_MB = 4096
ALGORITHMS = {
    "import": "crimemapping:importpoliceuk",
    "density": "crimemapping:hotspotdensity",
    "gistar": "crimemapping:gistarhotspots",
    "wardrates": "crimemapping:wardrates",
    "trends": "crimemapping:crimetrends",
}
# What each child reports back, from the algorithm's outputs.
REPORTED = {
    "import": ("ROWS_READ", "ROWS_WRITTEN", "FILES_READ"),
    "density": ("CRIMES", "HOTSPOT_COUNT", "HOTSPOT_CRIMES"),
    "gistar": ("CELLS_ANALYSED", "POINTS_COUNTED", "HOT_SPOTS", "COLD_SPOTS"),
    "wardrates": ("CRIMES_COUNTED", "OUTSIDE_WARDS", "ON_BOUNDARY"),
    "trends": (),
}


def parameters(step: str, data: Path, work: Path) -> dict:
    """Return the Processing parameters of one step; each analysis reads the import's GeoPackage."""
    crimes = str(work / "crimes.gpkg")
    wards = f"{work / 'wards.gpkg'}|layername=wards"
    if step == "import":
        return {"FOLDER": str(data), "OUTPUT": crimes}
    if step == "density":
        return {
            "INPUT": crimes,
            "STUDY_AREA": wards,
            "BANDWIDTH": 400,
            "CELL_SIZE": 50,
            "UNITS": 1,
            "OUTPUT": str(work / "density.tif"),
            "HOTSPOTS": str(work / "hotspot_areas.gpkg"),
        }
    if step == "gistar":
        return {"INPUT": crimes, "STUDY_AREA": wards, "CELL_SIZE": 150, "OUTPUT": str(work / "gistar.gpkg")}
    if step == "wardrates":
        return {
            "CRIMES": crimes,
            "WARDS": wards,
            "POPULATION_TABLE": str(work / "ward_population.gpkg"),
            "OUTPUT": str(work / "ward_rates.gpkg"),
            "FUNNEL_PLOT": str(work / "funnel.png"),
        }
    if step == "trends":
        return {
            "CRIMES": crimes,
            "AREAS": wards,
            "AREA_CODE_FIELD": "WD24CD",
            "AREA_NAME_FIELD": "WD24NM",
            "OUTPUT": str(work / "trends.gpkg"),
            "TABLE": str(work / "trends_by_month.gpkg"),
        }
    raise ValueError(step)


def child(step: str, data: Path, work: Path) -> None:
    """Run one step in this process and print its reported outputs as one JSON line."""
    sys.path.insert(0, str(ROOT / "scripts"))
    from standalone import start_qgis

    app, provider = start_qgis()
    if step == "baseline":
        print(json.dumps({}))
        return
    from qgis import processing

    if step == "population":
        processing.run(
            "crimemapping:wardpopulation",
            {
                "LSOA_POPULATION": str(POPULATION / "london_lsoa21_population_census2021.csv"),
                "LOOKUP": str(POPULATION / "london_lsoa21_to_ward24_lookup.csv"),
                "OUTPUT": str(work / "ward_population.gpkg"),
            },
        )
        print(json.dumps({}))
        return
    out = processing.run(ALGORITHMS[step], parameters(step, data, work))
    print(json.dumps({k: out[k] for k in REPORTED[step]}))


def run_child(step: str, data: Path, work: Path) -> tuple[float, float, dict]:
    """Run one step in a new process; return its wall time (s), its peak resident memory (MB) and its outputs."""
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", step, "--data", str(data), "--work", str(work)]
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, env=env, text=True)
    # wait4 gives this child's own rusage, not the maximum over every child (as RUSAGE_CHILDREN would).
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    stdout = proc.stdout.read()
    if proc.returncode != 0:
        raise SystemExit(f"step {step} failed (exit {proc.returncode}): {stdout[-2000:]}")
    lines = [line for line in stdout.splitlines() if line.startswith("{")]
    return wall, usage.ru_maxrss / 1024, json.loads(lines[-1]) if lines else {}


def run_size(rows: int, kind: str, steps: tuple[str, ...], keep: bool) -> list[dict]:
    """Make the data of one size and kind, run the steps, return their results rows."""
    t0 = time.perf_counter()
    data = bench_data.month_folders(rows, kind)
    files = len(list(data.rglob("*-street.csv")))
    csv_mb = bench_data.folder_bytes(data) / 1e6
    print(f"\n{rows:,} rows ({kind}): {files} monthly files, {csv_mb:,.0f} MB ({time.perf_counter() - t0:.0f} s)")
    work = bench_data.WORK / f"run-{kind}-{rows}"
    work.mkdir(parents=True, exist_ok=True)
    shutil.copy(WARDS, work / "wards.gpkg")  # QGIS may open a GeoPackage for update: never the bundled one
    base_s, base_mb, _ = run_child("baseline", data, work)
    run_child("population", data, work)
    print(f"  QGIS start-up alone: {base_s:.1f} s, {base_mb:,.0f} MB")
    label = f"{rows:,} crimes, {'snap points' if kind == 'snap' else 'distinct points (moved ≤ 30 m)'}"
    out = []
    for step in steps:
        wall, peak, reported = run_child(step, data, work)
        size = bench_data.folder_bytes(work / "crimes.gpkg") / 1e6 if step == "import" else None
        print(f"  {step:<10} {wall:8.1f} s  peak {peak:8,.0f} MB  {reported}")
        out.append(
            results.row(
                step,
                label,
                wall,
                target=f"peak < {MEMORY_TARGET_MB / 1024:g} GB" if step != "import" else "streams",
                scale=True,
                rows=rows,
                kind=kind,
                files=files,
                csv_mb=round(csv_mb),
                gpkg_mb=None if size is None else round(size),
                peak_mb=round(peak),
                baseline_mb=round(base_mb),
                baseline_s=round(base_s, 1),
                reported=reported,
            )
        )
        save(out[-1:])  # after each step: a long run stopped keeps what it measured
    if not keep:
        shutil.rmtree(work)
        shutil.rmtree(data)
    return out


def main() -> None:
    """Run every size and kind asked for and record the rows."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", default="1000000,10000000")
    parser.add_argument("--kinds", default=",".join(bench_data.KINDS))
    parser.add_argument("--steps", default=",".join(STEPS))
    parser.add_argument("--keep", action="store_true", help="keep the data and outputs under benchmarks/_work")
    parser.add_argument("--child")
    parser.add_argument("--data")
    parser.add_argument("--work")
    args = parser.parse_args()
    if args.child:
        child(args.child, Path(args.data), Path(args.work))
        return
    free = shutil.disk_usage(ROOT).free / 1e9
    sizes = [int(r) for r in args.rows.split(",")]
    need = max(sizes) * 600 / 1e9  # CSV and GeoPackage, about 250 + 300 bytes a row
    if free < need + 5:
        raise SystemExit(f"{free:.0f} GB free on the disk; this needs about {need:.0f} GB: free some first.")
    steps = tuple(s for s in args.steps.split(",") if s)
    for kind in args.kinds.split(","):
        for size in sizes:
            run_size(size, kind, steps, args.keep)


def save(rows: list[dict]) -> None:
    """Record rows in results/tenmillion.json, replacing those of the same step, size and kind."""
    new = {(r["benchmark"], r["rows"], r["kind"]) for r in rows}
    kept = [r for r in results.load().get("tenmillion", []) if (r["benchmark"], r["rows"], r["kind"]) not in new]
    order = {kind: i for i, kind in enumerate(bench_data.KINDS)}
    ordered = sorted(kept + rows, key=lambda r: (STEPS.index(r["benchmark"]), order[r["kind"]], r["rows"]))
    results.record("tenmillion", ordered)


if __name__ == "__main__":
    main()
