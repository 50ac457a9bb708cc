"""The I/O floor of a benchmark: read the points and write the output with the plainest code, in this process.

No algorithm can take less than the time to read its input and write its output, so each benchmark row
states that floor beside our time. Reading is OGR's own column reader (the Arrow stream, GDAL ≥ 3.6),
writing is GDAL creating the GeoPackage table and SQLite inserting ready rows in one transaction (no
spatial index: the floor is a lower bound). Nothing here uses the plugin.
"""

from __future__ import annotations

import os
import sqlite3
import struct
import time
from pathlib import Path
from typing import Sequence

import numpy as np
from osgeo import gdal, ogr, osr

ogr.UseExceptions()
osr.UseExceptions()

_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])


def read_points(path: str | Path, columns: Sequence[str] = ()) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """Read the points (and columns) of a file's first layer through OGR's Arrow stream; return time, x, y, columns."""
    start = time.perf_counter()
    ds = ogr.Open(str(path))
    layer = ds.GetLayer(0)
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    layer.SetIgnoredFields([n for n in names if n not in columns])
    geom_name = layer.GetGeometryColumn() or "wkb_geometry"
    xs, ys, values = [], [], {c: [] for c in columns}
    for batch in layer.GetArrowStreamAsNumPy(options=["MAX_FEATURES_IN_BATCH=1000000"]):
        x, y = _points(batch[geom_name])
        xs.append(x)
        ys.append(y)
        for c in columns:
            values[c].append(batch[c])
    del ds
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    out = {c: np.concatenate(v) for c, v in values.items()}
    return time.perf_counter() - start, x, y, out


def read_csv(path: str | Path) -> tuple[float, np.ndarray, np.ndarray, dict]:
    """Read a CSV file (or every CSV under a folder) through OGR: points from Longitude/Latitude, other fields as text.

    Return the time, x, y (NaN without a point) and the columns (bytes) of every row.
    """
    start = time.perf_counter()
    paths = [Path(path)] if Path(path).is_file() else sorted(Path(path).rglob("*.csv"))
    xs, ys, values = [], [], {}
    options = ["X_POSSIBLE_NAMES=Longitude", "Y_POSSIBLE_NAMES=Latitude", "KEEP_GEOM_COLUMNS=NO"]
    for p in paths:
        ds = gdal.OpenEx(str(p), gdal.OF_VECTOR, open_options=options)
        layer = ds.GetLayer(0)
        geom_name = layer.GetGeometryColumn() or "wkb_geometry"
        for batch in layer.GetArrowStreamAsNumPy(options=["MAX_FEATURES_IN_BATCH=1000000", "INCLUDE_FID=NO"]):
            x, y = _points(batch.pop(geom_name))
            xs.append(x)
            ys.append(y)
            for name, column in batch.items():
                values.setdefault(name, []).append(column)
        del ds
    columns = {name: np.concatenate(parts) for name, parts in values.items()}
    return time.perf_counter() - start, np.concatenate(xs), np.concatenate(ys), columns


def _points(geom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return x, y of WKB points, fixed-width or objects (NaN where a row has none)."""
    x = np.full(len(geom), np.nan)
    y = np.full(len(geom), np.nan)
    data = np.ma.getdata(geom)
    if data.dtype.kind in "SV":  # fixed width: read the bytes as they are (numpy strips trailing NULs of bytes_)
        have = np.flatnonzero(~np.ma.getmaskarray(geom))
        raw = np.frombuffer(data.tobytes(), dtype=np.uint8).reshape(len(data), data.dtype.itemsize)[have]
    else:
        have = np.flatnonzero([g is not None and len(g) >= 21 for g in data])
        raw = np.frombuffer(b"".join(bytes(data[i][:21]) for i in have), dtype=np.uint8).reshape(len(have), 21)
    if len(have):
        coords = raw[:, 5:21].copy().view("<f8")
        x[have], y[have] = coords[:, 0], coords[:, 1]
    return x, y


def write_points(path: str | Path, x: np.ndarray, y: np.ndarray, columns: dict[str, Sequence] | None = None) -> float:
    """Write points (and text columns) as a GeoPackage layer: GDAL makes the table, SQLite inserts; return the time."""
    columns = columns or {}
    path = Path(path)
    for suffix in ("", "-journal"):
        if Path(f"{path}{suffix}").exists():
            os.remove(f"{path}{suffix}")
    start = time.perf_counter()
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    ds = ogr.GetDriverByName("GPKG").CreateDataSource(str(path))
    layer = ds.CreateLayer("floor", srs, ogr.wkbPoint, options=["SPATIAL_INDEX=NO", "GEOMETRY_NAME=geom"])
    for name in columns:
        layer.CreateField(ogr.FieldDefn(name, ogr.OFTString))
    layer = ds = None
    db = sqlite3.connect(str(path))
    db.execute("PRAGMA synchronous=OFF")
    db.execute("PRAGMA journal_mode=MEMORY")
    srs_id = db.execute("SELECT srs_id FROM gpkg_geometry_columns WHERE table_name='floor'").fetchone()[0]
    header = struct.pack("<2sBBi", b"GP", 0, 1, srs_id)
    points = np.zeros(len(x), dtype=_POINT)
    points["order"], points["type"], points["x"], points["y"] = 1, 1, x, y
    raw = points.tobytes()
    size = _POINT.itemsize
    blobs = (header + raw[i * size : (i + 1) * size] for i in range(len(x)))
    names = ", ".join(["geom", *(f'"{c}"' for c in columns)])
    marks = ", ".join("?" * (1 + len(columns)))
    values = [list(v) if isinstance(v, list) else np.asarray(v).tolist() for v in columns.values()]
    db.executemany(f"INSERT INTO floor ({names}) VALUES ({marks})", zip(blobs, *values))
    db.commit()
    db.close()
    return time.perf_counter() - start
