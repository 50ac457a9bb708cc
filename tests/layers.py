"""Layers the tests build: memory copies of the bundled files, in file order or reversed."""

from __future__ import annotations

from pathlib import Path

from qgis.core import QgsFeature, QgsVectorLayer, QgsWkbTypes


def memory_copy(path: str | Path, reverse: bool = False, name: str = "copy") -> QgsVectorLayer:
    """Return a memory copy of a file layer, its features in file order or reversed (order-independence tests)."""
    source = QgsVectorLayer(str(path), name, "ogr")
    assert source.isValid(), path
    kind = QgsWkbTypes.displayString(source.wkbType())
    copy = QgsVectorLayer(f"{kind}?crs={source.crs().authid()}", name, "memory")
    copy.dataProvider().addAttributes(source.fields().toList())
    copy.updateFields()
    features = list(source.getFeatures())
    if reverse:
        features.reverse()
    copies = []
    for f in features:
        g = QgsFeature(copy.fields())
        g.setAttributes(f.attributes())
        g.setGeometry(f.geometry())
        copies.append(g)
    assert copy.dataProvider().addFeatures(copies)
    return copy
