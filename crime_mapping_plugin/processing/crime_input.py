"""Reading the crimes an area algorithm counts: crime points with their type and group choice, or a count table.

Ward rates and crime trends take the same inputs under the same parameter ids (CRIMES, CRIME_TYPES,
CRIME_GROUPS, COUNTS_TABLE, COUNTS_CODE_FIELD, COUNTS_FIELD, CATEGORY_FIELD, CATEGORY_VALUES, and the
population table POPULATION_TABLE, POP_CODE_FIELD, POP_VALUE_FIELD): one reader for both, so the same crimes
and residents are chosen, read and described the same way (docs/methods.md §0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np
from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsFeatureSource,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeatureSourceDefinition,
    QgsProcessingFeedback,
    QgsProviderRegistry,
    QgsWkbTypes,
)

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core import crime_points, crime_types, postgis, ward_counts
from crime_mapping_plugin.core.reproject import BulkTransformer
from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.core.ward_counts import CountTableError, population_by_code
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm


@dataclass
class PointInput:
    """Crime points read for counting: locations in the areas' CRS, months, and which crimes were chosen."""

    source: QgsFeatureSource
    table: crime_points.PointTable
    x: np.ndarray
    y: np.ndarray
    had_point: np.ndarray  # a location before reprojection (one that failed is NOT_REPROJECTED, not NO_GEOMETRY)
    chosen: np.ndarray  # of the crime types and groups asked for
    types: list[str]
    groups: list[str]
    notes: list[str] = field(default_factory=list)

    @property
    def choice(self) -> str:
        """Return the types and groups asked for, '' when all crimes count."""
        return "; ".join(t for t in (", ".join(self.types), ", ".join(self.groups)) if t)


@dataclass
class TableInput:
    """A table of crime counts by area code: its columns, the checked counts and the categories chosen."""

    source: QgsFeatureSource
    columns: dict
    code_field: str
    count_field: str
    category_field: str
    categories: set[str]
    counts: np.ndarray
    chosen: np.ndarray


@dataclass
class PopulationInput:
    """A population table joined to the areas: residents per area (None without a row) and what they are."""

    values: list
    basis: str  # for POPULATION_BASIS and the metadata: the table, its value field and its basis values
    unknown: list[str]  # codes of the table that are not among the areas


def is_null(value: object) -> bool:
    """True for None and a NULL QVariant."""
    return value is None or (hasattr(value, "isNull") and value.isNull())


def source_of(
    alg: CrimeMappingAlgorithm, parameters: dict, name: str, context: QgsProcessingContext
) -> QgsFeatureSource:
    """Return the feature source of a parameter, or stop with QGIS's own message."""
    source = alg.parameterAsSource(parameters, name, context)
    if source is None:
        raise QgsProcessingException(alg.invalidSourceError(parameters, name))
    return source


def input_name(alg: CrimeMappingAlgorithm, parameters: dict, name: str, context: QgsProcessingContext) -> str:
    """Return an input's name for the outputs: the layer's name (and its layer in a file), with its filter."""
    layer = alg.parameterAsVectorLayer(parameters, name, context)
    if layer is None:
        source = alg.parameterAsSource(parameters, name, context)
        label = source.sourceName() if source is not None else name
    else:
        label = layer.name()
        inner = QgsProviderRegistry.instance().decodeUri(layer.providerType(), layer.source()).get("layerName")
        if inner and inner != label:
            label = f"{label}|{inner}"
    narrowing = alg.input_filter(parameters, name, context)
    return f"'{label}'" + (f" ({narrowing})" if narrowing else "")


def boundaries_text(
    alg: CrimeMappingAlgorithm, parameters: dict, name: str, context: QgsProcessingContext, code_field: str, n: int
) -> str:
    """Say which boundary set the counts are on: the layer, its code field and how many areas."""
    return alg.tr("{} areas of {} (codes in {})").format(n, input_name(alg, parameters, name, context), code_field)


def estimate_note(alg: CrimeMappingAlgorithm, read: TableInput) -> str:
    """Say so when a count table is an estimate re-expressed from other boundaries (its field 'estimated')."""
    fields = read.source.fields()
    if fields.lookupField("estimated") < 0:
        return ""
    request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)
    request.setSubsetOfAttributes([read.code_field, "estimated"], fields)
    codes, estimated = set(), set()
    for f in read.source.getFeatures(request):
        codes.add(f[read.code_field])
        if f["estimated"] not in (None, 0, "0") and not is_null(f["estimated"]):
            estimated.add(f[read.code_field])
    return alg.tr(
        "The count table is an estimate re-expressed from other boundaries by residents (field estimated): {} of its "
        "{} area codes have counts shared out from old areas split between new ones, not counted."
    ).format(len(estimated), len(codes))


def require_fields(alg: CrimeMappingAlgorithm, source: QgsFeatureSource, label: str, names: Sequence[str]) -> None:
    """Stop, naming the layer's fields, when any of names (empty ones aside) is not a field of source."""
    fields = source.fields()
    missing = [n for n in names if n and fields.lookupField(n) < 0]
    if missing:
        raise QgsProcessingException(
            alg.tr("The {} has no field {}; its fields are: {}.").format(
                label, ", ".join(repr(m) for m in missing), ", ".join(fields.names())
            )
        )


def read_columns(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    name: str,
    source: QgsFeatureSource,
    columns: dict[str, str],
    geometry: bool,
    feedback: QgsProcessingFeedback,
) -> crime_points.PointTable:
    """Read columns (and points, each part of a multipoint one crime) in bulk where GDAL can."""
    try:
        return alg.read_input(source, parameters, name, context, feedback, columns, geometry=geometry, explode=geometry)
    except InterruptedError as err:
        raise QgsProcessingException(alg.tr("Cancelled; nothing was written.")) from err


def chosen_types(
    alg: CrimeMappingAlgorithm, parameters: dict, context: QgsProcessingContext
) -> tuple[list[str], list[str]]:
    """Return the crime types and groups chosen (CRIME_TYPES, CRIME_GROUPS); empty lists when all count."""
    types = [crime_types.ALL_TYPES[i] for i in alg.selected_enums(parameters, "CRIME_TYPES", context)]
    groups = [crime_types.GROUPS[i] for i in alg.selected_enums(parameters, "CRIME_GROUPS", context)]
    return types, groups


@dataclass
class DatabaseInput:
    """Crimes counted into the areas by the database: one record per crime with its area, and the choice."""

    points: ward_counts.AssignedPoints
    types: list[str]
    groups: list[str]
    notes: list[str] = field(default_factory=list)
    how: str = postgis.IN_DATABASE

    @property
    def choice(self) -> str:
        """Return the types and groups asked for, '' when all crimes count."""
        return "; ".join(t for t in (", ".join(self.types), ", ".join(self.groups)) if t)


def _narrowed(value: object) -> bool:
    """True when an input is a selection, a feature limit or a filter expression of its layer."""
    if not isinstance(value, QgsProcessingFeatureSourceDefinition):
        return False
    return value.selectedFeaturesOnly or value.featureLimit != -1 or bool(getattr(value, "filterExpression", ""))


def count_in_database(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    crimes: QgsFeatureSource,
    areas_name: str,
    areas: area_rule.Areas,
    code_field: str | None,
    month_field: str | None,
) -> DatabaseInput | None:
    """Count the CRIMES into the areas by one query when both are PostGIS layers of one database, else None.

    The areas must be the rows the plugin read (the layer's subset string only) in the crimes' CRS, with a
    code field (the rule's order). None, with the reason in the log, sends the caller to its own counting.
    """
    crimes_layer = alg._input_layer(parameters, "CRIMES", context)
    areas_layer = alg._input_layer(parameters, areas_name, context)
    if crimes_layer is None or areas_layer is None:
        return None
    if crimes_layer.providerType() != "postgres" or areas_layer.providerType() != "postgres":
        return None
    types, groups = chosen_types(alg, parameters, context)
    require_fields(
        alg, crimes, alg.tr("crime points"), (["crime_type"] if types else []) + (["crime_group"] if groups else [])
    )
    why = ""
    if not code_field:
        why = alg.tr("the areas have no code field, so the areas' order is the plugin's (by centroid)")
    elif crimes_layer.crs() != areas_layer.crs():
        why = alg.tr("the crimes and the areas are in different CRS")
    elif _narrowed(parameters.get(areas_name)):
        why = alg.tr("the areas are narrowed by more than their layer's filter")
    elif areas_layer.isModified():
        why = alg.tr("the areas have unsaved edits")
    crimes_pg = None if why else alg.bulk_input(parameters, "CRIMES", context, feedback)
    if not why and not isinstance(crimes_pg, postgis.PgSource):
        why = alg.tr("the crimes cannot be read by one query")
    result = None
    if not why:
        try:
            areas_pg = postgis.pg_source(areas_layer)
            if QgsWkbTypes.flatType(crimes_layer.wkbType()) != QgsWkbTypes.Point:
                # Each part of a multipoint is one crime: the plugin's reading explodes them.
                raise postgis.BulkReadUnavailableError("the crimes are not a point layer")
            feedback.setProgressText(alg.tr("Counting crimes into areas in the database"))
            counted = postgis.count_in_database(
                crimes_pg,
                areas_pg,
                code_field,
                month_field,
                "crime_type" if types else None,
                "crime_group" if groups else None,
                feedback.isCanceled,
            )
            result = postgis.assigned_points(counted, areas.codes, types, groups, month_field is not None)
        except postgis.BulkReadUnavailableError as err:
            why = str(err)
        except InterruptedError as err:
            raise QgsProcessingException(alg.tr("Cancelled; nothing was written.")) from err
    if result is None:
        feedback.pushInfo(alg.tr("Crimes counted into areas by the plugin, not in the database: {}.").format(why))
        return None
    feedback.pushInfo(
        alg.tr("Crime points read {} (PostGIS at {}): {}.").format(
            postgis.IN_DATABASE, crimes_pg.server, len(result.owner)
        )
    )
    return DatabaseInput(result, types, groups)


def read_points(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    source: QgsFeatureSource,
    month_field: str | None,
    crs: QgsCoordinateReferenceSystem,
) -> PointInput:
    """Read the CRIMES source with the types and groups chosen (CRIME_TYPES, CRIME_GROUPS) and months, in crs."""
    types, groups = chosen_types(alg, parameters, context)
    wanted = (["crime_type"] if types else []) + (["crime_group"] if groups else [])
    require_fields(alg, source, alg.tr("crime points"), wanted)
    feedback.setProgressText(alg.tr("Reading crime points"))
    columns = {c: crime_points.TEXT for c in wanted}
    if month_field:
        columns[month_field] = crime_points.MONTH
    table = read_columns(alg, parameters, context, "CRIMES", source, columns, True, feedback)
    notes = []
    if table.multipart:
        notes.append(
            alg.tr("{} multipoint feature(s) gave {} crime points: each part is one crime.").format(
                table.multipart, table.multipart_points or "their"
            )
        )
    chosen = np.ones(len(table.x), dtype=bool)
    if types:
        chosen &= ward_counts.matching(table.columns["crime_type"], set(types))
    if groups:
        chosen &= ward_counts.matching(table.columns["crime_group"], set(groups))
    x, y = table.x, table.y
    had_point = np.isfinite(x) & np.isfinite(y)
    if source.sourceCrs() != crs and len(x):
        x, y = BulkTransformer(QgsCoordinateTransform(source.sourceCrs(), crs, context.transformContext()))(x, y)
    return PointInput(source, table, x, y, had_point, chosen, types, groups, notes)


def read_count_table(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    source: QgsFeatureSource,
    month_field: str | None,
) -> TableInput:
    """Read the COUNTS_TABLE source: codes, counts (whole numbers ≥ 0, or stop naming the row), categories, months."""
    code_field = alg.parameterAsString(parameters, "COUNTS_CODE_FIELD", context) or "ward_code"
    count_field = alg.parameterAsString(parameters, "COUNTS_FIELD", context) or "count"
    category_field = alg.parameterAsString(parameters, "CATEGORY_FIELD", context)
    text = alg.parameterAsString(parameters, "CATEGORY_VALUES", context)
    categories = {v.strip() for v in text.split(",") if v.strip()}
    if categories and not category_field:
        raise QgsProcessingException(
            alg.tr("Categories to keep were given without a category field: choose the field.")
        )
    require_fields(alg, source, alg.tr("count table"), [code_field, count_field, category_field])
    columns = {c: crime_points.AUTO for c in (code_field, count_field, category_field) if c}
    if month_field:
        columns[month_field] = crime_points.MONTH
    table = read_columns(alg, parameters, context, "COUNTS_TABLE", source, columns, False, feedback).columns
    try:
        counts = ward_counts.table_counts(table[count_field], count_field)
    except CountTableError as err:
        raise QgsProcessingException(str(err)) from err
    chosen = ward_counts.matching(table[category_field], categories) if categories else np.ones(len(counts), dtype=bool)
    return TableInput(source, table, code_field, count_field, category_field, categories, counts, chosen)


def read_population_table(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    codes: list[str],
    noun: str = "ward",
) -> PopulationInput:
    """Join the POPULATION_TABLE (POP_CODE_FIELD, POP_VALUE_FIELD) to the area codes; stop on a repeated code."""
    source = source_of(alg, parameters, "POPULATION_TABLE", context)
    code_field = alg.parameterAsString(parameters, "POP_CODE_FIELD", context) or "ward_code"
    value_field = alg.parameterAsString(parameters, "POP_VALUE_FIELD", context) or "population"
    require_fields(alg, source, alg.tr("population table"), (code_field, value_field))
    # 'Ward populations from LSOA populations' writes what its figures are (population, vintage, lookup).
    basis_field = "basis" if source.fields().lookupField("basis") >= 0 else ""
    table_codes, values, bases = [], [], set()
    request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)
    request.setSubsetOfAttributes([f for f in (code_field, value_field, basis_field) if f], source.fields())
    for f in source.getFeatures(request):
        table_codes.append(None if is_null(f[code_field]) else str(f[code_field]))
        values.append(None if is_null(f[value_field]) else f[value_field])
        if basis_field and not is_null(f[basis_field]):
            bases.add(str(f[basis_field]))
    name = input_name(alg, parameters, "POPULATION_TABLE", context)
    basis = alg.tr("table {} ({}){}").format(name, value_field, ": " + " | ".join(sorted(bases)) if bases else "")
    population, unknown, duplicated = population_by_code(table_codes, values, codes)
    if duplicated:
        raise QgsProcessingException(
            alg.tr("The population table has {} codes on more than one row in '{}': {}. Give one row per {}.").format(
                noun, code_field, short_list(duplicated), noun
            )
        )
    return PopulationInput(population, basis, unknown)


def reasons_text(counts: ward_counts.WardCounts) -> str:
    """Return the crimes left out, reason by reason ('none' when none were)."""
    left = counts.left_out
    return ", ".join(f"{reason} {left[reason]}" for reason in ward_counts.REASONS if left[reason]) or "none"
