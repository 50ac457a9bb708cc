"""The plugin's Processing provider, id 'crimemapping'."""

from __future__ import annotations

from qgis.core import QgsProcessingProvider
from qgis.PyQt.QtGui import QIcon

from crime_mapping_plugin.processing.area_profiles import AreaProfilesAlgorithm
from crime_mapping_plugin.processing.base import ICON_PATH
from crime_mapping_plugin.processing.crime_trends import CrimeTrendsAlgorithm
from crime_mapping_plugin.processing.emerging_hotspots import EmergingHotspotsAlgorithm
from crime_mapping_plugin.processing.gistar_hotspots import GiStarHotspotsAlgorithm
from crime_mapping_plugin.processing.hotspot_density import HotspotDensityAlgorithm
from crime_mapping_plugin.processing.import_mps_ward_crime import ImportMpsWardCrimeAlgorithm
from crime_mapping_plugin.processing.import_police_uk import ImportPoliceUkAlgorithm
from crime_mapping_plugin.processing.models import shipped_models
from crime_mapping_plugin.processing.reexpress_counts import ReexpressCountsAlgorithm
from crime_mapping_plugin.processing.ward_population import WardPopulationAlgorithm
from crime_mapping_plugin.processing.ward_rates import WardRatesAlgorithm

PROVIDER_ID = "crimemapping"


def algorithm_classes() -> list[type]:
    """Return the algorithm classes the provider offers."""
    return [
        ImportPoliceUkAlgorithm,
        ImportMpsWardCrimeAlgorithm,
        HotspotDensityAlgorithm,
        GiStarHotspotsAlgorithm,
        EmergingHotspotsAlgorithm,
        WardRatesAlgorithm,
        WardPopulationAlgorithm,
        ReexpressCountsAlgorithm,
        CrimeTrendsAlgorithm,
        AreaProfilesAlgorithm,
    ]


class CrimeMappingProvider(QgsProcessingProvider):
    """Crime mapping and crime statistics algorithms."""

    def id(self) -> str:
        return PROVIDER_ID

    def name(self) -> str:
        return self.tr("Crime mapping")

    def longName(self) -> str:  # noqa: N802
        return self.tr("Crime mapping: police.uk import, hotspots and ward crime rates")

    def icon(self) -> QIcon:
        return QIcon(ICON_PATH)

    def loadAlgorithms(self) -> None:  # noqa: N802
        for cls in algorithm_classes():
            self.addAlgorithm(cls())
        for model in shipped_models():
            self.addAlgorithm(model)
