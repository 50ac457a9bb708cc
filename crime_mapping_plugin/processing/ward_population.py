"""Processing algorithm crimemapping:wardpopulation: ward populations from LSOA populations and a lookup."""

from __future__ import annotations

from qgis.core import (
    QgsFeatureRequest,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.core.ward_population import WardPopulation, ward_population
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput

OUTPUT_FIELDS = (("ward_code", "string"), ("ward_name", "string"), ("population", "double"), ("lsoas", "integer"))


def _value(v: object) -> object:
    return None if v is None or (isinstance(v, QVariant) and v.isNull()) else v


class WardPopulationAlgorithm(CrimeMappingAlgorithm):
    """Sum LSOA residents into wards with a best-fit lookup, reporting every LSOA left out."""

    LSOA_POPULATION = "LSOA_POPULATION"
    LSOA_CODE_FIELD = "LSOA_CODE_FIELD"
    POPULATION_FIELD = "POPULATION_FIELD"
    LOOKUP = "LOOKUP"
    LOOKUP_LSOA_FIELD = "LOOKUP_LSOA_FIELD"
    LOOKUP_WARD_FIELD = "LOOKUP_WARD_FIELD"
    LOOKUP_WARD_NAME_FIELD = "LOOKUP_WARD_NAME_FIELD"
    OUTPUT = "OUTPUT"
    WARDS = "WARDS"
    LSOAS_ASSIGNED = "LSOAS_ASSIGNED"
    POPULATION_ASSIGNED = "POPULATION_ASSIGNED"
    LSOAS_NOT_IN_LOOKUP = "LSOAS_NOT_IN_LOOKUP"
    POPULATION_NOT_IN_LOOKUP = "POPULATION_NOT_IN_LOOKUP"
    LSOAS_BAD_POPULATION = "LSOAS_BAD_POPULATION"
    LOOKUP_WITHOUT_POPULATION = "LOOKUP_WITHOUT_POPULATION"
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
        "lookup giving one LSOA two wards, or an LSOA listed twice in the population table, is refused."
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
            self.LOOKUP, self.tr("LSOA to ward lookup table"), [QgsProcessing.TypeVector]
        )
        lookup.setHelp(
            self.tr("A best-fit lookup with one row per LSOA, e.g. ONS LSOA21 to WD24 (filter to your area).")
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
        out = QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Ward populations"), QgsProcessing.TypeVector)
        out.setHelp(self.tr("Table: ward_code, ward_name, population (persons), lsoas (number of LSOAs added)."))
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
            ),
            texts=[(self.REPORT, "Report")],
        )

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
        lsoa, ward, name = self._columns(
            parameters,
            context,
            self.LOOKUP,
            [self.LOOKUP_LSOA_FIELD, self.LOOKUP_WARD_FIELD, self.LOOKUP_WARD_NAME_FIELD],
            self.tr("lookup table"),
        )
        try:
            result = ward_population(codes, pops, lsoa, ward, name)
        except ValueError as err:
            raise QgsProcessingException(str(err)) from err
        output = TableOutput(self, parameters, self.OUTPUT, context, OUTPUT_FIELDS, None)
        try:
            output.add(
                {
                    "ward_code": result.codes,
                    "ward_name": result.names,
                    "population": result.population,
                    "lsoas": result.lsoas,
                }
            )
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Cancelled; no output was written."))
            dest_id = output.commit()
        except BaseException:
            output.abort()
            raise
        lines = self._report(len(codes), result)
        for line in lines:
            feedback.pushInfo(line)
        describe_layer(
            context,
            dest_id,
            title="Ward populations from LSOA populations",
            abstract="Residents by ward: LSOA populations summed through an LSOA-to-ward best-fit lookup. "
            + " ".join(lines),
            keywords=["population", "ward", "lsoa"],
        )
        return {
            self.OUTPUT: dest_id,
            self.WARDS: len(result.codes),
            self.LSOAS_ASSIGNED: result.assigned_lsoas,
            self.POPULATION_ASSIGNED: result.assigned_population,
            self.LSOAS_NOT_IN_LOOKUP: len(result.not_in_lookup),
            self.POPULATION_NOT_IN_LOOKUP: result.not_in_lookup_population,
            self.LSOAS_BAD_POPULATION: len(result.bad_population),
            self.LOOKUP_WITHOUT_POPULATION: len(result.lookup_without_population),
            self.REPORT: "\n".join(lines),
        }

    def _report(self, rows: int, result: WardPopulation) -> list[str]:
        """Return the log lines: what was assigned, and every LSOA left out, by reason."""
        lines = [
            self.tr(
                "{} LSOA rows read: {} assigned to {} wards ({:,.0f} residents); {} not in the lookup "
                "({:,.0f} residents); {} without a usable population."
            ).format(
                rows,
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
