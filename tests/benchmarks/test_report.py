"""benchmarks/report.py makes README's tables from results rows: ratios, floors, targets, growth, prose kept."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

import report  # noqa: E402
import results  # noqa: E402


def cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


@pytest.fixture()
def folder(tmp_path):
    rows = [
        results.row("hotspot density", "1,000,000 snap points", 0.8, "QGIS heatmap", 8.0, 0.4, "OGR read", "≥ 10x"),
        results.row("hotspot density", "1,000,000 distinct points", 4.0, "QGIS heatmap", 6.0, 0.5, "OGR read", "≥ 10x"),
        results.row("E-test", "8,800 pairs", 0.25, "scipy", 30.0),
    ]
    results.record("hotspot_density", rows[:2], tmp_path)
    # A row written by hand, as another engineer's script may: ratio missing from the arithmetic, extra keys.
    (tmp_path / "etest.json").write_text(json.dumps([dict(rows[2], ratio=None, note="CPU time")]), encoding="utf-8")
    scale = [
        results.row(step, "x", s, target="peak < 4 GB", scale=True, rows=n, kind="snap", peak_mb=m, files=f)
        for step, n, s, m, f in (
            ("import", 1_000_000, 10.0, 600, 24),
            ("import", 10_000_000, 120.0, 900, 224),
            ("density", 1_000_000, 2.0, 400, 24),
            ("density", 10_000_000, 10.0, 1600, 224),
        )
    ]
    results.record("tenmillion", scale, tmp_path)
    return tmp_path


def test_the_table_has_one_row_per_run_with_ratios_worked_from_the_times(folder):
    text = report.build("# Benchmarks\n\nProse.\n", results.load(folder))
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = cells(lines[0])
    body = [cells(line) for line in lines[1:] if "pairs" in line or "points" in line]
    table = {c[1]: dict(zip(header, c)) for c in body}
    snap = table["1,000,000 snap points"]
    assert snap["ours"] == "0.80 s" and snap["its time"] == "8.00 s"
    assert snap["ratio (alternative / ours)"] == "10.0x"  # 8.0 / 0.8
    assert snap["ours / floor"] == "2.0x"  # 0.8 / 0.4
    assert snap["met"] == "yes"
    distinct = table["1,000,000 distinct points"]
    assert distinct["ratio (alternative / ours)"] == "1.5x" and distinct["met"] == "no"  # 6.0 / 4.0 < 10
    assert distinct["I/O floor"] == "0.50 s (OGR read)" and distinct["ours / floor"] == "8.0x"
    etest = table["8,800 pairs"]
    assert etest["ratio (alternative / ours)"] == "120.0x"  # 30 / 0.25, though the file says None
    assert etest["I/O floor"] == "" and etest["met"] == ""


def test_the_scale_table_sets_each_size_beside_the_other_with_the_growth(folder):
    text = report.build("# Benchmarks\n", results.load(folder))
    scale = text.split("## 10 million crimes")[1]
    rows = {cells(line)[0]: cells(line) for line in scale.splitlines() if line.startswith("| ")}
    assert rows["import"][2:8] == ["10.0 s", "600 MB", "120.0 s", "900 MB", "12.0x", "1.5x"]
    assert rows["density"][2:8] == ["2.00 s", "400 MB", "10.0 s", "1,600 MB", "5.0x", "4.0x"]
    assert "24 monthly CSV files at 1M, 224 monthly CSV files at 10M" in scale


def test_the_prose_is_kept_and_the_tables_are_made_again_not_added(folder):
    first = report.build("# Benchmarks\n\nHand-written prose.\n", results.load(folder))
    again = report.build(first, results.load(folder))
    assert again == first
    assert first.startswith("# Benchmarks\n\nHand-written prose.\n\n" + report.MARKER)
    assert first.count("## Results") == 1


def test_a_row_without_the_format_fields_is_refused(tmp_path):
    with pytest.raises(ValueError, match="lacks"):
        results.record("bad", [{"benchmark": "x", "ours_s": 1.0}], tmp_path)
