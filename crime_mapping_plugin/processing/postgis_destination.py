"""PostGIS destinations the QGIS way: the URIs Processing gives, credentials from QGIS's authentication manager.

A feature-sink parameter saved to a database table in the output widget (a saved PostGIS connection) gives
``postgres://dbname='…' host=… port=… user='…' [password='…' | authcfg=…] table="schema"."name" (geom)``;
older Processing and scripts write ``postgis:`` (or ``postgres:``) and the same URI; ``qgis_process`` takes
either as ``--OUTPUT=…``. The URI is read with QgsDataSourceUri; an authcfg is resolved through
QgsApplication.authManager() only into the connection string handed to GDAL, which is never shown. What the
algorithm returns and loads is the same URI without a password: with an authcfg it names the configuration
(a project saved with the layer stores only that); a password given in the URI is put in QGIS's credentials
cache for the session instead (as QGIS does when it asks for one), so the layer opens now and the password
is written nowhere.
"""

from __future__ import annotations

import re

from qgis.core import QgsApplication, QgsCredentials, QgsDataSourceUri, QgsProcessingUtils, QgsWkbTypes

from crime_mapping_plugin.core.postgis import connection_string  # noqa: F401 - output.py calls it from here

_PREFIXED = re.compile(r"^(postgis|postgres):(?!//)(.*)$", re.S)


def postgis_uri(dest: str) -> QgsDataSourceUri | None:
    """Return the QgsDataSourceUri of a PostGIS destination (postgres://…, postgis:…, postgres:…), else None."""
    if not dest:
        return None
    ok, provider, uri = QgsProcessingUtils.decodeProviderKeyAndUri(dest)
    if ok and provider == "postgres":
        return QgsDataSourceUri(uri)
    m = _PREFIXED.match(dest)
    if m:
        return QgsDataSourceUri(m.group(2))
    return None


def secret_of(uri: QgsDataSourceUri) -> str:
    """Return the password the connection will use (from the URI or its authcfg), to clean messages of it."""
    if uri.password():
        return uri.password()
    if uri.authConfigId():
        ok, items = QgsApplication.authManager().updateDataSourceUriItems([], uri.authConfigId(), "postgres")
        for item in items if ok else []:
            key, _, value = item.partition("=")
            if key.strip() == "password":
                return value.strip().strip("'")
    return ""


def server_label(uri: QgsDataSourceUri) -> str:
    """Return 'database "db" on host:port (user u)' for messages: never the password."""
    where = uri.host() or "the local socket"
    if uri.port():
        where += f":{uri.port()}"
    if uri.service():
        where = f"service '{uri.service()}'"
    user = f" (user {uri.username()})" if uri.username() else ""
    return f'database "{uri.database()}" on {where}{user}'


def table_label(uri: QgsDataSourceUri) -> str:
    """Return 'table "schema"."name" in database "db" on host:port (user u)' for messages."""
    return f'table "{uri.schema() or "public"}"."{uri.table()}" in {server_label(uri)}'


def public_uri(uri: QgsDataSourceUri, srid: int | None, geometry_type: str, key: str = "fid") -> str:
    """Return the postgres:// URI of the written table as QGIS loads it: no password, an authcfg kept."""
    out = QgsDataSourceUri(uri.uri(False))
    out.setPassword("")
    if srid is not None:
        out.setDataSource(uri.schema() or "public", uri.table(), uri.geometryColumn() or "geom", "", key)
        out.setSrid(str(srid))
        # QGIS 3.40 takes only the enum (Qgis.WkbType), not its number.
        out.setWkbType(
            {"point": QgsWkbTypes.Point, "polygon": QgsWkbTypes.Polygon, "multipolygon": QgsWkbTypes.MultiPolygon}[
                geometry_type
            ]
        )
    else:
        out.setDataSource(uri.schema() or "public", uri.table(), None, "", key)
    return QgsProcessingUtils.encodeProviderKeyAndUri("postgres", out.uri(False))


def remember_credentials(uri: QgsDataSourceUri) -> None:
    """Put a password given in the URI in QGIS's credentials cache, so the layer opens without it in its URI."""
    if not uri.password() or uri.authConfigId():
        return
    bare = QgsDataSourceUri(uri.uri(False))
    bare.setPassword("")
    QgsCredentials.instance().put(bare.connectionInfo(False), uri.username(), uri.password())
