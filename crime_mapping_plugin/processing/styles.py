"""Style presets an analyst applies from the dock: fixed so that two periods are drawn alike.

Ward rate classes take breaks that can be kept from one period to the next; the density ramp and the
point heatmap take a fixed maximum, so that the same colour means the same density in two months;
Gi* classes are fixed by definition. Every legend states its unit, and the layer name its period.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from qgis.core import (
    QgsCategorizedSymbolRenderer,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGraduatedSymbolRenderer,
    QgsHeatmapRenderer,
    QgsRasterLayer,
    QgsRendererCategory,
    QgsRendererRange,
    QgsStyle,
    QgsSymbol,
    QgsUnitTypes,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from crime_mapping_plugin.processing.density_style import style_density

# Field and unit names the ward rate and Gi* algorithms are expected to write; the first present is used.
RATE_FIELDS = ("rate", "rate_per_1000", "crime_rate")
GISTAR_BIN_FIELDS = ("gi_bin", "bin", "gistar_bin")
RATE_UNIT = "crimes per 1,000 residents"

GISTAR_CLASSES = (
    (3, "Hot spot, 99 % confidence", "215,25,28"),
    (2, "Hot spot, 95 % confidence", "236,112,99"),
    (1, "Hot spot, 90 % confidence", "250,185,176"),
    (0, "Not significant", "242,242,242"),
    (-1, "Cold spot, 90 % confidence", "182,205,232"),
    (-2, "Cold spot, 95 % confidence", "103,146,200"),
    (-3, "Cold spot, 99 % confidence", "44,123,182"),
)


def _ramp(name: str, start: QColor, end: QColor):
    return QgsStyle.defaultStyle().colorRamp(name) or QgsGradientColorRamp(start, end)


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def round_significant(value: float, digits: int = 2) -> float:
    """Round a break to a few significant figures, so that legends read as round numbers."""
    if value == 0 or not math.isfinite(value):
        return value
    return round(value, digits - 1 - int(math.floor(math.log10(abs(value)))))


def first_field(layer: QgsVectorLayer, candidates: Sequence[str]) -> str | None:
    """Return the first of candidates the layer has (any letter case), or None."""
    names = {f.name().lower(): f.name() for f in layer.fields()}
    for candidate in candidates:
        if candidate.lower() in names:
            return names[candidate.lower()]
    return None


def quantile_breaks(values: Sequence[float], classes: int = 5) -> list[float]:
    """Return classes-1 thresholds at the quantiles of values, rounded to two significant figures."""
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size == 0:
        return []
    cuts = np.quantile(data, np.arange(1, classes) / classes)
    breaks: list[float] = []
    for cut in cuts:
        value = round_significant(float(cut))
        if not breaks or value > breaks[-1]:
            breaks.append(value)
    return breaks


def parse_breaks(text: str) -> list[float]:
    """Return the thresholds typed as '5, 10, 20' (ascending), or raise ValueError saying what is wrong."""
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        breaks = [float(p) for p in parts]
    except ValueError as err:
        raise ValueError(f"The class breaks '{text}' must be numbers separated by commas, e.g. 5, 10, 20.") from err
    if any(later <= earlier for earlier, later in zip(breaks, breaks[1:])):
        raise ValueError(f"The class breaks '{text}' must increase from left to right.")
    return breaks


def style_ward_rates(layer: QgsVectorLayer, field: str, breaks: Sequence[float], unit: str = RATE_UNIT) -> list[float]:
    """Draw wards in graduated classes at fixed thresholds: below the first, between each pair, above the last."""
    if field not in layer.fields().names():
        raise ValueError(f"The layer '{layer.name()}' has no field '{field}' to classify.")
    breaks = list(breaks)
    if not breaks:
        breaks = quantile_breaks([f[field] for f in layer.getFeatures() if isinstance(f[field], (int, float))])
    if not breaks:
        raise ValueError(f"The field '{field}' of '{layer.name()}' holds no numbers to classify.")
    ramp = _ramp("Reds", QColor(254, 229, 217), QColor(165, 15, 21))
    edges = [-math.inf, *breaks, math.inf]
    ranges = []
    for i in range(len(edges) - 1):
        low, high = edges[i], edges[i + 1]
        if i == 0:
            label = f"below {_number(high)} {unit}"
        elif i == len(edges) - 2:
            label = f"{_number(low)} or more {unit}"
        else:
            label = f"{_number(low)} to {_number(high)} {unit}"
        symbol = QgsFillSymbol.createSimple({"outline_color": "120,120,120,255", "outline_width": "0.1"})
        symbol.setColor(QColor(ramp.color(i / max(1, len(edges) - 2))))
        # Lower bounds are inclusive: a ward at a threshold goes in the class the threshold opens.
        lower = -1e300 if low == -math.inf else low
        upper = 1e300 if high == math.inf else math.nextafter(high, -math.inf)
        ranges.append(QgsRendererRange(lower, upper, symbol, label))
    renderer = QgsGraduatedSymbolRenderer(field, ranges)
    layer.setRenderer(renderer)
    layer.triggerRepaint()
    return breaks


def raster_unit(layer: QgsRasterLayer) -> str:
    """Return the unit a density raster states in its metadata (UNIT), or ''."""
    from osgeo import gdal

    dataset = gdal.Open(layer.source())
    if dataset is None:
        return ""
    return dataset.GetMetadataItem("UNIT") or dataset.GetRasterBand(1).GetUnitType() or ""


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
    """Draw Gi* cells in the seven usual classes, hot spots red and cold spots blue, by confidence."""
    if field not in layer.fields().names():
        raise ValueError(f"The layer '{layer.name()}' has no Gi* bin field '{field}'.")
    categories = []
    for value, label, color in GISTAR_CLASSES:
        symbol = QgsSymbol.defaultSymbol(layer.geometryType())
        symbol.setColor(QColor(*[int(c) for c in color.split(",")]))
        if hasattr(symbol.symbolLayer(0), "setStrokeStyle"):
            symbol.symbolLayer(0).setStrokeColor(QColor(200, 200, 200))
            symbol.symbolLayer(0).setStrokeWidth(0.05)
        categories.append(QgsRendererCategory(value, symbol, label))
    layer.setRenderer(QgsCategorizedSymbolRenderer(field, categories))
    layer.triggerRepaint()
