"""The benchmarks' results format: every bench script writes benchmarks/results/<bench>.json through record().

A results file is a JSON list of rows, one per measured run:

- benchmark: the algorithm measured (e.g. "import", "hotspot density");
- data: what it ran on, with the size and the kind of points (snap points or distinct points);
- ours_s: our time in seconds;
- alternative, alternative_s: what an analyst would otherwise use (a QGIS algorithm, PySAL, scipy) and its
  time in seconds, both None when there is none;
- ratio: alternative_s / ours_s (how many times faster ours is), None without an alternative;
- floor_s, floor_what: the I/O floor in seconds, reading the points and writing the output with the
  plainest code (OGR or SQLite read, SQLite or GDAL write) in the same process, and what it did;
- target: the target the issue sets, as text (e.g. "≥ 10x"), or None.

Rows may carry more keys (peak_mb, rows, files, date, note); benchmarks/report.py builds the table of
benchmarks/README.md from the rows of every file and ignores keys it does not know.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import resource
import time
from pathlib import Path
from typing import Callable, Iterable

RESULTS = Path(__file__).resolve().parent / "results"
FIELDS = ("benchmark", "data", "ours_s", "alternative", "alternative_s", "ratio", "floor_s", "floor_what", "target")


def row(
    benchmark: str,
    data: str,
    ours_s: float,
    alternative: str | None = None,
    alternative_s: float | None = None,
    floor_s: float | None = None,
    floor_what: str | None = None,
    target: str | None = None,
    **extra: object,
) -> dict:
    """Return one results row; ratio is worked out from the two times."""
    ratio = None
    if alternative_s is not None and ours_s:
        ratio = round(alternative_s / ours_s, 2)
    out = {
        "benchmark": benchmark,
        "data": data,
        "ours_s": _seconds(ours_s),
        "alternative": alternative,
        "alternative_s": _seconds(alternative_s),
        "ratio": ratio,
        "floor_s": _seconds(floor_s),
        "floor_what": floor_what,
        "target": target,
    }
    out.update(extra)
    return out


def _seconds(value: float | None) -> float | None:
    return None if value is None else round(float(value), 3)


def record(bench: str, rows: Iterable[dict], folder: Path = RESULTS) -> Path:
    """Write rows as folder/<bench>.json (under a temporary name, then moved into place) and return the path."""
    rows = list(rows)
    for r in rows:
        missing = [f for f in FIELDS if f not in r]
        if missing:
            raise ValueError(f"{bench}: a results row lacks {', '.join(missing)}: {r}")
        r.setdefault("date", _dt.date.today().isoformat())
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{bench}.json"
    tmp = folder / f".{bench}.json.part"
    tmp.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, target)
    print(f"results: {len(rows)} row(s) -> {target}")
    return target


def load(folder: Path = RESULTS) -> dict[str, list[dict]]:
    """Return the rows of every results file in folder, by bench name (the file's stem), in name order."""
    out: dict[str, list[dict]] = {}
    for path in sorted(folder.glob("*.json")):
        rows = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(rows, list):
            raise ValueError(f"{path}: a results file holds a list of rows")
        out[path.stem] = rows
    return out


def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """Return the wall time of fn() in seconds and its result."""
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


def peak_mb() -> float:
    """Return this process's peak resident memory so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
