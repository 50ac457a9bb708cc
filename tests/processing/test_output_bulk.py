"""Bulk-written cell outputs hold exactly what an ordinary feature-sink write of the same cells holds.

The reference is written here the plain way a Processing script would: one QgsFeature per cell with its fields,
every value converted on its own, through QgsVectorFileWriter. Both files are read back with OGR (not through
the plugin) and compared row by row: values, NULLs, field types and geometries; the GeoPackage's R-tree is
checked against each geometry's envelope, and each blob's own envelope against its geometry.
"""

from __future__ import annotations

import math
import sqlite3
import struct
from collections import Counter

import numpy as np
import pytest
from osgeo import ogr
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransformContext,
    QgsFeature,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsVectorFileWriter,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import cells, crime_points
from crime_mapping_plugin.processing import gistar_hotspots
from crime_mapping_plugin.processing.base import new_field
from crime_mapping_plugin.processing.output import TableOutput
from tests.conftest import TEST_DATA
from tests.processing.test_gistar_hotspots import point_layer

ogr.UseExceptions()
REF = np.load(TEST_DATA / "gistar_reference.npz")
ALG = "crimemapping:gistarhotspots"
# City of London's real crimes: 100 m squares (1,200 cells) and 150 m hexagons (670 cells), as the esda reference.
CASES = [("square", 0, 100.0), ("hexagon", 1, 150.0)]
REF_CASE = {"square": "city_square_100", "hexagon": "city_hex_150"}


def reference_write(path: str, driver: str, shape: str, size: float) -> None:
    """Compute Gi* on the same points and write it one feature at a time through QgsVectorFileWriter."""
    x, y = REF["city_px"].astype(float), REF["city_py"].astype(float)
    points = crime_points.CrimePoints(x, y, None, None, len(x), Counter())
    analysis = cells.gistar_hotspots(cells.GiStarRequest(cells.CellRequest(points, shape, size)))
    fields = QgsFields()
    fields.append(new_field("cell_id", QVariant.String))
    for name, kind in gistar_hotspots.EXTRA:
        fields.append(new_field(name, kind))
    options = QgsVectorFileWriter.SaveVectorOptions()
    options.driverName = driver
    writer = QgsVectorFileWriter.create(
        path,
        fields,
        QgsWkbTypes.MultiPolygon,
        QgsCoordinateReferenceSystem("EPSG:27700"),
        QgsCoordinateTransformContext(),
        options,
    )
    columns = {"cell_id": analysis.counted.cells.attributes["cell_id"], **gistar_hotspots.columns(analysis)}
    # The cells' corners (core.gistar's grid, tested there), encoded by QGIS rather than by the plugin's WKB code.
    rings = analysis.counted.cells.grid.vertices().tolist()
    for row in range(len(analysis.counts)):
        values = []
        for name in fields.names():
            v = columns[name][row]
            if isinstance(v, (float, np.floating)):
                v = None if math.isnan(v) else float(v)
            elif isinstance(v, np.integer):
                v = int(v)
            values.append(v)
        feature = QgsFeature(fields)
        feature.setAttributes(values)
        feature.setGeometry(QgsGeometry.fromMultiPolygonXY([[[QgsPointXY(px, py) for px, py in rings[row]]]]))
        assert writer.addFeature(feature)
    del writer


def ogr_read(path: str) -> tuple[list[tuple], list[tuple]]:
    """Return (name, type, subtype, width, precision) of each field and (fid, values, ISO WKB) of each row."""
    ds = ogr.Open(path)
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    fields = []
    for i in range(defn.GetFieldCount()):
        f = defn.GetFieldDefn(i)
        fields.append((f.GetName(), f.GetTypeName(), f.GetSubType(), f.GetWidth(), f.GetPrecision()))
    rows = []
    for feature in layer:
        values = tuple(
            feature.GetField(i) if feature.IsFieldSetAndNotNull(i) else None for i in range(defn.GetFieldCount())
        )
        geom = feature.GetGeometryRef()
        rows.append((feature.GetFID(), values, None if geom is None else bytes(geom.ExportToIsoWkb())))
    return fields, rows


def run_gistar(run_alg, output: str, cell_kind: int, size: float):
    params = {"INPUT": point_layer(REF["city_px"], REF["city_py"]), "CELLS": cell_kind, "CELL_SIZE": size}
    return run_alg(ALG, {**params, "OUTPUT": output})["OUTPUT"]


@pytest.mark.parametrize(("shape", "cell_kind", "size"), CASES, ids=[c[0] for c in CASES])
@pytest.mark.parametrize("driver", ["GPKG", "ESRI Shapefile"], ids=["geopackage", "shapefile"])
def test_bulk_output_holds_what_the_feature_sink_writes(run_alg, tmp_path, shape, cell_kind, size, driver):
    ext = "gpkg" if driver == "GPKG" else "shp"
    ours, theirs = str(tmp_path / f"ours.{ext}"), str(tmp_path / f"theirs.{ext}")
    run_gistar(run_alg, ours, cell_kind, size)
    reference_write(theirs, driver, shape, size)
    our_fields, our_rows = ogr_read(ours)
    their_fields, their_rows = ogr_read(theirs)
    assert our_fields == their_fields
    assert len(our_rows) == len(their_rows) == len(REF[REF_CASE[shape] + "_cx"])
    assert our_rows == their_rows  # fids, every value and NULL, geometries byte for byte
    nulls = [i for i, (_, values, _) in enumerate(our_rows) if values[4] is None]  # gi_z of cells without neighbours
    assert all(our_rows[i][1][7] == "No neighbours" for i in nulls)


@pytest.mark.parametrize(("shape", "cell_kind", "size"), CASES, ids=[c[0] for c in CASES])
def test_memory_output_holds_what_the_feature_sink_writes(run_alg, tmp_path, shape, cell_kind, size):
    layer = run_gistar(run_alg, "TEMPORARY_OUTPUT", cell_kind, size)
    theirs = str(tmp_path / "theirs.gpkg")
    reference_write(theirs, "GPKG", shape, size)
    their_fields, their_rows = ogr_read(theirs)
    kinds = {"String": 10, "Integer": 2, "Real": 6}  # QVariant types of the OGR field types
    assert [(f.name(), int(f.type())) for f in layer.fields()] == [(f[0], kinds[f[1]]) for f in their_fields]
    got = []
    for feature in layer.getFeatures():
        values = tuple(None if v is None or (hasattr(v, "isNull") and v.isNull()) else v for v in feature.attributes())
        got.append((values, bytes(feature.geometry().asWkb())))
    assert got == [(values, wkb) for _, values, wkb in their_rows]


@pytest.mark.parametrize(("shape", "cell_kind", "size"), CASES, ids=[c[0] for c in CASES])
def test_geopackage_blobs_carry_their_envelope_and_the_rtree_holds_every_cell(
    run_alg, tmp_path, shape, cell_kind, size
):
    out = str(tmp_path / "cells.gpkg")
    run_gistar(run_alg, out, cell_kind, size)
    _, rows = ogr_read(out)
    envelopes = {fid: ogr.CreateGeometryFromWkb(wkb).GetEnvelope() for fid, _, wkb in rows}  # minx, maxx, miny, maxy
    db = sqlite3.connect(out)
    try:
        assert db.execute("SELECT rtreecheck('rtree_cells_geom')").fetchone()[0] == "ok"
        index = {r[0]: r[1:] for r in db.execute("SELECT id, minx, maxx, miny, maxy FROM rtree_cells_geom")}
        blobs = dict(db.execute("SELECT fid, geom FROM cells"))
        srs_id = db.execute("SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = 'cells'").fetchone()[0]
        contents = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents").fetchone()
    finally:
        db.close()
    assert sorted(index) == sorted(envelopes)
    for fid, (minx, maxx, miny, maxy) in envelopes.items():
        lo_x, hi_x, lo_y, hi_y = index[fid]
        # float32 bounds rounded outwards: they contain the cell and are within a float32 step of it.
        assert lo_x <= minx and hi_x >= maxx and lo_y <= miny and hi_y >= maxy
        assert max(minx - lo_x, hi_x - maxx, miny - lo_y, hi_y - maxy) < 0.07
        magic, version, flags, srs = struct.unpack_from("<2sBBi", blobs[fid])
        assert (magic, version, flags, srs) == (b"GP", 0, 0b011, srs_id)  # little endian, x/y envelope
        assert struct.unpack_from("<4d", blobs[fid], 8) == (minx, maxx, miny, maxy)
    all_env = np.array(list(envelopes.values()))
    assert contents == (all_env[:, 0].min(), all_env[:, 2].min(), all_env[:, 1].max(), all_env[:, 3].max())
    # QGIS reads the blobs (header with envelope) as the same cells.
    from qgis.core import QgsVectorLayer

    layer = QgsVectorLayer(out, "cells", "ogr")
    assert [bytes(f.geometry().asWkb()) for f in layer.getFeatures()] == [wkb for _, _, wkb in rows]


class _Alg:
    """What TableOutput asks of an algorithm, for a direct test of the column conversion."""

    def __init__(self, definition):
        self._definition = definition

    def parameterDefinition(self, name):  # noqa: N802
        return self._definition


def test_numpy_columns_and_lists_write_the_same_rows(tmp_path):
    from qgis.core import QgsProcessingContext, QgsProcessingParameterFeatureSink
    from qgis.PyQt.QtCore import QDate

    sink = QgsProcessingParameterFeatureSink("OUTPUT", "out")
    context = QgsProcessingContext()
    spec = [("n", "integer"), ("v", "double"), ("t", "string"), ("d", "date")]
    as_arrays = {
        "n": np.array([1, 2, 3], np.int64),
        "v": np.array([0.5, np.nan, -2.0]),
        "t": np.array(["a", "b", None], dtype=object),
        "d": ["2024-01-01", None, "2024-03-01"],
    }
    as_lists = {
        "n": [True, 2, 3],  # a bool is written as 0 or 1
        "v": [0.5, None, -2.0],
        "t": ["a", "b", None],
        "d": [QDate(2024, 1, 1), None, QDate(2024, 3, 1)],
    }
    paths = []
    for name, columns in (("arrays", as_arrays), ("lists", as_lists)):
        path = str(tmp_path / f"{name}.gpkg")
        out = TableOutput(_Alg(sink), {"OUTPUT": path}, "OUTPUT", context, spec, None)
        out.add(columns)
        out.commit()
        paths.append(path)
    a, b = ogr_read(paths[0]), ogr_read(paths[1])
    assert a == b
    assert [r[1] for r in a[1]] == [(1, 0.5, "a", "2024/01/01"), (2, None, "b", None), (3, -2.0, None, "2024/03/01")]
