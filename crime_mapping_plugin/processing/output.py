"""Write an algorithm's table output: in bulk to a GeoPackage file, through QgsFeatureSink otherwise.

A plain '*.gpkg' destination (the default for files) takes the bulk GeoPackage writer of core.gpkg;
any other destination (memory layer, shapefile, PostGIS, '|layername=' targets) gets the ordinary
Processing feature sink. Either way the layer is loaded on completion when the user asked for it, as
parameterAsSink does, and a cancelled run leaves no output behind.
"""

from __future__ import annotations

import os
import re
from typing import Sequence

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsFeature,
    QgsFeatureSink,
    QgsFields,
    QgsGeometry,
    QgsPointXY,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameters,
    QgsProcessingUtils,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QDate, QDateTime, Qt, QVariant

from crime_mapping_plugin.core.gpkg import GeoPackageWriter
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


def plain_value(value):
    """Return a value that both SQLite and a QgsFeature take: NULL as None, dates and times as ISO text."""
    if value is None or isinstance(value, QVariant):  # QGIS's NULL is an empty QVariant
        return None
    if isinstance(value, (QDate, QDateTime)):
        return value.toString(Qt.ISODate)
    if isinstance(value, bool):
        return int(value)
    return value


def qgs_fields(spec: Sequence[tuple[str, str]]) -> QgsFields:
    """Return QgsFields for (name, kind) pairs."""
    fields = QgsFields()
    for name, kind in spec:
        fields.append(new_field(name, _QVARIANT[kind]))
    return fields


class TableOutput:
    """The destination of one feature-sink parameter, written column batch by column batch."""

    def __init__(
        self,
        algorithm,
        parameters: dict,
        name: str,
        context: QgsProcessingContext,
        spec: Sequence[tuple[str, str]],
        crs: QgsCoordinateReferenceSystem | None,
        description: str = "",
        geometry_type: str = "point",
    ) -> None:
        self.spec = list(spec)
        self.geometry = crs is not None
        self.count = 0
        definition = algorithm.parameterDefinition(name)
        self._gpkg = None
        self._sink = None
        dest = QgsProcessingParameters.parameterAsOutputLayer(definition, parameters, context)
        self._file_path = dest if _is_plain_file(dest) else None
        if dest and _is_plain_gpkg(dest):
            layer_name = os.path.splitext(os.path.basename(dest))[0]
            self._gpkg = GeoPackageWriter(
                dest,
                layer_name,
                self.spec,
                crs.toWkt(QgsCoordinateReferenceSystem.WKT_PREFERRED_GDAL) if crs else None,
                description,
                geometry_type,
            )
            self.dest_id = dest
            self._register_load(parameters.get(name), definition, context, dest, name)
        else:
            kinds = {"point": QgsWkbTypes.Point, "multipolygon": QgsWkbTypes.MultiPolygon}
            wkb = kinds[geometry_type] if self.geometry else QgsWkbTypes.NoGeometry
            self._fields = qgs_fields(self.spec)
            sink, self.dest_id = algorithm.parameterAsSink(
                parameters, name, context, self._fields, wkb, crs or QgsCoordinateReferenceSystem()
            )
            if sink is None:
                raise QgsProcessingException(algorithm.invalidSinkError(parameters, name))
            self._sink = sink
            self._dates = [i for i, (_, kind) in enumerate(self.spec) if kind == "date"]

    @staticmethod
    def _register_load(value, definition, context: QgsProcessingContext, dest: str, name: str) -> None:
        # parameterAsSink loads the result when the value asks for it; the bulk path must do the same.
        if isinstance(value, QgsProcessingOutputLayerDefinition) and value.destinationProject is not None:
            layer_name = value.destinationName or definition.description()
            context.addLayerToLoadOnCompletion(
                dest,
                QgsProcessingContext.LayerDetails(
                    layer_name, value.destinationProject, name, QgsProcessingUtils.LayerHint.Vector
                ),
            )

    def add(
        self,
        columns: dict[str, Sequence],
        x: np.ndarray | None = None,
        y: np.ndarray | None = None,
        located: np.ndarray | None = None,
    ) -> None:
        """Append rows given column by column (and their point coordinates for a point layer)."""
        if self._gpkg is not None:
            self._gpkg.add(columns, x, y, located)
            self.count = self._gpkg.count
            return

        def point(row: int) -> QgsGeometry | None:
            if not self.geometry or (located is not None and not located[row]):
                return None
            return QgsGeometry.fromPointXY(QgsPointXY(float(x[row]), float(y[row])))

        self._add_features(columns, len(x) if x is not None else None, point)

    def add_wkb(self, columns: dict[str, Sequence], wkbs: Sequence[bytes | None], boxes: np.ndarray) -> None:
        """Append rows with WKB geometries and their boxes (min x, max x, min y, max y) for the spatial index."""
        if self._gpkg is not None:
            self._gpkg.add_wkb(columns, wkbs, boxes)
            self.count = self._gpkg.count
            return

        def geometry(row: int) -> QgsGeometry | None:
            if wkbs[row] is None:
                return None
            geom = QgsGeometry()
            geom.fromWkb(bytes(wkbs[row]))
            return geom

        self._add_features(columns, len(wkbs), geometry)

    def _add_features(self, columns: dict[str, Sequence], n: int | None, geometry_of) -> None:
        values = [columns[name] for name, _ in self.spec]
        n = len(values[0]) if values else n
        for i in self._dates:
            values[i] = _dates(values[i])
        features = []
        fields = self._fields
        for row in range(n):
            f = QgsFeature(fields)
            f.setAttributes([col[row] for col in values])
            geom = geometry_of(row)
            if geom is not None:
                f.setGeometry(geom)
            features.append(f)
        if not self._sink.addFeatures(features, QgsFeatureSink.FastInsert):
            raise QgsProcessingException(f"Could not write to {self.dest_id}: {self._sink.lastError()}")
        self.count += n

    def commit(self, title: str = "", abstract: str = "") -> str:
        """Publish the output and return its identifier; a GeoPackage keeps title and abstract inside."""
        if self._gpkg is not None:
            self._gpkg.commit(title, abstract)
        else:
            self._sink.flushBuffer()
            self._sink = None  # closes a file writer
        return self.dest_id

    def abort(self) -> None:
        """Drop the output: no half-written file stays behind."""
        if self._gpkg is not None:
            self._gpkg.abort()
            return
        self._sink = None
        if self._file_path and os.path.exists(self._file_path):
            base = os.path.splitext(self._file_path)[0]
            for ext in ("", ".shx", ".dbf", ".prj", ".cpg", ".qpj"):
                path = self._file_path if not ext else base + ext
                if os.path.exists(path):
                    os.remove(path)


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
