"""Read a point layer's coordinates, months and a few text columns as numpy arrays through GDAL's Arrow stream.

Iterating QgsFeatures costs several microseconds a point, more than counting a point into a ward.
GDAL 3.6 and later hand a layer over in column batches (RFC 86, `GetArrowStreamAsNumPy`): points arrive
as fixed-width WKB, dates as datetime64 and text as bytes, with no Python object per row. Older GDAL
or an unusual layout raises `BulkReadUnavailableError`, and the caller reads feature by feature instead.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from osgeo import ogr

from crime_mapping_plugin.core.ward_counts import month_numbers

ogr.UseExceptions()


class BulkReadUnavailableError(Exception):
    """The layer cannot be read in bulk here; read it feature by feature."""


def _wkb_points(geom: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return x, y of WKB points given as a fixed-width void array or an object array of bytes."""
    n = len(geom)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    if n == 0:
        return x, y
    if geom.dtype.kind == "V":
        width = geom.dtype.itemsize
        raw = np.frombuffer(geom.tobytes(), dtype=np.uint8).reshape(n, width)
        groups = [(np.arange(n), raw)]
    else:
        blobs = [b if isinstance(b, (bytes, bytearray)) else b"" for b in geom]
        lengths = np.fromiter((len(b) for b in blobs), dtype=np.int64, count=n)
        groups = []
        for length in np.unique(lengths):
            if length < 21:
                continue
            idx = np.flatnonzero(lengths == length)
            raw = np.frombuffer(b"".join(blobs[i] for i in idx), dtype=np.uint8).reshape(len(idx), int(length))
            groups.append((idx, raw))
    for idx, raw in groups:
        if raw.shape[1] < 21:
            continue
        for order, endian in ((1, "<"), (0, ">")):
            sel = np.flatnonzero(raw[:, 0] == order)
            if len(sel) == 0:
                continue
            sub = raw[sel]
            gtype = sub[:, 1:5].copy().view(endian + "u4").ravel()
            # Point, Point Z/M/ZM (ISO 1001.. and the EWKB 0x80000000/0x40000000 flags): x, y come first.
            is_point = ((gtype & 0x0FFFFFFF) % 1000) == 1
            coords = sub[:, 5:21].copy().view(endian + "f8").reshape(len(sel), 2)
            x[idx[sel[is_point]]] = coords[is_point, 0]
            y[idx[sel[is_point]]] = coords[is_point, 1]
    return x, y


def _months(values: np.ndarray) -> np.ndarray:
    """Return month numbers (year * 12 + month - 1; -1 when missing) of a date or datetime column."""
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else np.zeros(len(values), bool)
    data = np.ma.getdata(values)
    if data.dtype.kind != "M":
        # Month as text ('2024-10', '202410', '2024-10-01'): parse each distinct value once.
        return month_numbers(_texts(values))
    nat = np.isnat(data)
    months = data.astype("datetime64[M]").astype(np.int64) + 1970 * 12
    months[mask | nat] = -1
    return months


def _texts(values: np.ndarray) -> list:
    """Return a text column as Python strings, None for NULL."""
    mask = np.ma.getmaskarray(values) if isinstance(values, np.ma.MaskedArray) else np.zeros(len(values), bool)
    data = np.ma.getdata(values)
    # Decode each distinct value once: a crime-type column holds a handful of labels.
    uniq, inverse = np.unique(data, return_inverse=True)
    decoded = [u.decode("utf-8", "replace") if isinstance(u, bytes) else (None if u is None else str(u)) for u in uniq]
    out = [decoded[i] for i in inverse.ravel()]
    for i in np.flatnonzero(mask):
        out[i] = None
    return out


def read_points(
    path: str, layer_name: str, text_columns: Sequence[str], month_column: str | None
) -> tuple[np.ndarray, np.ndarray, dict[str, list], np.ndarray]:
    """Return x, y (NaN without a point), text columns and month numbers (-1 without) of a point layer."""
    if not hasattr(ogr.Layer, "GetArrowStreamAsNumPy"):
        raise BulkReadUnavailableError("GDAL is older than 3.6")
    ds = ogr.Open(path)
    if ds is None:
        raise BulkReadUnavailableError(f"GDAL cannot open {path}")
    layer = ds.GetLayerByName(layer_name) if layer_name else ds.GetLayer(0)
    if layer is None:
        raise BulkReadUnavailableError(f"{path} has no layer '{layer_name}'")
    defn = layer.GetLayerDefn()
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    wanted = list(text_columns) + ([month_column] if month_column else [])
    missing = [w for w in wanted if w not in names]
    if missing:
        raise BulkReadUnavailableError(f"no field {', '.join(missing)}")
    layer.SetIgnoredFields([n for n in names if n not in wanted])
    geom_name = layer.GetGeometryColumn() or "wkb_geometry"
    xs, ys, months = [], [], []
    texts: dict[str, list] = {c: [] for c in text_columns}
    try:
        stream = layer.GetArrowStreamAsNumPy(options=["MAX_FEATURES_IN_BATCH=1000000"])
        for batch in stream:
            geom = batch.get(geom_name)
            if geom is None:
                raise BulkReadUnavailableError("the layer has no geometry column in its Arrow stream")
            x, y = _wkb_points(np.ma.getdata(geom) if isinstance(geom, np.ma.MaskedArray) else geom)
            if isinstance(geom, np.ma.MaskedArray):
                gone = np.ma.getmaskarray(geom)
                x[gone] = np.nan
                y[gone] = np.nan
            xs.append(x)
            ys.append(y)
            if month_column:
                months.append(_months(batch[month_column]))
            for c in text_columns:
                texts[c].extend(_texts(batch[c]))
    finally:
        layer.SetIgnoredFields([])
        ds = None
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    month = np.concatenate(months) if months else np.full(len(x), -1, dtype=np.int64)
    return x, y, texts, month


def read_table(path: str, layer_name: str, columns: Sequence[str], month_column: str | None) -> dict[str, object]:
    """Return columns of a GDAL layer: numbers as float arrays (NaN for NULL), text as lists, the month as numbers."""
    if not hasattr(ogr.Layer, "GetArrowStreamAsNumPy"):
        raise BulkReadUnavailableError("GDAL is older than 3.6")
    ds = ogr.Open(path)
    if ds is None:
        raise BulkReadUnavailableError(f"GDAL cannot open {path}")
    layer = ds.GetLayerByName(layer_name) if layer_name else ds.GetLayer(0)
    if layer is None:
        raise BulkReadUnavailableError(f"{path} has no layer '{layer_name}'")
    defn = layer.GetLayerDefn()
    kinds = {defn.GetFieldDefn(i).GetName(): defn.GetFieldDefn(i).GetType() for i in range(defn.GetFieldCount())}
    wanted = list(columns) + ([month_column] if month_column else [])
    missing = [w for w in wanted if w not in kinds]
    if missing:
        raise BulkReadUnavailableError(f"no field {', '.join(missing)}")
    layer.SetIgnoredFields([n for n in kinds if n not in wanted] + ["OGR_GEOMETRY"])
    parts: dict[str, list] = {c: [] for c in wanted}
    numeric = (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)
    try:
        for batch in layer.GetArrowStreamAsNumPy(options=["MAX_FEATURES_IN_BATCH=1000000"]):
            for c in wanted:
                values = batch[c]
                if c == month_column:
                    parts[c].append(_months(values))
                elif kinds[c] in numeric:
                    data = np.ma.getdata(values).astype(float)
                    if isinstance(values, np.ma.MaskedArray):
                        data[np.ma.getmaskarray(values)] = np.nan
                    parts[c].append(data)
                else:
                    parts[c].append(_texts(values))
    finally:
        layer.SetIgnoredFields([])
        ds = None
    out: dict[str, object] = {}
    for c in wanted:
        if c == month_column or kinds[c] in numeric:
            out[c] = np.concatenate(parts[c]) if parts[c] else np.zeros(0)
        else:
            out[c] = [v for part in parts[c] for v in part]
    return out
