"""Draw a funnel plot (rate against expected crimes, with the written 95 % and 99.8 % limits) to a PNG.

The curves join each area's written limits (core.funnel: the limits its flag uses) in order of expected
count, so every point is drawn on the side of the curve that its flag says. QPainter ships with every QGIS,
so the plot needs no plotting library at run time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
from qgis.PyQt.QtCore import QPointF, QRectF, Qt
from qgis.PyQt.QtGui import QColor, QFont, QFontMetricsF, QImage, QPainter, QPainterPath, QPen

from crime_mapping_plugin.core import rates

_COLOURS = {
    rates.HIGHER_998: QColor(165, 0, 38),
    rates.HIGHER_95: QColor(244, 109, 67),
    rates.SAME: QColor(120, 120, 120),
    rates.LOWER_95: QColor(116, 173, 209),
    rates.LOWER_998: QColor(49, 54, 149),
}
_LIMIT_STYLES = {0.95: (QColor(90, 90, 90), Qt.DashLine), 0.998: (QColor(30, 30, 30), Qt.DotLine)}
HEADER_MARGIN = 20  # pixels kept free left and right of the title and subtitle
TITLE_PX, SUBTITLE_PX = 18, 14  # font pixel sizes; lines are spaced 1.4 times that
MAX_TITLE_LINES, MAX_SUBTITLE_LINES = 3, 2


def header_font(pixel_size: int, bold: bool = False) -> QFont:
    """Return the font of the title (bold) or the subtitle."""
    font = QFont()
    font.setPixelSize(pixel_size)
    font.setBold(bold)
    return font


def wrap_text(text: str, font: QFont, max_width: float, max_lines: int) -> list[str]:
    """Break text at spaces into lines no wider than max_width; the last line allowed is elided with '…'."""
    metrics = QFontMetricsF(font)
    lines: list[str] = []
    current = ""
    for word in text.split():
        trial = f"{current} {word}" if current else word
        if current and metrics.horizontalAdvance(trial) > max_width:
            lines.append(current)
            current = word
        else:
            current = trial
    lines.append(current)
    if len(lines) > max_lines:
        lines = [*lines[: max_lines - 1], " ".join(lines[max_lines - 1 :])]
    return [metrics.elidedText(line, Qt.ElideRight, max_width) for line in lines]


def header_lines(title: str, subtitle: str, width: int) -> tuple[list[str], list[str]]:
    """Return the title's and the subtitle's lines, each fitting the image width less the margins."""
    room = width - 2 * HEADER_MARGIN
    return (
        wrap_text(title, header_font(TITLE_PX, True), room, MAX_TITLE_LINES),
        wrap_text(subtitle, header_font(SUBTITLE_PX), room, MAX_SUBTITLE_LINES),
    )


def _header_height(title_lines: Sequence[str], subtitle_lines: Sequence[str]) -> float:
    return 12 + 1.4 * (TITLE_PX * len(title_lines) + SUBTITLE_PX * len(subtitle_lines))


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


@dataclass
class FunnelData:
    """What the plot shows: per area its expected count, rate, label, name and written limits (rate scale)."""

    expected: Sequence[float]
    rate: Sequence[float]
    labels: Sequence[str | None]
    names: Sequence[str]
    limits: dict[float, tuple[np.ndarray, np.ndarray]]
    overall_rate: float
    multiplier: float
    title: str
    subtitle: str


def draw_funnel_plot(path: str, data: FunnelData, width: int = 1200, height: int = 800) -> int:
    """Write the funnel plot PNG (rate against expected crimes, the written limits) and return the areas drawn."""
    e = np.asarray(data.expected, dtype=float)
    r = np.asarray(data.rate, dtype=float)
    ok = np.isfinite(e) & np.isfinite(r) & (e > 0)
    order = np.flatnonzero(ok)[np.argsort(e[ok], kind="stable")]
    xmax = float(e[ok].max()) * 1.05 if ok.any() else 1.0
    # Clip the y range to the data and to the limits beyond the smallest expected counts.
    ys = list(r[ok])
    for lo, hi in data.limits.values():
        big = order[e[order] >= xmax * 0.05]
        ys += [v for v in np.concatenate([lo[big], hi[big]]) if np.isfinite(v)]
    title_lines, subtitle_lines = header_lines(data.title, data.subtitle, width)
    left, right, bottom = 90, 30, 70
    top = max(80.0, _header_height(title_lines, subtitle_lines) + 16)
    frame = _Frame(QRectF(left, top, width - left - right, height - top - bottom), xmax, max(ys) * 1.08 if ys else 1.0)
    image = QImage(width, height, QImage.Format_ARGB32)
    image.fill(QColor("white"))
    painter = QPainter(image)
    try:
        painter.setRenderHint(QPainter.Antialiasing, True)
        _draw_axes(painter, frame, height, data.multiplier)
        _draw_header(painter, width, title_lines, subtitle_lines)
        if math.isfinite(data.overall_rate):
            painter.setPen(QPen(QColor(0, 0, 0), 2))
            painter.drawLine(frame.to_px(frame.xmin, data.overall_rate), frame.to_px(frame.xmax, data.overall_rate))
        _draw_curves(painter, frame, e[order], {lvl: (lo[order], hi[order]) for lvl, (lo, hi) in data.limits.items()})
        _draw_points(painter, frame, e, r, data.labels, data.names, order)
        _draw_legend(painter, frame.plot)
    finally:
        painter.end()
    if not image.save(path, "PNG"):
        raise OSError(f"Could not write the funnel plot to {path}")
    return int(ok.sum())


def _draw_points(
    painter: QPainter,
    frame: _Frame,
    e: np.ndarray,
    r: np.ndarray,
    labels: Sequence[str | None],
    names: Sequence[str],
    order: np.ndarray,
) -> None:
    font = QFont()
    font.setPixelSize(10)
    painter.setFont(font)
    for i in order:
        colour = _COLOURS.get(labels[i], QColor(120, 120, 120))
        painter.setPen(QPen(colour.darker(130), 1))
        painter.setBrush(colour)
        point = frame.to_px(e[i], r[i])
        painter.drawEllipse(point, 4, 4)
        if labels[i] not in (None, rates.SAME):
            # Outliers are named, so the plot can be read without the table.
            painter.setPen(QPen(QColor(40, 40, 40), 1))
            painter.drawText(QPointF(point.x() + 6, point.y() - 4), str(names[i]))


def _draw_axes(painter: QPainter, frame: _Frame, height: int, multiplier: float) -> None:
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
    x_title = "Expected crimes (overall rate × residents)"
    painter.drawText(QRectF(plot.left(), height - 30, plot.width(), 20), Qt.AlignHCenter, x_title)
    painter.save()
    painter.translate(18, plot.center().y())
    painter.rotate(-90)
    painter.drawText(QRectF(-200, -10, 400, 20), Qt.AlignHCenter, f"Crimes per {multiplier:,.0f} residents")
    painter.restore()


def _draw_header(painter: QPainter, width: int, title_lines: Sequence[str], subtitle_lines: Sequence[str]) -> None:
    """Draw the title and subtitle lines centred, inside the margins (header_lines made them fit)."""
    painter.setPen(QPen(QColor(60, 60, 60), 1))
    y = 12.0
    room = width - 2 * HEADER_MARGIN
    for lines, size, bold in ((title_lines, TITLE_PX, True), (subtitle_lines, SUBTITLE_PX, False)):
        painter.setFont(header_font(size, bold))
        for line in lines:
            painter.drawText(QRectF(HEADER_MARGIN, y, room, 1.4 * size), Qt.AlignHCenter | Qt.AlignVCenter, line)
            y += 1.4 * size


def _draw_curves(
    painter: QPainter, frame: _Frame, grid: np.ndarray, curves: dict[float, tuple[np.ndarray, np.ndarray]]
) -> None:
    """Join each area's written limits in order of expected count: the curve is the limits the flags use."""
    if not len(grid):
        return
    painter.setBrush(Qt.NoBrush)
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
