"""Processing algorithm crimemapping:importpoliceuk: police.uk street files into one typed point layer."""

from __future__ import annotations

import os

from qgis.core import (
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterCrs,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterString,
)

from crime_mapping_plugin.core import crime_types, policeuk
from crime_mapping_plugin.core.reproject import BulkTransformer
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput

WGS84 = QgsCoordinateReferenceSystem("EPSG:4326")


class ImportPoliceUkAlgorithm(CrimeMappingAlgorithm):
    """Import data.police.uk street-level crime files, zips and folders into one point layer."""

    INPUT = "INPUT"
    FOLDER = "FOLDER"
    START_MONTH = "START_MONTH"
    END_MONTH = "END_MONTH"
    CRIME_TYPES = "CRIME_TYPES"
    CRIME_GROUPS = "CRIME_GROUPS"
    FORCES = "FORCES"
    KEEP_UNLOCATED = "KEEP_UNLOCATED"
    TARGET_CRS = "TARGET_CRS"
    OUTPUT = "OUTPUT"

    ROWS_READ = "ROWS_READ"
    ROWS_WRITTEN = "ROWS_WRITTEN"
    ROWS_LEFT_OUT = "ROWS_LEFT_OUT"
    FILES_READ = "FILES_READ"
    MONTHS = "MONTHS"
    UNMAPPED_LABELS = "UNMAPPED_LABELS"
    REPORT = "REPORT"

    NAME = "importpoliceuk"
    DISPLAY_NAME = "Import police.uk street crime"
    GROUP_ID = "data"
    GROUP = "Data"
    TAGS = ("crime", "police", "police.uk", "import", "csv", "street", "zip", "points")
    HELP = (
        "Imports data.police.uk street-level crime files into one point layer with typed fields.<br>"
        "<b>Input</b>: any mix of street CSV files (YYYY-MM-&lt;force&gt;-street.csv), the zip archives "
        "data.police.uk serves, and folders of monthly folders; they need not be unpacked. Outcomes and "
        "stop-and-search files are refused with a message.<br>"
        "<b>Filters</b>: months (YYYY-MM, inclusive), crime types, harmonised crime groups and forces.<br>"
        "<b>Output</b>: points reprojected from WGS84 to the target CRS (British National Grid by default) "
        "with the crime id, the month as a date (first day of the month), the force, the crime type, its "
        "harmonised group (see docs/definitions.md: groups that mean the same in every month from 2011-05), "
        "location, LSOA code and name, last outcome and the source file.<br>"
        "<b>Nothing is lost silently</b>: a row is a line of a file; rows read = rows written + rows left out, "
        "and each left-out row is counted under one reason, tested in this order: malformed row, outside the "
        "chosen months, crime type not selected, force not selected, no location (blank or 0,0 coordinates), "
        "coordinates outside the UK (or not degrees), duplicate crime id (the first row of a crime id is kept). "
        "The counts are in the log and in the algorithm's outputs. A file reached twice, or the same month and "
        "force in a zip and a folder, is read once. Crime types not in the harmonised table are kept, grouped "
        "as 'Unmapped label', and listed."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        files = QgsProcessingParameterMultipleLayers(
            self.INPUT,
            self.tr("police.uk street files or zip archives (these, the folder below, or both)"),
            QgsProcessing.TypeFile,
            optional=True,
        )
        files.setHelp(self.tr("Street CSV files, zip archives or folders (a folder path may be typed)."))
        self.addParameter(files)
        folder = QgsProcessingParameterFile(
            self.FOLDER,
            self.tr("Or: folder of police.uk downloads (this, the files above, or both)"),
            QgsProcessingParameterFile.Folder,
            optional=True,
        )
        folder.setHelp(self.tr("A folder searched, with its sub-folders, for street files and zip archives."))
        self.addParameter(folder)
        for name, label in ((self.START_MONTH, "First month (YYYY-MM)"), (self.END_MONTH, "Last month (YYYY-MM)")):
            param = QgsProcessingParameterString(name, self.tr(label), optional=True)
            param.setHelp(self.tr("Inclusive; empty for no limit. Months are police.uk months, written YYYY-MM."))
            self.addParameter(param)
        types = QgsProcessingParameterEnum(
            self.CRIME_TYPES,
            self.tr("Crime types"),
            options=list(crime_types.ALL_TYPES),
            allowMultiple=True,
            optional=True,
        )
        types.setHelp(self.tr("police.uk crime types to keep (current and pre-2013 labels); none selected keeps all."))
        self.addParameter(types)
        groups = QgsProcessingParameterEnum(
            self.CRIME_GROUPS,
            self.tr("Harmonised crime groups"),
            options=list(crime_types.GROUPS),
            allowMultiple=True,
            optional=True,
        )
        groups.setHelp(self.tr("Harmonised groups to keep; none selected keeps all. Combined with crime types by AND."))
        self.addParameter(groups)
        forces = QgsProcessingParameterString(self.FORCES, self.tr("Forces (comma-separated)"), optional=True)
        forces.setHelp(
            self.tr(
                "Force names or police.uk slugs, e.g. 'metropolitan, city-of-london'; empty keeps all. "
                "Matched against the file name's force and the 'Reported by' column."
            )
        )
        self.addParameter(forces)
        keep = QgsProcessingParameterBoolean(
            self.KEEP_UNLOCATED, self.tr("Keep rows without a location (as features without geometry)"), False
        )
        keep.setHelp(self.tr("Off: such rows are left out and counted. On: written with an empty geometry."))
        keep.setFlags(keep.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(keep)
        # Optional only because QGIS 3.22 rejects a missing CRS value despite a default; empty means BNG.
        crs = QgsProcessingParameterCrs(self.TARGET_CRS, self.tr("Target CRS"), "EPSG:27700", optional=True)
        crs.setHelp(self.tr("The CRS of the output points; British National Grid (metres) suits UK analysis."))
        self.addParameter(crs)
        output = QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Crimes"), QgsProcessing.TypeVectorPoint)
        output.setHelp(
            self.tr(
                "The crime points; a GeoPackage by default, or a PostGIS table of a saved connection "
                "(both written in bulk, all or nothing)."
            )
        )
        self.addParameter(output)
        self.add_outputs(
            numbers=[
                (self.ROWS_READ, "Rows read"),
                (self.ROWS_WRITTEN, "Rows written"),
                (self.ROWS_LEFT_OUT, "Rows left out"),
                *((key, f"Rows left out: {reason}") for reason, key in policeuk.REASON_KEYS.items()),
                (self.FILES_READ, "Files read"),
            ],
            texts=[
                (self.MONTHS, "Months written"),
                (self.UNMAPPED_LABELS, "Crime types not in the harmonised table"),
                (self.REPORT, "Import report"),
            ],
        )

    def _paths(self, parameters: dict, context: QgsProcessingContext) -> list[str]:
        # QGIS 3.22 answers [''] for a missing file list.
        paths = [p for p in self.parameterAsFileList(parameters, self.INPUT, context) or [] if p]
        folder = self.parameterAsFile(parameters, self.FOLDER, context)
        if folder:
            paths.append(folder)
        return paths

    def _options(self, parameters: dict, context: QgsProcessingContext) -> policeuk.ImportOptions:
        types = self.selected_enums(parameters, self.CRIME_TYPES, context)
        groups = self.selected_enums(parameters, self.CRIME_GROUPS, context)
        forces = self.parameterAsString(parameters, self.FORCES, context)
        return policeuk.ImportOptions(
            start_month=self.parameterAsString(parameters, self.START_MONTH, context).strip() or None,
            end_month=self.parameterAsString(parameters, self.END_MONTH, context).strip() or None,
            crime_types=frozenset(crime_types.ALL_TYPES[i] for i in types) if types else None,
            crime_groups=frozenset(crime_types.GROUPS[i] for i in groups) if groups else None,
            forces=tuple(f.strip() for f in forces.split(",") if f.strip()) or None,
            keep_unlocated=self.parameterAsBoolean(parameters, self.KEEP_UNLOCATED, context),
        )

    @staticmethod
    def _describe(report: policeuk.ImportReport, target: QgsCoordinateReferenceSystem) -> tuple[str, str]:
        """Return the output's title and abstract: what it holds, what was left out, how it was made."""
        months = sorted(report.months)
        title = f"police.uk crimes {months[0]} to {months[-1]}" if months else "police.uk crimes"
        abstract = (
            f"Street-level crime from data.police.uk, {len(months)} month(s): {', '.join(months)}. "
            f"{report.written} crimes written, {report.left_out()} rows left out "
            f"({', '.join(f'{r}: {report.reasons.get(r, 0)}' for r in policeuk.REASONS)}). "
            f"Crime groups: {crime_types.GROUPS_VERSION}. Points are police.uk anonymised snap points, "
            f"reprojected from EPSG:4326 to {target.authid()}. Contains public sector information "
            "licensed under the Open Government Licence v3.0."
        )
        return title, abstract

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        if not self._paths(parameters, context):
            return False, self.tr(
                "Choose the police.uk street files or zip archives, or a folder of police.uk downloads (one is needed)."
            )
        try:
            self._options(parameters, context)
        except policeuk.PoliceUkInputError as err:
            return False, str(err)
        return True, ""

    def processAlgorithm(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:  # noqa: N802
        try:
            options = self._options(parameters, context)
            found = policeuk.discover(self._paths(parameters, context))
        except policeuk.PoliceUkInputError as err:
            raise QgsProcessingException(str(err)) from err
        sources = found.sources
        passed_over = found.passed_over
        if passed_over:
            names = ", ".join(os.path.basename(n) for n in passed_over[:10]) + (" …" if len(passed_over) > 10 else "")
            feedback.pushInfo(
                self.tr("Not street-level crime, not read: {} CSV file(s) ({}).").format(len(passed_over), names)
            )
        for repeat in found.repeats:
            feedback.pushInfo(self.tr("Skipped as a repeat: {}").format(repeat))
        for warning in found.warnings:
            feedback.pushWarning(warning)
        if not sources:
            raise QgsProcessingException(self.tr("No police.uk street files were found in the inputs."))
        target = self.parameterAsCrs(parameters, self.TARGET_CRS, context)
        if not parameters.get(self.TARGET_CRS):
            target = QgsCoordinateReferenceSystem("EPSG:27700")
        if not target.isValid():
            raise QgsProcessingException(self.tr("The target CRS is not valid."))
        transform = BulkTransformer(QgsCoordinateTransform(WGS84, target, context.transformContext()))
        reader = policeuk.StreetReader(options)
        feedback.pushInfo(self.tr("{} street file(s) to read.").format(len(sources)))
        output = TableOutput(
            self,
            parameters,
            self.OUTPUT,
            context,
            policeuk.OUTPUT_FIELDS,
            target,
            description="police.uk street-level crime, imported by the Crime Mapping plugin",
        )
        try:
            for i, source in enumerate(sources):
                if feedback.isCanceled():
                    raise QgsProcessingException(self.tr("Import cancelled; no output was written."))
                feedback.setProgressText(self.tr("Reading {}").format(source.short_name))
                # Part by part, so that a cancel is honoured within a part (about a second) even in one big file.
                for batch in reader.batches(source, feedback.isCanceled):
                    if feedback.isCanceled():
                        break
                    x, y = transform(batch.lon, batch.lat)
                    output.add(batch.columns, x, y, batch.located)
                    feedback.setProgress(100.0 * (i + batch.done) / len(sources))
            if feedback.isCanceled():
                raise QgsProcessingException(self.tr("Import cancelled; no output was written."))
            # Every file is read: the crime ids are not needed while the output's spatial index is built.
            reader.forget_ids()
            report = reader.report
            report.warnings[:0] = found.warnings
            report.repeats = list(found.repeats)
            report.finish(options)
            if not report.balanced():  # a bug, never the user's input: say so loudly
                raise QgsProcessingException(
                    f"Internal error: {report.read} rows read but {report.written} written "
                    f"and {report.left_out()} left out."
                )
            title, abstract = self._describe(report, target)
            dest_id = output.commit(title, abstract)
        except policeuk.PoliceUkInputError as err:
            output.abort()
            raise QgsProcessingException(str(err)) from err
        except BaseException:
            output.abort()
            raise

        for line in report.summary_lines():
            if not line.startswith("Warning: "):  # pushed as warnings below
                feedback.pushInfo(line)
        for example in report.examples:
            feedback.reportError(example, fatalError=False)
        for warning in report.warnings[len(found.warnings) :]:
            feedback.pushWarning(warning)
        if report.unmapped_labels:
            feedback.pushWarning(
                self.tr("Some crime types are not in the harmonised table: ")
                + ", ".join(f"'{k}' ({v})" for k, v in sorted(report.unmapped_labels.items()))
            )
        months = sorted(report.months)
        keywords = ["crime", "police.uk"] + sorted({os.path.basename(s.path) for s in sources})[:20]
        describe_layer(context, dest_id, title=title, abstract=abstract, keywords=keywords)
        results = {
            self.OUTPUT: dest_id,
            self.ROWS_READ: report.read,
            self.ROWS_WRITTEN: report.written,
            self.ROWS_LEFT_OUT: report.left_out(),
            self.FILES_READ: len(report.files),
            self.MONTHS: ",".join(months),
            self.UNMAPPED_LABELS: "; ".join(f"{k}: {v}" for k, v in sorted(report.unmapped_labels.items())),
            self.REPORT: "\n".join(report.summary_lines()),
        }
        for reason, key in policeuk.REASON_KEYS.items():
            results[key] = report.reasons.get(reason, 0)
        return results
