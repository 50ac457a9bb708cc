"""Write point layers to a GeoPackage in bulk, all or nothing.

Building one QgsFeature per row and writing it through QgsVectorFileWriter costs about 30 µs a row,
which dominates an import of a year of police.uk data. GDAL/OGR creates the GeoPackage (so its tables,
SRS and field types are exactly what QGIS expects) and the rows are then inserted with one SQLite
statement per batch. Everything is written to a temporary file beside the destination and renamed over
it on commit (or, for a layer of an existing GeoPackage, swapped in with one SQLite transaction that
leaves the file's other layers alone), so a cancelled or failed run leaves no half-written output and
the previous output as it was. A temporary file left by a killed process is removed by the next writer
in that folder. The layer's per-row
triggers (R-tree and feature count) are lifted during the bulk insert, the R-tree is bulk-loaded
(core.rtree_bulk) and the triggers are restored word for word, as GDAL itself does for bulk loads.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import sqlite3
import tempfile
import time
from typing import Sequence

import numpy as np
from osgeo import ogr, osr

from crime_mapping_plugin.core.rtree_bulk import bulk_load_rtree_rounded, rounded_boxes
from crime_mapping_plugin.core.wkb import geopackage_header, point_wkb, rows_as_bytes

ogr.UseExceptions()
osr.UseExceptions()

_OGR_TYPES = {
    "string": (ogr.OFTString, None),
    "date": (ogr.OFTDate, None),
    "integer": (ogr.OFTInteger, None),
    "integer64": (ogr.OFTInteger64, None),
    "double": (ogr.OFTReal, None),
}


_OGR_GEOMETRY = {"point": ogr.wkbPoint, "polygon": ogr.wkbPolygon, "multipolygon": ogr.wkbMultiPolygon}

# Temporary files are named after the host and process writing them, so that the next writer can tell a
# file of a process that is gone (killed, crashed) from one still being written.
TEMP_PREFIX = ".crimemapping-"
_HOST = re.sub(r"[^A-Za-z0-9]", "", socket.gethostname())[:20] or "host"
# Any output's temporary file (GeoPackage and its journals, raster, shapefile parts, PNG); never the copy of a
# previous output kept while its replacement is put in place (".crimemapping-previous-…").
_TEMP_RE = re.compile(r"^\.crimemapping-(?!previous-)(?:([A-Za-z0-9]+)-(\d+)-)?.+$")
# A temporary file this old is stale whoever wrote it (another host, or one named before pids were kept).
STALE_AFTER_S = 24 * 3600


class GeoPackageError(OSError):
    """An output that cannot be written; the message names the file or folder and what to do."""


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    if os.name == "nt":
        import ctypes

        kernel32 = ctypes.windll.kernel32
        handle = kernel32.OpenProcess(0x1000, False, pid)  # PROCESS_QUERY_LIMITED_INFORMATION
        if not handle:
            return ctypes.GetLastError() == 5  # access denied: the process exists
        code = ctypes.c_ulong()
        kernel32.GetExitCodeProcess(handle, ctypes.byref(code))
        kernel32.CloseHandle(handle)
        return code.value == 259  # STILL_ACTIVE
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def remove_stale_temporary_files(folder: str) -> list[str]:
    """Remove this plugin's temporary files (and work folders) in folder whose process is gone; return their names."""
    removed: list[str] = []
    try:
        names = os.listdir(folder)
    except OSError:
        return removed
    now = time.time()
    for name in names:
        m = _TEMP_RE.match(name)
        if not m:
            continue
        path = os.path.join(folder, name)
        host, pid = m.group(1), m.group(2)
        try:
            old = now - os.path.getmtime(path) > STALE_AFTER_S
            if (host == _HOST and pid is not None and not _pid_alive(int(pid))) or old:
                if os.path.isdir(path) and not os.path.islink(path):
                    shutil.rmtree(path)  # a folder output's work folder (the website of area profiles)
                else:
                    os.remove(path)
                removed.append(name)
        except OSError:
            continue
    return removed


def temporary_path(folder: str, suffix: str = ".gpkg") -> str:
    """Return a new temporary file name in folder (not created), after removing stale ones there.

    Every output of the plugin is written under such a name beside its destination and moved into place on
    success; the name carries the host and process, so that the next run can remove what a killed one left.
    """
    remove_stale_temporary_files(folder)
    try:
        os.makedirs(folder, exist_ok=True)
        handle, path = tempfile.mkstemp(prefix=f"{TEMP_PREFIX}{_HOST}-{os.getpid()}-", suffix=suffix, dir=folder)
    except OSError as err:
        raise GeoPackageError(
            f"Cannot write in the folder {folder} ({err.strerror or err}): choose an output in a folder you "
            "can write to."
        ) from err
    os.close(handle)
    os.remove(path)
    return path


def column_values(values: Sequence | np.ndarray) -> Sequence:
    """Return a column as values SQLite binds: a numpy array becomes a list in one conversion, NaN as None.

    Lists are returned as they are (the caller has made their values plain).
    """
    if not isinstance(values, np.ndarray):
        return values
    if values.dtype.kind == "f":
        missing = np.isnan(values)
        if missing.any():
            out = values.astype(object)
            out[missing] = None
            return out.tolist()
        return values.tolist()
    if values.dtype.kind in "biu":
        return values.astype(np.int64).tolist()
    return values.tolist()


class GeoPackageWriter:
    """Write one layer (points, polygons, multipolygons, or a table without a CRS) into a new GeoPackage."""

    def __init__(
        self,
        path: str,
        layer_name: str,
        fields: Sequence[tuple[str, str]],
        crs_wkt: str | None,
        description: str = "",
        geometry_type: str = "point",
    ) -> None:
        self.path = os.path.abspath(path)
        self.layer_name = layer_name
        self.fields = list(fields)
        self.geometry_type = geometry_type
        # The table's own row id, numbered 1, 2, 3 … as the R-tree expects; a field already called fid
        # (a GeoPackage source's feature id) stays an ordinary column beside it.
        taken = {name.lower() for name, _ in self.fields}
        self.fid_column = next(c for c in ("fid", "fid_1", "fid_2", "fid_3") if c not in taken)
        self.count = 0
        self._bounds = [np.inf, np.inf, -np.inf, -np.inf]
        self._tmp = temporary_path(os.path.dirname(self.path) or ".")
        try:
            self._srs_id = self._create(crs_wkt, description)
        except (RuntimeError, sqlite3.Error) as err:
            self._remove_temporary()
            raise GeoPackageError(f"Cannot create the GeoPackage {self.path}: {err}") from err
        self._db = sqlite3.connect(self._tmp)
        self._db.execute("PRAGMA synchronous=OFF")
        self._db.execute("PRAGMA journal_mode=MEMORY")
        self._triggers = self._db.execute(
            "SELECT name, sql FROM sqlite_master WHERE type='trigger' AND tbl_name=?", (layer_name,)
        ).fetchall()
        for name, _ in self._triggers:
            self._db.execute(f"DROP TRIGGER {_quote(name)}")
        # What the R-tree is built from at commit, batch by batch in fid order: for points, only the batch's
        # first and last fid (their coordinates are read back from the table then, so that memory does not grow
        # with the rows); for other geometries, the fids and float32 boxes (min x, max x, min y, max y).
        self._index_parts: list[tuple[np.ndarray, np.ndarray]] = []
        self._indexed = 0  # rows with a geometry, which alone enter the R-tree
        self.geometry = crs_wkt is not None
        names = [_quote(n) for n, _ in self.fields]
        if self.geometry:
            names.insert(0, "geom")
        marks = ", ".join("?" for _ in names)
        self._insert = f"INSERT INTO {_quote(layer_name)} ({', '.join(names)}) VALUES ({marks})"

    def _create(self, crs_wkt: str | None, description: str) -> int:
        driver = ogr.GetDriverByName("GPKG")
        ds = driver.CreateDataSource(self._tmp)
        srs = None
        if crs_wkt is not None:
            srs = osr.SpatialReference()
            srs.ImportFromWkt(crs_wkt)
            srs.SetAxisMappingStrategy(osr.OAMS_TRADITIONAL_GIS_ORDER)
        options = ["SPATIAL_INDEX=YES", "GEOMETRY_NAME=geom", f"FID={self.fid_column}"]
        if description:
            options.append(f"DESCRIPTION={description}")
        kind = _OGR_GEOMETRY[self.geometry_type] if srs is not None else ogr.wkbNone
        layer = ds.CreateLayer(self.layer_name, srs, kind, options=options)
        for name, kind in self.fields:
            layer.CreateField(ogr.FieldDefn(name, _OGR_TYPES[kind][0]))
        layer = None
        ds = None
        db = sqlite3.connect(self._tmp)
        try:
            row = db.execute(
                "SELECT srs_id FROM gpkg_geometry_columns WHERE table_name = ?", (self.layer_name,)
            ).fetchone()
        finally:
            db.close()
        return int(row[0]) if row else 0

    def add(
        self,
        columns: dict[str, Sequence],
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        located: np.ndarray | None = None,
    ) -> None:
        """Append rows: one value list per field, and point coordinates (rows not located get no geometry)."""
        values = [column_values(columns[name]) for name, _ in self.fields]
        if not self.geometry:
            if values and len(values[0]):
                self._db.executemany(self._insert, zip(*values))
                self.count += len(values[0])
            return
        n = len(x)
        if n == 0:
            return
        x = np.asarray(x, float)
        y = np.asarray(y, float)
        # GDAL writes points without an envelope: the header, then the WKB point.
        header = np.broadcast_to(geopackage_header(self._srs_id), (n, 8))
        geoms: list = rows_as_bytes(np.concatenate([header, point_wkb(x, y)], axis=1))
        present = None
        if located is not None and not np.all(located):
            present = np.asarray(located, bool)
            for i in np.flatnonzero(~present).tolist():
                geoms[i] = None
        self._append(values, geoms, np.column_stack([x, x, y, y]), present)  # a point is its own box

    def add_wkb(
        self, columns: dict[str, Sequence], wkbs: Sequence[bytes | None] | np.ndarray, boxes: np.ndarray
    ) -> None:
        """Append rows with WKB geometries and their boxes (min x, max x, min y, max y).

        wkbs is a list (None: no geometry) or, for geometries of one size such as grid cells, a (rows, size)
        uint8 array, which is turned into GeoPackage blobs (header, envelope, WKB) in one array operation.
        """
        values = [column_values(columns[name]) for name, _ in self.fields]
        boxes = np.asarray(boxes, float).reshape(-1, 4)
        if isinstance(wkbs, np.ndarray):
            blobs = np.concatenate([geopackage_header(self._srs_id, boxes), wkbs], axis=1)
            self._append(values, rows_as_bytes(blobs), boxes, None)
            return
        headers = rows_as_bytes(geopackage_header(self._srs_id, boxes))
        geoms = [None if wkb is None else head + bytes(wkb) for head, wkb in zip(headers, wkbs)]
        present = np.fromiter((g is not None for g in geoms), dtype=bool, count=len(geoms))
        self._append(values, geoms, boxes, None if present.all() else present)

    def _append(self, values: list[Sequence], geoms: list, boxes: np.ndarray, present: np.ndarray | None) -> None:
        """Insert rows; present marks the rows with a geometry (None: all), which alone enter the R-tree."""
        n = len(geoms)
        if n == 0:
            return
        # The R-tree's entries, kept from now to the commit: 20 bytes a geometry (int32 fids below 2**31, float32
        # boxes), which costs less than reading the geometries back from the table then.
        fids = np.arange(self.count + 1, self.count + n + 1, dtype=np.int32 if self.count + n < 2**31 else np.int64)
        if present is not None:
            fids = fids[present]
            boxes = boxes[present]
        if len(boxes):
            self._extend_bounds(
                float(np.min(boxes[:, 0])),
                float(np.min(boxes[:, 2])),
                float(np.max(boxes[:, 1])),
                float(np.max(boxes[:, 3])),
            )
            self._index_parts.append((fids, rounded_boxes(boxes[:, 0], boxes[:, 1], boxes[:, 2], boxes[:, 3])))
            self._indexed += len(fids)
        self._db.executemany(self._insert, zip(geoms, *values))
        self.count += n

    def _extend_bounds(self, min_x: float, min_y: float, max_x: float, max_y: float) -> None:
        b = self._bounds
        b[0], b[1] = min(b[0], min_x), min(b[1], min_y)
        b[2], b[3] = max(b[2], max_x), max(b[3], max_y)

    def _index_entries(self) -> tuple[np.ndarray, np.ndarray]:
        """Return the fids and float32 boxes the R-tree holds, in fid order, from the parts kept per batch."""
        n = self._indexed
        fids = np.empty(n, dtype=np.int32 if self.count < 2**31 else np.int64)
        boxes = np.empty((n, 4), dtype=np.float32)
        at = 0
        while self._index_parts:
            part_fids, part_boxes = self._index_parts.pop(0)  # each part freed as it is copied
            k = len(part_fids)
            fids[at : at + k] = part_fids
            boxes[at : at + k] = part_boxes
            at += k
        if at != n:
            raise RuntimeError(f"{self._tmp}: {at} entries for the spatial index, {n} geometries written")
        return fids, boxes

    def commit(self, title: str = "", abstract: str = "", replace_layer: bool = False) -> str:
        """Finish the layer (extent, count, spatial index, title and abstract) and move it into place.

        With replace_layer, an existing GeoPackage at the path keeps its other layers and gets this
        layer in place of one of the same name; otherwise the file is replaced.
        """
        db = self._db
        if title or abstract:
            # QGIS reads these as the layer's metadata title and abstract, wherever the file goes.
            db.execute(
                "UPDATE gpkg_contents SET identifier = coalesce(nullif(?, ''), identifier), "
                "description = coalesce(nullif(?, ''), description) WHERE table_name = ?",
                (title, abstract, self.layer_name),
            )
        if np.isfinite(self._bounds[0]):
            db.execute(
                "UPDATE gpkg_contents SET min_x=?, min_y=?, max_x=?, max_y=? WHERE table_name=?",
                (*self._bounds, self.layer_name),
            )
        has_counts = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type='table' AND name='gpkg_ogr_contents'"
        ).fetchone()
        if has_counts:
            db.execute("UPDATE gpkg_ogr_contents SET feature_count=? WHERE table_name=?", (self.count, self.layer_name))
        stored, top = db.execute(
            f"SELECT count(*), coalesce(max({_quote(self.fid_column)}), 0) FROM {_quote(self.layer_name)}"
        ).fetchone()
        if stored != self.count or top != self.count:
            raise RuntimeError(f"{self._tmp}: {stored} rows stored (last fid {top}), {self.count} written")
        if self.geometry and self._indexed:
            # The entries are made in the call, so that the bulk load can free each array as it goes.
            bulk_load_rtree_rounded(db, f"rtree_{self.layer_name}_geom", *self._index_entries())
        for _, sql in self._triggers:
            db.execute(sql)
        db.commit()
        db.close()
        try:
            if replace_layer and os.path.exists(self.path):
                install_layer(self.path, self._tmp, self.layer_name)
                self._remove_temporary()
            else:
                os.replace(self._tmp, self.path)
        except OSError as err:
            self._remove_temporary()
            if isinstance(err, GeoPackageError):
                raise
            raise GeoPackageError(f"Cannot write {self.path} ({err.strerror or err}).") from err
        return self.path

    def abort(self) -> None:
        """Drop everything written so far."""
        try:
            self._db.close()
        finally:
            self._remove_temporary()

    def _remove_temporary(self) -> None:
        for suffix in ("", "-journal", "-wal", "-shm"):
            if os.path.exists(self._tmp + suffix):
                os.remove(self._tmp + suffix)


# The GeoPackage tables that describe a layer, each with the column holding the layer's name.
_LAYER_TABLES = (
    ("gpkg_extensions", "table_name"),
    ("gpkg_metadata_reference", "table_name"),
    ("gpkg_data_columns", "table_name"),
    ("gpkg_ogr_contents", "table_name"),
    ("gpkg_geometry_columns", "table_name"),
    ("gpkg_contents", "table_name"),
)


def install_layer(target: str, source: str, layer: str) -> None:
    """Copy layer from GeoPackage source into target, replacing a layer of that name, in one transaction.

    The target's other layers are not touched; on any error the transaction is rolled back and the
    target is as it was.
    """
    try:
        db = sqlite3.connect(target, timeout=30, isolation_level=None)
    except sqlite3.Error as err:
        raise GeoPackageError(f"Cannot open {target} ({err}).") from err
    try:
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        except sqlite3.DatabaseError as err:
            raise GeoPackageError(f"{target} is not a GeoPackage ({err}): choose another file.") from err
        if "gpkg_contents" not in tables:
            raise GeoPackageError(f"{target} is not a GeoPackage (it has no gpkg_contents table): choose another file.")
        db.execute("ATTACH DATABASE ? AS src", (source,))
        db.execute("BEGIN IMMEDIATE")
        try:
            _drop_layer(db, layer, tables)
            _copy_layer(db, layer, tables)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        db.execute("DETACH DATABASE src")
    except sqlite3.Error as err:
        raise GeoPackageError(f"Cannot write the layer '{layer}' into {target} ({err}); it is unchanged.") from err
    finally:
        db.close()


def _drop_layer(db: sqlite3.Connection, layer: str, tables: set[str]) -> None:
    rows = db.execute(
        "SELECT table_name, column_name FROM main.gpkg_geometry_columns WHERE lower(table_name) = lower(?)", (layer,)
    ).fetchall()
    for table, column in rows:
        db.execute(f"DROP TABLE IF EXISTS main.{_quote(f'rtree_{table}_{column}')}")
    kind = db.execute("SELECT type FROM main.sqlite_master WHERE lower(name) = lower(?)", (layer,)).fetchone()
    if kind is not None:
        db.execute(f"DROP {'VIEW' if kind[0] == 'view' else 'TABLE'} main.{_quote(layer)}")
    for table, column in _LAYER_TABLES:
        if table in tables:
            db.execute(f"DELETE FROM main.{table} WHERE lower({column}) = lower(?)", (layer,))


def _copy_layer(db: sqlite3.Connection, layer: str, tables: set[str]) -> None:
    schema = db.execute(
        "SELECT type, name, sql FROM src.sqlite_master WHERE tbl_name = ? OR name LIKE ?", (layer, f"rtree_{layer}_%")
    ).fetchall()
    for name in ("gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents"):
        if name not in tables:
            sql = db.execute("SELECT sql FROM src.sqlite_master WHERE name = ?", (name,)).fetchone()
            if sql:
                db.execute(sql[0])
                tables.add(name)
    srs = db.execute("SELECT srs_id FROM src.gpkg_contents WHERE table_name = ?", (layer,)).fetchone()
    if srs and srs[0] is not None:
        db.execute(
            "INSERT INTO main.gpkg_spatial_ref_sys SELECT * FROM src.gpkg_spatial_ref_sys "
            "WHERE srs_id = ? AND srs_id NOT IN (SELECT srs_id FROM main.gpkg_spatial_ref_sys)",
            (srs[0],),
        )
    db.execute(next(sql for kind, name, sql in schema if kind == "table" and name == layer))
    db.execute(f"INSERT INTO main.{_quote(layer)} SELECT * FROM src.{_quote(layer)}")
    rtree = [name for kind, name, sql in schema if kind == "table" and sql and "VIRTUAL TABLE" in sql.upper()]
    for name in rtree:
        db.execute(next(sql for _, n, sql in schema if n == name))
        for part in ("node", "parent", "rowid"):
            shadow = _quote(f"{name}_{part}")
            db.execute(f"DELETE FROM main.{shadow}")
            db.execute(f"INSERT INTO main.{shadow} SELECT * FROM src.{shadow}")
    columns = "table_name, data_type, identifier, description, last_change, min_x, min_y, max_x, max_y, srs_id"
    row = db.execute(f"SELECT {columns} FROM src.gpkg_contents WHERE table_name = ?", (layer,)).fetchone()
    row = list(row)
    # gpkg_contents.identifier is unique: a second import of the same months under another layer name
    # would repeat the first's title.
    if db.execute("SELECT 1 FROM main.gpkg_contents WHERE identifier = ?", (row[2],)).fetchone():
        row[2] = f"{row[2]} ({layer})"
    db.execute(f"INSERT INTO main.gpkg_contents ({columns}) VALUES ({', '.join('?' * len(row))})", row)
    for table in ("gpkg_geometry_columns", "gpkg_extensions", "gpkg_ogr_contents"):
        if table in tables:
            db.execute(
                f"INSERT INTO main.{table} SELECT * FROM src.{table} WHERE lower(table_name) = lower(?)", (layer,)
            )
    for kind, _, sql in schema:
        if kind in ("trigger", "index") and sql:
            db.execute(sql)


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'
