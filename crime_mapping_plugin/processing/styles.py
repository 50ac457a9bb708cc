"""Style presets an analyst applies from the dock: fixed so that two periods are drawn alike.

Ward rate classes take breaks that can be kept from one period to the next; the density ramp and the
point heatmap take a fixed maximum, so that the same colour means the same density in two months;
Gi* classes are fixed by definition. Every legend states its unit, and the layer name its period.
"""

from __future__ import annotations

from typing import Sequence

from qgis.core import (
    QgsColorRamp,
    QgsGradientColorRamp,
    QgsHeatmapRenderer,
    QgsRasterLayer,
    QgsStyle,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from crime_mapping_plugin.processing.density_style import style_density
from crime_mapping_plugin.processing.hotspot_cells import style_bins

# Field and unit names the ward rate and Gi* algorithms are expected to write; the first present is used.
RATE_FIELDS = ("rate", "rate_per_1000", "crime_rate")
GISTAR_BIN_FIELDS = ("gi_bin", "bin", "gistar_bin")


def _ramp(name: str, start: QColor, end: QColor) -> QgsColorRamp:
    return QgsStyle.defaultStyle().colorRamp(name) or QgsGradientColorRamp(start, end)


def first_field(layer: QgsVectorLayer, candidates: Sequence[str]) -> str | None:
    """Return the first of candidates the layer has (any letter case), or None."""
    names = {f.name().lower(): f.name() for f in layer.fields()}
    for candidate in candidates:
        if candidate.lower() in names:
            return names[candidate.lower()]
    return None


def raster_unit(layer: QgsRasterLayer) -> str:
    """Return the unit a density raster states in its metadata (UNIT), or ''."""
    from osgeo import gdal

    dataset = gdal.Open(layer.source())
    if dataset is None:
        return ""
    return dataset.GetMetadataItem("UNIT") or dataset.GetRasterBand(1).GetUnitType() or ""


def raster_ramp_maximum(layer: QgsRasterLayer) -> float | None:
    """Return the ramp top a density raster states in its metadata (RAMP_MAXIMUM), or None."""
    from osgeo import gdal

    dataset = gdal.Open(layer.source())
    text = dataset.GetMetadataItem("RAMP_MAXIMUM") if dataset is not None else None
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if value > 0 else None


def style_density_fixed(layer: QgsRasterLayer, maximum: float, unit: str | None = None) -> None:
    """Draw a density raster on the plugin's ramp from 0 to a fixed maximum, legend in its unit."""
    if maximum <= 0:
        raise ValueError("The fixed maximum must be above 0: type the density that should be the darkest colour.")
    style_density(layer, maximum, raster_unit(layer) if unit is None else unit)
    layer.triggerRepaint()


def style_point_heatmap(layer: QgsVectorLayer, radius_m: float, maximum: float) -> None:
    """Draw crime points as a heatmap with a radius in map units and a fixed maximum (0: the data's own)."""
    if radius_m <= 0:
        raise ValueError("The heatmap radius must be above 0 metres.")
    renderer = QgsHeatmapRenderer()
    renderer.setRadius(radius_m)
    renderer.setRadiusUnit(QgsUnitTypes.RenderMapUnits)
    renderer.setMaximumValue(max(0.0, maximum))
    ramp = _ramp("YlOrRd", QColor(255, 255, 178), QColor(189, 0, 38)).clone()
    if isinstance(ramp, QgsGradientColorRamp):
        start = QColor(ramp.color1())
        start.setAlpha(0)
        ramp.setColor1(start)
    renderer.setColorRamp(ramp)
    layer.setRenderer(renderer)
    layer.triggerRepaint()


def style_gistar(layer: QgsVectorLayer, field: str) -> None:
    """Draw Gi* cells in the seven usual classes, as the Gi* algorithms style their own outputs."""
    if field not in layer.fields().names():
        raise ValueError(f"The layer '{layer.name()}' has no Gi* bin field '{field}'.")
    style_bins(layer, field)
    layer.triggerRepaint()
