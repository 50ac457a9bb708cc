"""Write one layer into a PostGIS table in bulk, all or nothing, through GDAL's PostgreSQL driver.

QGIS's feature sink writes a PostGIS table row by row (16,142 rows in 4.3 s: about 4 minutes a million).
Here the rows of a batch travel in one statement: each column as one array literal, unnested by the server
into the table (``INSERT … SELECT … FROM unnest(…) WITH ORDINALITY``), the points made by ST_MakePoint. The
statements go through GDAL's PG driver (``ogr.Open("PG:…")`` and ``ExecuteSQL``), which every QGIS ships,
unlike psycopg2. GDAL's own COPY needs OGR features: from Python that is one call per row (about twice this
path's time); from a GeoPackage written first (ogr2ogr) it came within 10 % of this path for a million rows,
at the cost of a temporary copy of the whole import on disk (benchmarks/bench_postgis.py).

The columns have the types OGR gives the same fields in PostGIS (varchar, date, integer, bigint, double
precision) and a ``fid`` key numbered 1, 2, 3 … as in the GeoPackage. Everything goes into a staging table
named like the plugin's temporary files (host and process); commit adds the GiST index, the statistics and the
table comment (title and abstract, the GeoPackage's metadata), then drops the previous table and renames the
staging table in its place in one transaction, keeping the previous table's grants. A failure or a cancel
drops the staging table: the previous table is untouched. A staging table left by a killed process is dropped
by the next writer in that schema. The connection string carries the credentials: it is never shown, and
every message is cleaned of the password.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import time
import uuid
from typing import Sequence

import numpy as np
from osgeo import gdal, ogr

from crime_mapping_plugin.core.gpkg import _HOST, STALE_AFTER_S, TEMP_PREFIX, _pid_alive
from crime_mapping_plugin.core.wkb import rows_as_bytes

ogr.UseExceptions()

# The types OGR's PG driver gives these fields, so that PostGIS and GeoPackage outputs read back alike.
SQL_TYPES = {
    "string": "varchar",
    "date": "date",
    "integer": "integer",
    "integer64": "bigint",
    "double": "double precision",
}
_GEOMETRY = {"point": "Point", "polygon": "Polygon", "multipolygon": "MultiPolygon"}
_STAGING_RE = re.compile(r"^\.crimemapping-([A-Za-z0-9]+)-(\d+)-[0-9a-f]+$")
# Array literals are built by joining a whole column at once (C speed); these two characters mark the joins
# and the NULLs, and a column holding either is built value by value instead.
_SEP = "\x1f"
_NULL = "\x1e"


class PostgisError(OSError):
    """A PostGIS output that cannot be written; the message names the table and database, never the password."""


def quote(identifier: str) -> str:
    """Return an SQL identifier in double quotes."""
    return '"' + identifier.replace('"', '""') + '"'


def literal(text: str) -> str:
    """Return an SQL string literal (standard_conforming_strings, the default since PostgreSQL 9.1)."""
    return "'" + text.replace("'", "''") + "'"


def _text_array(values: Sequence) -> str:
    """Return a text[] literal of values (None: NULL)."""
    nulls = values.count(None) if isinstance(values, list) else sum(v is None for v in values)
    items = [_NULL if v is None else v for v in values] if nulls else values
    try:
        joined = _SEP.join(items)
    except TypeError:  # not all text: the slow path writes each value's str()
        joined = None
    if joined is not None and joined.count(_SEP) == len(values) - 1 and joined.count(_NULL) == nulls:
        body = joined.replace("\\", "\\\\").replace('"', '\\"')
        body = '"' + body.replace(_SEP, '","') + '"'
        if nulls:
            body = body.replace(f'"{_NULL}"', "NULL")
    else:
        body = ",".join(
            "NULL" if v is None else '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"' for v in values
        )
    if not values:
        body = ""
    # PostgreSQL text cannot hold NUL characters; a GeoPackage can, but no source of this plugin has them.
    return literal("{" + body.replace("\x00", "") + "}")


def _number_array(values: Sequence) -> str:
    """Return a numeric array literal (None and NaN: NULL, as SQLite stores NaN)."""
    out = []
    for v in values:
        if v is None or (isinstance(v, (float, np.floating)) and math.isnan(v)):
            out.append("NULL")
        else:
            out.append(repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v)))
    return "'{" + ",".join(out) + "}'"


def _float_array(values: np.ndarray, keep: np.ndarray | None = None) -> str:
    """Return a float8[] literal of coordinates; rows not kept are NULL (no geometry)."""
    items = [repr(v) for v in np.asarray(values, float).tolist()]
    if keep is not None and not keep.all():
        for i in np.flatnonzero(~keep):
            items[i] = "NULL"
    return "'{" + ",".join(items) + "}'"


class PostgisWriter:
    """Write one layer (points, polygons, multipolygons, or a table without geometry) into a new PostGIS table."""

    def __init__(
        self,
        conninfo: str,
        schema: str,
        table: str,
        fields: Sequence[tuple[str, str]],
        srid: int | None,
        geometry_type: str = "point",
        geometry_column: str = "geom",
        where: str = "",
        secret: str = "",
        description: str = "",
    ) -> None:
        self.schema = schema or "public"
        self.table = table
        self.fields = list(fields)
        self.srid = srid
        self.geometry = srid is not None
        self.geometry_type = geometry_type
        self.geometry_column = geometry_column or "geom"
        self.where = where or "the database"
        self._secret = secret
        self.description = description
        self.count = 0
        self._point_rows = True  # add() sends x and y, add_wkb() one WKB column
        taken = {name.lower() for name, _ in self.fields}
        self.fid_column = next(c for c in ("fid", "fid_1", "fid_2", "fid_3") if c not in taken)
        self.staging = f"{TEMP_PREFIX}{_HOST}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._target = f"{quote(self.schema)}.{quote(self.table)}"
        self._stage = f"{quote(self.schema)}.{quote(self.staging)}"
        self._ds = None
        try:
            gdal.PushErrorHandler("CPLQuietErrorHandler")  # GDAL's own messages may hold the connection string
            try:
                self._ds = ogr.Open("PG:" + conninfo, 1)
            finally:
                gdal.PopErrorHandler()
        except RuntimeError as err:
            raise PostgisError(
                f"Cannot connect to PostgreSQL for {self.where}: {self._clean(err)}. Check the host, port, "
                "database, user name and password (or the authentication configuration) of the connection."
            ) from err
        if self._ds is None:
            raise PostgisError(f"Cannot connect to PostgreSQL for {self.where}.")
        self._check_target()
        self._remove_stale_staging()
        columns = [f"{quote(self.fid_column)} bigserial PRIMARY KEY"]
        if self.geometry:
            kind = _GEOMETRY[self.geometry_type]
            columns.append(f"{quote(self.geometry_column)} geometry({kind}, {int(self.srid)})")
        columns += [f"{quote(name)} {SQL_TYPES[kind]}" for name, kind in self.fields]
        self._execute(f"CREATE TABLE {self._stage} ({', '.join(columns)})", "create the staging table")
        self._execute(
            f"COMMENT ON TABLE {self._stage} IS {literal(f'crimemapping staging {int(time.time())}')}",
            "comment the staging table",
        )
        names = [quote(n) for n, _ in self.fields]
        if self.geometry:
            names.insert(0, quote(self.geometry_column))
        self._names = ", ".join([quote(self.fid_column), *names])

    # --- SQL ------------------------------------------------------------------------------------------------

    def _clean(self, err: object) -> str:
        """Return an error's text without the password (GDAL may quote the connection string)."""
        text = str(err).strip()
        if self._secret:
            text = text.replace(self._secret, "…")
        return re.sub(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "password=…", text)[:600]

    def _execute(self, sql: str, what: str) -> None:
        try:
            result = self._ds.ExecuteSQL(sql)
        except RuntimeError as err:
            raise PostgisError(f"Cannot {what} for {self.where}: {self._clean(err)}") from err
        if result is not None:
            self._ds.ReleaseResultSet(result)

    def _rows(self, sql: str) -> list[list]:
        try:
            result = self._ds.ExecuteSQL(sql)
        except RuntimeError as err:
            raise PostgisError(f"Cannot read the catalogue of {self.where}: {self._clean(err)}") from err
        if result is None:
            return []
        try:
            return [[f.GetField(i) for i in range(f.GetFieldCount())] for f in result]
        finally:
            self._ds.ReleaseResultSet(result)

    def _check_target(self) -> None:
        schema = self._rows(f"SELECT count(*) FROM pg_namespace WHERE nspname = {literal(self.schema)}")
        if not schema or not schema[0][0]:
            raise PostgisError(
                f"The schema '{self.schema}' does not exist in {self.where}: create it or choose another."
            )
        kind = self._rows(
            "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            f"WHERE n.nspname = {literal(self.schema)} AND c.relname = {literal(self.table)}"
        )
        if kind and kind[0][0] not in ("r", "p"):
            raise PostgisError(
                f"{self.schema}.{self.table} in {self.where} is not a table (a view or another object): "
                "choose another name; it is left as it is."
            )
        if self.geometry:
            found = self._rows(f"SELECT count(*) FROM spatial_ref_sys WHERE srid = {int(self.srid)}")
            if not found or not found[0][0]:
                raise PostgisError(
                    f"The CRS of the output (SRID {self.srid}) is not in the spatial_ref_sys table of {self.where}: "
                    "choose an EPSG CRS such as British National Grid (EPSG:27700)."
                )

    def _remove_stale_staging(self) -> None:
        """Drop staging tables of this plugin in the schema whose process is gone or that are a day old."""
        rows = self._rows(
            "SELECT c.relname, obj_description(c.oid, 'pg_class') FROM pg_class c "
            f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = {literal(self.schema)} "
            f"AND c.relkind = 'r' AND c.relname LIKE {literal(TEMP_PREFIX + '%')}"
        )
        now = time.time()
        for name, comment in rows:
            m = _STAGING_RE.match(name or "")
            if not m:
                continue
            stamp = re.match(r"crimemapping staging (\d+)$", comment or "")
            old = bool(stamp) and now - int(stamp.group(1)) > STALE_AFTER_S
            if (m.group(1) == _HOST and not _pid_alive(int(m.group(2)))) or old:
                try:
                    self._execute(f"DROP TABLE IF EXISTS {quote(self.schema)}.{quote(name)}", "drop a stale table")
                except PostgisError:
                    continue  # another user's, or locked: not ours to insist on

    # --- rows -----------------------------------------------------------------------------------------------

    def _insert(self, parts: list[tuple[str, str]], n: int) -> None:
        """Insert n rows given as (array literal, element type) per column, fids continuing the count."""
        aliases = [f"c{i}" for i in range(len(parts))]
        arrays = ", ".join(f"{array}::{kind}[]" for array, kind in parts)
        select = [f"{self.count} + u.n", *self._select_geometry(aliases), *self._select_fields(aliases)]
        sql = (
            f"INSERT INTO {self._stage} ({self._names}) SELECT {', '.join(select)} "
            f"FROM unnest({arrays}) WITH ORDINALITY AS u({', '.join(aliases)}, n)"
        )
        self._execute(sql, f"write rows {self.count + 1}–{self.count + n}")
        self.count += n

    def _select_geometry(self, aliases: list[str]) -> list[str]:
        if not self.geometry:
            return []
        if self._point_rows:
            return [f"ST_SetSRID(ST_MakePoint(u.{aliases[0]}, u.{aliases[1]}), {int(self.srid)})"]
        return [f"ST_SetSRID(ST_GeomFromWKB(decode(u.{aliases[0]}, 'hex')), {int(self.srid)})"]

    def _select_fields(self, aliases: list[str]) -> list[str]:
        offset = (2 if self._point_rows else 1) if self.geometry else 0
        return [f"u.{a}" for a in aliases[offset:]]

    def _field_parts(self, columns: dict[str, Sequence]) -> list[tuple[str, str]]:
        parts = []
        for name, kind in self.fields:
            values = columns[name]
            if kind == "string":
                # text[] rather than varchar[]: the two are the same to the server, text parses faster (~15 %)
                parts.append((_text_array(list(values)), "text"))
            elif kind == "date":
                # A date is ISO text (YYYY-MM-DD…); empty text is no date.
                dates = [None if v is None or v == "" else str(v)[:10] for v in values]
                parts.append((_text_array(dates), "date"))
            else:
                parts.append((_number_array(values), SQL_TYPES[kind]))
        return parts

    def add(
        self,
        columns: dict[str, Sequence],
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        located: np.ndarray | None = None,
    ) -> None:
        """Append rows: one value list per field, and point coordinates (rows not located get no geometry)."""
        self._point_rows = True
        fields = self._field_parts(columns)
        if not self.geometry:
            n = len(columns[self.fields[0][0]]) if self.fields else 0
            if n:
                self._insert(fields, n)
            return
        n = len(x)
        if n == 0:
            return
        keep = None if located is None else np.asarray(located, bool)
        geometry = [(_float_array(x, keep), "float8"), (_float_array(y, keep), "float8")]
        self._insert(geometry + fields, n)

    def add_wkb(
        self,
        columns: dict[str, Sequence],
        wkbs: Sequence[bytes | None] | np.ndarray,
        boxes: np.ndarray,  # noqa: ARG002
    ) -> None:
        """Append rows with WKB geometries (None: no geometry, or a (rows, size) uint8 array as core.wkb builds).

        The boxes are the GeoPackage's R-tree entries and not needed here.
        """
        self._point_rows = False
        if isinstance(wkbs, np.ndarray):
            wkbs = rows_as_bytes(wkbs)
        if not len(wkbs):
            return
        hexes = [None if w is None else bytes(w).hex() for w in wkbs]
        self._insert([(_text_array(hexes), "text"), *self._field_parts(columns)], len(wkbs))

    # --- end ------------------------------------------------------------------------------------------------

    def commit(self, title: str = "", abstract: str = "", replace_layer: bool = False) -> str:  # noqa: ARG002
        """Index, describe and put the table in place of the previous one in one transaction; return its name."""
        if self.geometry:
            self._execute(
                f"CREATE INDEX {quote(self.staging + '_geom')} ON {self._stage} "
                f"USING gist ({quote(self.geometry_column)})",
                "create the spatial index",
            )
        if self.count:
            self._execute(
                f"SELECT setval(pg_get_serial_sequence({literal(self._stage)}, {literal(self.fid_column)}), "
                f"{self.count})",
                "continue the feature ids",
            )
        self._execute(f"ANALYZE {self._stage}", "gather the table's statistics")
        comment = "\n\n".join(t for t in (title, abstract or self.description) if t)
        self._execute(f"COMMENT ON TABLE {self._stage} IS {literal(comment)}", "write the table comment")
        # One simple query is one transaction: the grant copy, the drop and the rename happen together or not
        # at all. No CASCADE: a view on the previous table stops the swap instead of being dropped with it.
        target = literal(self._target)
        swap = (
            "DO $crimemapping$ DECLARE g record; BEGIN "
            f"IF to_regclass({target}) IS NOT NULL THEN "
            "FOR g IN SELECT a.privilege_type AS p, CASE WHEN a.grantee = 0 THEN 'PUBLIC' "
            "ELSE quote_ident(pg_get_userbyid(a.grantee)) END AS who "
            f"FROM pg_class c, aclexplode(c.relacl) a WHERE c.oid = to_regclass({target}) "
            "AND a.grantee <> c.relowner LOOP "
            f"EXECUTE format('GRANT %s ON %s TO %s', g.p, {literal(self._stage)}, g.who); "
            "END LOOP; END IF; END $crimemapping$; "
            f"DROP TABLE IF EXISTS {self._target}; "
            f"ALTER TABLE {self._stage} RENAME TO {quote(self.table)}"
        )
        try:
            self._execute(swap, f"replace the table {self.schema}.{self.table}")
        except PostgisError as err:
            self.abort()
            raise PostgisError(f"{err}. The previous table is unchanged.") from err
        # The key, sequence and index keep the staging names unless renamed; a clash only leaves a name.
        tidy = (
            "DO $crimemapping$ BEGIN "
            f"EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', {literal(self.schema)}, "
            f"{literal(self.staging + '_pkey')}, {literal(self.table + '_pkey')}); "
            f"EXECUTE format('ALTER INDEX %I.%I RENAME TO %I', {literal(self.schema)}, "
            f"{literal(self.staging + '_geom')}, {literal(self.table + '_' + self.geometry_column + '_idx')}); "
            "EXCEPTION WHEN OTHERS THEN NULL; END $crimemapping$; "
            "DO $crimemapping$ BEGIN "
            f"EXECUTE format('ALTER SEQUENCE %I.%I RENAME TO %I', {literal(self.schema)}, "
            f"{literal(self.staging + '_' + self.fid_column + '_seq')}, "
            f"{literal(self.table + '_' + self.fid_column + '_seq')}); "
            "EXCEPTION WHEN OTHERS THEN NULL; END $crimemapping$"
        )
        with contextlib.suppress(PostgisError):  # cosmetic
            self._execute(tidy, "rename the key and index")
        self._close()
        return f"{self.schema}.{self.table}"

    def abort(self) -> None:
        """Drop everything written so far (the staging table); the previous table stays as it was."""
        if self._ds is None:
            return
        try:
            self._execute(f"DROP TABLE IF EXISTS {self._stage}", "drop the staging table")
        except PostgisError:
            pass  # the next writer in this schema drops it (its process is gone by then)
        finally:
            self._close()

    def _close(self) -> None:
        self._ds = None
