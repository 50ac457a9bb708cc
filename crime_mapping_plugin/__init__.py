"""QGIS plugin entry point: only classFactory, so that QGIS can list the plugin without loading it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from qgis.gui import QgisInterface

    from crime_mapping_plugin.plugin import CrimeMappingPlugin


def classFactory(iface: QgisInterface) -> CrimeMappingPlugin:  # noqa: N802 - QGIS API
    """Return the plugin instance QGIS asks for."""
    from crime_mapping_plugin.plugin import CrimeMappingPlugin

    return CrimeMappingPlugin(iface)
