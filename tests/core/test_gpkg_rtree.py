"""The GeoPackage writer's spatial index, built at commit from the entries kept batch by batch."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest
from osgeo import osr

from crime_mapping_plugin.core import gpkg
from crime_mapping_plugin.core.rtree_bulk import bulk_load_rtree


def _bng() -> str:
    srs = osr.SpatialReference()
    srs.ImportFromEPSG(27700)
    return srs.ExportToWkt()


def _tree(db: sqlite3.Connection, name: str) -> list[list[tuple]]:
    return [db.execute(f'SELECT * FROM "{name}_{t}" ORDER BY 1').fetchall() for t in ("node", "parent", "rowid")]


@pytest.mark.parametrize("batch", [7, 1000, 20_000])
def test_tree_from_the_batches_equals_the_tree_from_the_arrays(tmp_path, batch):
    """Entries kept batch by batch give the very tree (node pages, parents, rowids) the whole arrays give."""
    rng = np.random.default_rng(batch)
    n = 12_345
    x = rng.uniform(503000, 562000, n)
    y = rng.uniform(155000, 201000, n)
    x[: n // 3] = np.round(x[: n // 3], -2)  # shared snap points, and coordinates float32 holds exactly
    y[: n // 3] = np.round(y[: n // 3], 0)
    located = rng.uniform(size=n) > 0.05  # rows without a location have no geometry and no index entry
    located[:batch] = True  # the first batch is handed over without a located mask
    path = str(tmp_path / "points.gpkg")
    writer = gpkg.GeoPackageWriter(path, "points", [("name", "string")], _bng())
    for start in range(0, n, batch):  # batches as an import hands them over, one with every row located
        end = min(n, start + batch)
        part = located[start:end] if start else None
        writer.add({"name": [f"p{i}" for i in range(start, end)]}, x[start:end], y[start:end], part)
    writer.commit()

    # The reference: the same points from the arrays, into an empty R-tree of the same file (same node size).
    fids = np.flatnonzero(located) + 1
    db = sqlite3.connect(path)
    db.execute("CREATE VIRTUAL TABLE reference USING rtree(id, minx, maxx, miny, maxy)")
    bulk_load_rtree(db, "reference", fids, x[located], y[located])
    assert db.execute("SELECT rtreecheck('rtree_points_geom')").fetchone()[0] == "ok"
    assert _tree(db, "rtree_points_geom") == _tree(db, "reference")
    assert db.execute("SELECT count(*) FROM rtree_points_geom").fetchone()[0] == located.sum()
    extent = db.execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name='points'").fetchone()
    assert extent == (x[located].min(), y[located].min(), x[located].max(), y[located].max())
