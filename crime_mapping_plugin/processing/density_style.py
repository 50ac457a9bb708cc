"""Style a density raster (a colour ramp from transparent at 0, legend in its unit) and its hotspot areas."""

from __future__ import annotations

import math

from qgis.core import (
    QgsColorRampLegendNodeSettings,
    QgsColorRampShader,
    QgsFeatureRequest,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsRasterLayer,
    QgsRasterShader,
    QgsRuleBasedRenderer,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

CLASSES = 5


def _label(value: float, unit: str) -> str:
    text = f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def readable(value: float, figures: int = 2) -> str:
    """Return value rounded to `figures` significant figures, without exponent: 28.383979 -> '28', 0 -> '0'."""
    if value == 0 or not math.isfinite(value):
        return "0" if value == 0 else str(value)
    decimals = figures - 1 - math.floor(math.log10(abs(value)))
    rounded = round(value, decimals)
    return f"{rounded:,.{max(decimals, 0)}f}"


def _item_label(value: float, unit: str) -> str:
    return f"{readable(value)} {unit}".strip()


def density_shader(vmax: float, unit: str) -> QgsColorRampShader:
    """Return an interpolated ramp shader from 0 to vmax (darkest above it) whose legend labels carry the unit.

    The legend lists the ramp's items with their labels (readable numbers and the unit) rather than the
    continuous bar QGIS 3.18+ draws by default, which shows the bare minimum and maximum ("0", "28.383979").
    """
    ramp = QgsStyle.defaultStyle().colorRamp("YlOrRd") or QgsGradientColorRamp(
        QColor(255, 255, 178), QColor(189, 0, 38)
    )
    shader = QgsColorRampShader(0.0, vmax)
    shader.setColorRampType(QgsColorRampShader.Interpolated)
    shader.setSourceColorRamp(ramp.clone())
    items = []
    for i in range(CLASSES + 1):
        fraction = i / CLASSES
        color = QColor(ramp.color(fraction))
        if i == 0:
            color.setAlpha(0)  # no crime nearby: let the base map show through
        label = _item_label(vmax * fraction, unit)
        items.append(QgsColorRampShader.ColorRampItem(vmax * fraction, color, ("≥ " if i == CLASSES else "") + label))
    shader.setColorRampItemList(items)
    legend = QgsColorRampLegendNodeSettings()
    legend.setUseContinuousLegend(False)
    shader.setLegendSettings(legend)
    return shader


def style_density(layer: QgsRasterLayer, vmax: float, unit: str) -> None:
    """Give a density raster a readable colour ramp whose legend states the unit."""
    raster_shader = QgsRasterShader()
    raster_shader.setRasterShaderFunction(density_shader(vmax, unit))
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, raster_shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(vmax)
    layer.setRenderer(renderer)


def style_hotspot_areas(layer: QgsVectorLayer) -> None:
    """Draw hotspot areas as dark outlines, so the density beneath stays readable; the legend gives the threshold.

    The threshold and its unit are read from the layer's own threshold and unit fields (the same in every
    area); without them the legend says only "hotspot area".
    """
    symbol = QgsFillSymbol.createSimple(
        {"color": "0,0,0,0", "outline_color": "35,35,35,255", "outline_width": "0.6", "outline_style": "solid"}
    )
    label = hotspot_label(layer)
    root = QgsRuleBasedRenderer.Rule(None)
    root.appendChild(QgsRuleBasedRenderer.Rule(symbol, 0, 0, "", label))
    layer.setRenderer(QgsRuleBasedRenderer(root))


def hotspot_label(layer: QgsVectorLayer) -> str:
    """Return 'hotspot area: density ≥ 8.33 crimes per km² per month' from the layer's fields."""
    names = layer.fields().names()
    if "threshold" not in names:
        return "hotspot area"
    request = QgsFeatureRequest().setLimit(1).setSubsetOfAttributes(["threshold", "unit"], layer.fields())
    request.setFlags(QgsFeatureRequest.NoGeometry)
    for feature in layer.getFeatures(request):
        threshold = feature["threshold"]
        unit = feature["unit"] if "unit" in names and isinstance(feature["unit"], str) else ""
        if isinstance(threshold, (int, float)):
            return f"hotspot area: density ≥ {_label(float(threshold), unit)}"
    return "hotspot area"
