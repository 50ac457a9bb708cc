"""Draw a funnel plot (rate against population with 95 % and 99.8 % limits) to a PNG with QPainter.

QPainter ships with every QGIS, so the plot needs no plotting library at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPen

from crime_mapping_plugin.core import rates

_COLOURS = {
    rates.HIGHER_998: QColor(165, 0, 38),
    rates.HIGHER_95: QColor(244, 109, 67),
    rates.SAME: QColor(120, 120, 120),
    rates.LOWER_95: QColor(116, 173, 209),
    rates.LOWER_998: QColor(49, 54, 149),
}
_LIMIT_STYLES = {0.95: (QColor(90, 90, 90), Qt.DashLine), 0.998: (QColor(30, 30, 30), Qt.DotLine)}


def _nice_ticks(lo: float, hi: float, n: int = 6) -> list[float]:
    span = max(hi - lo, 1e-12)
    raw = span / n
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw), default=10 * mag)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step) + 1)]


@dataclass
class _Frame:
    """The plot area in pixels and the data ranges it shows."""

    plot: QRectF
    xmax: float
    ymax: float
    xmin: float = 0.0
    ymin: float = 0.0

    def to_px(self, x: float, y: float) -> QPointF:
        """Return the pixel of a data point, y clipped to the frame."""
        return QPointF(
            self.plot.left() + (x - self.xmin) / (self.xmax - self.xmin) * self.plot.width(),
            self.plot.bottom()
            - (min(max(y, self.ymin), self.ymax) - self.ymin) / (self.ymax - self.ymin) * self.plot.height(),
        )


def draw_funnel_plot(
    path: str,
    population: Sequence[float],
    rate: Sequence[float],
    labels: Sequence[str | None],
    overall_rate: float,
    multiplier: float,
    title: str,
    width: int = 1200,
    height: int = 800,
) -> int:
    """Write the funnel plot PNG and return the number of areas drawn."""
    pop = np.asarray(population, dtype=float)
    r = np.asarray(rate, dtype=float)
    ok = np.isfinite(pop) & np.isfinite(r) & (pop > 0)
    xmax = float(pop[ok].max()) * 1.05 if ok.any() else 1.0
    grid = np.linspace(max(xmax / 400.0, 1.0), xmax, 200)
    curves = rates.funnel_curves(overall_rate, multiplier, grid)
    # Clip the y range to the data and the funnel beyond the smallest populations.
    ys = list(r[ok])
    for lo, hi in curves.values():
        ys += list(lo[grid >= xmax * 0.05]) + list(hi[grid >= xmax * 0.05])
    left, right, top, bottom = 90, 30, 60, 70
    frame = _Frame(QRectF(left, top, width - left - right, height - top - bottom), xmax, max(ys) * 1.08 if ys else 1.0)
    image = QImage(width, height, QImage.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.Antialiasing, True)
        _draw_axes(painter, frame, width, height, multiplier, title)
        if math.isfinite(overall_rate):
            painter.setPen(QPen(QColor(0, 0, 0), 2))
            painter.drawLine(frame.to_px(frame.xmin, overall_rate), frame.to_px(frame.xmax, overall_rate))
        _draw_curves(painter, frame, grid, curves)
        for i in np.flatnonzero(ok):
            colour = _COLOURS.get(labels[i], QColor(120, 120, 120))
            painter.setPen(QPen(colour.darker(130), 1))
            painter.setBrush(colour)
            painter.drawEllipse(frame.to_px(pop[i], r[i]), 4, 4)
        _draw_legend(painter, frame.plot)
    finally:
        painter.end()
    if not image.save(path, "PNG"):
        raise OSError(f"Could not write the funnel plot to {path}")
    return int(ok.sum())


def _draw_axes(painter: QPainter, frame: _Frame, width: int, height: int, multiplier: float, title: str) -> None:
    plot = frame.plot
    font = QFont()
    font.setPixelSize(14)
    painter.setFont(font)
    painter.setPen(QPen(QColor(60, 60, 60), 1))
    painter.drawRect(plot)
    for t in _nice_ticks(frame.ymin, frame.ymax):
        p = frame.to_px(frame.xmin, t)
        painter.setPen(QPen(QColor(225, 225, 225), 1))
        painter.drawLine(QPointF(plot.left(), p.y()), QPointF(plot.right(), p.y()))
        painter.setPen(QPen(QColor(60, 60, 60), 1))
        painter.drawText(QRectF(0, p.y() - 9, plot.left() - 8, 18), Qt.AlignRight | Qt.AlignVCenter, f"{t:g}")
    for t in _nice_ticks(frame.xmin, frame.xmax):
        p = frame.to_px(t, frame.ymin)
        painter.drawText(QRectF(p.x() - 50, plot.bottom() + 6, 100, 18), Qt.AlignHCenter, f"{t:,.0f}")
    painter.drawText(QRectF(plot.left(), height - 30, plot.width(), 20), Qt.AlignHCenter, "Population (residents)")
    painter.save()
    painter.translate(18, plot.center().y())
    painter.rotate(-90)
    painter.drawText(QRectF(-200, -10, 400, 20), Qt.AlignHCenter, f"Crimes per {multiplier:,.0f} residents")
    painter.restore()
    title_font = QFont(font)
    title_font.setPixelSize(18)
    title_font.setBold(True)
    painter.setFont(title_font)
    painter.drawText(QRectF(0, 12, width, 30), Qt.AlignHCenter, title)
    painter.setFont(font)


def _draw_curves(
    painter: QPainter, frame: _Frame, grid: np.ndarray, curves: dict[float, tuple[np.ndarray, np.ndarray]]
) -> None:
    for level, (lo, hi) in curves.items():
        colour, dash = _LIMIT_STYLES[level]
        painter.setPen(QPen(colour, 2, dash))
        for curve in (lo, hi):
            path = QPainterPath(frame.to_px(grid[0], curve[0]))
            for x, y in zip(grid[1:], curve[1:]):
                path.lineTo(frame.to_px(x, y))
            painter.drawPath(path)


def _draw_legend(painter: QPainter, plot: QRectF) -> None:
    legend = [
        ("all areas (overall rate)", QColor(0, 0, 0), Qt.SolidLine),
        ("95 % limits", *_LIMIT_STYLES[0.95]),
        ("99.8 % limits", *_LIMIT_STYLES[0.998]),
    ]
    y0 = plot.top() + 10
    for text, colour, dash in legend:
        painter.setPen(QPen(colour, 2, dash))
        painter.drawLine(QPointF(plot.right() - 260, y0 + 8), QPointF(plot.right() - 220, y0 + 8))
        painter.setPen(QPen(QColor(40, 40, 40), 1))
        painter.drawText(QRectF(plot.right() - 212, y0, 210, 18), Qt.AlignLeft | Qt.AlignVCenter, text)
        y0 += 20
    for label in rates.COMPARISON_LABELS:
        painter.setPen(QPen(_COLOURS[label].darker(130), 1))
        painter.setBrush(_COLOURS[label])
        painter.drawEllipse(QPointF(plot.right() - 240, y0 + 9), 4, 4)
        painter.setPen(QPen(QColor(40, 40, 40), 1))
        painter.drawText(QRectF(plot.right() - 212, y0, 210, 18), Qt.AlignLeft | Qt.AlignVCenter, label)
        y0 += 20
