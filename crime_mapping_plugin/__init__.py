"""QGIS plugin entry point: only classFactory, so that QGIS can list the plugin without loading it."""


def classFactory(iface):  # noqa: N802 - QGIS API
    """Return the plugin instance QGIS asks for."""
    from crime_mapping_plugin.plugin import CrimeMappingPlugin

    return CrimeMappingPlugin(iface)
