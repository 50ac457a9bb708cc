"""Append rows in bulk to a shapefile that QGIS's own writer has just created empty.

The feature sink writes a shapefile one feature at a time: about 20 µs a row for a Gi* cell, most of it building
and converting a QgsFeature. Here QGIS's writer still creates the files (so field names after laundering, DBF
types, widths and precisions, the .prj and .cpg are exactly what the sink would give) and this module appends
the records the way GDAL's shapefile driver writes them, a batch at a time in numpy: .shp/.shx records from the
coordinates, DBF records formatted as GDAL formats them (numbers right-aligned in their width, reals with
printf's "%W.Pf", NULL numbers as '*', NULL dates as '0', text cut to the field's width in bytes). Exterior rings
are written clockwise and interior rings counter-clockwise, as the driver writes valid polygons. numpy only.
"""

from __future__ import annotations

import math
import os
import struct
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

_SHP_HEADER = 100
_POINT, _POLYGON = 1, 5
# The files' offsets are 32-bit: GDAL warns past 2 GB and other software stops reading there.
MAX_FILE_BYTES = 2**31 - 1
MAX_FIELDS = 255


class ShapefileError(OSError):
    """A shapefile that cannot be written as asked; the message names the file or field and what to do."""


@dataclass(frozen=True)
class DbfField:
    """One DBF field: its name, type letter (C, N, D), width and decimals, and its offset in a record."""

    name: str
    kind: str
    width: int
    decimals: int
    offset: int


def read_dbf_fields(path: str) -> tuple[bytes, list[DbfField], int]:
    """Return the DBF header (field descriptors included), its fields and the record length."""
    with open(path, "rb") as f:
        head = f.read(32)
        header_len, record_len = struct.unpack("<HH", head[8:12])
        rest = f.read(header_len - 32)
    fields, offset = [], 1  # byte 0 of a record is the deletion flag
    for i in range(0, len(rest) - 1, 32):
        d = rest[i : i + 32]
        if d[0] == 0x0D:
            break
        name = d[:11].split(b"\0", 1)[0].decode("latin-1")
        fields.append(DbfField(name, chr(d[11]), d[16], d[17], offset))
        offset += d[16]
    return head + rest, fields, record_len


class ShapefileWriter:
    """Append point or polygon records and their attributes to an empty shapefile, then finish its headers.

    kinds gives each DBF field's kind in order ('string', 'integer', 'integer64', 'double', 'date'); encode turns
    a text into the bytes the layer's encoding gives. Rows are added column by column (lists or numpy arrays,
    dates as 'YYYYMMDD' text or None); commit() writes the headers, abort() closes and leaves the files to the
    caller to remove.
    """

    def __init__(self, path: str, kinds: Sequence[str], encode: Callable[[str], bytes], ascii_safe: bool) -> None:
        self.path = path
        base = os.path.splitext(path)[0]
        self._paths = {ext: base + ext for ext in (".shp", ".shx", ".dbf")}
        self._dbf_header, self.fields, self._record_len = read_dbf_fields(self._paths[".dbf"])
        if len(self.fields) != len(kinds):
            raise ShapefileError(f"{path}: the DBF has {len(self.fields)} fields where {len(kinds)} were asked for.")
        if len(self.fields) > MAX_FIELDS:
            raise ShapefileError(
                f"{path}: a shapefile holds at most {MAX_FIELDS} fields ({len(self.fields)} asked for): "
                "choose a GeoPackage."
            )
        expected = {"string": "C", "integer": "N", "integer64": "N", "double": "N", "date": "D"}
        for field, kind in zip(self.fields, kinds):
            if expected.get(kind) != field.kind or (kind.startswith("integer") and field.decimals):
                raise ShapefileError(f"{path}: field {field.name} is of DBF type {field.kind}, not for {kind}.")
        self._kinds = list(kinds)
        self._encode = encode
        self._ascii_safe = ascii_safe
        with open(self._paths[".shp"], "rb") as f:
            head = f.read(_SHP_HEADER)
        self.shape_type = struct.unpack("<i", head[32:36])[0]
        if self.shape_type not in (_POINT, _POLYGON):
            raise ShapefileError(f"{path}: shape type {self.shape_type} is not written in bulk.")
        self._head = bytearray(head)
        # Open across batches until commit or abort: a context manager cannot span the calls.
        self._files = {ext: open(p, "r+b") for ext, p in self._paths.items()}  # noqa: SIM115
        self._files[".shp"].seek(_SHP_HEADER)
        self._files[".shx"].seek(_SHP_HEADER)
        self._files[".dbf"].seek(len(self._dbf_header))
        self._files[".dbf"].truncate()
        self._shp_size = _SHP_HEADER
        self._dbf_size = len(self._dbf_header)
        self.count = 0
        self._bounds: list[float] | None = None  # min x, min y, max x, max y of the records so far

    # ---- geometry ----

    def add_points(self, columns: Sequence[Sequence], x: np.ndarray, y: np.ndarray, located: np.ndarray | None) -> None:
        """Append point records (a row not located gets a NULL shape) and their attributes."""
        x, y = np.asarray(x, "<f8"), np.asarray(y, "<f8")
        n = len(x)
        present = np.ones(n, bool) if located is None else np.asarray(located, bool).copy()
        if self.shape_type != _POINT:
            raise ShapefileError(f"{self.path}: points cannot go into a shapefile of shape type {self.shape_type}.")
        if not np.all(np.isfinite(x[present]) & np.isfinite(y[present])):
            raise ShapefileError(f"{self.path}: a point has a coordinate that is not a finite number.")
        content = np.zeros((n, 20), np.uint8)
        content[:, :4] = np.frombuffer(struct.pack("<i", _POINT), np.uint8)
        content[:, 4:20] = np.column_stack([x, y]).astype("<f8").view(np.uint8).reshape(n, 16)
        sizes = np.where(present, 20, 4)
        boxes = np.column_stack([x, y, x, y])
        self._write(columns, content, sizes, present, boxes, n)

    def add_wkb(self, columns: Sequence[Sequence], wkbs: Sequence[bytes | None] | np.ndarray) -> None:
        """Append polygon or point records from WKB (None or an empty polygon: a NULL shape) and their attributes."""
        if isinstance(wkbs, np.ndarray):
            blobs = np.ascontiguousarray(wkbs, np.uint8)
        elif len(wkbs) and all(b is not None for b in wkbs) and len(set(map(len, wkbs))) == 1:
            blobs = np.frombuffer(b"".join(wkbs), np.uint8).reshape(len(wkbs), -1)
        else:
            blobs = None
        uniform = _uniform_layout(blobs) if blobs is not None else None
        if uniform is not None:
            rings, outer, kind = uniform
            coords = [blobs[:, o : o + 16 * k].copy().view("<f8").reshape(len(blobs), k, 2) for o, k in rings]
            self._check_kind(kind)
            if kind == _POINT:
                pts = coords[0][:, 0, :]
                self.add_points(columns, pts[:, 0], pts[:, 1], None)
                return
            content, sizes, boxes = _polygon_records(coords, outer)
            self._write(columns, content, sizes, np.ones(len(blobs), bool), boxes, len(blobs))
            return
        records, boxes = [], []
        for blob in wkbs:
            kind, rings, outer = _parse_wkb(None if blob is None else bytes(blob))
            if kind is None:
                records.append(None)
                boxes.append((0.0, 0.0, 0.0, 0.0))
                continue
            self._check_kind(kind)
            if kind == _POINT:
                px, py = rings[0][0]
                records.append(struct.pack("<idd", _POINT, px, py))
                boxes.append((px, py, px, py))
                continue
            content, _, box = _polygon_records([r[None, :, :] for r in rings], outer)
            records.append(content[0].tobytes())
            boxes.append(tuple(box[0]))
        n = len(records)
        present = np.array([r is not None for r in records], bool)
        sizes = np.array([4 if r is None else len(r) for r in records], np.int64)
        width = int(sizes.max()) if n else 4
        content = np.zeros((n, width), np.uint8)
        for i, r in enumerate(records):
            if r is not None:
                content[i, : len(r)] = np.frombuffer(r, np.uint8)
        self._write(columns, content, sizes, present, np.array(boxes, float).reshape(n, 4), n)

    def _check_kind(self, kind: int) -> None:
        if kind != self.shape_type:
            raise ShapefileError(f"{self.path}: a geometry of shape type {kind} in a file of type {self.shape_type}.")

    def _write(
        self,
        columns: Sequence[Sequence],
        content: np.ndarray,
        sizes: np.ndarray,
        present: np.ndarray,
        boxes: np.ndarray,
        n: int,
    ) -> None:
        """Write n shape records (content rows cut to sizes; a row not present is a NULL shape) and DBF records."""
        if n == 0:
            return
        dbf = self._dbf_records(columns, n)
        sizes = np.asarray(sizes, np.int64)
        content = content.copy()
        content[~present, :4] = 0  # shape type 0: NULL
        lengths = 8 + sizes
        offsets = self._shp_size + np.concatenate([[0], np.cumsum(lengths)[:-1]])
        total = int(lengths.sum())
        if self._shp_size + total > MAX_FILE_BYTES or self._dbf_size + dbf.nbytes > MAX_FILE_BYTES:
            raise ShapefileError(
                f"{self.path}: a shapefile's .shp and .dbf hold at most 2 GB each and these rows would pass that: "
                "choose a GeoPackage."
            )
        heads = np.empty((n, 2), ">i4")
        heads[:, 0] = np.arange(self.count + 1, self.count + n + 1)
        heads[:, 1] = sizes // 2
        index = np.empty((n, 2), ">i4")
        index[:, 0] = offsets // 2
        index[:, 1] = sizes // 2
        if np.all(sizes == sizes[0]):
            records = np.empty((n, 8 + int(sizes[0])), np.uint8)
            records[:, :8] = heads.view(np.uint8).reshape(n, 8)
            records[:, 8:] = content[:, : int(sizes[0])]
            shp = records.tobytes()
        else:
            head_bytes = heads.view(np.uint8).reshape(n, 8)
            shp = b"".join(head_bytes[i].tobytes() + content[i, : sizes[i]].tobytes() for i in range(n))
        self._extend_bounds(boxes, present)
        self._files[".shp"].write(shp)
        self._files[".shx"].write(index.tobytes())
        self._files[".dbf"].write(dbf.tobytes())
        self._shp_size += total
        self._dbf_size += dbf.nbytes
        self.count += n

    def _extend_bounds(self, boxes: np.ndarray, present: np.ndarray) -> None:
        # As shapelib: the first record sets the bounds (to 0 if it is a NULL shape), later NULL shapes add nothing.
        if self._bounds is None:
            first = boxes[0] if present[0] else np.zeros(4)
            self._bounds = [float(first[0]), float(first[1]), float(first[2]), float(first[3])]
        if present.any():
            b = boxes[present]
            self._bounds = [
                min(self._bounds[0], float(b[:, 0].min())),
                min(self._bounds[1], float(b[:, 1].min())),
                max(self._bounds[2], float(b[:, 2].max())),
                max(self._bounds[3], float(b[:, 3].max())),
            ]

    # ---- attributes ----

    def _dbf_records(self, columns: Sequence[Sequence], n: int) -> np.ndarray:
        records = np.full((n, self._record_len), 32, np.uint8)
        for field, kind, values in zip(self.fields, self._kinds, columns):
            if len(values) != n:
                raise ShapefileError(f"{self.path}: column {field.name} has {len(values)} values for {n} rows.")
            cells = records[:, field.offset : field.offset + field.width]
            if kind == "string":
                self._put_text(records, field, values)
            elif kind == "double":
                cells[:] = _reals(values, field)
            elif kind == "date":
                cells[:] = _dates(values)
            else:
                cells[:] = _integers(values, field, kind == "integer")
        return records

    def _put_text(self, records: np.ndarray, field: DbfField, values: Sequence) -> None:
        texts = ["" if v is None else v for v in values]
        if any(type(t) is not str for t in texts):
            raise ShapefileError(f"{self.path}: field {field.name} holds a value that is not text.")
        joined = "".join(texts)
        if self._ascii_safe and joined.isascii() and "\0" not in joined:
            data, lengths = joined.encode("ascii"), np.fromiter(map(len, texts), np.int64, len(texts))
        else:
            # As the C writer: the codec's bytes, up to a NUL.
            encoded = [self._encode(t).split(b"\0", 1)[0] for t in texts]
            data, lengths = b"".join(encoded), np.fromiter(map(len, encoded), np.int64, len(encoded))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        kept = np.minimum(lengths, field.width)  # cut to the width in bytes, as GDAL does
        total = int(kept.sum())
        if total == 0:
            return
        rows = np.repeat(np.arange(len(texts)), kept)
        within = np.arange(total) - np.repeat(np.cumsum(kept) - kept, kept)
        source = np.repeat(starts, kept) + within
        records[rows, field.offset + within] = np.frombuffer(data, np.uint8)[source]

    def commit(self) -> None:
        """Write the headers (file lengths, bounds, record count) and close the files."""
        bounds = self._bounds or [0.0, 0.0, 0.0, 0.0]
        for ext, size in ((".shp", self._shp_size), (".shx", _SHP_HEADER + 8 * self.count)):
            head = bytearray(self._head)
            head[24:28] = struct.pack(">i", size // 2)
            head[36:68] = struct.pack("<4d", *bounds)
            self._files[ext].seek(0)
            self._files[ext].write(head)
        dbf = self._files[".dbf"]
        dbf.write(b"\x1a")
        dbf.seek(4)
        dbf.write(struct.pack("<I", self.count))
        self._close()

    def abort(self) -> None:
        """Close the files without finishing them."""
        self._close()

    def _close(self) -> None:
        files, self._files = self._files, {}
        for f in files.values():
            f.close()


def _uniform_layout(blobs: np.ndarray) -> tuple[list[tuple[int, int]], list[bool], int] | None:
    """Return the rings (byte offset, points), which are exterior, and the shape type when every blob is laid out
    as the first one (same type and counts: grid cells), else None."""
    if blobs.ndim != 2 or len(blobs) == 0:
        return None
    first = blobs[0].tobytes()
    try:
        layout = _layout(first)
    except (struct.error, ValueError):
        return None
    if layout is None or not layout[0]:
        return None
    rings, outer, kind, structure = layout
    mask = np.zeros(blobs.shape[1], bool)
    mask[structure] = True
    if not np.array_equal(blobs[:, mask], np.broadcast_to(blobs[0, mask], (len(blobs), int(mask.sum())))):
        return None
    return rings, outer, kind


def _layout(blob: bytes) -> tuple[list[tuple[int, int]], list[bool], int, list[int]] | None:
    """Return ring offsets and sizes, exterior flags, shape type and the byte positions of everything but the
    coordinates, for a little-endian 2D WKB point, polygon or multipolygon; None for anything else."""
    structure: list[int] = []

    def header(at: int) -> tuple[int, int]:
        if blob[at] != 1:
            raise ValueError("big-endian")
        structure.extend(range(at, at + 5))
        return struct.unpack_from("<I", blob, at + 1)[0], at + 5

    def count(at: int) -> tuple[int, int]:
        structure.extend(range(at, at + 4))
        return struct.unpack_from("<I", blob, at)[0], at + 4

    rings: list[tuple[int, int]] = []
    outer: list[bool] = []

    def polygon(at: int) -> int:
        n_rings, at = count(at)
        for r in range(n_rings):
            n_pts, at = count(at)
            if n_pts:
                rings.append((at, n_pts))
                outer.append(r == 0)
            at += 16 * n_pts
        return at

    kind, at = header(0)
    if kind == 1:
        rings.append((at, 1))
        outer.append(True)
        end, shape = at + 16, _POINT
    elif kind == 3:
        end, shape = polygon(at), _POLYGON
    elif kind == 6:
        parts, at = count(at)
        for _ in range(parts):
            sub, at = header(at)
            if sub != 3:
                return None
            at = polygon(at)
        end, shape = at, _POLYGON
    else:
        return None
    if end != len(blob):
        return None
    return rings, outer, shape, structure


def _parse_wkb(blob: bytes | None) -> tuple[int | None, list[np.ndarray], list[bool]]:
    """Return the shape type, rings as (points, 2) arrays and exterior flags of one WKB geometry (None: NULL)."""
    if blob is None:
        return None, [], []
    layout = _layout(blob)
    if layout is None:
        raise ShapefileError("a geometry is not a 2D point, polygon or multipolygon in little-endian WKB.")
    rings, outer, kind, _ = layout
    if not rings:  # an empty geometry: GDAL writes a NULL shape
        return None, [], []
    arrays = [np.frombuffer(blob, "<f8", 2 * k, o).reshape(k, 2) for o, k in rings]
    return kind, arrays, outer


def _polygon_records(coords: list[np.ndarray], outer: list[bool]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Return polygon record contents (rows, bytes), their sizes and boxes for rings shaped (rows, points, 2)."""
    n = coords[0].shape[0]
    if not all(np.isfinite(c).all() for c in coords):
        raise ShapefileError("a polygon has a coordinate that is not a finite number.")
    oriented = []
    for ring, exterior in zip(coords, outer):
        x, y = ring[:, :, 0], ring[:, :, 1]
        twice_area = (x[:, :-1] * y[:, 1:] - x[:, 1:] * y[:, :-1]).sum(axis=1)
        clockwise = twice_area < 0
        flip = ~clockwise if exterior else clockwise
        ring = ring.copy()
        ring[flip] = ring[flip, ::-1]
        oriented.append(ring)
    points = np.concatenate(oriented, axis=1)
    n_parts, n_points = len(coords), points.shape[1]
    starts = np.concatenate([[0], np.cumsum([c.shape[1] for c in coords])[:-1]]).astype("<i4")
    box = np.column_stack(
        [points[:, :, 0].min(1), points[:, :, 1].min(1), points[:, :, 0].max(1), points[:, :, 1].max(1)]
    )
    size = 44 + 4 * n_parts + 16 * n_points
    out = np.empty((n, size), np.uint8)
    out[:, :4] = np.frombuffer(struct.pack("<i", _POLYGON), np.uint8)
    out[:, 4:36] = box.astype("<f8").view(np.uint8).reshape(n, 32)
    out[:, 36:44] = np.frombuffer(struct.pack("<ii", n_parts, n_points), np.uint8)
    out[:, 44 : 44 + 4 * n_parts] = starts.view(np.uint8)
    out[:, 44 + 4 * n_parts :] = np.ascontiguousarray(points, "<f8").view(np.uint8).reshape(n, 16 * n_points)
    return out, np.full(n, size, np.int64), box


def _reals(values: Sequence | np.ndarray, field: DbfField) -> np.ndarray:
    """Return (rows, width) bytes of reals as printf's '%W.Pf' writes them (cut to the width), NULL and NaN as '*'."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "fiub":
        numbers = values.astype(float)
    else:
        numbers = np.array([np.nan if v is None else float(v) for v in values], float)
    w = field.width
    out = np.full((len(numbers), w), ord("*"), np.uint8)
    present = ~np.isnan(numbers)
    if not present.any():
        return out
    chosen = numbers[present].tolist()
    fmt = f"%{w}.{field.decimals}f"
    text = (fmt * len(chosen)) % tuple(chosen)
    if len(text) != w * len(chosen):  # a number wider than the field: GDAL keeps its first W characters
        text = "".join((fmt % v)[:w] for v in chosen)
    out[present] = np.frombuffer(text.encode("ascii"), np.uint8).reshape(len(chosen), w)
    return out


_INT32 = (-(2**31) + 1, 2**31 - 1)


def _integers(values: Sequence | np.ndarray, field: DbfField, int32: bool) -> np.ndarray:
    """Return (rows, width) bytes of integers right-aligned in the width, NULL as '*'."""
    if isinstance(values, np.ndarray) and values.dtype.kind in "iub":
        numbers, missing = values.astype(np.int64), np.zeros(len(values), bool)
    else:
        missing = np.array([v is None or (isinstance(v, float) and math.isnan(v)) for v in values], bool)
        numbers = np.array([0 if m else _whole(v) for v, m in zip(values, missing)], np.int64)
    low, high = _INT32 if int32 else (-(2**63) + 1, 2**63 - 1)
    w = field.width
    magnitude = np.abs(numbers)
    digits = np.ones(len(numbers), np.int64)
    rest = magnitude // 10
    while rest.any():
        digits += rest > 0
        rest //= 10
    wide = ~missing & ((digits + (numbers < 0) > w) | (numbers < low) | (numbers > high))
    if wide.any():
        bad = int(numbers[np.flatnonzero(wide)[0]])
        raise ShapefileError(f"The value {bad} does not fit the shapefile's {w}-character field {field.name}.")
    out = np.full((len(numbers), w), 32, np.uint8)
    rest = magnitude.copy()
    for k in range(w):
        column = w - 1 - k
        has = digits > k
        out[has, column] = 48 + (rest[has] % 10)
        rest //= 10
        sign = (numbers < 0) & (digits == k)
        out[sign, column] = ord("-")
    out[missing] = ord("*")
    return out


def _whole(v: object) -> int:
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        # Qt's qRound, which QVariant uses to make an int of a double: half away from zero.
        return int(math.floor(v + 0.5)) if v >= 0 else int(math.ceil(v - 0.5))
    raise ShapefileError(f"The value {v!r} is not a whole number.")


def _dates(values: Sequence) -> np.ndarray:
    """Return (rows, 8) bytes of 'YYYYMMDD' dates, NULL as '00000000' as shapelib writes it."""
    texts = [b"00000000" if v is None else str(v).encode("ascii") for v in values]
    return np.frombuffer(b"".join(texts), np.uint8).reshape(len(texts), 8)
