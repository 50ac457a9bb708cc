"""The dock's state and actions, without the widget: the store, the crimes layer, the filter and the runs.

The dock widget only collects choices and shows what this object reports, so every action an analyst
takes can be tested offscreen. Long work runs as background tasks (ui.tasks); messages are emitted in
words an analyst understands, with a Qgis message level.

Everything the dock remembers belongs to the project (ui.project_settings): the store its imports are
written to, its crimes layer, the filter, the algorithm options and the fixed style values. Opening a
project brings its own back (readProject), a new project starts from nothing, and an import never writes
over a file that is not this project's own store.
"""

from __future__ import annotations

import os
import re
import time
from typing import Callable

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsDataSourceUri,
    QgsException,
    QgsFeatureRequest,
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
    QgsProject,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QObject, pyqtSignal

from crime_mapping_plugin.core import policeuk
from crime_mapping_plugin.core.crime_filter import MONTH_FIELD, CrimeFilter
from crime_mapping_plugin.core.months import (
    AnalysisPeriod,
    MonthRange,
    analysis_period,
    month_numbers,
    month_parameter,
)
from crime_mapping_plugin.processing import rate_style, styles
from crime_mapping_plugin.ui.actions import (
    DockState,
    action,
    parameter_default,
    registered_algorithm,
    unavailable_reason,
)
from crime_mapping_plugin.ui.project_settings import ProjectSettings, selection_key
from crime_mapping_plugin.ui.tasks import AlgorithmRun

IMPORT_ALG = "crimemapping:importpoliceuk"
MPS_ALG = "crimemapping:importmpswardcrime"
PROFILES_ALG = "crimemapping:areaprofiles"
BOROUGH_FIELDS = ("LAD24NM", "LAD23NM", "LAD22NM", "borough")  # a ward layer's borough, when it has one
DATA_GROUP = "Crime data"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "crimes"


def _source_path(layer: QgsMapLayer) -> str:
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    return _normal(parts.get("path") or layer.source())


def _normal(path: str) -> str:
    return os.path.normcase(os.path.abspath(path))


def _free_name(path: str) -> str:
    """Return path, or path with _2, _3… before its extension: the first name no file has."""
    stem, extension = os.path.splitext(path)
    number = 1
    while os.path.exists(path):
        number += 1
        path = f"{stem}_{number}{extension}"
    return path


def save_style(layer: QgsMapLayer) -> str:
    """Save the layer's style as its default: in its GeoPackage, else a .qml beside its file; '' or the problem.

    The project keeps the style too; saved with the data, the layer looks the same added to another project.
    """
    if not os.path.isfile(_source_path(layer)):
        return ""  # a memory or database layer: the project keeps its style
    if Qgis.QGIS_VERSION_INT >= 32600:  # the form without categories is deprecated from then on
        message, ok = layer.saveDefaultStyle(QgsMapLayer.AllStyleCategories)
    else:
        message, ok = layer.saveDefaultStyle()
    return "" if ok else message


class DockController(QObject):
    """Owns what the dock works on and runs its actions as background tasks."""

    message = pyqtSignal(str, int)  # text, Qgis.Info / Warning / Critical / Success
    progress = pyqtSignal(int)
    busy_changed = pyqtSignal(bool)
    count_changed = pyqtSignal(int)  # crimes selected by the filter
    layer_changed = pyqtSignal()
    run_finished = pyqtSignal(str, bool)  # action key ('import', 'mps' or a map action), success
    settings_changed = pyqtSignal()  # the filter or options were replaced (another project, a new import)
    funnel_plot_changed = pyqtSignal(str)  # path of the funnel plot of the last ward rates run
    published = pyqtSignal(str)  # index.html of the website of area profiles just written

    def __init__(self, project: QgsProject | None = None) -> None:
        super().__init__()
        self.project = project or QgsProject.instance()
        self.state = DockState()
        self.run: AlgorithmRun | None = None
        self.selected_count: int | None = None
        self.import_counts: dict = {}
        self.last_message = ("", Qgis.Info)
        self.last_outputs: list[QgsMapLayer] = []
        self.funnel_plot = ""  # the funnel plot of the last ward rates run
        self.website = ""  # index.html of the last published profiles
        self.publication: dict = {}  # the results of the last publication (PDF, WEBSITE, PAGES, PERIOD…)
        self.prefs = ProjectSettings()
        self._take_prefs(ProjectSettings.read(self.project))
        self.project.layersWillBeRemoved.connect(self._layers_removed)
        self.project.readProject.connect(self._project_read)
        self.project.cleared.connect(self._project_cleared)

    def _take_prefs(self, prefs: ProjectSettings) -> None:
        self.prefs = prefs
        self.state.crime_filter = prefs.crime_filter
        self.state.bandwidth_m = prefs.bandwidth_m
        self.state.cell_size_m = prefs.cell_size_m
        # The same default units as the algorithm's dialog, until the analyst chooses others.
        units = prefs.density_units
        self.state.density_units = (
            units if units >= 0 else int(parameter_default(action("density").algorithm_id, "UNITS", 0))
        )
        self.state.gistar_cell_m = prefs.gistar_cell_m
        self.heatmap_radius = prefs.heatmap_radius
        self.heatmap_max = prefs.heatmap_max

    def save_settings(self) -> None:
        """Keep the dock's choices in the project (they are saved with it, and only with it)."""
        prefs = self.prefs
        prefs.crime_filter = self.state.crime_filter
        prefs.bandwidth_m, prefs.cell_size_m = self.state.bandwidth_m, self.state.cell_size_m
        prefs.density_units, prefs.gistar_cell_m = self.state.density_units, self.state.gistar_cell_m
        prefs.heatmap_radius, prefs.heatmap_max = self.heatmap_radius, self.heatmap_max
        prefs.crimes_layer = self.state.crimes.id() if self.state.crimes is not None else ""
        prefs.wards_layer = self.state.wards.id() if self.state.wards is not None else ""
        prefs.write(self.project)

    def _project_read(self, *_args: object) -> None:
        """Take the settings of the project just opened, and its crimes layer with the filter it was saved with."""
        self._take_prefs(ProjectSettings.read(self.project))
        self.state.crimes = self.state.wards = None
        self.selected_count = None
        wards = self.project.mapLayer(self.prefs.wards_layer)
        if isinstance(wards, QgsVectorLayer):
            self.state.wards = wards
        crimes = self.project.mapLayer(self.prefs.crimes_layer)
        if not isinstance(crimes, QgsVectorLayer) and self.prefs.store_path:
            store = _normal(self.prefs.store_path)
            crimes = next(
                (
                    lyr
                    for lyr in self.project.mapLayers().values()
                    if isinstance(lyr, QgsVectorLayer) and _source_path(lyr) == store
                ),
                None,
            )
        self.settings_changed.emit()
        if isinstance(crimes, QgsVectorLayer):
            self.set_crimes_layer(crimes)
        else:
            self.layer_changed.emit()

    def _project_cleared(self) -> None:
        """Forget everything: a new project starts from its own data, with nothing of the last one applied."""
        self._take_prefs(ProjectSettings())
        self.state.crimes = self.state.wards = self.state.population = None
        self.state.population_field = ""
        self.selected_count = None
        self.import_counts = {}
        self.last_outputs = []
        self.funnel_plot = ""
        self.website = ""
        self.publication = {}
        self.settings_changed.emit()
        self.layer_changed.emit()

    # Fixed style values, per crime selection: the next period of the same crimes is drawn alike.

    @property
    def density_max(self) -> float:
        """The fixed top of the density ramp for the crimes and units chosen (0: from the first map)."""
        return self.prefs.density_maxima.get(selection_key(self.state.crime_filter, self.state.density_units), 0.0)

    @density_max.setter
    def density_max(self, value: float) -> None:
        key = selection_key(self.state.crime_filter, self.state.density_units)
        if value and value > 0:
            self.prefs.density_maxima[key] = float(value)
        else:
            self.prefs.density_maxima.pop(key, None)

    @property
    def rate_breaks(self) -> list[float]:
        """The fixed ward rate class breaks for the crimes chosen ([]: from the first map)."""
        return list(self.prefs.rate_breaks.get(selection_key(self.state.crime_filter), []))

    @rate_breaks.setter
    def rate_breaks(self, breaks: list[float]) -> None:
        key = selection_key(self.state.crime_filter)
        if breaks:
            self.prefs.rate_breaks[key] = [float(b) for b in breaks]
        else:
            self.prefs.rate_breaks.pop(key, None)

    def say(self, text: str, level: int = Qgis.Info) -> None:
        """Report to the analyst (the dock shows it; errors also go to the message bar)."""
        self.last_message = (text, level)
        self.message.emit(text, level)

    # The store: where imports are written.

    def default_store_path(self) -> str:
        """Return a new GeoPackage beside the saved project ('' for a project not yet saved: ask the analyst)."""
        project_file = self.project.absoluteFilePath()
        if not project_file:
            return ""
        stem = os.path.splitext(os.path.basename(project_file))[0]
        return _free_name(os.path.join(os.path.dirname(project_file), f"{stem}_crimes.gpkg"))

    @property
    def store_path(self) -> str:
        """The GeoPackage this project's imports are written to: its own, else a new one beside the project."""
        return self.prefs.store_path or self.default_store_path()

    def set_store_path(self, path: str) -> bool:
        """Choose a new GeoPackage for this project's imports; False (said) when the file is another's."""
        path = path.strip()
        if path and not path.lower().endswith(".gpkg"):
            path += ".gpkg"
        if path and not self._may_write(path):
            self.say(
                f"{path} already exists and is not this project's store: another project may use it. "
                "Choose a new file.",
                Qgis.Warning,
            )
            return False
        self.prefs.store_path = os.path.abspath(path) if path else ""
        self.prefs.write(self.project)
        return True

    def postgis_connections(self) -> list[str]:
        """Return the names of the PostGIS connections saved in QGIS (the Browser's), sorted."""
        metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
        return sorted(metadata.connections().keys()) if metadata is not None else []

    def set_store_postgis(self, connection: str, schema: str = "public", table: str = "police_uk_crimes") -> bool:
        """Keep this project's imports in a table of a saved PostGIS connection; False (said) when it cannot be.

        The project keeps the connection's name, the schema and the table, never a password: a connection that
        holds its password itself (not in an authentication configuration) is refused, since the layer's source,
        saved in the project, would carry it. An empty connection goes back to the GeoPackage store.
        """
        if not connection:
            self.prefs.store_connection = self.prefs.store_schema = self.prefs.store_table = ""
            self.prefs.write(self.project)
            return True
        metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
        found = metadata.connections().get(connection) if metadata is not None else None
        if found is None:
            self.say(f"There is no saved PostGIS connection '{connection}'.", Qgis.Warning)
            return False
        uri = QgsDataSourceUri(found.uri())
        if uri.password() and not uri.authConfigId():
            self.say(
                f"The connection '{connection}' keeps its password itself, which a project would then carry: keep "
                "its credentials in an authentication configuration (the connection's Authentication tab, "
                "Configurations) and choose it again.",
                Qgis.Warning,
            )
            return False
        schema, table = (schema or "public").strip(), (table or "").strip()
        if not table:
            self.say("Give the table the crimes are written to.", Qgis.Warning)
            return False
        owned = (self.prefs.store_connection, self.prefs.store_schema, self.prefs.store_table)
        try:
            taken = owned != (connection, schema, table) and found.tableExists(schema, table)
        except QgsException as err:  # the server refused or is not there: say so, in QGIS's words
            self.say(f"The PostGIS connection '{connection}' cannot be used: {err}", Qgis.Warning)
            return False
        if taken:
            self.say(
                f"The table {schema}.{table} already exists and is not this project's store: another project may "
                "use it. Choose a new table.",
                Qgis.Warning,
            )
            return False
        self.prefs.store_connection, self.prefs.store_schema, self.prefs.store_table = connection, schema, table
        self.prefs.write(self.project)
        return True

    def postgis_store_uri(self) -> QgsDataSourceUri | None:
        """Return the URI of the PostGIS store table (credentials by authcfg), None with a GeoPackage store."""
        if not self.prefs.store_connection:
            return None
        metadata = QgsProviderRegistry.instance().providerMetadata("postgres")
        found = metadata.connections().get(self.prefs.store_connection) if metadata is not None else None
        if found is None:
            return None
        uri = QgsDataSourceUri(found.uri())
        uri.setDataSource(self.prefs.store_schema, self.prefs.store_table, "geom", "", "fid")
        uri.setSrid("27700")
        uri.setWkbType(Qgis.WkbType.Point if hasattr(Qgis, "WkbType") else QgsWkbTypes.Point)  # 3.40 wants the enum
        return uri

    def _may_write(self, path: str) -> bool:
        """Return whether an import may write path: a new file, or one this project already owns."""
        owned = {_normal(p) for p in (self.prefs.store_path, self.prefs.mps_path) if p}
        return not os.path.exists(path) or _normal(path) in owned

    def output_dir(self) -> str:
        """Return the folder the maps are written to, beside the store."""
        stem = os.path.splitext(self.store_path)[0]
        return stem + "_maps"

    # Runs.

    def is_busy(self) -> bool:
        """Return whether a background run is going on."""
        return self.run is not None and not self.run.finished

    def cancel(self) -> None:
        """Cancel the background run, if any."""
        if self.is_busy():
            self.say("Cancelling…", Qgis.Info)  # first: a task not yet started reports at once
            self.run.cancel()

    def _start(
        self,
        key: str,
        algorithm: QgsProcessingAlgorithm,
        parameters: dict,
        description: str,
        on_done: Callable[[AlgorithmRun, dict], None],
    ) -> bool:
        if self.is_busy():
            self.say("Wait for the current run to finish, or cancel it.", Qgis.Warning)
            return False
        run = AlgorithmRun(algorithm, parameters, description, self.project)
        problem = run.check()
        if problem:
            self.say(f"{description}: {problem}", Qgis.Critical)
            return False
        self.run = run
        run.progress.connect(self.progress.emit)
        run.done.connect(lambda ok, results, message: self._finished(key, run, ok, results, message, on_done))
        self.busy_changed.emit(True)
        self.progress.emit(0)
        self.say(f"{description}…", Qgis.Info)
        run.start()
        return True

    def _finished(
        self,
        key: str,
        run: AlgorithmRun,
        ok: bool,
        results: dict,
        message: str,
        on_done: Callable[[AlgorithmRun, dict], None],
    ) -> None:
        self.busy_changed.emit(False)
        if ok:
            try:
                on_done(run, results)
            except Exception as err:  # a loading problem must reach the analyst, not vanish in a slot
                ok = False
                self.say(f"{run.description}: the results could not be added to the map ({err}).", Qgis.Critical)
        else:
            cancelled = run.feedback.isCanceled()
            self.say(
                f"{run.description} {'was cancelled' if cancelled else 'failed'}: {message}",
                Qgis.Warning if cancelled else Qgis.Critical,
            )
        self.progress.emit(100 if ok else 0)
        self.run_finished.emit(key, ok)

    # Loading data.

    def import_police_uk(self, paths: list[str]) -> bool:
        """Import police.uk files, folders or zips into the store in the background; False if not started."""
        paths = [p for p in paths if p]
        if not paths:
            self.say("Choose police.uk street files, zip archives or a folder to load first.", Qgis.Warning)
            return False
        missing = [p for p in paths if not os.path.exists(p)]
        if missing:
            self.say(f"These files cannot be found: {', '.join(missing)}.", Qgis.Critical)
            return False
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(IMPORT_ALG)
        if algorithm is None:
            self.say(
                "The police.uk import algorithm is not registered: re-enable the Crime Mapping plugin.", Qgis.Critical
            )
            return False
        if self.prefs.store_connection:
            uri = self.postgis_store_uri()
            if uri is None:
                self.say(
                    f"The saved PostGIS connection '{self.prefs.store_connection}' of this project's store is not "
                    "in this QGIS: save it again (same name) or choose another store.",
                    Qgis.Warning,
                )
                return False
            self._release_table(uri)
            return self._start(
                "import",
                algorithm,
                {"INPUT": paths, "OUTPUT": "postgis:" + uri.uri(False)},
                "Loading police.uk crimes into PostGIS",
                self._imported,
            )
        store = self.store_path
        if not store:
            self.say(
                "Save the project first (the crimes are kept beside it), or choose a new file to keep them in.",
                Qgis.Warning,
            )
            return False
        if not self._may_write(store):  # a file put there after it was chosen
            self.say(f"{store} is not this project's store and is not overwritten: choose a new file.", Qgis.Warning)
            return False
        os.makedirs(os.path.dirname(store) or ".", exist_ok=True)
        self._release(store)
        return self._start(
            "import", algorithm, {"INPUT": paths, "OUTPUT": store}, "Loading police.uk crimes", self._imported
        )

    def _release(self, path: str) -> None:
        """Remove from the project the layers read from path, which the import is about to replace."""
        target = os.path.normcase(os.path.abspath(path))
        ids = [lid for lid, layer in self.project.mapLayers().items() if _source_path(layer) == target]
        if ids:
            self.project.removeMapLayers(ids)

    def _release_table(self, uri: QgsDataSourceUri) -> None:
        """Remove from the project the layers of the store's table, which the import is about to replace."""

        def key(u: QgsDataSourceUri) -> tuple:
            return (u.host(), u.port(), u.database(), u.service(), u.schema() or "public", u.table())

        target = key(uri)
        ids = [
            lid
            for lid, layer in self.project.mapLayers().items()
            if layer.providerType() == "postgres" and key(QgsDataSourceUri(layer.source())) == target
        ]
        if ids:
            self.project.removeMapLayers(ids)

    def _imported(self, run: AlgorithmRun, results: dict) -> None:
        path = results["OUTPUT"]
        months = [m for m in str(results.get("MONTHS") or "").split(",") if m]
        period = analysis_period(month_numbers(months))
        uri = self.postgis_store_uri()
        if uri is not None:
            layer = QgsVectorLayer(uri.uri(False), "police.uk crimes", "postgres")
        else:
            layer = QgsVectorLayer(path, "police.uk crimes", "ogr")
        if not layer.isValid():
            raise RuntimeError(f"the imported layer {uri.table() if uri else path} cannot be opened")
        if period is not None:  # the months with records and those missing, never a span that looks continuous
            layer.setName(f"police.uk crimes, {period.describe()}")
        if uri is None:
            self.prefs.store_path = os.path.abspath(path)
        self._add_to_data_group(layer)
        self.import_counts = {
            "read": int(results["ROWS_READ"]),
            "written": int(results["ROWS_WRITTEN"]),
            "left_out": int(results["ROWS_LEFT_OUT"]),
            "files": int(results["FILES_READ"]),
            "months": months,
            "reasons": {r: int(results.get(k) or 0) for r, k in policeuk.REASON_KEYS.items() if results.get(k)},
        }
        # A new import starts unfiltered: an earlier filter is not applied to data it was not chosen for.
        self.state.crime_filter = CrimeFilter()
        self.settings_changed.emit()
        self.set_crimes_layer(layer)
        reasons = ", ".join(f"{v:,} {r}" for r, v in self.import_counts["reasons"].items())
        self.say(
            f"Loaded {self.import_counts['written']:,} crimes ({period.describe() if period else 'no months'}) from "
            f"{self.import_counts['files']} file(s): {self.import_counts['read']:,} rows read, "
            f"{self.import_counts['left_out']:,} left out" + (f" ({reasons})." if reasons else "."),
            Qgis.Success,
        )

    def import_mps(self, path: str) -> bool:
        """Import the MPS ward-level crime table beside the store, in the background."""
        if not path:
            self.say("Choose the MPS ward-level crime CSV file to load first.", Qgis.Warning)
            return False
        if not os.path.isfile(path):
            self.say(f"The file {path} cannot be found.", Qgis.Critical)
            return False
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(MPS_ALG)
        if algorithm is None:
            self.say("The MPS import algorithm is not registered: re-enable the Crime Mapping plugin.", Qgis.Critical)
            return False
        out = self.prefs.mps_path
        if not out:
            stem = os.path.splitext(self.store_path)[0]
            if not stem:
                self.say("Save the project first, or choose a new file to keep the crimes in.", Qgis.Warning)
                return False
            out = _free_name(stem + "_mps_ward_crime.gpkg")
        self.prefs.mps_path = os.path.abspath(out)
        self.prefs.write(self.project)
        os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
        self._release(out)
        return self._start(
            "mps", algorithm, {"INPUT": path, "OUTPUT": out}, "Loading MPS ward crime", self._mps_imported
        )

    def _mps_imported(self, run: AlgorithmRun, results: dict) -> None:
        layer = QgsVectorLayer(results["OUTPUT"], "MPS ward-level crime", "ogr")
        if not layer.isValid():
            raise RuntimeError(f"the imported table {results['OUTPUT']} cannot be opened")
        self._add_to_data_group(layer)
        self.import_counts = {
            "read": int(results.get("ROWS_READ") or 0),
            "cells_read": int(results.get("CELLS_READ") or 0),
            "written": int(results.get("CELLS_WRITTEN") or 0),
            "offences": int(results.get("OFFENCES_WRITTEN") or 0),
        }
        self.say(
            f"Loaded the MPS ward table: {self.import_counts['read']:,} rows, "
            f"{self.import_counts['written']:,} ward-month counts written "
            f"({self.import_counts['offences']:,} offences), months {results.get('MONTHS') or 'none'}.",
            Qgis.Success,
        )

    def _add_to_data_group(self, layer: QgsMapLayer) -> None:
        root = self.project.layerTreeRoot()
        group = root.findGroup(DATA_GROUP) or root.addGroup(DATA_GROUP)
        self.project.addMapLayer(layer, False)
        group.addLayer(layer)

    # The crimes layer and its filter.

    def set_crimes_layer(self, layer: QgsVectorLayer | None) -> None:
        """Work on this crimes layer with the filter it already has: nothing is applied unseen.

        The project's filter is taken when the layer carries it (a reopened project); a layer without a
        subset string starts unfiltered; a layer filtered by some other subset string keeps it, and the
        dock says so.
        """
        self.state.crimes = layer
        if layer is None:
            self.selected_count = None
            self.layer_changed.emit()
            return
        subset = layer.subsetString()
        try:
            carries_prefs = subset == self.prefs.crime_filter.subset_string()
        except ValueError:
            carries_prefs = False
        self.state.crime_filter = self.prefs.crime_filter if carries_prefs else CrimeFilter()
        self.settings_changed.emit()
        self.layer_changed.emit()
        self.selected_count = int(layer.featureCount())
        self.count_changed.emit(self.selected_count)
        self.save_settings()
        if subset and not carries_prefs:
            self.say(
                f"'{layer.name()}' is filtered by its own subset string ({subset}): {self.selected_count:,} "
                "crimes. Apply filter replaces it.",
                Qgis.Warning,
            )
        else:
            self.say(f"{self.selected_count:,} crimes selected: {self.state.crime_filter.label()}.", Qgis.Info)

    def data_period(self) -> AnalysisPeriod | None:
        """Return the months of the loaded crimes (before the filter): those with records and those missing."""
        layer = self.state.crimes
        index = -1 if layer is None else layer.fields().lookupField(MONTH_FIELD)
        if index < 0:
            return None
        return analysis_period(month_numbers(self._unfiltered_values(index)))

    def set_wards_layer(self, layer: QgsVectorLayer | None) -> None:
        """Use these ward polygons for ward rates and as the study area of the density."""
        if layer is not None and layer.geometryType() != QgsWkbTypes.PolygonGeometry:
            self.say(f"'{layer.name()}' is not a polygon layer: choose ward boundaries.", Qgis.Warning)
            return
        self.state.wards = layer
        self.save_settings()

    def set_population(self, layer: QgsVectorLayer | None, value_field: str, code_field: str = "ward_code") -> None:
        """Take residents per ward from value_field of layer (None: of the ward layer), joined on code_field."""
        self.state.population = layer
        self.state.population_field = value_field or ""
        self.state.population_code_field = code_field or "ward_code"

    def _layers_removed(self, ids: list[str]) -> None:
        if self.state.crimes is not None and self.state.crimes.id() in ids:
            self.state.crimes = None
            self.selected_count = None
            self.layer_changed.emit()
        if self.state.wards is not None and self.state.wards.id() in ids:
            self.state.wards = None
        if self.state.population is not None and self.state.population.id() in ids:
            self.state.population = None
            self.state.population_field = ""

    def apply_filter(self, crime_filter: CrimeFilter) -> int | None:
        """Set the filter as the crimes layer's subset string; return the crimes selected (None on error)."""
        try:
            subset = crime_filter.subset_string()
        except ValueError as err:
            self.say(str(err), Qgis.Warning)
            return None
        self.state.crime_filter = crime_filter
        self.save_settings()
        layer = self.state.crimes
        if layer is None:
            self.say("Load police.uk crimes first: the filter applies to the loaded crimes.", Qgis.Info)
            return None
        if not layer.setSubsetString(subset):
            self.say(f"The filter could not be applied to '{layer.name()}': is it a police.uk import?", Qgis.Critical)
            return None
        layer.triggerRepaint()
        self.selected_count = int(layer.featureCount())
        self.count_changed.emit(self.selected_count)
        if self.selected_count == 0:
            self.say(
                f"No crimes match the filter ({crime_filter.label()}): widen the months or the types.", Qgis.Warning
            )
        else:
            self.say(f"{self.selected_count:,} crimes selected: {crime_filter.label()}.", Qgis.Info)
        return self.selected_count

    # Maps.

    def action_available(self, key: str) -> tuple[bool, str]:
        """Return whether a map action can run, and the reason when it cannot."""
        reason = unavailable_reason(action(key))
        return (not reason, reason)

    def run_map_action(self, key: str) -> bool:
        """Run a map action (see ui.actions) on the filtered crimes in the background; False if not started."""
        row = action(key)
        algorithm = registered_algorithm(row)
        if algorithm is None:
            self.say(unavailable_reason(row), Qgis.Critical)
            return False
        if self.state.crimes is None:
            self.say(f"Load police.uk crimes before running '{row.label}'.", Qgis.Warning)
            return False
        if not self.selected_count:
            self.say(f"No crimes are selected: widen the filter before running '{row.label}'.", Qgis.Warning)
            return False
        missing = row.missing(self.state)
        if missing:
            self.say(missing, Qgis.Warning)
            return False
        parameters = row.parameters(self.state)
        label = self.state.crime_filter.label()
        os.makedirs(self.output_dir(), exist_ok=True)
        stamp = time.strftime("%Y%m%d_%H%M%S")
        for definition in algorithm.destinationParameterDefinitions():
            if definition.name() in parameters:
                continue
            extension = definition.defaultFileExtension() or "gpkg"
            if isinstance(definition, QgsProcessingParameterRasterDestination):
                extension = "tif"
            elif isinstance(definition, (QgsProcessingParameterFeatureSink, QgsProcessingParameterVectorDestination)):
                extension = "gpkg"
            name = f"{_slug(label)}_{row.key}_{definition.name().lower()}_{stamp}.{extension}"
            path = os.path.join(self.output_dir(), name)
            parameters[definition.name()] = QgsProcessingOutputLayerDefinition(path, self.project)
        created = QgsApplication.processingRegistry().createAlgorithmById(row.algorithm_id)
        return self._start(
            row.key,
            created,
            parameters,
            f"{row.label} ({label})",
            lambda run, results: self._mapped(row.key, run, label, results),
        )

    def _mapped(self, key: str, run: AlgorithmRun, label: str, results: dict) -> None:
        row = action(key)
        period = self.period_text()
        layers = run.load_outputs(label, rename=lambda name: f"{name}, {period}")
        self.last_outputs = layers
        # The algorithm states the ramp top it used: the dock takes it, it does not recompute it.
        ramp_top = results.get("RAMP_MAXIMUM")
        for layer in layers:
            if self._fits(row.style_preset, layer):
                self.apply_style(row.style_preset, layer, quiet=True, ramp_maximum=ramp_top)
            else:
                save_style(layer)  # the algorithm's own style, kept with the data
        if not layers:
            raise RuntimeError("the algorithm produced no layer to show")
        text = f"{row.label}: {len(layers)} layer(s) added to the group '{label}'."
        plot = str(results.get("FUNNEL_PLOT") or "")
        if plot and os.path.isfile(plot):
            self.funnel_plot = plot
            self.funnel_plot_changed.emit(plot)
            text += " The funnel plot is shown below the map buttons."
        if key == "gistar":
            text += " " + self._empty_cells_text(layers)
        self.say(text, Qgis.Success)

    # Publishing: the area profiles of the filtered crimes, as a PDF and a website.

    def profile_parameters(self, subset: str = "", title: str = "") -> dict:
        """Return crimemapping:areaprofiles' parameters for the dock's crimes, wards and residents.

        Raises ValueError with what to choose when the dock lacks one of them.
        """
        state = self.state
        if state.crimes is None:
            raise ValueError("Load police.uk crimes before publishing area profiles.")
        if not self.selected_count:
            raise ValueError("No crimes are selected: widen the filter before publishing area profiles.")
        if state.wards is None:
            raise ValueError("Choose the ward polygons (Map ▸ Wards / study area) to publish their profiles.")
        params: dict = {"CRIMES": state.crimes, "AREAS": state.wards, "MAKE_PDF": True, "MAKE_WEBSITE": True}
        if state.population is not None:
            if not state.population_field:
                raise ValueError("Choose the residents field of the population table.")
            params.update(
                POPULATION_TABLE=state.population,
                POP_CODE_FIELD=state.population_code_field or "ward_code",
                POP_VALUE_FIELD=state.population_field,
            )
        elif state.population_field:
            params["POPULATION_FIELD"] = state.population_field
        else:
            raise ValueError("Choose the residents per ward (a population table or a field of the wards).")
        names = state.wards.fields().names()
        borough = next((f for f in BOROUGH_FIELDS if f in names), "")
        if borough:
            params["BOROUGH_FIELD"] = borough
        if subset.strip():
            params["SUBSET"] = subset.strip()
        if title.strip():
            params["TITLE"] = title.strip()
        label = state.crime_filter.label()
        stamp = time.strftime("%Y%m%d_%H%M%S")
        params["OUTPUT_FOLDER"] = os.path.join(self.output_dir(), f"{_slug(label)}_profiles_{stamp}")
        return params

    def publish_profiles(self, subset: str = "", title: str = "") -> bool:
        """Publish one profile per ward of the filtered crimes (PDF and website); False (said) if not started."""
        algorithm = QgsApplication.processingRegistry().createAlgorithmById(PROFILES_ALG)
        if algorithm is None:
            self.say(
                "The area profiles algorithm is not registered: re-enable the Crime Mapping plugin.", Qgis.Critical
            )
            return False
        try:
            parameters = self.profile_parameters(subset, title)
        except ValueError as err:
            self.say(str(err), Qgis.Warning)
            return False
        os.makedirs(self.output_dir(), exist_ok=True)
        label = self.state.crime_filter.label()
        return self._start("publish", algorithm, parameters, f"Publishing area profiles ({label})", self._published)

    def _published(self, _run: AlgorithmRun, results: dict) -> None:
        self.publication = dict(results)
        self.website = str(results.get("WEBSITE") or "")
        pdf = str(results.get("PDF") or "")
        if not self.website or not os.path.isfile(self.website):
            raise RuntimeError("the algorithm wrote no website")
        self.say(
            f"Published {int(results.get('PAGES') or 0):,} area profiles ({results.get('PERIOD') or ''}): "
            f"the website {self.website}" + (f" and the PDF {pdf}." if pdf else "."),
            Qgis.Success,
        )
        self.published.emit(self.website)

    def period_text(self) -> str:
        """Return the filter's months in the loaded data: those with records and those missing, in words."""
        crime_filter = self.state.crime_filter
        layer = self.state.crimes
        index = -1 if layer is None else layer.fields().lookupField(MONTH_FIELD)
        if index < 0:
            return crime_filter.period_label()
        wanted = MonthRange(
            month_parameter(crime_filter.start_month, "first month"),
            month_parameter(crime_filter.end_month, "last month"),
        )
        period = analysis_period(month_numbers(self._unfiltered_values(index)), wanted)
        return period.describe() if period is not None else crime_filter.period_label()

    def _unfiltered_values(self, index: int) -> set:
        layer = self.state.crimes
        subset = layer.subsetString()
        if subset:
            layer.setSubsetString("")
        values = layer.uniqueValues(index)
        if subset:
            layer.setSubsetString(subset)
        return values

    def _empty_cells_text(self, layers: list[QgsMapLayer]) -> str:
        """Say how many of the Gi* cells hold no crime (read from the output's crimes field)."""
        for layer in layers:
            if isinstance(layer, QgsVectorLayer) and layer.fields().lookupField("crimes") >= 0:
                total = layer.featureCount()
                request = QgsFeatureRequest().setFilterExpression('"crimes" = 0').setNoAttributes()
                request.setFlags(QgsFeatureRequest.NoGeometry)
                empty = sum(1 for _ in layer.getFeatures(request))
                share = 100.0 * empty / total if total else 0.0
                return (
                    f"{empty:,} of {total:,} cells ({share:.0f} %) hold no crime: a study area that follows the "
                    "wards, or larger cells, leave fewer."
                )
        return ""

    # Styles.

    def _fits(self, preset: str, layer: QgsMapLayer) -> bool:
        if preset == "density":
            return isinstance(layer, QgsRasterLayer)
        if not isinstance(layer, QgsVectorLayer):
            return False
        if preset == "heatmap":
            return layer.geometryType() == QgsWkbTypes.PointGeometry
        if preset == "ward_rates":
            return bool(self.rate_breaks) and styles.first_field(layer, styles.RATE_FIELDS) is not None
        if preset == "gistar":
            return styles.first_field(layer, styles.GISTAR_BIN_FIELDS) is not None
        return False

    def apply_style(
        self, preset: str, layer: QgsMapLayer | None, quiet: bool = False, ramp_maximum: float | None = None
    ) -> bool:
        """Apply a style preset to a layer with the dock's fixed breaks and maxima; False with a message if not.

        ramp_maximum is the ramp top the density algorithm returned (RAMP_MAXIMUM); without it the raster's
        own metadata says it. The first one is kept as the fixed maximum for later periods.
        """
        if layer is None:
            self.say("Select a layer in the Layers panel to style.", Qgis.Warning)
            return False
        try:
            if preset == "ward_rates":
                if not isinstance(layer, QgsVectorLayer) or styles.first_field(layer, styles.RATE_FIELDS) is None:
                    fields = ", ".join(styles.RATE_FIELDS)
                    raise ValueError(f"'{layer.name()}' has no rate field ({fields}): choose a ward rates layer.")
                field = styles.first_field(layer, styles.RATE_FIELDS)
                # The first breaks are kept, so that the next period is drawn in the same classes.
                self.rate_breaks = rate_style.style_ward_rates(layer, field, self.rate_breaks)
                text = f"Ward rate classes at {', '.join(f'{b:g}' for b in self.rate_breaks)} {rate_style.RATE_UNIT}."
            elif preset == "density":
                if not isinstance(layer, QgsRasterLayer):
                    raise ValueError(f"'{layer.name()}' is not a density raster: choose a hotspot density layer.")
                if self.density_max <= 0:
                    top = ramp_maximum if ramp_maximum else styles.raster_ramp_maximum(layer)
                    if not top:
                        raise ValueError(
                            f"'{layer.name()}' does not state the top of its colour ramp (made by another tool?): "
                            "type a density maximum."
                        )
                    self.density_max = float(top)
                styles.style_density_fixed(layer, self.density_max)
                text = f"Density ramp fixed at 0 to {self.density_max:g} {styles.raster_unit(layer)}."
            elif preset == "heatmap":
                if not isinstance(layer, QgsVectorLayer) or layer.geometryType() != QgsWkbTypes.PointGeometry:
                    raise ValueError(f"'{layer.name()}' is not a point layer: choose the crimes.")
                styles.style_point_heatmap(layer, self.heatmap_radius, self.heatmap_max)
                top = f"{self.heatmap_max:g}" if self.heatmap_max > 0 else "the busiest spot"
                text = f"Heatmap of crimes, radius {self.heatmap_radius:g} m, darkest at {top}."
            elif preset == "gistar":
                field = (
                    styles.first_field(layer, styles.GISTAR_BIN_FIELDS) if isinstance(layer, QgsVectorLayer) else None
                )
                if field is None:
                    raise ValueError(f"'{layer.name()}' has no Gi* bin field: choose a Gi* hotspots layer.")
                styles.style_gistar(layer, field)
                text = "Gi* classes: hot and cold spots at 90, 95 and 99 % confidence."
            else:
                raise ValueError(f"Unknown style '{preset}'.")
        except ValueError as err:
            self.say(str(err), Qgis.Warning)
            return False
        problem = save_style(layer)
        if problem:
            text += f" The style could not be saved with the layer ({problem})."
        if not quiet or problem:
            self.say(text, Qgis.Warning if problem else Qgis.Success)
        self.save_settings()
        return True
