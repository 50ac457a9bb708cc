"""The dock's state and actions, without the widget: the store, the crimes layer, the filter and the runs.

The dock widget only collects choices and shows what this object reports, so every action an analyst
takes can be tested offscreen. Long work runs as background tasks (ui.tasks); messages are emitted in
words an analyst understands, with a Qgis message level.
"""

from __future__ import annotations

import json
import os
import re
import time
from typing import Callable

from qgis.core import (
    Qgis,
    QgsApplication,
    QgsMapLayer,
    QgsProcessingAlgorithm,
    QgsProcessingOutputLayerDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterRasterDestination,
    QgsProcessingParameterVectorDestination,
    QgsProject,
    QgsProviderRegistry,
    QgsRasterLayer,
    QgsSettings,
    QgsVectorLayer,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QObject, pyqtSignal

from crime_mapping_plugin.core import policeuk
from crime_mapping_plugin.core.crime_filter import CrimeFilter
from crime_mapping_plugin.processing import rate_style, styles
from crime_mapping_plugin.ui.actions import DockState, action, registered_algorithm, unavailable_reason
from crime_mapping_plugin.ui.tasks import AlgorithmRun

SETTINGS_GROUP = "crime_mapping"
IMPORT_ALG = "crimemapping:importpoliceuk"
MPS_ALG = "crimemapping:importmpswardcrime"
DATA_GROUP = "Crime data"


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")[:60] or "crimes"


def _source_path(layer: QgsMapLayer) -> str:
    parts = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source())
    return os.path.normcase(os.path.abspath(parts.get("path") or layer.source()))


class DockController(QObject):
    """Owns what the dock works on and runs its actions as background tasks."""

    message = pyqtSignal(str, int)  # text, Qgis.Info / Warning / Critical / Success
    progress = pyqtSignal(int)
    busy_changed = pyqtSignal(bool)
    count_changed = pyqtSignal(int)  # crimes selected by the filter
    layer_changed = pyqtSignal()
    run_finished = pyqtSignal(str, bool)  # action key ('import', 'mps' or a map action), success

    def __init__(self, project: QgsProject | None = None, settings: QgsSettings | None = None) -> None:
        super().__init__()
        self.project = project or QgsProject.instance()
        self.settings = settings or QgsSettings()
        self.state = DockState()
        self.run: AlgorithmRun | None = None
        self.selected_count: int | None = None
        self.import_counts: dict = {}
        self.last_message = ("", Qgis.Info)
        self.last_outputs: list[QgsMapLayer] = []
        self._store_path = self._setting("store_path", "")
        self.rate_breaks: list[float] = self._setting_json("rate_breaks", [])
        self.density_max = float(self._setting("density_max", 0.0) or 0.0)
        self.heatmap_max = float(self._setting("heatmap_max", 0.0) or 0.0)
        self.heatmap_radius = float(self._setting("heatmap_radius", 300.0) or 300.0)
        self.state.crime_filter = CrimeFilter.from_dict(self._setting_json("filter", {}))
        self.state.bandwidth_m = float(self._setting("bandwidth", 0.0) or 0.0)
        self.state.cell_size_m = float(self._setting("cell_size", 0.0) or 0.0)
        self.state.density_units = int(self._setting("density_units", 1) or 0)
        self.project.layersWillBeRemoved.connect(self._layers_removed)

    def _setting(self, key: str, default: object) -> object:
        return self.settings.value(f"{SETTINGS_GROUP}/{key}", default)

    def _setting_json(self, key: str, default: object) -> object:
        try:
            return json.loads(self._setting(key, "") or "null") or default
        except ValueError:
            return default

    def save_settings(self) -> None:
        """Remember the store, the filter, the algorithm options and the fixed style values."""
        values = {
            "store_path": self._store_path,
            "filter": json.dumps(self.state.crime_filter.to_dict()),
            "rate_breaks": json.dumps(self.rate_breaks),
            "density_max": self.density_max,
            "heatmap_max": self.heatmap_max,
            "heatmap_radius": self.heatmap_radius,
            "bandwidth": self.state.bandwidth_m,
            "cell_size": self.state.cell_size_m,
            "density_units": self.state.density_units,
        }
        for key, value in values.items():
            self.settings.setValue(f"{SETTINGS_GROUP}/{key}", value)

    def say(self, text: str, level: int = Qgis.Info) -> None:
        """Report to the analyst (the dock shows it; errors also go to the message bar)."""
        self.last_message = (text, level)
        self.message.emit(text, level)

    # The store: where imports are written.

    def default_store_path(self) -> str:
        """Return the GeoPackage beside the saved project, else one in the QGIS profile folder."""
        project_file = self.project.absoluteFilePath()
        if project_file:
            stem = os.path.splitext(os.path.basename(project_file))[0]
            return os.path.join(os.path.dirname(project_file), f"{stem}_crimes.gpkg")
        return os.path.join(QgsApplication.qgisSettingsDirPath(), "crime_mapping", "crimes.gpkg")

    @property
    def store_path(self) -> str:
        """The GeoPackage the police.uk import writes (chosen by the analyst, else the default)."""
        return self._store_path or self.default_store_path()

    def set_store_path(self, path: str) -> None:
        """Choose the GeoPackage imports are written to ('' for the default beside the project)."""
        path = path.strip()
        if path and not path.lower().endswith(".gpkg"):
            path += ".gpkg"
        self._store_path = path

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
        store = self.store_path
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

    def _imported(self, run: AlgorithmRun, results: dict) -> None:
        path = results["OUTPUT"]
        months = [m for m in str(results.get("MONTHS") or "").split(",") if m]
        period = (months[0] if len(months) == 1 else f"{months[0]} to {months[-1]}") if months else ""
        layer = QgsVectorLayer(path, f"police.uk crimes {period}".strip(), "ogr")
        if not layer.isValid():
            raise RuntimeError(f"the imported layer {path} cannot be opened")
        self._add_to_data_group(layer)
        self.import_counts = {
            "read": int(results["ROWS_READ"]),
            "written": int(results["ROWS_WRITTEN"]),
            "left_out": int(results["ROWS_LEFT_OUT"]),
            "files": int(results["FILES_READ"]),
            "months": months,
            "reasons": {r: int(results.get(k) or 0) for r, k in policeuk.REASON_KEYS.items() if results.get(k)},
        }
        self.set_crimes_layer(layer)
        reasons = ", ".join(f"{v:,} {r}" for r, v in self.import_counts["reasons"].items())
        self.say(
            f"Loaded {self.import_counts['written']:,} crimes ({period or 'no months'}) from "
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
        out = os.path.splitext(self.store_path)[0] + "_mps_ward_crime.gpkg"
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
        """Work on this crimes layer (an import of the police.uk algorithm) and apply the filter to it."""
        self.state.crimes = layer
        self.layer_changed.emit()
        if layer is not None:
            self.apply_filter(self.state.crime_filter)
        else:
            self.selected_count = None

    def set_wards_layer(self, layer: QgsVectorLayer | None) -> None:
        """Use these ward polygons for ward rates and as the study area of the density."""
        if layer is not None and layer.geometryType() != QgsWkbTypes.PolygonGeometry:
            self.say(f"'{layer.name()}' is not a polygon layer: choose ward boundaries.", Qgis.Warning)
            return
        self.state.wards = layer

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
        period = self.state.crime_filter.period_label()
        layers = run.load_outputs(label, rename=lambda name: f"{name}, {period}")
        self.last_outputs = layers
        # The algorithm states the ramp top it used: the dock takes it, it does not recompute it.
        ramp_top = results.get("RAMP_MAXIMUM")
        for layer in layers:
            if self._fits(row.style_preset, layer):
                self.apply_style(row.style_preset, layer, quiet=True, ramp_maximum=ramp_top)
        if not layers:
            raise RuntimeError("the algorithm produced no layer to show")
        self.say(f"{row.label}: {len(layers)} layer(s) added to the group '{label}'.", Qgis.Success)

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
        if not quiet:
            self.say(text, Qgis.Success)
        self.save_settings()
        return True
