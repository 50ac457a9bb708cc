"""Demo: a Getis-Ord Gi* hot spot map of the bundled police.uk sample, and its emerging hot spots by ward."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import demo_inputs
from demo_maps import render_layer


def render_map(gpkg: Path, png: Path, title: str) -> None:
    """Render the styled Gi* cells (with a legend when fonts are available) to a PNG."""
    from qgis.core import QgsVectorLayer
    from qgis.PyQt.QtCore import Qt

    from crime_mapping_plugin.processing.hotspot_cells import style_bins

    layer = QgsVectorLayer(str(gpkg), "Gi* hot spots", "ogr")
    style_bins(layer)
    renderer = layer.renderer()
    for n, category in enumerate(renderer.categories()):
        symbol = category.symbol().clone()
        symbol.symbolLayer(0).setStrokeStyle(Qt.NoPen)  # 250 m cells over London: outlines would hide the colours
        renderer.updateCategorySymbol(n, symbol)
    render_layer(layer, png, title, 860)


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
