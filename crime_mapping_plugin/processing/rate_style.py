"""Style a ward-rate layer: graduated classes of the rate, with fixed breaks so periods share one scale."""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from qgis.core import (
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsGraduatedSymbolRenderer,
    QgsMapLayer,
    QgsRendererRange,
)
from qgis.PyQt.QtGui import QColor


def parse_breaks(text: str | None) -> list[float] | None:
    """Return class breaks from '0,5,10,20,40' (ascending, at least two), None for an empty text."""
    if text is None or not text.strip():
        return None
    try:
        values = [float(v) for v in text.replace(";", ",").split(",") if v.strip()]
    except ValueError as err:
        raise ValueError(f"Class breaks: '{text}' is not a list of numbers such as 0,5,10,20,40.") from err
    if len(values) < 2 or any(b <= a for a, b in zip(values, values[1:])):
        raise ValueError(f"Class breaks: '{text}' needs at least two numbers in increasing order, e.g. 0,5,10,20,40.")
    return values


def quantile_breaks(values: Sequence[float], classes: int = 5) -> list[float]:
    """Return quantile class breaks of the finite values (fewer classes when values repeat)."""
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=float)
    if len(v) == 0:
        return [0.0, 1.0]
    qs = np.unique(np.quantile(v, np.linspace(0, 1, classes + 1)))
    if len(qs) < 2:
        qs = np.array([qs[0], qs[0] + 1.0])
    return [float(q) for q in qs]


def ranges_for(breaks: Sequence[float], max_value: float) -> list[tuple[float, float, str]]:
    """Return (lower, upper, label) classes; a last open class catches values above the last break."""
    out = []
    for a, b in zip(breaks, breaks[1:]):
        out.append((a, b, f"{a:g} to {b:g}"))
    if math.isfinite(max_value) and max_value > breaks[-1]:
        out.append((breaks[-1], max_value, f"{breaks[-1]:g} and over"))
    return out


def graduated_style(
    field: str, breaks: Sequence[float], max_value: float, layer_title: str
) -> Callable[[QgsMapLayer], None]:
    """Return a function that gives a layer a graduated fill on field with the given breaks."""
    classes = ranges_for(breaks, max_value)
    ramp = QgsGradientColorRamp(QColor(255, 255, 204), QColor(189, 0, 38))

    def apply(layer: QgsMapLayer) -> None:
        ranges = []
        for i, (lower, upper, label) in enumerate(classes):
            symbol = QgsFillSymbol.createSimple({"outline_color": "80,80,80,255", "outline_width": "0.1"})
            symbol.setColor(ramp.color(i / max(1, len(classes) - 1)))
            ranges.append(QgsRendererRange(lower, upper, symbol, label))
        renderer = QgsGraduatedSymbolRenderer(field, ranges)
        renderer.setSourceColorRamp(ramp.clone())
        layer.setRenderer(renderer)
        if layer_title:
            layer.setName(layer_title)

    return apply
