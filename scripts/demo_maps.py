"""Render a styled layer of the demo to a PNG, with its title and the legend of its renderer."""

from __future__ import annotations

from pathlib import Path


def render_layer(layer, png: Path, title: str, legend_top: int, margin: float = 1.05) -> None:
    """Render layer (styled already) at 1400 x 1100 px; title and legend are drawn when fonts are available."""
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings
    from qgis.PyQt.QtCore import QCoreApplication, QRectF, QSize, Qt
    from qgis.PyQt.QtGui import QColor, QFont, QGuiApplication, QPainter

    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    extent = layer.extent()
    extent.scale(margin)
    settings.setExtent(extent)
    settings.setOutputSize(QSize(1400, 1100))
    settings.setBackgroundColor(QColor("white"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    image = job.renderedImage()
    if isinstance(QCoreApplication.instance(), QGuiApplication):  # text needs a GUI application's fonts
        painter = QPainter(image)
        painter.setFont(QFont("Sans", 14, QFont.Bold))
        painter.drawText(QRectF(20, 10, 1360, 30), Qt.AlignLeft, title)
        painter.setFont(QFont("Sans", 11))
        for n, item in enumerate(layer.renderer().legendSymbolItems()):
            y = legend_top + n * 30
            painter.drawImage(30, y, item.symbol().asImage(QSize(26, 22)))
            painter.drawText(QRectF(66, y, 500, 24), Qt.AlignVCenter, item.label())
        painter.end()
    image.save(str(png))
