"""Read crime points and a few of their columns from a vector layer as numpy arrays, in bulk where GDAL can.

A year of London crime is a million points; one QgsFeature per point from Python costs several
seconds, more than counting a point into a ward. GDAL 3.6 and later hand a plain OGR file layer (the
import's GeoPackage, a shapefile) over in column batches (RFC 86, `GetArrowStreamAsNumPy`): points
arrive as WKB, dates as datetime64 and text as bytes, with no Python object per row. Older GDAL or an
unusual layout raises `BulkReadUnavailableError`. A PostGIS layer's rows come by one SQL query through
GDAL's PG driver into the same column reader (core/postgis.py). Any other source (a selection or a filter
of a file, an edited or memory layer) goes through the ordinary feature iterator; all return the same thing.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping, Sequence

import numpy as np
from osgeo import ogr

from crime_mapping_plugin.core import months
from crime_mapping_plugin.core.months import REASON_NO_MONTH, datetime_months, month_numbers

if TYPE_CHECKING:
    from qgis.core import QgsCoordinateReferenceSystem, QgsCoordinateTransformContext, QgsFeature, QgsFeatureSource

    from crime_mapping_plugin.core.postgis import PgSource

ogr.UseExceptions()

# Kinds of column read_ogr_table and read_feature_table return: a float array (NaN for NULL or not a number),
# month numbers (year·12 + month − 1, −1 when missing), a list of str (None for NULL), or by field type
# (numbers as floats, anything else as text; from features, a list of Python values).
NUMBER = "number"
MONTH = "month"
TEXT = "text"
AUTO = "auto"

# The reasons a crime read is left out of an analysis: one set, used by every algorithm's log and outputs.
NO_GEOMETRY = "no point geometry"
NO_WEIGHT = "weight missing or not a number"
NEGATIVE_WEIGHT = "weight below zero"
NO_MONTH = REASON_NO_MONTH
OUTSIDE_MONTHS = "outside the chosen months"
TYPE_NOT_SELECTED = "crime type or group not selected"
NOT_REPROJECTED = "could not be reprojected"
OUTSIDE_STUDY_AREA = "outside the study area"
OUTSIDE_AREAS = "outside every area"

IN_BULK = "in bulk through GDAL"
BY_FEATURE = "feature by feature"

# Rows per Arrow batch. In batches of 64k rows a million points of a GeoPackage read in about 0.10 s, against 0.15 to
# 0.20 s in one batch of a million (GDAL 3.6; smaller buffers are reused while they are still in cache); a cancel
# is also seen sooner.
BATCH_ROWS = 65536


class BulkReadUnavailableError(Exception):
    """The layer cannot be read in bulk here; read it feature by feature."""


@dataclass
class PointTable:
    """One row per point (per feature; per part of a multipoint when exploded), in the layer's CRS.

    x and y are NaN where a row has no point; columns holds each requested column by its kind; multipart
    counts the multipoint features (located at their first point unless exploded); multipart_points counts the
    points they hold, every part counted (each is a row when exploded); how says how it was read.
    """

    x: np.ndarray
    y: np.ndarray
    columns: dict
    multipart: int = 0
    how: str = ""
    multipart_points: int = 0


@dataclass
class CrimePoints:
    """Points (one per crime, in the source CRS), their weights and months (year·12 + month − 1, −1 if unknown).

    read counts the points read (a multipoint counts once per part); read = len(x) + sum(left_out) always.
    multipart counts the multipoint features read and multipart_points the points they gave.
    """

    x: np.ndarray
    y: np.ndarray
    weight: np.ndarray | None
    month: np.ndarray | None
    read: int = 0
    left_out: Counter = field(default_factory=Counter)
    multipart: int = 0
    multipart_points: int = 0

    @property
    def counted(self) -> int:
        """The number of points still in (not left out)."""
        return len(self.x)

    def weights(self) -> np.ndarray:
        """Return each point's weight, 1 for every point when no weight field was read."""
        return np.ones(len(self.x)) if self.weight is None else np.asarray(self.weight, float)

    def keep_only(self, keep: np.ndarray, reason: str) -> None:
        """Leave out the points where keep is False, counting them under reason."""
        keep = np.asarray(keep, dtype=bool)
        dropped = int((~keep).sum())
        if dropped == 0:
            return
        self.left_out[reason] += dropped
        self.x, self.y = self.x[keep], self.y[keep]
        if self.weight is not None:
            self.weight = self.weight[keep]
        if self.month is not None:
            self.month = self.month[keep]

    def balanced(self) -> bool:
        """True when every point read is counted or left out under exactly one reason."""
        return self.read == self.counted + sum(self.left_out.values())

    def multipart_note(self) -> str:
        """Say how many multipoint features gave how many crime points ('' when none)."""
        if not self.multipart:
            return ""
        return (
            f"{self.multipart} multipoint feature(s) gave {self.multipart_points} crime points: "
            "each part is one crime, with the feature's weight and month."
        )


def _to_float(value: object) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return float("nan")


def _mask_of(values: np.ndarray) -> np.ndarray:
    return np.ma.getmaskarray(values) if np.ma.isMaskedArray(values) else np.zeros(len(values), dtype=bool)


def _number_column(values: np.ndarray) -> np.ndarray:
    data = np.ma.getdata(values)
    try:
        out = data.astype(float)
    except (TypeError, ValueError):
        out = np.array([_to_float(v) for v in data], dtype=float)
    out[_mask_of(values)] = np.nan
    return out


def _text_column(values: np.ndarray) -> list:
    """Return a text column as Python strings, None for NULL."""
    mask = _mask_of(values)
    # Decode each distinct value once: a crime-type column holds a handful of labels.
    uniq, inverse = np.unique(np.ma.getdata(values), return_inverse=True)
    decoded = [u.decode("utf-8", "replace") if isinstance(u, bytes) else (None if u is None else str(u)) for u in uniq]
    out = [decoded[i] for i in inverse.ravel()]
    for i in np.flatnonzero(mask):
        out[i] = None
    return out


def _month_column(values: np.ndarray) -> np.ndarray:
    data = np.ma.getdata(values)
    if data.dtype.kind != "M":
        return month_numbers(_text_column(values))
    out = datetime_months(data)
    out[_mask_of(values)] = months.NO_MONTH
    return out


# EWKB's SRID flag on the geometry type: a 4-byte SRID follows the type. (EWKB's Z and M flags are 0x80000000 and
# 0x40000000; ISO adds 1000, 2000 or 3000 to the type for Z, M and ZM.)
_EWKB_SRID = 0x20000000
_POINT_SIZE = 21  # byte order (1), type (4), x and y (8 each)


def _field(flat: np.ndarray, rows: int, width: int, offset: int, dtype: str) -> np.ndarray:
    """Return one field of every fixed-width row of flat bytes as a strided view (no copy)."""
    return np.ndarray((rows,), dtype=dtype, buffer=flat, offset=offset, strides=(width,))


def _fixed_width_points(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return x, y and which rows hold some other WKB, for rows of WKB that all have one length (at least 21).

    Reads each field of every row as one strided view in place: no per-row Python, no copy of the rows.
    """
    rows, width = raw.shape
    flat = np.ascontiguousarray(raw).reshape(-1)
    order = flat[::width]
    little, big = order == 1, order == 0
    if little.all():  # the usual case (GDAL writes little-endian WKB): read one byte order only
        gtype = _field(flat, rows, width, 1, "<u4")
        if (gtype == 1).all():  # every row a 2D point: a GeoPackage or shapefile point layer
            x = _field(flat, rows, width, 5, "<f8").astype(np.float64)
            return x, _field(flat, rows, width, 13, "<f8").astype(np.float64), np.zeros(rows, dtype=bool)
    else:
        gtype = np.where(little, _field(flat, rows, width, 1, "<u4"), _field(flat, rows, width, 1, ">u4"))
    srid = (gtype & _EWKB_SRID) != 0
    # Point, Point Z/M/ZM (ISO 1001.. and the EWKB Z/M flags): x, y come first, after EWKB's SRID if there is one.
    is_point = (((gtype & 0x0FFFFFFF) % 1000) == 1) & (little | big)
    if width < _POINT_SIZE + 4:
        is_point &= ~srid
    x = np.full(rows, np.nan)
    y = np.full(rows, np.nan)
    for offset, these in ((5, is_point & ~srid), (9, is_point & srid)):
        if not these.any():
            continue
        for wanted, endian in ((little, "<"), (big, ">")):
            sel = these & wanted
            if sel.all():
                x[:] = _field(flat, rows, width, offset, endian + "f8")
                y[:] = _field(flat, rows, width, offset + 8, endian + "f8")
            elif sel.any():
                x[sel] = _field(flat, rows, width, offset, endian + "f8")[sel]
                y[sel] = _field(flat, rows, width, offset + 8, endian + "f8")[sel]
    return x, y, ~is_point & (little | big)


def _wkb_points(geom: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return x, y of WKB points (a fixed-width void array or an object array of bytes) and the other rows' WKB.

    x and y are NaN where a row holds no point; the third array lists the rows holding some other WKB.
    """
    n = len(geom)
    if n == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0, dtype=np.int64)
    if geom.dtype.kind == "V":
        # GDAL hands a column whose blobs all have one length over as one block of bytes: read it in place.
        width = geom.dtype.itemsize
        if width < _POINT_SIZE:
            return np.full(n, np.nan), np.full(n, np.nan), np.flatnonzero(np.full(n, width >= 9))
        x, y, other = _fixed_width_points(np.ascontiguousarray(geom).view(np.uint8).reshape(n, width))
        return x, y, np.flatnonzero(other)
    x = np.full(n, np.nan)
    y = np.full(n, np.nan)
    other = np.zeros(n, dtype=bool)
    blobs = [b if isinstance(b, (bytes, bytearray)) else b"" for b in geom]
    lengths = np.fromiter(map(len, blobs), dtype=np.int64, count=n)
    for length in np.unique(lengths):
        idx = np.flatnonzero(lengths == length)
        if length < _POINT_SIZE:
            other[idx] = length >= 9  # an empty multipoint is 9 bytes
            continue
        joined = b"".join(blobs) if len(idx) == n else b"".join(blobs[i] for i in idx)
        raw = np.frombuffer(joined, dtype=np.uint8).reshape(len(idx), int(length))
        x[idx], y[idx], other[idx] = _fixed_width_points(raw)
    return x, y, np.flatnonzero(other)


def _wkb_parts(blob: bytes) -> list[tuple[float, float]] | None:
    """Return the parts of a WKB multipoint ([] when empty); None for anything that is not a multipoint."""
    try:
        geom = ogr.CreateGeometryFromWkb(blob)
    except RuntimeError:
        return None
    if geom is None or ogr.GT_Flatten(geom.GetGeometryType()) != ogr.wkbMultiPoint:
        return None
    return [(p.GetX(), p.GetY()) for p in (geom.GetGeometryRef(i) for i in range(geom.GetGeometryCount()))]


def _explode(table: PointTable, parts: dict[int, list[tuple[float, float]]]) -> None:
    """Give each part of a multipoint its own row, repeating the feature's columns."""
    counts = np.ones(len(table.x), dtype=np.int64)
    for i, pts in parts.items():
        counts[i] = max(len(pts), 1)
    table.multipart_points = int(sum(len(pts) for pts in parts.values()))
    if (counts == 1).all():
        return
    rows = np.repeat(np.arange(len(table.x)), counts)
    starts = np.cumsum(counts) - counts
    x, y = table.x[rows], table.y[rows]
    for i, pts in parts.items():
        for k, (px, py) in enumerate(pts):
            x[starts[i] + k], y[starts[i] + k] = px, py
    table.x, table.y = x, y
    for name, values in table.columns.items():
        table.columns[name] = values[rows] if isinstance(values, np.ndarray) else [values[i] for i in rows]


def _open_layer(path: str, layer_name: str | None, wanted: Sequence[str]) -> tuple[ogr.DataSource, ogr.Layer, dict]:
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
    missing = [w for w in wanted if w not in kinds]
    if missing:
        raise BulkReadUnavailableError(f"no field {', '.join(missing)}")
    return ds, layer, kinds


def read_ogr_table(
    path: str,
    layer_name: str | None,
    columns: Mapping[str, str],
    geometry: bool = True,
    explode: bool = False,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> PointTable:
    """Read points (unless geometry is False) and columns of a whole file layer column-wise through GDAL's Arrow.

    columns maps each field to its kind (NUMBER, MONTH, TEXT, AUTO); months are read by core.months'
    rule. Raise BulkReadUnavailableError when GDAL cannot, InterruptedError when cancelled.
    """
    ds, layer, kinds = _open_layer(path, layer_name, list(columns))
    ignored = [n for n in kinds if n not in columns]
    layer.SetIgnoredFields(ignored if geometry else ignored + ["OGR_GEOMETRY"])
    try:
        return read_arrow_layer(layer, kinds, columns, geometry, explode, is_cancelled)
    finally:
        layer.SetIgnoredFields([])
        del ds  # close the file now rather than whenever Python collects it


def read_arrow_layer(
    layer: ogr.Layer,
    kinds: Mapping[str, int],
    columns: Mapping[str, str],
    geometry: bool = True,
    explode: bool = False,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> PointTable:
    """Read points and columns of an open OGR layer (a file's, or an SQL result's) through GDAL's Arrow stream.

    kinds gives each field's OGR type (what AUTO columns are read as); raise BulkReadUnavailableError when GDAL
    cannot, InterruptedError when cancelled.
    """
    if not hasattr(layer, "GetArrowStreamAsNumPy"):
        raise BulkReadUnavailableError("GDAL is older than 3.6")
    numeric = (ogr.OFTInteger, ogr.OFTInteger64, ogr.OFTReal)
    geom_name = layer.GetGeometryColumn() or "wkb_geometry"
    xs, ys, parts, blobs = [], [], {}, {}
    values: dict[str, list] = {c: [] for c in columns}
    offset = 0
    # Not INCLUDE_FID=NO: GDAL 3.6 then returns empty geometries for a layer without other fields.
    for batch in layer.GetArrowStreamAsNumPy(options=[f"MAX_FEATURES_IN_BATCH={BATCH_ROWS}"]):
        if is_cancelled():
            raise InterruptedError("cancelled")
        rows = 0
        if geometry:
            geom = batch.get(geom_name)
            if geom is None:
                raise BulkReadUnavailableError("the layer has no geometry column in its Arrow stream")
            gone = _mask_of(geom)
            x, y, other = _wkb_points(np.ma.getdata(geom))
            x[gone] = np.nan
            y[gone] = np.nan
            for i in other:
                if not gone[i]:
                    blobs[offset + int(i)] = bytes(np.ma.getdata(geom)[i])
            xs.append(x)
            ys.append(y)
            rows = len(x)
        for c, kind in columns.items():
            column = batch[c]
            rows = len(column)
            if kind == MONTH:
                values[c].append(_month_column(column))
            elif kind == NUMBER or (kind == AUTO and kinds[c] in numeric):
                values[c].append(_number_column(column))
            else:
                values[c].append(_text_column(column))
        offset += rows
    x = np.concatenate(xs) if xs else np.zeros(0)
    y = np.concatenate(ys) if ys else np.zeros(0)
    if geometry and len(x) and not np.isfinite(x).any() and not blobs:
        layer.ResetReading()
        first = layer.GetNextFeature()
        if first is not None and first.GetGeometryRef() is not None:
            # GDAL 3.6 Arrow losing geometries: let the feature iterator read them.
            raise BulkReadUnavailableError("GDAL lost the geometries")
    out: dict = {}
    for c, kind in columns.items():
        if kind in (MONTH, NUMBER) or (kind == AUTO and kinds[c] in numeric):
            out[c] = np.concatenate(values[c]) if values[c] else np.zeros(0, np.int64 if kind == MONTH else float)
        else:
            out[c] = [v for part in values[c] for v in part]
    table = PointTable(x if geometry else None, y if geometry else None, out, how=IN_BULK)
    for i, blob in blobs.items():
        pts = _wkb_parts(blob)
        if not pts:
            continue
        table.multipart += 1
        table.multipart_points += len(pts)
        x[i], y[i] = pts[0]
        parts[i] = pts
    if explode:
        _explode(table, parts)
    return table


def _pyvalue(value: object) -> object:
    """Return an attribute as a plain Python value: None for NULL, datetime.date for a date."""
    if value is None or (hasattr(value, "isNull") and value.isNull()):
        return None
    if hasattr(value, "toPyDate"):
        return value.toPyDate() if value.isValid() else None
    if hasattr(value, "toPyDateTime"):
        return value.toPyDateTime() if value.isValid() else None
    return value


def read_feature_table(
    features: Iterable[QgsFeature],
    columns: Mapping[str, str],
    geometry: bool = True,
    explode: bool = False,
    is_cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
    total: int = 0,
) -> PointTable:
    """Read QgsFeatures one by one into what read_ogr_table returns; raise InterruptedError when cancelled."""
    xs: list[float] = []
    ys: list[float] = []
    raw: dict[str, list] = {c: [] for c in columns}
    parts: dict[int, list[tuple[float, float]]] = {}
    multipart = 0
    for count, feature in enumerate(features):
        if count % 10000 == 0:
            if is_cancelled():
                raise InterruptedError("cancelled")
            if progress is not None and total:
                progress(min(1.0, count / total))
        for c in columns:
            raw[c].append(_pyvalue(feature[c]))
        if not geometry:
            continue
        geom = feature.geometry()
        point = (np.nan, np.nan)
        if geom is not None and not geom.isNull() and not geom.isEmpty() and geom.type() == 0:
            if geom.isMultipart():
                multipart += 1
                pts = [(p.x(), p.y()) for p in geom.asMultiPoint()]
                parts[len(xs)] = pts
                point = pts[0] if pts else point
            else:
                p = geom.asPoint()
                point = (p.x(), p.y())
        xs.append(point[0])
        ys.append(point[1])
    out: dict = {}
    for c, kind in columns.items():
        if kind == MONTH:
            out[c] = month_numbers(raw[c])
        elif kind == NUMBER:
            out[c] = np.array([_to_float(v) for v in raw[c]], dtype=float)
        elif kind == TEXT:
            out[c] = [None if v is None else str(v) for v in raw[c]]
        else:
            out[c] = [v if v is None or isinstance(v, (int, float)) else str(v) for v in raw[c]]
    x = np.array(xs, dtype=float) if geometry else None
    y = np.array(ys, dtype=float) if geometry else None
    table = PointTable(x, y, out, multipart, BY_FEATURE, sum(len(p) for p in parts.values()))
    if explode:
        _explode(table, parts)
    return table


def read_layer(
    source: QgsFeatureSource,
    plain: tuple[str, str | None] | PgSource | None,
    columns: Mapping[str, str],
    geometry: bool = True,
    explode: bool = False,
    crs: QgsCoordinateReferenceSystem | None = None,
    transform_context: QgsCoordinateTransformContext | None = None,
    is_cancelled: Callable[[], bool] = lambda: False,
    progress: Callable[[float], None] | None = None,
    on_fallback: Callable[[str], None] | None = None,
) -> PointTable:
    """Read a QgsFeatureSource in bulk when possible, else feature by feature.

    plain is what can be read in bulk: a file's (path, layer name), or a PostGIS layer's rows (a
    core.postgis.PgSource, whose read method runs its one query). Points are returned in crs when it is
    given (else in the source's CRS); NaN where they cannot be placed. on_fallback hears why a plain layer
    could not be read in bulk. Raise InterruptedError when cancelled.
    """
    from qgis.core import QgsCoordinateTransform, QgsFeatureRequest

    if plain is not None:
        try:
            if isinstance(plain, tuple):
                table = read_ogr_table(plain[0], plain[1], columns, geometry, explode, is_cancelled)
            else:
                table = plain.read(columns, geometry, explode, is_cancelled)
        except (BulkReadUnavailableError, RuntimeError) as err:
            if on_fallback is not None:
                on_fallback(str(err))
        else:
            if geometry and crs is not None and crs != source.sourceCrs() and len(table.x):
                from crime_mapping_plugin.core.reproject import BulkTransformer

                transform = QgsCoordinateTransform(source.sourceCrs(), crs, transform_context)
                table.x, table.y = BulkTransformer(transform)(table.x, table.y)
            return table
    request = QgsFeatureRequest().setSubsetOfAttributes(list(columns), source.fields())
    if not geometry:
        request.setFlags(QgsFeatureRequest.NoGeometry)
    elif crs is not None:
        request.setDestinationCrs(crs, transform_context)
    return read_feature_table(
        source.getFeatures(request),
        columns,
        geometry,
        explode,
        is_cancelled,
        progress,
        source.featureCount(),
    )


def crime_points_from(table: PointTable, weight_field: str | None, month_field: str | None) -> CrimePoints:
    """Return the crimes of a table with a point and (given a weight field) a weight of 0 or more, counting the rest.

    A weight that is missing or not a number is left out under NO_WEIGHT, one below zero under NEGATIVE_WEIGHT.
    """
    x, y = table.x, table.y
    weight = table.columns[weight_field] if weight_field else None
    month = table.columns[month_field] if month_field else None
    left_out: Counter = Counter()
    keep = np.isfinite(x) & np.isfinite(y)
    left_out[NO_GEOMETRY] = int((~keep).sum())
    if weight is not None:
        bad = keep & ~np.isfinite(weight)
        left_out[NO_WEIGHT] = int(bad.sum())
        keep &= ~bad
        # A weight is how many crimes a point counts as (docs/methods.md §0.5): below zero it is no count.
        negative = keep & (weight < 0)
        left_out[NEGATIVE_WEIGHT] = int(negative.sum())
        keep &= ~negative
    left_out = Counter({k: v for k, v in left_out.items() if v})
    every = bool(keep.all())  # the usual case: no copy of a million coordinates
    return CrimePoints(
        x if every else x[keep],
        y if every else y[keep],
        None if weight is None else (weight if every else weight[keep]),
        None if month is None else (month if every else month[keep]),
        len(x),
        left_out,
        table.multipart,
        table.multipart_points,
    )


def point_columns(weight_field: str | None, month_field: str | None) -> dict[str, str]:
    """Return the columns to read for a weight field and a month field (either may be None)."""
    columns = {weight_field: NUMBER} if weight_field else {}
    if month_field:
        columns[month_field] = MONTH
    return columns


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
