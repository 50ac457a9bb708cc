"""Style a density raster: a colour ramp from transparent at 0 to dark red at the maximum, legend in its unit."""

from __future__ import annotations

from qgis.core import (
    QgsColorRampShader,
    QgsGradientColorRamp,
    QgsRasterLayer,
    QgsRasterShader,
    QgsSingleBandPseudoColorRenderer,
    QgsStyle,
)
from qgis.PyQt.QtGui import QColor

CLASSES = 5


def _label(value: float, unit: str) -> str:
    text = f"{value:,.3g}" if abs(value) < 1000 else f"{value:,.0f}"
    return f"{text} {unit}".strip()


def density_shader(vmax: float, unit: str) -> QgsColorRampShader:
    """Return an interpolated ramp shader from 0 to vmax whose legend labels carry the unit."""
    ramp = QgsStyle.defaultStyle().colorRamp("YlOrRd") or QgsGradientColorRamp(QColor(255, 255, 178), QColor(189, 0, 38))
    shader = QgsColorRampShader(0.0, vmax)
    shader.setColorRampType(QgsColorRampShader.Interpolated)
    shader.setSourceColorRamp(ramp.clone())
    items = []
    for i in range(CLASSES + 1):
        fraction = i / CLASSES
        color = QColor(ramp.color(fraction))
        if i == 0:
            color.setAlpha(0)  # no crime nearby: let the base map show through
        items.append(QgsColorRampShader.ColorRampItem(vmax * fraction, color, _label(vmax * fraction, unit)))
    shader.setColorRampItemList(items)
    return shader


def style_density(layer: QgsRasterLayer, vmax: float, unit: str) -> None:
    """Give a density raster a readable colour ramp whose legend states the unit."""
    raster_shader = QgsRasterShader()
    raster_shader.setRasterShaderFunction(density_shader(vmax, unit))
    renderer = QgsSingleBandPseudoColorRenderer(layer.dataProvider(), 1, raster_shader)
    renderer.setClassificationMin(0.0)
    renderer.setClassificationMax(vmax)
    layer.setRenderer(renderer)
