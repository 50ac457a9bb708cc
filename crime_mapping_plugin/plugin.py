"""The plugin object: registers the Processing provider, the dock, and the toolbar actions and menu entries."""

from __future__ import annotations

from typing import TYPE_CHECKING

from qgis.core import QgsApplication
from qgis.PyQt.QtCore import Qt
from qgis.PyQt.QtGui import QIcon
from qgis.PyQt.QtWidgets import QAction

from crime_mapping_plugin.processing.base import ICON_PATH
from crime_mapping_plugin.processing.provider import CrimeMappingProvider

if TYPE_CHECKING:
    from qgis.gui import QgisInterface

    from crime_mapping_plugin.ui.dock import CrimeMappingDock

MENU = "&Crime Mapping"


class CrimeMappingPlugin:
    """QGIS plugin: a Processing provider (usable without a GUI) and, in the desktop, a dock and a menu."""

    def __init__(self, iface: QgisInterface) -> None:
        self.iface = iface
        self.provider: CrimeMappingProvider | None = None
        self.actions: list[QAction] = []
        self.dock = None
        self.dock_action: QAction | None = None

    def initProcessing(self) -> None:  # noqa: N802 - QGIS API
        """Register the provider; QGIS calls this in qgis_process too, where there is no GUI."""
        if self.provider is None:
            provider = CrimeMappingProvider()
            # The registry refuses (and deletes) a second provider with our id: keep only one we own.
            if QgsApplication.processingRegistry().addProvider(provider):
                self.provider = provider

    def initGui(self) -> None:  # noqa: N802 - QGIS API
        """Register the provider, and add the dock toggle and the import action to the toolbar and menu."""
        self.initProcessing()
        self.dock_action = QAction(QIcon(ICON_PATH), "Crime Mapping dock", self.iface.mainWindow())
        self.dock_action.setCheckable(True)
        self.dock_action.setToolTip("Load police.uk crimes, filter them, map hotspots and ward rates")
        self.dock_action.toggled.connect(self._toggle_dock)
        import_action = QAction(QIcon(ICON_PATH), "Import police.uk crime…", self.iface.mainWindow())
        import_action.triggered.connect(self._open_import)
        for action in (self.dock_action, import_action):
            self.iface.addPluginToMenu(MENU, action)
            self.actions.append(action)
        self.iface.addToolBarIcon(self.dock_action)

    def _dock(self) -> CrimeMappingDock:
        if self.dock is None:
            from crime_mapping_plugin.ui.dock import CrimeMappingDock

            self.dock = CrimeMappingDock(self.iface, parent=self.iface.mainWindow())
            self.dock.visibilityChanged.connect(self._dock_visibility)
            self.iface.addDockWidget(Qt.RightDockWidgetArea, self.dock)
        return self.dock

    def _toggle_dock(self, show: bool) -> None:
        if show or self.dock is not None:
            self._dock().setUserVisible(show)

    def _dock_visibility(self, visible: bool) -> None:
        if self.dock_action is not None and self.dock_action.isChecked() != visible:
            self.dock_action.blockSignals(True)
            self.dock_action.setChecked(visible)
            self.dock_action.blockSignals(False)

    def show_dock(self) -> CrimeMappingDock:
        """Open the dock (the toolbar button does the same) and return it."""
        if self.dock_action is not None:
            self.dock_action.setChecked(True)
        return self._dock()

    def _open_import(self) -> None:
        from qgis import processing

        processing.execAlgorithmDialog("crimemapping:importpoliceuk")

    def unload(self) -> None:
        """Remove everything initGui and initProcessing added."""
        if self.dock is not None:
            self.dock.controller.cancel()
            self.dock.controller.save_settings()
            self.iface.removeDockWidget(self.dock)
            self.dock.deleteLater()
            self.dock = None
        for action in self.actions:
            self.iface.removePluginMenu(MENU, action)
            self.iface.removeToolBarIcon(action)
            action.deleteLater()
        self.actions.clear()
        self.dock_action = None
        if self.provider is not None:
            QgsApplication.processingRegistry().removeProvider(self.provider)
            self.provider = None
