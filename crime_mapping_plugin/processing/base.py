"""Common ground of the plugin's Processing algorithms: names, help, icon and output bookkeeping."""

from __future__ import annotations

import os
from typing import Sequence

from qgis.core import (
    Qgis,
    QgsFeatureSource,
    QgsField,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProcessingOutputNumber,
    QgsProcessingOutputString,
    QgsProcessingUtils,
    QgsProviderRegistry,
    QgsVectorLayer,
)
from qgis.PyQt.QtCore import QCoreApplication, QMetaType, QUrl, QVariant
from qgis.PyQt.QtGui import QIcon

from crime_mapping_plugin.core import crime_points, postgis
from crime_mapping_plugin.core.crime_points import BulkReadUnavailableError

PLUGIN_DIR = os.path.dirname(os.path.dirname(__file__))
ICON_PATH = os.path.join(PLUGIN_DIR, "icon.png")
TITLE_FILTER_CHARS = 120  # the input filter in a layer title; longer filters are cut there
# The help shipped in the zip (scripts/package.py copies docs/ into the plugin folder), else the repository's.
HELP_FILES = (
    os.path.join(PLUGIN_DIR, "docs", "methods.md"),
    os.path.join(os.path.dirname(PLUGIN_DIR), "docs", "methods.md"),
)


def help_url() -> str:
    """Return the file URL of the plugin's methods help, shipped in the zip ('' if missing)."""
    for path in HELP_FILES:
        if os.path.isfile(path):
            return QUrl.fromLocalFile(path).toString()
    return ""


def new_field(name: str, kind: QVariant.Type) -> QgsField:
    """Return a field of a QVariant type, with the constructor QGIS does not deprecate (QMetaType from 3.38)."""
    if Qgis.QGIS_VERSION_INT >= 33800:  # QVariant.Type and QMetaType.Type share their numbers for these types
        return QgsField(name, QMetaType.Type(int(kind)))
    return QgsField(name, kind)


def short_title(text: str) -> str:
    """Return text cut to TITLE_FILTER_CHARS for a layer title (with '…'; the abstract holds the whole of it)."""
    return text if len(text) <= TITLE_FILTER_CHARS else text[: TITLE_FILTER_CHARS - 1] + "…"


class CrimeMappingAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set NAME, DISPLAY_NAME, GROUP_ID, GROUP, TAGS and HELP."""

    NAME = ""
    DISPLAY_NAME = ""
    GROUP_ID = ""
    GROUP = ""
    TAGS: tuple[str, ...] = ()
    HELP = ""

    def tr(self, text: str) -> str:
        """Translate text in the algorithm's context."""
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self) -> CrimeMappingAlgorithm:  # noqa: N802 - QGIS API
        return type(self)()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def tags(self) -> list[str]:
        return [self.tr(t) for t in self.TAGS]

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def helpUrl(self) -> str:  # noqa: N802 - QGIS API
        """Return the plugin's own methods help, shipped with it (the dialog's Help button opens it)."""
        return help_url()

    def add_outputs(self, numbers: Sequence[tuple[str, str]] = (), texts: Sequence[tuple[str, str]] = ()) -> None:
        """Declare the algorithm's number and text outputs, each a (key, label) pair."""
        for key, label in numbers:
            self.addOutput(QgsProcessingOutputNumber(key, self.tr(label)))
        for key, label in texts:
            self.addOutput(QgsProcessingOutputString(key, self.tr(label)))

    def selected_enums(self, parameters: dict, name: str, context: QgsProcessingContext) -> list[int]:
        """Return the chosen options of an optional multiple enum, [] when none were chosen."""
        # QGIS 3.22 answers [0] for a missing optional enum, which would filter on the first option.
        value = parameters.get(name)
        if value is None or value == "" or value == []:
            return []
        return self.parameterAsEnums(parameters, name, context)

    def input_filter(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        """Return how the input name is narrowed before the algorithm reads it, in words ('' when read whole).

        A layer's subset string (the dock's filter), "selected features only", a feature limit and a
        filter expression of the input all change what is counted, so every output must say them.
        """
        value = parameters.get(name)
        layer = self._input_layer(parameters, name, context)
        parts = []
        if layer is not None and layer.subsetString():
            parts.append(self.tr("the layer's filter {}").format(layer.subsetString()))
        if isinstance(value, QgsProcessingFeatureSourceDefinition):
            if value.selectedFeaturesOnly:
                count = layer.selectedFeatureCount() if layer is not None else "?"
                parts.append(self.tr("its {} selected features only").format(count))
            if value.featureLimit != -1:
                parts.append(self.tr("its first {} features only").format(value.featureLimit))
            if getattr(value, "filterExpression", ""):
                parts.append(self.tr("the expression {}").format(value.filterExpression))
        return "; ".join(parts)

    def _input_layer(self, parameters: dict, name: str, context: QgsProcessingContext) -> QgsVectorLayer | None:
        value = parameters.get(name)
        if isinstance(value, QgsProcessingFeatureSourceDefinition):  # QGIS 3.22 does not resolve it below
            layer = QgsProcessingUtils.mapLayerFromString(value.source.staticValue(), context)
            return layer if isinstance(layer, QgsVectorLayer) else None
        return self.parameterAsVectorLayer(parameters, name, context)

    def input_description(self, parameters: dict, name: str, context: QgsProcessingContext, chosen: str = "") -> str:
        """Return which crimes are counted: the algorithm's own choice (chosen: types, groups, months) and the
        input's filter, e.g. 'Burglary' or 'the crimes of 'police.uk crimes' as filtered by …'.

        'all crime types' is said only when neither the parameters nor the input narrow the crimes.
        """
        narrowing = self.input_filter(parameters, name, context)
        if not narrowing:
            return chosen or self.tr("all crime types")
        layer = self._input_layer(parameters, name, context)
        source = f"'{layer.name()}'" if layer is not None else self.tr("the input")
        crimes = self.tr("{} of the crimes").format(chosen) if chosen else self.tr("the crimes")
        return self.tr("{} of {} as filtered by {}").format(crimes, source, narrowing)

    def input_short(self, parameters: dict, name: str, context: QgsProcessingContext, chosen: str = "") -> str:
        """Return input_description's short form, for layer titles: the choice and the input's filter, at most
        TITLE_FILTER_CHARS characters (cut with '…'; the metadata's abstract holds the whole of it).
        """
        text = "; ".join(t for t in (chosen, self.input_filter(parameters, name, context)) if t)
        return short_title(text or self.tr("all crime types"))

    def bulk_input(
        self,
        parameters: dict,
        name: str,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback | None = None,
    ) -> tuple[str, str] | postgis.PgSource | None:
        """Return what crime_points.read_layer can read of an input in bulk, None to read it feature by feature.

        A whole file layer (plain_ogr_layer), or a PostGIS layer's rows as the server gives them: its subset
        string is SQL the server applies, its selection a list of keys, its feature limit a LIMIT. A filter
        expression (QGIS's own language) and unsaved edits are only seen by QGIS: such an input is read
        feature by feature, and the log says why.
        """
        plain = self.plain_ogr_layer(parameters, name, context)
        if plain is not None:
            return plain
        layer = self._input_layer(parameters, name, context)
        if layer is None or layer.providerType() != "postgres":
            return None
        value = parameters.get(name)
        selected, limit, why = False, -1, ""
        if isinstance(value, QgsProcessingFeatureSourceDefinition):
            selected, limit = value.selectedFeaturesOnly, value.featureLimit
            if getattr(value, "filterExpression", ""):
                why = self.tr("its filter expression is QGIS's own, which the server cannot evaluate")
        if layer.isModified():
            why = self.tr("it has unsaved edits, which only QGIS holds")
        if not why:
            try:
                return postgis.pg_source(layer, selected, limit)
            except BulkReadUnavailableError as err:
                why = str(err)
        if feedback is not None:
            feedback.pushInfo(
                self.tr("The PostGIS layer '{}' is read feature by feature: {}.").format(layer.name(), why)
            )
        return None

    def read_input(
        self,
        source: QgsFeatureSource,
        parameters: dict,
        name: str,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        columns: dict[str, str],
        **options: object,
    ) -> crime_points.PointTable:
        """Read an input's points and columns (crime_points.read_layer; options are its own), in bulk where the
        file or the server allows, saying in the log how it was read. Raise InterruptedError when cancelled."""
        table = crime_points.read_layer(
            source,
            self.bulk_input(parameters, name, context, feedback),
            columns,
            is_cancelled=feedback.isCanceled,
            on_fallback=lambda why: feedback.pushInfo(
                self.tr("Bulk read not possible ({}); reading feature by feature.").format(why)
            ),
            **options,
        )
        if table.how == postgis.IN_BULK_PG:
            feedback.pushInfo(
                self.tr("{} rows read {}.").format(len(table.x) if table.x is not None else "", table.how)
            )
        return table

    def plain_ogr_layer(self, parameters: dict, name: str, context: QgsProcessingContext) -> tuple[str, str] | None:
        """Return (path, layer name) when an input is a whole, unedited, unfiltered GDAL file layer."""
        if self.input_filter(parameters, name, context):  # a subset, selection, limit or expression narrows it
            return None
        layer = self.parameterAsVectorLayer(parameters, name, context)
        if layer is None or layer.providerType() != "ogr" or layer.isModified():
            return None
        parts = QgsProviderRegistry.instance().decodeUri("ogr", layer.source())
        path = parts.get("path", "")
        if not path or not os.path.isfile(path):
            return None
        layer_name = parts.get("layerName") or ""
        if not layer_name and parts.get("layerId") not in (None, 0, "0", ""):
            return None
        return path, layer_name
