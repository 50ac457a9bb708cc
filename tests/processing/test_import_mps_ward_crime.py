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
