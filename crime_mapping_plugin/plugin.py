"""The plugin object: registers the Processing provider, and the toolbar action and menu entry."""

from __future__ import annotations

from qgis.core import QgsApplication
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from crime_mapping_plugin.processing.base import ICON_PATH
from crime_mapping_plugin.processing.provider import CrimeMappingProvider

MENU = "&Crime Mapping"


class CrimeMappingPlugin:
    """QGIS plugin: a Processing provider (usable without a GUI) and, in the desktop, a menu."""

    def __init__(self, iface) -> None:
        self.iface = iface
        self.provider: CrimeMappingProvider | None = None
        self.actions: list[QAction] = []

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API
        """Register the provider; QGIS calls this in qgis_process too, where there is no GUI."""
        if self.provider is None:
            self.provider = CrimeMappingProvider()
            QgsApplication.processingRegistry().addProvider(self.provider)

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        """Register the provider and add the plugin's action to the toolbar and menu."""
        self.initProcessing()
        action = QAction(QIcon(ICON_PATH), "Import police.uk crime…", self.iface.mainWindow())
        action.triggered.connect(self._open_import)
        self.iface.addPluginToMenu(MENU, action)
        self.iface.addToolBarIcon(action)
        self.actions.append(action)

    def _open_import(self) -> None:
        from qgis import processing

        processing.execAlgorithmDialog("crimemapping:importpoliceuk")

    def unload(self) -> None:
        """Remove everything initGui and initProcessing added."""
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
            self.iface.removeToolBarIcon(action)
        self.actions.clear()
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
