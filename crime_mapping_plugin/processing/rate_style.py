"""Style a ward-rate layer: classes of the rate at breaks that can be fixed, so periods share one scale.

One style for the ward rates algorithm and the dock. Breaks are thresholds: a class below the first
(left out when the first is 0 or less, rates being never negative), one between each pair, and one at
or above the last; a ward at a threshold goes in the class that threshold opens. Wards without a rate
(no usable population) are drawn in grey and say so, instead of vanishing from the map.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from qgis.core import (
    QgsExpression,
    QgsFillSymbol,
    QgsGradientColorRamp,
    QgsMapLayer,
    QgsRuleBasedRenderer,
    QgsStyle,
    QgsVectorLayer,
)
from qgis.PyQt.QtGui import QColor

from crime_mapping_plugin.core.kde import round_significant

RATE_UNIT = "crimes per 1,000 residents"
NO_RATE_LABEL = "no rate (population missing or zero)"


def parse_breaks(text: str | None) -> list[float]:
    """Return the thresholds typed as '5, 10, 20' (increasing); [] for an empty text; ValueError saying why."""
    if text is None or not text.strip():
        return []
    parts = [p for p in text.replace(";", ",").split(",") if p.strip()]
    try:
        breaks = [float(p) for p in parts]
    except ValueError as err:
        raise ValueError(f"The class breaks '{text}' must be numbers separated by commas, e.g. 5, 10, 20.") from err
    if any(later <= earlier for earlier, later in zip(breaks, breaks[1:])):
        raise ValueError(f"The class breaks '{text}' must increase from left to right (increasing thresholds).")
    return breaks


def quantile_breaks(values: Sequence[float], classes: int = 5) -> list[float]:
    """Return classes-1 thresholds at the quantiles of values, rounded to two significant figures.

    When a class's share or more of the values is 0 (most wards without a crime of a rare type), quantiles
    of all values would lump the wards without crime with the lowest rates: the first threshold is then
    the smallest rate above 0 (rounded down), so that the first class holds exactly the wards without crime,
    and the others are the quantiles of the rates above 0.
    """
    data = np.asarray([v for v in values if v is not None and math.isfinite(v)], dtype=float)
    if data.size == 0:
        return []
    positive = data[data > 0]
    if positive.size and (data.size - positive.size) * classes >= data.size:
        first = _floor_significant(float(positive.min()))
        cuts = np.quantile(positive, np.arange(1, classes - 1) / (classes - 1)) if classes > 2 else []
        return [first, *_rounded(cuts, first)]
    return _rounded(np.quantile(data, np.arange(1, classes) / classes), None)


def _floor_significant(value: float) -> float:
    """Return value rounded down to two significant figures (never above it, always above 0)."""
    step = 10.0 ** (math.floor(math.log10(value)) - 1)
    return round(math.floor(value / step + 1e-9) * step, 12)


def _rounded(cuts: Sequence[float], after: float | None) -> list[float]:
    """Return the cuts rounded to two significant figures, increasing, each above after."""
    breaks: list[float] = []
    for cut in cuts:
        value = round_significant(float(cut)) if cut != 0 else 0.0
        last = breaks[-1] if breaks else after
        if last is None or value > last:
            breaks.append(value)
    return breaks


def _number(value: float) -> str:
    if value == 0:
        return "0"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def rate_classes(breaks: Sequence[float], unit: str = RATE_UNIT) -> list[tuple[float | None, float | None, str]]:
    """Return the classes (inclusive lower bound or None, exclusive upper bound or None, label) of the breaks."""
    edges: list[float | None] = [None, *breaks, None]
    classes = []
    for low, high in zip(edges, edges[1:]):
        if low is None and high is not None and high <= 0:
            continue  # "below 0": no rate is negative
        if low is None:
            label = f"below {_number(high)} {unit}"
        elif high is None:
            label = f"{_number(low)} or more {unit}"
        else:
            label = f"{_number(low)} to {_number(high)} {unit}"
        classes.append((low, high, label))
    return classes


def style_ward_rates(
    layer: QgsVectorLayer, field: str, breaks: Sequence[float], unit: str = RATE_UNIT, title: str = ""
) -> list[float]:
    """Draw the wards in classes of field at the breaks (quantiles when none); return the breaks used."""
    if field not in layer.fields().names():
        raise ValueError(f"The layer '{layer.name()}' has no field '{field}' to classify.")
    breaks = list(breaks)
    if not breaks:
        breaks = quantile_breaks([f[field] for f in layer.getFeatures() if isinstance(f[field], (int, float))])
    if not breaks:
        raise ValueError(f"The field '{field}' of '{layer.name()}' holds no numbers to classify.")
    ramp = QgsStyle.defaultStyle().colorRamp("Reds") or QgsGradientColorRamp(QColor(254, 229, 217), QColor(165, 15, 21))
    column = QgsExpression.quotedColumnRef(field)
    classes = rate_classes(breaks, unit)
    root = QgsRuleBasedRenderer.Rule(None)
    for i, (low, high, label) in enumerate(classes):
        terms = [f"{column} >= {low!r}"] if low is not None else [f"{column} IS NOT NULL"]
        if high is not None:
            terms.append(f"{column} < {high!r}")
        symbol = QgsFillSymbol.createSimple({"outline_color": "120,120,120,255", "outline_width": "0.1"})
        symbol.setColor(QColor(ramp.color(i / max(1, len(classes) - 1))))
        root.appendChild(QgsRuleBasedRenderer.Rule(symbol, 0, 0, " AND ".join(terms), label))
    missing = QgsFillSymbol.createSimple(
        {"color": "220,220,220,255", "style": "b_diagonal", "outline_color": "150,150,150,255", "outline_width": "0.1"}
    )
    root.appendChild(QgsRuleBasedRenderer.Rule(missing, 0, 0, f"{column} IS NULL", NO_RATE_LABEL))
    layer.setRenderer(QgsRuleBasedRenderer(root))
    if title:
        layer.setName(title)
    layer.triggerRepaint()
    return breaks


def rate_style(
    field: str, breaks: Sequence[float], unit: str = RATE_UNIT, title: str = ""
) -> Callable[[QgsMapLayer], None]:
    """Return a function that styles a ward-rate layer when Processing loads it."""

    def apply(layer: QgsMapLayer) -> None:
        style_ward_rates(layer, field, breaks, unit, title)

    return apply
