"""Processing algorithm crimemapping:importmpswardcrime: the MPS ward-level table, made long."""

from __future__ import annotations

from qgis.core import (
    QgsProcessing,
    QgsProcessingContext,
    QgsProcessingException,
    QgsProcessingFeedback,
    QgsProcessingParameterBoolean,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterFeatureSink,
    QgsProcessingParameterFile,
    QgsProcessingParameterString,
)

from crime_mapping_plugin.core import mps, policeuk
from crime_mapping_plugin.processing.base import CrimeMappingAlgorithm
from crime_mapping_plugin.processing.layer_info import describe_layer
from crime_mapping_plugin.processing.output import TableOutput


class ImportMpsWardCrimeAlgorithm(CrimeMappingAlgorithm):
    """Import the London Datastore 'MPS Ward Level Crime' table as one row per ward, category and month."""

    INPUT = "INPUT"
    START_MONTH = "START_MONTH"
    END_MONTH = "END_MONTH"
    SKIP_ZEROS = "SKIP_ZEROS"
    OUTPUT = "OUTPUT"
    ROWS_READ = "ROWS_READ"
    CELLS_READ = "CELLS_READ"
    CELLS_WRITTEN = "CELLS_WRITTEN"
    OFFENCES_WRITTEN = "OFFENCES_WRITTEN"
    MONTHS = "MONTHS"
    REPORT = "REPORT"

    NAME = "importmpswardcrime"
    DISPLAY_NAME = "Import MPS ward-level crime counts"
    GROUP_ID = "data"
    GROUP = "Data"
    TAGS = ("crime", "mps", "metropolitan", "ward", "london datastore", "counts", "import", "table")
    HELP = (
        "Imports the Metropolitan Police Service ward-level crime table of the London Datastore ('MPS Ward "
        "Level Crime', one count column per month named YYYYMM) as a long table: ward code, ward name, "
        "borough, major and minor category, month (a date, first day of the month) and count.<br>"
        "Month columns are detected by their YYYYMM pattern, so any period works. Ward names repeat "
        "across boroughs: join to boundaries on the ward code (2022 wards, ONS WD22CD/WD24CD).<br>"
        "Every cell of the wide table is written or counted under a reason: row without a ward code, "
        "count that is not a whole number, outside the chosen months, or a zero count skipped on request. "
        "Blank cells mean no offences and are written as 0."
    )

    def initAlgorithm(self, config: dict | None = None) -> None:  # noqa: N802
        source = QgsProcessingParameterFile(
            self.INPUT, self.tr("MPS ward-level crime CSV"), QgsProcessingParameterFile.File, extension="csv"
        )
        source.setHelp(
            self.tr(
                "The London Datastore file 'MPS Ward Level Crime (most recent 24 months).csv' or its historical twin."
            )
        )
        self.addParameter(source)
        for name, label in ((self.START_MONTH, "First month (YYYY-MM)"), (self.END_MONTH, "Last month (YYYY-MM)")):
            param = QgsProcessingParameterString(name, self.tr(label), optional=True)
            param.setHelp(self.tr("Inclusive; empty for no limit."))
            self.addParameter(param)
        skip = QgsProcessingParameterBoolean(self.SKIP_ZEROS, self.tr("Leave out zero counts"), False)
        skip.setHelp(self.tr("A much smaller table; zero cells are then counted in the report instead."))
        skip.setFlags(skip.flags() | QgsProcessingParameterDefinition.FlagAdvanced)
        self.addParameter(skip)
        output = QgsProcessingParameterFeatureSink(self.OUTPUT, self.tr("Ward crime counts"), QgsProcessing.TypeVector)
        output.setHelp(self.tr("A table without geometry; a GeoPackage by default."))
        self.addParameter(output)
        self.add_outputs(
            numbers=[
                (self.ROWS_READ, "Rows read"),
                (self.CELLS_READ, "Cells read"),
                (self.CELLS_WRITTEN, "Cells written"),
                (self.OFFENCES_WRITTEN, "Offences written"),
            ],
            texts=[(self.MONTHS, "Months written"), (self.REPORT, "Import report")],
        )

    def checkParameterValues(self, parameters: dict, context: QgsProcessingContext) -> tuple[bool, str]:  # noqa: N802
        ok, message = super().checkParameterValues(parameters, context)
        if not ok:
            return ok, message
        try:
            policeuk.ImportOptions(
                start_month=self.parameterAsString(parameters, self.START_MONTH, context).strip() or None,
                end_month=self.parameterAsString(parameters, self.END_MONTH, context).strip() or None,
            )
        except policeuk.PoliceUkInputError as err:
            return False, str(err)
        return True, ""

    def processAlgorithm(
        self, parameters: dict, context: QgsProcessingContext, feedback: QgsProcessingFeedback
    ) -> dict:  # noqa: N802
        path = self.parameterAsFile(parameters, self.INPUT, context)
        start = self.parameterAsString(parameters, self.START_MONTH, context).strip() or None
        end = self.parameterAsString(parameters, self.END_MONTH, context).strip() or None
        try:
            table, report = mps.read_mps_ward_table(
                path, start, end, self.parameterAsBoolean(parameters, self.SKIP_ZEROS, context)
            )
        except policeuk.PoliceUkInputError as err:
            raise QgsProcessingException(str(err)) from err
        feedback.setProgress(40)
        output = TableOutput(self, parameters, self.OUTPUT, context, mps.OUTPUT_FIELDS, None)
        try:
            step = 50000
            for start_row in range(0, len(table), step):
                if feedback.isCanceled():
                    raise QgsProcessingException(self.tr("Import cancelled; no output was written."))
                part = table.iloc[start_row : start_row + step]
                output.add({name: part[name].tolist() for name, _ in mps.OUTPUT_FIELDS})
                feedback.setProgress(40 + 60 * min(1.0, (start_row + step) / max(1, len(table))))
            months = sorted(set(table["month"].str[:7]))
            title = (
                f"MPS ward-level crime counts {months[0]} to {months[-1]}" if months else "MPS ward-level crime counts"
            )
            abstract = (
                "Police-recorded offences by ward (2022 London wards), MPS major and minor category and month, "
                "from the London Datastore 'MPS Ward Level Crime' table (Metropolitan Police Service, Open "
                f"Government Licence). {report.cells_written} cells, {report.offences_written} offences."
            )
            dest_id = output.commit(title, abstract)
        except BaseException:
            output.abort()
            raise
        for line in report.summary_lines():
            feedback.pushInfo(line)
        for example in report.examples:
            feedback.reportError(example, fatalError=False)
        describe_layer(context, dest_id, title=title, abstract=abstract, keywords=["mps", "ward", "counts"])
        return {
            self.OUTPUT: dest_id,
            self.ROWS_READ: report.rows_read,
            self.CELLS_READ: report.cells_read,
            self.CELLS_WRITTEN: report.cells_written,
            self.OFFENCES_WRITTEN: report.offences_written,
            self.MONTHS: ",".join(months),
            self.REPORT: "\n".join(report.summary_lines()),
        }
