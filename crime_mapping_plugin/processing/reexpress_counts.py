"""Processing algorithm crimemapping:reexpresscounts: a count table on old area codes, estimated on other boundaries.

Counts by area code (the MPS ward table, on 2022 wards) cannot be recounted on other boundaries: their crimes
have no location. They can only be shared out by where the old area's residents live: LSOA populations give
each old area's residents in each new area (both by best-fit lookups, or the new one by location), and each
count goes to the new areas in those shares (core.ward_population.crosswalk, reexpress). The output says it is
an estimate, area by area (docs/methods.md §1.6).
"""

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

from crime_mapping_plugin.core import crime_points, ward_counts
from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.core.ward_counts import CountTableError
from crime_mapping_plugin.core.ward_population import (
    NO_RESIDENTS,
    NOT_IN_LOOKUP,
    OUTSIDE_NEW_AREAS,
    Crosswalk,
    Reexpressed,
    best_fit_lookup,
    crosswalk,
    reexpress,
)
from crime_mapping_plugin.processing import crime_input
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.crime_input import input_name
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput, plain_value, spec_of
from crime_mapping_plugin.processing.ward_population import location_lookup

DEFAULT_KEEP = ("month", "major_category", "minor_category")  # the crimes' own fields in the MPS import
CROSSWALK_FIELDS = (("old_code", "string"), ("new_code", "string"), ("population", "double"), ("share", "double"))


class ReexpressCountsAlgorithm(CrimeMappingAlgorithm):
    """Share counts on old area codes among other areas by where the old areas' residents live (an estimate)."""

    COUNTS_TABLE = "COUNTS_TABLE"
    COUNTS_CODE_FIELD = "COUNTS_CODE_FIELD"
    COUNTS_FIELD = "COUNTS_FIELD"
    KEEP_FIELDS = "KEEP_FIELDS"
    LSOA_POPULATION = "LSOA_POPULATION"
    LSOA_CODE_FIELD = "LSOA_CODE_FIELD"
    POPULATION_FIELD = "POPULATION_FIELD"
    OLD_LOOKUP = "OLD_LOOKUP"
    OLD_LOOKUP_LSOA_FIELD = "OLD_LOOKUP_LSOA_FIELD"
    OLD_LOOKUP_AREA_FIELD = "OLD_LOOKUP_AREA_FIELD"
    NEW_LOOKUP = "NEW_LOOKUP"
    NEW_LOOKUP_LSOA_FIELD = "NEW_LOOKUP_LSOA_FIELD"
    NEW_LOOKUP_AREA_FIELD = "NEW_LOOKUP_AREA_FIELD"
    NEW_AREAS = "NEW_AREAS"
    NEW_AREA_CODE_FIELD = "NEW_AREA_CODE_FIELD"
    NEW_AREA_NAME_FIELD = "NEW_AREA_NAME_FIELD"
    LSOAS = "LSOAS"
    LSOAS_CODE_FIELD = "LSOAS_CODE_FIELD"
    OUTPUT = "OUTPUT"
    CROSSWALK = "CROSSWALK"

    ROWS_READ = "ROWS_READ"
    CRIMES_READ = "CRIMES_READ"
    CRIMES_WRITTEN = "CRIMES_WRITTEN"
    CRIMES_NOT_IN_LOOKUP = "CRIMES_NOT_IN_LOOKUP"
    CRIMES_NO_RESIDENTS = "CRIMES_NO_RESIDENTS"
    CRIMES_OUTSIDE_NEW_AREAS = "CRIMES_OUTSIDE_NEW_AREAS"
    OLD_AREAS_SPLIT = "OLD_AREAS_SPLIT"
    ESTIMATED_AREAS = "ESTIMATED_AREAS"
    BASIS = "BASIS"
    REPORT = "REPORT"

    NAME = "reexpresscounts"
    DISPLAY_NAME = "Re-express area counts on other boundaries (estimate)"
    GROUP_ID = "statistics"
    GROUP = "Statistics"
    TAGS = ("boundary", "ward", "lookup", "crosswalk", "apportion", "population", "mps", "estimate", "lsoa")
    HELP = (
        "Puts a table of crime counts by old area code (e.g. the MPS ward table on 2022 wards) onto other "
        "boundaries (e.g. the 2014 or 2018 wards). Such counts have no location, so they cannot be recounted: "
        "each is shared among the new areas by where the old area's residents live. That is an "
        "<b>estimate</b>; crime points, which can be counted on any boundaries, give exact counts.<br>"
        "<b>Crosswalk</b>: LSOA populations go to the old areas by a best-fit lookup (e.g. ONS LSOA21 to WD24) and "
        "to the new areas by another lookup or, without one, by location (each LSOA to the new area holding its "
        "point on surface). An old area's share in a new area is the residents of its LSOAs there over all its "
        "residents. Population, lookups and LSOA polygons must be of one LSOA vintage ('Ward populations from "
        "LSOA populations' can carry a population across).<br>"
        "<b>Counts</b>: each row's count c goes to its old area's new areas as c × share, made whole numbers by "
        "the largest remainder (the parts with the largest fractions get one crime more; a tie goes to the lower "
        "new code), so each row's crimes are all written, none twice. Rows are kept apart by the fields kept "
        "(month, categories) and summed per new area. Rows of an old code not in the lookup, or of an old area "
        "without residents, and the share of an old area whose residents live outside every new area, are left "
        "out and counted.<br>"
        "<b>Output</b>: ward_code (the new area), the kept fields, count (whole), count_share (the unrounded "
        "share), pop_share_moved (the share of the new area's residents that come from old areas split between "
        "new areas: 0 means its count is exact, the sum of whole old areas) and estimated (1 when "
        "pop_share_moved > 0). It is a table of counts by ward code for 'Ward crime rates' and 'Crime trends'. "
        "The optional crosswalk table gives each old area's share in each new area."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        table = QgsProcessingParameterFeatureSource(
            self.COUNTS_TABLE, self.tr("Table of crime counts by old area code"), [QgsProcessing.TypeVector]
        )
        table.setHelp(self.tr("e.g. from 'Import MPS ward-level crime counts': one count per row, by area code."))
        self.addParameter(table)
        self._fields(
            self.COUNTS_TABLE,
            (
                (self.COUNTS_CODE_FIELD, "Old area code field", "ward_code", "The old area's code, as in the lookup."),
                (self.COUNTS_FIELD, "Count field", "count", "Number of crimes in the row (a whole number ≥ 0)."),
            ),
        )
        keep = QgsProcessingParameterField(
            self.KEEP_FIELDS,
            self.tr("Fields kept (month, categories)"),
            None,
            self.COUNTS_TABLE,
            allowMultiple=True,
            optional=True,
        )
        keep.setHelp(
            self.tr(
                "Fields of the crimes, not of the old area, copied to the output (its rows are per new area and "
                "these values). Empty: those of {} the table has. Leave out the old area's name or borough."
            ).format(", ".join(DEFAULT_KEEP))
        )
        self.addParameter(keep)
        pop = QgsProcessingParameterFeatureSource(
            self.LSOA_POPULATION, self.tr("LSOA population table"), [QgsProcessing.TypeVector]
        )
        pop.setHelp(self.tr("One row per LSOA with its residents (persons), e.g. Census 2021 TS007A."))
        self.addParameter(pop)
        self._fields(
            self.LSOA_POPULATION,
            (
                (self.LSOA_CODE_FIELD, "LSOA code field", "LSOA21CD", "LSOA code (e.g. E01000001)."),
                (self.POPULATION_FIELD, "Population field", "population", "Residents (persons)."),
            ),
        )
        old = QgsProcessingParameterFeatureSource(
            self.OLD_LOOKUP, self.tr("Lookup: LSOA to old area"), [QgsProcessing.TypeVector]
        )
        old.setHelp(self.tr("A best-fit lookup to the count table's areas, e.g. ONS LSOA21 to WD24 for the MPS table."))
        self.addParameter(old)
        self._fields(
            self.OLD_LOOKUP,
            (
                (self.OLD_LOOKUP_LSOA_FIELD, "Old lookup: LSOA code field", "LSOA21CD", "LSOA code."),
                (self.OLD_LOOKUP_AREA_FIELD, "Old lookup: area code field", "WD24CD", "Old area code."),
            ),
        )
        new = QgsProcessingParameterFeatureSource(
            self.NEW_LOOKUP,
            self.tr("Lookup: LSOA to new area (or new area and LSOA polygons below)"),
            [QgsProcessing.TypeVector],
            optional=True,
        )
        new.setHelp(self.tr("A best-fit lookup to the new areas; without it, the new areas' and LSOAs' polygons."))
        self.addParameter(new)
        self._fields(
            self.NEW_LOOKUP,
            (
                (self.NEW_LOOKUP_LSOA_FIELD, "New lookup: LSOA code field", "LSOA21CD", "LSOA code."),
                (self.NEW_LOOKUP_AREA_FIELD, "New lookup: area code field", None, "New area code."),
            ),
        )
        areas = QgsProcessingParameterFeatureSource(
            self.NEW_AREAS,
            self.tr("Or: new area polygons (best fit by location)"),
            [QgsProcessing.TypeVectorPolygon],
            optional=True,
        )
        areas.setHelp(self.tr("The boundaries to re-express the counts on, e.g. the 2014 wards. Any CRS."))
        self.addParameter(areas)
        self._fields(
            self.NEW_AREAS,
            (
                (self.NEW_AREA_CODE_FIELD, "New area code field", None, "Unique code; written as ward_code."),
                (self.NEW_AREA_NAME_FIELD, "New area name field", None, "Not used in the counts; optional."),
            ),
        )
        lsoas = QgsProcessingParameterFeatureSource(
            self.LSOAS,
            self.tr("LSOA polygons or points (best fit by location)"),
            [QgsProcessing.TypeVectorPolygon, QgsProcessing.TypeVectorPoint],
            optional=True,
        )
        lsoas.setHelp(
            self.tr("LSOAs of the population's vintage: polygons (point on surface placed) or points. Any CRS.")
        )
        self.addParameter(lsoas)
        self._fields(
            self.LSOAS,
            ((self.LSOAS_CODE_FIELD, "LSOA code field of the LSOA layer", "LSOA21CD", "LSOA code."),),
        )
        out = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Counts on the new areas (estimate)"), QgsProcessing.TypeVector
        )
        out.setHelp(
            self.tr(
                "Table: ward_code, the kept fields, count (whole crimes), count_share (unrounded), pop_share_moved "
                "(0 to 1) and estimated (0 or 1)."
            )
        )
        self.addParameter(out)
        walk = QgsProcessingParameterFeatureSink(
            self.CROSSWALK, self.tr("Crosswalk"), QgsProcessing.TypeVector, optional=True, createByDefault=False
        )
        walk.setHelp(self.tr("Table: old_code, new_code, population (persons) they share, share (0 to 1)."))
        self.addParameter(walk)
        self.add_outputs(
            numbers=(
                (self.ROWS_READ, "Rows read"),
                (self.CRIMES_READ, "Crimes read"),
                (self.CRIMES_WRITTEN, "Crimes written on the new areas"),
                (self.CRIMES_NOT_IN_LOOKUP, "Crimes of old codes not in the old lookup"),
                (self.CRIMES_NO_RESIDENTS, "Crimes of old areas without residents"),
                (self.CRIMES_OUTSIDE_NEW_AREAS, "Crimes of the parts of old areas outside every new area"),
                (self.OLD_AREAS_SPLIT, "Old areas split between new areas"),
                (self.ESTIMATED_AREAS, "New areas with an estimated count"),
            ),
            texts=[(self.BASIS, "Crosswalk: population and lookups used"), (self.REPORT, "Report")],
        )

    def _fields(self, parent: str, fields: tuple) -> None:
        for name, label, default, help_text in fields:
            param = QgsProcessingParameterField(name, self.tr(label), default, parent, optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        given = {n: parameters.get(n) not in (None, "") for n in (self.NEW_LOOKUP, self.NEW_AREAS, self.LSOAS)}
        if given[self.NEW_LOOKUP] == (given[self.NEW_AREAS] or given[self.LSOAS]):
            return False, self.tr(
                "Give the lookup to the new areas, or the new area polygons and the LSOA polygons (one of the two)."
            )
        if not given[self.NEW_LOOKUP] and not (given[self.NEW_AREAS] and given[self.LSOAS]):
            return False, self.tr("A best fit by location needs both the new area polygons and the LSOA polygons.")
        if given[self.NEW_LOOKUP] and not self.parameterAsString(parameters, self.NEW_LOOKUP_AREA_FIELD, context):
            return False, self.tr("Choose the area code field of the lookup to the new areas.")
        if given[self.NEW_AREAS] and not self.parameterAsString(parameters, self.NEW_AREA_CODE_FIELD, context):
            return False, self.tr("Choose the code field of the new area polygons.")
        return True, ""

    def _name(self, parameters: dict, name: str, context: QgsProcessingContext) -> str:
        return self.parameterAsString(parameters, name, context) or self.parameterDefinition(name).defaultValue() or ""

    def _columns(self, parameters: dict, context: QgsProcessingContext, source_name: str, fields: list[str]) -> list:
        source = crime_input.source_of(self, parameters, source_name, context)
        names = [self._name(parameters, f, context) for f in fields]
        crime_input.require_fields(self, source, self.parameterDefinition(source_name).description(), names)
        request = (
            QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry).setSubsetOfAttributes(names, source.fields())
        )
        cols: list[list] = [[] for _ in names]
        for f in source.getFeatures(request):
            for i, n in enumerate(names):
                cols[i].append(plain_value(f[n]))
        return cols

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        walk, basis, lines, known_old = self._crosswalk(parameters, context, feedback)
        source = crime_input.source_of(self, parameters, self.COUNTS_TABLE, context)
        code_field = self._name(parameters, self.COUNTS_CODE_FIELD, context)
        count_field = self._name(parameters, self.COUNTS_FIELD, context)
        keep = self.parameterAsFields(parameters, self.KEEP_FIELDS, context)
        if not keep:
            keep = [f for f in DEFAULT_KEEP if source.fields().lookupField(f) >= 0]
        crime_input.require_fields(self, source, self.tr("count table"), [code_field, count_field, *keep])
        if code_field in keep or count_field in keep:
            raise QgsProcessingException(self.tr("The fields kept cannot include the code or the count field."))
        columns = {c: crime_points.AUTO for c in dict.fromkeys([code_field, count_field, *keep])}
        feedback.setProgressText(self.tr("Reading the count table"))
        table = crime_input.read_columns(
            self, parameters, context, self.COUNTS_TABLE, source, columns, False, feedback
        ).columns
        try:
            counts = ward_counts.table_counts(table[count_field], count_field)
        except CountTableError as err:
            raise QgsProcessingException(str(err)) from err
        keys = {k: [plain_value(v) for v in table[k]] for k in keep}
        result = reexpress(table[code_field], counts, keys, walk, known_old)
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; no output was written."))
        lines += self._report(result, walk)
        basis_text = "; ".join(basis) + "."
        spec = [("ward_code", "string")]
        spec += [s for s in spec_of(source.fields()) if s[0] in keep]
        spec += [
            ("count", "integer64"),
            ("count_share", "double"),
            ("pop_share_moved", "double"),
            ("estimated", "integer"),
        ]
        abstract = self.tr(
            "ESTIMATE: counts of '{}' by old area shared among new areas by where each old area's residents live. {} {}"
        ).format(source.sourceName(), basis_text, " ".join(lines))
        frame = result.table
        outputs = {}
        walk_out = None
        if parameters.get(self.CROSSWALK) not in (None, ""):
            walk_out = TableOutput(self, parameters, self.CROSSWALK, context, CROSSWALK_FIELDS, None, basis_text)
        output = TableOutput(self, parameters, self.OUTPUT, context, spec, None, abstract)
        try:
            output.add({name: frame[name].tolist() for name, _ in spec})
            if walk_out is not None:
                walk_out.add(
                    {
                        "old_code": walk.old,
                        "new_code": [n or None for n in walk.new],
                        "population": walk.population,
                        "share": walk.share,
                    }
                )
                outputs[self.CROSSWALK] = walk_out.commit()
            dest_id = output.commit()
        except BaseException:
            output.abort()
            if walk_out is not None:
                walk_out.abort()
            raise
        feedback.pushInfo(basis_text)
        for line in lines:
            feedback.pushInfo(line)
        describe_layer(
            context,
            dest_id,
            title=self.tr("Crime counts re-expressed on {} (estimate)").format(self._new_areas(parameters, context)),
            abstract=abstract,
            keywords=["crime", "estimate", "crosswalk", "boundary"],
        )
        estimated = int(frame.drop_duplicates("ward_code")["estimated"].sum())
        outputs.update(
            {
                self.OUTPUT: dest_id,
                self.ROWS_READ: result.rows_read,
                self.CRIMES_READ: result.crimes_read,
                self.CRIMES_WRITTEN: result.crimes_written,
                self.CRIMES_NOT_IN_LOOKUP: result.left_out_crimes[NOT_IN_LOOKUP],
                self.CRIMES_NO_RESIDENTS: result.left_out_crimes[NO_RESIDENTS],
                self.CRIMES_OUTSIDE_NEW_AREAS: result.left_out_crimes[OUTSIDE_NEW_AREAS],
                self.OLD_AREAS_SPLIT: len(walk.split),
                self.ESTIMATED_AREAS: estimated,
                self.BASIS: basis_text,
                self.REPORT: "\n".join([basis_text, *lines]),
            }
        )
        return outputs

    def _new_areas(self, parameters: dict, context: QgsProcessingContext) -> str:
        """Name the new boundaries: the area polygons, or the lookup to them."""
        if parameters.get(self.NEW_LOOKUP) not in (None, ""):
            return input_name(self, parameters, self.NEW_LOOKUP, context)
        return input_name(self, parameters, self.NEW_AREAS, context)

    def _crosswalk(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> tuple[Crosswalk, list[str], list[str], set[str]]:
        """Build the population-weighted crosswalk from the LSOA populations and the two best fits."""
        codes, pops = self._columns(
            parameters, context, self.LSOA_POPULATION, [self.LSOA_CODE_FIELD, self.POPULATION_FIELD]
        )
        old_lsoa, old_area = self._columns(
            parameters, context, self.OLD_LOOKUP, [self.OLD_LOOKUP_LSOA_FIELD, self.OLD_LOOKUP_AREA_FIELD]
        )
        lines: list[str] = []
        basis = [
            self.tr("Residents of {} ({}) in the old areas by the lookup {} ({})").format(
                input_name(self, parameters, self.LSOA_POPULATION, context),
                self._name(parameters, self.LSOA_CODE_FIELD, context),
                input_name(self, parameters, self.OLD_LOOKUP, context),
                self._name(parameters, self.OLD_LOOKUP_AREA_FIELD, context),
            )
        ]
        try:
            old_of, _ = best_fit_lookup(old_lsoa, old_area, what="old area")
            if parameters.get(self.NEW_LOOKUP) not in (None, ""):
                new_lsoa, new_area = self._columns(
                    parameters, context, self.NEW_LOOKUP, [self.NEW_LOOKUP_LSOA_FIELD, self.NEW_LOOKUP_AREA_FIELD]
                )
                new_of, _ = best_fit_lookup(new_lsoa, new_area, what="new area")
                basis.append(
                    self.tr("in the new areas by the lookup {} ({})").format(
                        input_name(self, parameters, self.NEW_LOOKUP, context),
                        self._name(parameters, self.NEW_LOOKUP_AREA_FIELD, context),
                    )
                )
            else:
                found = location_lookup(
                    self,
                    parameters,
                    context,
                    feedback,
                    self.NEW_AREAS,
                    self.NEW_AREA_CODE_FIELD,
                    self.NEW_AREA_NAME_FIELD,
                    self.LSOAS,
                    self.LSOAS_CODE_FIELD,
                )
                new_of = dict(zip(found.lsoa, found.area))
                basis.append(self.tr("in the new areas {}").format(found.basis))
                lines += found.lines
            walk = crosswalk(codes, pops, old_of, new_of)
        except ValueError as err:
            raise QgsProcessingException(str(err)) from err
        return walk, basis, lines, set(old_of.values())

    def _report(self, result: Reexpressed, walk: Crosswalk) -> list[str]:
        """Return the log lines: crimes read, written and left out by reason; what the crosswalk did."""
        lines = [
            self.tr(
                "ESTIMATE. {} rows with {} crimes read: {} written on {} new areas; {} of old codes not in the "
                "lookup, {} of old areas without residents, {} in the parts of old areas outside every new area."
            ).format(
                result.rows_read,
                result.crimes_read,
                result.crimes_written,
                result.table["ward_code"].nunique(),
                result.left_out_crimes[NOT_IN_LOOKUP],
                result.left_out_crimes[NO_RESIDENTS],
                result.left_out_crimes[OUTSIDE_NEW_AREAS],
            ),
            self.tr(
                "{} of {} old areas are split between new areas (their counts divided by residents); {:,.0f} "
                "residents in the crosswalk."
            ).format(len(walk.split), len(walk.old_population), float(walk.population.sum())),
        ]
        for reason in (NOT_IN_LOOKUP, NO_RESIDENTS, OUTSIDE_NEW_AREAS):
            if result.left_out[reason]:
                lines.append(self.tr("{}: {}").format(reason, short_list(result.left_out[reason])))
        if walk.no_old_area:
            lines.append(
                self.tr("{} LSOA(s) with {:,.0f} residents are in no old area: {}").format(
                    len(walk.no_old_area), walk.unplaced_population, short_list(walk.no_old_area)
                )
            )
        if walk.no_new_area:
            lines.append(
                self.tr("{} LSOA(s) of old areas with {:,.0f} residents are in no new area: {}").format(
                    len(walk.no_new_area), walk.outside_population, short_list(walk.no_new_area)
                )
            )
        if walk.bad_population:
            lines.append(self.tr("LSOAs without a usable population: {}").format(short_list(walk.bad_population)))
        return lines
