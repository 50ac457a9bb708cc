"""Build the shipped Graphical Modeler model: import police.uk crimes, map hotspot density, then ward rates.

Run it whenever a step changes: `.venv/bin/python scripts/build_model.py`. It writes
crime_mapping_plugin/models/importandmap.model3, which the provider loads as crimemapping:importandmap.
Each step is one function adding one child algorithm.
"""

from __future__ import annotations

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from qgis.core import (  # noqa: E402 - after the path is set
    QgsApplication,
    QgsProcessing,
    QgsProcessingModelAlgorithm,
    QgsProcessingModelChildAlgorithm,
    QgsProcessingModelChildParameterSource,
    QgsProcessingModelOutput,
    QgsProcessingModelParameter,
    QgsProcessingParameterDefinition,
    QgsProcessingParameterEnum,
    QgsProcessingParameterFeatureSource,
    QgsProcessingParameterField,
    QgsProcessingParameterMultipleLayers,
    QgsProcessingParameterNumber,
    QgsProcessingParameterString,
)
from qgis.PyQt.QtCore import QPointF  # noqa: E402

from crime_mapping_plugin.core import crime_types  # noqa: E402

MODEL_PATH = os.path.join(ROOT, "crime_mapping_plugin", "models", "importandmap.model3")
MODEL_NAME = "Import police.uk crime, map hotspots and ward rates"


def _param(name: str):
    return [QgsProcessingModelChildParameterSource.fromModelParameter(name)]


def _child_output(child: str, output: str):
    return [QgsProcessingModelChildParameterSource.fromChildOutput(child, output)]


def _value(value):
    return [QgsProcessingModelChildParameterSource.fromStaticValue(value)]


# The inputs in the order the dialog asks for them (the data, its months and crimes, the wards and their
# residents, then the density's sizes), in one column down the left of the Modeler's canvas.
INPUT_ORDER = (
    "police_uk",
    "start_month",
    "end_month",
    "crime_groups",
    "wards",
    "population",
    "population_code",
    "population_value",
    "bandwidth",
    "cell_size",
)
INPUT_X, STEP_X, OUTPUT_X = 150.0, 560.0, 900.0
STEP_Y = {"import": 140.0, "density": 420.0, "wardrates": 700.0}


def _add_parameter(model: QgsProcessingModelAlgorithm, definition, _x: float = 0.0) -> None:
    component = QgsProcessingModelParameter(definition.name())
    component.setPosition(QPointF(INPUT_X, 60 + 80 * INPUT_ORDER.index(definition.name())))
    model.addModelParameter(definition, component)


def _child(model, alg_id: str, child_id: str, description: str, x: float, sources: dict, outputs: dict):
    child = QgsProcessingModelChildAlgorithm(alg_id)
    child.setChildId(child_id)
    child.setDescription(description)
    child.setPosition(QPointF(STEP_X, STEP_Y[child_id]))
    for name, source in sources.items():
        child.addParameterSources(name, source)
    # Mandatory parameters not wired to an input keep the algorithm's default, as the Modeler would set it.
    algorithm = QgsApplication.processingRegistry().algorithmById(alg_id)
    for definition in algorithm.parameterDefinitions():
        optional = definition.flags() & QgsProcessingParameterDefinition.FlagOptional
        if definition.name() in sources or definition.isDestination() or optional or definition.defaultValue() is None:
            continue
        child.addParameterSources(definition.name(), _value(definition.defaultValue()))
    model_outputs = {}
    for model_name, (child_output, label) in outputs.items():
        output = QgsProcessingModelOutput(model_name, label)
        output.setChildId(child_id)
        output.setChildOutputName(child_output)
        output.setPosition(QPointF(OUTPUT_X, STEP_Y[child_id] - 30 + 70 * len(model_outputs)))
        model_outputs[model_name] = output
    child.setModelOutputs(model_outputs)
    model.addChildAlgorithm(child)
    return child


def add_inputs(model: QgsProcessingModelAlgorithm) -> None:
    """Add the model's inputs: the downloads, the months, the crime groups, the study area, the density sizes."""
    files = QgsProcessingParameterMultipleLayers(
        "police_uk", "police.uk street files, zips or folders", QgsProcessing.TypeFile
    )
    files.setHelp("Street CSV files, the zip archives data.police.uk serves, or folders of monthly folders.")
    _add_parameter(model, files, 60)
    for x, (name, label) in enumerate(
        (("start_month", "First month (YYYY-MM)"), ("end_month", "Last month (YYYY-MM)"))
    ):
        month = QgsProcessingParameterString(name, label, optional=True)
        month.setHelp("Inclusive; empty for no limit.")
        _add_parameter(model, month, 240 + 160 * x)
    groups = QgsProcessingParameterEnum(
        "crime_groups", "Crime groups", options=list(crime_types.GROUPS), allowMultiple=True, optional=True
    )
    groups.setHelp("Harmonised crime groups to map, e.g. Burglary; none selected maps every crime.")
    _add_parameter(model, groups, 560)
    area = QgsProcessingParameterFeatureSource("wards", "Wards", [QgsProcessing.TypeVectorPolygon])
    area.setHelp("Ward polygons with a ward code field (WD24CD): density is mapped inside them, rates are per ward.")
    _add_parameter(model, area, 720)
    population = QgsProcessingParameterFeatureSource("population", "Ward populations", [QgsProcessing.TypeVector])
    population.setHelp(
        "A table of residents (persons) by ward code, e.g. the output of 'Ward populations from LSOA populations'."
    )
    _add_parameter(model, population, 1200)
    for x, (name, label, default, help_text) in enumerate(
        (
            ("population_code", "Ward code field of the populations", "ward_code", "Joined to the wards' code."),
            ("population_value", "Residents field of the populations", "population", "Residents (persons)."),
        )
    ):
        # Optional with a default: QGIS 3.22 refuses a missing required field despite its default.
        field = QgsProcessingParameterField(name, label, default, "population", optional=True)
        field.setHelp(help_text)
        _add_parameter(model, field, 1360 + 160 * x)
    for x, (name, label) in enumerate((("bandwidth", "Bandwidth (metres)"), ("cell_size", "Cell size (metres)"))):
        number = QgsProcessingParameterNumber(
            name, label, QgsProcessingParameterNumber.Double, optional=True, minValue=0
        )
        number.setHelp("In metres; empty: the hotspot density algorithm's default rule.")
        _add_parameter(model, number, 880 + 160 * x)


def add_import(model: QgsProcessingModelAlgorithm) -> None:
    """Step 1: crimemapping:importpoliceuk, its crimes an output of the model."""
    _child(
        model,
        "crimemapping:importpoliceuk",
        "import",
        "Import police.uk crimes",
        200,
        {
            "INPUT": _param("police_uk"),
            "START_MONTH": _param("start_month"),
            "END_MONTH": _param("end_month"),
            "CRIME_GROUPS": _param("crime_groups"),
        },
        {"crimes": ("OUTPUT", "Crimes")},
    )


def add_hotspot_density(model: QgsProcessingModelAlgorithm) -> None:
    """Step 2: crimemapping:hotspotdensity on the imported crimes, in crimes per km² per month."""
    _child(
        model,
        "crimemapping:hotspotdensity",
        "density",
        "Hotspot density",
        520,
        {
            "INPUT": _child_output("import", "OUTPUT"),
            "STUDY_AREA": _param("wards"),
            "BANDWIDTH": _param("bandwidth"),
            "CELL_SIZE": _param("cell_size"),
            "UNITS": _value(1),
        },
        {"density": ("OUTPUT", "Density (crimes per km² per month)"), "hotspots": ("HOTSPOTS", "Hotspot areas")},
    )


def add_ward_rates(model: QgsProcessingModelAlgorithm) -> None:
    """Step 3: crimemapping:wardrates: the imported crimes per 1,000 residents of each ward, for the same months."""
    _child(
        model,
        "crimemapping:wardrates",
        "wardrates",
        "Ward rates",
        840,
        {
            "CRIMES": _child_output("import", "OUTPUT"),
            "WARDS": _param("wards"),
            "POPULATION_TABLE": _param("population"),
            "POP_CODE_FIELD": _param("population_code"),
            "POP_VALUE_FIELD": _param("population_value"),
            "START_MONTH": _param("start_month"),
            "END_MONTH": _param("end_month"),
            "CRIME_GROUPS": _param("crime_groups"),  # already filtered; named again so the output says what it counts
        },
        {"ward_rates": ("OUTPUT", "Ward rates (crimes per 1,000 residents)")},
    )


def build() -> QgsProcessingModelAlgorithm:
    """Return the model with every step whose algorithm is registered."""
    model = QgsProcessingModelAlgorithm(MODEL_NAME, "Workflows", "workflows")
    model.setHelpContent(
        {
            "ALG_DESC": "Imports police.uk downloads, then maps the density of the chosen crimes (crimes per km² "
            "per month) and its hotspot areas within the wards, and their rates per 1,000 residents of each ward "
            "with confidence limits. The same steps as the dock's Load, Hotspot density and Ward rates buttons.",
            "ALG_CREATOR": "Crime Mapping plugin",
        }
    )
    add_inputs(model)
    # A .model3 file keeps parameter help only in the help content; the provider puts it back on the parameters.
    help_content = model.helpContent()
    for definition in model.parameterDefinitions():
        help_content[definition.name()] = definition.help()
    model.setHelpContent(help_content)
    add_import(model)
    add_hotspot_density(model)
    add_ward_rates(model)
    model.setParameterOrder(list(INPUT_ORDER))  # the order is saved in the file; QGIS reads it back
    return model


def main() -> int:
    sys.path.insert(0, os.path.join(ROOT, "scripts"))
    from standalone import start_qgis

    app, provider = start_qgis()  # both held: the registry does not keep the provider's Python object alive
    model = build()
    ok, errors = model.validate()
    if not ok:
        print("\n".join(errors))
        return 1
    if not model.toFile(MODEL_PATH):
        print(f"Could not write {MODEL_PATH}")
        return 1
    print(f"Wrote {MODEL_PATH} ({len(model.childAlgorithms())} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
