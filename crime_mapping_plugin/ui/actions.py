"""The dock's map actions: which Processing algorithm each button runs, and its parameters from the dock.

Each action is a row: a key, a button label, an algorithm id looked up in the Processing registry when
the button is pressed (a button whose algorithm is not registered is disabled, saying why), a function
building the algorithm's input parameters from the dock's state, and the style preset applied to its
outputs. Output destinations are filled in by the controller for every destination parameter the
algorithm declares, so a row only names inputs.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

from qgis.core import QgsApplication, QgsMapLayer, QgsProcessingAlgorithm, QgsVectorLayer

from crime_mapping_plugin.core.crime_filter import CrimeFilter


@dataclass
class DockState:
    """What the analyst has chosen in the dock, as the map actions read it."""

    crimes: QgsVectorLayer | None = None
    wards: QgsVectorLayer | None = None
    crime_filter: CrimeFilter = field(default_factory=CrimeFilter)
    bandwidth_m: float = 0.0  # 0: the algorithm's default rule
    cell_size_m: float = 0.0
    density_units: int = 0  # an option of the algorithm's UNITS; the controller starts from its default
    hotspot_percentile: float = 95.0
    gistar_cell_m: float = 0.0  # 0: the algorithm's rule from the study area
    # Residents per ward: a field of the ward layer (population None) or a table joined on a ward code.
    population: QgsVectorLayer | None = None
    population_field: str = ""
    population_code_field: str = "ward_code"


def _layer_id(layer: QgsMapLayer | None) -> str | None:
    return None if layer is None else layer.id()


def hotspot_density_parameters(state: DockState) -> dict:
    """Parameters of crimemapping:hotspotdensity: the filtered crimes, within the wards when chosen."""
    params = {
        "INPUT": _layer_id(state.crimes),
        "UNITS": state.density_units,
        "HOTSPOT_RULE": 0,
        "HOTSPOT_THRESHOLD": state.hotspot_percentile,
    }
    if state.wards is not None:
        params["STUDY_AREA"] = state.wards.id()
    if state.bandwidth_m > 0:
        params["BANDWIDTH"] = state.bandwidth_m
    if state.cell_size_m > 0:
        params["CELL_SIZE"] = state.cell_size_m
    return params


def ward_rates_parameters(state: DockState) -> dict:
    """Parameters of crimemapping:wardrates: ward polygons, their residents and the filtered crimes."""
    params = {"WARDS": _layer_id(state.wards), "CRIMES": _layer_id(state.crimes)}
    # The subset string already filters the crimes; the months also name the period and count its months.
    if state.crime_filter.start_month:
        params["START_MONTH"] = state.crime_filter.start_month
    if state.crime_filter.end_month:
        params["END_MONTH"] = state.crime_filter.end_month
    if _population_is_ward_field(state):
        params["POPULATION_FIELD"] = state.population_field
    else:
        params["POPULATION_TABLE"] = state.population.id()
        params["POP_CODE_FIELD"] = state.population_code_field or "ward_code"
        params["POP_VALUE_FIELD"] = state.population_field or "population"
    return params


def _population_is_ward_field(state: DockState) -> bool:
    return state.population is None or (state.wards is not None and state.population.id() == state.wards.id())


def ward_rates_missing(state: DockState) -> str:
    """Return what the analyst must still choose before ward rates can run, or ''."""
    if state.wards is None:
        return "Choose a ward boundary layer before running 'Ward rates'."
    if _population_is_ward_field(state) and not state.population_field:
        return (
            "Choose the ward populations before running 'Ward rates': a population field of the ward layer, or a "
            "population table by ward code (Processing › Crime mapping › Ward populations from LSOA populations "
            "makes one from ONS LSOA populations)."
        )
    return ""


def nothing_missing(state: DockState) -> str:  # noqa: ARG001 - same signature as ward_rates_missing
    """Return '': the action needs only the crimes."""
    return ""


def gistar_parameters(state: DockState) -> dict:
    """Parameters of crimemapping:gistarhotspots: the filtered crimes on a square grid over the study area."""
    params = {"INPUT": _layer_id(state.crimes)}
    if state.gistar_cell_m > 0:
        params["CELL_SIZE"] = state.gistar_cell_m
    if state.wards is not None:
        params["STUDY_AREA"] = state.wards.id()
    return params


@dataclass(frozen=True)
class MapAction:
    """One map button: the algorithm it runs and how the dock fills in its parameters."""

    key: str
    label: str
    algorithm_id: str
    parameters: Callable[[DockState], dict]
    style_preset: str  # a key of the controller's style presets, applied to the output it fits
    missing: Callable[[DockState], str] = nothing_missing  # what the dock still lacks for it, in words


MAP_ACTIONS: tuple[MapAction, ...] = (
    MapAction("density", "Hotspot density", "crimemapping:hotspotdensity", hotspot_density_parameters, "density"),
    MapAction("gistar", "Gi* hotspots", "crimemapping:gistarhotspots", gistar_parameters, "gistar"),
    MapAction(
        "wardrates", "Ward rates", "crimemapping:wardrates", ward_rates_parameters, "ward_rates", ward_rates_missing
    ),
)


def action(key: str) -> MapAction:
    """Return the map action with this key."""
    for row in MAP_ACTIONS:
        if row.key == key:
            return row
    raise KeyError(key)


def registered_algorithm(row: MapAction) -> QgsProcessingAlgorithm | None:
    """Return the action's algorithm from the Processing registry, or None when it is not installed."""
    return QgsApplication.processingRegistry().algorithmById(row.algorithm_id)


def parameter_options(algorithm_id: str, name: str) -> list[str]:
    """Return the options of an algorithm's enum parameter as the algorithm defines them ([] if not registered)."""
    algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    definition = None if algorithm is None else algorithm.parameterDefinition(name)
    return [] if definition is None else list(definition.options())


def parameter_default(algorithm_id: str, name: str, fallback: object) -> object:
    """Return the default of an algorithm's parameter as the algorithm defines it (fallback if unknown)."""
    algorithm = QgsApplication.processingRegistry().algorithmById(algorithm_id)
    definition = None if algorithm is None else algorithm.parameterDefinition(name)
    value = None if definition is None else definition.defaultValue()
    return fallback if value is None else value


def unavailable_reason(row: MapAction) -> str:
    """Return why the action's button is disabled, or '' when its algorithm is registered."""
    if registered_algorithm(row) is not None:
        return ""
    return (
        f"'{row.label}' needs the Processing algorithm {row.algorithm_id}, which is not installed: "
        "update the Crime Mapping plugin, or check that its provider is enabled in Processing › Options."
    )
