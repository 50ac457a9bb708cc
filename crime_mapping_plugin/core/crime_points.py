"""Read crime points with an optional weight and month from a vector source, as numpy arrays.

A year of London crime is a million points; one QgsFeature per point from Python costs several
seconds. A plain OGR file layer (the import's GeoPackage, a shapefile) is read column-wise through
GDAL's Arrow interface instead; any other source (a selection, a filter, a database, a memory layer)
goes through the ordinary feature iterator. Both return the same thing, and every feature is either a
point in the result or counted under a reason.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable

import numpy as np

# WKB point, little endian: byte order, type 1, x, y.
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
_MONTH = re.compile(r"^\s*(\d{4})-(\d{1,2})")

NO_GEOMETRY = "no point geometry"
NO_WEIGHT = "weight missing or not a number"


@dataclass
class CrimePoints:
    """Points (one per crime, in the source CRS), their weights and months (year·12 + month − 1, −1 if unknown).

    read counts the points read (a multipoint counts once per part); read = len(x) + sum(left_out).
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None
    month: np.ndarray | None
    read: int = 0
    left_out: Counter = field(default_factory=Counter)

    def months_present(self) -> list[str]:
        """Return the distinct known months as YYYY-MM, in order."""
        if self.month is None:
            return []
        known = np.unique(self.month[self.month >= 0])
        return [f"{m // 12:04d}-{m % 12 + 1:02d}" for m in known.tolist()]


def month_index(value) -> int:
    """Return year·12 + month − 1 for a date, datetime or 'YYYY-MM…' string; −1 when there is none."""
    if value is None:
        return -1
    if hasattr(value, "isNull") and value.isNull():
        return -1
    if hasattr(value, "date") and hasattr(value, "time") and callable(value.date):  # QDateTime
        value = value.date()
    if hasattr(value, "year") and hasattr(value, "month"):
        year = value.year() if callable(value.year) else value.year
        month = value.month() if callable(value.month) else value.month
        return int(year) * 12 + int(month) - 1 if year and 1 <= month <= 12 else -1
    match = _MONTH.match(str(value))
    if match and 1 <= int(match.group(2)) <= 12:
        return int(match.group(1)) * 12 + int(match.group(2)) - 1
    return -1


def _month_column(values: np.ndarray) -> np.ndarray:
    if np.ma.isMaskedArray(values):
        mask = np.ma.getmaskarray(values)
        values = np.ma.getdata(values)
    else:
        mask = np.zeros(len(values), dtype=bool)
    if np.issubdtype(values.dtype, np.datetime64):
        nat = np.isnat(values)
        out = values.astype("datetime64[M]").astype(np.int64) + 1970 * 12
        out[nat | mask] = -1
        return out
    out = np.array([month_index(v.decode() if isinstance(v, bytes) else v) for v in values], dtype=np.int64)
    out[mask] = -1
    return out


def _weight_column(values: np.ndarray) -> np.ndarray:
    mask = np.ma.getmaskarray(values) if np.ma.isMaskedArray(values) else np.zeros(len(values), dtype=bool)
    data = np.ma.getdata(values)
    try:
        out = data.astype(float)
    except (TypeError, ValueError):
        out = np.array([_to_float(v) for v in data], dtype=float)
    out[mask] = np.nan
    return out


def _to_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _wkb_points(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return x, y of WKB point geometries (NaN for anything else)."""
    if geoms.dtype.kind == "V" and geoms.dtype.itemsize == _WKB_POINT.itemsize:
        parsed = np.frombuffer(geoms.tobytes(), dtype=_WKB_POINT)
        ok = (parsed["order"] == 1) & (parsed["type"] == 1)
        return np.where(ok, parsed["x"], np.nan), np.where(ok, parsed["y"], np.nan)
    from osgeo import ogr

    x = np.full(len(geoms), np.nan)
    y = np.full(len(geoms), np.nan)
    for i, wkb in enumerate(geoms):
        if wkb is None or wkb is np.ma.masked or len(wkb) == 0:
            continue
        geom = ogr.CreateGeometryFromWkb(bytes(wkb))
        if geom is not None and ogr.GT_Flatten(geom.GetGeometryType()) == ogr.wkbPoint and not geom.IsEmpty():
            x[i], y[i] = geom.GetX(), geom.GetY()
    return x, y


def read_ogr_points(
    path: str,
    layer_name: str | None,
    weight_field: str | None,
    month_field: str | None,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> CrimePoints | None:
    """Read a file layer column-wise through GDAL's Arrow interface; None when GDAL cannot."""
    from osgeo import ogr

    if not hasattr(ogr.Layer, "GetArrowStreamAsNumPy"):  # GDAL < 3.6
        return None
    dataset = ogr.Open(path)
    if dataset is None:
        return None
    layer = dataset.GetLayerByName(layer_name) if layer_name else dataset.GetLayer(0)
    if layer is None or not layer.GetGeometryColumn():
        return None
    defn = layer.GetLayerDefn()
    wanted = {f for f in (weight_field, month_field) if f}
    names = [defn.GetFieldDefn(i).GetName() for i in range(defn.GetFieldCount())]
    if not wanted <= set(names):
        return None
    layer.SetIgnoredFields([n for n in names if n not in wanted])
    geom_name = layer.GetGeometryColumn()
    xs, ys, ws, ms = [], [], [], []
    try:
        # Not INCLUDE_FID=NO: GDAL 3.6 then returns empty geometries for a layer without other fields.
        stream = layer.GetArrowStreamAsNumPy()
    except (RuntimeError, AttributeError):
        return None
    for batch in stream:
        if is_cancelled():
            return None
        x, y = _wkb_points(np.asarray(batch[geom_name]))
        xs.append(x)
        ys.append(y)
        if weight_field:
            ws.append(_weight_column(batch[weight_field]))
        if month_field:
            ms.append(_month_column(batch[month_field]))
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    weight = np.concatenate(ws) if weight_field else None
    month = np.concatenate(ms) if month_field else None
    if weight_field and not ws:
        weight = np.zeros(0)
    if month_field and not ms:
        month = np.zeros(0, dtype=np.int64)
    if len(x) and not np.isfinite(x).any():
        layer.ResetReading()
        first = layer.GetNextFeature()
        if first is not None and first.GetGeometryRef() is not None:
            return None  # GDAL lost the geometries: let the feature iterator read them
    return _finish(x, y, weight, month)


def _finish(x: np.ndarray, y: np.ndarray, weight: np.ndarray | None, month: np.ndarray | None) -> CrimePoints:
    read = len(x)
    left_out: Counter = Counter()
    keep = np.isfinite(x) & np.isfinite(y)
    left_out[NO_GEOMETRY] = int((~keep).sum())
    if weight is not None:
        bad = keep & ~np.isfinite(weight)
        left_out[NO_WEIGHT] = int(bad.sum())
        keep &= ~bad
    left_out = Counter({k: v for k, v in left_out.items() if v})
    return CrimePoints(
        x[keep],
        y[keep],
        None if weight is None else weight[keep],
        None if month is None else month[keep],
        read,
        left_out,
    )


def read_feature_points(
    features,
    weight_field: str | None,
    month_field: str | None,
    transform=None,
    is_cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
    total: int = 0,
) -> CrimePoints | None:
    """Read QgsFeatures one by one (multipoints give one point per part); None when cancelled."""
    xs: list[float] = []
    ys: list[float] = []
    ws: list[float] = []
    ms: list[int] = []
    for count, feature in enumerate(features, start=1):
        if count % 10000 == 0:
            if is_cancelled():
                return None
            if progress is not None and total:
                progress(min(1.0, count / total))
        weight = _to_float(feature[weight_field]) if weight_field else 1.0
        month = month_index(feature[month_field]) if month_field else -1
        geom = feature.geometry()
        points = []
        if geom is not None and not geom.isNull() and not geom.isEmpty():
            if transform is not None:
                geom.transform(transform)
            if geom.isMultipart():
                points = [(p.x(), p.y()) for p in geom.asMultiPoint()] if geom.type() == 0 else []
            elif geom.type() == 0:
                p = geom.asPoint()
                points = [(p.x(), p.y())]
        if not points:
            points = [(np.nan, np.nan)]
        for px, py in points:
            xs.append(px)
            ys.append(py)
            ws.append(weight)
            ms.append(month)
    return _finish(
        np.array(xs, dtype=float),
        np.array(ys, dtype=float),
        np.array(ws, dtype=float) if weight_field else None,
        np.array(ms, dtype=np.int64) if month_field else None,
    )


def core_size(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Return the width and height spanned by the central 99 % of points on each axis."""
    return (
        float(np.subtract(*np.percentile(x, [99.5, 0.5]))),
        float(np.subtract(*np.percentile(y, [99.5, 0.5]))),
    )


def stretched_by_outliers(x: np.ndarray, y: np.ndarray) -> bool:
    """Return True when a few far-off points (police.uk has some) stretch the extent over 3x that of the rest."""
    if len(x) < 200:
        return False
    width, height = core_size(x, y)
    return bool(np.ptp(x) > 3 * width or np.ptp(y) > 3 * height)
