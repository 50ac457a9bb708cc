"""Processing algorithm crimemapping:wardrates: ward crime counts, rates per 1,000 residents and their uncertainty."""

from __future__ import annotations

import os
from dataclasses import dataclass, field

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
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
    QgsWkbTypes,
)

from crime_mapping_plugin.core import areas as area_rule
from crime_mapping_plugin.core import crime_points, crime_types, funnel, postgis, rates, ward_counts
from crime_mapping_plugin.core.gpkg import GeoPackageError, temporary_path
from crime_mapping_plugin.core.months import MonthRange, ranges_text
from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.core.ward_counts import CountTableError, WardCounts
from crime_mapping_plugin.core.ward_rates import (
    FEW_RESIDENTS as FEW_RESIDENTS_DEFAULT,
)
from crime_mapping_plugin.core.ward_rates import (
    FEW_RESIDENTS_NOTE,
    PARENT_TABLE_FIELDS,
    NoRecordsError,
    WardRates,
    WardRatesRequest,
    parents_by_location,
    periods,
    ward_rates,
)
from crime_mapping_plugin.processing import crime_input
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm, short_title
from crime_mapping_plugin.processing.funnel_plot import FunnelData, draw_funnel_plot
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import qgs_fields
from crime_mapping_plugin.processing.rate_style import parse_breaks, quantile_breaks, rate_style

BOUNDARY_RULE = (
    "A crime is counted in the ward whose polygon contains it, boundary included; a point on the "
    "boundary of several wards (or in an overlap) is counted once, in the ward with the lowest ward code."
)


@dataclass
class CountLog:
    """What the counting says: the crimes counted, for titles, and lines for the log and the report."""

    what: str
    description: str
    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    boundaries: str = ""
    population: str = ""


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
    FUNNEL_METHOD = "FUNNEL_METHOD"
    FEW_RESIDENTS = "FEW_RESIDENTS"
    BOROUGH_FIELD = "BOROUGH_FIELD"
    BOROUGHS = "BOROUGHS"
    BOROUGHS_LAYER = "BOROUGHS_LAYER"
    BOROUGH_CODE_FIELD = "BOROUGH_CODE_FIELD"
    BOROUGH_NAME_FIELD = "BOROUGH_NAME_FIELD"
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
    NO_MONTH_CRIMES = "NO_MONTH_CRIMES"
    WARDS_WITHOUT_GEOMETRY = "WARDS_WITHOUT_GEOMETRY"
    MISSING_MONTHS = "MISSING_MONTHS"
    PHI = "PHI"
    TAU2 = "TAU2"
    FEW_RESIDENT_WARDS = "FEW_RESIDENT_WARDS"
    BOUNDARIES = "BOUNDARIES"
    POPULATION_BASIS = "POPULATION_BASIS"
    METHODS = (funnel.OVERDISPERSED, funnel.POISSON)

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
        "months with records are written to every ward: a month of the period with no record at all in the "
        "input (before the type or category choice) is missing data, listed in the log, the report and the "
        "layer's metadata, and not counted as a month (docs/methods.md). With a month range, records whose "
        "month field holds no month are left out and counted. Each part of a multipoint is one crime.<br>"
        "<b>Population</b>: a field of the ward layer or a table joined on the ward code ('Ward populations "
        "from LSOA populations' builds one). A missing, zero, negative or non-numeric (text, infinite) "
        "population gives an empty rate and a flag naming why. A ward with no geometry gets no count of crime "
        "points, no rate and no rank, and a flag. Any boundary set can be counted on (2014, 2018, 2024 wards); "
        "its population comes from 'Ward populations from LSOA populations' with the area polygons. The outputs "
        "BOUNDARIES and POPULATION_BASIS (and the metadata) say which boundaries and population were used; a "
        "count table re-expressed from other boundaries is said to be an estimate (docs/methods.md §1.5, "
        "§1.6).<br>"
        "<b>Confidence limits</b> (95 % and 99.8 %): exact Poisson limits below 10 crimes "
        "(χ²(α/2; 2x)/2, χ²(1−α/2; 2x+2)/2) and Byar's method from 10, divided by the population and "
        "multiplied by the multiplier (PHEindicatormethods phe_rate).<br>"
        "<b>Comparison with all wards</b> (vs_all): the overall rate is Σcrimes/Σpopulation over wards with a "
        "rate; a ward's expected crimes are E = overall rate × its population (field expected). Default "
        "(overdispersion-adjusted, Spiegelhalter 2005, as FunnelPlotR's SHMI method): z = √E·ln(crimes/E); the wards "
        "with the 10 % lowest and 10 % highest z are left out of the estimate; φ (PHI) = mean z² of the others is "
        "the overdispersion, how much more ward counts vary than chance alone would make them (1 = as Poisson "
        "chance); τ² (TAU2) = max(0, (nφ − (n − 1))/(ΣE − ΣE²/ΣE)) is the variance of the true log ratios between "
        "wards; the limits are exp(±z_α·√(1/E + τ²)) × overall rate (z_α = 1.96, 3.09). When φ ≤ 1, or with the "
        "exact Poisson choice, the limits are χ²(α/2; 2E)/2 and χ²(1−α/2; 2E+2)/2 divided by the population. A ward "
        "is only called higher when its own lower confidence limit (rate_lcl95 / rate_lcl998) is above the overall "
        "rate, and lower when its own upper limit is below it: the written limits funnel_lcl95 … funnel_ucl998 "
        "(rate scale) are the funnel limits widened just enough for that, and vs_all is exactly 'outside the "
        "written limits' (strictly; 99.8 % first). So the flag never contradicts the printed confidence limits, "
        "and the funnel plot draws exactly the written limits. A ward with no crime takes part (its z is −∞, so it "
        "falls among the lowest and is left out of φ) and can be lower only when even zero crimes are unlikely "
        "(E above 3.7 at 95 %, 6.9 at 99.8 %). Wards without a usable population (or geometry) have no E, no limits "
        "and no vs_all; they are not in the overall rate, φ or τ².<br>"
        "<b>Few residents</b>: a ward with a rate from fewer than {:,.0f} residents (the City of London wards) is "
        "kept, with residents_note '{}': crimes there are mostly against workers and visitors, so a rate per "
        "resident misleads.<br>"
        "<b>Ward against borough against London</b> (with a borough field, or a borough polygon layer: a ward "
        "goes to the borough that holds its point on surface, a point always inside the ward, by the same "
        "area rule as a crime in a ward; wards nest in boroughs, so any inner point names the right one; a ward "
        "in no borough is listed and has no vs_borough): a borough's crimes and residents are "
        "the sums over its wards with a rate (never recounted), 'all wards' the sums over every ward with a rate "
        "(its rate is the overall rate); each has exact/Byar limits as a ward has (optional table BOROUGHS). "
        "vs_borough compares a ward with its own borough's rate by the exact Poisson limits at E = borough rate "
        "× residents with the same agreement rule (borough_lcl95 … borough_ucl998; a borough has too few wards "
        "to estimate overdispersion). The ward is part of its borough, so this asks whether it stands out within "
        "it.<br>"
        "<b>Empirical Bayes</b> (optional): GeoDa's smoothed rate, shrinking small wards towards the overall rate.<br>"
        "<b>Comparison period</b> (optional; it may share no month with the main period, as the test takes the "
        "two counts as independent): counts and rates of an earlier month range, the change and the Poisson "
        "E-test of it (Krishnamoorthy & Thomson 2004), with exposure = population × months with records of each "
        "period: p sums the probabilities, at the pooled rate, of all pairs of counts whose standardised "
        "difference is at least the observed one. 'increase'/'decrease' at 95 % when p < 0.05, at 99.8 % when "
        "p < 0.002. change_pct is the change of the monthly rate in %, so periods of different lengths compare "
        "fairly.<br>"
        "<b>Output</b>: the ward polygons with count, population, rate, limits, comparison, smoothed rate, "
        "rank (1 = highest rate) and flag, styled by classes of the rate (fix the class breaks to map two "
        "periods on one scale), and optionally a funnel plot PNG. Either every output is written or none: the "
        "plot is drawn to a temporary file first."
    ).format(FEW_RESIDENTS_DEFAULT, FEW_RESIDENTS_NOTE)

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        # The ward polygons first: the field parameters of the wards follow them in the dialog.
        self._add_ward_parameters()
        self._add_crime_parameters()
        self._add_month_parameters()
        self._add_result_parameters()

    def _add_crime_parameters(self) -> None:
        crimes = QgsProcessingParameterFeatureSource(
            self.CRIMES,
            self.tr("Crime points (these or a table of crime counts below)"),
            [QgsProcessing.TypeVectorPoint],
            optional=True,
        )
        crimes.setHelp(
            self.tr("Crime points, e.g. from 'Import police.uk street crime'; any CRS (reprojected to the wards').")
        )
        self.addParameter(crimes)
        table = QgsProcessingParameterFeatureSource(
            self.COUNTS_TABLE,
            self.tr("Or: table of crime counts by ward code (this or crime points above)"),
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

    def _add_month_parameters(self) -> None:
        month_field = QgsProcessingParameterString(self.MONTH_FIELD, self.tr("Month field"), "month", optional=True)
        month_field.setHelp(
            self.tr(
                "The field holding the month in the crime points or table: a date, or text YYYY-MM, YYYY-MM-DD or "
                "YYYYMM (anything else is no month)."
            )
        )
        month_field.setFlags(month_field.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(month_field)
        for name, label, help_text in (
            (self.START_MONTH, "First month (YYYY-MM)", "Inclusive; empty: from the first month in the data."),
            (self.END_MONTH, "Last month (YYYY-MM)", "Inclusive; empty: to the last month in the data."),
            (
                self.PREV_START_MONTH,
                "Comparison period: first month (YYYY-MM)",
                "Inclusive; set both ends for a comparison; no month may be in the main period too.",
            ),
            (
                self.PREV_END_MONTH,
                "Comparison period: last month (YYYY-MM)",
                "Inclusive; set both ends for a comparison; no month may be in the main period too.",
            ),
        ):
            param = QgsProcessingParameterString(name, self.tr(label), optional=True)
            param.setHelp(self.tr(help_text))
            self.addParameter(param)

    def _add_ward_parameters(self) -> None:
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
        borough = QgsProcessingParameterField(
            self.BOROUGH_FIELD, self.tr("Borough field of the ward layer"), None, self.WARDS, optional=True
        )
        borough.setHelp(
            self.tr(
                "The code or name of each ward's borough (e.g. LAD24CD), for the comparison of each ward with its "
                "borough (fields borough, rate_borough, vs_borough) and the borough table; empty: no borough "
                "comparison."
            )
        )
        self.addParameter(borough)
        self._add_borough_layer_parameters()
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

    def _add_borough_layer_parameters(self) -> None:
        layer = QgsProcessingParameterFeatureSource(
            self.BOROUGHS_LAYER,
            self.tr("Or: borough polygons (a ward's borough by location)"),
            [QgsProcessing.TypeVectorPolygon],
            optional=True,
        )
        layer.setHelp(
            self.tr(
                "Instead of the borough field: each ward goes to the borough polygon holding its point on surface "
                "(a point always inside the ward; boundary inside, lowest borough code first). Any CRS."
            )
        )
        self.addParameter(layer)
        code = QgsProcessingParameterField(
            self.BOROUGH_CODE_FIELD, self.tr("Borough code field"), "LAD24CD", self.BOROUGHS_LAYER, optional=True
        )
        code.setHelp(self.tr("Unique borough code (e.g. LAD24CD); written as the ward's borough without a name field."))
        self.addParameter(code)
        name = QgsProcessingParameterField(
            self.BOROUGH_NAME_FIELD, self.tr("Borough name field"), None, self.BOROUGHS_LAYER, optional=True
        )
        name.setHelp(self.tr("Optional; when given, the (unique) name is written as the ward's borough."))
        self.addParameter(name)

    def _add_result_parameters(self) -> None:
        mult = QgsProcessingParameterNumber(
            self.MULTIPLIER, self.tr("Rate per (residents)"), QgsProcessingParameterNumber.Double, 1000.0, minValue=1.0
        )
        mult.setHelp(self.tr("Rates are crimes per this many residents over the whole period; 1,000 is usual."))
        mult.setFlags(mult.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(mult)
        smooth = QgsProcessingParameterBoolean(self.SMOOTH, self.tr("Add Empirical Bayes smoothed rates"), True)
        smooth.setHelp(self.tr("GeoDa's Empirical Bayes rate, in the same unit as the rate."))
        self.addParameter(smooth)
        method = QgsProcessingParameterEnum(
            self.FUNNEL_METHOD,
            self.tr("Limits of the comparison with all wards"),
            options=[
                self.tr("Adjusted for overdispersion (Spiegelhalter; FunnelPlotR SHMI)"),
                self.tr("Exact Poisson (no overdispersion)"),
            ],
            defaultValue=0,
        )
        method.setHelp(
            self.tr(
                "Funnel limits at each ward's expected crimes, for vs_all and the funnel plot. Adjusted (default): "
                "widened by the between-ward variance τ² estimated from the wards themselves, so that only wards "
                "unusual beyond ordinary ward-to-ward variation are flagged. Exact Poisson: chance alone; with "
                "overdispersed counts most wards then fall outside."
            )
        )
        method.setFlags(method.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(method)
        few = QgsProcessingParameterNumber(
            self.FEW_RESIDENTS,
            self.tr("Few residents below (persons)"),
            QgsProcessingParameterNumber.Double,
            FEW_RESIDENTS_DEFAULT,
            minValue=0.0,
        )
        few.setHelp(
            self.tr(
                "A ward with a rate from fewer residents keeps it, with residents_note '{}'. The default {:,.0f} "
                "is under half of London's smallest borough ward and above every City of London ward; 0: never."
            ).format(FEW_RESIDENTS_NOTE, FEW_RESIDENTS_DEFAULT)
        )
        few.setFlags(few.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(few)
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
        boroughs = QgsProcessingParameterFeatureSink(
            self.BOROUGHS,
            self.tr("Borough and all-ward rates"),
            QgsProcessing.TypeVector,
            optional=True,
            createByDefault=False,
        )
        boroughs.setHelp(
            self.tr(
                "A table with one row per borough and a last row 'all wards': wards with a rate, their crimes and "
                "residents summed (never recounted), rate and 95 % / 99.8 % limits. Needs the borough field or "
                "the borough polygons."
            )
        )
        self.addParameter(boroughs)
        plot = QgsProcessingParameterFileDestination(
            self.FUNNEL_PLOT, self.tr("Funnel plot"), self.tr("PNG image (*.png)"), optional=True, createByDefault=True
        )
        plot.setHelp(
            self.tr(
                "Rate against expected crimes with the written 95 % and 99.8 % limits of every ward joined into "
                "curves, outlying wards named, φ and τ² stated (PNG)."
            )
        )
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
                (self.MONTHS, "Number of months with records"),
                (self.NO_MONTH_CRIMES, "Crimes without a usable month (a month range was given)"),
                (self.WARDS_WITHOUT_GEOMETRY, "Wards without a geometry (with crime points: no count, no rate)"),
                (self.PHI, "Overdispersion φ of the ward counts (1 = Poisson chance only)"),
                (self.TAU2, "Between-ward variance τ² of the log ratio crimes/expected"),
                (self.FEW_RESIDENT_WARDS, "Wards with a rate from few residents (residents_note)"),
            ),
            texts=[
                (self.UNMATCHED_CODES, "Ward codes that do not match"),
                (self.MISSING_MONTHS, "Months of the periods without any record (missing data)"),
                (self.PERIOD, "Period"),
                (self.BOUNDARIES, "Boundaries counted on"),
                (self.POPULATION_BASIS, "Population used (vintage, lookup)"),
                (self.REPORT, "Report"),
            ],
        )

    def _periods(self, parameters: dict, context: QgsProcessingContext) -> tuple[MonthRange, MonthRange | None]:
        names = (self.START_MONTH, self.END_MONTH, self.PREV_START_MONTH, self.PREV_END_MONTH)
        return periods(*(self.parameterAsString(parameters, name, context) for name in names))

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        has_points = parameters.get(self.CRIMES) not in (None, "")
        has_table = parameters.get(self.COUNTS_TABLE) not in (None, "")
        if not has_points and not has_table:
            return False, self.tr("Choose the crime points or a table of crime counts by ward code (one is needed).")
        if has_points and has_table:
            return False, self.tr("Choose the crime points or a table of crime counts by ward code, not both.")
        has_pop_field = bool(self.parameterAsString(parameters, self.POPULATION_FIELD, context))
        has_pop_table = parameters.get(self.POPULATION_TABLE) not in (None, "")
        if has_pop_field == has_pop_table:
            return False, self.tr(
                "Give either a population field of the ward layer or a population table (one of the two)."
            )
        if self.parameterAsString(parameters, self.BOROUGH_FIELD, context) and parameters.get(
            self.BOROUGHS_LAYER
        ) not in (None, ""):
            return False, self.tr("Give either a borough field of the ward layer or borough polygons (one of the two).")
        if self.parameterAsString(parameters, self.CATEGORY_VALUES, context).strip() and not self.parameterAsString(
            parameters, self.CATEGORY_FIELD, context
        ):
            return False, self.tr("Categories to keep were given without a category field: choose the field.")
        try:
            self._periods(parameters, context)
            parse_breaks(self.parameterAsString(parameters, self.CLASS_BREAKS, context))
        except ValueError as err:
            return False, str(err)
        return True, ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        request, breaks = self._request(parameters, context)
        wards = crime_input.source_of(self, parameters, self.WARDS, context)
        name_field = self.parameterAsString(parameters, self.WARD_NAME_FIELD, context)
        pop_field = self.parameterAsString(parameters, self.POPULATION_FIELD, context)
        borough_field = self.parameterAsString(parameters, self.BOROUGH_FIELD, context)
        areas = self._read_wards(parameters, context, wards, name_field, pop_field, feedback, borough_field)
        notes: list[str] = []
        if parameters.get(self.CRIMES) not in (None, ""):
            counts, log = self._count_points(parameters, context, feedback, wards, areas, request)
        else:
            counts, log = self._count_table(parameters, context, feedback, areas, request, notes)
        feedback.setProgress(75)
        code_field = self.parameterAsString(parameters, self.WARD_CODE_FIELD, context) or "WD24CD"
        log.boundaries = crime_input.boundaries_text(self, parameters, self.WARDS, context, code_field, len(areas))
        if pop_field:
            population = areas.attributes[pop_field]
            log.population = self.tr("field {} of the ward layer").format(pop_field)
        else:
            population = self._read_population(parameters, context, areas.codes, notes, log)
        log.lines.append(self.tr("Boundaries: {}. Population: {}").format(log.boundaries, log.population))
        names = [None if v is None else str(v) for v in areas.attributes.get(name_field, [None] * len(areas))]
        try:
            parents = self._parents(parameters, context, areas, wards, borough_field, log, feedback)
            result = ward_rates(request, areas.codes, names, counts, population, parents)
        except NoRecordsError as err:
            raise QgsProcessingException(str(err)) from err
        without_rate = self._without_rate(result)
        # All outputs or none: the plot goes to a temporary file beside its destination first.
        plot = self._funnel_plot(parameters, context, result, log)
        try:
            dest_id = self._write(parameters, context, result, areas, wards)
        except BaseException:
            if plot:
                os.remove(plot[0])
            raise
        outputs = {}
        if plot:
            os.replace(*plot)
            feedback.pushInfo(self.tr("Funnel plot written to {}").format(plot[1]))
            outputs[self.FUNNEL_PLOT] = plot[1]
        report = self._report(result, log, notes, without_rate, feedback)
        self._describe(context, dest_id, result, log, pop_field, breaks)
        # UNMATCHED_CODES has always listed the wards without a population beside the codes that do not match.
        outputs.update(self._numbers(result, notes + without_rate, report, len(areas.empty)))
        outputs[self.OUTPUT] = dest_id
        outputs[self.BOUNDARIES] = log.boundaries
        outputs[self.POPULATION_BASIS] = log.population
        if result.boroughs is not None and parameters.get(self.BOROUGHS) not in (None, ""):
            outputs[self.BOROUGHS] = self._write_boroughs(parameters, context, result)
        return outputs

    def _request(self, parameters: dict, context: QgsProcessingContext) -> tuple[WardRatesRequest, list[float]]:
        try:
            current, previous = self._periods(parameters, context)
            breaks = parse_breaks(self.parameterAsString(parameters, self.CLASS_BREAKS, context))
        except ValueError as err:
            raise QgsProcessingException(str(err)) from err
        request = WardRatesRequest(
            months=current,
            previous=previous,
            multiplier=self.parameterAsDouble(parameters, self.MULTIPLIER, context),
            smooth=self.parameterAsBoolean(parameters, self.SMOOTH, context),
            method=self.METHODS[self.parameterAsEnum(parameters, self.FUNNEL_METHOD, context)],
            few_residents=self.parameterAsDouble(parameters, self.FEW_RESIDENTS, context),
        )
        return request, breaks

    def _read_wards(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        source: QgsFeatureSource,
        name_field: str,
        pop_field: str,
        feedback: QgsProcessingFeedback,
        borough_field: str = "",
    ) -> area_rule.Areas:
        """Read the wards in code order (the area rule), refusing a missing field, a blank or a repeated code."""
        code_field = self.parameterAsString(parameters, self.WARD_CODE_FIELD, context) or "WD24CD"
        names = source.fields().names()
        for label, fname in (
            ("ward code", code_field),
            ("ward name", name_field),
            ("population", pop_field),
            ("borough", borough_field),
        ):
            if fname and fname not in names:
                raise QgsProcessingException(
                    self.tr("The ward layer has no field '{}' ({}); its fields are: {}.").format(
                        fname, label, ", ".join(names)
                    )
                )
        fields = list(dict.fromkeys(f for f in (name_field, pop_field, borough_field) if f))
        try:
            areas = area_rule.read_areas(source, None, None, code_field, fields, "ward", feedback.isCanceled)
        except area_rule.AreaInputError as err:
            raise QgsProcessingException(str(err)) from err
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err
        return areas

    def _parents(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        areas: area_rule.Areas,
        wards: QgsFeatureSource,
        borough_field: str,
        log: CountLog,
        feedback: QgsProcessingFeedback,
    ) -> list | None:
        """Return each ward's borough: from the borough field, by location in the borough polygons, or None."""
        if borough_field:
            return areas.attributes[borough_field]
        if parameters.get(self.BOROUGHS_LAYER) in (None, ""):
            return None
        source = crime_input.source_of(self, parameters, self.BOROUGHS_LAYER, context)
        code_field = self.parameterAsString(parameters, self.BOROUGH_CODE_FIELD, context) or "LAD24CD"
        name_field = self.parameterAsString(parameters, self.BOROUGH_NAME_FIELD, context)
        try:
            boroughs = area_rule.read_areas(
                source,
                wards.sourceCrs(),
                context.transformContext(),
                code_field,
                [name_field] if name_field else [],
                "borough",
                feedback.isCanceled,
            )
        except area_rule.AreaInputError as err:
            raise QgsProcessingException(str(err)) from err
        labels = boroughs.codes
        if name_field:
            labels = [
                boroughs.codes[k] if crime_input.is_null(v) else str(v)
                for k, v in enumerate(boroughs.attributes[name_field])
            ]
            repeated = sorted({v for v in labels if labels.count(v) > 1})
            if repeated:
                raise QgsProcessingException(
                    self.tr("Borough names must be unique in '{}' of the borough layer; repeated: {}.").format(
                        name_field, short_list(repeated)
                    )
                )
        try:
            parents = parents_by_location(areas.geometries, boroughs, labels, feedback.isCanceled)
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err
        placed = [p for p in parents if p is not None]
        log.lines.append(
            self.tr(
                "Boroughs by location ({}): {} ward(s) placed in {} of {} boroughs by their point on surface."
            ).format(source.sourceName(), len(placed), len(set(placed)), len(boroughs))
        )
        lost = [c for c, p, g in zip(areas.codes, parents, areas.geometries) if p is None and not g.isEmpty()]
        if lost:
            log.warnings.append(
                self.tr("{} ward(s) lie in no borough polygon (no vs_borough): {}.").format(len(lost), short_list(lost))
            )
        return parents

    def _read_population(
        self, parameters: dict, context: QgsProcessingContext, codes: list[str], notes: list[str], log: CountLog
    ) -> list:
        table = crime_input.read_population_table(self, parameters, context, codes)
        log.population = table.basis
        if table.unknown:
            notes.append(
                self.tr("population table codes not among the wards ({}): {}").format(
                    len(table.unknown), short_list(table.unknown)
                )
            )
        return table.values

    def _without_rate(self, result: WardRates) -> list[str]:
        """List the wards without a rate by reason (no population, not a number …), naming them."""
        by_flag: dict[str, list[str]] = {}
        for code, flag in zip(result.codes, result.table.flags):
            if flag:
                by_flag.setdefault(flag, []).append(code)
        by_flag.pop(rates.FLAG_NO_GEOMETRY, None)  # the counting's own warning says it, and why
        lines = []
        for flag, codes in by_flag.items():
            if flag == rates.FLAG_NO_POPULATION:
                lines.append(self.tr("wards without a population ({}): {}").format(len(codes), short_list(codes)))
            else:
                lines.append(self.tr("wards flagged '{}' ({}): {}").format(flag, len(codes), short_list(codes)))
        return lines

    def _count_table(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        areas: area_rule.Areas,
        request: WardRatesRequest,
        notes: list[str],
    ) -> tuple[WardCounts, CountLog]:
        source = crime_input.source_of(self, parameters, self.COUNTS_TABLE, context)
        month_field = self._month_field(parameters, context, source, request, self.tr("count table"))
        read = crime_input.read_count_table(self, parameters, context, feedback, source, month_field)
        try:
            counts = ward_counts.count_table(
                read.columns[read.code_field],
                read.counts,
                read.columns[month_field] if month_field else None,
                read.chosen,
                areas.codes,
                request.months,
                request.previous,
            )
        except CountTableError as err:
            raise QgsProcessingException(str(err)) from err
        if counts.unmatched_codes:
            notes.append(
                self.tr("count table codes not among the wards ({}, {} crimes): {}").format(
                    len(counts.unmatched_codes),
                    counts.left_out[ward_counts.UNMATCHED_CODE],
                    short_list(counts.unmatched_codes),
                )
            )
        keep = read.categories
        what = self.parameterAsString(parameters, self.CATEGORY_VALUES, context).strip() if keep else "all categories"
        filt = f"categories {read.category_field} in {sorted(k.casefold() for k in keep)}" if keep else "all categories"
        estimate = crime_input.estimate_note(self, read)
        log = CountLog(what, f"Counts from a table of crime counts by ward code ({filt}). {estimate}".strip())
        if estimate:
            log.warnings.append(estimate)
        if areas.empty:
            log.warnings.append(
                self.tr(
                    "{} ward(s) have no geometry: their counts come from the table by code and they are written "
                    "without a shape: {}."
                ).format(len(areas.empty), short_list([areas.codes[i] for i in areas.empty]))
            )
        log.lines.append(
            self.tr("Count table: {} crimes in {} rows; {} counted in wards; left out: {}.").format(
                counts.read, counts.rows, counts.counted, crime_input.reasons_text(counts)
            )
        )
        return counts, log

    def _month_field(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        source: QgsFeatureSource,
        request: WardRatesRequest,
        label: str,
    ) -> str | None:
        """Return the month field when the source has it; refuse a month range without one."""
        name = self.parameterAsString(parameters, self.MONTH_FIELD, context).strip()
        has = bool(name) and source.fields().lookupField(name) >= 0
        if not has and (not request.months.open or request.previous is not None):
            raise QgsProcessingException(
                self.tr("The {} has no month field '{}' but a month range was given: set the month field.").format(
                    label, name
                )
            )
        return name if has else None

    def _count_points(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        wards: QgsFeatureSource,
        areas: area_rule.Areas,
        request: WardRatesRequest,
    ) -> tuple[WardCounts, CountLog]:
        source = crime_input.source_of(self, parameters, self.CRIMES, context)
        month_field = self._month_field(parameters, context, source, request, self.tr("crime points"))
        code_field = self.parameterAsString(parameters, self.WARD_CODE_FIELD, context) or "WD24CD"
        in_db = crime_input.count_in_database(
            self, parameters, context, feedback, source, self.WARDS, areas, code_field, month_field
        )
        read = in_db or crime_input.read_points(
            self, parameters, context, feedback, source, month_field, wards.sourceCrs()
        )
        what = self.input_description(parameters, self.CRIMES, context, read.choice)  # the input's filter said too
        log = CountLog(what, self._points_description(read.types, read.groups).replace("all crime types", what))
        log.lines.append(self.tr("Crimes counted: {}.").format(what))
        log.lines += read.notes
        if in_db is not None:
            counts = ward_counts.count_assigned(areas, in_db.points, request.months, request.previous)
            self._points_log(log, counts, in_db.how, areas.codes)
            return counts, log
        feedback.setProgressText(self.tr("Counting crimes into wards"))
        try:
            counts = ward_counts.count_points(
                areas,
                read.x,
                read.y,
                read.table.columns[month_field] if month_field else None,
                read.chosen,
                request.months,
                request.previous,
                read.had_point,
                feedback.isCanceled,
                lambda f: feedback.setProgress(10 + 60 * f),
            )
        except InterruptedError as err:
            raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err
        self._points_log(log, counts, read.table.how, areas.codes)
        return counts, log

    def _points_description(self, types: list[str], groups: list[str]) -> str:
        filt = (["crime types " + ", ".join(types)] if types else []) + (
            ["groups " + ", ".join(groups)] if groups else []
        )
        return "Counts of crime points by ward ({}; crime groups {}).".format(
            "; ".join(filt) if filt else "all crime types", crime_types.GROUPS_VERSION
        )

    def _points_log(self, log: CountLog, counts: WardCounts, how: str, codes: list[str]) -> None:
        log.lines.append(
            self.tr("Crime points read ({}): {}. Counted in wards: {}; left out: {}.").format(
                how, counts.read, counts.counted, crime_input.reasons_text(counts)
            )
        )
        if how == postgis.IN_DATABASE:
            tested = self.tr("PostGIS tested each point (ST_Intersects, the same rule).")
        else:
            tested = self.tr("{} distinct locations were tested.").format(counts.distinct_points)
        log.lines.append(
            self.tr("{} point(s) lay on a ward boundary and {} matched more than one ward; {} {}").format(
                counts.on_boundary, counts.in_several, BOUNDARY_RULE, tested
            )
        )
        outside = counts.left_out[crime_points.OUTSIDE_AREAS]
        if outside and not counts.counted:
            log.warnings.append(
                self.tr(
                    "Every crime lies outside every ward ({} crimes): check that the crimes and the wards cover "
                    "the same area and that their CRS are right."
                ).format(outside)
            )
        elif outside:
            log.warnings.append(self.tr("{} crime(s) lie outside every ward and are not in any rate.").format(outside))
        if counts.uncountable:
            log.warnings.append(
                self.tr(
                    "{} ward(s) have no geometry, so no crime point can be counted in them: no count, no rate, no "
                    "rank (flag '{}'); crimes in their area are counted as outside every ward: {}."
                ).format(
                    len(counts.uncountable), rates.FLAG_NO_GEOMETRY, short_list([codes[i] for i in counts.uncountable])
                )
            )

    def _write(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        result: WardRates,
        areas: area_rule.Areas,
        wards: QgsFeatureSource,
    ) -> str:
        fields = qgs_fields(result.field_spec())
        wkb_type = QgsWkbTypes.multiType(QgsWkbTypes.flatType(wards.wkbType()))
        sink, dest_id = self.parameterAsSink(parameters, self.OUTPUT, context, fields, wkb_type, wards.sourceCrs())
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.OUTPUT))
        # Everything slow is done before the sink exists, so a cancelled run leaves no output; writing
        # a few hundred wards is not interrupted half way.
        names = fields.names()
        for geometry, row in zip(areas.geometries, result.rows()):
            f = QgsFeature(fields)
            f.setGeometry(geometry)
            f.setAttributes([row[name] for name in names])
            if not sink.addFeature(f, QgsFeatureSink.FastInsert):
                raise QgsProcessingException(
                    self.tr("Could not write ward {} to {}: {}").format(row["ward_code"], dest_id, sink.lastError())
                )
        del sink
        return dest_id

    def _write_boroughs(self, parameters: dict, context: QgsProcessingContext, result: WardRates) -> str:
        fields = qgs_fields(PARENT_TABLE_FIELDS)
        sink, dest_id = self.parameterAsSink(parameters, self.BOROUGHS, context, fields, QgsWkbTypes.NoGeometry)
        if sink is None:
            raise QgsProcessingException(self.invalidSinkError(parameters, self.BOROUGHS))
        for row in result.parent_rows():
            f = QgsFeature(fields)
            f.setAttributes([row[name] for name in fields.names()])
            sink.addFeature(f, QgsFeatureSink.FastInsert)
        del sink
        return dest_id

    def _report(
        self,
        result: WardRates,
        log: CountLog,
        notes: list[str],
        without_rate: list[str],
        feedback: QgsProcessingFeedback,
    ) -> list[str]:
        table = result.table
        report = list(log.lines)
        report.append(
            self.tr(
                "Overall rate {:.3f} per {:g} residents, {} ({} months with records); {} ward(s) without a rate."
            ).format(
                table.overall_rate,
                result.request.multiplier,
                result.period_label,
                result.months if result.months is not None else "?",
                result.without_rate,
            )
        )
        counts_by_label = {lab: result.funnel.comparison.count(lab) for lab in rates.COMPARISON_LABELS}
        report.append(
            self.tr("Comparison with all wards: {}").format(", ".join(f"{k}: {v}" for k, v in counts_by_label.items()))
        )
        report.append(self._method_text(result) + ".")
        if result.funnel.held_back:
            report.append(
                self.tr(
                    "{} ward(s) lie outside the funnel alone but not outside their written limits: their own "
                    "confidence interval holds the overall rate, so they are not flagged."
                ).format(result.funnel.held_back)
            )
        few = [c for c, f in zip(result.codes, result.few_residents) if f]
        if few:
            report.append(
                self.tr("{} ward(s) have a rate from fewer than {:,.0f} residents ('{}'): {}.").format(
                    len(few), result.request.few_residents, FEW_RESIDENTS_NOTE, short_list(few)
                )
            )
        undated = result.counts.records_without_month
        if undated and result.request.months.open:
            report.append(
                self.tr(
                    "{} record(s) have no usable month; with no month range given they are counted (give a month "
                    "range to leave them out)."
                ).format(undated)
            )
        missing = result.missing_text()
        if missing:
            report.append(missing)
        for line in report:
            feedback.pushInfo(line)
        for line in log.warnings:
            feedback.pushWarning(line)
        if missing:
            feedback.pushWarning(missing)
        for line in notes:
            feedback.pushWarning(self.tr("Codes that do not match: {}").format(line))
        for line in without_rate:
            feedback.pushWarning(self.tr("Wards without a rate: {}").format(line))
        return report + log.warnings

    def _funnel_plot(
        self, parameters: dict, context: QgsProcessingContext, result: WardRates, log: CountLog
    ) -> tuple[str, str] | None:
        """Draw the funnel plot to a temporary file beside its destination: (temporary, destination) or None."""
        plot_path = self.parameterAsFileOutput(parameters, self.FUNNEL_PLOT, context)
        if not plot_path:
            return None
        folder = os.path.dirname(os.path.abspath(plot_path))
        if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
            raise QgsProcessingException(
                self.tr(
                    "The funnel plot cannot be written to {}: its folder does not exist or is not writable."
                ).format(plot_path)
            )
        t, f = result.table, result.funnel
        names = [n or c for n, c in zip(result.names, result.codes)]
        data = FunnelData(
            f.expected,
            t.rate,
            f.comparison,
            names,
            f.limits,
            t.overall_rate,
            t.multiplier,
            self.tr("Ward crime rates ({}), {}: funnel plot").format(log.what, result.period_label),
            self._method_text(result),
        )
        try:
            temporary = temporary_path(folder, ".png")
        except GeoPackageError as err:
            raise QgsProcessingException(str(err)) from err
        try:
            draw_funnel_plot(temporary, data)
        except OSError as err:
            os.remove(temporary)
            raise QgsProcessingException(
                self.tr("The funnel plot cannot be written to {}: {}").format(plot_path, err)
            ) from err
        return temporary, plot_path

    def _method_text(self, result: WardRates) -> str:
        """Say which limits the comparison used, with φ and τ²."""
        f = result.funnel
        if f.adjusted:
            how = self.tr("limits adjusted for overdispersion (Spiegelhalter, FunnelPlotR SHMI)")
        elif f.method == funnel.POISSON:
            how = self.tr("exact Poisson limits (chosen)")
        else:
            how = self.tr("exact Poisson limits (φ ≤ 1: no overdispersion)")
        text = self.tr("{}; φ = {:.3f}, τ² = {:.5f} from {} wards; a ward is flagged only outside its written limits")
        return text.format(how, f.phi, f.tau2, f.n_used)

    def _describe(
        self,
        context: QgsProcessingContext,
        dest_id: str,
        result: WardRates,
        log: CountLog,
        pop_field: str,
        breaks: list[float],
    ) -> None:
        multiplier = result.request.multiplier
        breaks = breaks or quantile_breaks(result.table.rate)
        unit = f"crimes per {multiplier:,.0f} residents, {result.period_label}"
        months = f"{result.months} months with records." if result.months is not None else ""
        title = self.tr("Ward crime rates ({}): {}").format(short_title(log.what), unit)
        describe_layer(
            context,
            dest_id,
            title=title,
            abstract=(
                f"Crimes by ward and rate ({unit}; {months} {result.missing_text()}). {log.description} Boundaries: "
                f"{log.boundaries}. Population: {log.population}. 95 % and 99.8 % confidence limits: "
                "exact Poisson below 10 crimes, Byar's method from 10 (PHEindicatormethods phe_rate). vs_all compares "
                "each ward with the rate of all wards: outside its written limits funnel_lcl95 … funnel_ucl998 "
                f"(rate scale) at its expected crimes (expected), {self._method_text(result)}; a ward is called higher "
                "(lower) only when its own lower (upper) confidence limit is also above (below) the overall rate. "
                f"φ = {result.funnel.phi:.4f} is the overdispersion (mean z² of the untrimmed wards, 1 = Poisson "
                f"chance), τ² = {result.funnel.tau2:.6f} the between-ward variance of ln(crimes/expected). "
                f"residents_note: rate from fewer than {result.request.few_residents:,.0f} residents, misleading. "
                "eb_rate: GeoDa Empirical Bayes. "
                f"rank 1 = highest rate. {BOUNDARY_RULE} Wards without a usable population (or, for crime points, "
                "without a geometry) have no rate and a flag."
            ),
            keywords=["crime", "rate", "ward", result.period_label],
            style=rate_style("rate", breaks, f"crimes per {multiplier:,.0f} residents", title),
        )

    def _numbers(self, result: WardRates, notes: list[str], report: list[str], no_geometry: int) -> dict:
        counts = result.counts
        left = counts.left_out
        missing = "; ".join(f"{name}: {ranges_text(p.missing)}" for name, p in result.missing_months())
        return {
            self.CRIMES_READ: counts.read,
            self.CRIMES_COUNTED: counts.counted,
            self.OUTSIDE_WARDS: left[crime_points.OUTSIDE_AREAS],
            self.ON_BOUNDARY: counts.on_boundary,
            self.NO_LOCATION: left[crime_points.NO_GEOMETRY] + left[crime_points.NOT_REPROJECTED],
            self.LEFT_OUT_MONTHS: left[crime_points.OUTSIDE_MONTHS],
            self.NO_MONTH_CRIMES: left[crime_points.NO_MONTH],
            self.LEFT_OUT_TYPES: left[crime_points.TYPE_NOT_SELECTED],
            self.UNMATCHED_CRIMES: left[ward_counts.UNMATCHED_CODE],
            self.UNMATCHED_CODES: "; ".join(notes),
            self.WARDS_WITHOUT_RATE: result.without_rate,
            self.WARDS_WITHOUT_GEOMETRY: no_geometry,
            self.OVERALL_RATE: _num(result.table.overall_rate),
            self.MONTHS: result.months,
            self.PERIOD: result.period_label,
            self.MISSING_MONTHS: missing,
            self.PHI: _num(result.funnel.phi),
            self.TAU2: _num(result.funnel.tau2),
            self.FEW_RESIDENT_WARDS: int(result.few_residents.sum()),
            self.REPORT: "\n".join(report + notes),
        }


def _num(value: float) -> float | None:
    return float(value) if value is not None and np.isfinite(value) else None
