"""PostGIS layers read in bulk, and crimes counted into areas by the database, through GDAL's PostgreSQL driver.

A PostGIS layer read through QGIS's provider arrives one QgsFeature at a time (16,142 crimes: 27 s for Gi*);
the same rows fetched by one SQL query through GDAL's PG driver (``ogr.Open("PG:…")`` + ``ExecuteSQL``, in
every QGIS, unlike psycopg2) and its Arrow stream arrive as columns, as a GeoPackage's do. The layer's subset
string is the provider's WHERE clause, in the server's SQL, so the server applies it here too; a selection
becomes a key list, a feature limit a LIMIT. Credentials come from the layer's URI, an authcfg resolved by
QGIS's authentication manager; the connection string holds them, so it is never logged, and GDAL's messages
are cleaned of it before they are shown.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Mapping, Sequence

import numpy as np
from osgeo import gdal, ogr

from crime_mapping_plugin.core import ward_counts
from crime_mapping_plugin.core.crime_points import (
    MONTH,
    NUMBER,
    TEXT,
    BulkReadUnavailableError,
    PointTable,
    read_arrow_layer,
)
from crime_mapping_plugin.core.postgis_writer import PostgisError, quote

if TYPE_CHECKING:
    from qgis.core import QgsDataSourceUri, QgsVectorLayer

ogr.UseExceptions()

# Rows GDAL's PG driver fetches per cursor step (its default, 500, costs a round trip per 500 crimes).
CURSOR_PAGE = "100000"
IN_BULK_PG = "in bulk by one query to PostGIS"
IN_DATABASE = "and counted into the areas by PostGIS, in one query"


@dataclass(frozen=True)
class PgSource:
    """A PostGIS layer as the server sees it: the rows a QGIS layer shows, and where they are.

    connection is a libpq connection string with the credentials (repr hides it: never log it); relation the
    quoted table or the layer's own query; where the layer's subset string; ids the selected keys (None: all);
    limit the feature limit (−1: none); server names the database for messages (no user, no password).
    """

    connection: str = field(repr=False)
    relation: str
    geometry: str
    key: str = ""
    where: str = ""
    ids: tuple[int, ...] | None = None
    limit: int = -1
    server: str = ""

    def same_database(self, other: PgSource) -> bool:
        """True when both are reached through the same connection (one query can join them)."""
        return self.connection == other.connection

    def narrowing(self) -> str:
        """Return the WHERE and LIMIT that give the layer's rows (the subset string, the selection, the limit)."""
        conditions = []
        if self.where.strip():
            conditions.append(f"({self.where})")
        if self.ids is not None:
            keys = ",".join(str(int(i)) for i in self.ids)
            conditions.append(f"{quote(self.key)} = ANY('{{{keys}}}'::bigint[])")
        sql = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        return sql + (f" LIMIT {int(self.limit)}" if self.limit >= 0 else "")

    def read(
        self,
        columns: Mapping[str, str],
        geometry: bool = True,
        explode: bool = False,
        is_cancelled: Callable[[], bool] = lambda: False,
    ) -> PointTable:
        """Read the layer's points and columns by one query (see read_pg_table)."""
        return read_pg_table(self, columns, geometry, explode, is_cancelled)


def _literal(value: str) -> str:
    """Return a libpq connection value in single quotes."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def connection_string(uri: QgsDataSourceUri) -> str:
    """Return the libpq connection string of a PostGIS URI, its authcfg resolved by QGIS's auth manager.

    The one implementation for reading (pg_source) and writing (processing/postgis_destination.py); raise
    PostgisError when the authentication configuration cannot be used.
    """
    from qgis.core import QgsApplication, QgsDataSourceUri

    items = []
    for key, value in (
        ("service", uri.service()),
        ("dbname", uri.database()),
        ("host", uri.host()),
        ("port", uri.port()),
        ("user", uri.username()),
        ("password", uri.password()),
    ):
        if value:
            items.append(f"{key}={_literal(value)}")
    if uri.sslMode() != QgsDataSourceUri.SslPrefer:
        mode = QgsDataSourceUri.encodeSslMode(uri.sslMode())
        if mode:
            items.append(f"sslmode={mode}")
    if uri.authConfigId():
        ok, items = QgsApplication.authManager().updateDataSourceUriItems(items, uri.authConfigId(), "postgres")
        if not ok:
            where = f"{uri.host() or 'the local socket'}:{uri.port()}" if uri.port() else uri.host() or uri.service()
            raise PostgisError(
                f"The authentication configuration '{uri.authConfigId()}' of the connection to database "
                f'"{uri.database()}" on {where} could not be used: check it in Settings ▸ Options ▸ '
                "Authentication (is the master password set?)."
            )
    return " ".join(items)


def pg_source(layer: QgsVectorLayer, selected: bool = False, limit: int = -1) -> PgSource | None:
    """Return the PgSource of a QGIS PostGIS layer (its selection when selected), None for any other layer."""
    from qgis.core import QgsDataSourceUri, QgsWkbTypes

    if layer is None or layer.providerType() != "postgres":
        return None
    uri = QgsDataSourceUri(layer.source())
    table = uri.table()
    if table.startswith("("):  # a query layer: its SQL is the relation
        relation = f"{table} AS crimemapping_query"
    else:
        relation = f"{quote(uri.schema())}.{quote(table)}" if uri.schema() else quote(table)
    ids = None
    if selected:
        key = uri.keyColumn().strip('"')
        if not key or "," in key or layer.fields().lookupField(key) < 0:
            raise BulkReadUnavailableError("its selection has no single key column to send to the server")
        if layer.fields().field(key).type() not in (2, 3, 4, 5):  # QVariant Int, UInt, LongLong, ULongLong
            raise BulkReadUnavailableError(f"its key column {key} is not a whole number")
        ids = tuple(sorted(int(i) for i in layer.selectedFeatureIds()))
    server = f"{uri.host() or 'local'}:{uri.port() or '5432'}/{uri.database() or uri.service()}"
    try:
        connection = connection_string(uri)
    except PostgisError as err:
        raise BulkReadUnavailableError(str(err)) from None
    pg = PgSource(
        connection,
        relation,
        uri.geometryColumn(),
        uri.keyColumn().strip('"'),
        layer.subsetString(),
        ids,
        limit,
        server,
    )
    if uri.wkbType() != QgsWkbTypes.Unknown and geometry_type(pg) in ("GEOMETRY", "GEOMETRYCOLLECTION"):
        # QGIS shows one geometry type of a generic column, filtering the others out by a clause of its own.
        raise BulkReadUnavailableError("its geometry column is generic, and QGIS shows one geometry type of it")
    return pg


class PgQuery:
    """One query's result layer through GDAL's PG driver (use with `with`); errors never show the credentials."""

    def __init__(self, pg: PgSource, sql: str, setup: Sequence[str] = ()) -> None:
        self.pg = pg
        self.sql = sql
        self.setup = setup
        self.ds: gdal.Dataset | None = None
        self.layer: ogr.Layer | None = None

    def _clean(self, err: BaseException) -> str:
        text = str(err).replace(self.pg.connection, "…")
        return re.sub(r"password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)", "password=…", text)

    def __enter__(self) -> ogr.Layer:
        previous = gdal.GetConfigOption("OGR_PG_CURSOR_PAGE")
        gdal.SetConfigOption("OGR_PG_CURSOR_PAGE", CURSOR_PAGE)
        try:
            self.ds = gdal.OpenEx("PG:" + self.pg.connection, gdal.OF_VECTOR, open_options=["LIST_ALL_TABLES=NO"])
            for statement in self.setup:
                self.ds.ExecuteSQL(statement)
            # Wrapped in a SELECT: GDAL makes a result layer only of a statement that starts with one.
            self.layer = self.ds.ExecuteSQL(f"SELECT * FROM ({self.sql}) AS crimemapping_result")
        except RuntimeError as err:
            self.ds = None
            raise BulkReadUnavailableError(f"PostGIS at {self.pg.server}: {self._clean(err)}") from None
        finally:
            gdal.SetConfigOption("OGR_PG_CURSOR_PAGE", previous)
        if self.layer is None:
            self.ds = None
            raise BulkReadUnavailableError(f"PostGIS at {self.pg.server} returned no result")
        return self.layer

    def __exit__(self, *exc: object) -> None:
        if self.ds is not None and self.layer is not None:
            self.ds.ReleaseResultSet(self.layer)
        self.layer = None
        self.ds = None  # close the connection now


def field_kinds(layer: ogr.Layer) -> dict[str, int]:
    """Return the OGR type of each field of a layer, by name."""
    defn = layer.GetLayerDefn()
    return {defn.GetFieldDefn(i).GetName(): defn.GetFieldDefn(i).GetType() for i in range(defn.GetFieldCount())}


def read_pg_table(
    pg: PgSource,
    columns: Mapping[str, str],
    geometry: bool = True,
    explode: bool = False,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> PointTable:
    """Read the points and columns of a PostGIS layer by one query (what crime_points.read_ogr_table returns)."""
    if geometry and not pg.geometry:
        raise BulkReadUnavailableError("the layer has no geometry column")
    selected = [quote(pg.geometry)] if geometry else []
    selected += [quote(c) for c in columns]
    sql = f"SELECT {', '.join(selected) or '1 AS crimemapping_row'} FROM {pg.relation}{pg.narrowing()}"
    try:
        with PgQuery(pg, sql) as layer:
            table = read_arrow_layer(layer, field_kinds(layer), columns, geometry, explode, is_cancelled)
    except (RuntimeError, KeyError) as err:
        raise BulkReadUnavailableError(f"PostGIS at {pg.server}: {err}") from None
    table.how = IN_BULK_PG
    return table


def geometry_type(pg: PgSource) -> str:
    """Return the geometry type PostGIS declares for the layer's column ('GEOMETRY' when generic or unknown)."""
    match = re.fullmatch(r'"((?:[^"]|"")*)"\."((?:[^"]|"")*)"', pg.relation)
    if not match:
        return "GEOMETRY"
    schema, table = (m.replace('""', '"') for m in match.groups())

    def text(value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    sql = (
        f"SELECT type FROM geometry_columns WHERE f_table_schema = {text(schema)} AND f_table_name = {text(table)} "
        f"AND f_geometry_column = {text(pg.geometry)}"
    )
    with PgQuery(pg, sql) as layer:
        feature = layer.GetNextFeature()
        return str(feature.GetField(0)).upper() if feature is not None else "GEOMETRY"


@dataclass
class AreaGroup:
    """Crimes that share an area, a month, a type and a group value, a location state and a boundary state."""

    code: str | None  # the area the rule gives (None: outside every area, or no location)
    month: int  # read by core.months' rule (NO_MONTH where none)
    crime_type: object
    crime_group: object
    located: bool
    hits: int  # areas whose closure holds the point (more than one: a shared boundary or an overlap)
    on_edge: bool  # on the boundary of an area holding it
    count: int


@dataclass
class DatabaseCounts:
    """What the counting query returned: its groups, and the SQL that made them (for the log and tests)."""

    groups: list[AreaGroup]
    sql: str


def count_sql(
    crimes: PgSource,
    areas: PgSource,
    code_field: str,
    month_field: str | None,
    type_field: str | None,
    group_field: str | None,
) -> str:
    """Return the one query counting crimes into areas by the plugin's rule (docs/methods.md §4.4).

    ST_Intersects of a polygon and a point is true inside and on the boundary (the closure, as the plugin's
    rule). Each area is joined to the crimes through the crimes' spatial index (the area's polygon stays
    prepared across its points); the pairs are then grouped by crime, which goes to the area whose code sorts
    first (bytewise, COLLATE "C", as Python compares text). 'area' rows give those crimes by area and by the
    raw month, type and group values; 'all' rows give every crime by the same values and whether it has a
    point, so the crimes outside every area are the difference (Python reads the values by core.months'
    and the choice's own rules).
    """
    values = []
    for alias, name in (("m", month_field), ("t", type_field), ("gr", group_field)):
        values.append(f"{quote(name)} AS {alias}" if name else f"NULL::text AS {alias}")
    crime_rows = (
        f"SELECT ctid AS crimemapping_id, {quote(crimes.geometry)} AS crimemapping_pt, {', '.join(values)} "
        f"FROM {crimes.relation}{crimes.narrowing()}"
    )
    area_code = f"btrim({quote(code_field)}::text, E' \\t\\n\\r\\f\\v')"
    area_where = f" WHERE ({areas.where})" if areas.where.strip() else ""
    areas_sql = (
        f"SELECT {area_code} AS crimemapping_code, {quote(areas.geometry)} AS crimemapping_area "
        f"FROM {areas.relation}{area_where}"
    )
    located = "coalesce(ST_GeometryType(crimemapping_pt) = 'ST_Point' AND NOT ST_IsEmpty(crimemapping_pt), false)"
    return (
        f"WITH a0 AS MATERIALIZED ({areas_sql}), "
        "a1 AS MATERIALIZED (SELECT row_number() OVER () AS k, * FROM a0), "
        # Areas whose interior meets another's (an overlap, or a digitising sliver): their crimes may be in two.
        "a AS MATERIALIZED (SELECT x.*, EXISTS (SELECT 1 FROM a1 y WHERE y.k <> x.k "
        "AND y.crimemapping_area && x.crimemapping_area "
        "AND ST_Relate(x.crimemapping_area, y.crimemapping_area, 'T********')) AS overlapping FROM a1 x), "
        "pairs AS (SELECT CASE WHEN e.edge OR e.overlapping THEN e.id END AS id, e.code, e.edge, e.m, e.t, e.gr, "
        "count(*) AS n FROM ("
        "SELECT c.crimemapping_id AS id, a.crimemapping_code AS code, a.overlapping, "
        "NOT ST_Contains(a.crimemapping_area, c.crimemapping_pt) AS edge, c.m, c.t, c.gr "
        f"FROM a JOIN ({crime_rows}) c ON ST_Intersects(a.crimemapping_area, c.crimemapping_pt) "
        "WHERE ST_GeometryType(c.crimemapping_pt) = 'ST_Point') e GROUP BY 1, 2, 3, 4, 5, 6), "
        # A crime that may be in several areas is grouped on its own and goes to the first code.
        'several AS (SELECT min(code COLLATE "C") AS code, count(*) AS hits, bool_or(edge) AS on_edge, '
        "min(m) AS m, min(t) AS t, min(gr) AS gr FROM pairs WHERE id IS NOT NULL GROUP BY id) "
        "SELECT 'area' AS kind, code, m, t, gr, true AS located, 1::bigint AS hits, false AS on_edge, sum(n) AS n "
        "FROM pairs WHERE id IS NULL GROUP BY code, m, t, gr "
        "UNION ALL "
        "SELECT 'area', code, m, t, gr, true, hits, on_edge, count(*) FROM several GROUP BY 2, 3, 4, 5, 7, 8 "
        "UNION ALL "
        f"SELECT 'all', NULL, m, t, gr, {located}, 0, false, count(*) FROM ({crime_rows}) c GROUP BY 3, 4, 5, 6"
    )


def count_in_database(
    crimes: PgSource,
    areas: PgSource,
    code_field: str,
    month_field: str | None,
    type_field: str | None,
    group_field: str | None,
    is_cancelled: Callable[[], bool] = lambda: False,
) -> DatabaseCounts:
    """Count point crimes into the areas by one query on the server; raise BulkReadUnavailableError if it cannot.

    Groups with code None hold the crimes outside every area (located) and those without a point.
    """
    if not crimes.same_database(areas):
        raise BulkReadUnavailableError("the crimes and the areas are not in the same database")
    if crimes.limit >= 0:
        raise BulkReadUnavailableError("a feature limit has no order the join could keep")
    if crimes.relation.startswith("(") or areas.relation.startswith("("):
        raise BulkReadUnavailableError("a query layer has no row identity to count each crime once by")
    sql = count_sql(crimes, areas, code_field, month_field, type_field, group_field)
    columns = {"kind": TEXT, "code": TEXT, "m": MONTH, "t": TEXT, "gr": TEXT}
    columns.update({n: NUMBER for n in ("located", "hits", "on_edge", "n")})
    try:
        # JIT compiling costs a second on every query here; the hash of crimes needs room (spills beyond).
        with PgQuery(crimes, sql, ("SET jit = off", "SET work_mem = '256MB'")) as layer:
            got = read_arrow_layer(layer, field_kinds(layer), columns, False, False, is_cancelled).columns
    except (RuntimeError, KeyError) as err:
        raise BulkReadUnavailableError(f"PostGIS at {crimes.server}: {err}") from None
    inside: Counter = Counter()
    groups = []
    totals = []
    for kind, code, m, t, gr, located, hits, edge, n in zip(
        *(got[c] for c in ("kind", "code", "m", "t", "gr", "located", "hits", "on_edge", "n"))
    ):
        if kind == "area":
            groups.append(AreaGroup(code, int(m), t, gr, True, int(hits), bool(edge), int(n)))
            inside[(int(m), t, gr)] += int(n)
        else:
            totals.append((int(m), t, gr, bool(located), int(n)))
    for m, t, gr, located, n in totals:
        # Every crime with a point, less those in an area, is outside every area.
        rest = n - inside.pop((m, t, gr), 0) if located else n
        if rest < 0:
            raise BulkReadUnavailableError("the counting query's groups do not add up")
        if rest:
            groups.append(AreaGroup(None, m, t, gr, located, 0, False, rest))
    if inside:
        raise BulkReadUnavailableError("the counting query's groups do not add up")
    return DatabaseCounts(groups, sql)


def assigned_points(
    counts: DatabaseCounts, codes: Sequence[str], types: Sequence[str], groups: Sequence[str], with_months: bool
) -> ward_counts.AssignedPoints:
    """Return the database's groups as one record per crime, areas by their index in codes (the areas' order).

    types and groups are the crime types and groups chosen (none: all); raise BulkReadUnavailableError when
    the database names an area the plugin did not read (the two would not be counting the same areas).
    """
    rows = counts.groups
    index = {code: i for i, code in enumerate(codes)}
    unknown = sorted({g.code for g in rows if g.code is not None and g.code not in index})
    if unknown:
        raise BulkReadUnavailableError(f"the database gave area codes the area layer does not show: {unknown[:5]}")
    n = np.array([g.count for g in rows], dtype=np.int64)
    owner = np.array([index[g.code] if g.code is not None and g.located else -1 for g in rows], dtype=np.int64)
    chosen = np.ones(len(rows), dtype=bool)
    if types:
        chosen &= ward_counts.matching([g.crime_type for g in rows], set(types))
    if groups:
        chosen &= ward_counts.matching([g.crime_group for g in rows], set(groups))
    months = np.array([g.month for g in rows], dtype=np.int64)

    def each(values: np.ndarray) -> np.ndarray:
        return np.repeat(values, n)

    return ward_counts.AssignedPoints(
        owner=each(owner),
        months=each(months) if with_months else None,
        type_ok=each(chosen),
        located=each(np.array([g.located for g in rows], dtype=bool)),
        on_boundary=each(np.array([g.on_edge for g in rows], dtype=bool)),
        in_several=each(np.array([g.hits > 1 for g in rows], dtype=bool)),
    )
