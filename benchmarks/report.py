"""Build benchmarks/README.md's tables from benchmarks/results/*.json (the rows every bench script records).

The README keeps its hand-written prose down to the marker line; everything after it is made here:
one table of every algorithm against its alternative and the I/O floor, and the scale table of
bench_10m.py (time and peak memory of each step at each size, and their growth). `make bench` runs every
bench script, then this. Usage: python benchmarks/report.py [README] [RESULTS_FOLDER]
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import results  # noqa: E402

MARKER = "<!-- Everything below is made by benchmarks/report.py from benchmarks/results/*.json: do not edit. -->"
_TARGET_X = re.compile(r"≥\s*([0-9.]+)\s*x")


def seconds(value: float | None) -> str:
    """Return a time for the table: '' when none, two decimals under 10 s, one above."""
    if value is None:
        return ""
    return f"{value:.2f} s" if value < 10 else f"{value:,.1f} s"


def times(value: float | None) -> str:
    """Return a ratio for the table ('' when none)."""
    return "" if value is None else f"{value:.1f}x"


def ratio(row: dict) -> float | None:
    """Return how many times faster ours is than the alternative (alternative_s / ours_s), None without one."""
    if row.get("alternative_s") is None or not row.get("ours_s"):
        return None
    return row["alternative_s"] / row["ours_s"]


def floor_ratio(row: dict) -> float | None:
    """Return our time over the I/O floor's (1.0x: as fast as reading and writing alone), None without a floor."""
    if row.get("floor_s") is None or not row.get("floor_s"):
        return None
    return row["ours_s"] / row["floor_s"]


def meets(row: dict) -> str:
    """Return 'yes' or 'no' for a target written '≥ Nx' (faster than the alternative), '' for any other."""
    match = _TARGET_X.search(row.get("target") or "")
    r = ratio(row)
    if not match or r is None:
        return ""
    return "yes" if r >= float(match.group(1)) else "no"


def comparison_table(by_bench: dict[str, list[dict]]) -> list[str]:
    """Return the lines of the one table: each algorithm, its alternative, the I/O floor, our time, the ratios."""
    lines = [
        "| benchmark | data | ours | alternative | its time | ratio (alternative / ours) "
        "| I/O floor | ours / floor | target | met | date |",
        "|---|---|---:|---|---:|---:|---|---:|---|---|---|",
    ]
    for bench, rows in by_bench.items():
        for row in rows:
            if row.get("scale"):
                continue
            floor = seconds(row.get("floor_s"))
            if floor and row.get("floor_what"):
                floor += f" ({row['floor_what']})"
            cells = [
                f"{row['benchmark']} (`{bench}`)",
                row["data"],
                seconds(row["ours_s"]),
                row.get("alternative") or "",
                seconds(row.get("alternative_s")),
                times(ratio(row)),
                floor,
                times(floor_ratio(row)),
                row.get("target") or "",
                meets(row),
                row.get("date", ""),
            ]
            lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    return lines


def scale_table(by_bench: dict[str, list[dict]]) -> list[str]:
    """Return the lines of the scale table: each step and kind of points, time and peak memory per size, growth."""
    rows = [r for rs in by_bench.values() for r in rs if r.get("scale")]
    if not rows:
        return []
    sizes = sorted({r["rows"] for r in rows})
    steps: list[tuple[str, str]] = []
    for r in rows:
        if (r["benchmark"], r["kind"]) not in steps:
            steps.append((r["benchmark"], r["kind"]))
    at = {(r["benchmark"], r["kind"], r["rows"]): r for r in rows}
    head = ["step", "points"]
    for n in sizes:
        head += [f"time at {n / 1e6:g}M", f"peak memory at {n / 1e6:g}M"]
    if len(sizes) > 1:
        head += [f"time growth {sizes[0] / 1e6:g}M → {sizes[-1] / 1e6:g}M", "memory growth"]
    head.append("target")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for step, kind in steps:
        cells = [step, kind]
        for n in sizes:
            r = at.get((step, kind, n))
            cells += [seconds(r["ours_s"]) if r else "", f"{r['peak_mb']:,} MB" if r else ""]
        if len(sizes) > 1:
            small, big = at.get((step, kind, sizes[0])), at.get((step, kind, sizes[-1]))
            if small and big:
                cells += [f"{big['ours_s'] / small['ours_s']:.1f}x", f"{big['peak_mb'] / small['peak_mb']:.1f}x"]
            else:
                cells += ["", ""]
        cells.append(next((r.get("target") or "" for r in rows if (r["benchmark"], r["kind"]) == (step, kind)), ""))
        lines.append("| " + " | ".join(cells) + " |")
    files = {r["rows"]: r.get("files") for r in rows}
    baseline = {r["rows"]: r.get("baseline_mb") for r in rows}
    lines.append("")
    lines.append(
        "Files: "
        + ", ".join(f"{files[n]} monthly CSV files at {n / 1e6:g}M" for n in sizes if files.get(n))
        + ". Peak memory is each step's own process, QGIS's start-up included ("
        + ", ".join(f"{baseline[n]:,} MB" for n in sizes if baseline.get(n))
        + " for QGIS alone)."
    )
    return lines


def build(readme: str, by_bench: dict[str, list[dict]]) -> str:
    """Return the README: its prose down to the marker, then the tables made from the results."""
    head = readme.split(MARKER)[0].rstrip() + "\n\n"
    out = [MARKER, "", "## Results", ""]
    out += comparison_table(by_bench)
    scale = scale_table(by_bench)
    if scale:
        out += ["", "## 10 million crimes: each step's time and peak memory at 1M and 10M (`bench_10m.py`)", ""]
        out += scale
    return head + "\n".join(out) + "\n"


def main() -> None:
    """Rewrite the README from the results files."""
    readme = Path(sys.argv[1]) if len(sys.argv) > 1 else HERE / "README.md"
    folder = Path(sys.argv[2]) if len(sys.argv) > 2 else results.RESULTS
    text = build(readme.read_text(encoding="utf-8"), results.load(folder))
    readme.write_text(text, encoding="utf-8")
    print(f"{readme}: tables made from {folder}/*.json")


if __name__ == "__main__":
    main()
