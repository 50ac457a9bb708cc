"""Common ground of the plugin's Processing algorithms: names, help, icon and output bookkeeping."""

from __future__ import annotations

import os

from qgis.core import QgsProcessingAlgorithm, QgsProcessingException
from qgis.PyQt.QtCore import QCoreApplication
from qgis.PyQt.QtGui import QIcon

from crime_mapping_plugin.core.policeuk import PoliceUkInputError

ICON_PATH = os.path.join(os.path.dirname(os.path.dirname(__file__)), "icon.png")


class CrimeMappingAlgorithm(QgsProcessingAlgorithm):
    """Base class: subclasses set NAME, DISPLAY_NAME, GROUP_ID, GROUP, TAGS and HELP."""

    NAME = ""
    DISPLAY_NAME = ""
    GROUP_ID = ""
    GROUP = ""
    TAGS: tuple[str, ...] = ()
    HELP = ""

    def tr(self, text: str) -> str:
        """Translate text in the algorithm's context."""
        return QCoreApplication.translate(type(self).__name__, text)

    def createInstance(self) -> CrimeMappingAlgorithm:  # noqa: N802 - QGIS API
        return type(self)()

    def name(self) -> str:
        return self.NAME

    def displayName(self) -> str:  # noqa: N802
        return self.tr(self.DISPLAY_NAME)

    def group(self) -> str:
        return self.tr(self.GROUP)

    def groupId(self) -> str:  # noqa: N802
        return self.GROUP_ID

    def tags(self) -> list[str]:
        return [self.tr(t) for t in self.TAGS]

    def shortHelpString(self) -> str:  # noqa: N802
        return self.tr(self.HELP)

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def selected_enums(self, parameters: dict, name: str, context) -> list[int]:
        """Return the chosen options of an optional multiple enum, [] when none were chosen."""
        # QGIS 3.22 answers [0] for a missing optional enum, which would filter on the first option.
        value = parameters.get(name)
        if value is None or value == "" or value == []:
            return []
        return self.parameterAsEnums(parameters, name, context)


def input_error(err: Exception) -> QgsProcessingException:
    """Turn a core input error into the exception Processing shows to the user."""
    if isinstance(err, (PoliceUkInputError, ValueError)):
        return QgsProcessingException(str(err))
    return QgsProcessingException(f"{type(err).__name__}: {err}")
