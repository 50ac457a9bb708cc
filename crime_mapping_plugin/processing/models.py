"""Graphical Modeler models shipped with the plugin (crime_mapping_plugin/models/*.model3), for the provider.

Each model appears in the toolbox under its model name and runs from qgis_process as
crimemapping:<file name>, e.g. crimemapping:importandmap. They are built by scripts/build_model.py.
"""

from __future__ import annotations

import glob
import os

from qgis.core import QgsProcessingModelAlgorithm
from qgis.PyQt.QtGui import QIcon

from crime_mapping_plugin.processing.base import ICON_PATH, help_url

MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "models")


class ShippedModel(QgsProcessingModelAlgorithm):
    """A model read from the plugin's folder, with a stable lowercase id taken from its file name."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self.path = path
        if not self.fromFile(path):
            raise ValueError(f"The model {path} cannot be read.")
        self.model_id = os.path.splitext(os.path.basename(path))[0]
        # A .model3 file keeps parameter help in its help content only (see scripts/build_model.py).
        help_content = self.helpContent()
        for definition in self.parameterDefinitions():
            if not definition.help() and help_content.get(definition.name()):
                definition.setHelp(help_content[definition.name()])

    def name(self) -> str:
        return self.model_id

    def displayName(self) -> str:  # noqa: N802 - QGIS API
        return super().name()

    def group(self) -> str:
        return "Workflows"

    def groupId(self) -> str:  # noqa: N802 - QGIS API
        return "workflows"

    def tags(self) -> list[str]:
        return ["crime", "police.uk", "model", "workflow", "hotspot", "density", "ward", "import"]

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def helpUrl(self) -> str:  # noqa: N802 - QGIS API
        return help_url()

    def createInstance(self) -> ShippedModel:  # noqa: N802 - QGIS API
        return ShippedModel(self.path)


def shipped_models() -> list[ShippedModel]:
    """Return the models in the plugin's models folder."""
    return [ShippedModel(path) for path in sorted(glob.glob(os.path.join(MODELS_DIR, "*.model3")))]
