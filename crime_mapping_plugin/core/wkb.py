"""Build WKB and GeoPackage geometry blobs in numpy, one array operation per batch instead of one per row.

Every grid cell has the same number of vertices and every point the same size, so a batch of geometries is one
(rows, bytes) uint8 array: a fixed header written once per column and the coordinates copied in. numpy only
(no QGIS), so that the Gi* benchmark can use it in a plain venv.
"""

from __future__ import annotations

import numpy as np

# WKB (ISO/OGC simple features), little endian.
_WKB_POINT = 1
_WKB_POLYGON = 3
_WKB_MULTIPOLYGON = 6
_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
_MULTI = np.dtype([("order", "u1"), ("type", "<u4"), ("parts", "<u4")])
_POLYGON = np.dtype([("order", "u1"), ("type", "<u4"), ("rings", "<u4"), ("points", "<u4")])
# GeoPackage binary header: 'GP', version 0, flags, srs_id, then an optional envelope.
_GP = np.dtype([("magic", "S2"), ("version", "u1"), ("flags", "u1"), ("srs_id", "<i4")])
_ENVELOPE_XY = np.dtype([("min_x", "<f8"), ("max_x", "<f8"), ("min_y", "<f8"), ("max_y", "<f8")])
# Flags: bit 0 little endian; bits 1-3 the envelope kind (1: min x, max x, min y, max y).
_LITTLE_ENDIAN = 1
_ENVELOPE_KIND_XY = 1 << 1


def rows_as_bytes(blobs: np.ndarray) -> list[bytes]:
    """Return each row of a (rows, size) uint8 array as one bytes object, in one C loop."""
    blobs = np.ascontiguousarray(blobs, dtype=np.uint8)
    if blobs.ndim != 2 or blobs.shape[0] == 0:
        return []
    return blobs.view(np.dtype((np.void, blobs.shape[1]))).ravel().tolist()


def point_wkb(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Return WKB points as a (points, 21) uint8 array."""
    points = np.zeros(len(x), dtype=_POINT)
    points["order"] = 1
    points["type"] = _WKB_POINT
    points["x"] = x
    points["y"] = y
    return points.view(np.uint8).reshape(len(x), _POINT.itemsize)


def ring_wkb(rings: np.ndarray, multi: bool = False) -> np.ndarray:
    """Return one-ring polygons (multipolygons of one part when multi) as a (cells, size) uint8 array.

    rings holds closed rings shaped (cells, corners + 1, 2), all with the same number of vertices.
    """
    rings = np.ascontiguousarray(rings, dtype="<f8")
    n_cells, n_pts, _ = rings.shape
    polygon = np.zeros(1, dtype=_POLYGON)
    polygon["order"], polygon["type"], polygon["rings"], polygon["points"] = 1, _WKB_POLYGON, 1, n_pts
    head = polygon.view(np.uint8)
    if multi:
        part = np.zeros(1, dtype=_MULTI)
        part["order"], part["type"], part["parts"] = 1, _WKB_MULTIPOLYGON, 1
        head = np.concatenate([part.view(np.uint8), head])
    out = np.empty((n_cells, len(head) + n_pts * 16), dtype=np.uint8)
    out[:, : len(head)] = head
    out[:, len(head) :] = rings.reshape(n_cells, n_pts * 2).view(np.uint8)
    return out


def ring_boxes(rings: np.ndarray) -> np.ndarray:
    """Return the box (min x, max x, min y, max y) of each ring of a (cells, corners + 1, 2) array."""
    xs, ys = rings[:, :, 0], rings[:, :, 1]
    return np.column_stack([xs.min(axis=1), xs.max(axis=1), ys.min(axis=1), ys.max(axis=1)])


def geopackage_header(srs_id: int, boxes: np.ndarray | None = None) -> np.ndarray:
    """Return GeoPackage binary headers as a (rows, 8 or 40) uint8 array; with boxes each carries its envelope.

    Without boxes one 8-byte header without envelope is returned (shape (1, 8)), as GDAL writes for points.
    """
    if boxes is None:
        head = np.zeros(1, dtype=_GP)
        head["magic"], head["flags"], head["srs_id"] = b"GP", _LITTLE_ENDIAN, srs_id
        return head.view(np.uint8).reshape(1, _GP.itemsize)
    boxes = np.asarray(boxes, float).reshape(-1, 4)
    n = len(boxes)
    out = np.empty((n, _GP.itemsize + _ENVELOPE_XY.itemsize), dtype=np.uint8)
    head = np.zeros(1, dtype=_GP)
    head["magic"], head["flags"], head["srs_id"] = b"GP", _LITTLE_ENDIAN | _ENVELOPE_KIND_XY, srs_id
    out[:, : _GP.itemsize] = head.view(np.uint8)
    out[:, _GP.itemsize :] = np.ascontiguousarray(boxes, dtype="<f8").view(np.uint8)
    return out
