"""Draw SPC charts of monthly crime series (values, mean, process limits, signals) to PNG with QPainter.

One chart per area, or small multiples of many areas in one image. QPainter ships with every QGIS, so
the charts need no plotting library at run time. Points: grey for common cause, red for concern, blue
for improvement; a missing month leaves a gap in the line, a partial month is drawn as a hollow ring,
and the police.uk series breaks are dashed verticals.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen

from crime_mapping_plugin.core import spc, trends
from crime_mapping_plugin.core.months import month_text
from crime_mapping_plugin.processing.funnel_plot import _nice_ticks

_POINT = {spc.CONCERN: QColor(202, 0, 32), spc.IMPROVEMENT: QColor(5, 113, 176)}
_COMMON = QColor(120, 120, 120)


def _y_range(s: trends.Series) -> tuple[float, float]:
    data = [v for arr in (s.values, s.upper, s.lower) for v in arr if math.isfinite(v)]
    if not data:
        return 0.0, 1.0
    lo, hi = min(0.0, min(data)), max(data)
    span = (hi - lo) or 1.0
    return lo, hi + span * 0.08


def _px(rect: QRectF, n: int, t: float, y: float, lo: float, hi: float) -> QPointF:
    x = rect.left() + (t + 0.5) / max(1, n) * rect.width()
    return QPointF(x, rect.bottom() - (y - lo) / (hi - lo) * rect.height())


def _line(painter: QPainter, rect: QRectF, values: np.ndarray, lo: float, hi: float) -> None:
    """Draw a line through the values, broken at missing ones."""
    path, pen_down = QPainterPath(), False
    for t, v in enumerate(values):
        if not math.isfinite(v):
            pen_down = False
            continue
        p = _px(rect, len(values), t, v, lo, hi)
        if pen_down:
            path.lineTo(p)
        else:
            path.moveTo(p)
            pen_down = True
    painter.drawPath(path)


def draw_series(
    painter: QPainter, box: QRectF, s: trends.Series, months: Sequence[int], title: str, font_px: int
) -> None:
    """Draw one series' chart inside box: axes, limits, mean, points coloured by signal, title."""
    font = QFont()
    font.setPixelSize(font_px)
    painter.setFont(font)
    rect = QRectF(
        box.left() + 5.5 * font_px, box.top() + 2.2 * font_px, box.width() - 6.5 * font_px, box.height() - 4.4 * font_px
    )
    lo, hi = _y_range(s)
    painter.setPen(QPen(QColor(60, 60, 60), 1))
    painter.setBrush(Qt.NoBrush)
    painter.drawRect(rect)
    for tick in _nice_ticks(lo, hi, 4):
        p = _px(rect, len(months), 0, tick, lo, hi)
        painter.setPen(QPen(QColor(230, 230, 230), 1))
        painter.drawLine(QPointF(rect.left(), p.y()), QPointF(rect.right(), p.y()))
        painter.setPen(QPen(QColor(60, 60, 60), 1))
        painter.drawText(
            QRectF(box.left(), p.y() - font_px, 5 * font_px, 2 * font_px), Qt.AlignRight | Qt.AlignVCenter, f"{tick:g}"
        )
    step = max(1, len(months) // 6)
    for t in range(0, len(months), step):
        p = _px(rect, len(months), t, lo, lo, hi)
        painter.drawText(
            QRectF(p.x() - 3 * font_px, rect.bottom() + 2, 6 * font_px, 1.6 * font_px),
            Qt.AlignHCenter,
            month_text(int(months[t])),
        )
    for b in trends.trend_stats.SERIES_BREAKS:
        if months[0] < b <= months[-1]:
            x = _px(rect, len(months), b - months[0] - 0.5, lo, lo, hi).x()
            painter.setPen(QPen(QColor(150, 90, 0), 1, Qt.DashLine))
            painter.drawLine(QPointF(x, rect.top()), QPointF(x, rect.bottom()))
    for arr, pen in (
        (s.upper, QPen(QColor(200, 60, 60), 1.5, Qt.DashLine)),
        (s.lower, QPen(QColor(200, 60, 60), 1.5, Qt.DashLine)),
        (s.centre, QPen(QColor(30, 30, 30), 1.5)),
    ):
        painter.setPen(pen)
        _line(painter, rect, np.clip(arr, lo, hi), lo, hi)
    painter.setPen(QPen(QColor(90, 90, 90), 1.2))
    _line(painter, rect, s.values, lo, hi)
    _points(painter, rect, s, lo, hi, font_px)
    bold = QFont(font)
    bold.setBold(True)
    painter.setFont(bold)
    painter.setPen(QPen(QColor(20, 20, 20), 1))
    painter.drawText(QRectF(box.left(), box.top() + 2, box.width(), 1.8 * font_px), Qt.AlignHCenter, title)
    painter.setFont(font)


def _points(painter: QPainter, rect: QRectF, s: trends.Series, lo: float, hi: float, font_px: int) -> None:
    radius = max(2.0, font_px / 4)
    for t, v in enumerate(s.values):
        partial = any(n in (trends.MONTH_PARTIAL_SOURCE, trends.MONTH_PARTIAL_AREA) for n in s.month_notes[t])
        if math.isfinite(v):
            colour = _POINT.get(s.variation[t], _COMMON)
            painter.setPen(QPen(colour.darker(120), 1.2))
            painter.setBrush(Qt.NoBrush if partial else colour)
            painter.drawEllipse(_px(rect, len(s.values), t, v, lo, hi), radius, radius)
        elif t < len(s.left_out) and math.isfinite(s.left_out[t]):  # a partial month left out: a hollow ring
            painter.setPen(QPen(_COMMON, 1.2))
            painter.setBrush(Qt.NoBrush)
            painter.drawEllipse(_px(rect, len(s.values), t, s.left_out[t], lo, hi), radius, radius)


def _legend(painter: QPainter, width: int, y: float, font_px: int) -> None:
    items = [("concern", _POINT[spc.CONCERN]), ("improvement", _POINT[spc.IMPROVEMENT]), ("common cause", _COMMON)]
    x = 10.0
    font = QFont()
    font.setPixelSize(font_px)
    painter.setFont(font)
    for text, colour in items:
        painter.setPen(QPen(colour.darker(120), 1))
        painter.setBrush(colour)
        painter.drawEllipse(QPointF(x + 5, y + font_px / 2), 4, 4)
        painter.setPen(QPen(QColor(40, 40, 40), 1))
        painter.drawText(QRectF(x + 14, y - 2, 160, font_px + 6), Qt.AlignLeft | Qt.AlignVCenter, text)
        x += 24 + 8 * len(text)
    note = "dashed red: process limits (mean ± 2.66 × average moving range); black: mean; ring: partial month, left out"
    painter.drawText(QRectF(x, y - 2, width - x - 10, font_px + 6), Qt.AlignLeft | Qt.AlignVCenter, note)


def draw_chart(
    path: str, s: trends.Series, months: Sequence[int], title: str, width: int = 1100, height: int = 560
) -> None:
    """Write one area's SPC chart to a PNG."""
    image = QImage(width, height, QImage.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.Antialiasing, True)
        draw_series(painter, QRectF(0, 0, width, height - 30), s, months, title, 14)
        _legend(painter, width, height - 26, 13)
    finally:
        painter.end()
    if not image.save(path, "PNG"):
        raise OSError(f"Could not write the chart to {path}")


def draw_small_multiples(
    path: str,
    series: Sequence[trends.Series],
    months: Sequence[int],
    titles: Sequence[str],
    title: str,
    cell_width: int = 420,
    cell_height: int = 240,
) -> int:
    """Write many areas' charts as a grid in one PNG; return the number of charts drawn."""
    n = len(series)
    columns = max(1, min(5, math.ceil(math.sqrt(n))))
    rows = max(1, math.ceil(n / columns))
    width, height = columns * cell_width, rows * cell_height + 70
    image = QImage(width, height, QImage.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.Antialiasing, True)
        head = QFont()
        head.setPixelSize(18)
        head.setBold(True)
        painter.setFont(head)
        painter.setPen(QPen(QColor(20, 20, 20), 1))
        painter.drawText(QRectF(0, 8, width, 26), Qt.AlignHCenter, title)
        for i, (s, name) in enumerate(zip(series, titles)):
            box = QRectF((i % columns) * cell_width, 40 + (i // columns) * cell_height, cell_width, cell_height)
            draw_series(painter, box, s, months, name, 11)
        _legend(painter, width, height - 26, 12)
    finally:
        painter.end()
    if not image.save(path, "PNG"):
        raise OSError(f"Could not write the small multiples to {path}")
    return n
