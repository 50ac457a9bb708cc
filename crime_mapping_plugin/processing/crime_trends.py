"""Processing algorithm crimemapping:crimetrends: is crime changing here, more than chance, against parent and all?"""

from __future__ import annotations

import os
import re

import numpy as np
from qgis.core import (
    QgsFeature,
    QgsFeatureSink,
    QgsFeatureSource,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core import crime_points, crime_types, rates, trends, ward_counts
from crime_mapping_plugin.core.months import MonthError, MonthRange, analysis_period, month_parameter, ranges_text
from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.core.ward_counts import MonthlyCounts
from crime_mapping_plugin.processing import crime_input
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput, qgs_fields
from crime_mapping_plugin.processing.trend_chart import draw_chart, draw_small_multiples
from crime_mapping_plugin.processing.trend_style import trends_style

CHART_LABELS = ("XmR chart of monthly counts", "XmR chart of monthly rates", "Laney u′ chart of monthly rates")
MAX_AUTO_CHARTS = 48
PARAMETER_HELP = {
    "CRIMES": "Crime points with a month, e.g. from 'Import police.uk street crime'; any CRS (reprojected).",
    "COUNTS_TABLE": "A table of counts by area code and month, e.g. the MPS ward-level import (rows are summed).",
    "COUNTS_CODE_FIELD": "The area code of each row, joined to the area code field of the areas.",
    "COUNTS_FIELD": "Number of crimes in the row (a whole number).",
    "CATEGORY_FIELD": "A category to filter the table on, e.g. major_category; empty for none.",
    "CATEGORY_VALUES": "Values of the category field to keep, e.g. 'Burglary, Robbery'; empty keeps all.",
    "CRIME_TYPES": "police.uk crime types to count (field crime_type); none selected counts all.",
    "CRIME_GROUPS": "Harmonised groups to count (field crime_group); none selected counts all.",
    "MONTH_FIELD": "The month of each crime or row: a date, or text YYYY-MM, YYYY-MM-DD or YYYYMM.",
    "START_MONTH": "Inclusive; empty: from the first month in the data.",
    "END_MONTH": "Inclusive; empty: to the last month in the data.",
    "AREAS": "Wards, boroughs, one polygon for London or your own polygons; the output keeps their CRS.",
    "AREA_CODE_FIELD": "A unique code per area (decides the boundary rule); without one areas are numbered.",
    "AREA_NAME_FIELD": "Copied to the output and the chart titles; optional.",
    "PARENT_FIELD": "The code of the area's parent, e.g. the borough (LAD) of a ward: its rolling change is added.",
    "POPULATION_FIELD": "Residents per area (persons), for charts of rates; optional for counts. Give this or a "
    "population table.",
    "POPULATION_TABLE": "A table of residents (persons) by area code, e.g. from 'Ward populations from LSOA "
    "populations'.",
    "POP_CODE_FIELD": "Joined to the area code.",
    "POP_VALUE_FIELD": "Residents (persons).",
    "CHART": "XmR of counts (default); XmR of rates or Laney's u' chart need a population field or table.",
    "BASELINE": "The mean and limits come from the first N months; 0 takes every month.",
    "SCREEN": "Drop moving ranges of 3.267 x the average moving range or more, then recompute it.",
    "MULTIPLIER": "Rates are crimes per this many residents per month.",
    "PARTIAL_AS_MISSING": "Leave partial months out of every statistic (flagged either way); off keeps them in.",
    "CHART_AREAS": "Codes of areas to chart; with neither this nor a parent: all areas and those with a signal.",
    "CHART_PARENT": "A parent code: chart the parent and every area in it (e.g. a borough's wards).",
    "OUTPUT": "The areas with the latest month's signal, its rule and the rolling changes, styled by signal.",
    "TABLE": "One row per area (then parent, then all areas) and month.",
    "CHARTS_FOLDER": "A folder for one chart PNG per charted area.",
    "SMALL_MULTIPLES": "One PNG with a small chart per charted area.",
}


class CrimeTrendsAlgorithm(CrimeMappingAlgorithm):
    """Per area and month: coverage, rolling 12 against the previous 12, and SPC signals, mapped and charted."""

    CRIMES = "CRIMES"
    COUNTS_TABLE = "COUNTS_TABLE"
    COUNTS_CODE_FIELD = "COUNTS_CODE_FIELD"
    COUNTS_FIELD = "COUNTS_FIELD"
    CATEGORY_FIELD = "CATEGORY_FIELD"
    CATEGORY_VALUES = "CATEGORY_VALUES"
    CRIME_TYPES = "CRIME_TYPES"
    CRIME_GROUPS = "CRIME_GROUPS"
    MONTH_FIELD = "MONTH_FIELD"
    START_MONTH = "START_MONTH"
    END_MONTH = "END_MONTH"
    AREAS = "AREAS"
    AREA_CODE_FIELD = "AREA_CODE_FIELD"
    AREA_NAME_FIELD = "AREA_NAME_FIELD"
    PARENT_FIELD = "PARENT_FIELD"
    POPULATION_FIELD = "POPULATION_FIELD"
    POPULATION_TABLE = "POPULATION_TABLE"
    POP_CODE_FIELD = "POP_CODE_FIELD"
    POP_VALUE_FIELD = "POP_VALUE_FIELD"
    CHART = "CHART"
    BASELINE = "BASELINE"
    SCREEN = "SCREEN"
    MULTIPLIER = "MULTIPLIER"
    PARTIAL_AS_MISSING = "PARTIAL_AS_MISSING"
    CHART_AREAS = "CHART_AREAS"
    CHART_PARENT = "CHART_PARENT"
    OUTPUT = "OUTPUT"
    TABLE = "TABLE"
    CHARTS_FOLDER = "CHARTS_FOLDER"
    SMALL_MULTIPLES = "SMALL_MULTIPLES"

    CRIMES_READ = "CRIMES_READ"
    CRIMES_COUNTED = "CRIMES_COUNTED"
    OUTSIDE_AREAS = "OUTSIDE_AREAS"
    NO_LOCATION = "NO_LOCATION"
    NO_MONTH_CRIMES = "NO_MONTH_CRIMES"
    LEFT_OUT_MONTHS = "LEFT_OUT_MONTHS"
    LEFT_OUT_TYPES = "LEFT_OUT_TYPES"
    UNMATCHED_CRIMES = "UNMATCHED_CRIMES"
    UNMATCHED_CODES = "UNMATCHED_CODES"
    PERIOD = "PERIOD"
    MONTHS = "MONTHS"
    MISSING_MONTHS = "MISSING_MONTHS"
    PARTIAL_MONTHS = "PARTIAL_MONTHS"
    SERIES_BREAKS = "SERIES_BREAKS"
    CONCERN = "CONCERN"
    IMPROVEMENT = "IMPROVEMENT"
    COMMON_CAUSE = "COMMON_CAUSE"
    NOT_ENOUGH_DATA = "NOT_ENOUGH_DATA"
    CHARTS_WRITTEN = "CHARTS_WRITTEN"
    BOUNDARIES = "BOUNDARIES"
    POPULATION_BASIS = "POPULATION_BASIS"
    REPORT = "REPORT"

    NAME = "crimetrends"
    DISPLAY_NAME = "Crime trends and signals (rolling 12 months, SPC)"
    GROUP_ID = "statistics"
    GROUP = "Statistics"
    TAGS = ("crime", "trend", "spc", "xmr", "control chart", "making data count", "rolling", "e-test", "laney")
    HELP = (
        "Is crime changing here, more than chance would explain, compared with the parent area and all areas? "
        "For any areas (wards, boroughs, one polygon for London, your own polygons) from crime points or a "
        "table of counts by area code and month (e.g. 'Import MPS ward-level crime counts').<br>"
        "<b>Coverage first</b>: the period runs from the first to the last month of the input (or the months "
        "given); a month with no record at all is missing, never zero; a month where all areas together fall "
        "below 20 % of the median of the 12 months before is partial (a cut file); police.uk's series breaks "
        "(2011-05, 2013-05) are listed. Every figure over a window with a missing or partial month says so.<br>"
        "<b>Rolling 12 months against the previous 12</b> per area, for its parent (the areas sharing a parent "
        "code) and for all areas together: the change in % and the two-sided Poisson E-test p-value.<br>"
        "<b>Statistical process control</b> (NHS England 'Making Data Count'): mean of the baseline (all months, "
        "or the first N), average moving range screened for moving ranges ≥ 3.267 × AMR, process limits "
        "mean ± 2.66 × AMR; special cause when a month is outside the limits, 7 months in a row on one side of "
        "the mean, 7 months all rising or all falling, or 2 of 3 beyond two thirds of the way to a limit on one "
        "side; more crime is concern, less is improvement. Fewer than 12 months with data: not enough data. "
        "With a population (a field of the areas, or a table joined on the area code such as 'Ward populations "
        "from LSOA populations' makes for any boundary set; not both): XmR of rates, or Laney's u′ chart; codes "
        "of the table not among the areas and areas without a population are listed. The outputs BOUNDARIES and "
        "POPULATION_BASIS say which areas and population were used; a count table re-expressed from other "
        "boundaries is said to be an estimate (docs/methods.md §1.5, §1.6).<br>"
        "<b>Outputs</b>: the areas with the latest month's signal and the rolling changes, styled by signal; a "
        "long table (area, month, count, rate, mean, limits, the rule that fired, the rolling figures; the "
        "parents and all areas too); optionally one chart PNG per chosen area in a folder and small multiples "
        "in one PNG. Every crime read is counted or left out under a reason (no month, outside the months, "
        "type not selected, no location, outside every area, code matching no area)."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        self._add_source_parameters()
        self._add_area_parameters()
        self._add_method_parameters()
        self._add_outputs()
        for param in self.parameterDefinitions():
            param.setHelp(self.tr(PARAMETER_HELP[param.name()]))

    def _add_source_parameters(self) -> None:
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.CRIMES, self.tr("Crime points"), [QgsProcessing.TypeVectorPoint], optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.COUNTS_TABLE,
                self.tr("Or: table of crime counts by area code and month"),
                [QgsProcessing.TypeVector],
                optional=True,
            )
        )
        for name, label, default in (
            (self.COUNTS_CODE_FIELD, "Area code field of the count table", "ward_code"),
            (self.COUNTS_FIELD, "Count field of the count table", "count"),
            (self.CATEGORY_FIELD, "Category field of the count table", None),
        ):
            self.addParameter(
                QgsProcessingParameterField(name, self.tr(label), default, self.COUNTS_TABLE, optional=True)
            )
        self.addParameter(
            QgsProcessingParameterString(
                self.CATEGORY_VALUES, self.tr("Categories to keep (comma-separated)"), optional=True
            )
        )
        for name, label, options in (
            (self.CRIME_TYPES, "Crime types (points)", crime_types.ALL_TYPES),
            (self.CRIME_GROUPS, "Harmonised crime groups (points)", crime_types.GROUPS),
        ):
            self.addParameter(
                QgsProcessingParameterEnum(
                    name, self.tr(label), options=list(options), allowMultiple=True, optional=True
                )
            )
        month_field = QgsProcessingParameterString(self.MONTH_FIELD, self.tr("Month field"), "month", optional=True)
        month_field.setFlags(month_field.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(month_field)
        for name, label in ((self.START_MONTH, "First month (YYYY-MM)"), (self.END_MONTH, "Last month (YYYY-MM)")):
            param = QgsProcessingParameterString(name, self.tr(label), optional=True)
            param.setHelp(self.tr("Inclusive; empty: from (to) the first (last) month in the data."))
            self.addParameter(param)

    def _add_area_parameters(self) -> None:
        self.addParameter(
            QgsProcessingParameterFeatureSource(self.AREAS, self.tr("Areas"), [QgsProcessing.TypeVectorPolygon])
        )
        for name, label, numeric in (
            (self.AREA_CODE_FIELD, "Area code field (needed with a count table)", False),
            (self.AREA_NAME_FIELD, "Area name field", False),
            (self.PARENT_FIELD, "Parent code field (e.g. the borough of a ward)", False),
            (self.POPULATION_FIELD, "Population field (for rates)", True),
        ):
            kind = QgsProcessingParameterField.Numeric if numeric else QgsProcessingParameterField.Any
            self.addParameter(QgsProcessingParameterField(name, self.tr(label), None, self.AREAS, kind, optional=True))
        # As ward rates: the population of any boundary set as a table ('Ward populations from LSOA populations').
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.POPULATION_TABLE, self.tr("Or: population table"), [QgsProcessing.TypeVector], optional=True
            )
        )
        for name, label, default in (
            (self.POP_CODE_FIELD, "Area code field of the population table", "ward_code"),
            (self.POP_VALUE_FIELD, "Population field of the population table", "population"),
        ):
            self.addParameter(
                QgsProcessingParameterField(name, self.tr(label), default, self.POPULATION_TABLE, optional=True)
            )

    def _add_method_parameters(self) -> None:
        self.addParameter(
            QgsProcessingParameterEnum(
                self.CHART, self.tr("Chart"), options=[self.tr(c) for c in CHART_LABELS], defaultValue=0
            )
        )
        baseline = QgsProcessingParameterNumber(
            self.BASELINE,
            self.tr("Baseline: first N months (0: all months)"),
            QgsProcessingParameterNumber.Integer,
            0,
            minValue=0,
        )
        self.addParameter(baseline)
        self.addParameter(QgsProcessingParameterBoolean(self.SCREEN, self.tr("Screen large moving ranges"), True))
        advanced = [
            QgsProcessingParameterNumber(
                self.MULTIPLIER,
                self.tr("Rate per (residents)"),
                QgsProcessingParameterNumber.Double,
                1000.0,
                minValue=1.0,
            ),
            QgsProcessingParameterBoolean(
                self.PARTIAL_AS_MISSING, self.tr("Leave partial months out (as missing)"), True
            ),
        ]
        for param in advanced:
            param.setFlags(param.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
            self.addParameter(param)
        self.addParameter(
            QgsProcessingParameterString(
                self.CHART_AREAS, self.tr("Areas to chart (codes, comma-separated)"), optional=True
            )
        )
        self.addParameter(
            QgsProcessingParameterString(
                self.CHART_PARENT, self.tr("Or chart every area of this parent code"), optional=True
            )
        )

    def _add_outputs(self) -> None:
        self.addParameter(
            QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Crime trends"), QgsProcessing.TypeVectorPolygon)
        )
        self.addParameter(
            QgsProcessingParameterFeatureSink(
                self.TABLE,
                self.tr("Crime trends by month"),
                QgsProcessing.TypeVector,
                optional=True,
                createByDefault=True,
            )
        )
        self.addParameter(
            QgsProcessingParameterFolderDestination(
                self.CHARTS_FOLDER, self.tr("Charts (one PNG per area)"), optional=True, createByDefault=False
            )
        )
        self.addParameter(
            QgsProcessingParameterFileDestination(
                self.SMALL_MULTIPLES,
                self.tr("Small multiples (PNG)"),
                self.tr("PNG image (*.png)"),
                optional=True,
                createByDefault=False,
            )
        )
        numbers = (
            (self.CRIMES_READ, "Crimes read"),
            (self.CRIMES_COUNTED, "Crimes counted in areas"),
            (self.OUTSIDE_AREAS, "Crimes outside every area"),
            (self.NO_LOCATION, "Crimes without a location"),
            (self.NO_MONTH_CRIMES, "Crimes without a usable month"),
            (self.LEFT_OUT_MONTHS, "Crimes outside the months"),
            (self.LEFT_OUT_TYPES, "Crimes of types or categories not selected"),
            (self.UNMATCHED_CRIMES, "Crimes in table rows whose code matches no area"),
            (self.MONTHS, "Calendar months of the period"),
            (self.CONCERN, "Areas with a special cause: concern"),
            (self.IMPROVEMENT, "Areas with a special cause: improvement"),
            (self.COMMON_CAUSE, "Areas with common cause variation"),
            (self.NOT_ENOUGH_DATA, "Areas without enough data"),
            (self.CHARTS_WRITTEN, "Chart PNG files written"),
        )
        texts = (
            (self.PERIOD, "Period"),
            (self.MISSING_MONTHS, "Months without any record (missing data)"),
            (self.PARTIAL_MONTHS, "Partial months"),
            (self.SERIES_BREAKS, "Series breaks in the period"),
            (self.UNMATCHED_CODES, "Codes of the count table that match no area"),
            (self.BOUNDARIES, "Boundaries counted on"),
            (self.POPULATION_BASIS, "Population used (for rates)"),
            (self.REPORT, "Report"),
        )
        self.add_outputs(numbers=numbers, texts=texts)

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        has_points = parameters.get(self.CRIMES) not in (None, "")
        has_table = parameters.get(self.COUNTS_TABLE) not in (None, "")
        if has_points == has_table:
            return False, self.tr("Give either crime points or a table of crime counts (one of the two).")
        if has_table and not self.parameterAsString(parameters, self.AREA_CODE_FIELD, context):
            return False, self.tr("A count table is joined to the areas by code: choose the area code field.")
        has_pop_field = bool(self.parameterAsString(parameters, self.POPULATION_FIELD, context))
        has_pop_table = parameters.get(self.POPULATION_TABLE) not in (None, "")
        if has_pop_field and has_pop_table:
            return False, self.tr(
                "Give either a population field of the area layer or a population table (one of the two), not both."
            )
        if has_pop_table and not self.parameterAsString(parameters, self.AREA_CODE_FIELD, context):
            return False, self.tr("A population table is joined to the areas by code: choose the area code field.")
        chart = self.parameterAsEnum(parameters, self.CHART, context)
        if chart and not has_pop_field and not has_pop_table:
            return False, self.tr("Charts of rates need a population field or table: choose one, or chart the counts.")
        try:
            self._month_range(parameters, context)
        except MonthError as err:
            return False, str(err)
        return True, ""

    def _month_range(self, parameters: dict, context: QgsProcessingContext) -> MonthRange:
        return MonthRange(
            month_parameter(self.parameterAsString(parameters, self.START_MONTH, context), "first month"),
            month_parameter(self.parameterAsString(parameters, self.END_MONTH, context), "last month"),
        )

    def _request(self, parameters: dict, context: QgsProcessingContext) -> trends.TrendsRequest:
        baseline = self.parameterAsInt(parameters, self.BASELINE, context)
        try:
            return trends.TrendsRequest(
                chart=trends.CHARTS[self.parameterAsEnum(parameters, self.CHART, context)],
                baseline=baseline or None,
                screen=self.parameterAsBoolean(parameters, self.SCREEN, context),
                multiplier=self.parameterAsDouble(parameters, self.MULTIPLIER, context),
                partial_as_missing=self.parameterAsBoolean(parameters, self.PARTIAL_AS_MISSING, context),
            )
        except trends.TrendsInputError as err:
            raise QgsProcessingException(str(err)) from err

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        request = self._request(parameters, context)
        source = crime_input.source_of(self, parameters, self.AREAS, context)
        fields = {
            k: self.parameterAsString(parameters, k, context)
            for k in (self.AREA_CODE_FIELD, self.AREA_NAME_FIELD, self.PARENT_FIELD, self.POPULATION_FIELD)
        }
        areas = self._read_areas(source, fields, feedback)
        crimes = self.CRIMES if parameters.get(self.CRIMES) not in (None, "") else self.COUNTS_TABLE
        if crimes == self.CRIMES:
            monthly, period, lines, chosen = self._count_points(parameters, context, feedback, source, areas)
        else:
            monthly, period, lines, chosen = self._count_table(parameters, context, feedback, areas)
        feedback.setProgress(70)
        code_field = fields[self.AREA_CODE_FIELD] or self.tr("no code field")
        boundaries = crime_input.boundaries_text(self, parameters, self.AREAS, context, code_field, len(areas))
        population, population_basis, warnings = self._population(parameters, context, areas, fields)
        said = self.tr("Boundaries: {}. Population: {}").format(
            boundaries, population_basis or self.tr("none (counts)")
        )
        lines.append(said if said.endswith(".") else said + ".")  # a table's basis ends its own sentence
        for line in warnings:
            lines.append(line)
            feedback.pushWarning(line)
        attrs = areas.attributes
        names = [None if v is None else str(v) for v in attrs.get(fields[self.AREA_NAME_FIELD], [None] * len(areas))]
        parents = [
            None if v is None else str(v).strip() for v in attrs.get(fields[self.PARENT_FIELD], [None] * len(areas))
        ]
        no_data = sorted(set(areas.empty) | set(monthly.without_rows))
        if no_data:
            lines.append(
                self.tr(
                    "{} area(s) have no data in the source (no geometry, or no row in the count table): "
                    "not enough data, and not in the sums of their parent and of all areas: {}"
                ).format(len(no_data), short_list([areas.codes[i] for i in no_data]))
            )
        try:
            result = trends.crime_trends(
                request, areas.codes, names, parents, monthly.by_month, period, population, no_data
            )
        except trends.TrendsInputError as err:
            raise QgsProcessingException(str(err)) from err
        dest_id = self._write_areas(parameters, context, result, areas, source)
        outputs = {self.OUTPUT: dest_id}
        outputs.update(self._write_table(parameters, context, result, request))
        outputs.update(self._charts(parameters, context, result, feedback))
        report = self._report(result, monthly, lines, feedback)
        self._describe(context, dest_id, result, source, lines, self.input_short(parameters, crimes, context, chosen))
        outputs.update(self._numbers(result, monthly, report))
        outputs[self.BOUNDARIES] = boundaries
        outputs[self.POPULATION_BASIS] = population_basis
        return outputs

    def _population(
        self, parameters: dict, context: QgsProcessingContext, areas: area_rule.Areas, fields: dict[str, str]
    ) -> tuple[list | None, str, list[str]]:
        """Return the residents per area (field or table, None without either), what they are, and warnings."""
        pop_field = fields[self.POPULATION_FIELD]
        warnings = []
        if pop_field:
            population = areas.attributes[pop_field]
            basis = self.tr("field {} of the area layer").format(pop_field)
        elif parameters.get(self.POPULATION_TABLE) not in (None, ""):
            table = crime_input.read_population_table(self, parameters, context, areas.codes, "area")
            population, basis = table.values, table.basis
            if table.unknown:
                warnings.append(
                    self.tr("population table codes not among the areas ({}): {}").format(
                        len(table.unknown), short_list(table.unknown)
                    )
                )
        else:
            return None, "", []
        # As ward rates names them: by reason; a sum over areas needs every area's residents.
        by_flag: dict[str, list[str]] = {}
        for code, flag in zip(areas.codes, rates.population_flags(population)):
            if flag:
                by_flag.setdefault(flag, []).append(code)
        for flag, codes in by_flag.items():
            if flag == rates.FLAG_NO_POPULATION:
                text = self.tr("areas without a population ({}): {}").format(len(codes), short_list(codes))
            else:
                text = self.tr("areas flagged '{}' ({}): {}").format(flag, len(codes), short_list(codes))
            warnings.append(self.tr("{}; no rate for them, their parent or all areas.").format(text))
        return population, basis, warnings

    def _read_areas(
        self, source: QgsFeatureSource, fields: dict[str, str], feedback: QgsProcessingFeedback
    ) -> area_rule.Areas:
        code = fields[self.AREA_CODE_FIELD] or None
        extra = [f for k, f in fields.items() if f and k != self.AREA_CODE_FIELD]
        try:
            return area_rule.read_areas(
                source, None, None, code, list(dict.fromkeys(extra)), "area", feedback.isCanceled
            )
        except area_rule.AreaInputError as err:
            raise QgsProcessingException(str(err)) from err
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err

    def _month_field(self, parameters: dict, context: QgsProcessingContext, source: QgsFeatureSource) -> str:
        name = self.parameterAsString(parameters, self.MONTH_FIELD, context).strip() or "month"
        if source.fields().lookupField(name) < 0:
            raise QgsProcessingException(
                self.tr(
                    "A trend needs the month of every crime: the input has no month field '{}'; its fields are: " "{}."
                ).format(name, ", ".join(source.fields().names()))
            )
        return name

    def _period(self, parameters: dict, context: QgsProcessingContext, months: np.ndarray) -> MonthRange:
        wanted = self._month_range(parameters, context)
        period = analysis_period(months, wanted)
        if period is None or not period.with_records:
            raise QgsProcessingException(
                self.tr("The input has no record with a month in the months asked for: nothing to chart.")
            )
        return period

    def _count_points(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        areas_source: QgsFeatureSource,
        areas: area_rule.Areas,
    ) -> tuple[MonthlyCounts, object, list[str], str]:
        source = crime_input.source_of(self, parameters, self.CRIMES, context)
        month_field = self._month_field(parameters, context, source)
        code_field = self.parameterAsString(parameters, self.AREA_CODE_FIELD, context) or None
        read = crime_input.count_in_database(
            self, parameters, context, feedback, source, self.AREAS, areas, code_field, month_field
        )
        if read is not None:
            how = read.how
            period = self._period(parameters, context, read.points.months)
            monthly = ward_counts.count_assigned_by_month(areas, read.points, MonthRange(period.first, period.last))
        else:
            read = crime_input.read_points(
                self, parameters, context, feedback, source, month_field, areas_source.sourceCrs()
            )
            how = read.table.how
            monthly, period = self._count_read(parameters, context, feedback, read, areas, month_field)
        what = self.input_description(parameters, self.CRIMES, context, read.choice)  # the input's filter too
        lines = [
            *read.notes,
            self.tr("Crime points ({}) read {}: {}; counted in areas: {}; left out: {}.").format(
                what, how, monthly.totals.read, monthly.totals.counted, crime_input.reasons_text(monthly.totals)
            ),
            self.tr("{} point(s) lay on an area boundary: {}").format(
                monthly.totals.on_boundary, area_rule.BOUNDARY_RULE
            ),
        ]
        return monthly, period, lines, read.choice  # the choice, for the title

    def _count_read(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        read: crime_input.PointInput,
        areas: area_rule.Areas,
        month_field: str,
    ) -> tuple[MonthlyCounts, object]:
        """Count points the plugin read into the areas and the months of the period; return both."""
        months = read.table.columns[month_field]
        period = self._period(parameters, context, months)
        feedback.setProgressText(self.tr("Counting crimes into areas and months"))
        try:
            monthly = ward_counts.count_points_by_month(
                areas,
                read.x,
                read.y,
                months,
                read.chosen,
                MonthRange(period.first, period.last),
                read.had_point,
                feedback.isCanceled,
                lambda f: feedback.setProgress(10 + 55 * f),
            )
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err
        return monthly, period

    def _count_table(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        areas: area_rule.Areas,
    ) -> tuple[MonthlyCounts, object, list[str], str]:
        source = crime_input.source_of(self, parameters, self.COUNTS_TABLE, context)
        month_field = self._month_field(parameters, context, source)
        read = crime_input.read_count_table(self, parameters, context, feedback, source, month_field)
        months = read.columns[month_field]
        period = self._period(parameters, context, months)
        monthly = ward_counts.count_table_by_month(
            read.columns[read.code_field],
            read.counts,
            months,
            read.chosen,
            areas.codes,
            MonthRange(period.first, period.last),
        )
        keep = read.categories
        chosen = f"categories {read.category_field} in {sorted(keep)}" if keep else "all categories"
        what = self.input_description(parameters, self.COUNTS_TABLE, context, chosen)  # the input's filter too
        lines = [
            self.tr("Count table ({}): {} crimes in {} rows; counted in areas: {}; left out: {}.").format(
                what,
                monthly.totals.read,
                monthly.totals.rows,
                monthly.totals.counted,
                crime_input.reasons_text(monthly.totals),
            )
        ]
        estimate = crime_input.estimate_note(self, read)
        if estimate:
            lines.append(estimate)
            feedback.pushWarning(estimate)
        if monthly.totals.unmatched_codes:
            lines.append(
                self.tr("Codes of the count table matching no area ({}): {}").format(
                    len(monthly.totals.unmatched_codes), short_list(monthly.totals.unmatched_codes)
                )
            )
        return monthly, period, lines, ", ".join(sorted(keep))  # the categories, for the title

    def _write_areas(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        result: trends.Trends,
        areas: area_rule.Areas,
        source: QgsFeatureSource,
    ) -> str:
        fields = qgs_fields(trends.AREA_FIELDS)
        wkb = QgsWkbTypes.multiType(QgsWkbTypes.flatType(source.wkbType()))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, wkb, source.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        names = fields.names()
        for geometry, row in zip(areas.geometries, trends.area_rows(result)):
            f = QgsFeature(fields)
            f.setGeometry(geometry)
            f.setAttributes([row[n] for n in names])
            if not sink.addFeature(f, QgsFeatureSink.FastInsert):
                raise QgsProcessingException(
                    self.tr("Could not write area {} to {}: {}").format(row["area_code"], dest_id, sink.lastError())
                )
        del sink
        return dest_id

    def _write_table(
        self, parameters: dict, context: QgsProcessingContext, result: trends.Trends, request: trends.TrendsRequest
    ) -> dict:
        if parameters.get(self.TABLE) in (None, ""):
            return {}
        rows = trends.table_rows(result, request.multiplier)
        output = TableOutput(self, parameters, self.TABLE, context, trends.TABLE_FIELDS, None)
        try:
            output.add({name: [r[name] for r in rows] for name, _ in trends.TABLE_FIELDS})
            dest = output.commit("Crime trends by month", f"Per area and month: {result.coverage.describe()}.")
        except BaseException:
            output.abort()
            raise
        return {self.TABLE: dest}

    def _chosen(self, parameters: dict, context: QgsProcessingContext, result: trends.Trends) -> list[trends.Series]:
        codes = [
            c.strip() for c in self.parameterAsString(parameters, self.CHART_AREAS, context).split(",") if c.strip()
        ]
        parent = self.parameterAsString(parameters, self.CHART_PARENT, context).strip()
        by_code = {s.code: s for s in result.areas}
        unknown = [c for c in codes if c not in by_code]
        if unknown:
            raise QgsProcessingException(self.tr("Areas to chart not among the areas: {}").format(short_list(unknown)))
        chosen = [by_code[c] for c in codes]
        if parent:
            chosen += [s for s in result.areas if s.parent == parent and s.code not in codes]
            if parent in result.parents:
                chosen.insert(0, result.parents[parent])
        if not codes and not parent:
            flagged = [s for s in result.areas if s.signal in (trends.SIGNAL_CONCERN, trends.SIGNAL_IMPROVEMENT)]
            chosen = ([result.overall] if result.overall else []) + flagged[:MAX_AUTO_CHARTS]
        return chosen

    def _charts(
        self, parameters: dict, context: QgsProcessingContext, result: trends.Trends, feedback: QgsProcessingFeedback
    ) -> dict:
        folder = (
            self.parameterAsString(parameters, self.CHARTS_FOLDER, context)
            if parameters.get(self.CHARTS_FOLDER) not in (None, "")
            else ""
        )
        multiples = self.parameterAsFileOutput(parameters, self.SMALL_MULTIPLES, context)
        if not folder and not multiples:
            return {self.CHARTS_WRITTEN: 0}
        chosen = self._chosen(parameters, context, result)
        titles = [_title(s) for s in chosen]
        written = 0
        if folder:
            os.makedirs(folder, exist_ok=True)
            for s, title in zip(chosen, titles):
                draw_chart(chart_path(folder, s.code), s, result.months, f"{title}: {s.signal}")
                written += 1
            feedback.pushInfo(self.tr("{} chart(s) written to {}").format(written, folder))
        out = {self.CHARTS_FOLDER: folder} if folder else {}
        if multiples and chosen:
            written += 1
            draw_small_multiples(
                multiples, chosen, result.months, titles, f"Crime trends, {result.coverage.period.label()}"
            )
            out[self.SMALL_MULTIPLES] = multiples
        out[self.CHARTS_WRITTEN] = written
        return out

    def _report(
        self, result: trends.Trends, monthly: MonthlyCounts, lines: list[str], feedback: QgsProcessingFeedback
    ) -> list[str]:
        signals = result.signal_counts()
        report = [*lines, self.tr("Coverage: {}.").format(result.coverage.describe())]
        report.append(self.tr("Latest month's signals: {}.").format(", ".join(f"{k}: {v}" for k, v in signals.items())))
        if result.overall is not None:
            t = len(result.months) - 1
            report.append(
                self.tr("All areas together: {}; rolling 12 months: {}.").format(
                    result.overall.signal, trends.trend_stats.describe_month(result.overall.rolling, t)
                )
            )
        for line in report:
            feedback.pushInfo(line)
        if result.coverage.missing or result.coverage.partial:
            feedback.pushWarning(self.tr("Coverage: {}").format(result.coverage.describe()))
        return report

    def _describe(
        self,
        context: QgsProcessingContext,
        dest_id: str,
        result: trends.Trends,
        source: QgsFeatureSource,
        lines: list[str],
        crimes: str,
    ) -> None:
        period = result.coverage.period.label()
        chart = dict(zip(trends.CHARTS, CHART_LABELS))[result.request.chart]
        baseline = f"the first {result.request.baseline} months" if result.request.baseline else "all months"
        abstract = (
            f"Crime trends per area of '{source.sourceName()}', {period}. Coverage: {result.coverage.describe()}. "
            f"Method: {chart} (NHS England Making Data Count; baseline {baseline}; moving ranges screened: "
            f"{'yes' if result.request.screen else 'no'}); signal of the latest month; rolling 12 months against "
            f"the previous 12 with the two-sided Poisson E-test, for the area, its parent and all areas. Data: "
            f"{' '.join(lines)}"
        )
        describe_layer(
            context,
            dest_id,
            title=f"Crime trends: latest month's signal, {period}: {crimes}",
            abstract=abstract,
            keywords=["crime", "trend", "spc", period],
            style=trends_style(f"Crime trends: latest month's signal, {period}"),
        )

    def _numbers(self, result: trends.Trends, monthly: MonthlyCounts, report: list[str]) -> dict:
        left = monthly.totals.left_out
        signals = result.signal_counts()
        cov = result.coverage
        return {
            self.CRIMES_READ: monthly.totals.read,
            self.CRIMES_COUNTED: monthly.totals.counted,
            self.OUTSIDE_AREAS: left[crime_points.OUTSIDE_AREAS],
            self.NO_LOCATION: left[crime_points.NO_GEOMETRY] + left[crime_points.NOT_REPROJECTED],
            self.NO_MONTH_CRIMES: left[crime_points.NO_MONTH],
            self.LEFT_OUT_MONTHS: left[crime_points.OUTSIDE_MONTHS],
            self.LEFT_OUT_TYPES: left[crime_points.TYPE_NOT_SELECTED],
            self.UNMATCHED_CRIMES: left[ward_counts.UNMATCHED_CODE],
            self.UNMATCHED_CODES: ", ".join(monthly.totals.unmatched_codes),
            self.PERIOD: cov.period.label(),
            self.MONTHS: cov.period.calendar_months,
            self.MISSING_MONTHS: ranges_text(cov.missing),
            self.PARTIAL_MONTHS: ranges_text(cov.partial),
            self.SERIES_BREAKS: ", ".join(trends.trend_stats.SERIES_BREAKS[b] for b in cov.breaks),
            self.CONCERN: signals[trends.SIGNAL_CONCERN],
            self.IMPROVEMENT: signals[trends.SIGNAL_IMPROVEMENT],
            self.COMMON_CAUSE: signals[trends.SIGNAL_COMMON],
            self.NOT_ENOUGH_DATA: signals[trends.SIGNAL_NOT_ENOUGH],
            self.REPORT: "\n".join(report),
        }


def _title(s: trends.Series) -> str:
    return f"{s.name} ({s.code})" if s.name and s.name != s.code else s.code


def chart_path(folder: str, code: str) -> str:
    """Return the path of an area's chart PNG in the charts folder (area profiles find it there)."""
    return os.path.join(folder, f"trend_{_slug(code)}.png")


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text)[:60] or "area"
