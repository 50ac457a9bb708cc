"""Start QGIS, Processing and the Crime Mapping provider in a script run outside QGIS (the demo, benchmarks)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
QGIS_PLUGINS = "/usr/share/qgis/python/plugins"  # where Debian's QGIS keeps the processing package


def start_qgis():
    """Start a QGIS application with Processing and this plugin's provider registered; return (app, provider).

    Keep both: the processing registry does not keep the provider's Python object alive.
    """
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    if str(ROOT) not in sys.path:
        sys.path.insert(0, str(ROOT))
    if QGIS_PLUGINS not in sys.path:
        sys.path.append(QGIS_PLUGINS)
    from qgis.core import QgsApplication

    QgsApplication.setPrefixPath("/usr", True)
    app = QgsApplication([], False)
    app.initQgis()
    from processing.core.Processing import Processing

    Processing.initialize()
    from crime_mapping_plugin.processing.provider import CrimeMappingProvider

    provider = CrimeMappingProvider()
    QgsApplication.processingRegistry().addProvider(provider)
    return app, provider
