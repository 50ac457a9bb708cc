"""Write an algorithm's table output: in bulk to a GeoPackage or PostGIS, through QgsFeatureSink otherwise.

A plain '*.gpkg' destination (the default for files) and a layer of a GeoPackage (`ogr:dbname='x.gpkg'
table="name"`, what QGIS's "Save to GeoPackage" gives) take the bulk GeoPackage writer of core.gpkg,
which writes a temporary file and puts it in place only on success: a cancelled or failed run leaves
the previous file or layer, and the GeoPackage's other layers, as they were. A PostGIS table
(`postgres://…`, `postgis:…`: processing/postgis_destination.py) takes the bulk writer of
core.postgis_writer, which writes a staging table and swaps it in by one transaction on success. A shapefile
with a geometry is created empty by the Processing feature sink (QGIS's own writer: field names, types, widths,
.prj and .cpg as it gives them) and its records are then appended in bulk by core.shapefile. Any other
destination (memory layer, GeoJSON, a table without geometry) gets the ordinary Processing feature sink. A file
among them is written under a temporary name beside the destination and moved into place on commit, so the
previous file survives a failure too. Either way the layer is loaded on completion when the user asked for it, as
parameterAsSink does. A run cancelled by the time of the commit publishes nothing.
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsDataSourceUri,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterDefinition,
    QgsProcessingParameters,
    QgsProcessingUtils,
    QgsSettings,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QCoreApplication, QDate, QDateTime, Qt, QTextCodec, QVariant

from crime_mapping_plugin.core.gpkg import GeoPackageError, GeoPackageWriter, column_values, temporary_path
from crime_mapping_plugin.core.postgis_writer import PostgisError, PostgisWriter
from crime_mapping_plugin.core.shapefile import MAX_FIELDS, ShapefileError, ShapefileWriter
from crime_mapping_plugin.core.wkb import rows_as_bytes
from crime_mapping_plugin.processing import postgis_destination as pg
from crime_mapping_plugin.processing.base import new_field

_QVARIANT = {
    "string": QVariant.String,
    "date": QVariant.Date,
    "integer": QVariant.Int,
    "integer64": QVariant.LongLong,
    "double": QVariant.Double,
}


_KIND_OF = {
    QVariant.String: "string",
    QVariant.Int: "integer",
    QVariant.Bool: "integer",
    QVariant.UInt: "integer64",
    QVariant.LongLong: "integer64",
    QVariant.ULongLong: "integer64",
    QVariant.Double: "double",
    QVariant.Date: "date",
}


def spec_of(fields: QgsFields) -> list[tuple[str, str]]:
    """Return (name, kind) pairs for QgsFields; types with no kind of their own (times, lists) are kept as text."""
    return [(f.name(), _KIND_OF.get(f.type(), "string")) for f in fields]


def plain_value(value: object) -> object:
    """Return a value that both SQLite and a QgsFeature take: NULL as None, dates and times as ISO text."""
    if value is None or isinstance(value, QVariant):  # QGIS's NULL is an empty QVariant
        return None
    if isinstance(value, (QDate, QDateTime)):
        return value.toString(Qt.ISODate)
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    return value


# Values every destination takes as they are (bool is not among them: it is written as 0 or 1).
_PLAIN_TYPES = frozenset((str, int, float, type(None)))


def plain_column(values: Sequence | np.ndarray) -> Sequence:
    """Return a column of plain values (see plain_value), converting a numpy array in one step, not value by value.

    A list that holds only text, numbers and None (as the algorithms' columns do) is returned as it is.
    """
    if isinstance(values, np.ndarray) and values.dtype.kind != "O":
        return column_values(values)
    if isinstance(values, np.ndarray):
        values = values.tolist()
    if set(map(type, values)) <= _PLAIN_TYPES:
        return values
    return [plain_value(v) for v in values]


def qgs_fields(spec: Sequence[tuple[str, str]]) -> QgsFields:
    """Return QgsFields for (name, kind) pairs."""
    fields = QgsFields()
    for name, kind in spec:
        fields.append(new_field(name, _QVARIANT[kind]))
    return fields


class TableOutput:
    """The destination of one feature-sink parameter, written column batch by column batch.

    Columns may be lists or numpy arrays; each is converted once per batch (plain_column), never value by
    value. The destination decides how rows are written (_open_destination): a GeoPackage in bulk, anything
    else through the Processing feature sink.
    """

    def __init__(
        self,
        algorithm: QgsProcessingAlgorithm,
        parameters: dict,
        name: str,
        context: QgsProcessingContext,
        spec: Sequence[tuple[str, str]],
        crs: QgsCoordinateReferenceSystem | None,
        description: str = "",
        geometry_type: str = "point",
    ) -> None:
        self.spec = list(spec)
        self._context = context
        self.geometry = crs is not None
        self.count = 0
        self._destination = _open_destination(
            algorithm, parameters, name, context, self.spec, crs, description, geometry_type
        )
        self.dest_id = self._destination.dest_id

    def _columns(self, columns: dict[str, Sequence]) -> dict[str, Sequence]:
        if getattr(self._destination, "raw_columns", False):  # it converts numpy arrays itself
            return {name: columns[name] for name, _ in self.spec}
        return {name: plain_column(columns[name]) for name, _ in self.spec}

    def add(
        self,
        columns: dict[str, Sequence],
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        located: np.ndarray | None = None,
    ) -> None:
        """Append rows given column by column (and their point coordinates for a point layer)."""
        self._destination.add_points(self._columns(columns), x, y, located)
        self.count = self._destination.count

    def add_wkb(
        self, columns: dict[str, Sequence], wkbs: Sequence[bytes | None] | np.ndarray, boxes: np.ndarray
    ) -> None:
        """Append rows with WKB geometries and their boxes (min x, max x, min y, max y) for the spatial index.

        wkbs is a list (None: no geometry) or a (rows, size) uint8 array of geometries of one size (grid cells).
        """
        self._destination.add_wkb(self._columns(columns), wkbs, boxes)
        self.count = self._destination.count

    def commit(self, title: str = "", abstract: str = "") -> str:
        """Publish the output and return its identifier; a GeoPackage keeps title and abstract inside.

        A run cancelled by then (its context's feedback says so) publishes nothing: the output is dropped and
        the run stops, so a cancel during the last batch cannot leave a finished-looking layer behind.
        """
        feedback = self._context.feedback()
        if feedback is not None and feedback.isCanceled():
            self.abort()
            raise QgsProcessingException(QCoreApplication.translate("TableOutput", "Cancelled; no output was written."))
        return self._destination.commit(title, abstract)

    def abort(self) -> None:
        """Drop the output: no half-written file stays behind."""
        self._destination.abort()


def _open_destination(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict,
    name: str,
    context: QgsProcessingContext,
    spec: list[tuple[str, str]],
    crs: QgsCoordinateReferenceSystem | None,
    description: str,
    geometry_type: str,
) -> _BulkDestination | _SinkDestination:
    """Return the writer for the parameter's destination; a new kind of destination is one more branch here."""
    definition = algorithm.parameterDefinition(name)
    dest = QgsProcessingParameters.parameterAsOutputLayer(definition, parameters, context)
    pg_uri = pg.postgis_uri(dest)
    if pg_uri is not None:
        out = _postgis_destination(pg_uri, spec, crs, description, geometry_type)
        # parameterAsOutputLayer asked to load the destination as given, password and all: load the written
        # table instead, under the URI without the password.
        to_load = context.layersToLoadOnCompletion()
        if to_load.pop(dest, None) is not None:
            context.setLayersToLoadOnCompletion(to_load)
        _register_load(parameters.get(name), definition, context, out.dest_id, name)
        return out
    gpkg_layer = _gpkg_layer(dest) if dest else None
    if dest and (_is_plain_gpkg(dest) or gpkg_layer):
        path, layer_name = gpkg_layer or (dest, os.path.splitext(os.path.basename(dest))[0])
        out = _geopackage_destination(path, layer_name, spec, crs, description, geometry_type, gpkg_layer is not None)
        _register_load(parameters.get(name), definition, context, out.dest_id, name)
        return out
    if dest and _is_plain_file(dest) and dest.lower().endswith(".shp"):
        shapefile = _shapefile_destination(algorithm, parameters, name, context, spec, crs, geometry_type, dest)
        if shapefile is not None:
            return shapefile
    return _SinkDestination(algorithm, parameters, name, context, spec, crs, geometry_type, dest)


def _register_load(
    value: str, definition: QgsProcessingParameterDefinition, context: QgsProcessingContext, dest: str, name: str
) -> None:
    # parameterAsSink loads the result when the value asks for it; the bulk path must do the same.
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.destinationProject is not None:
        layer_name = value.destinationName or definition.description()
        context.addLayerToLoadOnCompletion(
            dest,
            QgsProcessingContext.LayerDetails(
                layer_name, value.destinationProject, name, QgsProcessingUtils.LayerHint.Vector
            ),
        )


class _BulkDestination:
    """A table written by one of the project's bulk writers: core.gpkg's GeoPackageWriter or core.postgis_writer's.

    Both take the same calls (add, add_wkb, commit, abort, count); what differs is how they fail.
    """

    def __init__(
        self,
        writer: GeoPackageWriter | PostgisWriter,
        dest_id: str,
        errors: tuple[type[Exception], ...],
        replace_layer: bool = False,
    ) -> None:
        self._writer = writer
        self._errors = errors
        self._replace_layer = replace_layer
        self.dest_id = dest_id
        self.count = 0

    def add_points(
        self, columns: dict[str, Sequence], x: np.ndarray | None, y: np.ndarray | None, located: np.ndarray | None
    ) -> None:
        self._write(lambda: self._writer.add(columns, x, y, located))

    def add_wkb(self, columns: dict[str, Sequence], wkbs: Sequence | np.ndarray, boxes: np.ndarray) -> None:
        self._write(lambda: self._writer.add_wkb(columns, wkbs, boxes))

    def _write(self, step: Callable[[], None]) -> None:
        try:
            step()
        except sqlite3.Error as err:  # e.g. the disk is full
            raise QgsProcessingException(f"Could not write to {self.dest_id}: {err}") from err
        except self._errors as err:
            raise QgsProcessingException(str(err)) from err
        self.count = self._writer.count

    def commit(self, title: str, abstract: str) -> str:
        try:
            self._writer.commit(title, abstract, replace_layer=self._replace_layer)
        except self._errors as err:
            raise QgsProcessingException(str(err)) from err
        return self.dest_id

    def abort(self) -> None:
        self._writer.abort()


def _geopackage_destination(
    path: str,
    layer_name: str,
    spec: list[tuple[str, str]],
    crs: QgsCoordinateReferenceSystem | None,
    description: str,
    geometry_type: str,
    replace_layer: bool,
) -> _BulkDestination:
    """Open a GeoPackage file, or a layer of one, for the bulk writer."""
    try:
        writer = GeoPackageWriter(
            path,
            layer_name,
            spec,
            crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs else None,
            description,
            geometry_type,
        )
    except GeoPackageError as err:
        raise QgsProcessingException(str(err)) from err
    dest_id = f"{path}|layername={layer_name}" if replace_layer else path
    return _BulkDestination(writer, dest_id, (GeoPackageError,), replace_layer)


def _postgis_destination(
    uri: QgsDataSourceUri,
    spec: list[tuple[str, str]],
    crs: QgsCoordinateReferenceSystem | None,
    description: str,
    geometry_type: str,
) -> _BulkDestination:
    """Open a PostGIS table for the bulk writer; messages name the table and server, never the password."""
    if not uri.table():
        raise QgsProcessingException(
            f'The PostGIS destination names no table ({pg.server_label(uri)}): add table="schema"."name".'
        )
    srid = None
    if crs is not None:
        srid = crs.postgisSrid()
        if not srid:
            raise QgsProcessingException(f"The output CRS {crs.authid()} has no PostGIS SRID.")
    try:
        writer = PostgisWriter(
            pg.connection_string(uri),
            uri.schema() or "public",
            uri.table(),
            spec,
            srid,
            geometry_type,
            uri.geometryColumn() or "geom",
            where=pg.table_label(uri),
            secret=pg.secret_of(uri),
            description=description,
        )
    except PostgisError as err:
        raise QgsProcessingException(str(err)) from err
    pg.remember_credentials(uri)
    return _BulkDestination(writer, pg.public_uri(uri, srid, geometry_type, writer.fid_column), (PostgisError,))


_SINK_WKB = {"point": QgsWkbTypes.Point, "polygon": QgsWkbTypes.Polygon, "multipolygon": QgsWkbTypes.MultiPolygon}


def _shapefile_destination(
    algorithm: QgsProcessingAlgorithm,
    parameters: dict,
    name: str,
    context: QgsProcessingContext,
    spec: list[tuple[str, str]],
    crs: QgsCoordinateReferenceSystem | None,
    geometry_type: str,
    dest: str,
) -> _ShapefileDestination | None:
    """Return the bulk writer of a shapefile, or None where the feature sink must write it (no geometry or fields)."""
    if len(spec) > MAX_FIELDS:
        raise QgsProcessingException(
            f"{dest}: a shapefile holds at most {MAX_FIELDS} fields and this output has {len(spec)}: "
            "choose a GeoPackage."
        )
    if crs is None or not spec or geometry_type not in _SINK_WKB:
        return None
    staging = _staging_path(dest)
    # QGIS's writer makes the empty files, so that what the fields become is what the sink would make of them.
    sink, _ = algorithm.parameterAsSink(
        {**parameters, name: _staged(parameters.get(name), staging)},
        name,
        context,
        qgs_fields(spec),
        _SINK_WKB[geometry_type],
        crs,
    )
    if sink is None:
        _remove_files(staging)
        return None
    del sink  # closes the writer: the empty files are complete
    encode, ascii_safe = _text_encoder(_file_encoding(parameters.get(name), context))
    try:
        writer = ShapefileWriter(staging, [kind for _, kind in spec], encode, ascii_safe)
    except (ShapefileError, OSError):
        _remove_files(staging)
        return None
    _register_load(parameters.get(name), algorithm.parameterDefinition(name), context, dest, name)
    return _ShapefileDestination(writer, staging, dest, spec)


def _staged(value: object, staging: str) -> object:
    """Return the parameter value that writes to staging with the output's own create options (its encoding)."""
    if isinstance(value, QgsProcessingOutputLayerDefinition):
        staged = QgsProcessingOutputLayerDefinition(staging)  # no project: the staging file is not loaded
        staged.createOptions = value.createOptions
        return staged
    return staging


def _file_encoding(value: object, context: QgsProcessingContext) -> str:
    """Return the encoding the feature sink gives a file: the output's own, else the context's, else "system"."""
    if isinstance(value, QgsProcessingOutputLayerDefinition) and value.createOptions.get("fileEncoding"):
        return str(value.createOptions["fileEncoding"])
    return context.defaultEncoding() or "system"


def _text_encoder(encoding: str) -> tuple[Callable[[str], bytes], bool]:
    """Return how QGIS's file writer encodes text in encoding, and whether ASCII text stays as it is."""
    # As QgsVectorFileWriter: the named codec, else the one of the "UI/encoding" setting, else the locale's.
    codec = QTextCodec.codecForName(encoding.encode()) if encoding else None
    if codec is None:
        setting = str(QgsSettings().value("UI/encoding", "System"))
        codec = QTextCodec.codecForName(setting.encode()) or QTextCodec.codecForLocale()

    def encode(text: str) -> bytes:
        return bytes(codec.fromUnicode(text))

    probe = "azAZ09 _-.,:/()"
    return encode, encode(probe) == probe.encode("ascii")


class _ShapefileDestination:
    """A shapefile written in bulk by core.shapefile under a temporary name and moved into place on commit."""

    raw_columns = True

    def __init__(self, writer: ShapefileWriter, staging: str, file_path: str, spec: list[tuple[str, str]]) -> None:
        self._writer = writer
        self._staging = staging
        self._file_path = file_path
        self._spec = spec
        self.dest_id = file_path
        self.count = 0

    def _values(self, columns: dict[str, Sequence]) -> list[Sequence]:
        out = []
        for name, kind in self._spec:
            values = columns[name]
            if not isinstance(values, np.ndarray) or values.dtype.kind == "O":
                values = plain_column(values)
            if kind == "date":
                values = _dbf_dates(values)
            elif kind == "string":
                values = _texts(values)
            out.append(values)
        return out

    def add_points(
        self, columns: dict[str, Sequence], x: np.ndarray | None, y: np.ndarray | None, located: np.ndarray | None
    ) -> None:
        if x is None:  # rows without coordinates: no shape, as the sink writes them
            n = len(next(iter(columns.values()))) if columns else 0
            x, y, located = np.zeros(n), np.zeros(n), np.zeros(n, bool)
        self._write(lambda: self._writer.add_points(self._values(columns), x, y, located))

    def add_wkb(self, columns: dict[str, Sequence], wkbs: Sequence | np.ndarray, boxes: np.ndarray) -> None:
        self._write(lambda: self._writer.add_wkb(self._values(columns), wkbs))

    def _write(self, step: Callable[[], None]) -> None:
        try:
            step()
        except ShapefileError as err:
            raise QgsProcessingException(f"Could not write to {self._file_path}: {err}") from err
        except OSError as err:  # e.g. the disk is full
            raise QgsProcessingException(f"Could not write to {self._file_path} ({err.strerror or err}).") from err
        self.count = self._writer.count

    def commit(self, title: str, abstract: str) -> str:
        try:
            self._writer.commit()
            _move_files(self._staging, self._file_path)
        except OSError as err:
            self.abort()
            raise QgsProcessingException(f"Cannot write {self._file_path} ({err.strerror or err}).") from err
        return self.dest_id

    def abort(self) -> None:
        self._writer.abort()
        _remove_files(self._staging)


def _texts(values: Sequence | np.ndarray) -> list:
    """Return text values as QGIS's writer takes them: other values as QVariant makes them text."""
    values = values.tolist() if isinstance(values, np.ndarray) else values
    if all(type(v) is str or v is None for v in values):
        return values
    return [v if type(v) is str or v is None else QVariant(v).toString() for v in values]


def _dbf_dates(values: Sequence) -> list:
    """Return 'YYYYMMDD' text (None for NULL or an invalid date) for ISO dates, as the sink's QDate would give."""
    out = []
    for d in _dates(values):
        out.append(d.toString("yyyyMMdd") if d is not None and d.isValid() else None)
    return out


def _remove_files(staging: str) -> None:
    for path in _files_of(staging):
        with contextlib.suppress(OSError):
            os.remove(path)


_SINK_CHUNK = 500


class _SinkDestination:
    """Any other destination (memory layer, shapefile, GeoJSON, a database) through the Processing feature sink.

    Features are built from the batch's columns in one pass (values already plain, geometries from WKB); a
    file is written under a temporary name and moved on commit.
    """

    def __init__(
        self,
        algorithm: QgsProcessingAlgorithm,
        parameters: dict,
        name: str,
        context: QgsProcessingContext,
        spec: list[tuple[str, str]],
        crs: QgsCoordinateReferenceSystem | None,
        geometry_type: str,
        dest: str,
    ) -> None:
        wkb = _SINK_WKB[geometry_type] if crs is not None else QgsWkbTypes.NoGeometry
        self.count = 0
        self._geometry = crs is not None
        self._staging = ""
        self._file_path = dest if _is_plain_file(dest) else None
        values = parameters
        if self._file_path:
            # Another file format (a shapefile, GeoJSON): written under a temporary name, moved on commit.
            self._staging = _staging_path(self._file_path)
            values = {**parameters, name: _staged(parameters.get(name), self._staging)}
        self._fields = qgs_fields(spec)
        sink, self.dest_id = algorithm.parameterAsSink(
            values, name, context, self._fields, wkb, crs or QgsCoordinateReferenceSystem()
        )
        if sink is None:
            self._remove_staging()
            raise QgsProcessingException(algorithm.invalidSinkError(parameters, name))
        if self._file_path:
            self.dest_id = self._file_path
            _register_load(parameters.get(name), algorithm.parameterDefinition(name), context, self.dest_id, name)
        self._sink = sink
        self._names = [n for n, _ in spec]
        self._dates = {n for n, kind in spec if kind == "date"}

    def add_points(
        self, columns: dict[str, Sequence], x: np.ndarray | None, y: np.ndarray | None, located: np.ndarray | None
    ) -> None:
        geoms = None
        if self._geometry and x is not None:
            xs, ys = np.asarray(x, float).tolist(), np.asarray(y, float).tolist()
            geoms = [QgsGeometry.fromPointXY(QgsPointXY(px, py)) for px, py in zip(xs, ys)]
            if located is not None and not np.all(located):
                for i in np.flatnonzero(~np.asarray(located, bool)).tolist():
                    geoms[i] = None
        self._add(columns, geoms, len(x) if x is not None else 0)

    def add_wkb(self, columns: dict[str, Sequence], wkbs: Sequence | np.ndarray, boxes: np.ndarray) -> None:
        blobs = rows_as_bytes(wkbs) if isinstance(wkbs, np.ndarray) else wkbs

        def geometries() -> Iterator[QgsGeometry | None]:
            for blob in blobs:
                if blob is None:
                    yield None
                    continue
                geom = QgsGeometry()
                geom.fromWkb(bytes(blob))
                yield geom

        self._add(columns, geometries(), len(blobs))

    def _add(self, columns: dict[str, Sequence], geoms: Iterable | None, n: int) -> None:
        values = [_dates(columns[c]) if c in self._dates else columns[c] for c in self._names]
        n = len(values[0]) if values else n
        rows = zip(*values) if values else iter([()] * n)
        fields = self._fields
        features = []
        for attributes, geom in zip(rows, geoms if geoms is not None else [None] * n):
            # With its fields: a feature without them is quicker to make but slower for the file writers.
            f = QgsFeature(fields)
            f.setAttributes(list(attributes))
            if geom is not None:
                f.setGeometry(geom)
            features.append(f)
            if len(features) == _SINK_CHUNK:
                self._send(features)
                features = []
        self._send(features)
        self.count += n

    def _send(self, features: list[QgsFeature]) -> None:
        # In short lists: thousands of features held at once cost more in memory traffic than they save in calls.
        if features and not self._sink.addFeatures(features, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(f"Could not write to {self.dest_id}: {self._sink.lastError()}")

    def commit(self, title: str, abstract: str) -> str:
        self._sink.flushBuffer()
        self._sink = None  # closes a file writer
        if self._staging:
            try:
                _move_files(self._staging, self._file_path)
            except OSError as err:
                self._remove_staging()
                raise QgsProcessingException(f"Cannot write {self._file_path} ({err.strerror or err}).") from err
        return self.dest_id

    def abort(self) -> None:
        self._sink = None
        self._remove_staging()

    def _remove_staging(self) -> None:
        for path in _files_of(self._staging) if self._staging else []:
            os.remove(path)


def _staging_path(dest: str) -> str:
    """Return a new temporary name beside dest, with its extension (nothing is created)."""
    folder = os.path.dirname(os.path.abspath(dest)) or "."
    try:
        return temporary_path(folder, os.path.splitext(dest)[1])
    except GeoPackageError as err:
        raise QgsProcessingException(str(err)) from err


def _files_of(path: str) -> list[str]:
    """Return the files of a file-based layer: path and its side-car files (.shx, .dbf, .prj …)."""
    folder = os.path.dirname(path) or "."
    stem = os.path.splitext(os.path.basename(path))[0]
    return [os.path.join(folder, n) for n in os.listdir(folder) if os.path.splitext(n)[0] == stem]


# Side-car files a shapefile or another file layer may have; a previous one of these would describe the old data.
_SIDE_CARS = (".shx", ".dbf", ".prj", ".cpg", ".qpj", ".qmd", ".sbn", ".sbx")


def _move_files(staging: str, dest: str) -> None:
    """Move a layer written under the temporary name staging, side-car files included, to dest."""
    base = os.path.splitext(dest)[0]
    new = {path: base + os.path.splitext(path)[1] for path in _files_of(staging)}
    for ext in _SIDE_CARS:
        if os.path.exists(base + ext) and base + ext not in new.values():
            os.remove(base + ext)
    for path, target in new.items():
        os.replace(path, target)


def _dates(values: Sequence) -> list:
    cache: dict[str, QDate] = {}
    out = []
    for v in values:
        if v is None or v == "":
            out.append(None)
            continue
        d = cache.get(v)
        if d is None:
            d = cache[v] = QDate.fromString(str(v)[:10], "yyyy-MM-dd")
        out.append(d)
    return out


# A provider prefix ('memory:', 'ogr:', 'postgres:' …) has two or more letters; 'C:' is a drive.
_PROVIDER_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9_]+:")


def _is_plain_file(dest: str) -> bool:
    return bool(dest) and "|" not in dest and not _PROVIDER_PREFIX.match(dest)


def _is_plain_gpkg(dest: str) -> bool:
    return _is_plain_file(dest) and dest.lower().endswith(".gpkg")


def _gpkg_layer(dest: str) -> tuple[str, str] | None:
    """Return (file, layer) of an 'ogr:dbname=… table=…' destination in a GeoPackage, else None."""
    if not dest.lower().startswith("ogr:"):
        return None
    uri = QgsDataSourceUri(dest[4:])
    path, table = uri.database(), uri.table()
    if path.lower().endswith(".gpkg") and table:
        return path, table
    return None
