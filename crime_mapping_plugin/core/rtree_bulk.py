"""Bulk-load a GeoPackage R-tree spatial index by writing SQLite's R*Tree node tables directly.

SQLite inserts into an R*Tree one entry at a time (about 13 µs each), so indexing a million points
through INSERT or GDAL's CreateSpatialIndex costs more than writing the points. GDAL 3.7 and later
therefore pack the tree in memory and write its nodes directly; this does the same, for the GDAL 3.6
shipped with QGIS 3.22. The tree is Sort-Tile-Recursive packed and written in SQLite's documented
on-disk format (sqlite/ext/rtree/rtree.c): per node a 2-byte big-endian depth (root only) and cell
count, then cells of an 8-byte big-endian id and 2*2 big-endian float32 bounds rounded outwards.
"""

from __future__ import annotations

import math
import sqlite3

import numpy as np

from crime_mapping_plugin.core.wkb import rows_as_bytes

_CELL_HEADER = 4
_NODES_AT_ONCE = 4096


def _round_out(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Return float32 bounds that contain the float64 ones, as SQLite's rtreeValueDown/Up do."""
    lo32 = lo.astype(np.float32)
    hi32 = hi.astype(np.float32)
    down = lo32.astype(np.float64) > lo
    up = hi32.astype(np.float64) < hi
    lo32[down] = np.nextafter(lo32[down], np.float32(-np.inf))
    hi32[up] = np.nextafter(hi32[up], np.float32(np.inf))
    return lo32, hi32


def rounded_boxes(
    min_x: np.ndarray, max_x: np.ndarray, min_y: np.ndarray, max_y: np.ndarray, out: np.ndarray | None = None
) -> np.ndarray:
    """Return boxes as the (rows, 4) float32 array the R-tree stores (min x, max x, min y, max y), rounded outwards.

    With out, the boxes are written into it (a slice of a larger array filled part by part).
    """
    if out is None:
        out = np.empty((len(min_x), 4), dtype=np.float32)
    out[:, 0], out[:, 1] = _round_out(np.asarray(min_x, float), np.asarray(max_x, float))
    out[:, 2], out[:, 3] = _round_out(np.asarray(min_y, float), np.asarray(max_y, float))
    return out


def _index_type(n: int) -> type:
    """Return the smallest integer type that numbers n entries (int32 below 2**31: half the memory)."""
    return np.int32 if n < 2**31 else np.int64


def _str_order(cx: np.ndarray, cy: np.ndarray, per_node: int) -> np.ndarray:
    """Return the Sort-Tile-Recursive order of boxes with centres cx, cy."""
    n = len(cx)
    nodes = math.ceil(n / per_node)
    slabs = max(1, math.ceil(math.sqrt(nodes)))
    by_x = np.argsort(cx, kind="stable").astype(_index_type(n), copy=False)
    slab_size = slabs and math.ceil(n / slabs)
    slab_size = math.ceil(slab_size / per_node) * per_node
    order = by_x  # each slab is reordered by y in place: no second array of n
    for start in range(0, n, slab_size):
        part = order[start : start + slab_size]
        part[:] = part[np.argsort(cy[part], kind="stable")]
    return order


def _node_blobs(cells: np.ndarray, per_node: int, node_size: int, depth: int) -> list[bytes]:
    """Return the node blobs of one level: cells in node order, per_node to a node (the last node takes the rest).

    Each node's cells are one contiguous run of bytes, so the pages are the cells' bytes cut and padded,
    with no index array per byte (ten million points would need gigabytes of those).
    """
    n = len(cells)
    n_nodes = -(-n // per_node)
    cell_size = cells.dtype.itemsize
    counts = np.full(n_nodes, per_node, dtype=np.int64)
    counts[-1] = n - per_node * (n_nodes - 1)
    pages = np.zeros((n_nodes, node_size), dtype=np.uint8)
    pages[:, 0] = depth >> 8
    pages[:, 1] = depth & 0xFF
    pages[:, 2] = counts >> 8
    pages[:, 3] = counts & 0xFF
    raw = np.zeros(n_nodes * per_node * cell_size, dtype=np.uint8)
    raw[: n * cell_size] = np.frombuffer(cells.tobytes(), dtype=np.uint8)
    pages[:, _CELL_HEADER : _CELL_HEADER + per_node * cell_size] = raw.reshape(n_nodes, per_node * cell_size)
    return rows_as_bytes(pages)


def bulk_load_rtree(db: sqlite3.Connection, rtree: str, ids: np.ndarray, x: np.ndarray, y: np.ndarray) -> None:
    """Fill the empty 2-D R*Tree table `rtree` with points (ids, x, y) in one pass."""
    bulk_load_rtree_boxes(db, rtree, ids, x, x, y, y)


def bulk_load_rtree_boxes(
    db: sqlite3.Connection,
    rtree: str,
    ids: np.ndarray,
    min_x: np.ndarray,
    max_x: np.ndarray,
    min_y: np.ndarray,
    max_y: np.ndarray,
) -> None:
    """Fill the empty 2-D R*Tree table `rtree` with bounding boxes (ids, x and y ranges) in one pass."""
    bulk_load_rtree_rounded(db, rtree, np.asarray(ids, dtype=np.int64), rounded_boxes(min_x, max_x, min_y, max_y))


def bulk_load_rtree_rounded(db: sqlite3.Connection, rtree: str, ids: np.ndarray, boxes: np.ndarray) -> None:
    """Fill the empty 2-D R*Tree table `rtree` with ids and their float32 boxes as rounded_boxes gives them.

    Pass the arrays in the call (not held by the caller), so that each is freed as soon as the next level of
    the tree replaces it: the peak is then about 44 bytes per entry (ids of any integer type, int32 orders).
    """
    if len(ids) == 0:
        return
    node_size = db.execute(f'SELECT length(data) FROM "{rtree}_node" WHERE nodeno = 1').fetchone()[0]
    cell_size = 8 + 4 * 4
    per_node = (node_size - _CELL_HEADER) // cell_size
    if db.execute(f'SELECT count(*) FROM "{rtree}_rowid"').fetchone()[0]:
        raise ValueError(f"{rtree} is not empty: bulk loading needs an empty index")

    entry_id = ids
    del ids
    levels: list[tuple[np.ndarray, np.ndarray]] = []  # (child ids, boxes) of each level, entries in node order
    # Build bottom-up: each level's nodes become the entries of the level above, until one node is left.
    while True:
        n = len(entry_id)
        if n <= per_node:
            levels.append((entry_id, boxes))
            break
        order = _str_order((boxes[:, 0] + boxes[:, 1]) * 0.5, (boxes[:, 2] + boxes[:, 3]) * 0.5, per_node)
        entry_id = entry_id[order]
        boxes = boxes[order]
        del order
        levels.append((entry_id, boxes))
        starts = np.arange(0, n, per_node)
        parent_boxes = np.empty((len(starts), 4), dtype=np.float32)
        parent_boxes[:, 0] = np.minimum.reduceat(boxes[:, 0], starts)
        parent_boxes[:, 1] = np.maximum.reduceat(boxes[:, 1], starts)
        parent_boxes[:, 2] = np.minimum.reduceat(boxes[:, 2], starts)
        parent_boxes[:, 3] = np.maximum.reduceat(boxes[:, 3], starts)
        entry_id = np.arange(len(starts), dtype=_index_type(len(starts)))  # provisional node numbers, fixed below
        boxes = parent_boxes
    del entry_id, boxes

    # Number the nodes: the root is 1, then each level from the top down.
    depth = len(levels) - 1
    next_no = 2
    numbers: list[np.ndarray] = [np.array([1], dtype=np.int64)]  # node numbers of the nodes of each level
    for level in range(depth - 1, -1, -1):
        count = -(-len(levels[level][0]) // per_node)
        numbers.insert(0, np.arange(next_no, next_no + count, dtype=np.int64))
        next_no += count
    # numbers[k] are the node numbers of level k's nodes; the entries of level k+1 point at them.

    db.execute(f'DELETE FROM "{rtree}_node"')
    insert_node = f'INSERT INTO "{rtree}_node" (nodeno, data) VALUES (?, ?)'
    parent_rows: list[tuple[np.ndarray, np.ndarray]] = []
    for level in range(depth, -1, -1):
        ids_l, boxes_l = levels[level]
        levels[level] = None  # freed once written: the leaves' boxes are the largest array of all
        if level > 0:
            ids_l = numbers[level - 1][ids_l]  # the cells of an inner node point at nodes of the level below
        node_numbers = numbers[level]
        # A few thousand nodes at a time, so that the pages (and cells) of ten million points are never all in memory.
        step = _NODES_AT_ONCE * per_node
        for start in range(0, len(node_numbers), _NODES_AT_ONCE):
            lo = start * per_node
            cells = np.zeros(len(ids_l[lo : lo + step]), dtype=[("id", ">i8"), ("b", ">f4", (4,))])
            cells["id"] = ids_l[lo : lo + step]
            cells["b"] = boxes_l[lo : lo + step]
            blobs = _node_blobs(cells, per_node, node_size, depth if level == depth else 0)
            db.executemany(insert_node, zip(node_numbers[start : start + _NODES_AT_ONCE].tolist(), blobs))
        del boxes_l
        node_of = np.repeat(node_numbers.astype(_index_type(next_no), copy=False), per_node)[: len(ids_l)]
        if level > 0:
            parent_rows.append((ids_l, node_of))
        else:
            rowid_rows = (ids_l, node_of)
        del ids_l, node_of

    for children, parents in parent_rows:
        _insert_pairs(db, f"{rtree}_parent", "nodeno, parentnode", children, parents)
    del parent_rows
    _insert_pairs(db, f"{rtree}_rowid", "rowid, nodeno", *rowid_rows)


# Values sent in one JSON array: a run of ten million fids as one text would need gigabytes of Python ints and strs.
_PAIRS_AT_ONCE = 65536


def _insert_pairs(db: sqlite3.Connection, table: str, columns: str, keys: np.ndarray, values: np.ndarray) -> None:
    """Insert integer pairs, three times faster than executemany binds them.

    Keys (fids, node numbers) come in long runs of consecutive integers: each run is sent as JSON arrays of
    values that SQLite's own JSON reader unpacks, the key being the part's first key + position.
    """
    order = np.argsort(keys, kind="stable")
    keys = keys[order]
    values = values[order]
    del order
    breaks = np.flatnonzero(np.diff(keys) != 1) + 1
    sql = f'INSERT INTO "{table}" ({columns}) SELECT key + ?2, value FROM json_each(?1)'
    for a, b in zip(np.r_[0, breaks].tolist(), np.r_[breaks, len(keys)].tolist()):
        for start in range(a, b, _PAIRS_AT_ONCE):
            end = min(b, start + _PAIRS_AT_ONCE)
            db.execute(sql, ("[" + ",".join(map(str, values[start:end].tolist())) + "]", int(keys[start])))
