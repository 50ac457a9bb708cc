"""Processing algorithm crimemapping:wardpopulation: area populations from LSOA populations, by lookup or location."""

from __future__ import annotations

from dataclasses import dataclass

from qgis.core import (
    QgsFeatureRequest,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.core.ward_population import (
    VintageConversion,
    WardPopulation,
    convert_vintage,
    lookup_by_location,
    ward_population,
)
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.crime_input import input_name, source_of
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput

OUTPUT_FIELDS = (
    ("ward_code", "string"),
    ("ward_name", "string"),
    ("population", "double"),
    ("lsoas", "integer"),
    ("basis", "string"),
)


def _value(v: object) -> object:
    return None if v is None or (isinstance(v, QVariant) and v.isNull()) else v


@dataclass
class FoundLookup:
    """A best-fit lookup built by location, and what to say about it."""

    lsoa: list[str]
    area: list[str]
    names: list | None
    outside: int
    basis: str
    lines: list[str]


def location_lookup(
    alg: CrimeMappingAlgorithm,
    parameters: dict,
    context: QgsProcessingContext,
    feedback: QgsProcessingFeedback,
    areas_name: str,
    code_name: str,
    name_name: str,
    lsoas_name: str,
    lsoa_code_name: str,
) -> FoundLookup:
    """Build a best-fit lookup by location: each LSOA to the area holding its point on surface (or its point)."""
    source = source_of(alg, parameters, areas_name, context)
    code_field = alg.parameterAsString(parameters, code_name, context)
    if not code_field:
        raise QgsProcessingException(alg.tr("Choose the code field of the area polygons."))
    name_field = alg.parameterAsString(parameters, name_name, context)
    lsoa_source = source_of(alg, parameters, lsoas_name, context)
    lsoa_field = (
        alg.parameterAsString(parameters, lsoa_code_name, context)
        or alg.parameterDefinition(lsoa_code_name).defaultValue()
    )
    if lsoa_source.fields().lookupField(lsoa_field) < 0:
        raise QgsProcessingException(
            alg.tr("The LSOA layer has no field '{}'; its fields are: {}.").format(
                lsoa_field, ", ".join(lsoa_source.fields().names())
            )
        )
    try:
        areas = area_rule.read_areas(
            source, None, None, code_field, [name_field] if name_field else [], "area", feedback.isCanceled
        )
    except area_rule.AreaInputError as err:
        raise QgsProcessingException(str(err)) from err
    except InterruptedError as err:
        raise QgsProcessingException(alg.tr("Cancelled; no output was written.")) from err
    request = QgsFeatureRequest().setSubsetOfAttributes([lsoa_field], lsoa_source.fields())
    request.setDestinationCrs(source.sourceCrs(), context.transformContext())
    codes, geoms = [], []
    for f in lsoa_source.getFeatures(request):
        codes.append(_value(f[lsoa_field]))
        geoms.append(QgsGeometry(f.geometry()))
    try:
        placed = lookup_by_location(codes, geoms, areas, feedback.isCanceled)
    except InterruptedError as err:
        raise QgsProcessingException(alg.tr("Cancelled; no output was written.")) from err
    points = QgsWkbTypes.geometryType(lsoa_source.wkbType()) == QgsWkbTypes.PointGeometry
    basis = alg.tr("placed by location in {} ({}, {} areas): each LSOA of {} ({}) in the area holding its {}").format(
        input_name(alg, parameters, areas_name, context),
        code_field,
        len(areas),
        input_name(alg, parameters, lsoas_name, context),
        lsoa_field,
        alg.tr("point (population-weighted centroid)") if points else alg.tr("point on surface"),
    )
    lines = []
    if placed.by_overlap:
        lines.append(
            alg.tr("{} LSOA(s) have their point in no area and went to the area they overlap most: {}").format(
                len(placed.by_overlap), short_list(placed.by_overlap)
            )
        )
    if placed.outside:
        lines.append(
            alg.tr("{} LSOA(s) lie in no area polygon: {}").format(len(placed.outside), short_list(placed.outside))
        )
    if placed.no_geometry:
        lines.append(
            alg.tr("{} LSOA(s) have no geometry: {}").format(len(placed.no_geometry), short_list(placed.no_geometry))
        )
    index = {c: i for i, c in enumerate(areas.codes)}
    names = areas.attributes.get(name_field) if name_field else None
    area_names = [names[index[a]] for a in placed.area] if names is not None else None
    return FoundLookup(placed.lsoa, placed.area, area_names, len(placed.outside), basis, lines)


class WardPopulationAlgorithm(CrimeMappingAlgorithm):
    """Sum LSOA residents into wards with a best-fit lookup, reporting every LSOA left out."""

    LSOA_POPULATION = "LSOA_POPULATION"
    LSOA_CODE_FIELD = "LSOA_CODE_FIELD"
    POPULATION_FIELD = "POPULATION_FIELD"
    LOOKUP = "LOOKUP"
    LOOKUP_LSOA_FIELD = "LOOKUP_LSOA_FIELD"
    LOOKUP_WARD_FIELD = "LOOKUP_WARD_FIELD"
    LOOKUP_WARD_NAME_FIELD = "LOOKUP_WARD_NAME_FIELD"
    AREAS = "AREAS"
    AREA_CODE_FIELD = "AREA_CODE_FIELD"
    AREA_NAME_FIELD = "AREA_NAME_FIELD"
    LSOAS = "LSOAS"
    LSOAS_CODE_FIELD = "LSOAS_CODE_FIELD"
    VINTAGE_LOOKUP = "VINTAGE_LOOKUP"
    VINTAGE_FIRST_FIELD = "VINTAGE_FIRST_FIELD"
    VINTAGE_SECOND_FIELD = "VINTAGE_SECOND_FIELD"
    VINTAGE_CHANGE_FIELD = "VINTAGE_CHANGE_FIELD"
    POPULATION_LABEL = "POPULATION_LABEL"
    OUTPUT = "OUTPUT"
    WARDS = "WARDS"
    LSOAS_ASSIGNED = "LSOAS_ASSIGNED"
    POPULATION_ASSIGNED = "POPULATION_ASSIGNED"
    LSOAS_NOT_IN_LOOKUP = "LSOAS_NOT_IN_LOOKUP"
    POPULATION_NOT_IN_LOOKUP = "POPULATION_NOT_IN_LOOKUP"
    LSOAS_BAD_POPULATION = "LSOAS_BAD_POPULATION"
    LOOKUP_WITHOUT_POPULATION = "LOOKUP_WITHOUT_POPULATION"
    LSOAS_OUTSIDE_AREAS = "LSOAS_OUTSIDE_AREAS"
    POPULATION_DIVIDED = "POPULATION_DIVIDED"
    BASIS = "BASIS"
    REPORT = "REPORT"

    NAME = "wardpopulation"
    DISPLAY_NAME = "Ward populations from LSOA populations"
    GROUP_ID = "statistics"
    GROUP = "Statistics"
    TAGS = ("population", "ward", "lsoa", "lookup", "census", "ons", "rate", "denominator")
    HELP = (
        "Builds a table of residents by ward from residents by LSOA and an LSOA-to-ward best-fit lookup "
        "(ONS publishes both: e.g. Census 2021 TS007A 'Age: Total' and 'LSOA (2021) to Electoral Ward (2024) Best "
        "Fit Lookup'). Use it as the population table of 'Ward crime rates with confidence intervals'.<br>"
        "A best-fit lookup puts each LSOA wholly in the ward that holds most of its residents, so ward totals "
        "are approximations where LSOAs straddle ward boundaries.<br>"
        "Every LSOA of the population table is added to one ward or counted and listed: not in the lookup, or "
        "population missing, not a number or negative. Lookup LSOAs without a population are listed too. A "
        "lookup giving one LSOA two wards, or an LSOA listed twice in the population table, is refused.<br>"
        "<b>Other boundaries</b> (2014 or 2018 wards, your own polygons): without a lookup, give the area polygons "
        "and the LSOA polygons (or points: ONS population-weighted centroids). Each LSOA then goes wholly to the "
        "area holding its point on surface (a polygon's point always inside it; a centroid may fall outside), or "
        "its own point, by the rule that places a crime in a ward (boundary inside, lowest area code first): a "
        "stated best fit by location, as ONS builds its best-fit lookups. LSOAs in no area are counted and "
        "listed.<br>"
        "<b>Other LSOA vintage</b>: populations on 2011 LSOAs (e.g. mid-2019 estimates) are carried to 2021 LSOAs, "
        "or back, by the ONS LSOA 2011 to 2021 exact-fit lookup: unchanged and merged (M) LSOAs exactly; an LSOA "
        "split (S) or changed irregularly (X) gives its residents in equal parts to the LSOAs it became. No resident "
        "is lost or counted twice; the residents divided so are reported.<br>"
        "The table's field basis, the output BASIS and the layer's description say which population, vintage, "
        "lookup and boundaries were used; 'Ward crime rates' repeats it."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        pop = QgsProcessingParameterFeatureSource(
            self.LSOA_POPULATION, self.tr("LSOA population table"), [QgsProcessing.TypeVector]
        )
        pop.setHelp(self.tr("One row per LSOA with its residents (persons), e.g. a CSV of Census 2021 TS007A."))
        self.addParameter(pop)
        for name, label, default, parent, help_text in (
            (self.LSOA_CODE_FIELD, "LSOA code field", "LSOA21CD", self.LSOA_POPULATION, "LSOA code (e.g. E01000001)."),
            (self.POPULATION_FIELD, "Population field", "population", self.LSOA_POPULATION, "Residents (persons)."),
        ):
            # Optional with a default: QGIS 3.22 rejects a missing value of a required field despite its default.
            param = QgsProcessingParameterField(name, self.tr(label), default, parent, optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        lookup = QgsProcessingParameterFeatureSource(
            self.LOOKUP,
            self.tr("LSOA to ward lookup table (or area and LSOA polygons below)"),
            [QgsProcessing.TypeVector],
            optional=True,
        )
        lookup.setHelp(
            self.tr(
                "A best-fit lookup with one row per LSOA, e.g. ONS LSOA21 to WD24 (filter to your area). Without "
                "it, give area polygons and LSOA polygons: a best fit by location."
            )
        )
        self.addParameter(lookup)
        for name, label, default, _optional, help_text in (
            (
                self.LOOKUP_LSOA_FIELD,
                "Lookup: LSOA code field",
                "LSOA21CD",
                False,
                "LSOA code, as in the population table.",
            ),
            (self.LOOKUP_WARD_FIELD, "Lookup: ward code field", "WD24CD", False, "Ward code, as in the ward polygons."),
            (self.LOOKUP_WARD_NAME_FIELD, "Lookup: ward name field", "WD24NM", True, "Ward name, copied for reading."),
        ):
            param = QgsProcessingParameterField(name, self.tr(label), default, self.LOOKUP, optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        self._add_location_parameters()
        self._add_vintage_parameters()
        label = QgsProcessingParameterString(
            self.POPULATION_LABEL, self.tr("What the population is (for the outputs)"), optional=True
        )
        label.setHelp(
            self.tr("e.g. 'Census 2021 usual residents' or 'ONS mid-2019 estimates'; written into the basis (text).")
        )
        self.addParameter(label)
        out = QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Ward populations"), QgsProcessing.TypeVector)
        out.setHelp(
            self.tr(
                "Table: ward_code, ward_name, population (persons), lsoas (number of LSOAs added), basis (which "
                "population, vintage, lookup or location rule)."
            )
        )
        self.addParameter(out)
        self.add_outputs(
            numbers=(
                (self.WARDS, "Wards"),
                (self.LSOAS_ASSIGNED, "LSOAs assigned to a ward"),
                (self.POPULATION_ASSIGNED, "Residents assigned to a ward"),
                (self.LSOAS_NOT_IN_LOOKUP, "LSOAs not in the lookup"),
                (self.POPULATION_NOT_IN_LOOKUP, "Residents of LSOAs not in the lookup"),
                (self.LSOAS_BAD_POPULATION, "LSOAs without a usable population"),
                (self.LOOKUP_WITHOUT_POPULATION, "Lookup LSOAs without a population row"),
                (self.LSOAS_OUTSIDE_AREAS, "LSOAs in no area polygon (best fit by location)"),
                (self.POPULATION_DIVIDED, "Residents of LSOAs divided between LSOAs of the other vintage"),
            ),
            texts=[(self.BASIS, "Population, vintage and lookup used"), (self.REPORT, "Report")],
        )

    def _add_location_parameters(self) -> None:
        areas = QgsProcessingParameterFeatureSource(
            self.AREAS,
            self.tr("Or: area polygons (best fit by location)"),
            [QgsProcessing.TypeVectorPolygon],
            optional=True,
        )
        areas.setHelp(
            self.tr(
                "The boundaries to give populations to (e.g. London Datastore 2014 or 2018 wards), instead of a "
                "lookup; each LSOA goes to the one holding its point on surface. Any CRS."
            )
        )
        self.addParameter(areas)
        for name, label, help_text in (
            (
                self.AREA_CODE_FIELD,
                "Area code field",
                "Unique code of each area (e.g. GSS_Code); written as ward_code.",
            ),
            (self.AREA_NAME_FIELD, "Area name field", "Copied as ward_name for reading; optional."),
        ):
            param = QgsProcessingParameterField(name, self.tr(label), None, self.AREAS, optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        lsoas = QgsProcessingParameterFeatureSource(
            self.LSOAS,
            self.tr("LSOA polygons or points (best fit by location)"),
            [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint],
            optional=True,
        )
        lsoas.setHelp(
            self.tr(
                "The LSOAs of the population table's vintage: polygons (their point on surface is placed) or points "
                "(e.g. ONS population-weighted centroids, placed as they are). Any CRS."
            )
        )
        self.addParameter(lsoas)
        code = QgsProcessingParameterField(
            self.LSOAS_CODE_FIELD, self.tr("LSOA code field of the LSOA layer"), "LSOA21CD", self.LSOAS, optional=True
        )
        code.setHelp(self.tr("LSOA code, as in the population table (e.g. LSOA21CD or LSOA11CD)."))
        self.addParameter(code)

    def _add_vintage_parameters(self) -> None:
        vintage = QgsProcessingParameterFeatureSource(
            self.VINTAGE_LOOKUP,
            self.tr("LSOA 2011 to 2021 exact-fit lookup (populations on the other vintage)"),
            [QgsProcessing.TypeVector],
            optional=True,
        )
        vintage.setHelp(
            self.tr(
                "ONS 'LSOA (2011) to LSOA (2021) Exact Fit Lookup', when the populations are on one LSOA vintage "
                "and the lookup or LSOA polygons on the other; the direction is found from the codes."
            )
        )
        self.addParameter(vintage)
        for name, label, default, help_text in (
            (self.VINTAGE_FIRST_FIELD, "Exact-fit lookup: 2011 LSOA code field", "LSOA11CD", "LSOA code, 2011."),
            (self.VINTAGE_SECOND_FIELD, "Exact-fit lookup: 2021 LSOA code field", "LSOA21CD", "LSOA code, 2021."),
            (
                self.VINTAGE_CHANGE_FIELD,
                "Exact-fit lookup: change code field",
                "CHGIND",
                "U unchanged, S split, M merged, X irregular; counted in the report (the rows decide the division).",
            ),
        ):
            param = QgsProcessingParameterField(name, self.tr(label), default, self.VINTAGE_LOOKUP, optional=True)
            param.setHelp(self.tr(help_text))
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(param)

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        given = {n: parameters.get(n) not in (None, "") for n in (self.LOOKUP, self.AREAS, self.LSOAS)}
        if given[self.LOOKUP] and (given[self.AREAS] or given[self.LSOAS]):
            return False, self.tr("Give a lookup table, or area polygons and LSOA polygons, not both.")
        if not given[self.LOOKUP] and not (given[self.AREAS] and given[self.LSOAS]):
            return False, self.tr(
                "Give an LSOA-to-ward lookup table, or both the area polygons and the LSOA polygons (a best fit "
                "by location)."
            )
        if given[self.AREAS] and not self.parameterAsString(parameters, self.AREA_CODE_FIELD, context):
            return False, self.tr("Choose the code field of the area polygons.")
        return True, ""

    def _columns(
        self, parameters: dict, context: QgsProcessingContext, source_name: str, field_names: list[str], label: str
    ) -> list[list]:
        source = self.parameterAsSource(parameters, source_name, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, source_name))
        names = [
            self.parameterAsString(parameters, f, context) or self.parameterDefinition(f).defaultValue() or ""
            for f in field_names
        ]
        missing = [n for n in names if n and source.fields().lookupField(n) < 0]
        if missing:
            raise QgsProcessingException(
                self.tr("The {} has no field {}; its fields are: {}.").format(
                    label, ", ".join(map(repr, missing)), ", ".join(source.fields().names())
                )
            )
        used = [n for n in names if n]
        request = (
            QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setSubsetOfAttributes(used, source.fields())
        )
        cols: list[list] = [[] for _ in names]
        for f in source.getFeatures(request):
            for i, n in enumerate(names):
                cols[i].append(_value(f[n]) if n else None)
        return cols

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        codes, pops = self._columns(
            parameters,
            context,
            self.LSOA_POPULATION,
            [self.LSOA_CODE_FIELD, self.POPULATION_FIELD],
            "LSOA population table",
        )
        rows = len(codes)
        population_source = input_name(self, parameters, self.LSOA_POPULATION, context)
        code_field = self._field(parameters, self.LSOA_CODE_FIELD, context)
        label = self.parameterAsString(parameters, self.POPULATION_LABEL, context).strip()
        basis = [
            self.tr("Residents{} of {} ({}, {} rows)").format(
                f" ({label})" if label else "", population_source, code_field, rows
            )
        ]
        lines: list[str] = []
        conversion = None
        try:
            if parameters.get(self.VINTAGE_LOOKUP) not in (None, ""):
                conversion = self._convert(parameters, context, codes, pops, basis, lines)
                codes, pops = conversion.codes, conversion.population
            outside = 0
            if parameters.get(self.LOOKUP) not in (None, ""):
                lsoa, ward, name = self._columns(
                    parameters,
                    context,
                    self.LOOKUP,
                    [self.LOOKUP_LSOA_FIELD, self.LOOKUP_WARD_FIELD, self.LOOKUP_WARD_NAME_FIELD],
                    self.tr("lookup table"),
                )
                basis.append(
                    self.tr("summed by the best-fit lookup {} ({} to {})").format(
                        input_name(self, parameters, self.LOOKUP, context),
                        self._field(parameters, self.LOOKUP_LSOA_FIELD, context),
                        self._field(parameters, self.LOOKUP_WARD_FIELD, context),
                    )
                )
            else:
                lsoa, ward, name, outside = self._by_location(parameters, context, feedback, basis, lines)
            result = ward_population(codes, pops, lsoa, ward, name)
        except ValueError as err:
            raise QgsProcessingException(str(err)) from err
        basis_text = "; ".join(basis) + "."
        lines = self._report(rows, result, conversion) + lines
        output = TableOutput(self, parameters, self.OUTPUT, context, OUTPUT_FIELDS, None, basis_text)
        try:
            output.add(
                {
                    "ward_code": result.codes,
                    "ward_name": result.names,
                    "population": result.population,
                    "lsoas": result.lsoas,
                    "basis": [basis_text] * len(result.codes),
                }
            )
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Cancelled; no output was written."))
            dest_id = output.commit()
        except BaseException:
            output.abort()
            raise
        feedback.pushInfo(basis_text)
        for line in lines:
            feedback.pushInfo(line)
        describe_layer(
            context,
            dest_id,
            title="Ward populations from LSOA populations",
            abstract=basis_text + " " + " ".join(lines),
            keywords=["population", "ward", "lsoa"],
        )
        not_placed = conversion.not_in_lookup if conversion else []
        return {
            self.OUTPUT: dest_id,
            self.WARDS: len(result.codes),
            self.LSOAS_ASSIGNED: result.assigned_lsoas,
            self.POPULATION_ASSIGNED: result.assigned_population,
            self.LSOAS_NOT_IN_LOOKUP: len(result.not_in_lookup) + len(not_placed),
            self.POPULATION_NOT_IN_LOOKUP: result.not_in_lookup_population
            + (conversion.not_in_lookup_population if conversion else 0.0),
            self.LSOAS_BAD_POPULATION: len(result.bad_population)
            + (len(conversion.bad_population) if conversion else 0),
            self.LOOKUP_WITHOUT_POPULATION: len(result.lookup_without_population),
            self.LSOAS_OUTSIDE_AREAS: outside,
            self.POPULATION_DIVIDED: conversion.divided_population if conversion else 0.0,
            self.BASIS: basis_text,
            self.REPORT: "\n".join([basis_text, *lines]),
        }

    def _field(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        return self.parameterAsString(parameters, name, context) or self.parameterDefinition(name).defaultValue() or ""

    def _convert(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        codes: list,
        pops: list,
        basis: list[str],
        lines: list[str],
    ) -> VintageConversion:
        """Carry the populations to the other LSOA vintage through the exact-fit lookup, saying how."""
        fields = [self.VINTAGE_FIRST_FIELD, self.VINTAGE_SECOND_FIELD, self.VINTAGE_CHANGE_FIELD]
        first, second, change = self._columns(
            parameters, context, self.VINTAGE_LOOKUP, fields, self.tr("exact-fit lookup")
        )
        conversion = convert_vintage(codes, pops, first, second, change)
        names = [self._field(parameters, f, context) for f in fields[:2]]
        source, target = names[conversion.source_field], names[1 - conversion.source_field]
        basis.append(
            self.tr(
                "carried from {} to {} LSOAs by the exact-fit lookup {} (split and irregular LSOAs in equal parts)"
            ).format(source, target, input_name(self, parameters, self.VINTAGE_LOOKUP, context))
        )
        changes = ", ".join(f"{k} {v}" for k, v in sorted(conversion.by_change.items()))
        lines.append(
            self.tr(
                "Vintage: {} LSOAs ({}) became {} {} LSOAs; {} LSOA(s) with {:,.0f} residents were divided in equal "
                "parts; {} LSOA(s) ({:,.0f} residents) are not in the exact-fit lookup."
            ).format(
                sum(conversion.by_change.values()),
                changes or "-",
                len(conversion.codes),
                target,
                len(conversion.divided),
                conversion.divided_population,
                len(conversion.not_in_lookup),
                conversion.not_in_lookup_population,
            )
        )
        if conversion.not_in_lookup:
            lines.append(self.tr("LSOAs not in the exact-fit lookup: {}").format(short_list(conversion.not_in_lookup)))
        if conversion.bad_population:
            lines.append(self.tr("LSOAs without a usable population: {}").format(short_list(conversion.bad_population)))
        return conversion

    def _by_location(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        basis: list[str],
        lines: list[str],
    ) -> tuple[list, list, list | None, int]:
        names = (self.AREAS, self.AREA_CODE_FIELD, self.AREA_NAME_FIELD, self.LSOAS, self.LSOAS_CODE_FIELD)
        found = location_lookup(self, parameters, context, feedback, *names)
        basis.append(found.basis)
        lines += found.lines
        return found.lsoa, found.area, found.names, found.outside

    def _report(self, rows: int, result: WardPopulation, conversion: VintageConversion | None = None) -> list[str]:
        """Return the log lines: what was assigned, and every LSOA left out, by reason."""
        lines = [
            self.tr(
                "{} LSOA rows read{}: {} assigned to {} wards ({:,.0f} residents); {} not in the lookup "
                "({:,.0f} residents); {} without a usable population."
            ).format(
                rows,
                self.tr(", {} LSOAs after the change of vintage").format(len(conversion.codes)) if conversion else "",
                result.assigned_lsoas,
                len(result.codes),
                result.assigned_population,
                len(result.not_in_lookup),
                result.not_in_lookup_population,
                len(result.bad_population),
            ),
        ]
        if result.not_in_lookup:
            lines.append(self.tr("LSOAs not in the lookup: {}").format(short_list(result.not_in_lookup)))
        if result.bad_population:
            lines.append(self.tr("LSOAs without a usable population: {}").format(short_list(result.bad_population)))
        if result.lookup_without_population:
            lines.append(
                self.tr("{} lookup LSOAs have no population row: {}").format(
                    len(result.lookup_without_population), short_list(result.lookup_without_population)
                )
            )
        return lines
