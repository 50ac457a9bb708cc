"""The bulk-loaded R-tree is valid to SQLite and finds every point a full scan finds."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from crime_mapping_plugin.core.rtree_bulk import bulk_load_rtree


@pytest.mark.parametrize("n", [1, 50, 51, 52, 2601, 40000])
def test_tree_is_valid_and_complete(n):
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    rng = np.random.default_rng(n)
    x = rng.uniform(503000, 562000, n)
    y = rng.uniform(155000, 201000, n)
    x[: n // 3] = np.round(x[: n // 3], -2)  # many crimes share a snap point
    ids = np.arange(1, n + 1) * 7
    bulk_load_rtree(db, "r", ids, x, y)
    assert db.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    assert db.execute("SELECT count(*) FROM r").fetchone()[0] == n
    for _ in range(30):
        x0, y0, w = rng.uniform(503000, 562000), rng.uniform(155000, 201000), rng.uniform(1, 20000)
        found = {
            row[0]
            for row in db.execute(
                "SELECT id FROM r WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?", (x0, x0 + w, y0, y0 + w)
            )
        }
        inside = set(ids[(x >= x0) & (x <= x0 + w) & (y >= y0) & (y <= y0 + w)].tolist())
        assert inside <= found
    # SQLite can go on maintaining the tree it did not build.
    db.execute("INSERT INTO r VALUES (-1, 0, 1, 0, 1)")
    db.execute("DELETE FROM r WHERE id = 7")
    assert db.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"


def test_refuses_a_tree_that_is_not_empty():
    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    db.execute("INSERT INTO r VALUES (1, 0, 1, 0, 1)")
    with pytest.raises(ValueError, match="not empty"):
        bulk_load_rtree(db, "r", np.array([2]), np.array([5.0]), np.array([5.0]))


def test_boxes_are_found_by_every_window_they_overlap():
    from crime_mapping_plugin.core.rtree_bulk import bulk_load_rtree_boxes

    db = sqlite3.connect(":memory:")
    db.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
    rng = np.random.default_rng(7)
    n = 5000
    x0 = rng.uniform(500000, 560000, n)
    y0 = rng.uniform(150000, 200000, n)
    w = rng.uniform(10, 500, n)  # 250 m grid cells, hexagons, wards: boxes of many sizes
    h = rng.uniform(10, 500, n)
    ids = np.arange(1, n + 1)
    bulk_load_rtree_boxes(db, "r", ids, x0, x0 + w, y0, y0 + h)
    assert db.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
    for _ in range(30):
        qx, qy, size = rng.uniform(500000, 560000), rng.uniform(150000, 200000), rng.uniform(1, 5000)
        found = {
            row[0]
            for row in db.execute(
                "SELECT id FROM r WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
                (qx, qx + size, qy, qy + size),
            )
        }
        overlapping = ids[(x0 + w >= qx) & (x0 <= qx + size) & (y0 + h >= qy) & (y0 <= qy + size)]
        assert set(overlapping.tolist()) <= found


@pytest.mark.parametrize("n", [1, 50, 51, 2601])
def test_node_pages_hold_each_cell_at_its_slot(n):
    """Pages cut from the cells' bytes equal pages filled cell by cell at header + slot * cell size."""
    from crime_mapping_plugin.core.rtree_bulk import _node_blobs

    per_node, node_size = 51, 1228
    cells = np.zeros(n, dtype=[("id", ">i8"), ("b", ">f4", (4,))])
    cells["id"] = np.arange(1, n + 1) * 3
    cells["b"] = np.random.default_rng(n).uniform(0, 1e6, (n, 4))
    pages = _node_blobs(cells, per_node, node_size, 2)
    n_nodes = -(-n // per_node)
    assert len(pages) == n_nodes
    for node in range(n_nodes):
        own = cells[node * per_node : (node + 1) * per_node]
        expected = bytearray(node_size)
        expected[0:4] = (2).to_bytes(2, "big") + len(own).to_bytes(2, "big")
        for slot, cell in enumerate(own):
            expected[4 + slot * 24 : 4 + (slot + 1) * 24] = cell.tobytes()
        assert pages[node] == bytes(expected)


def test_pages_written_a_few_nodes_at_a_time_make_the_same_tree(monkeypatch):
    """Writing the node pages in small runs gives the same tables as writing them all at once."""
    from crime_mapping_plugin.core import rtree_bulk

    rng = np.random.default_rng(11)
    x = rng.uniform(503000, 562000, 40000)
    y = rng.uniform(155000, 201000, 40000)
    ids = np.arange(1, 40001)
    tables = []
    for at_once in (1_000_000, 7):
        monkeypatch.setattr(rtree_bulk, "_NODES_AT_ONCE", at_once)
        db = sqlite3.connect(":memory:")
        db.execute("CREATE VIRTUAL TABLE r USING rtree(id, minx, maxx, miny, maxy)")
        bulk_load_rtree(db, "r", ids, x, y)
        assert db.execute("SELECT rtreecheck('r')").fetchone()[0] == "ok"
        tables.append([db.execute(f"SELECT * FROM r_{t} ORDER BY 1").fetchall() for t in ("node", "parent", "rowid")])
    assert tables[0] == tables[1]
