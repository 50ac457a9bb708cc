"""A shapefile written in bulk (core.shapefile) is, byte for byte, the one the Processing feature sink writes.

The reference is the ordinary feature sink: one QgsFeature per row through parameterAsSink, QGIS's own writer
and GDAL's shapefile driver. For real runs (Gi* on the City's crimes, the police.uk import) the same algorithm is
run a second time with the bulk path switched off, so that TableOutput hands every row to the sink; for the
awkward values (NULLs of every type, invalid dates, text longer than the field, non-ASCII text in three
encodings, numbers wider than their field, holes, islands, empty and missing geometries) the reference features
are built here by hand. Every file of the layer (.shp, .shx, .dbf, .prj, .cpg) must be identical; OGR and QGIS
then read the result. A cancelled, failed or aborted write leaves no file and the previous shapefile as it was.
"""

from __future__ import annotations

import hashlib
import struct
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from osgeo import ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSink,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate

from crime_mapping_plugin.core import cells, crime_points, shapefile
from crime_mapping_plugin.processing import output
from crime_mapping_plugin.processing.output import TableOutput, qgs_fields
from tests.conftest import POLICE_UK, TEST_DATA
from tests.processing.test_gistar_hotspots import point_layer
from tests.processing.test_output_bulk import ogr_read

ogr.UseExceptions()
REF = np.load(TEST_DATA / "gistar_reference.npz")
BNG = QgsCoordinateReferenceSystem("EPSG:27700")
PARTS = (".shp", ".shx", ".dbf", ".prj", ".cpg")


class _Alg(QgsProcessingAlgorithm):
    """An algorithm with one feature-sink parameter, to hand TableOutput and the reference the same destination."""

    def initAlgorithm(self, config=None):  # noqa: N802, ARG002 - QGIS API
        self.addParameter(QgsProcessingParameterFeatureSink("OUTPUT", "out"))

    def name(self) -> str:
        return "shapefiletest"

    def createInstance(self) -> _Alg:  # noqa: N802 - QGIS API
        return _Alg()

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802, ARG002 - QGIS API
        return {}


ALG = _Alg()
ALG.initAlgorithm()


def layer_files(path: Path) -> dict[str, bytes]:
    """Return the bytes of each file of the shapefile at path, by extension."""
    return {ext: path.with_suffix(ext).read_bytes() for ext in PARTS if path.with_suffix(ext).exists()}


def digest(folder: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def context_with(encoding: str | None = None) -> QgsProcessingContext:
    context = QgsProcessingContext()
    context.keep_feedback = QgsProcessingFeedback()  # the context does not keep it alive
    context.setFeedback(context.keep_feedback)
    if encoding is not None:
        context.setDefaultEncoding(encoding)
    return context


def sink_write(path: Path, spec, rows: list[list], geoms: list, wkb_type, encoding: str | None) -> None:
    """Write rows one QgsFeature at a time through the Processing feature sink.

    Dates are QDates of the text's first 10 characters, as the plugin has always made them for the sink.
    """
    fields = qgs_fields(spec)
    sink, _ = ALG.parameterAsSink({"OUTPUT": str(path)}, "OUTPUT", context_with(encoding), fields, wkb_type, BNG)
    for values, geom in zip(rows, geoms):
        f = QgsFeature(fields)
        f.setAttributes(
            [
                QDate.fromString(v[:10], "yyyy-MM-dd") if kind == "date" and isinstance(v, str) else v
                for v, (_, kind) in zip(values, spec)
            ]
        )
        if geom is not None:
            f.setGeometry(geom)
        assert sink.addFeature(f, QgsFeatureSink.FastInsert), sink.lastError()
    del sink


def bulk_write(path: Path, spec, columns: dict, geometry_type: str, encoding: str | None, **geometry) -> str:
    out = TableOutput(ALG, {"OUTPUT": str(path)}, "OUTPUT", context_with(encoding), spec, BNG, "", geometry_type)
    assert isinstance(out._destination, output._ShapefileDestination)  # the bulk path, not the sink
    if "wkbs" in geometry:
        out.add_wkb(columns, geometry["wkbs"], np.zeros((len(geometry["wkbs"]), 4)))
    else:
        out.add(columns, geometry["x"], geometry["y"], geometry.get("located"))
    return out.commit()


@pytest.fixture
def bulk_commits(monkeypatch) -> list[str]:
    """Return the list of shapefiles the bulk writer commits, so a test can tell it did not fall back to the sink."""
    done: list[str] = []

    class Recording(shapefile.ShapefileWriter):
        def commit(self) -> None:
            super().commit()
            done.append(self.path)

    monkeypatch.setattr(output, "ShapefileWriter", Recording)
    return done


@pytest.mark.parametrize(("cell_kind", "size"), [(0, 100.0), (1, 150.0)], ids=["square", "hexagon"])
def test_gistar_cells_are_the_files_the_feature_sink_writes(
    run_alg, tmp_path, monkeypatch, bulk_commits, cell_kind, size
):
    params = {"INPUT": point_layer(REF["city_px"], REF["city_py"]), "CELLS": cell_kind, "CELL_SIZE": size}
    ours, theirs = tmp_path / "ours" / "cells.shp", tmp_path / "theirs" / "cells.shp"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    result = run_alg("crimemapping:gistarhotspots", {**params, "OUTPUT": str(ours)})
    with monkeypatch.context() as m:
        m.setattr(output, "_shapefile_destination", lambda *args: None)
        run_alg("crimemapping:gistarhotspots", {**params, "OUTPUT": str(theirs)})
    assert len(bulk_commits) == 1
    assert layer_files(ours) == layer_files(theirs)
    assert set(layer_files(ours)) >= {".shp", ".shx", ".dbf", ".prj"}
    assert ogr_read(str(ours)) == ogr_read(str(theirs))
    layer = QgsVectorLayer(str(ours), "cells", "ogr")
    expected = len(REF["city_square_100_cx"] if cell_kind == 0 else REF["city_hex_150_cx"])
    assert layer.isValid() and layer.featureCount() == result["CELLS_ANALYSED"] == expected
    assert layer.crs().authid() == "EPSG:27700"
    assert layer.extent() == QgsVectorLayer(str(theirs), "cells", "ogr").extent()


def test_a_police_uk_import_is_the_files_the_feature_sink_writes(run_alg, tmp_path, monkeypatch, bulk_commits):
    # The real City and Met street files of October 2024: dates, text, and rows without a location (NULL shapes).
    ours, theirs = tmp_path / "ours" / "crimes.shp", tmp_path / "theirs" / "crimes.shp"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    params = {"INPUT": [str(POLICE_UK)], "KEEP_UNLOCATED": True}
    result = run_alg("crimemapping:importpoliceuk", {**params, "OUTPUT": str(ours)})
    with monkeypatch.context() as m:
        m.setattr(output, "_shapefile_destination", lambda *args: None)
        run_alg("crimemapping:importpoliceuk", {**params, "OUTPUT": str(theirs)})
    assert len(bulk_commits) == 1
    assert layer_files(ours) == layer_files(theirs)
    fields, rows = ogr_read(str(ours))
    assert [f[1] for f in fields].count("Date") == 1
    assert any(wkb is None for _, _, wkb in rows)  # unlocated crimes are kept, without a shape
    assert len(rows) == QgsVectorLayer(str(ours), "crimes", "ogr").featureCount() == result["ROWS_WRITTEN"]


SPEC = [
    ("a_long_text_name", "string"),  # laundered to 10 characters by QGIS's writer
    ("a_long_count_name", "integer"),
    ("big", "integer64"),
    ("value", "double"),
    ("month", "date"),
]
VALUES = {
    "a_long_text_name": [
        "Café – Königstraße €",
        "x" + "é" * 130,  # 261 bytes in UTF-8: cut to the field's 254 bytes, inside a character
        "",
        None,
        "a\0b",  # the C writer stops at the NUL
        "ł and plain ASCII",  # not in windows-1252
    ],
    "a_long_count_name": [0, -999999999, 2147483647, None, 7, 12],
    "big": [-1234567890123456789, None, 0, 9007199254740993, 1, 2],
    "value": [0.1, -1e-20, 123456789.123, None, 1e300, -12345678.5],  # two wider than 24 characters: cut
    "month": ["2024-01-31", None, "", "2024-02-30", "2023-05-01T00:00:00", "2024-12-01"],
}


@pytest.mark.parametrize("encoding", ["UTF-8", "System", "windows-1252", None])
def test_awkward_values_of_every_kind_are_written_as_the_sink_writes_them(tmp_path, encoding):
    x, y = REF["city_px"][:6].astype(float), REF["city_py"][:6].astype(float)
    located = np.array([False, True, True, False, True, True])  # a first row without a shape moves the bounds to 0
    ours, theirs = tmp_path / "ours" / "t.shp", tmp_path / "theirs" / "t.shp"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    bulk_write(ours, SPEC, VALUES, "point", encoding, x=x, y=y, located=located)
    rows = [list(r) for r in zip(*[VALUES[n] for n, _ in SPEC])]
    geoms = [QgsGeometry.fromPointXY(QgsPointXY(px, py)) if ok else None for px, py, ok in zip(x, y, located)]
    sink_write(theirs, SPEC, rows, geoms, QgsWkbTypes.Point, encoding)
    assert layer_files(ours) == layer_files(theirs)
    assert struct.unpack("<4d", layer_files(ours)[".shp"][36:68])[:2] == (0.0, 0.0)


def _ring(x0: float, y0: float, size: float, clockwise: bool) -> list[tuple[float, float]]:
    ring = [(x0, y0), (x0 + size, y0), (x0 + size, y0 + size), (x0, y0 + size), (x0, y0)]  # counter-clockwise
    return ring[::-1] if clockwise else ring


def _polygon(*rings: list[tuple[float, float]]) -> str:
    return "(" + ", ".join("(" + ", ".join(f"{px} {py}" for px, py in r) + ")" for r in rings) + ")"


HOLE = _ring(532050, 181050, 10, False)
# Rings given both ways round: the writer must give exterior rings clockwise, holes counter-clockwise.
SHAPES = {
    "polygon": [
        f"POLYGON {_polygon(_ring(530000, 180000, 100, False), _ring(530020, 180020, 30, False))}",
        f"POLYGON {_polygon(_ring(530200, 180000, 50, True), _ring(530210, 180010, 10, True))}",
        None,
        "POLYGON EMPTY",
        f"POLYGON {_polygon(_ring(530400.25, 180000.125, 12.5, True))}",
    ],
    "multipolygon": [
        # An island inside the hole of another part, and a part of two holes.
        f"MULTIPOLYGON ({_polygon(_ring(531000, 181000, 300, False), _ring(531050, 181050, 200, True))}, "
        f"{_polygon(_ring(531100, 181100, 50, False))}, "
        f"{_polygon(_ring(532000, 181000, 100, True), _ring(532010, 181010, 10, True), HOLE)})",
        None,
        f"MULTIPOLYGON ({_polygon(_ring(533000, 181000, 10, False))})",
        "MULTIPOLYGON EMPTY",
        f"MULTIPOLYGON ({_polygon(_ring(534000, 181000, 10, True))}, {_polygon(_ring(534100, 181000, 10, False))})",
    ],
}


@pytest.mark.parametrize("geometry_type", ["polygon", "multipolygon"])
def test_polygons_with_holes_islands_and_no_shape_are_written_as_the_sink_writes_them(tmp_path, geometry_type):
    wkts = SHAPES[geometry_type]
    geoms = [None if w is None else QgsGeometry.fromWkt(w) for w in wkts]
    wkbs = [None if g is None else bytes(g.asWkb()) for g in geoms]
    spec = [("n", "integer"), ("name", "string")]
    columns = {"n": np.arange(len(wkbs)), "name": [f"area {i}" for i in range(len(wkbs))]}
    ours, theirs = tmp_path / "ours" / "areas.shp", tmp_path / "theirs" / "areas.shp"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    bulk_write(ours, spec, columns, geometry_type, "UTF-8", wkbs=wkbs)
    kind = QgsWkbTypes.Polygon if geometry_type == "polygon" else QgsWkbTypes.MultiPolygon
    sink_write(theirs, spec, [[i, f"area {i}"] for i in range(len(wkbs))], geoms, kind, "UTF-8")
    assert layer_files(ours) == layer_files(theirs)
    # The same places come back (orientation aside), and the empty geometries as no shape.
    _, rows = ogr_read(str(ours))
    for (_, _, wkb), g in zip(rows, geoms):
        if g is None or g.isEmpty():
            assert wkb is None
        else:
            back = QgsGeometry()
            back.fromWkb(wkb)
            assert back.symDifference(g).area() == 0


def test_cells_as_one_array_and_as_a_list_of_blobs_write_the_same_files(tmp_path):
    # Gi* hands its cells as one (cells, bytes) array; the same cells as a list take the per-geometry path.
    x, y = REF["city_px"].astype(float), REF["city_py"].astype(float)
    points = crime_points.CrimePoints(x, y, None, None, len(x), Counter())
    cell_set = cells.count_in_cells(cells.CellRequest(points, "square", 100.0)).cells
    wkbs, _ = cell_set.multipolygon_wkb()
    spec = [("cell_id", "string")]
    paths = []
    for label, blobs in (("array", wkbs), ("list", [bytes(b) for b in wkbs[:-1]] + [None])):
        path = tmp_path / label / "cells.shp"
        path.parent.mkdir()
        ids = list(cell_set.attributes["cell_id"])
        bulk_write(path, spec, {"cell_id": ids[: len(blobs)]}, "multipolygon", "UTF-8", wkbs=blobs)
        paths.append(path)
    a, b = ogr_read(str(paths[0])), ogr_read(str(paths[1]))
    assert a[1][:-1] == b[1][:-1] and b[1][-1][2] is None


def test_an_aborted_shapefile_leaves_no_file_and_the_previous_one_as_it_was(tmp_path):
    path = tmp_path / "t.shp"
    spec = [("n", "integer")]
    bulk_write(path, spec, {"n": [1, 2]}, "point", None, x=np.array([1.0, 2.0]), y=np.array([3.0, 4.0]))
    before = digest(tmp_path)
    out = TableOutput(ALG, {"OUTPUT": str(path)}, "OUTPUT", context_with(), spec, BNG, "", "point")
    out.add({"n": [5]}, np.array([5.0]), np.array([6.0]))
    assert len(list(tmp_path.iterdir())) > len(before)  # the staging files exist meanwhile
    out.abort()
    assert digest(tmp_path) == before


def test_a_value_too_wide_for_its_field_fails_clearly_and_leaves_the_previous_file(tmp_path):
    path = tmp_path / "t.shp"
    spec = [("count", "integer")]
    bulk_write(path, spec, {"count": [1]}, "point", None, x=np.array([1.0]), y=np.array([3.0]))
    before = digest(tmp_path)
    out = TableOutput(ALG, {"OUTPUT": str(path)}, "OUTPUT", context_with(), spec, BNG, "", "point")
    with pytest.raises(QgsProcessingException, match=r"t\.shp.*-1234567890.*10-character field count"):
        out.add({"count": np.array([-1234567890])}, np.array([5.0]), np.array([6.0]))
    out.abort()
    assert digest(tmp_path) == before


def test_a_cancel_by_the_commit_publishes_nothing(tmp_path):
    path = tmp_path / "t.shp"
    context = context_with()
    out = TableOutput(ALG, {"OUTPUT": str(path)}, "OUTPUT", context, [("n", "integer")], BNG, "", "point")
    out.add({"n": [1]}, np.array([1.0]), np.array([2.0]))
    context.feedback().cancel()
    with pytest.raises(QgsProcessingException, match="Cancelled"):
        out.commit()
    assert list(tmp_path.iterdir()) == []


def test_the_2_gb_limit_and_the_255_fields_limit_are_clear_errors(tmp_path, monkeypatch):
    spec = [(f"f{i}", "integer") for i in range(256)]
    with pytest.raises(QgsProcessingException, match="at most 255 fields"):
        TableOutput(ALG, {"OUTPUT": str(tmp_path / "wide.shp")}, "OUTPUT", context_with(), spec, BNG, "", "point")
    assert list(tmp_path.iterdir()) == []
    # A limit the test can reach: the check is the same at 2 GB.
    monkeypatch.setattr(shapefile, "MAX_FILE_BYTES", 100 + 3 * 28)
    out = TableOutput(ALG, {"OUTPUT": str(tmp_path / "t.shp")}, "OUTPUT", context_with(), [("n", "integer")], BNG)
    out.add({"n": [1, 2, 3]}, np.zeros(3), np.zeros(3))
    with pytest.raises(QgsProcessingException, match="at most 2 GB"):
        out.add({"n": [4]}, np.zeros(1), np.zeros(1))
    out.abort()
    assert list(tmp_path.iterdir()) == []


def test_a_table_without_geometry_still_goes_through_the_sink_with_the_chosen_encoding(tmp_path):
    dest = QgsProcessingOutputLayerDefinition(str(tmp_path / "t.shp"))
    dest.createOptions = {"fileEncoding": "windows-1252"}
    out = TableOutput(ALG, {"OUTPUT": dest}, "OUTPUT", context_with("UTF-8"), [("t", "string")], None)
    assert isinstance(out._destination, output._SinkDestination)
    out.add({"t": ["Café €"]})
    out.commit()
    assert (tmp_path / "t.cpg").read_bytes() == b"1252"
    assert "Café €".encode("cp1252") in (tmp_path / "t.dbf").read_bytes()


def test_no_rows_and_rows_without_coordinates_are_written_as_the_sink_writes_them(tmp_path):
    spec = [("n", "integer")]
    for label, columns, rows in (("none", {"n": []}, []), ("unlocated", {"n": [1, 2]}, [[1], [2]])):
        ours, theirs = tmp_path / label / "ours.shp", tmp_path / label / "theirs.shp"
        ours.parent.mkdir()
        out = TableOutput(ALG, {"OUTPUT": str(ours)}, "OUTPUT", context_with(), spec, BNG, "", "point")
        assert isinstance(out._destination, output._ShapefileDestination)
        out.add(columns)
        out.commit()
        sink_write(theirs, spec, rows, [None] * len(rows), QgsWkbTypes.Point, None)
        assert layer_files(ours) == layer_files(theirs)
        assert QgsVectorLayer(str(ours), "t", "ogr").featureCount() == len(rows)


def test_the_encoding_chosen_for_the_output_is_the_one_its_text_is_written_in(tmp_path):
    # The Processing dialog passes its encoding in the output's create options; it wins over the context's.
    spec = [("t", "string")]
    ours, theirs = tmp_path / "ours" / "t.shp", tmp_path / "theirs" / "t.shp"
    ours.parent.mkdir()
    theirs.parent.mkdir()
    values = ["Café €", "plain"]
    geoms = [QgsGeometry.fromPointXY(QgsPointXY(1, 2))] * 2
    for path, bulk in ((ours, True), (theirs, False)):
        dest = QgsProcessingOutputLayerDefinition(str(path))
        dest.createOptions = {"fileEncoding": "windows-1252"}
        context = context_with("UTF-8")
        if bulk:
            out = TableOutput(ALG, {"OUTPUT": dest}, "OUTPUT", context, spec, BNG, "", "point")
            out.add({"t": values}, np.array([1.0, 1.0]), np.array([2.0, 2.0]))
            out.commit()
        else:
            fields = qgs_fields(spec)
            sink, _ = ALG.parameterAsSink({"OUTPUT": dest}, "OUTPUT", context, fields, QgsWkbTypes.Point, BNG)
            for v, g in zip(values, geoms):
                f = QgsFeature(fields)
                f.setAttributes([v])
                f.setGeometry(g)
                sink.addFeature(f)
            del sink
    assert layer_files(ours) == layer_files(theirs)
    assert "Café €".encode("cp1252") in layer_files(ours)[".dbf"]
