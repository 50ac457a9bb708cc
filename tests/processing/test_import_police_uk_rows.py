"""crimemapping:importpoliceuk on damaged or odd copies of the real police.uk months: nothing lost, nothing
counted twice, and a message naming the file, line or field for every problem.

Each test counts the data lines of its inputs itself (a row is a line: its end is LF, with an optional CR
before it; a line holding nothing else is blank) and checks read = that count = written + every reason.
"""

from __future__ import annotations

import csv
import io
import shutil
import zipfile
from pathlib import Path

import pytest
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

from tests.conftest import POLICE_UK

ALG = "crimemapping:importpoliceuk"
REASONS = (
    "MALFORMED",
    "OUTSIDE_MONTHS",
    "TYPE_NOT_SELECTED",
    "FORCE_NOT_SELECTED",
    "NO_LOCATION",
    "OUTSIDE_UK",
    "DUPLICATE_ID",
)
CITY_10 = POLICE_UK / "2024-10" / "2024-10-city-of-london-street.csv"
CITY_11 = POLICE_UK / "2024-11" / "2024-11-city-of-london-street.csv"
MET_10 = POLICE_UK / "2024-10" / "2024-10-metropolitan-street.csv"
COLUMN = {name: i for i, name in enumerate(CITY_10.read_text(encoding="utf-8").splitlines()[0].split(","))}


def data_lines(data: bytes) -> int:
    """Count the non-blank lines after the header, by the definition above."""
    lines = data.split(b"\n")[1:]
    return sum(1 for line in lines if (line[:-1] if line.endswith(b"\r") else line) != b"")


def count_lines(*paths: Path) -> int:
    return sum(data_lines(Path(p).read_bytes()) for p in paths)


def assert_accounted(result: dict, expected_rows: int) -> None:
    """Every row read is written or counted under exactly one reason, and rows read are the data lines."""
    assert result["ROWS_READ"] == expected_rows
    left_out = sum(result.get(k, 0) for k in REASONS)  # .get: OUTSIDE_UK is new
    assert result["ROWS_READ"] == result["ROWS_WRITTEN"] + left_out
    assert result["ROWS_LEFT_OUT"] == left_out


def real_lines(path: Path = CITY_10) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def rows_of(lines: list[str]) -> list[list[str]]:
    return [line.split(",") for line in lines]


class Recording(QgsProcessingFeedback):
    """Keep every message the algorithm gives."""

    def __init__(self) -> None:
        super().__init__()
        self.infos: list[str] = []
        self.warnings: list[str] = []
        self.errors: list[str] = []

    def pushInfo(self, info):  # noqa: N802
        self.infos.append(info)

    def pushWarning(self, warning):  # noqa: N802
        self.warnings.append(warning)

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)


def run(run_alg, inputs, feedback=None, **params) -> dict:
    return run_alg(ALG, {"INPUT": [str(p) for p in inputs], "OUTPUT": "TEMPORARY_OUTPUT", **params}, feedback=feedback)


def write(path: Path, lines: list[str], end: str = "\n") -> Path:
    path.write_bytes((end.join(lines) + end).encode("utf-8"))
    return path


# 1. The same rows read twice


def test_a_zip_beside_the_folder_it_was_unpacked_to_is_read_once(run_alg, tmp_path):
    download = tmp_path / "download"
    shutil.copytree(POLICE_UK / "2024-11", download / "2024-11")
    with zipfile.ZipFile(download / "2024-11.zip", "w") as z:
        for path in sorted((POLICE_UK / "2024-11").glob("*.csv")):
            z.write(path, f"2024-11/{path.name}")
    feedback = Recording()
    result = run(run_alg, [download], feedback)
    once = run(run_alg, [POLICE_UK / "2024-11"])
    files = sorted((POLICE_UK / "2024-11").glob("*.csv"))
    assert_accounted(result, count_lines(*files))
    assert result["FILES_READ"] == 2
    assert result["ROWS_WRITTEN"] == once["ROWS_WRITTEN"]
    assert result["DUPLICATE_ID"] == once["DUPLICATE_ID"]
    # Anti-social behaviour has no crime id: read twice it would be written twice.
    asb = sum(1 for f in result["OUTPUT"].getFeatures() if f["crime_type"] == "Anti-social behaviour")
    assert asb == sum(1 for f in once["OUTPUT"].getFeatures() if f["crime_type"] == "Anti-social behaviour") > 0
    said = "\n".join(feedback.infos)
    assert "repeat" in said and "2024-11.zip" in said and "2024-11-city-of-london-street.csv" in said


def test_one_file_reached_two_ways_is_read_once(run_alg, tmp_path):
    folder = tmp_path / "data"
    shutil.copytree(POLICE_UK / "2024-10", folder / "2024-10")
    (tmp_path / "link").symlink_to(folder, target_is_directory=True)
    (folder / "2024-10" / "up").symlink_to(folder, target_is_directory=True)  # a loop
    dotted = folder / ".." / "data" / "2024-10" / CITY_10.name
    feedback = Recording()
    result = run(run_alg, [folder, tmp_path / "link", dotted], feedback)
    assert_accounted(result, count_lines(CITY_10, MET_10))
    assert result["FILES_READ"] == 2
    assert "same file" in "\n".join(feedback.infos)


# 2. A stray quote


def test_a_stray_quote_is_one_malformed_row_and_the_rest_is_read(run_alg, tmp_path):
    lines = real_lines()[:41]  # the header and 40 data lines
    rows = rows_of(lines)
    rows[5][COLUMN["Location"]] = '"' + rows[5][COLUMN["Location"]]  # opens a quote it never closes
    rows[20][COLUMN["Context"]] = '"'
    rows[30][COLUMN["Location"]] = 'On or near 5" Street'  # a quote inside a field is text
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    feedback = Recording()
    result = run(run_alg, [path], feedback)
    assert_accounted(result, 40)
    assert result["MALFORMED"] == 2
    assert "line 6: malformed row" in "\n".join(feedback.errors)
    assert "line 21: malformed row" in "\n".join(feedback.errors)
    assert 'On or near 5" Street' in {f["location"] for f in result["OUTPUT"].getFeatures()}


def test_a_stray_quote_in_a_whole_real_month_costs_one_row(run_alg, tmp_path):
    lines = real_lines(MET_10)
    rows = rows_of(lines)
    rows[10][COLUMN["Location"]] = '"' + rows[10][COLUMN["Location"]]
    path = write(tmp_path / MET_10.name, [",".join(r) for r in rows])
    result = run(run_alg, [path])
    plain = run(run_alg, [MET_10])
    assert_accounted(result, len(lines) - 1)
    assert result["MALFORMED"] == 1
    assert result["ROWS_WRITTEN"] in (plain["ROWS_WRITTEN"] - 1, plain["ROWS_WRITTEN"])


# 3. A bare carriage return inside a field


@pytest.mark.parametrize("with_quote", [False, True], ids=["plain-file", "file-with-a-quote"])
def test_a_carriage_return_inside_a_field_keeps_the_line_one_row(run_alg, tmp_path, with_quote):
    lines = real_lines()
    rows = rows_of(lines)
    rows[7][COLUMN["Location"]] = rows[7][COLUMN["Location"]].replace(" ", "\r", 1)
    if with_quote:
        rows[3][COLUMN["Context"]] = '"quoted, with a comma"'
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    result = run(run_alg, [path])
    plain = run(run_alg, [CITY_10])
    assert_accounted(result, len(lines) - 1)
    assert result["ROWS_WRITTEN"] == plain["ROWS_WRITTEN"]
    assert result["MALFORMED"] == 0
    assert all(f["crime_type"] for f in result["OUTPUT"].getFeatures())


# 4. Files that cannot be read are named; renamed street files are read


def test_a_broken_zip_in_a_folder_is_named_not_skipped_in_silence(run_alg, tmp_path):
    folder = tmp_path / "download"
    shutil.copytree(POLICE_UK / "2024-10", folder / "2024-10")
    good = io.BytesIO()
    with zipfile.ZipFile(good, "w") as z:
        z.write(CITY_11, f"2024-11/{CITY_11.name}")
    (folder / "2024-11.zip").write_bytes(good.getvalue()[: len(good.getvalue()) // 2])  # cut short
    (folder / "2024-12.zip").write_bytes(b"<!DOCTYPE html><html><body>502 Bad Gateway</body></html>")
    (folder / "2024-12-city-of-london-street.xlsx").write_bytes(b"PK\x03\x04 not really a workbook")
    feedback = Recording()
    result = run(run_alg, [folder], feedback)
    assert_accounted(result, count_lines(CITY_10, MET_10))
    warned = "\n".join(feedback.warnings)
    assert "2024-11.zip" in warned and "cut short" in warned
    assert "2024-12.zip" in warned and "web page" in warned
    assert "2024-12-city-of-london-street.xlsx: not a CSV file" in warned


def test_rows_in_another_encoding_are_counted_and_said(run_alg, tmp_path):
    rows = rows_of(real_lines())
    rows[9][COLUMN["Location"]] = "On or near Caf\xe9 Street"
    lines = [",".join(r).encode("utf-8") for r in rows]
    lines[9] = ",".join(rows[9]).encode("cp1252")  # one line saved by a program that does not write UTF-8
    path = tmp_path / CITY_10.name
    path.write_bytes(b"\n".join(lines) + b"\n")
    feedback = Recording()
    result = run(run_alg, [path], feedback)
    assert_accounted(result, len(rows) - 1)
    assert result["MALFORMED"] == 1
    assert f"{CITY_10.name}, line 10: malformed row: not UTF-8" in "\n".join(feedback.errors)
    assert "not UTF-8 text" in "\n".join(feedback.warnings)


def test_a_broken_zip_given_as_input_is_refused_naming_it(run_alg, tmp_path):
    page = tmp_path / "2024-12.zip"
    page.write_bytes(b"<html><body>Service unavailable</body></html>")
    with pytest.raises(QgsProcessingException, match="2024-12.zip: not a zip archive but a web page"):
        run(run_alg, [page])


def test_a_street_file_renamed_by_a_browser_is_read(run_alg, tmp_path):
    folder = tmp_path / "Downloads"
    folder.mkdir()
    shutil.copy(CITY_10, folder / "2024-10-city-of-london-street (1).csv")
    shutil.copy(CITY_11, folder / "crimes.csv")  # any name: the header says it is a street file
    feedback = Recording()
    result = run(run_alg, [folder], feedback)
    assert_accounted(result, count_lines(CITY_10, CITY_11))
    assert result["FILES_READ"] == 2
    assert not any("not street-level" in i for i in feedback.infos)


# 5. Blank crime ids


def test_anti_social_behaviour_with_blank_space_crime_ids_is_not_taken_for_duplicates(run_alg, tmp_path):
    lines = real_lines()
    rows = rows_of(lines)
    asb = [r for r in rows[1:] if r[COLUMN["Crime type"]] == "Anti-social behaviour"]
    for r in asb:
        r[COLUMN["Crime ID"]] = "   "
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    result = run(run_alg, [path])
    plain = run(run_alg, [CITY_10])
    assert_accounted(result, len(lines) - 1)
    located_asb = [r for r in asb if r[COLUMN["Longitude"]] and r[COLUMN["Latitude"]]]
    written_asb = [f for f in result["OUTPUT"].getFeatures() if f["crime_type"] == "Anti-social behaviour"]
    assert len(written_asb) == len(located_asb) > 1
    assert all(not f["crime_id"] for f in written_asb)
    assert result["DUPLICATE_ID"] == plain["DUPLICATE_ID"]


# 6. A coordinate that is not a number


def test_a_blank_longitude_with_a_latitude_that_is_not_a_number_is_malformed(run_alg, tmp_path):
    rows = rows_of(real_lines())
    rows[4][COLUMN["Longitude"]] = ""
    rows[4][COLUMN["Latitude"]] = "abc"
    rows[6][COLUMN["Longitude"]] = "nan"
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    plain = run(run_alg, [CITY_10])
    result = run(run_alg, [path])
    assert_accounted(result, len(rows) - 1)
    assert result["MALFORMED"] == 2
    assert result["NO_LOCATION"] == plain["NO_LOCATION"]


# 13. Tracebacks that are now messages


def test_carriage_return_line_ends_are_refused_naming_the_file(run_alg, tmp_path):
    path = write(tmp_path / CITY_10.name, real_lines(), end="\r")
    with pytest.raises(QgsProcessingException) as err:
        run(run_alg, [path])
    assert CITY_10.name in str(err.value) and "carriage return" in str(err.value)


def test_a_header_with_two_columns_of_one_name_is_refused_naming_the_column(run_alg, tmp_path):
    lines = real_lines()
    lines = [lines[0] + ",Location"] + [line + ",x" for line in lines[1:]]
    path = write(tmp_path / CITY_10.name, lines)
    with pytest.raises(QgsProcessingException) as err:
        run(run_alg, [path])
    assert CITY_10.name in str(err.value) and "2 columns named 'Location'" in str(err.value)


def test_a_quoted_field_longer_than_any_csv_reader_takes_is_refused_naming_line_and_field(run_alg, tmp_path):
    rows = rows_of(real_lines())
    rows[3][COLUMN["Location"]] = '"' + "On or near a very long street " * 5000 + '"'
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    with pytest.raises(QgsProcessingException) as err:
        run(run_alg, [path])
    assert f"{CITY_10.name}, line 4, field 'Location'" in str(err.value)


def _bng(lon: str, lat: str) -> tuple[str, str]:
    transform = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"), QgsCoordinateReferenceSystem("EPSG:27700"), QgsProject.instance()
    )
    p = transform.transform(QgsPointXY(float(lon), float(lat)))
    return f"{p.x():.1f}", f"{p.y():.1f}"


def test_coordinates_in_metres_are_counted_outside_the_uk_and_said(run_alg, tmp_path):
    rows = rows_of(real_lines())
    located = 0
    for r in rows[1:]:
        if r[COLUMN["Longitude"]] and r[COLUMN["Latitude"]]:
            r[COLUMN["Longitude"]], r[COLUMN["Latitude"]] = _bng(r[COLUMN["Longitude"]], r[COLUMN["Latitude"]])
            located += 1
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    feedback = Recording()
    result = run(run_alg, [path], feedback)
    assert_accounted(result, len(rows) - 1)
    assert result["OUTSIDE_UK"] == located > 0
    assert result["ROWS_WRITTEN"] == 0
    warned = "\n".join(feedback.warnings)
    assert CITY_10.name in warned and "metres" in warned


def test_swapped_latitude_and_longitude_are_counted_and_said(run_alg, tmp_path):
    rows = rows_of(real_lines())
    swapped = 0
    for r in rows[1:60]:
        if r[COLUMN["Longitude"]] and r[COLUMN["Latitude"]]:
            r[COLUMN["Longitude"]], r[COLUMN["Latitude"]] = r[COLUMN["Latitude"]], r[COLUMN["Longitude"]]
            swapped += 1
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    feedback = Recording()
    result = run(run_alg, [path], feedback)
    assert_accounted(result, len(rows) - 1)
    assert result["OUTSIDE_UK"] == swapped > 0
    assert "swapped" in "\n".join(feedback.warnings)


# Weak messages: a run that "succeeds" with nothing useful says why


def test_an_excel_resave_with_months_like_oct_24_says_what_to_do(run_alg, tmp_path):
    rows = rows_of(real_lines())
    for r in rows[1:]:
        r[COLUMN["Month"]] = "Oct-24"
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    feedback = Recording()
    result = run(run_alg, [path], feedback)
    assert_accounted(result, len(rows) - 1)
    assert result["MALFORMED"] == len(rows) - 1
    warned = "\n".join(feedback.warnings)
    assert CITY_10.name in warned and "'Oct-24'" in warned and "Excel" in warned and "YYYY-MM" in warned


def test_a_trailing_comma_on_every_row_says_what_to_do(run_alg, tmp_path):
    lines = real_lines()
    path = write(tmp_path / CITY_10.name, [lines[0]] + [line + "," for line in lines[1:]])
    feedback = Recording()
    result = run(run_alg, [path], feedback)
    assert_accounted(result, len(lines) - 1)
    assert result["MALFORMED"] == len(lines) - 1
    warned = "\n".join(feedback.warnings)
    assert CITY_10.name in warned and "trailing comma" in warned


def test_a_utf16_file_is_refused_with_save_as_utf8(run_alg, tmp_path):
    path = tmp_path / CITY_10.name
    path.write_bytes(CITY_10.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(QgsProcessingException) as err:
        run(run_alg, [path])
    assert CITY_10.name in str(err.value) and "UTF-16" in str(err.value) and "UTF-8" in str(err.value)
    assert "binary" not in str(err.value)


def test_a_force_that_matches_nothing_is_said(run_alg):
    feedback = Recording()
    result = run(run_alg, [CITY_10], feedback, FORCES="city-of-london, metropolitn")
    assert_accounted(result, count_lines(CITY_10))
    warned = "\n".join(feedback.warnings)
    assert "'metropolitn' matches no force" in warned and "City of London Police" in warned
    assert "city-of-london" not in warned.split("matches no force")[0]


def test_months_that_match_no_row_are_said(run_alg):
    feedback = Recording()
    result = run(run_alg, [CITY_10, CITY_11], feedback, START_MONTH="2025-01")
    assert_accounted(result, count_lines(CITY_10, CITY_11))
    assert result["OUTSIDE_MONTHS"] == result["ROWS_READ"]
    warned = "\n".join(feedback.warnings)
    assert "No row is in the chosen months" in warned and "2024-10 to 2024-11" in warned


def test_an_empty_month_range_is_refused_before_reading(run_alg):
    with pytest.raises(QgsProcessingException, match="after the end month"):
        run(run_alg, [CITY_10], START_MONTH="2024-12", END_MONTH="2024-10")


def test_a_new_label_hidden_by_a_group_filter_is_still_listed(run_alg, tmp_path):
    from crime_mapping_plugin.core.crime_types import GROUPS

    rows = rows_of(real_lines())
    renamed = 0
    for r in rows[1:]:
        if r[COLUMN["Crime type"]] == "Other crime":
            r[COLUMN["Crime type"]] = "Fraud and cyber crime"
            renamed += 1
    if not renamed:
        for r in rows[1:6]:
            r[COLUMN["Crime type"]] = "Fraud and cyber crime"
        renamed = 5
    path = write(tmp_path / CITY_10.name, [",".join(r) for r in rows])
    feedback = Recording()
    result = run(run_alg, [path], feedback, CRIME_GROUPS=[GROUPS.index("Burglary")])
    assert_accounted(result, len(rows) - 1)
    assert result["UNMAPPED_LABELS"] == f"Fraud and cyber crime: {renamed}"
    assert "Fraud and cyber crime" in "\n".join(feedback.warnings)


def test_a_cancel_comes_within_the_first_part_of_one_big_file(run_alg, tmp_path):
    lines = real_lines(MET_10)
    repeats = 25_000_000 // len(MET_10.read_bytes()) + 1  # about 25 MB, 100,000 rows, in one file
    big = write(tmp_path / MET_10.name, [lines[0]] + lines[1:] * repeats)

    class CancelAtFirstProgress(QgsProcessingFeedback):
        at = None

        def setProgress(self, progress):  # noqa: N802
            super().setProgress(progress)
            if progress > 0 and self.at is None:
                self.at = progress
                self.cancel()

    feedback = CancelAtFirstProgress()
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run_alg(ALG, {"INPUT": [str(big)], "OUTPUT": str(tmp_path / "out.gpkg")}, feedback=feedback)
    assert feedback.at < 50  # the first part of the file, not the whole of it
    assert not (tmp_path / "out.gpkg").exists()


def test_the_count_of_rows_is_the_count_of_lines_in_every_bundled_file(run_alg):
    files = sorted(POLICE_UK.glob("*/*-street.csv"))
    result = run(run_alg, [POLICE_UK])
    assert_accounted(result, count_lines(*files))
    with open(files[0], newline="", encoding="utf-8") as handle:
        assert sum(1 for _ in csv.reader(handle)) - 1 == count_lines(files[0])


def test_the_month_column_follows_the_one_month_rule_of_every_algorithm(run_alg, tmp_path):
    # docs/methods.md §0.1: 2024-10, 2024-10-31 and 202410 are October 2024 everywhere; 2024-1, 2024-123 and
    # Oct-24 are no month (malformed rows here, "no usable month" in the algorithms).
    lines = real_lines()
    month = COLUMN["Month"]
    written_as = ["2024-10", "2024-10-31", "202410", "2024-1", "2024-123", "Oct-24"]
    rows = rows_of(lines[1:7])
    for row, text in zip(rows, written_as):
        row[month] = text
    path = write(tmp_path / "2024-10-city-of-london-street.csv", [lines[0], *(",".join(r) for r in rows)])
    out = tmp_path / "months.gpkg"
    result = run_alg(ALG, {"INPUT": [str(path)], "OUTPUT": str(out)})
    assert_accounted(result, 6)
    assert result["MALFORMED"] == 3
    layer = QgsVectorLayer(str(out), "m", "ogr")
    assert {f["month"].toString("yyyy-MM") for f in layer.getFeatures()} == {"2024-10"}
    assert layer.featureCount() + result["ROWS_LEFT_OUT"] == 6
