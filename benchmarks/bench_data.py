"""Benchmark data made from the bundled real police.uk rows: the one place the benchmarks build their inputs.

Two kinds of data, as issue 15 asks every speed claim to be measured on both:
- "snap": the real rows repeated with new months and distinct crime ids, so crimes share police.uk's
  anonymised snap points as real downloads do;
- "distinct": the same crimes each moved by up to 30 m in a random direction (seeded), so no two share a
  point, as a force's own geocoded records do not.
Files are written under benchmarks/_work/ (git-ignored) under a temporary name and renamed when complete.
"""

from __future__ import annotations

import csv
import hashlib
import io
import math
import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
WORK = ROOT / "benchmarks" / "_work"
SAMPLE = ROOT / "sample_data" / "police_uk"
KINDS = ("snap", "distinct")
MOVE_M = 30.0  # the distinct kind's largest move, metres
SEED = 20241
# Metres per degree of latitude on the WGS84 ellipsoid near London (51.5° N), and of longitude there.
M_PER_DEG_LAT = 111_257.0
M_PER_DEG_LON = 111_320.0 * math.cos(math.radians(51.5))
# Rows of one month of the Met and the City together, about what police.uk publishes for London.
ROWS_PER_MONTH = 90_000


def seed_rows() -> tuple[list[str], list[list[str]]]:
    """Return the header and the bundled street rows that have a location, each crime id once."""
    rows, seen, header = [], set(), []
    for path in sorted(SAMPLE.glob("*/*-street.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader)
            for row in reader:
                if row[4] and row[5] and (row[0] == "" or row[0] not in seen):
                    seen.add(row[0])
                    rows.append(row)
    return header, rows


def offsets(n: int, metres: float = MOVE_M, seed: int = SEED) -> tuple[np.ndarray, np.ndarray]:
    """Return n seeded moves (dx, dy) in metres, uniform over the disc of radius metres."""
    rng = np.random.default_rng(seed)
    radius = metres * np.sqrt(rng.uniform(0.0, 1.0, n))
    angle = rng.uniform(0.0, 2 * np.pi, n)
    return radius * np.cos(angle), radius * np.sin(angle)


def month_stamp(last_year: int, last_month: int, back: int) -> str:
    """Return the month `back` months before last_year-last_month, as YYYY-MM."""
    year, month = divmod(last_year * 12 + last_month - 1 - back, 12)
    return f"{year:04d}-{month + 1:02d}"


def _csv_text(fields: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="").writerow(fields)
    return out.getvalue()


class _Rows:
    """The seed rows cut into the parts that stay fixed, so that a copy is one string join."""

    def __init__(self) -> None:
        self.header, rows = seed_rows()
        self.ids = [r[0] for r in rows]
        self.middle = [_csv_text(r[2:4]) for r in rows]  # Reported by, Falls within
        self.tail = [_csv_text(r[6:]) for r in rows]  # Location … Context
        self.lon = np.array([float(r[4]) for r in rows])
        self.lat = np.array([float(r[5]) for r in rows])
        self.force = [r[2] for r in rows]

    def __len__(self) -> int:
        return len(self.ids)


def _lines(seed: _Rows, start: int, count: int, stamp: str, kind: str, moved: int) -> dict[str, list[str]]:
    """Return `count` CSV lines (seed rows start, start+1, … cyclically) of one month, by force slug."""
    idx = (start + np.arange(count)) % len(seed)
    lon, lat = seed.lon[idx], seed.lat[idx]
    if kind == "distinct":
        dx, dy = offsets(count, MOVE_M, SEED + moved)
        lon = lon + dx / M_PER_DEG_LON
        lat = lat + dy / M_PER_DEG_LAT
    lon_text = np.char.mod("%.6f", lon)
    lat_text = np.char.mod("%.6f", lat)
    out: dict[str, list[str]] = {}
    for k, i in enumerate(idx.tolist()):
        cid = seed.ids[i]
        if cid:
            cid = hashlib.sha256(f"{cid}{stamp}{start + k}".encode()).hexdigest()
        slug = "city-of-london" if seed.force[i].startswith("City") else "metropolitan"
        out.setdefault(slug, []).append(f"{cid},{stamp},{seed.middle[i]},{lon_text[k]},{lat_text[k]},{seed.tail[i]}\n")
    return out


def month_folders(rows: int, kind: str, rows_per_month: int = ROWS_PER_MONTH) -> Path:
    """Write (once) `rows` police.uk rows as monthly folders of street files, as police.uk delivers them.

    Months run back from 2024-12, each holding rows_per_month rows (the last one the rest) split into a
    metropolitan and a city-of-london file; return the folder.
    """
    target = WORK / f"months-{kind}-{rows}"
    if target.exists():
        return target
    seed = _Rows()
    tmp = target.with_name(target.name + ".part")
    if tmp.exists():
        for path in sorted(tmp.rglob("*"), reverse=True):
            path.unlink() if path.is_file() else path.rmdir()
    written, back = 0, 0
    while written < rows:
        count = min(rows_per_month, rows - written)
        stamp = month_stamp(2024, 12, back)
        folder = tmp / stamp
        folder.mkdir(parents=True, exist_ok=True)
        for slug, lines in _lines(seed, written, count, stamp, kind, back).items():
            with open(folder / f"{stamp}-{slug}-street.csv", "w", encoding="utf-8", newline="") as handle:
                handle.write(",".join(seed.header) + "\n")
                handle.writelines(lines)
        written += count
        back += 1
    os.replace(tmp, target)
    return target


def one_csv(rows: int, kind: str) -> Path:
    """Write (once) `rows` police.uk rows as one CSV (months back from 2024-12, one per copy of the seed)."""
    target = WORK / f"bench-{kind}-{rows}-street.csv"
    if target.exists():
        return target
    WORK.mkdir(parents=True, exist_ok=True)
    seed = _Rows()
    tmp = target.with_suffix(".part")
    with open(tmp, "w", encoding="utf-8", newline="") as handle:
        handle.write(",".join(seed.header) + "\n")
        written, back = 0, 0
        while written < rows:
            count = min(len(seed), rows - written)
            stamp = month_stamp(2024, 12, back)
            for lines in _lines(seed, 0, count, stamp, kind, back).values():
                handle.writelines(lines)
            written += count
            back += 1
    os.replace(tmp, target)
    return target


def folder_bytes(path: Path) -> int:
    """Return the bytes of the files under path (or of path itself)."""
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
