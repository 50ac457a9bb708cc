"""Processing algorithm crimemapping:wardrates: ward crime counts, rates per 1,000 residents and their uncertainty."""

from __future__ import annotations

import math

import numpy as np
from qgis.core import (
    QgsCoordinateTransform,
    QgsFeature,
    QgsFeatureRequest,
    QgsFeatureSink,
    QgsField,
    QgsFields,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingException,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFileDestination,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)
from qgis.PyQt.QtCore import QVariant

from crime_mapping_plugin.core import crime_points, crime_types, rates
from crime_mapping_plugin.core import point_in_polygon as pip
from crime_mapping_plugin.core.policeuk import check_month
from crime_mapping_plugin.core.reproject import BulkTransformer
from crime_mapping_plugin.core.ward_counts import (
    Period,
    aggregate_table,
    population_by_code,
    short_list,
)
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.funnel_plot import draw_funnel_plot
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.rate_style import parse_breaks, quantile_breaks, rate_style

BOUNDARY_RULE = (
    "A crime is counted in the ward whose polygon contains it, boundary included; a point on the "
    "boundary of several wards (or in an overlap) is counted once, in the ward with the lowest ward code."
)


class WardRatesAlgorithm(CrimeMappingAlgorithm):
    """Count crimes into wards and report rates per 1,000 residents with confidence limits and comparisons."""

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
    PREV_START_MONTH = "PREV_START_MONTH"
    PREV_END_MONTH = "PREV_END_MONTH"
    WARDS = "WARDS"
    WARD_CODE_FIELD = "WARD_CODE_FIELD"
    WARD_NAME_FIELD = "WARD_NAME_FIELD"
    POPULATION_FIELD = "POPULATION_FIELD"
    POPULATION_TABLE = "POPULATION_TABLE"
    POP_CODE_FIELD = "POP_CODE_FIELD"
    POP_VALUE_FIELD = "POP_VALUE_FIELD"
    MULTIPLIER = "MULTIPLIER"
    SMOOTH = "SMOOTH"
    CLASS_BREAKS = "CLASS_BREAKS"
    OUTPUT = "OUTPUT"
    FUNNEL_PLOT = "FUNNEL_PLOT"

    CRIMES_READ = "CRIMES_READ"
    CRIMES_COUNTED = "CRIMES_COUNTED"
    OUTSIDE_WARDS = "OUTSIDE_WARDS"
    ON_BOUNDARY = "ON_BOUNDARY"
    NO_LOCATION = "NO_LOCATION"
    LEFT_OUT_MONTHS = "LEFT_OUT_MONTHS"
    LEFT_OUT_TYPES = "LEFT_OUT_TYPES"
    UNMATCHED_CODES = "UNMATCHED_CODES"
    UNMATCHED_CRIMES = "UNMATCHED_CRIMES"
    WARDS_WITHOUT_RATE = "WARDS_WITHOUT_RATE"
    OVERALL_RATE = "OVERALL_RATE"
    MONTHS = "MONTHS"
    PERIOD = "PERIOD"
    REPORT = "REPORT"

    NAME = "wardrates"
    DISPLAY_NAME = "Ward crime rates with confidence intervals"
    GROUP_ID = "statistics"
    GROUP = "Statistics"
    TAGS = ("crime", "rate", "ward", "population", "confidence interval", "funnel plot", "poisson", "empirical bayes")
    HELP = (
        "Counts crimes by ward and reports the rate per 1,000 residents (the multiplier can be changed) with "
        "its uncertainty, so that wards can be compared without false alarms.<br>"
        "<b>Crimes</b>: either crime points (e.g. from 'Import police.uk street crime') counted into the ward "
        "polygons, or a table of counts by ward code (e.g. from 'Import MPS ward-level crime counts'). "
        f"{BOUNDARY_RULE} QGIS's 'Count points in polygon' leaves boundary points out of every ward; apart "
        "from them the counts are the same. Points outside every ward and points without a location are "
        "counted and reported; table rows whose ward code is not among the polygons are listed.<br>"
        "<b>Filters</b>: police.uk crime types and harmonised groups (points), or a category field and values "
        "(table, e.g. major_category), and a month range (YYYY-MM, inclusive). The period and its number of "
        "months are written to every ward.<br>"
        "<b>Population</b>: a field of the ward layer or a table joined on the ward code ('Ward populations "
        "from LSOA populations' builds one). A missing, zero or negative population gives an empty rate and "
        "a flag.<br>"
        "<b>Confidence limits</b> (95 % and 99.8 %): exact Poisson limits below 10 crimes "
        "(χ²(α/2; 2x)/2, χ²(1−α/2; 2x+2)/2) and Byar's method from 10, divided by the population and "
        "multiplied by the multiplier (PHEindicatormethods phe_rate).<br>"
        "<b>Comparison with all wards</b>: the overall rate is Σcrimes/Σpopulation over wards with a "
        "population; with E = overall rate × population of the ward, the ward is 'higher' at 95 % / 99.8 % when "
        "the exact Poisson probability P(X ≥ count | E) is below 2.5 % / 0.1 %, 'lower' when P(X ≤ count | E) is "
        "(an exact two-sided test; equivalently the exact interval of the count excludes E). The funnel plot "
        "draws the continuous limits χ²(α/2; 2E)/2 and χ²(1−α/2; 2E+2)/2; as counts are whole numbers a ward "
        "very close to a curve can fall on either side of it.<br>"
        "<b>Empirical Bayes</b> (optional): GeoDa's smoothed rate, shrinking small wards towards the overall rate.<br>"
        "<b>Comparison period</b> (optional): counts and rates of an earlier month range, the change and an "
        "exact test of it: given both counts, the later count is Binomial(total, p) with p = exposure of the "
        "later period / both exposures (exposure = population × months); the two-sided p-value adds the "
        "probabilities of all outcomes no more likely than the observed one. 'increase'/'decrease' at 95 % "
        "when p < 0.05, at 99.8 % when p < 0.002. change_pct is the change of the monthly rate in %, so periods "
        "of different lengths compare fairly.<br>"
        "<b>Output</b>: the ward polygons with count, population, rate, limits, comparison, smoothed rate, "
        "rank (1 = highest rate) and flag, styled by classes of the rate (fix the class breaks to map two "
        "periods on one scale), and optionally a funnel plot PNG."
    )

    def initAlgorithm(self, config=None) -> None:  # noqa: N802
        crimes = QgsProcessingParameterFeatureSource(
            self.CRIMES, self.tr("Crime points"), [QgsProcessing.TypeVectorPoint], optional=True
        )
        crimes.setHelp(
            self.tr("Crime points, e.g. from 'Import police.uk street crime'; any CRS (reprojected to the wards').")
        )
        self.addParameter(crimes)
        table = QgsProcessingParameterFeatureSource(
            self.COUNTS_TABLE,
            self.tr("Or: table of crime counts by ward code"),
            [QgsProcessing.TypeVector],
            optional=True,
        )
        table.setHelp(
            self.tr("A table with a ward code and a count per row (rows are summed), e.g. the MPS ward-level import.")
        )
        self.addParameter(table)
        for name, label, default, help_text in (
            (
                self.COUNTS_CODE_FIELD,
                "Ward code field of the count table",
                "ward_code",
                "Joined to the ward code of the polygons.",
            ),
            (
                self.COUNTS_FIELD,
                "Count field of the count table",
                "count",
                "Number of crimes in the row (a whole number).",
            ),
        ):
            param = QgsProcessingParameterField(name, self.tr(label), default, self.COUNTS_TABLE, optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        category = QgsProcessingParameterField(
            self.CATEGORY_FIELD, self.tr("Category field of the count table"), None, self.COUNTS_TABLE, optional=True
        )
        category.setHelp(
            self.tr("A category to filter the table on, e.g. major_category of the MPS table; empty for none.")
        )
        self.addParameter(category)
        values = QgsProcessingParameterString(
            self.CATEGORY_VALUES, self.tr("Categories to keep (comma-separated)"), optional=True
        )
        values.setHelp(self.tr("Values of the category field to keep, e.g. 'Burglary, Robbery'; empty keeps all."))
        self.addParameter(values)
        types = QgsProcessingParameterEnum(
            self.CRIME_TYPES,
            self.tr("Crime types (points)"),
            options=list(crime_types.ALL_TYPES),
            allowMultiple=True,
            optional=True,
        )
        types.setHelp(self.tr("police.uk crime types to count (field crime_type); none selected counts all."))
        self.addParameter(types)
        groups = QgsProcessingParameterEnum(
            self.CRIME_GROUPS,
            self.tr("Harmonised crime groups (points)"),
            options=list(crime_types.GROUPS),
            allowMultiple=True,
            optional=True,
        )
        groups.setHelp(self.tr("Harmonised groups to count (field crime_group); none selected counts all."))
        self.addParameter(groups)
        month_field = QgsProcessingParameterString(self.MONTH_FIELD, self.tr("Month field"), "month", optional=True)
        month_field.setHelp(
            self.tr("The field holding the month (a date or YYYY-MM text) in the crime points or table.")
        )
        month_field.setFlags(month_field.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(month_field)
        for name, label, help_text in (
            (self.START_MONTH, "First month (YYYY-MM)", "Inclusive; empty: from the first month in the data."),
            (self.END_MONTH, "Last month (YYYY-MM)", "Inclusive; empty: to the last month in the data."),
            (
                self.PREV_START_MONTH,
                "Comparison period: first month (YYYY-MM)",
                "Inclusive; set both ends for a comparison.",
            ),
            (
                self.PREV_END_MONTH,
                "Comparison period: last month (YYYY-MM)",
                "Inclusive; set both ends for a comparison.",
            ),
        ):
            param = QgsProcessingParameterString(name, self.tr(label), optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        wards = QgsProcessingParameterFeatureSource(
            self.WARDS, self.tr("Ward polygons"), [QgsProcessing.TypeVectorPolygon]
        )
        wards.setHelp(
            self.tr("One polygon per ward with a unique code, e.g. ONS wards (WD24CD). The output keeps their CRS.")
        )
        self.addParameter(wards)
        # Optional with a default: QGIS 3.22 rejects a missing value of a required field despite its default.
        code = QgsProcessingParameterField(
            self.WARD_CODE_FIELD, self.tr("Ward code field"), "WD24CD", self.WARDS, optional=True
        )
        code.setHelp(self.tr("Unique ward code; also decides the boundary rule (lowest code wins)."))
        self.addParameter(code)
        name = QgsProcessingParameterField(
            self.WARD_NAME_FIELD, self.tr("Ward name field"), "WD24NM", self.WARDS, optional=True
        )
        name.setHelp(self.tr("Copied to the output for reading; optional."))
        self.addParameter(name)
        pop_field = QgsProcessingParameterField(
            self.POPULATION_FIELD,
            self.tr("Population field of the ward layer"),
            None,
            self.WARDS,
            QgsProcessingParameterField.Numeric,
            optional=True,
        )
        pop_field.setHelp(self.tr("Residents per ward (persons). Give this or a population table."))
        self.addParameter(pop_field)
        pop_table = QgsProcessingParameterFeatureSource(
            self.POPULATION_TABLE, self.tr("Or: population table"), [QgsProcessing.TypeVector], optional=True
        )
        pop_table.setHelp(
            self.tr("A table of residents (persons) by ward code, e.g. from 'Ward populations from LSOA populations'.")
        )
        self.addParameter(pop_table)
        for pname, label, default, help_text in (
            (self.POP_CODE_FIELD, "Ward code field of the population table", "ward_code", "Joined to the ward code."),
            (self.POP_VALUE_FIELD, "Population field of the population table", "population", "Residents (persons)."),
        ):
            param = QgsProcessingParameterField(pname, self.tr(label), default, self.POPULATION_TABLE, optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)
        mult = QgsProcessingParameterNumber(
            self.MULTIPLIER, self.tr("Rate per (residents)"), QgsProcessingParameterNumber.Double, 1000.0, minValue=1.0
        )
        mult.setHelp(self.tr("Rates are crimes per this many residents over the whole period; 1,000 is usual."))
        mult.setFlags(mult.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(mult)
        smooth = QgsProcessingParameterBoolean(self.SMOOTH, self.tr("Add Empirical Bayes smoothed rates"), True)
        smooth.setHelp(self.tr("GeoDa's Empirical Bayes rate, in the same unit as the rate."))
        self.addParameter(smooth)
        breaks = QgsProcessingParameterString(
            self.CLASS_BREAKS, self.tr("Class breaks of the map (rates)"), optional=True
        )
        breaks.setHelp(
            self.tr(
                "Thresholds of the map's classes in the rate's unit, increasing, e.g. 0.5,1,2,4: a class below the "
                "first (none when it is 0), one between each pair and one at or above the last; a ward at a "
                "threshold goes in the class it opens; wards without a rate are drawn grey. Fix them to map two "
                "periods on one scale. Empty: thresholds at the quintiles of the rates."
            )
        )
        self.addParameter(breaks)
        output = QgsProcessingParameterFeatureSink(
            self.OUTPUT, self.tr("Ward crime rates"), QgsProcessing.TypeVectorPolygon
        )
        output.setHelp(self.tr("Ward polygons with counts, rates, confidence limits and comparisons."))
        self.addParameter(output)
        plot = QgsProcessingParameterFileDestination(
            self.FUNNEL_PLOT, self.tr("Funnel plot"), self.tr("PNG image (*.png)"), optional=True, createByDefault=False
        )
        plot.setHelp(self.tr("Rate against population with the 95 % and 99.8 % limits around the overall rate (PNG)."))
        self.addParameter(plot)
        self.add_outputs(
            numbers=(
                (self.CRIMES_READ, "Crimes read"),
                (self.CRIMES_COUNTED, "Crimes counted in wards"),
                (self.OUTSIDE_WARDS, "Crimes outside every ward"),
                (self.ON_BOUNDARY, "Crimes on a ward boundary (counted by the boundary rule)"),
                (self.NO_LOCATION, "Crimes without a location"),
                (self.LEFT_OUT_MONTHS, "Crimes outside the months"),
                (self.LEFT_OUT_TYPES, "Crimes of types or categories not selected"),
                (self.UNMATCHED_CRIMES, "Crimes in table rows whose ward code matches no polygon"),
                (self.WARDS_WITHOUT_RATE, "Wards without a rate (no usable population)"),
                (self.OVERALL_RATE, "Rate of all wards together"),
                (self.MONTHS, "Number of months"),
            ),
            texts=[
                (self.UNMATCHED_CODES, "Ward codes that do not match"),
                (self.PERIOD, "Period"),
                (self.REPORT, "Report"),
            ],
        )

    def _periods(self, parameters, context) -> tuple[Period, Period | None]:
        def month(name: str, label: str) -> str | None:
            return check_month(self.parameterAsString(parameters, name, context), label)

        current = Period(month(self.START_MONTH, "first month"), month(self.END_MONTH, "last month"))
        prev_start = month(self.PREV_START_MONTH, "comparison period's first month")
        prev_end = month(self.PREV_END_MONTH, "comparison period's last month")
        for p in (current, Period(prev_start, prev_end)):
            if p.start and p.end and p.start > p.end:
                raise ValueError(f"The month range {p.start} to {p.end} ends before it starts: swap the months.")
        if bool(prev_start) != bool(prev_end):
            raise ValueError("Comparison period: give both its first and its last month (YYYY-MM), or neither.")
        if prev_start and not (current.start and current.end):
            raise ValueError("A comparison period needs the first and last month of the main period too.")
        return current, (Period(prev_start, prev_end) if prev_start else None)

    def checkParameterValues(self, parameters, context):  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        has_points = parameters.get(self.CRIMES) not in (None, "")
        has_table = parameters.get(self.COUNTS_TABLE) not in (None, "")
        if has_points == has_table:
            return False, self.tr("Give either crime points or a table of crime counts by ward code (one of the two).")
        has_pop_field = bool(self.parameterAsString(parameters, self.POPULATION_FIELD, context))
        has_pop_table = parameters.get(self.POPULATION_TABLE) not in (None, "")
        if has_pop_field == has_pop_table:
            return False, self.tr(
                "Give either a population field of the ward layer or a population table (one of the two)."
            )
        try:
            self._periods(parameters, context)
            parse_breaks(self.parameterAsString(parameters, self.CLASS_BREAKS, context))
        except ValueError as err:
            return False, str(err)
        return True, ""

    def processAlgorithm(self, parameters, context, feedback):  # noqa: N802
        try:
            current, previous = self._periods(parameters, context)
            breaks = parse_breaks(self.parameterAsString(parameters, self.CLASS_BREAKS, context))
        except ValueError as err:
            raise QgsProcessingException(str(err)) from err
        multiplier = self.parameterAsDouble(parameters, self.MULTIPLIER, context)
        wards = self.parameterAsSource(parameters, self.WARDS, context)
        if wards is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.WARDS))
        code_field = self.parameterAsString(parameters, self.WARD_CODE_FIELD, context) or "WD24CD"
        name_field = self.parameterAsString(parameters, self.WARD_NAME_FIELD, context)
        pop_field = self.parameterAsString(parameters, self.POPULATION_FIELD, context)
        ward = self._read_wards(wards, code_field, name_field, pop_field, feedback)
        codes = ward["codes"]
        report: list[str] = []
        unmatched: list[str] = []

        if parameters.get(self.CRIMES) not in (None, ""):
            result = self._count_points(parameters, context, feedback, wards, ward, current, previous)
        else:
            result = self._count_table(parameters, context, feedback, codes, current, previous)
            if result["unmatched_codes"]:
                unmatched.append(
                    f"count table codes not among the wards ({len(result['unmatched_codes'])}, "
                    f"{result['unmatched_crimes']:.0f} crimes): {short_list(result['unmatched_codes'])}"
                )
        feedback.setProgress(75)

        population = ward["population"] if pop_field else self._read_population(parameters, context, codes, unmatched)
        no_pop = [c for c, p in zip(codes, population) if p is None]
        if no_pop:
            unmatched.append(f"wards without a population ({len(no_pop)}): {short_list(no_pop)}")

        smooth = self.parameterAsBoolean(parameters, self.SMOOTH, context)
        table = rates.rate_table(result["current"], population, multiplier, smooth)
        period_label, n_months = current.describe(result["months_current"])
        prev_table = None
        prev_label, prev_months = None, None
        if previous is not None:
            prev_table = rates.rate_table(result["previous"], population, multiplier, False)
            prev_label, prev_months = previous.describe(result["months_previous"])

        sink_fields = self._output_fields(previous is not None)
        sink, dest_id = self.parameterAsSink(
            parameters, self.OUTPUT, context, sink_fields, ward["wkb_type"], wards.sourceCrs()
        )
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        # Everything slow is done before the sink exists, so a cancelled run leaves no output; writing
        # a few hundred wards is not interrupted half way.
        for i, code in enumerate(codes):
            f = QgsFeature(sink_fields)
            f.setGeometry(ward["geometries"][i])
            attrs = [
                code,
                ward["names"][i],
                int(table.count[i]),
                _num(table.population[i]),
                n_months,
                period_label,
                _num(table.rate[i]),
                _num(table.limits[0.95][0][i]),
                _num(table.limits[0.95][1][i]),
                _num(table.limits[0.998][0][i]),
                _num(table.limits[0.998][1][i]),
                table.comparison[i],
                _num(table.overall_rate),
                _num(table.eb_rate[i]),
                None if not np.isfinite(table.rank[i]) else int(table.rank[i]),
                table.flags[i] or None,
            ]
            if prev_table is not None:
                attrs += self._change_attributes(table, prev_table, i, population[i], n_months, prev_months, prev_label)
            f.setAttributes(attrs)
            sink.addFeature(f, QgsFeatureSink.FastInsert)
        del sink

        without_rate = int(np.sum(~np.isfinite(table.rate)))
        report.extend(result["report"])
        report.append(
            f"Overall rate {table.overall_rate:.3f} per {multiplier:g} residents, {period_label} "
            f"({n_months if n_months is not None else '?'} months); {without_rate} ward(s) without a rate."
        )
        counts_by_label = {lab: table.comparison.count(lab) for lab in rates.COMPARISON_LABELS}
        report.append("Comparison with all wards: " + ", ".join(f"{k}: {v}" for k, v in counts_by_label.items()))
        for line in report:
            feedback.pushInfo(line)
        for line in unmatched:
            feedback.pushWarning(self.tr("Codes that do not match: ") + line)

        plot_path = self.parameterAsFileOutput(parameters, self.FUNNEL_PLOT, context)
        results = {}
        if plot_path:
            title = f"Ward crime rates ({result['what']}), {period_label}: funnel plot"
            drawn = draw_funnel_plot(
                plot_path, table.population, table.rate, table.comparison, table.overall_rate, multiplier, title
            )
            feedback.pushInfo(f"Funnel plot of {drawn} wards written to {plot_path}")
            results[self.FUNNEL_PLOT] = plot_path

        if not breaks:
            breaks = quantile_breaks(table.rate)
        unit = f"crimes per {multiplier:,.0f} residents, {period_label}"
        describe_layer(
            context,
            dest_id,
            title=f"Ward crime rates: {unit}",
            abstract=(
                f"Crimes by ward and rate ({unit}). {result['description']} Population: "
                f"{'field ' + pop_field if pop_field else 'population table'}. 95 % and 99.8 % confidence limits: "
                "exact Poisson below 10 crimes, Byar's method from 10 (PHEindicatormethods phe_rate). vs_all compares "
                "each ward with the rate of all wards by an exact two-sided Poisson test at 95 % and 99.8 %. "
                "eb_rate: GeoDa Empirical Bayes. "
                f"rank 1 = highest rate. {BOUNDARY_RULE} Wards without a usable population have no rate and a flag."
            ),
            keywords=["crime", "rate", "ward", period_label],
            style=rate_style("rate", breaks, f"crimes per {multiplier:,.0f} residents", f"Ward crime rates: {unit}"),
        )
        results.update(
            {
                self.OUTPUT: dest_id,
                self.CRIMES_READ: result["read"],
                self.CRIMES_COUNTED: int(table.count.sum()),
                self.OUTSIDE_WARDS: result.get("outside", 0),
                self.ON_BOUNDARY: result.get("on_boundary", 0),
                self.NO_LOCATION: result.get("no_location", 0),
                self.LEFT_OUT_MONTHS: result["left_out_months"],
                self.LEFT_OUT_TYPES: result["left_out_types"],
                self.UNMATCHED_CRIMES: result.get("unmatched_crimes", 0),
                self.UNMATCHED_CODES: "; ".join(unmatched),
                self.WARDS_WITHOUT_RATE: without_rate,
                self.OVERALL_RATE: _num(table.overall_rate),
                self.MONTHS: n_months,
                self.PERIOD: period_label,
                self.REPORT: "\n".join(report + unmatched),
            }
        )
        return results

    @staticmethod
    def _change_attributes(table, prev, i, population, months, prev_months, prev_label) -> list:
        before, after = int(prev.count[i]), int(table.count[i])
        pop = prev.population[i]
        if not (np.isfinite(pop) and pop > 0) or not months or not prev_months:
            return [before, prev_months, prev_label, _num(prev.rate[i]), None, None, None]
        per_month_before = before / prev_months
        per_month_after = after / months
        change = (per_month_after / per_month_before - 1.0) * 100.0 if per_month_before > 0 else None
        p_value = rates.change_test(before, after, pop * prev_months, pop * months)
        return [
            before,
            prev_months,
            prev_label,
            _num(prev.rate[i]),
            change,
            _num(p_value),
            rates.change_label(p_value, per_month_before, per_month_after),
        ]

    @staticmethod
    def _output_fields(with_previous: bool) -> QgsFields:
        spec = [
            ("ward_code", QVariant.String),
            ("ward_name", QVariant.String),
            ("crimes", QVariant.Int),
            ("population", QVariant.Double),
            ("months", QVariant.Int),
            ("period", QVariant.String),
            ("rate", QVariant.Double),
            ("rate_lcl95", QVariant.Double),
            ("rate_ucl95", QVariant.Double),
            ("rate_lcl998", QVariant.Double),
            ("rate_ucl998", QVariant.Double),
            ("vs_all", QVariant.String),
            ("rate_all", QVariant.Double),
            ("eb_rate", QVariant.Double),
            ("rank", QVariant.Int),
            ("flag", QVariant.String),
        ]
        if with_previous:
            spec += [
                ("prev_crimes", QVariant.Int),
                ("prev_months", QVariant.Int),
                ("prev_period", QVariant.String),
                ("prev_rate", QVariant.Double),
                ("change_pct", QVariant.Double),
                ("change_p", QVariant.Double),
                ("change_sig", QVariant.String),
            ]
        fields = QgsFields()
        for name, kind in spec:
            fields.append(QgsField(name, kind))
        return fields

    def _read_wards(self, source, code_field, name_field, pop_field, feedback) -> dict:
        fields = source.fields()
        for label, fname in (("ward code", code_field), ("ward name", name_field), ("population", pop_field)):
            if fname and fields.lookupField(fname) < 0:
                raise QgsProcessingException(
                    f"The ward layer has no field '{fname}' ({label}); its fields are: {', '.join(fields.names())}."
                )
        rows = []
        for f in source.getFeatures():
            code = f[code_field]
            if code is None or (isinstance(code, QVariant) and code.isNull()) or str(code).strip() == "":
                raise QgsProcessingException(
                    f"Ward feature {f.id()} has no code in field '{code_field}': every ward needs a unique code."
                )
            name = f[name_field] if name_field else None
            pop = f[pop_field] if pop_field else None
            rows.append(
                (str(code).strip(), None if _is_null(name) else str(name), None if _is_null(pop) else pop, f.geometry())
            )
        codes = [r[0] for r in rows]
        dupes = sorted({c for c in codes if codes.count(c) > 1}) if len(set(codes)) != len(codes) else []
        if dupes:
            raise QgsProcessingException(
                f"Ward codes must be unique in field '{code_field}'; repeated: {short_list(dupes)}. Dissolve the ward "
                "layer by code or choose another code field."
            )
        # Ordering by code makes the boundary rule (lowest code wins) a property of the order.
        rows.sort(key=lambda r: r[0])
        wkb_type = QgsWkbTypes.multiType(QgsWkbTypes.flatType(source.wkbType()))
        geometries = []
        for r in rows:
            g = QgsGeometry(r[3])
            if not g.isNull():
                g.convertToMultiType()
                # The output is 2D (the counting is): drop Z and M rather than let the sink refuse them.
                g.get().dropZValue()
                g.get().dropMValue()
            geometries.append(g)
        return {
            "codes": [r[0] for r in rows],
            "names": [r[1] for r in rows],
            "population": [r[2] for r in rows],
            "geometries": geometries,
            "wkb_type": wkb_type,
        }

    @staticmethod
    def _edges(geometries) -> list[pip.Edges]:
        out = []
        for g in geometries:
            if g is None or g.isNull():
                out.append(pip.edges_from_rings([]))
                continue
            geom = g.constGet()
            if QgsWkbTypes.isCurvedType(geom.wkbType()):
                geom = geom.segmentize()
            out.append(pip.edges_from_rings(pip.rings_from_wkb(bytes(QgsGeometry(geom.clone()).asWkb()))))
        return out

    def _read_population(self, parameters, context, codes, unmatched) -> list:
        source = self.parameterAsSource(parameters, self.POPULATION_TABLE, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.POPULATION_TABLE))
        code_field = self.parameterAsString(parameters, self.POP_CODE_FIELD, context) or "ward_code"
        value_field = self.parameterAsString(parameters, self.POP_VALUE_FIELD, context) or "population"
        _require_fields(source, "population table", (code_field, value_field))
        table_codes, values = [], []
        request = QgsFeatureRequest().setFlags(QgsFeatureRequest.NoGeometry)
        request.setSubsetOfAttributes([code_field, value_field], source.fields())
        for f in source.getFeatures(request):
            table_codes.append(None if _is_null(f[code_field]) else str(f[code_field]))
            values.append(None if _is_null(f[value_field]) else f[value_field])
        population, unknown, duplicated = population_by_code(table_codes, values, codes)
        if duplicated:
            raise QgsProcessingException(
                f"The population table has ward codes on more than one row in '{code_field}': "
                f"{short_list(duplicated)}. Give one row per ward."
            )
        if unknown:
            unmatched.append(f"population table codes not among the wards ({len(unknown)}): {short_list(unknown)}")
        return population

    def _count_table(self, parameters, context, feedback, codes, current, previous) -> dict:
        source = self.parameterAsSource(parameters, self.COUNTS_TABLE, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.COUNTS_TABLE))
        code_field = self.parameterAsString(parameters, self.COUNTS_CODE_FIELD, context) or "ward_code"
        count_field = self.parameterAsString(parameters, self.COUNTS_FIELD, context) or "count"
        month_field = self.parameterAsString(parameters, self.MONTH_FIELD, context).strip()
        cat_field = self.parameterAsString(parameters, self.CATEGORY_FIELD, context)
        cat_text = self.parameterAsString(parameters, self.CATEGORY_VALUES, context)
        keep_cats = {v.strip().casefold() for v in cat_text.split(",") if v.strip()}
        if keep_cats and not cat_field:
            raise QgsProcessingException("Categories to keep were given without a category field: choose the field.")
        needs_month = current.start or current.end or previous is not None
        has_month = bool(month_field) and source.fields().lookupField(month_field) >= 0
        if needs_month and not has_month:
            raise QgsProcessingException(
                f"The count table has no month field '{month_field}' but a month range was given: set the month field."
            )
        wanted = [code_field, count_field] + ([month_field] if has_month else []) + ([cat_field] if cat_field else [])
        _require_fields(source, "count table", wanted)
        columns = [code_field, count_field] + ([cat_field] if cat_field else [])
        table = self._read_table(parameters, context, source, columns, month_field if has_month else None, feedback)
        rows_code = table[code_field]
        rows_count = table[count_field]
        rows_cat = table[cat_field] if cat_field else [None] * len(rows_code)
        months = table[month_field] if has_month else np.full(len(rows_code), -1, dtype=np.int64)
        counts = np.array([_safe_float(v) for v in rows_count]) if isinstance(rows_count, list) else rows_count
        cat_ok = np.ones(len(counts), dtype=bool)
        if keep_cats:
            keep = {c: c is not None and str(c).strip().casefold() in keep_cats for c in set(rows_cat)}
            cat_ok = np.fromiter((keep[c] for c in rows_cat), dtype=bool, count=len(rows_cat))
        cur = current.mask(months)
        out = {"report": [], "read": float(np.nansum(counts))}
        sel = np.flatnonzero(cur & cat_ok)
        sums, match, bad = aggregate_table([rows_code[i] for i in sel], counts[sel], codes)
        if bad:
            raise QgsProcessingException(
                f"{len(bad)} row(s) of the count table have a count in '{count_field}' that is not a whole number "
                f"≥ 0 (e.g. table row {sel[bad[0]] + 1}): fix or filter them."
            )
        out["current"] = sums
        out["unmatched_codes"] = match.unmatched
        out["unmatched_crimes"] = match.unmatched_total
        out["months_current"] = months[sel]
        out["left_out_months"] = float(np.nansum(counts[~cur]))
        out["left_out_types"] = float(np.nansum(counts[cur & ~cat_ok]))
        if previous is not None:
            pm = previous.mask(months)
            psel = np.flatnonzero(pm & cat_ok)
            psums, _, _ = aggregate_table([rows_code[i] for i in psel], counts[psel], codes)
            out["previous"] = psums
            out["months_previous"] = months[psel]
        filt = f"categories {cat_field} in {sorted(keep_cats)}" if keep_cats else "all categories"
        out["what"] = cat_text.strip() if keep_cats else "all categories"
        out["description"] = f"Counts from a table of crime counts by ward code ({filt})."
        out["report"].append(
            f"Count table: {out['read']:.0f} crimes in {len(counts)} rows; {sums.sum()} counted in wards, "
            f"{match.unmatched_total:.0f} in rows whose code matches no ward, {out['left_out_months']:.0f} outside "
            f"the months, {out['left_out_types']:.0f} of categories not selected."
        )
        return out

    def _count_points(self, parameters, context, feedback, wards, ward, current, previous) -> dict:
        source = self.parameterAsSource(parameters, self.CRIMES, context)
        if source is None:
            raise QgsProcessingException(self.invalidSourceError(parameters, self.CRIMES))
        month_field = self.parameterAsString(parameters, self.MONTH_FIELD, context).strip()
        types = self.selected_enums(parameters, self.CRIME_TYPES, context)
        groups = self.selected_enums(parameters, self.CRIME_GROUPS, context)
        fields = source.fields()
        has_month = bool(month_field) and fields.lookupField(month_field) >= 0
        if (current.start or current.end or previous is not None) and not has_month:
            raise QgsProcessingException(
                f"The crime points have no month field '{month_field}' but a month range was given: "
                "set the month field."
            )
        wanted = []
        if types:
            wanted.append("crime_type")
        if groups:
            wanted.append("crime_group")
        _require_fields(source, "crime points", wanted)
        feedback.setProgressText(self.tr("Reading crime points"))
        x, y, values, months, how = self._read_points(
            parameters, context, source, wanted, month_field if has_month else None, feedback
        )
        n = len(x)
        type_ok = np.ones(n, dtype=bool)
        if types:
            keep = {crime_types.ALL_TYPES[i].casefold() for i in types}
            labels = {v: v is not None and str(v).strip().casefold() in keep for v in set(values["crime_type"])}
            type_ok &= np.fromiter((labels[v] for v in values["crime_type"]), dtype=bool, count=n)
        if groups:
            keep = {crime_types.GROUPS[i] for i in groups}
            type_ok &= np.fromiter((v in keep for v in values["crime_group"]), dtype=bool, count=n)
        if source.sourceCrs() != wards.sourceCrs() and n:
            transform = QgsCoordinateTransform(source.sourceCrs(), wards.sourceCrs(), context.transformContext())
            x, y = BulkTransformer(transform)(x, y)
        located = np.isfinite(x) & np.isfinite(y)
        cur = current.mask(months)
        prev = previous.mask(months) if previous is not None else np.zeros(n, dtype=bool)
        use = (cur | prev) & type_ok & located
        feedback.setProgressText(self.tr("Counting crimes into wards"))
        polygons = self._edges(ward["geometries"])
        try:
            assigned = pip.assign_points(
                x[use], y[use], polygons, feedback.isCanceled, lambda f: feedback.setProgress(10 + 60 * f)
            )
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err
        owner = np.full(n, -1, dtype=np.int64)
        owner[use] = assigned.polygon
        sel = cur & type_ok & located
        counts = np.bincount(owner[sel & (owner >= 0)], minlength=len(polygons)).astype(np.int64)
        out = {
            "read": n,
            "current": counts,
            "months_current": months[cur & type_ok],
            "left_out_months": int((~cur).sum()),
            "left_out_types": int((cur & ~type_ok).sum()),
            "no_location": int((cur & type_ok & ~located).sum()),
            "outside": int((sel & (owner < 0)).sum()),
            "on_boundary": assigned.on_boundary,
            "unmatched_crimes": 0,
            "unmatched_codes": [],
        }
        if previous is not None:
            psel = prev & type_ok & located
            out["previous"] = np.bincount(owner[psel & (owner >= 0)], minlength=len(polygons)).astype(np.int64)
            out["months_previous"] = months[prev & type_ok]
        filt = []
        if types:
            filt.append("crime types " + ", ".join(crime_types.ALL_TYPES[i] for i in types))
        if groups:
            filt.append("groups " + ", ".join(crime_types.GROUPS[i] for i in groups))
        out["what"] = (
            "; ".join(
                [", ".join(crime_types.ALL_TYPES[i] for i in types)] * bool(types)
                + [", ".join(crime_types.GROUPS[i] for i in groups)] * bool(groups)
            )
            or "all crime types"
        )
        out["description"] = (
            f"Counts of crime points by ward ({'; '.join(filt) if filt else 'all crime types'}; "
            f"crime groups {crime_types.GROUPS_VERSION})."
        )
        balance = counts.sum() + out["outside"] + out["no_location"] + out["left_out_months"] + out["left_out_types"]
        if balance != n:  # a bug, never the user's input
            raise QgsProcessingException(f"Internal error: {n} crimes read but {balance} accounted for.")
        out["report"] = [
            f"Crime points read ({how}): {n}. Counted in wards: {counts.sum()}; outside every ward: {out['outside']}; "
            f"without a location: {out['no_location']}; outside the months: {out['left_out_months']}; "
            f"types not selected: {out['left_out_types']}.",
            f"{assigned.on_boundary} point(s) lay on a ward boundary and {assigned.in_several} matched more than one "
            f"ward; {BOUNDARY_RULE} {assigned.distinct_points} distinct locations were tested.",
        ]
        if out["outside"]:
            feedback.pushWarning(self.tr(f"{out['outside']} crime(s) lie outside every ward and are not in any rate."))
        return out

    def _read_table(self, parameters, context, source, columns, month_field, feedback) -> dict:
        """Return the table's columns (and month numbers), in bulk for a whole GDAL layer."""
        wanted = {c: crime_points.AUTO for c in columns}
        if month_field:
            wanted[month_field] = crime_points.MONTH
        return self._read(parameters, context, self.COUNTS_TABLE, source, wanted, False, feedback).columns

    def _read_points(self, parameters, context, source, wanted, month_field, feedback):
        """Return x, y, the wanted columns, month numbers and how they were read (in bulk from a GeoPackage)."""
        columns = {c: crime_points.TEXT for c in wanted}
        if month_field:
            columns[month_field] = crime_points.MONTH
        table = self._read(parameters, context, self.CRIMES, source, columns, True, feedback)
        if table.multipart:
            feedback.pushWarning(f"{table.multipart} multi-point feature(s) were located at their first point.")
        values = {c: table.columns[c] for c in wanted}
        months = table.columns[month_field] if month_field else np.full(len(table.x), -1, dtype=np.int64)
        return table.x, table.y, values, months, table.how

    def _read(self, parameters, context, name, source, columns, geometry, feedback) -> crime_points.PointTable:
        try:
            return crime_points.read_layer(
                source,
                self.plain_ogr_layer(parameters, name, context),
                columns,
                geometry=geometry,
                is_cancelled=feedback.isCanceled,
                on_fallback=lambda why: feedback.pushInfo(
                    f"Bulk read not possible ({why}); reading feature by feature."
                ),
            )
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err


def _require_fields(source, label: str, names) -> None:
    fields = source.fields()
    missing = [n for n in names if n and fields.lookupField(n) < 0]
    if missing:
        raise QgsProcessingException(
            f"The {label} has no field {', '.join(repr(m) for m in missing)}; "
            f"its fields are: {', '.join(fields.names())}."
        )


def _is_null(value) -> bool:
    return value is None or (isinstance(value, QVariant) and value.isNull())


def _safe_float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _num(value):
    return float(value) if value is not None and np.isfinite(value) else None
