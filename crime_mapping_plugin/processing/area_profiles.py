"""Processing algorithm crimemapping:areaprofiles: one profile per ward or borough, as a PDF atlas and a website.

The numbers are the layers' numbers: the algorithm runs crimemapping:wardrates once and crimemapping:crimetrends
per harmonised group and for all the crimes as child algorithms, writes their layers into the output folder,
and builds every figure of the pages from those layers' fields (core/profiles.py). The pages are a QGIS print
layout driven by an atlas over the areas (processing/profile_render.py), exported with native:atlaslayouttopdf;
the website is core/profile_site.py's. Everything is written in a temporary folder and moved into place.
"""

from __future__ import annotations

import dataclasses
import os
import shutil

from qgis import processing
from qgis.core import (
    QgsExpression,
    QgsFeature,
    QgsGeometry,
    QgsProcessing,
    QgsProcessingAlgorithm,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingOutputFile,
    QgsProcessingOutputFolder,
    QgsProcessingOutputVectorLayer,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterFile,
    QgsProcessingParameterFolderDestination,
    QgsProcessingParameterString,
    QgsProject,
    QgsSpatialIndex,
    QgsVectorLayer,
)

from crime_mapping_plugin.core import crime_types, profile_site
from crime_mapping_plugin.core import profiles as model
from crime_mapping_plugin.core.gpkg import GeoPackageError, temporary_path
from crime_mapping_plugin.core.months import MonthError, month_numbers, month_parameter, month_text
from crime_mapping_plugin.core.text import short_list
from crime_mapping_plugin.processing import crime_input, profile_render
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.crime_trends import chart_path

KINDS = ("ward", "borough")
WHOLE_FIELD = "profile_whole"  # the constant parent of areas that have none, so that all areas get a row
ALL_CRIMES = "all"
PDF_NAME = "profiles.pdf"
SITE_FOLDER = "site"
DEFINITIONS_PAGE = "definitions.html"  # the website's page of definitions (core/profile_site.py)
METHODS_DOC = "docs/methods.md of the Crime Mapping QGIS plugin, section 11 (Area profiles)"
PARAMETER_HELP = {
    "CRIMES": "Crime points from 'Import police.uk street crime' (fields month, crime_group); any CRS.",
    "COUNTS_TABLE": "Or a table of crime counts by area code and month, e.g. 'Import MPS ward-level crime counts'.",
    "COUNTS_CODE_FIELD": "The area code of each row of the count table, as the area code field holds it.",
    "COUNTS_FIELD": "Number of crimes in the row of the count table (a whole number).",
    "CATEGORY_FIELD": "The category of each row (e.g. major_category): one group per category; empty: no groups.",
    "CATEGORY_VALUES": "Categories to keep, comma-separated (e.g. 'BURGLARY, ROBBERY'); empty keeps all.",
    "MONTH_FIELD": "The month of each row of the count table: a date, or text YYYY-MM, YYYY-MM-DD or YYYYMM.",
    "COUNTS_SOURCE": "The data source of the count table, printed on every page with the period.",
    "AREAS": "Wards or boroughs, one polygon each, e.g. ONS wards (WD24CD); all of London for London's rate.",
    "AREA_KIND": "What the areas are, for the titles and words of the pages.",
    "AREA_CODE_FIELD": "Unique area code, e.g. WD24CD or LAD24CD.",
    "AREA_NAME_FIELD": "The area's name, printed as each page's title.",
    "POPULATION_FIELD": "Residents per area (persons) in the area layer. Give this or a population table.",
    "POPULATION_TABLE": "A table of residents (persons) by area code, e.g. from 'Ward populations'.",
    "POP_CODE_FIELD": "Area code field of the population table.",
    "POP_VALUE_FIELD": "Residents (persons) field of the population table.",
    "BOROUGH_FIELD": "The borough (parent) of each area, e.g. LAD24NM: its rate and change beside the area's.",
    "BOROUGHS_LAYER": "Or borough polygons: an area's borough is the one holding its point on surface.",
    "BOROUGH_CODE_FIELD": "Unique code of the borough polygons.",
    "BOROUGH_NAME_FIELD": "Name of the borough polygons (printed instead of the code); optional.",
    "WHOLE_NAME": "The name of all the areas together, as the pages compare with it, e.g. London.",
    "END_MONTH": "The last month of the 12 (YYYY-MM); empty: the latest month in the crimes.",
    "SUBSET": "Codes of areas, or of boroughs (as the borough field holds them), to publish, comma-separated; "
    "empty: every area. The rates and trends are still computed over every area.",
    "TITLE": "Title of the publication; empty: 'Crime in <borough>'s wards, <period>' or similar.",
    "MAKE_PDF": "Write the PDF atlas, one A4 page per area (native:atlaslayouttopdf).",
    "MAKE_WEBSITE": "Write the static website (index page, one page per area, definitions) in site/.",
    "LAYOUT_TEMPLATE": "A QGIS layout template (.qpt) restyled from the shipped one; empty: the shipped one.",
    "OUTPUT_FOLDER": "The folder to write: profiles.pdf, site/, the layers behind every figure, the PNGs.",
}


class AreaProfilesAlgorithm(CrimeMappingAlgorithm):
    """One profile per ward or borough: map, crimes by group, rate against borough and London, trend chart."""

    CRIMES = "CRIMES"
    COUNTS_TABLE = "COUNTS_TABLE"
    COUNTS_CODE_FIELD = "COUNTS_CODE_FIELD"
    COUNTS_FIELD = "COUNTS_FIELD"
    CATEGORY_FIELD = "CATEGORY_FIELD"
    CATEGORY_VALUES = "CATEGORY_VALUES"
    MONTH_FIELD = "MONTH_FIELD"
    COUNTS_SOURCE = "COUNTS_SOURCE"
    AREAS = "AREAS"
    AREA_KIND = "AREA_KIND"
    AREA_CODE_FIELD = "AREA_CODE_FIELD"
    AREA_NAME_FIELD = "AREA_NAME_FIELD"
    POPULATION_FIELD = "POPULATION_FIELD"
    POPULATION_TABLE = "POPULATION_TABLE"
    POP_CODE_FIELD = "POP_CODE_FIELD"
    POP_VALUE_FIELD = "POP_VALUE_FIELD"
    BOROUGH_FIELD = "BOROUGH_FIELD"
    BOROUGHS_LAYER = "BOROUGHS_LAYER"
    BOROUGH_CODE_FIELD = "BOROUGH_CODE_FIELD"
    BOROUGH_NAME_FIELD = "BOROUGH_NAME_FIELD"
    WHOLE_NAME = "WHOLE_NAME"
    END_MONTH = "END_MONTH"
    SUBSET = "SUBSET"
    TITLE = "TITLE"
    MAKE_PDF = "MAKE_PDF"
    MAKE_WEBSITE = "MAKE_WEBSITE"
    LAYOUT_TEMPLATE = "LAYOUT_TEMPLATE"
    OUTPUT_FOLDER = "OUTPUT_FOLDER"

    PDF = "PDF"
    WEBSITE = "WEBSITE"
    RATES = "RATES"
    TRENDS = "TRENDS"
    PROFILES = "PROFILES"
    PAGES = "PAGES"
    PERIOD = "PERIOD"
    REPORT = "REPORT"

    NAME = "areaprofiles"
    DISPLAY_NAME = "Area profiles (PDF atlas and website)"
    GROUP_ID = "statistics"
    GROUP = "Statistics"
    TAGS = ("crime", "profile", "atlas", "pdf", "website", "ward", "borough", "report", "community")
    HELP = (
        "One profile per ward or borough that a safer neighbourhood panel can read: the area on a map with its "
        "neighbours and the crimes of the last 12 months; the crimes of the last 12 months by harmonised group "
        "against the previous 12 and whether the change is more than chance would explain; the rate per 1,000 "
        "residents with its 95 % interval beside the borough's and London's, and in plain words; the control "
        "chart of monthly crimes with its limits and signals; the period, the source, the licence and the "
        "definitions in plain words.<br>"
        "<b>Crimes</b>: crime points, or a table of counts by area code and month (the MPS ward table): its "
        "categories are the groups (the MPS major categories; they are not police.uk's groups), the maps show "
        "no crimes, and areas the table has no row for are left out and listed (the City of London is not in "
        "the MPS table).<br>"
        "<b>Numbers are the layers' numbers</b>: the algorithm runs 'Ward crime rates' (for the 12 months) and "
        "'Crime trends' (for each harmonised group in the crimes and for all of them, up to the last month) over "
        "every area, writes their layers into the output folder and copies every figure from their fields "
        "(crimes, rate, rate_lcl95, rate_ucl95, vs_all, the borough table; roll_current, roll_previous, "
        "roll_change_pct, roll_p, roll_change, signal, rule). Nothing is computed again for the pages.<br>"
        "<b>PDF</b>: a QGIS print layout with an atlas over the areas, one A4 page per area, exported with "
        "'Export atlas layout as PDF' (text kept as text). The layout is the shipped template "
        "layouts/area_profile.qpt or your restyled copy of it: keep the ids area_map, groups_table, rates_table "
        "and trend_chart of the items the algorithm wires; labels may use any field of the profiles layer "
        "(profiles.gpkg).<br>"
        "<b>Website</b>: static pages in site/ (index with a map and a sortable table, one page per area), "
        "images rendered by QGIS, working offline.<br>"
        "Written all or nothing: into a temporary folder beside the output folder, moved into place at the end."
    )

    def flags(self) -> QgsProcessingAlgorithm.Flags:
        # Layouts are not thread safe: the atlas export runs in the main thread, so this algorithm does too.
        return super().flags() | QgsProcessingAlgorithm.FlagNoThreading

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
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
            (self.CATEGORY_FIELD, "Category field of the count table (the groups)", "major_category"),
        ):
            self.addParameter(
                QgsProcessingParameterField(name, self.tr(label), default, self.COUNTS_TABLE, optional=True)
            )
        for name, label, default in (
            (self.CATEGORY_VALUES, "Categories to keep (comma-separated)", None),
            (self.MONTH_FIELD, "Month field of the count table", "month"),
            (self.COUNTS_SOURCE, "Data source of the count table", model.MPS_WARD_SOURCE),
        ):
            self.addParameter(QgsProcessingParameterString(name, self.tr(label), default, optional=True))
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.AREAS, self.tr("Areas (wards or boroughs)"), [QgsProcessing.TypeVectorPolygon]
            )
        )
        self.addParameter(
            QgsProcessingParameterEnum(self.AREA_KIND, self.tr("The areas are"), options=list(KINDS), defaultValue=0)
        )
        for name, label, default, parent in (
            (self.AREA_CODE_FIELD, "Area code field", "WD24CD", self.AREAS),
            (self.AREA_NAME_FIELD, "Area name field", "WD24NM", self.AREAS),
            (self.POPULATION_FIELD, "Population field of the areas", None, self.AREAS),
            (self.BOROUGH_FIELD, "Borough field of the areas", None, self.AREAS),
        ):
            self.addParameter(QgsProcessingParameterField(name, self.tr(label), default, parent, optional=True))
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
        self.addParameter(
            QgsProcessingParameterFeatureSource(
                self.BOROUGHS_LAYER,
                self.tr("Or: borough polygons"),
                [QgsProcessing.TypeVectorPolygon],
                optional=True,
            )
        )
        for name, label, default in (
            (self.BOROUGH_CODE_FIELD, "Borough code field", "LAD24CD"),
            (self.BOROUGH_NAME_FIELD, "Borough name field", None),
        ):
            self.addParameter(
                QgsProcessingParameterField(name, self.tr(label), default, self.BOROUGHS_LAYER, optional=True)
            )
        for name, label, default in (
            (self.WHOLE_NAME, "Name of all areas together", "London"),
            (self.END_MONTH, "Last month (YYYY-MM)", None),
            (self.SUBSET, "Areas or boroughs to publish (codes, comma-separated)", None),
            (self.TITLE, "Title", None),
        ):
            self.addParameter(QgsProcessingParameterString(name, self.tr(label), default, optional=True))
        self.addParameter(QgsProcessingParameterBoolean(self.MAKE_PDF, self.tr("Write the PDF atlas"), True))
        self.addParameter(QgsProcessingParameterBoolean(self.MAKE_WEBSITE, self.tr("Write the website"), True))
        template = QgsProcessingParameterFile(
            self.LAYOUT_TEMPLATE, self.tr("Layout template (.qpt)"), extension="qpt", optional=True
        )
        template.setFlags(template.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(template)
        self.addParameter(QgsProcessingParameterFolderDestination(self.OUTPUT_FOLDER, self.tr("Output folder")))
        for param in self.parameterDefinitions():
            param.setHelp(self.tr(PARAMETER_HELP[param.name()]))
        self.addOutput(QgsProcessingOutputFile(self.PDF, self.tr("PDF atlas")))
        self.addOutput(QgsProcessingOutputFile(self.WEBSITE, self.tr("Website (index.html)")))
        self.addOutput(QgsProcessingOutputVectorLayer(self.RATES, self.tr("Area rates behind the pages")))
        self.addOutput(QgsProcessingOutputFolder(self.TRENDS, self.tr("Folder of the layers behind the pages")))
        self.addOutput(QgsProcessingOutputVectorLayer(self.PROFILES, self.tr("Profiles (one row per area)")))
        self.add_outputs(
            numbers=((self.PAGES, "Profiles written"),), texts=((self.PERIOD, "Period"), (self.REPORT, "Report"))
        )

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        if (parameters.get(self.CRIMES) in (None, "")) == (parameters.get(self.COUNTS_TABLE) in (None, "")):
            return False, self.tr("Give either crime points or a table of crime counts (one of the two).")
        has_field = bool(self.parameterAsString(parameters, self.POPULATION_FIELD, context))
        if has_field == (parameters.get(self.POPULATION_TABLE) not in (None, "")):
            return False, self.tr("Give either a population field of the areas or a population table (one of the two).")
        if self.parameterAsString(parameters, self.BOROUGH_FIELD, context) and parameters.get(
            self.BOROUGHS_LAYER
        ) not in (None, ""):
            return False, self.tr("Give either a borough field of the areas or borough polygons (one of the two).")
        try:
            month_parameter(self.parameterAsString(parameters, self.END_MONTH, context), "last month")
        except MonthError as err:
            return False, str(err)
        if not (
            self.parameterAsBoolean(parameters, self.MAKE_PDF, context)
            or self.parameterAsBoolean(parameters, self.MAKE_WEBSITE, context)
        ):
            return False, self.tr("Choose the PDF, the website or both.")
        return True, ""

    def processAlgorithm(  # noqa: N802
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:
        dest = os.path.abspath(self.parameterAsString(parameters, self.OUTPUT_FOLDER, context))
        crimes = crime_input.source_of(self, parameters, self._input_name(parameters), context)
        end = self._end_month(parameters, context, crimes)
        template = self.parameterAsString(parameters, self.LAYOUT_TEMPLATE, context) or profile_render.TEMPLATE
        if not os.path.isfile(template):
            raise QgsProcessingException(self.tr("The layout template {} does not exist.").format(template))
        work = self._work_folder(dest)
        try:
            outputs = self._publish(parameters, context, feedback, work, end, template)
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Cancelled; nothing was written."))
            _move_into_place(work, dest)
        except BaseException:
            shutil.rmtree(work, ignore_errors=True)
            raise
        return {k: (v.replace(work, dest) if isinstance(v, str) else v) for k, v in outputs.items()}

    def _end_month(self, parameters: dict, context: QgsProcessingContext, crimes: object) -> int:
        given = month_parameter(self.parameterAsString(parameters, self.END_MONTH, context), "last month")
        if given is not None:
            return given
        if self._from_table(parameters):
            name = self.parameterAsString(parameters, self.MONTH_FIELD, context).strip() or "month"
            index = crimes.fields().lookupField(name)
            if index < 0:
                raise QgsProcessingException(
                    self.tr("The count table has no month field '{}'; its fields are: {}.").format(
                        name, ", ".join(crimes.fields().names())
                    )
                )
        else:
            index = crimes.fields().lookupField("month")
            if index < 0:
                raise QgsProcessingException(
                    self.tr("The crime points have no field 'month': import them with 'Import police.uk street crime'.")
                )
        months = [m for m in month_numbers(list(crimes.uniqueValues(index))) if m >= 0]
        if not months:
            raise QgsProcessingException(self.tr("The crimes hold no usable month: nothing to publish."))
        return int(max(months))

    def _work_folder(self, dest: str) -> str:
        parent = os.path.dirname(dest)
        try:
            work = temporary_path(parent, "-profiles")
            os.makedirs(work)
        except (GeoPackageError, OSError) as err:
            raise QgsProcessingException(
                self.tr("Cannot write in the folder {} ({}): choose an output folder you can write to.").format(
                    parent, err
                )
            ) from err
        return work

    def _run(self, alg: str, params: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback) -> dict:
        if feedback.isCanceled():
            raise QgsProcessingException(self.tr("Cancelled; nothing was written."))
        return processing.run(alg, params, context=context, feedback=feedback, is_child_algorithm=True)

    def _publish(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        work: str,
        end: int,
        template: str,
    ) -> dict:
        kind = KINDS[self.parameterAsEnum(parameters, self.AREA_KIND, context)]
        whole = self.parameterAsString(parameters, self.WHOLE_NAME, context).strip() or "London"
        start, previous = month_text(end - 11), (month_text(end - 23), month_text(end - 12))
        areas, uncovered = self._covered_areas(parameters, context, feedback, work)
        feedback.setProgressText(self.tr("Rates of the 12 months {} to {}").format(start, month_text(end)))
        rates_run, with_parents = self._rates(parameters, context, feedback, work, areas, start, month_text(end), whole)
        feedback.setProgress(15)
        rates_path = rates_run["OUTPUT"]
        groups = self._groups(parameters, context)
        codes_all = [str(f["ward_code"]) for f in QgsVectorLayer(rates_path, "rates", "ogr").getFeatures()]
        inputs_rows = model.read_rows(rates_path)
        chosen = self._subset(parameters, context, inputs_rows, uncovered)
        trend_rows: dict[str, list[dict]] = {}
        for i, group in enumerate(groups):
            feedback.setProgressText(self.tr("Trends of {}").format(group))
            run = self._trends(parameters, context, feedback, work, rates_path, with_parents, end, group, chosen)
            trend_rows[group] = model.read_rows(run["OUTPUT"])
            feedback.setProgress(15 + 50 * (i + 1) / (len(groups) + 1))
        feedback.setProgressText(self.tr("Trends of all the crimes"))
        run = self._trends(parameters, context, feedback, work, rates_path, with_parents, end, None, chosen)
        all_rows = model.read_rows(run["OUTPUT"])
        feedback.setProgress(65)
        layer = QgsVectorLayer(rates_path, "rates", "ogr")
        geometries, names = {}, {}
        for f in layer.getFeatures():
            geometries[str(f["ward_code"])] = f.geometry()
            names[str(f["ward_code"])] = str(f["ward_name"] or f["ward_code"])
        inputs = model.ProfileInputs(
            kind=kind,
            whole=whole,
            rates=inputs_rows,
            parents=model.read_rows(rates_run["BOROUGHS"]),
            trends=trend_rows,
            all_trends=all_rows,
            neighbours=neighbours(geometries, feedback),
            period=str(rates_run["PERIOD"]),
            previous_period=f"{previous[0]} to {previous[1]}",
            missing_months=str(rates_run["MISSING_MONTHS"] or ""),
            codes=tuple(chosen),
            with_parents=with_parents,
            from_table=self._from_table(parameters),
        )
        charts = os.path.join(work, "charts")
        maps = os.path.join(work, "maps")
        images = {
            c: (
                os.path.join(maps, f"map_{profile_render.safe_name(c)}.png"),
                chart_path(charts, c) if os.path.isfile(chart_path(charts, c)) else None,
            )
            for c in chosen
        }
        crimes_chosen = self._crimes_chosen(parameters, context)
        title = self.parameterAsString(parameters, self.TITLE, context).strip() or self._title(
            kind, inputs, chosen, whole
        )
        profiles = model.build_profiles(
            inputs,
            title,
            self._source(parameters, context, inputs.period),
            crimes_chosen,
            DEFINITIONS_PAGE if self.parameterAsBoolean(parameters, self.MAKE_WEBSITE, context) else METHODS_DOC,
            images,
            os.path.join(work, "index_map.png"),
        )
        profiles_path = os.path.join(work, "profiles.gpkg")
        wkb = {c: bytes(g.asWkb()) for c, g in geometries.items() if c in set(chosen) and not g.isNull()}
        profile_render.write_profile_layers(
            profiles_path, wkb, layer.crs().toWkt(), profiles, names, whole, self._pdf_definitions(parameters, context)
        )
        del layer
        outputs = self._render(
            parameters, context, feedback, work, profiles, profiles_path, template, start, end, whole
        )
        outputs.update(
            {
                self.RATES: rates_path,
                self.TRENDS: work,
                self.PROFILES: f"{profiles_path}|layername={profile_render.PROFILES_LAYER}",
                self.PAGES: len(profiles.profiles),
                self.PERIOD: profiles.profiles[0].period if profiles.profiles else str(rates_run["PERIOD"]),
                self.REPORT: self.tr("{} profile(s) of {} {}s; crime groups: {}; {} area(s) in the rates.").format(
                    len(profiles.profiles), len(chosen), kind, ", ".join(groups) or "none", len(codes_all)
                )
                + self._uncovered_text(uncovered),
            }
        )
        feedback.pushInfo(outputs[self.REPORT])
        return outputs

    def _pdf_definitions(self, parameters: dict, context: QgsProcessingContext) -> str:
        """Return where a reader of the PDF finds the full definitions (the website beside it, the methods)."""
        site = (
            self.tr("site/definitions.html beside this PDF, and ")
            if self.parameterAsBoolean(parameters, self.MAKE_WEBSITE, context)
            else ""
        )
        return site + METHODS_DOC

    def _rates(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        work: str,
        areas: object,
        start: str,
        end: str,
        whole: str,
    ) -> tuple[dict, bool]:
        borough_field = self.parameterAsString(parameters, self.BOROUGH_FIELD, context)
        has_layer = parameters.get(self.BOROUGHS_LAYER) not in (None, "")
        with_parents = bool(borough_field) or has_layer
        if not with_parents:
            # Areas without a parent (the boroughs of London): one constant parent gives ward rates' table of
            # all areas together, with its interval, the row the pages print for the whole.
            areas = self._run(
                "native:fieldcalculator",
                {
                    "INPUT": areas,
                    "FIELD_NAME": WHOLE_FIELD,
                    "FIELD_TYPE": 2,
                    "FIELD_LENGTH": 80,
                    "FORMULA": "'{}'".format(whole.replace("'", "''")),
                    "OUTPUT": os.path.join(work, "areas.gpkg"),
                },
                context,
                feedback,
            )["OUTPUT"]
            borough_field = WHOLE_FIELD
        params = {
            **self._crime_params(parameters, context),
            "WARDS": areas,
            "WARD_CODE_FIELD": self.parameterAsString(parameters, self.AREA_CODE_FIELD, context),
            "WARD_NAME_FIELD": self.parameterAsString(parameters, self.AREA_NAME_FIELD, context),
            "START_MONTH": start,
            "END_MONTH": end,
            "OUTPUT": os.path.join(work, "rates.gpkg"),
            "BOROUGHS": os.path.join(work, "borough_rates.gpkg"),
            "FUNNEL_PLOT": os.path.join(work, "funnel_plot.png"),
        }
        for name in (self.POPULATION_FIELD, self.POP_CODE_FIELD, self.POP_VALUE_FIELD):
            value = self.parameterAsString(parameters, name, context)
            if value:
                params[name] = value
        if parameters.get(self.POPULATION_TABLE) not in (None, ""):
            params["POPULATION_TABLE"] = parameters[self.POPULATION_TABLE]
        if borough_field:
            params["BOROUGH_FIELD"] = borough_field
        if has_layer:
            params["BOROUGHS_LAYER"] = parameters[self.BOROUGHS_LAYER]
            for name in (self.BOROUGH_CODE_FIELD, self.BOROUGH_NAME_FIELD):
                value = self.parameterAsString(parameters, name, context)
                if value:
                    params[name] = value
        return self._run("crimemapping:wardrates", params, context, feedback), with_parents

    def _from_table(self, parameters: dict) -> bool:
        return parameters.get(self.COUNTS_TABLE) not in (None, "")

    def _input_name(self, parameters: dict) -> str:
        return self.COUNTS_TABLE if self._from_table(parameters) else self.CRIMES

    def _categories(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        text = self.parameterAsString(parameters, self.CATEGORY_VALUES, context)
        return [v.strip() for v in text.split(",") if v.strip()]

    def _crime_params(self, parameters: dict, context: QgsProcessingContext) -> dict:
        """Return the crimes' parameters of the child algorithms: the points, or the count table's (same ids)."""
        if not self._from_table(parameters):
            return {"CRIMES": parameters[self.CRIMES]}
        params = {"COUNTS_TABLE": parameters[self.COUNTS_TABLE]}
        for name in (self.COUNTS_CODE_FIELD, self.COUNTS_FIELD, self.MONTH_FIELD):
            value = self.parameterAsString(parameters, name, context).strip()
            if value:
                params[name] = value
        category = self.parameterAsString(parameters, self.CATEGORY_FIELD, context)
        if category and self._categories(parameters, context):
            params["CATEGORY_FIELD"] = category
            params["CATEGORY_VALUES"] = ",".join(self._categories(parameters, context))
        return params

    def _covered_areas(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback, work: str
    ) -> tuple[object, list[str]]:
        """Return the areas to compute over and the codes of those a count table has no row for (left out).

        A table that lists its areas (the MPS table writes its zeros) does not cover an area it has no row for:
        its crimes are unknown, not zero, so it must not enter the rates, nor London's (docs/methods.md 11.1).
        """
        areas = parameters[self.AREAS]
        if not self._from_table(parameters):
            return areas, []
        table = crime_input.source_of(self, parameters, self.COUNTS_TABLE, context)
        code_field = self.parameterAsString(parameters, self.COUNTS_CODE_FIELD, context) or "ward_code"
        crime_input.require_fields(self, table, self.tr("count table"), [code_field])
        listed = {str(v).strip() for v in table.uniqueValues(table.fields().lookupField(code_field)) if v is not None}
        area_field = self.parameterAsString(parameters, self.AREA_CODE_FIELD, context) or "WD24CD"
        source = crime_input.source_of(self, parameters, self.AREAS, context)
        crime_input.require_fields(self, source, self.tr("areas"), [area_field])
        codes = {str(v).strip() for v in source.uniqueValues(source.fields().lookupField(area_field)) if v is not None}
        uncovered = sorted(codes - listed)
        if not uncovered:
            return areas, []
        if len(uncovered) == len(codes):
            raise QgsProcessingException(
                self.tr("No area code of the areas ({}) is in the count table's field {}: nothing to publish.").format(
                    area_field, code_field
                )
            )
        feedback.pushWarning(
            self.tr("{} area(s) have no row in the count table and are left out (no data, not zero): {}").format(
                len(uncovered), short_list(uncovered)
            )
        )
        listed_codes = ",".join(QgsExpression.quotedString(c) for c in sorted(codes & listed))
        covered = self._run(
            "native:extractbyexpression",
            {
                "INPUT": areas,
                "EXPRESSION": f"trim(to_string({QgsExpression.quotedColumnRef(area_field)})) IN ({listed_codes})",
                "OUTPUT": os.path.join(work, "areas_in_the_table.gpkg"),
            },
            context,
            feedback,
        )["OUTPUT"]
        return covered, uncovered

    def _uncovered_text(self, uncovered: list[str]) -> str:
        if not uncovered:
            return ""
        return self.tr(" {} area(s) left out, no row in the count table: {}.").format(
            len(uncovered), short_list(uncovered)
        )

    def _crimes_chosen(self, parameters: dict, context: QgsProcessingContext) -> str:
        if not self._from_table(parameters):
            return self.input_description(parameters, self.CRIMES, context)
        kept = self._categories(parameters, context)
        chosen = self.tr("categories {}").format(", ".join(kept)) if kept else self.tr("all categories")
        return self.input_description(parameters, self.COUNTS_TABLE, context, chosen)

    def _groups(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """Return the groups: the harmonised groups the points hold (core/crime_types order), or the categories."""
        if self._from_table(parameters):
            return self._table_groups(parameters, context)
        source = self.parameterAsSource(parameters, self.CRIMES, context)
        index = source.fields().lookupField("crime_group")
        if index < 0:
            return []
        present = {str(v) for v in source.uniqueValues(index)}
        return [g for g in crime_types.GROUPS if g in present]

    def _table_groups(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        """Return the count table's categories (those kept), in alphabetical order; none without a category field."""
        field_name = self.parameterAsString(parameters, self.CATEGORY_FIELD, context)
        if not field_name:
            return []
        source = crime_input.source_of(self, parameters, self.COUNTS_TABLE, context)
        crime_input.require_fields(self, source, self.tr("count table"), [field_name])
        present = {str(v).strip() for v in source.uniqueValues(source.fields().lookupField(field_name)) if v}
        kept = {k.casefold() for k in self._categories(parameters, context)}
        groups = sorted(g for g in present if g and (not kept or g.casefold() in kept))
        # The children take categories as a comma-separated list: a category holding a comma cannot be one.
        commas = [g for g in groups if "," in g]
        if commas:
            raise QgsProcessingException(
                self.tr("Categories of the field {} hold a comma and cannot be chosen one by one: {}").format(
                    field_name, short_list(commas)
                )
            )
        return groups

    def _subset(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        rows: list[dict],
        uncovered: tuple[str, ...] | list[str] = (),
    ) -> list[str]:
        wanted = [c.strip() for c in self.parameterAsString(parameters, self.SUBSET, context).split(",") if c.strip()]
        if not wanted:
            return [str(r["ward_code"]) for r in rows]
        chosen = [str(r["ward_code"]) for r in rows if str(r["ward_code"]) in wanted or str(r.get("borough")) in wanted]
        known = {str(r["ward_code"]) for r in rows} | {str(r.get("borough")) for r in rows}
        absent = [c for c in wanted if c in set(uncovered)]
        if absent:
            raise QgsProcessingException(
                self.tr("Areas to publish that have no row in the count table (no data): {}").format(short_list(absent))
            )
        unknown = [c for c in wanted if c not in known]
        if unknown or not chosen:
            raise QgsProcessingException(
                self.tr("Areas or boroughs to publish that are not among the areas: {}").format(short_list(unknown))
            )
        return chosen

    def _trends(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        work: str,
        rates_path: str,
        with_parents: bool,
        end: int,
        group: str | None,
        chosen: list[str],
    ) -> dict:
        slug = profile_render.safe_name(group or ALL_CRIMES).lower()
        params = {
            **self._crime_params(parameters, context),
            "AREAS": rates_path,
            "AREA_CODE_FIELD": "ward_code",
            "AREA_NAME_FIELD": "ward_name",
            "END_MONTH": month_text(end),
            "OUTPUT": os.path.join(work, f"trends_{slug}.gpkg"),
            "TABLE": None,
        }
        if with_parents:
            params["PARENT_FIELD"] = "borough"
        if group is None:
            params["TABLE"] = os.path.join(work, "trends_all_by_month.gpkg")
            params["CHARTS_FOLDER"] = os.path.join(work, "charts")
            params["CHART_AREAS"] = ",".join(chosen)
        elif self._from_table(parameters):
            params["CATEGORY_FIELD"] = self.parameterAsString(parameters, self.CATEGORY_FIELD, context)
            params["CATEGORY_VALUES"] = group
        else:
            params["CRIME_GROUPS"] = [crime_types.GROUPS.index(group)]
        return self._run("crimemapping:crimetrends", params, context, feedback)

    def _title(self, kind: str, inputs: model.ProfileInputs, chosen: list[str], whole: str) -> str:
        parents = {str(r.get("borough")) for r in inputs.rates if str(r["ward_code"]) in set(chosen)}
        owner = next(iter(parents)) if inputs.with_parents and len(parents) == 1 else whole
        return f"Crime in {owner}'s {kind}s, {inputs.period}"

    def _source(self, parameters: dict, context: QgsProcessingContext, period: str) -> str:
        if self._from_table(parameters):
            named = self.parameterAsString(parameters, self.COUNTS_SOURCE, context).strip()
            return f"{named or model.MPS_WARD_SOURCE}, {period}"
        source = self.parameterAsSource(parameters, self.CRIMES, context)
        index = source.fields().lookupField("falls_within")
        forces = sorted(str(v) for v in source.uniqueValues(index) if v) if index >= 0 else []
        by = f", recorded by {', '.join(forces)}" if forces else ""
        return f"{model.OPEN_DATA_SOURCE}, {period}{by}"

    def _render(
        self,
        parameters: dict,
        context: QgsProcessingContext,
        feedback: QgsProcessingFeedback,
        work: str,
        profiles: model.ProfileSet,
        profiles_path: str,
        template: str,
        start: str,
        end: int,
        whole: str,
    ) -> dict:
        project = QgsProject()
        # The project owns the layers and the layout; it is cleared on every exit (a cancel, an error too), so
        # that no layout outlives its layers.
        try:
            crimes = self._period_crimes(parameters, context, start, end)
            coverage = QgsVectorLayer(f"{profiles_path}|layername={profile_render.PROFILES_LAYER}", "Areas", "ogr")
            groups = QgsVectorLayer(f"{profiles_path}|layername={profile_render.GROUPS_LAYER}", "Groups", "ogr")
            rate_rows = QgsVectorLayer(f"{profiles_path}|layername={profile_render.RATES_LAYER}", "Rates", "ogr")
            profile_render.style_profiles(coverage)
            layers = [crimes, coverage] if crimes is not None else [coverage]
            for lyr in (*layers, groups, rate_rows):
                project.addMapLayer(lyr)
            try:
                layout = profile_render.load_layout(project, template)
            except ValueError as err:
                raise QgsProcessingException(str(err)) from err
            profile_render.wire_layout(
                layout, coverage, groups, rate_rows, work, [coverage, *([crimes] if crimes else [])]
            )
            outputs: dict = {}
            feedback.setProgressText(self.tr("Rendering the area maps"))
            try:
                profile_render.render_area_maps(layout, os.path.join(work, "maps"), feedback.isCanceled)
            except InterruptedError as err:
                raise QgsProcessingException(self.tr("Cancelled; nothing was written.")) from err
            feedback.setProgress(75)
            index = QgsVectorLayer(f"{profiles_path}|layername={profile_render.PROFILES_LAYER}", "Index", "ogr")
            project.addMapLayer(index)
            profile_render.render_index_map(
                project,
                index,
                profiles.index_map_png,
                profiles.title,
                profiles.profiles[0].rates[-1].label if profiles.profiles and profiles.profiles[0].rates else "London",
            )
            if self.parameterAsBoolean(parameters, self.MAKE_PDF, context):
                feedback.setProgressText(self.tr("Exporting the PDF atlas"))
                child = QgsProcessingContext()
                child.setProject(project)
                child.setFeedback(feedback)
                pdf = os.path.join(work, PDF_NAME)
                self._run(
                    "native:atlaslayouttopdf",
                    {"LAYOUT": profile_render.LAYOUT_NAME, "OUTPUT": pdf, "TEXT_FORMAT": 1, "DPI": 150},
                    child,
                    feedback,
                )
                outputs[self.PDF] = pdf
            feedback.setProgress(90)
            if self.parameterAsBoolean(parameters, self.MAKE_WEBSITE, context):
                feedback.setProgressText(self.tr("Writing the website"))
                try:
                    outputs[self.WEBSITE] = profile_site.write_site(
                        os.path.join(work, SITE_FOLDER), _rendered_only(profiles), feedback.isCanceled
                    )
                except profile_site.ProfileSiteError as err:
                    raise QgsProcessingException(str(err)) from err
        finally:
            project.clear()
        return outputs

    def _period_crimes(
        self, parameters: dict, context: QgsProcessingContext, start: str, end: int
    ) -> QgsVectorLayer | None:
        """Return the crimes of the 12 months as a layer drawn on the maps (None when they cannot be drawn)."""
        if self._from_table(parameters):
            return None  # counts by area code have no locations
        layer = self.parameterAsVectorLayer(parameters, self.CRIMES, context)
        if layer is None:
            return None
        layer = layer.clone()
        layer.setName("Crimes")
        months = f"\"month\" >= '{start}-01' AND \"month\" < '{month_text(end + 1)}-01'"
        subset = layer.subsetString()
        if not layer.setSubsetString(f"({subset}) AND {months}" if subset else months):
            layer.setSubsetString(subset)
        profile_render.style_crimes(layer)
        return layer


def _rendered_only(profiles: model.ProfileSet) -> model.ProfileSet:
    """Return the profiles without the images that were not rendered (a template without the wired map)."""

    def exists(path: str | None) -> str | None:
        return path if path and os.path.isfile(path) else None

    pages = tuple(
        dataclasses.replace(p, map_png=exists(p.map_png), chart_png=exists(p.chart_png)) for p in profiles.profiles
    )
    return dataclasses.replace(profiles, profiles=pages, index_map_png=exists(profiles.index_map_png))


def neighbours(geometries: dict[str, QgsGeometry], feedback: QgsProcessingFeedback) -> dict[str, tuple[str, ...]]:
    """Return the codes of the areas that touch each area (share a boundary or a point), in code order."""
    codes = [c for c, g in geometries.items() if g is not None and not g.isNull()]
    index = QgsSpatialIndex()
    for i, code in enumerate(codes):
        f = QgsFeature(i)
        f.setGeometry(geometries[code])
        index.addFeature(f)
    out: dict[str, tuple[str, ...]] = {}
    for i, code in enumerate(codes):
        if feedback.isCanceled():
            raise QgsProcessingException("Cancelled; nothing was written.")
        geom = geometries[code]
        # A 1 m buffer: the generalised boundaries of neighbours do not always meet exactly.
        grown = geom.buffer(1.0, 4)
        near = [codes[j] for j in index.intersects(grown.boundingBox()) if j != i]
        out[code] = tuple(sorted(c for c in near if grown.intersects(geometries[c])))
    return out


def _move_into_place(work: str, dest: str) -> None:
    """Move the finished work folder to dest; what was at dest is kept aside until the move succeeded."""
    aside = None
    if os.path.isdir(dest) and os.listdir(dest):
        aside = temporary_path(os.path.dirname(dest), "-previous")
        os.replace(dest, aside)
    elif os.path.isdir(dest):
        os.rmdir(dest)
    try:
        os.replace(work, dest)
    except OSError:
        if aside:
            os.replace(aside, dest)
        raise
    if aside:
        shutil.rmtree(aside, ignore_errors=True)
