"""crimemapping:importmpswardcrime on the real MPS ward-level table: every cell accounted for."""

from __future__ import annotations

import csv
import re

import pytest
from qgis.core import QgsProcessingException, QgsVectorLayer

from tests.conftest import SAMPLE

ALG = "crimemapping:importmpswardcrime"
MPS = SAMPLE / "mps" / "MPS Ward Level Crime (most recent 24 months).csv"


def wide_rows():
    with open(MPS, newline="", encoding="utf-8-sig") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        return header, list(reader)


def test_long_table_holds_every_count(run_alg, tmp_path):
    header, rows = wide_rows()
    months = [i for i, h in enumerate(header) if re.fullmatch(r"\d{6}", h)]
    result = run_alg(ALG, {"INPUT": str(MPS), "OUTPUT": str(tmp_path / "mps.gpkg")})
    layer = QgsVectorLayer(result["OUTPUT"], "mps", "ogr")
    assert_cells_accounted(result, data_lines(MPS), len(months))
    assert result["ROWS_READ"] == len(rows)
    assert result["CELLS_READ"] == len(rows) * len(months) == layer.featureCount()
    assert result["OFFENCES_WRITTEN"] == sum(int(r[i] or 0) for r in rows for i in months)
    # One ward, one category, one month, looked up by hand in the wide file.
    code_col, minor_col = header.index("WardCode"), header.index("MinorText")
    month_col = header.index("202501")
    row = next(r for r in rows if r[code_col] == "E05013570" and r[minor_col] == "CRIMINAL DAMAGE")
    expr = "\"ward_code\" = 'E05013570' AND \"minor_category\" = 'CRIMINAL DAMAGE' AND \"month\" = '2025-01-01'"
    got = [f["count"] for f in layer.getFeatures(expr)]
    assert got == [int(row[month_col])]


def test_month_range_and_zero_skipping_are_counted(run_alg, tmp_path):
    header, rows = wide_rows()
    kept_months = [i for i, h in enumerate(header) if re.fullmatch(r"\d{6}", h) and "202501" <= h <= "202503"]
    nonzero = sum(1 for r in rows for i in kept_months if (r[i] or "0") != "0")
    result = run_alg(
        ALG,
        {
            "INPUT": str(MPS),
            "START_MONTH": "2025-01",
            "END_MONTH": "2025-03",
            "SKIP_ZEROS": True,
            "OUTPUT": "TEMPORARY_OUTPUT",
        },
    )
    assert result["CELLS_WRITTEN"] == nonzero == result["OUTPUT"].featureCount()
    assert result["MONTHS"] == "2025-01,2025-02,2025-03"
    assert "zero count, skipped: " + str(len(rows) * 3 - nonzero) in result["REPORT"]


def test_a_street_file_is_not_taken_for_the_ward_table(run_alg):
    street = next((SAMPLE / "police_uk").glob("*/*-street.csv"))
    with pytest.raises(QgsProcessingException, match="missing column"):
        run_alg(ALG, {"INPUT": str(street), "OUTPUT": "TEMPORARY_OUTPUT"})


def data_lines(path) -> int:
    """Count the non-blank lines after the header (a line ends at LF, with an optional CR before it)."""
    lines = path.read_bytes().split(b"\n")[1:]
    return sum(1 for line in lines if (line[:-1] if line.endswith(b"\r") else line) != b"")


def assert_cells_accounted(result: dict, rows: int, months: int) -> None:
    """Rows read are the data lines; every cell read is written or counted under a reason in the report."""
    assert result["ROWS_READ"] == rows
    assert result["CELLS_READ"] == rows * months
    left_out = sum(int(n) for n in re.findall(r"^Cells left out, [^:]+: (\d+)$", result["REPORT"], re.M))
    assert result["CELLS_READ"] == result["CELLS_WRITTEN"] + left_out


def test_a_truncated_row_is_counted_not_written_as_zero_offences(run_alg, tmp_path):
    header, rows = wide_rows()
    months = [i for i, h in enumerate(header) if re.fullmatch(r"\d{6}", h)]
    cut = rows[3][: len(rows[3]) - 5]  # the last five months lost, as in a download cut short
    lines = [",".join(header)] + [",".join(r) for r in rows[:3]] + [",".join(cut)] + [",".join(r) for r in rows[4:40]]
    path = tmp_path / "mps.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = run_alg(ALG, {"INPUT": str(path), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert_cells_accounted(result, data_lines(path), len(months))
    whole = rows[:3] + rows[4:40]
    assert result["CELLS_WRITTEN"] == len(whole) * len(months) == result["OUTPUT"].featureCount()
    assert result["OFFENCES_WRITTEN"] == sum(int(r[i] or 0) for r in whole for i in months)
    assert f"row with missing or extra cells (malformed): {len(months)}" in result["REPORT"]


def test_a_repeated_month_column_is_refused_naming_it(run_alg, tmp_path):
    header, rows = wide_rows()
    col = header.index("202501")
    lines = [",".join(header + ["202501"])] + [",".join(r + [r[col]]) for r in rows[:20]]
    path = tmp_path / "mps.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(QgsProcessingException) as err:
        run_alg(ALG, {"INPUT": str(path), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert "mps.csv" in str(err.value) and "202501 appears 2 times" in str(err.value)


def test_a_stray_quote_costs_one_row_of_the_ward_table(run_alg, tmp_path):
    header, rows = wide_rows()
    months = [i for i, h in enumerate(header) if re.fullmatch(r"\d{6}", h)]
    rows = [list(r) for r in rows[:30]]
    rows[4][header.index("WardName")] = '"' + rows[4][header.index("WardName")]
    path = tmp_path / "mps.csv"
    path.write_text("\n".join([",".join(header)] + [",".join(r) for r in rows]) + "\n", encoding="utf-8")
    result = run_alg(ALG, {"INPUT": str(path), "OUTPUT": "TEMPORARY_OUTPUT"})
    assert_cells_accounted(result, 30, len(months))
    assert result["CELLS_WRITTEN"] == 29 * len(months)
