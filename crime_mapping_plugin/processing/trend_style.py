"""Style a crime-trends layer: one colour per latest-month signal, with a legend that names each signal.

One style for crimemapping:crimetrends and the dock: a categorized renderer on the field 'signal' (the
four signals of core.trends), concern in red, improvement in blue, common cause in light grey and not
enough data hatched, so that an area without a chart is never read as common cause.
"""

from __future__ import annotations

from typing import Callable

from qgis.core import QgsCategorizedSymbolRenderer, QgsFillSymbol, QgsMapLayer, QgsRendererCategory, QgsVectorLayer

from crime_mapping_plugin.core import trends

SIGNAL_FIELD = "signal"
_SYMBOLS = {
    trends.SIGNAL_CONCERN: {"color": "202,0,32,255"},
    trends.SIGNAL_IMPROVEMENT: {"color": "5,113,176,255"},
    trends.SIGNAL_COMMON: {"color": "235,235,235,255"},
    trends.SIGNAL_NOT_ENOUGH: {"color": "200,200,200,255", "style": "b_diagonal"},
}


def style_trends(layer: QgsVectorLayer, title: str = "") -> None:
    """Draw the areas by their latest-month signal, each category labelled with the signal's name."""
    if SIGNAL_FIELD not in layer.fields().names():
        raise ValueError(f"The layer '{layer.name()}' has no field '{SIGNAL_FIELD}' to style.")
    categories = []
    for signal in trends.SIGNALS:
        props = {"outline_color": "110,110,110,255", "outline_width": "0.1", **_SYMBOLS[signal]}
        categories.append(QgsRendererCategory(signal, QgsFillSymbol.createSimple(props), signal))
    layer.setRenderer(QgsCategorizedSymbolRenderer(SIGNAL_FIELD, categories))
    if title:
        layer.setName(title)
    layer.triggerRepaint()


def trends_style(title: str = "") -> Callable[[QgsMapLayer], None]:
    """Return a function that styles a crime-trends layer when Processing loads it."""

    def apply(layer: QgsMapLayer) -> None:
        style_trends(layer, title)

    return apply
