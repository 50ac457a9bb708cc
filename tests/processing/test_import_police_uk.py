"""crimemapping:importpoliceuk on the real bundled police.uk files: counts, fields, coordinates, bad input."""

from __future__ import annotations

import csv
import os
import shutil
import zipfile
from collections import Counter
from pathlib import Path

import pytest
from qgis.core import (
    NULL,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsPointXY,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProject,
    QgsVectorLayer,
)

from tests.conftest import POLICE_UK, TEST_DATA
from tests.processing.test_import_police_uk_rows import assert_accounted, count_lines

ALG = "crimemapping:importpoliceuk"
STREET_FILES = sorted(POLICE_UK.glob("*/*-street.csv"))


def read_csv_rows(paths) -> list[dict]:
    """Read the street files with the csv module: the independent count the import must agree with."""
    rows = []
    for path in paths:
        with open(path, newline="", encoding="utf-8-sig") as handle:
            for row in csv.DictReader(handle):
                row["_file"] = os.path.basename(path)
                rows.append(row)
    return rows


def expected_outcome(rows: list[dict], keep=lambda r: True) -> tuple[list[dict], Counter]:
    """Apply the documented rules by hand: filters, then no location, then duplicate ids (first kept)."""
    reasons: Counter = Counter()
    kept, seen = [], set()
    for r in rows:
        if not keep(r):
            reasons["filtered"] += 1
        elif r["Longitude"] == "" or r["Latitude"] == "" or (float(r["Longitude"]) == 0 and float(r["Latitude"]) == 0):
            reasons["no_location"] += 1
        elif r["Crime ID"].strip() and r["Crime ID"].strip() in seen:
            reasons["duplicate"] += 1
        else:
            if r["Crime ID"].strip():
                seen.add(r["Crime ID"].strip())
            kept.append(r)
    return kept, reasons


def layer_of(result) -> QgsVectorLayer:
    out = result["OUTPUT"]
    return out if isinstance(out, QgsVectorLayer) else QgsVectorLayer(out, "crimes", "ogr")


@pytest.fixture(scope="module")
def full_import(run_alg, tmp_path_factory):
    out = tmp_path_factory.mktemp("import") / "crimes.gpkg"
    result = run_alg(ALG, {"INPUT": [str(POLICE_UK)], "OUTPUT": str(out)})
    return result, layer_of(result)


def test_every_row_is_written_or_counted_under_its_reason(full_import):
    result, layer = full_import
    rows = read_csv_rows(STREET_FILES)
    kept, reasons = expected_outcome(rows)
    assert_accounted(result, count_lines(*STREET_FILES))
    assert result["ROWS_READ"] == len(rows)
    assert result["ROWS_WRITTEN"] == len(kept) == layer.featureCount()
    assert result["NO_LOCATION"] == reasons["no_location"] > 0  # the City files have rows without coordinates
    assert result["DUPLICATE_ID"] == reasons["duplicate"] > 0  # the Met files repeat some crime ids
    assert result["MALFORMED"] == result["OUTSIDE_MONTHS"] == result["TYPE_NOT_SELECTED"] == 0
    assert result["ROWS_READ"] == result["ROWS_WRITTEN"] + result["ROWS_LEFT_OUT"]
    assert result["FILES_READ"] == len(STREET_FILES) == 6
    assert result["MONTHS"] == "2024-10,2024-11,2024-12"


def test_counts_by_type_force_and_month_match_the_csv(full_import):
    _, layer = full_import
    kept, _ = expected_outcome(read_csv_rows(STREET_FILES))
    got = Counter((f["crime_type"], f["reported_by"], f["month"].toString("yyyy-MM")) for f in layer.getFeatures())
    assert got == Counter((r["Crime type"], r["Reported by"], r["Month"]) for r in kept)


def test_fields_are_typed_and_groups_harmonised(full_import):
    _, layer = full_import
    fields = layer.fields()
    assert fields.field("month").typeName().lower() == "date"
    assert layer.crs().authid() == "EPSG:27700"
    groups = {f["crime_type"]: f["crime_group"] for f in layer.getFeatures()}
    # Spot checks against docs/definitions.md, written out by hand.
    assert groups["Bicycle theft"] == "Theft (other, bicycle, from the person)"
    assert groups["Theft from the person"] == "Theft (other, bicycle, from the person)"
    assert groups["Possession of weapons"] == "Public order and weapons"
    assert groups["Violence and sexual offences"] == "Violence and sexual offences"
    assert groups["Burglary"] == "Burglary"
    # The file itself says what it holds, whoever opens it later.
    meta = QgsVectorLayer(layer.source(), "again", "ogr").metadata()
    assert meta.title() == "police.uk crimes 2024-10 to 2024-12"
    assert "crimemapping-groups-1" in meta.abstract() and "no location" in meta.abstract()
    asb = [f for f in layer.getFeatures() if f["crime_type"] == "Anti-social behaviour"]
    assert asb and all(f["crime_id"] is None or f.attribute("crime_id") == NULL for f in asb)


def test_points_are_reprojected_as_qgis_transforms_them(full_import):
    _, layer = full_import
    rows: dict = {}
    for r in read_csv_rows(STREET_FILES):
        if r["Crime ID"] and r["Longitude"]:
            rows.setdefault(r["Crime ID"], r)  # the import keeps the first row of a repeated id
    transform = QgsCoordinateTransform(
        QgsCoordinateReferenceSystem("EPSG:4326"), QgsCoordinateReferenceSystem("EPSG:27700"), QgsProject.instance()
    )
    checked = 0
    for feature in layer.getFeatures():
        if not feature["crime_id"]:
            continue
        row = rows[feature["crime_id"]]
        expected = transform.transform(QgsPointXY(float(row["Longitude"]), float(row["Latitude"])))
        point = feature.geometry().asPoint()
        assert abs(point.x() - expected.x()) < 1e-3 and abs(point.y() - expected.y()) < 1e-3
        checked += 1
        if checked == 200:
            break
    assert checked == 200
    # A known place: a crime "On or near" the City's streets lies in the City's square mile (BNG km 531-534, 180-182).
    city = [f for f in layer.getFeatures() if f["reported_by"] == "City of London Police"][:50]
    inside = [
        f for f in city if 530000 < f.geometry().asPoint().x() < 535000 and 180000 < f.geometry().asPoint().y() < 182500
    ]
    assert len(inside) > 25


def test_filters_months_types_and_forces(run_alg, tmp_path):
    from crime_mapping_plugin.core.crime_types import ALL_TYPES, GROUPS

    params = {
        "INPUT": [str(POLICE_UK)],
        "START_MONTH": "2024-11",
        "END_MONTH": "2024-12",
        "CRIME_GROUPS": [GROUPS.index("Theft (other, bicycle, from the person)")],
        "FORCES": "city-of-london",
        "OUTPUT": str(tmp_path / "theft.gpkg"),
    }
    result = run_alg(ALG, params)
    assert_accounted(result, count_lines(*STREET_FILES))
    rows = read_csv_rows(STREET_FILES)
    thefts = {"Other theft", "Bicycle theft", "Theft from the person"}
    kept, _ = expected_outcome(
        rows,
        lambda r: "2024-11" <= r["Month"] <= "2024-12"
        and r["Crime type"] in thefts
        and r["_file"].find("city-of-london") > 0,
    )
    assert result["ROWS_WRITTEN"] == len(kept) == layer_of(result).featureCount()
    assert result["OUTSIDE_MONTHS"] == sum(1 for r in rows if r["Month"] == "2024-10")
    assert result["ROWS_READ"] == result["ROWS_WRITTEN"] + result["ROWS_LEFT_OUT"]

    burglary = run_alg(
        ALG, {"INPUT": [str(POLICE_UK)], "CRIME_TYPES": [ALL_TYPES.index("Burglary")], "OUTPUT": "TEMPORARY_OUTPUT"}
    )
    assert_accounted(burglary, count_lines(*STREET_FILES))
    kept, _ = expected_outcome(rows, lambda r: r["Crime type"] == "Burglary")
    assert burglary["ROWS_WRITTEN"] == len(kept) == burglary["OUTPUT"].featureCount()


def test_zip_archives_and_single_files_give_the_same_result(run_alg, tmp_path):
    archive = tmp_path / "2024-11.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((POLICE_UK / "2024-11").glob("*.csv")):
            z.write(path, f"2024-11/{path.name}")
    from_zip = run_alg(ALG, {"INPUT": [str(archive)], "OUTPUT": str(tmp_path / "z.gpkg")})
    from_files = run_alg(
        ALG,
        {"INPUT": [str(p) for p in sorted((POLICE_UK / "2024-11").glob("*.csv"))], "OUTPUT": str(tmp_path / "f.gpkg")},
    )
    assert from_zip["ROWS_READ"] == from_files["ROWS_READ"] == len(read_csv_rows((POLICE_UK / "2024-11").glob("*.csv")))
    assert from_zip["ROWS_WRITTEN"] == from_files["ROWS_WRITTEN"]
    for result in (from_zip, from_files):
        assert_accounted(result, count_lines(*(POLICE_UK / "2024-11").glob("*.csv")))


def test_a_download_zip_with_outcomes_and_stop_search_reads_only_street_files(run_alg, tmp_path):
    archive = tmp_path / "latest.zip"
    with zipfile.ZipFile(archive, "w") as z:
        for path in sorted((POLICE_UK / "2024-12").glob("*.csv")):
            z.write(path, f"2024-12/{path.name}")
        z.write(TEST_DATA / "2024-12-metropolitan-outcomes.csv", "2024-12/2024-12-metropolitan-outcomes.csv")
        z.write(
            TEST_DATA / "2024-06-metropolitan-stop-and-search.csv", "2024-06/2024-06-metropolitan-stop-and-search.csv"
        )
    feedback = _RecordingFeedback()
    result = run_alg(ALG, {"INPUT": [str(archive)], "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=feedback)
    assert result["FILES_READ"] == 2
    assert_accounted(result, count_lines(*(POLICE_UK / "2024-12").glob("*.csv")))
    assert result["ROWS_READ"] == len(read_csv_rows((POLICE_UK / "2024-12").glob("*.csv")))
    said = "\n".join(feedback.infos)
    assert "not read: 2 CSV file(s)" in said and "2024-12-metropolitan-outcomes.csv" in said


def test_memory_output_matches_geopackage_output(run_alg, full_import):
    result, layer = full_import
    memory = run_alg(ALG, {"INPUT": [str(POLICE_UK)], "OUTPUT": "TEMPORARY_OUTPUT"})
    assert_accounted(memory, count_lines(*STREET_FILES))
    mem_layer = memory["OUTPUT"]
    assert mem_layer.featureCount() == layer.featureCount()
    first = {f["crime_id"]: f.geometry().asPoint() for f in mem_layer.getFeatures() if f["crime_id"]}
    for feature in list(layer.getFeatures())[:100]:
        if feature["crime_id"]:
            assert first[feature["crime_id"]].distance(feature.geometry().asPoint()) < 1e-6


def test_geopackage_has_a_valid_spatial_index(full_import):
    import sqlite3

    result, layer = full_import
    db = sqlite3.connect(result["OUTPUT"])
    assert db.execute("SELECT rtreecheck('rtree_crimes_geom')").fetchone()[0] == "ok"
    (indexed,) = db.execute("SELECT count(*) FROM rtree_crimes_geom").fetchone()
    assert indexed == layer.featureCount()
    # A window query through the index returns what a full scan finds.
    xmin, ymin, xmax, ymax = 528000, 178000, 534000, 183000
    via_index = {
        r[0]
        for r in db.execute(
            "SELECT id FROM rtree_crimes_geom WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
            (xmin, xmax, ymin, ymax),
        )
    }
    scan = {
        f.id()
        for f in layer.getFeatures()
        if xmin <= f.geometry().asPoint().x() <= xmax and ymin <= f.geometry().asPoint().y() <= ymax
    }
    assert scan and scan <= via_index


def test_byte_order_mark_and_crlf_are_accepted(run_alg, tmp_path):
    source = POLICE_UK / "2024-12" / "2024-12-city-of-london-street.csv"
    text = source.read_text(encoding="utf-8")
    odd = tmp_path / "2024-12-city-of-london-street.csv"
    odd.write_bytes(b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode("utf-8"))
    plain = run_alg(ALG, {"INPUT": [str(source)], "OUTPUT": "TEMPORARY_OUTPUT"})
    bom = run_alg(ALG, {"INPUT": [str(odd)], "OUTPUT": "TEMPORARY_OUTPUT"})
    assert bom["ROWS_READ"] == plain["ROWS_READ"] == len(read_csv_rows([source]))
    assert_accounted(bom, count_lines(odd))
    assert_accounted(plain, count_lines(source))
    assert bom["ROWS_WRITTEN"] == plain["ROWS_WRITTEN"]
    assert {f["location"] for f in bom["OUTPUT"].getFeatures()} == {
        f["location"] for f in plain["OUTPUT"].getFeatures()
    }


def test_malformed_rows_are_counted_with_their_line(run_alg, tmp_path):
    source = POLICE_UK / "2024-10" / "2024-10-city-of-london-street.csv"
    lines = source.read_text(encoding="utf-8").splitlines()
    lines[5] = lines[5] + ",extra"  # too many fields
    lines[9] = ",".join(lines[9].split(",")[:4])  # truncated row
    lines[12] = lines[12].replace(",2024-10,", ",October,", 1)  # month not YYYY-MM
    bad = tmp_path / "2024-10-city-of-london-street.csv"
    bad.write_text("\n".join(lines) + "\n", encoding="utf-8")
    feedback = _RecordingFeedback()
    result = run_alg(ALG, {"INPUT": [str(bad)], "OUTPUT": "TEMPORARY_OUTPUT"}, feedback=feedback)
    assert result["MALFORMED"] == 3
    assert_accounted(result, count_lines(bad))
    assert result["ROWS_READ"] == len(lines) - 1
    assert result["ROWS_READ"] == result["ROWS_WRITTEN"] + result["ROWS_LEFT_OUT"]
    joined = "\n".join(feedback.errors)
    assert "line 6: malformed row: expected 12 fields, found 13" in joined
    assert "line 10: malformed row: expected 12 fields, found 4" in joined
    assert "line 13: malformed row: month is not a month (YYYY-MM)" in joined


class _RecordingFeedback(QgsProcessingFeedback):
    def __init__(self) -> None:
        super().__init__()
        self.errors: list[str] = []
        self.infos: list[str] = []

    def reportError(self, error, fatalError=False):  # noqa: N802, N803
        self.errors.append(error)

    def pushInfo(self, info):  # noqa: N802
        self.infos.append(info)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: shutil.copy(TEST_DATA / "2024-12-metropolitan-outcomes.csv", d), "outcomes file"),
        (lambda d: shutil.copy(TEST_DATA / "2024-06-metropolitan-stop-and-search.csv", d), "stop-and-search file"),
        (lambda d: (d / "2024-01-metropolitan-street.csv").write_text(""), "the file is empty"),
        (
            lambda d: (d / "2024-01-metropolitan-street.csv").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"),
            "not a",
        ),
        (
            lambda d: (d / "2024-01-metropolitan-street.csv").write_text(
                "Crime ID,Month,Reported by,Falls within,Longitude,Location,LSOA code,LSOA name,"
                "Crime type,Last outcome category,Context\n"
            ),
            "missing column(s) 'Latitude'",
        ),
        (lambda d: _zip_of(d, TEST_DATA / "2024-12-metropolitan-outcomes.csv"), "holds no police.uk street files"),
        (lambda d: (d / "nowhere").mkdir(), "holds no police.uk street files"),
    ],
    ids=["outcomes", "stop-and-search", "empty", "binary", "missing-column", "zip-without-street", "empty-folder"],
)
def test_bad_input_is_refused_naming_the_file(run_alg, tmp_path, make, message):
    folder = tmp_path / "in"
    folder.mkdir()
    made = make(folder)
    target = Path(made) if isinstance(made, (str, Path)) and Path(made).exists() else None
    target = target or next(iter(sorted(folder.iterdir())))
    out = tmp_path / "out.gpkg"
    with pytest.raises(QgsProcessingException) as err:
        run_alg(ALG, {"INPUT": [str(target)], "OUTPUT": str(out)})
    assert message in str(err.value)
    assert target.name in str(err.value)
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".crimemapping-")] == []


def _zip_of(folder: Path, member: Path) -> Path:
    archive = folder / "2024-12.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.write(member, f"2024-12/{member.name}")
    return archive


def test_cancelling_leaves_no_output(run_alg, tmp_path):
    class CancelAfterFirstFile(QgsProcessingFeedback):
        def setProgress(self, progress):  # noqa: N802
            super().setProgress(progress)
            if progress > 0:
                self.cancel()

    out = tmp_path / "cancelled.gpkg"
    with pytest.raises(QgsProcessingException, match="cancelled"):
        run_alg(ALG, {"INPUT": [str(POLICE_UK)], "OUTPUT": str(out)}, feedback=CancelAfterFirstFile())
    assert list(tmp_path.iterdir()) == []


def test_missing_inputs_and_bad_months_are_rejected_before_running(provider):
    from qgis.core import QgsApplication, QgsProcessingContext

    alg = QgsApplication.processingRegistry().createAlgorithmById(ALG)
    context = QgsProcessingContext()
    ok, message = alg.checkParameterValues({"OUTPUT": "TEMPORARY_OUTPUT"}, context)
    assert not ok and "(one is needed)" in message
    ok, message = alg.checkParameterValues(
        {"INPUT": [str(POLICE_UK)], "START_MONTH": "2024-13", "OUTPUT": "TEMPORARY_OUTPUT"}, context
    )
    assert not ok and "2024-13" in message
    ok, message = alg.checkParameterValues(
        {"INPUT": [str(POLICE_UK)], "START_MONTH": "2024-12", "END_MONTH": "2024-10", "OUTPUT": "TEMPORARY_OUTPUT"},
        context,
    )
    assert not ok and "after" in message
