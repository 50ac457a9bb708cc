"""Demo: a Getis-Ord Gi* hot spot map of the bundled police.uk sample, and its emerging hot spots by ward."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs


def render_map(gpkg: Path, png: Path, title: str) -> None:
    """Render the styled Gi* cells (with a legend when fonts are available) to a PNG."""
    from qgis.core import QgsMapRendererSequentialJob, QgsMapSettings, QgsVectorLayer
    from qgis.PyQt.QtCore import QCoreApplication, QRectF, QSize, Qt
    from qgis.PyQt.QtGui import QColor, QFont, QGuiApplication, QPainter

    from crime_mapping_plugin.processing.hotspot_cells import BIN_STYLE, style_bins

    layer = QgsVectorLayer(str(gpkg), "Gi* hot spots", "ogr")
    style_bins(layer)
    renderer = layer.renderer()
    for n, category in enumerate(renderer.categories()):
        symbol = category.symbol().clone()
        symbol.symbolLayer(0).setStrokeStyle(Qt.NoPen)  # 250 m cells over London: outlines would hide the colours
        renderer.updateCategorySymbol(n, symbol)
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(layer.crs())
    extent = layer.extent()
    extent.scale(1.05)
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
        for n, (_, colour, label) in enumerate(reversed(BIN_STYLE)):
            y = 860 + n * 30
            painter.fillRect(QRectF(30, y, 26, 22), QColor(colour))
            painter.drawRect(QRectF(30, y, 26, 22))
            painter.drawText(QRectF(66, y, 400, 24), Qt.AlignVCenter, label)
        painter.end()
    image.save(str(png))


def demo(sample_dir: Path, out_dir: Path, run_alg: Callable) -> list[str]:
    """Run crimemapping:gistarhotspots and crimemapping:emerginghotspots on the sample; return lines to print."""
    out_dir.mkdir(parents=True, exist_ok=True)
    crimes = demo_inputs.crimes(sample_dir, out_dir, run_alg)
    wards = demo_inputs.wards(sample_dir, out_dir)
    hot_path = out_dir / "gistar_hotspots.gpkg"
    hot = run_alg(
        "crimemapping:gistarhotspots",
        {"INPUT": str(crimes), "STUDY_AREA": wards, "CELL_SIZE": 250, "OUTPUT": str(hot_path)},
    )
    png = out_dir / "gistar_hotspots.png"
    render_map(
        hot_path,
        png,
        f"Gi* hot spots, police.uk sample 2024-10 to 2024-12: {hot['POINTS_COUNTED']:,} crimes, 250 m cells, FDR",
    )
    emerging_path = out_dir / "emerging_hotspots.gpkg"
    emerging = run_alg(
        "crimemapping:emerginghotspots",
        {"INPUT": str(crimes), "CELLS": 2, "POLYGONS": wards, "OUTPUT": str(emerging_path)},
    )
    categories = emerging["REPORT"].splitlines()[-1]
    return [
        f"Gi* hot spots: {hot_path} ({hot['CELLS_ANALYSED']:,} cells of 250 m in London's wards, "
        f"{hot['POINTS_COUNTED']:,} crimes, {hot['POINTS_LEFT_OUT']:,} outside the wards): "
        f"{hot['HOT_SPOTS']:,} hot spot and {hot['COLD_SPOTS']:,} cold spot cells after FDR correction; map {png}",
        f"Emerging hot spots by ward: {emerging_path} ({emerging['SLICES']} monthly slices). {categories}",
    ]
